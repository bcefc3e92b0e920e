"""Experiments that answer "which rate, which schedule, and does it matter?": the LR range test
(range_test), statistics over seeds and paired A/B runs (stats), and sweeps (sweep)."""
