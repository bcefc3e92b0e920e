"""The LR range test's reading of a recorded test equals fastai's lr_find: its smoothed loss,
where it stops, and its valley, steep and minimum suggestions (tests/data/references/lr_find.json,
made by make_lr_find.py with fastai itself)."""
import json
from pathlib import Path

import numpy as np
import pytest

from lrviz.experiments import range_test
from lrviz.schedules import curve, make

REFERENCE = json.loads((Path(__file__).parent / "data" / "references" / "lr_find.json").read_text())
CASES = {c["name"]: c for c in REFERENCE["cases"]}
FLOAT32 = 2e-6  # fastai computes in float32 tensors


def values(case, key):
    """A list of the case, its nulls read back as the NaN or inf they stood for."""
    out = np.array([np.nan if v is None else v for v in case[key]], dtype=np.float64)
    for index, kind in case.get("nonfinite", {}).get(key, []):
        out[index] = np.inf if kind == "inf" else np.nan
    return out


def reading(case):
    return range_test.analyse(case["learning_rate"], values(case, "loss"), case["num_it"], case["stop_factor"])


@pytest.mark.parametrize("name", CASES)
def test_the_test_stops_where_fastai_stops(name):
    assert len(reading(CASES[name]).loss) == CASES[name]["recorded"]


@pytest.mark.parametrize("name", CASES)
def test_the_smoothed_loss_is_fastais(name):
    case = CASES[name]
    ours, theirs = reading(case).smoothed, values(case, "smoothed_loss")[:case["recorded"]]
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=FLOAT32)
    assert np.array_equal(np.isfinite(ours), finite)


@pytest.mark.parametrize("name", CASES)
def test_each_suggestion_is_fastais(name):
    case = CASES[name]
    got = {s.name: s for s in reading(case).suggestions}
    assert set(got) == set(case["suggestions"])
    for fn, want in case["suggestions"].items():
        assert got[fn].learning_rate == pytest.approx(want["learning_rate"], rel=FLOAT32), fn
        assert (got[fn].at, got[fn].loss) == pytest.approx(tuple(want["point"]), rel=FLOAT32), fn


@pytest.mark.parametrize("name", CASES)
def test_the_ramp_is_fastais_exponential_schedule(name):
    case = CASES[name]
    ramp = make("lr_range", min_learning_rate=case["start_lr"], max_learning_rate=case["end_lr"],
                num_steps=case["num_it"])
    np.testing.assert_allclose(curve(ramp, 1, case["num_it"])[2], case["learning_rate"], rtol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_the_stop_fed_chunk_by_chunk_during_training_stops_where_fastai_stops(name):
    case = CASES[name]
    watch, seen, stopped = range_test.Explosion(case["stop_factor"]), 0, None
    for chunk in np.array_split(values(case, "loss"), 7):  # as training hands it over, a chunk at a time
        at = watch.first(chunk)
        if at is not None:
            stopped = seen + at + 1
            break
        seen += len(chunk)
    assert (stopped or len(case["loss"])) == case["recorded"]


def test_valley_is_the_first_suggestion():
    assert reading(CASES["typical_100"]).suggestions[0].name == "valley"


def test_too_short_a_test_gives_no_suggestion_and_says_why():
    case = CASES["typical_100"]
    result = range_test.analyse(case["learning_rate"][:12], values(case, "loss")[:12], 100)
    assert result.suggestions == [] and "too few steps" in result.note
