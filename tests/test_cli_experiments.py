"""`python -m lrviz lr-find` and `python -m lrviz sweep` as a user runs them: real training,
files whose content matches their header, a JSON last line, and bad input refused in one line."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lrviz.experiments import range_test
from lrviz.schedules import make

pytestmark = pytest.mark.timeout(600)
TINY = {"schedule": make("constant"), "data": {"n_samples": 300}}


def cli(tmp_path, *args, config=None):
    if config is not None:
        (tmp_path / "in.json").write_text(json.dumps(config))
    env = {**os.environ, "LRVIZ_HOME": str(tmp_path / "home"), "LRVIZ_WORKERS": "2"}
    return subprocess.run([sys.executable, "-m", "lrviz", *args], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=500)


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lr-find")
    done = cli(folder, "lr-find", "in.json", "--steps", "60", "--out", "rt.csv", config=TINY)
    return folder, done


def test_lr_find_writes_its_rows_and_ends_stdout_with_the_suggestions(found):
    folder, done = found
    assert done.returncode == 0, done.stderr[-2000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["suggested_learning_rate"] == last["valley"] and {"steep", "minimum"} <= set(last)
    rows = list(csv.DictReader((folder / "rt.csv").open(newline="")))
    assert list(rows[0]) == ["step", "learning_rate", "loss", "smoothed_loss"] and len(rows) == last["steps"]


def test_lr_find_rows_are_the_ramp_and_fastais_smoothing(found):
    folder, _ = found
    rows = list(csv.DictReader((folder / "rt.csv").open(newline="")))
    lr = np.array([float(r["learning_rate"]) for r in rows])
    ramp = 1e-7 * (10 / 1e-7) ** (np.arange(len(rows)) / 60)
    np.testing.assert_allclose(lr, ramp, rtol=1e-5)  # the rate Adam applied: the ramp in float32 arithmetic
    loss = [float(r["loss"]) for r in rows]
    np.testing.assert_allclose([float(r["smoothed_loss"]) for r in rows], range_test.smoothed_loss(loss), rtol=1e-12)


def test_lr_find_refuses_a_bad_option_naming_it(tmp_path):
    done = cli(tmp_path, "lr-find", "in.json", "--min-lr", "1", "--max-lr", "0.5", config=TINY)
    assert done.returncode == 2 and done.stderr.startswith("lrviz: error: --max-lr: got 0.5")


def test_a_sweep_writes_one_row_per_run_with_the_grid_by_path(tmp_path):
    sweep = {"base": {**TINY, "training": {"epochs": 2}},
             "grid": {"optimizer.beta_1": [0.9, 0.8], "schedule": [make("constant"), make("CosineDecay")]},
             "seeds": [0, 1]}
    done = cli(tmp_path, "sweep", "in.json", "--out", "results.csv", config=sweep)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "results.csv").open(newline="")))
    assert list(rows[0]) == ["optimizer.beta_1", "schedule", "seed", "run_id", "status", "final_loss", "final_val_loss",
                             "best_val_loss", "final_accuracy", "final_val_accuracy", "started", "finished", "node"]
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done"}
    assert json.loads(rows[2]["schedule"])["class_name"] == "CosineDecay" and rows[2]["optimizer.beta_1"] == "0.9"
    assert float(rows[0]["started"]) <= float(rows[0]["finished"]) and "/pid " in rows[0]["node"]


def test_a_bad_sweep_is_refused_in_one_line_naming_the_cell_field(tmp_path):
    sweep = {"base": TINY, "grid": {"optimizer.beta_1": [0.9, 2.0]}}
    done = cli(tmp_path, "sweep", "in.json", config=sweep)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("lrviz: error: grid.optimizer.beta_1[1]: optimizer.beta_1: got 2.0")
