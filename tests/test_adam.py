"""Adam's own factors of the step, against the formula and against PyTorch's RAdam."""
import json
from pathlib import Path

import numpy as np
import pytest

from lrviz import adam

RADAM = json.loads((Path(__file__).parent / "data" / "references" / "radam.json").read_text())


def test_adam_step_size_matches_the_formula():
    step = np.arange(5)
    got = adam.step_size(step, np.full(5, 0.01), 0.9, 0.999)
    t = step + 1.0
    np.testing.assert_allclose(got, 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t))
    assert got[0] == pytest.approx(0.01 * np.sqrt(0.001) / 0.1)


@pytest.mark.parametrize("case", RADAM["cases"], ids=lambda c: f"beta_2={c['beta_2']}")
def test_the_rectification_is_pytorchs_radam_step(case):
    """With gradient 1, lr 1 and eps 0, PyTorch's RAdam moves by r_t once it rectifies, by 1 before."""
    taken = np.asarray(case["step_taken"])
    r = adam.rectification(np.arange(case["steps"]), case["beta_2"])
    rectified = ~np.isnan(r)
    np.testing.assert_allclose(r[rectified], taken[rectified], rtol=1e-10)  # read from a parameter's moves
    assert np.all(taken[~rectified] == 1.0) and (~rectified).sum() == 5  # its first five steps


def test_the_untuned_warmup_reaches_the_full_rate_after_two_over_one_minus_beta_2_steps():
    w = adam.untuned_warmup(np.arange(4000), 0.999)
    assert w[0] == pytest.approx(0.0005) and w[1998] < 1.0  # step 1998 is t = 1999
    assert np.all(w[1999:] == 1.0)


def test_the_untuned_warmup_stays_near_the_rectification_it_stands_for():
    """Ma & Yarats's point: a linear warmup over 2/(1-beta_2) steps approximates RAdam."""
    step = np.arange(2000)
    r, w = adam.rectification(step, 0.999), adam.untuned_warmup(step, 0.999)
    assert np.nanmax(np.abs(r - w)) < 0.25
