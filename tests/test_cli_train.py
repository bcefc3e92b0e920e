"""`python -m lrviz train`: trains in the foreground, writes the page's CSV format with the page's
column names, and says on stderr what it wrote and how the run ended. Real subprocesses."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrviz.schedules import make
from lrviz.store import INSIDE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
# 200 samples, 20 % held out, batch 32: 5 steps per epoch, 3 epochs.
TINY = {"schedule": make("ExponentialDecay", initial_learning_rate=0.05, decay_steps=3, decay_rate=0.8),
        "data": {"n_samples": 200}, "training": {"epochs": 3}}


def train(tmp_path, raw, *args, env=None):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return subprocess.run([sys.executable, "-m", "lrviz", "train", str(path), *args], cwd=ROOT,
                          capture_output=True, text=True, env=None if env is None else {**os.environ, **env})


def stderr_lines(done):
    # The progress bar redraws with carriage returns; the report lines are whole lines.
    return [line for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("lrviz:")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    epochs, steps = folder / "epochs.csv", folder / "steps.csv"
    done = train(folder, TINY, "--out", str(epochs), "--steps-out", str(steps))
    return done, epochs, steps


def test_a_finished_run_exits_0(trained):
    done, _, _ = trained
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_epoch_csv_has_the_pages_columns_and_one_row_an_epoch(trained):
    _, epochs, _ = trained
    rows = list(csv.reader(epochs.open(newline="")))
    assert rows[0] == ["epoch", "learning_rate", "loss", "val_loss", "accuracy", "val_accuracy", "wall_time"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"] and all(all(cell for cell in r) for r in rows[1:])


def test_the_step_csv_has_the_pages_columns_and_one_row_a_step(trained):
    _, _, steps = trained
    rows = list(csv.reader(steps.open(newline="")))
    # then what the optimizer did; a 16-16 MLP has three Dense layers, so three update ratios
    assert rows[0] == ["step", "epoch", "learning_rate", "loss", "wall_time", *INSIDE_COLUMNS[:8]]
    assert [int(r[0]) for r in rows[1:]] == list(range(15))
    assert float(rows[1][2]) == float(np.float32(0.05))  # the float32 rate, written exactly


def test_lines_end_with_newline_only(trained):
    _, epochs, steps = trained
    assert b"\r" not in epochs.read_bytes() and b"\r" not in steps.read_bytes()


def test_stderr_names_each_file_written_with_its_rows_and_columns_then_the_status(trained):
    done, epochs, steps = trained
    assert stderr_lines(done) == [
        f"lrviz: wrote {epochs}: 3 rows, columns epoch,learning_rate,loss,val_loss,accuracy,val_accuracy,wall_time",
        f"lrviz: wrote {steps}: 15 rows, columns step,epoch,learning_rate,loss,wall_time," + ",".join(INSIDE_COLUMNS[:8]),
        "lrviz: run done after 3 epochs, 15 steps",
    ]


def test_regression_names_its_metric_columns_mae_and_no_validation_leaves_them_empty(tmp_path):
    out = tmp_path / "epochs.csv"
    raw = {**TINY, "data": {"name": "regression", "n_samples": 200, "validation_split": 0.0},
           "training": {"epochs": 1}}
    assert train(tmp_path, raw, "--out", str(out)).returncode == 0
    header, row = list(csv.reader(out.open(newline="")))
    assert header[4:6] == ["mae", "val_mae"] and row[3] == row[5] == "" and row[4] != ""


def test_a_diverged_run_exits_1_and_says_where(tmp_path):
    raw = {"schedule": make("constant", learning_rate=10.0), "data": {"name": "regression", "n_samples": 200},
           "model": {"hidden_units": [32] * 8}, "training": {"epochs": 20}}
    done = train(tmp_path, raw)
    assert done.returncode == 1
    assert stderr_lines(done)[-1].startswith("lrviz: run diverged after ")
    assert "loss became" in stderr_lines(done)[-1]


def test_a_machine_without_a_cpp_compiler_fails_the_run_and_says_what_to_install(tmp_path):
    done = train(tmp_path, TINY, env={"CXX": "no-such-compiler", "LRVIZ_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = stderr_lines(done)[-1]
    assert last.startswith("lrviz: run failed") and "'no-such-compiler' cannot run" in last
    assert "apt-get install g++" in last


def test_a_missing_csv_exits_2_with_one_line_naming_the_field(tmp_path):
    done = train(tmp_path, {**TINY, "data": {"name": "csv", "path": str(tmp_path / "missing.csv")}})
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("lrviz: error: data.path")


def test_a_schedule_free_run_trains_and_its_csv_has_both_validation_points(tmp_path):
    out = tmp_path / "epochs.csv"
    done = train(tmp_path, {**TINY, "schedule": make("constant", learning_rate=0.01),
                            "optimizer": {"class_name": "ScheduleFreeAdamW", "config": {"warmup_steps": 5}}},
                 "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    header, *rows = list(csv.reader(out.open(newline="")))
    assert header[-2:] == ["val_loss_at_y", "val_accuracy_at_y"] and len(rows) == 3
    assert all(r[3] and r[-2] and r[3] != r[-2] for r in rows)  # val_loss at x, and at y


def test_the_models_view_is_written_as_an_animated_html_with_a_frame_per_epoch(tmp_path):
    view = tmp_path / "view.html"
    done = train(tmp_path, TINY, "--view-out", str(view))
    assert done.returncode == 0, done.stderr[-2000:]
    html = view.read_text()
    assert html.count('"name":"') >= 3 and "after epoch " in html and "P(class 1)" in html
    assert f"lrviz: wrote {view}: the model's view over 3 epochs" in stderr_lines(done)


def test_data_of_many_features_writes_no_view_and_says_why(tmp_path):
    view = tmp_path / "view.html"
    done = train(tmp_path, {**TINY, "data": {"name": "iris"}}, "--view-out", str(view))
    assert done.returncode == 0 and not view.exists()
    assert any("no model view" in line and "one or two features" in line for line in stderr_lines(done))
