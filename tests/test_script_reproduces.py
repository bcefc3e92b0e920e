"""The generated script is the run itself, not only its rates: trained as a real program, it
gives lrviz's per-epoch loss, val_loss, metric and val metric, and lrviz's learning rate at
every step, for every schedule family, on binary, multiclass, regression and CSV data.

The scripts run as subprocesses two at a time (two cores), all started when the first test
asks for them, while lrviz trains the same configs in this process.
"""
import csv
import functools
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lrviz import config, exports, train
from lrviz.schedules import FAMILIES, make

RTOL = 1e-4  # the contract; measured: bit-equal in every case
# Both optimizers apply the same rates (their schedules agree bit for bit inside a graph), but
# the script can only read its rate eagerly, and TensorFlow's graph optimizer turns x / c into
# x * (1 / c) inside the train step: a few float32 ulps, up to 6.7e-7 relative (cyclical,
# CosineDecayRestarts) where 1 - x cancels digits.
RATE_RTOL = 2e-6

# Rows after the 20 % split, batch 32, each with a partial last batch: moons/circles/xor/spirals/
# blobs/regression 250 -> 200 (6 × 32 + 8), iris 150 -> 120 (3 × 32 + 24), wine 178 -> 143
# (4 × 32 + 15); breast_cancer 569 -> 456 at batch 64 (7 × 64 + 8).
CASES = {  # name: (family, schedule arguments, data, training)
    "constant": ("constant", {"learning_rate": 0.01}, {"name": "moons"}, {}),
    "legacy_adam_decay": ("legacy_adam_decay", {"learning_rate": 0.01, "decay": 0.1}, {"name": "regression"}, {}),
    "cyclical": ("cyclical", {"step_size": 3, "mode": "triangular2"}, {"name": "iris"}, {}),
    "one_cycle": ("one_cycle", {"pct_start": 0.3, "three_phase": True}, {"name": "wine"}, {}),
    "warmup_stable_decay": ("warmup_stable_decay", {"warmup_steps": 3, "stable_steps": 4, "decay_steps": 6,
                                                    "alpha": 0.1, "decay_type": "cosine"}, {"name": "circles"}, {}),
    "inverse_sqrt": ("inverse_sqrt", {"warmup_steps": 3}, {"name": "xor"}, {}),
    "linear_warmup": ("linear_warmup", {"warmup_steps": 4, "initial_learning_rate": 1e-4,
                                        "schedule": make("cyclical", step_size=2, mode="exp_range", gamma=0.9)},
                      {"name": "spirals"}, {}),
    "ExponentialDecay": ("ExponentialDecay", {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.8},
                         {"name": "blobs"}, {}),
    "PiecewiseConstantDecay": ("PiecewiseConstantDecay", {"boundaries": [3, 8], "values": [0.01, 0.005, 0.001]},
                               {"name": "iris"}, {}),
    "PolynomialDecay": ("PolynomialDecay", {"initial_learning_rate": 0.02, "decay_steps": 6, "cycle": True},
                        {"name": "regression"}, {}),
    "InverseTimeDecay": ("InverseTimeDecay", {"initial_learning_rate": 0.02, "decay_steps": 2, "decay_rate": 0.5,
                                              "staircase": True}, {"name": "breast_cancer"}, {"batch_size": 64}),
    "CosineDecay": ("CosineDecay", {"initial_learning_rate": 1e-4, "decay_steps": 12, "warmup_target": 0.01,
                                    "warmup_steps": 4, "alpha": 0.1}, {"name": "moons"}, {}),
    "CosineDecayRestarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.01, "first_decay_steps": 3,
                                                    "t_mul": 1.5, "m_mul": 0.7, "alpha": 0.05}, {"name": "wine"}, {}),
    "time_based_decay": ("time_based_decay", {"initial_learning_rate": 0.1, "decay": 0.1, "compounding": True},
                         {"name": "moons"}, {}),
    "step_decay": ("step_decay", {"initial_learning_rate": 0.02, "epochs_drop": 1, "drop": 0.5},
                   {"name": "regression"}, {}),
    "multi_step": ("multi_step", {"initial_learning_rate": 0.02, "milestones": [1, 2], "gamma": 0.3},
                   {"name": "iris"}, {}),
    "exponential_per_epoch": ("exponential_per_epoch", {"initial_learning_rate": 0.02, "gamma": 0.5},
                              {"name": "circles", "validation_split": 0.0}, {}),
    # min_delta so large that only epoch 0 improves: the rate halves at every later epoch end.
    "reduce_lr_on_plateau": ("reduce_lr_on_plateau", {"initial_learning_rate": 0.01, "factor": 0.5, "patience": 1,
                                                      "min_delta": 100.0}, {"name": "moons"}, {}),
    "expression": ("expression", {"expression": "lr0 * 0.5 ** epoch * (step + 1) / (step + 2)",
                                  "initial_learning_rate": 0.02}, {"name": "wine"}, {}),
    "exponential_end": ("exponential_end", {"initial_learning_rate": 0.02, "decay_steps": 3, "decay_rate": 0.6,
                                            "end_learning_rate": 0.003, "transition_begin": 4}, {"name": "blobs"}, {}),
    "linear_to_zero": ("linear_to_zero", {"initial_learning_rate": 0.02, "warmup_steps": 3}, {"name": "circles"}, {}),
    "cosine warmup, 1-sqrt decay": ("linear_warmup", {
        "warmup_steps": 5, "warmup_shape": "cosine", "schedule": make("warmup_stable_decay", initial_learning_rate=0.02,
                                                                      warmup_steps=0, stable_steps=5, decay_steps=12,
                                                                      decay_type="1-sqrt")}, {"name": "xor"}, {}),
    # Without the stop on explosion: lrviz's own rule, which the script does not carry.
    "lr_range": ("lr_range", {"min_learning_rate": 1e-4, "max_learning_rate": 0.05, "num_steps": 12,
                              "stop_factor": None}, {"name": "moons"}, {}),
    "cyclical, steps down": ("cyclical", {"step_size": 2, "step_size_down": 5}, {"name": "moons"}, {}),
    "csv": ("ExponentialDecay", {"initial_learning_rate": 0.02, "decay_steps": 4, "decay_rate": 0.7},
            {"name": "csv", "path": "upload.csv"}, {}),
    # Validated at its average x (its val_ columns), which the script computes as lrviz does.
    "schedule-free AdamW": ("constant", {"learning_rate": 0.01}, {"name": "moons"}, {}),
}
NO_VALIDATION = "exponential_per_epoch"
OPTIMIZERS = {"schedule-free AdamW": {"class_name": "ScheduleFreeAdamW",
                                      "config": {"warmup_steps": 5, "weight_decay": 0.01}}}


def cfg_of(name, csv_path=None):
    family, params, data, training = CASES[name]
    data = {**data, "n_samples": 250, **({"path": str(csv_path)} if csv_path else {})}
    return config.validate({"schedule": make(family, **params), "data": data, "optimizer": OPTIMIZERS.get(name, {}),
                            "training": {"epochs": 4, **training}})


def write_table(path):
    """A CSV of three classes named by text, with a text column that is not a feature."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 3))
    label = np.array(["low", "mid", "high"])[np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5])]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "c", "note", "label"])
        writer.writerows([*map(repr, row.tolist()), f"row {i}", lab] for i, (row, lab) in enumerate(zip(x, label)))


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / "table.csv"
    write_table(path)
    return path


def run_script(folder, cfg, *args):
    folder.mkdir()
    (folder / "run.py").write_text(exports.keras_script(cfg))
    return subprocess.run([sys.executable, "run.py", "--history-csv", "history.csv", "--lr-csv", "rates.csv",
                           *args], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.fixture(scope="module")
def scripts(tmp_path_factory, table):
    """name -> a future of (folder, finished process). The CSV case's config names only a file,
    as the page's does, that is not in the script's folder: the script must read --csv."""
    root = tmp_path_factory.mktemp("scripts")
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {}
    for name in CASES:
        extra = ("--csv", str(table)) if name == "csv" else ()
        futures[name] = pool.submit(lambda n=name, e=extra: (root / n, run_script(root / n, cfg_of(n), *e)))
    yield futures
    pool.shutdown(wait=True)


@functools.cache
def lrviz_run(name, csv_path=None):
    steps, epochs = [], []
    outcome = train.run(cfg_of(name, csv_path), lambda s, e: (steps.extend(s), epochs.extend(e)))
    assert outcome.status == "done", outcome
    return steps, epochs


def script_output(scripts, name):
    folder, done = scripts[name].result()
    assert done.returncode == 0, done.stderr[-3000:]
    with open(folder / "history.csv", newline="") as f:
        history = list(csv.reader(f))
    with open(folder / "rates.csv", newline="") as f:
        rates = list(csv.DictReader(f))
    return history, rates


def lrviz_of(name, table):
    return lrviz_run(name, table if name == "csv" else None)


def numbers(cells):
    return np.array([np.nan if c == "" else float(c) for c in cells])


def test_every_family_has_a_case_and_every_task_is_covered():
    assert {family for family, *_ in CASES.values()} == set(FAMILIES)
    data = {d["name"] for _, _, d, _ in CASES.values()}
    assert {"moons", "iris", "wine", "regression", "csv"} <= data  # binary, multiclass, regression, a CSV


@pytest.mark.parametrize("name", CASES)
def test_script_history_equals_lrvizs_epochs(name, scripts, table):
    (header, *rows), (_, epochs) = script_output(scripts, name)[0], lrviz_of(name, table)
    assert len(rows) == len(epochs) == 4
    got = {column: numbers(values) for column, values in zip(header, zip(*rows))}
    want = exports.run_columns(epochs, "epochs", header[4])
    assert header[:4] == ["epoch", "learning_rate", "loss", "val_loss"]
    assert header[4:] == [header[4], "val_" + header[4]] and header[4] in ("accuracy", "mae")
    np.testing.assert_array_equal(got["epoch"], want["epoch"])
    np.testing.assert_allclose(got["learning_rate"], want["learning_rate"], rtol=RATE_RTOL)
    for column in header[2:]:
        np.testing.assert_allclose(got[column], want[column], rtol=RTOL, err_msg=column)


@pytest.mark.parametrize("name", CASES)
def test_script_rates_equal_lrvizs_steps(name, scripts, table):
    rates, (steps, _) = script_output(scripts, name)[1], lrviz_of(name, table)
    want = exports.run_columns(steps, "steps", None)
    assert [int(r["step"]) for r in rates] == want["step"].tolist()
    assert [int(r["epoch"]) for r in rates] == want["epoch"].tolist()
    np.testing.assert_allclose([float(r["learning_rate"]) for r in rates], want["learning_rate"],
                               rtol=RATE_RTOL, atol=1e-12)


def test_the_metric_column_is_named_for_the_task(scripts):
    assert script_output(scripts, "cyclical")[0][0][4:] == ["accuracy", "val_accuracy"]
    assert script_output(scripts, "step_decay")[0][0][4:] == ["mae", "val_mae"]


def test_without_validation_data_the_val_cells_are_empty(scripts, table):
    (_, *rows), (_, epochs) = script_output(scripts, NO_VALIDATION)[0], lrviz_of(NO_VALIDATION, table)
    assert all(row[3] == row[5] == "" for row in rows)
    assert all(e[3] is None and e[5] is None for e in epochs)


def test_a_plateau_run_lowers_the_rate_in_both(scripts, table):
    # The reductions follow val_loss, so equal rates mean the script saw lrviz's val_loss too.
    (_, *rows), (_, epochs) = script_output(scripts, "reduce_lr_on_plateau")[0], lrviz_of("reduce_lr_on_plateau", table)
    np.testing.assert_allclose([float(r[1]) for r in rows], [0.01, 0.01, 0.005, 0.0025], rtol=1e-6)
    np.testing.assert_allclose([e[1] for e in epochs], [0.01, 0.01, 0.005, 0.0025], rtol=1e-6)


def test_the_csv_script_trains_on_the_file_given_by_csv(scripts):
    folder, done = scripts["csv"].result()
    assert done.returncode == 0 and not (folder / "upload.csv").exists()  # the config's own name is not there
    header = script_output(scripts, "csv")[0][0]
    assert header[4] == "accuracy"  # the text target made it a classification
