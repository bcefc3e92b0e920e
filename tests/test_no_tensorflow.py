"""The preview path (catalogue, config, `python -m lrviz curve`) never loads TensorFlow or Keras."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, runpy, sys
from lrviz import config
from lrviz.schedules import FAMILIES, check_schedule, curve, make

for family_id in FAMILIES:
    curve(check_schedule(make(family_id)), 3, 10)
config.validate({"schedule": make("linear_warmup", schedule=make("expression"))})
sys.argv = ["lrviz", "curve", sys.argv[1], "--out", sys.argv[2]]
try:
    runpy.run_module("lrviz", run_name="__main__")
except SystemExit as exc:
    assert exc.code == 0, exc.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))))
"""


def test_catalogue_config_and_curve_cli_never_import_tensorflow(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"schedule": {"kind": "one_cycle"}, "training": {"epochs": 2}}))
    out = tmp_path / "curve.csv"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(cfg), str(out)], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert out.read_text().startswith("step,epoch,learning_rate")
