"""The families that mirror another library, step by step against that library's own numbers:
Hugging Face transformers, optax and PyTorch, run once in a scratch venv by
tests/data/references/make_references.py (its docstring has the versions and what "step s"
means in each library) and stored as JSON."""
import json
from pathlib import Path

import numpy as np
import pytest

from lrviz.schedules import Timeline, check_schedule, curve_on, make

REFERENCES = Path(__file__).resolve().parent / "data" / "references"
FILES = ("wsd_1_sqrt", "warmup_shapes", "exponential_end_value", "cyclical_step_size_down", "linear_to_zero")


def schedule(params: dict) -> dict:
    """The lrviz config of a reference case (its params use lrviz's argument names)."""
    params = dict(params)
    params.pop("class_name", None)
    kind = params.pop("kind", "exponential_end")
    kind = {"warmup": "linear_warmup"}.get(kind, kind)
    if "schedule" in params:
        inner = dict(params["schedule"])
        params["schedule"] = make(inner.pop("class_name", None) or inner.pop("kind"), **inner.get("config", inner))
    return check_schedule(make(kind, **params))


def cases():
    for name in FILES:
        data = json.loads((REFERENCES / f"{name}.json").read_text())
        for i, case in enumerate(data["cases"]):
            yield pytest.param(case, id=f"{name}-{i}-{case.get('library', data['library']).split()[0]}")


@pytest.mark.parametrize("case", cases())
def test_the_curve_equals_the_reference_librarys_at_every_step(case):
    lr = curve_on(schedule(case["params"]), Timeline.of(1, case["steps"]))
    np.testing.assert_allclose(lr, case["learning_rate"], rtol=1e-12, atol=1e-15)
