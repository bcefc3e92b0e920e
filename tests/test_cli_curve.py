"""`python -m lrviz curve`: one CSV row per optimizer step, in the page's CSV format; `python -m
lrviz script`: the page's plain-Keras script; bad input exits 2 with one line."""
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lrviz.cli import main

# 100 samples, 20 % held out, batch 10: 8 steps per epoch.
DATA = {"n_samples": 100, "validation_split": 0.2}
TRAINING = {"epochs": 2, "batch_size": 10}
ROOT = Path(__file__).resolve().parents[1]
PIECEWISE = {"class_name": "PiecewiseConstantDecay",
             "config": {"boundaries": [0, 8], "values": [0.3, 0.2, 0.1]}}


def write(tmp_path, raw, name="config.json"):
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return str(path)


def rows_of(text):
    return list(csv.reader(io.StringIO(text)))


def run_curve(capsys, *argv):
    code = main(["curve", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config_file(tmp_path):
    return write(tmp_path, {"schedule": PIECEWISE, "data": DATA, "training": TRAINING})


def test_curve_writes_header_and_one_row_per_step(config_file, capsys):
    code, out, err = run_curve(capsys, config_file)
    rows = rows_of(out)
    assert code == 0 and err == ""
    assert rows[0] == ["step", "epoch", "learning_rate"]
    assert [int(r[0]) for r in rows[1:]] == list(range(16))
    assert [int(r[1]) for r in rows[1:]] == [s // 8 for s in range(16)]


def test_step_zero_is_the_rate_of_the_first_update(config_file, capsys):
    rows = rows_of(run_curve(capsys, config_file)[1])[1:]
    # PiecewiseConstantDecay's bounds are inclusive: values[1] from step 1, values[2] from step 9.
    assert [float(r[2]) for r in rows[:2]] == [0.3, 0.2]
    assert float(rows[8][2]) == 0.2 and float(rows[9][2]) == 0.1


def test_epochs_and_steps_per_epoch_override_the_config(config_file, capsys):
    code, out, _ = run_curve(capsys, config_file, "--epochs", "3", "--steps-per-epoch", "5")
    rows = rows_of(out)[1:]
    assert code == 0 and len(rows) == 15
    assert [int(r[1]) for r in rows] == [s // 5 for s in range(15)]


def test_out_writes_the_file_and_nothing_to_stdout(config_file, tmp_path, capsys):
    target = tmp_path / "curve.csv"
    code, out, err = run_curve(capsys, config_file, "--out", str(target))
    assert code == 0 and out == "" and err == ""
    assert len(rows_of(target.read_text())) == 17


def test_the_file_is_the_pages_csv_download(config_file, tmp_path, capsys):
    from lrviz import config, exports
    from lrviz.schedules import curve

    target = tmp_path / "curve.csv"
    run_curve(capsys, config_file, "--out", str(target))
    cfg = config.load(config_file)
    assert target.read_bytes() == exports.csv_text(exports.curve_columns(*curve(cfg["schedule"], 2, 8))).encode()
    assert b"\r" not in target.read_bytes()


def test_values_survive_the_csv_exactly(tmp_path, capsys):
    path = write(tmp_path, {"schedule": {"kind": "one_cycle", "maximal_learning_rate": 0.0123},
                            "data": DATA, "training": TRAINING})
    rows = rows_of(run_curve(capsys, path)[1])[1:]
    from lrviz.schedules import check_schedule, curve

    _, _, lr = curve(check_schedule({"kind": "one_cycle", "maximal_learning_rate": 0.0123}), 2, 8)
    assert [float(r[2]) for r in rows] == lr.tolist()


def one_error_line(err):
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("raw,field", [
    ({"schedule": {"kind": "nope"}}, "schedule.kind"),
    ({"schedule": PIECEWISE, "training": {"epochs": 0}}, "training.epochs"),
    ({"schedule": {"kind": "expression", "expression": "__import__('os')"}}, "schedule.expression"),
    ("{not json", "config"),
])
def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, capsys, raw, field):
    code, out, err = run_curve(capsys, write(tmp_path, raw))
    assert code == 2 and out == ""
    assert one_error_line(err).startswith(f"lrviz: error: {field}")


def test_missing_file_exits_2_with_one_line(tmp_path, capsys):
    code, _, err = run_curve(capsys, str(tmp_path / "missing.json"))
    assert code == 2 and "config file" in one_error_line(err)


def test_directory_as_config_exits_2_with_one_line(tmp_path, capsys):
    code, _, err = run_curve(capsys, str(tmp_path))
    assert code == 2 and "cannot be read" in one_error_line(err)


def test_a_formula_that_goes_bad_in_the_longer_run_asked_for_exits_2_naming_the_step(tmp_path, capsys):
    formula = {"kind": "expression", "expression": "lr0 * (1 - step / 2000)"}  # fine for 1,000 steps
    code, out, err = run_curve(capsys, write(tmp_path, {"schedule": formula}), "--epochs", "50")
    assert code == 2 and out == ""
    assert "schedule.expression" in one_error_line(err) and "at step 2,001" in err


def test_zero_epochs_option_exits_2_with_one_line(config_file, capsys):
    code, _, err = run_curve(capsys, config_file, "--epochs", "0")
    assert code == 2 and "--epochs" in one_error_line(err)


def test_non_integer_option_exits_2_with_one_line(config_file, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["curve", config_file, "--steps-per-epoch", "many"])
    assert exit_.value.code == 2 and "--steps-per-epoch" in one_error_line(capsys.readouterr().err)


def test_unwritable_out_exits_2_with_one_line(config_file, tmp_path, capsys):
    code, _, err = run_curve(capsys, config_file, "--out", str(tmp_path / "no" / "such" / "dir.csv"))
    assert code == 2 and "cannot write" in one_error_line(err)


def test_module_entry_point_exits_2_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lrviz", "curve", write(tmp_path, {"schedule": {}})],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert one_error_line(done.stderr).startswith("lrviz: error: schedule")


def test_module_entry_point_writes_the_csv(config_file):
    done = subprocess.run([sys.executable, "-m", "lrviz", "curve", config_file], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    assert done.stdout.splitlines()[:2] == ["step,epoch,learning_rate", "0,0,0.3"]


# --- script -------------------------------------------------------------------------------

def test_script_writes_the_pages_download(config_file, tmp_path, capsys):
    from lrviz import config, exports

    target = tmp_path / "run.py"
    assert main(["script", config_file, "--out", str(target)]) == 0
    assert capsys.readouterr() == ("", "")
    assert target.read_text() == exports.keras_script(config.load(config_file))


def test_script_without_out_prints_the_script(config_file, capsys):
    from lrviz import config, exports

    assert main(["script", config_file]) == 0
    assert capsys.readouterr().out == exports.keras_script(config.load(config_file))


@pytest.mark.parametrize("raw,field", [
    ({"schedule": {"kind": "nope"}}, "schedule.kind"),
    ({"schedule": PIECEWISE, "model": {"activation": "swish"}}, "model.activation"),
])
def test_script_of_a_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, raw, field):
    done = subprocess.run([sys.executable, "-m", "lrviz", "script", write(tmp_path, raw)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert one_error_line(done.stderr).startswith(f"lrviz: error: {field}")
