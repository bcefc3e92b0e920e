"""A worker leaves by os._exit (lrviz.worker), which skips Python's atexit: whatever training
makes must need no atexit to be cleaned up, or every worker that ends leaves files behind.
(Autograph writes each function it converts to a temporary file that only atexit deletes:
lrviz's tf.functions are not converted.)"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import os
    from lrviz import config, stacked, train
    from lrviz.schedules import make

    cfgs = [config.validate({"schedule": make("constant"), "data": {"n_samples": 64},
                             "training": {"epochs": 2, "seed": seed}}) for seed in (0, 1)]
    assert train.run(cfgs[0], lambda steps, epochs: None).status == "done"
    assert [o.status for o in stacked.run(cfgs, [lambda s, e: None] * 2, [None] * 2)] == ["done"] * 2
    os._exit(0)
""")


def test_training_leaves_no_temporary_file_behind_a_worker_that_exits_at_once(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
