"""Downloads: CSV (one format, for the page and the CLI) and JSON are exact and load back; HTML
works offline; PNG/SVG through kaleido; and the plain-Keras script applies the same learning
rates as the preview (tests/test_script_reproduces.py: it reproduces the whole run)."""
import ast
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrviz import config, exports, figures
from lrviz.schedules import FAMILIES, curve, make
from lrviz.store import STEP_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
# 200 samples, 20 % held out, batch 32: 5 steps per epoch, so every family changes within 15 steps.
SMALL = {"data": {"n_samples": 200}, "training": {"epochs": EPOCHS, "batch_size": 32}}
OVERRIDES = {
    "ExponentialDecay": {"decay_steps": 3},
    "PiecewiseConstantDecay": {"boundaries": [3, 8], "values": [0.01, 0.005, 0.001]},
    "PolynomialDecay": {"decay_steps": 6, "cycle": True},
    "InverseTimeDecay": {"decay_steps": 2, "staircase": True},
    "CosineDecay": {"initial_learning_rate": 1e-4, "decay_steps": 8, "warmup_target": 0.01, "warmup_steps": 4,
                    "alpha": 0.1},
    "CosineDecayRestarts": {"first_decay_steps": 3, "t_mul": 1.5, "m_mul": 0.7, "alpha": 0.05},
    "legacy_adam_decay": {"decay": 0.1},
    "cyclical": {"step_size": 2, "mode": "triangular2"},
    "one_cycle": {"pct_start": 0.25, "three_phase": True},
    "warmup_stable_decay": {"warmup_steps": 3, "stable_steps": 4, "decay_steps": 5, "alpha": 0.1,
                            "decay_type": "cosine"},
    "inverse_sqrt": {"warmup_steps": 3},
    "linear_warmup": {"warmup_steps": 4, "initial_learning_rate": 1e-4,
                      "schedule": make("cyclical", step_size=2, mode="exp_range", gamma=0.9)},
    "time_based_decay": {"initial_learning_rate": 0.1, "decay": 0.1 / EPOCHS},
    "step_decay": {"epochs_drop": 1, "drop": 0.5},
    "multi_step": {"milestones": [1, 2], "gamma": 0.3},
    "exponential_per_epoch": {"gamma": 0.5},
    "reduce_lr_on_plateau": {"patience": 1000},  # the preview assumes no reduction
    "expression": {"expression": "lr0 * (0.5 ** floor(epoch / 1)) * (step + 1) / (step + 2) if step < 12 "
                                 "else max(lr0 / sqrt(step), 1e-5)"},
}


def small_config(family, **params):
    return config.validate({"schedule": make(family, **{**OVERRIDES.get(family, {}), **params}), **SMALL})


def test_the_curve_csv_is_exact_and_matches_the_cli_format():
    cfg = small_config("ExponentialDecay")
    step, epoch, lr = curve(cfg["schedule"], EPOCHS, 5)
    text = exports.csv_text(exports.curve_columns(step, epoch, lr))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["step", "epoch", "learning_rate"]
    assert [float(r["learning_rate"]) for r in rows] == lr.tolist()  # repr round-trips
    assert rows[7]["step"] == "7" and rows[7]["epoch"] == "1"


def test_csv_text_ends_lines_with_newline_and_writes_floats_exactly():
    value = 0.1 + 0.2  # 0.30000000000000004: str() of a rounded format would lose it
    text = exports.csv_text({"step": [0, 1], "loss": [value, 2.5e-9]})
    assert text == "step,loss\n0,0.30000000000000004\n1,2.5e-09\n" and "\r" not in text


def test_a_runs_csv_keeps_integers_and_leaves_missing_values_empty():
    cols = exports.run_columns({"epoch": np.array([0.0, 1.0]), "loss": np.array([0.5, np.nan]),
                                "val_loss": [0.4, None]}, "epochs", None)
    text = exports.csv_text({name: cols[name] for name in ("epoch", "loss", "val_loss")})
    assert text.splitlines() == ["epoch,loss,val_loss", "0,0.5,0.4", "1,,"]


def test_write_csv_in_chunks_writes_the_same_text(monkeypatch):
    columns = {"step": np.arange(10), "learning_rate": np.linspace(0.1, 0.01, 10)}
    whole = exports.csv_text(columns)
    monkeypatch.setattr(exports, "CSV_CHUNK_ROWS", 3)
    assert exports.csv_text(columns) == whole and len(whole.splitlines()) == 11


def test_run_columns_name_the_metric_columns_for_the_runs_metric():
    epochs = [(0, 0.01, 0.7, 0.6, 0.55, 0.5, 1.25), (1, 0.01, 0.5, None, 0.75, None, 2.5)]
    cols = exports.run_columns(epochs, "epochs", "accuracy")
    assert list(cols) == ["epoch", "learning_rate", "loss", "val_loss", "accuracy", "val_accuracy", "wall_time"]
    assert cols["epoch"].dtype == np.int64 and cols["val_accuracy"][0] == 0.5 and np.isnan(cols["val_loss"][1])
    assert exports.csv_text(cols).splitlines()[2] == "1,0.01,0.5,,0.75,,2.5"


def test_run_columns_take_the_stores_column_dicts_and_keep_names_without_a_metric():
    steps = {"step": [0, 1], "epoch": [0, 0], "learning_rate": [0.1, 0.1], "loss": [0.9, 0.8], "wall_time": [0.1, 0.2]}
    cols = exports.run_columns(steps, "steps", None)
    assert list(cols) == list(STEP_COLUMNS[:5]) and cols["step"].tolist() == [0, 1]  # no inside measures: none
    assert list(exports.run_columns({"epoch": [0]}, "epochs", None))[4:6] == ["metric", "val_metric"]


def test_run_columns_fill_columns_the_rows_lack_with_nan():
    # A run stored before wall_time per step existed, or traces kept without it.
    cols = exports.run_columns({"step": np.array([0.0, 1.0]), "loss": np.array([0.9, 0.8])}, "steps", "mae")
    assert np.isnan(cols["wall_time"]).all() and len(cols["learning_rate"]) == 2


def test_config_json_loads_back_and_runs_from_the_cli(tmp_path):
    cfg = small_config("CosineDecay")
    path = tmp_path / "cfg.json"
    path.write_text(exports.config_json(cfg))
    assert config.load(path) == cfg
    out = tmp_path / "curve.csv"
    r = subprocess.run([sys.executable, "-m", "lrviz", "curve", str(path), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = [float(x["learning_rate"]) for x in csv.DictReader(out.open())]
    assert got == curve(cfg["schedule"], EPOCHS, 5)[2].tolist()


def test_html_is_standalone():
    fig = figures.preview_figure([figures.Curve("a", np.arange(10), np.ones(10))], 5)
    page = exports.html(fig)
    assert "<html>" in page[:100] and "Plotly.newPlot" in page
    assert 'src="https://cdn' not in page and len(page) > 1_000_000  # plotly.js inlined


def test_image_export_or_a_clear_reason():
    fig = figures.preview_figure([figures.Curve("a", np.arange(10), np.linspace(1, 0.1, 10))], 5)
    reason = exports.image_support()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        assert "camera" not in reason and "Chrom" in reason
        pytest.skip(reason)
    png = exports.image(fig, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = exports.image(fig, "svg")  # the same browser, reused
    assert svg.lstrip().startswith(b"<svg")
    with pytest.raises(ValueError, match="format"):
        exports.image(fig, "gif")


def test_every_family_has_a_script():
    for family in FAMILIES:
        cfg = small_config(family)
        source = exports.keras_script(cfg)
        tree = ast.parse(source)
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        # the standard library, Keras, NumPy and scikit-learn only
        assert imported - set(sys.stdlib_module_names) <= {"keras", "numpy", "sklearn"}, (family, imported)
        assert "lrviz" not in imported and "eval(" not in source and "exec(" not in source


def _rates(path):
    return np.array([float(r["learning_rate"]) for r in csv.DictReader(open(path))])


def test_article_script_runs_as_a_program(tmp_path):
    cfg = small_config("time_based_decay")
    script = tmp_path / "article.py"
    script.write_text(exports.keras_script(cfg))
    out = tmp_path / "rates.csv"
    r = subprocess.run([sys.executable, str(script), "--lr-csv", str(out)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "final:" in r.stdout
    np.testing.assert_allclose(_rates(out), curve(cfg["schedule"], EPOCHS, 5)[2], rtol=2e-6)


DRIVER = """
import contextlib, io, runpy, sys
for script, out in zip(sys.argv[1::2], sys.argv[2::2]):
    sys.argv = [script, "--lr-csv", out]
    with contextlib.redirect_stdout(io.StringIO()):
        runpy.run_path(script, run_name="__main__")
"""


def test_every_script_applies_the_previewed_rates(tmp_path):
    # One interpreter runs every script (TensorFlow loads once), each as __main__.
    args, expected = [], {}
    for family in FAMILIES:
        cfg = small_config(family)
        script, out = tmp_path / f"{family}.py", tmp_path / f"{family}.csv"
        script.write_text(exports.keras_script(cfg))
        args += [str(script), str(out)]
        expected[family] = curve(cfg["schedule"], EPOCHS, config.steps_per_epoch(cfg))[2]
    r = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-3000:]
    for family, want in expected.items():
        got = _rates(tmp_path / f"{family}.csv")
        assert len(got) == len(want) == 15, family
        assert len(np.unique(want)) > 1 or family in ("constant", "reduce_lr_on_plateau"), family
        # Keras computes in float32.
        np.testing.assert_allclose(got, want, rtol=3e-6, atol=1e-12, err_msg=family)
