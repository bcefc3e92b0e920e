"""Write reference RAdam rectification factors produced by PyTorch's own RAdam (torch.optim.RAdam).

This script is NOT part of lrviz and is not imported by its tests. It needs PyTorch, which lrviz does
not depend on, so run it in a separate scratch virtual environment (the one of make_lr_find.py will do):

    python3.11 -m venv /tmp/fastaivenv
    /tmp/fastaivenv/bin/pip install torch==2.14.1 numpy==2.4.6
    /tmp/fastaivenv/bin/python tests/data/references/make_radam.py    # from the repository root

How the factor is read from PyTorch: one float64 parameter, gradient 1 at every step, lr 1, eps 0.
Then Adam's bias-corrected moments are exactly 1 and PyTorch's RAdam moves the parameter by
-rect_t at step t where its rho_t > 5 (Liu et al.'s variance rectification), and by -1 (the
bias-corrected momentum, no adaptive step) before. `step_taken[t-1]` is that move, as PyTorch made it.
"""
import json
import platform
from pathlib import Path

import numpy as np
import torch

STEPS = 3000
out = {"library": f"torch {torch.__version__}", "python": platform.python_version(), "cases": []}
for beta_2 in (0.999, 0.99, 0.95):
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RAdam([p], lr=1.0, betas=(0.9, beta_2), eps=0.0)
    before, taken = 0.0, []
    for _ in range(STEPS):
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
        now = float(p.detach()[0])
        taken.append(before - now)
        before = now
    out["cases"].append({"beta_1": 0.9, "beta_2": beta_2, "steps": STEPS, "step_taken": taken})
Path(__file__).with_name("radam.json").write_text(json.dumps(out))
print("wrote radam.json:", [(c["beta_2"], np.round(c["step_taken"][:8], 4).tolist()) for c in out["cases"]])
