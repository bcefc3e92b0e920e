"""A paired A/B test: two configs trained over the same seeds, so each seed gives both arms the
same initial weights and batch order (when their data and model agree), and the difference is
read seed by seed.

    {"a": CONFIG, "b": CONFIG, "seeds": [0, 1, 2, 3, 4]}
"""
from __future__ import annotations

from .. import config as cfgmod
from ..params import ConfigError
from .stats import Paired, paired
from .sweep import Plan, Run, check_seeds

KEYS = ("a", "b", "seeds")
ARMS = ("A", "B")


def check(raw) -> Plan:
    if not isinstance(raw, dict):
        raise ConfigError("ab", raw, "allowed: a JSON object with a, b and seeds")
    for key in raw:
        if key not in KEYS:
            raise ConfigError(f"ab.{key}", raw[key], "unknown key; allowed: " + ", ".join(KEYS))
    configs = []
    for arm in ("a", "b"):
        if arm not in raw:
            raise ConfigError(arm, None, "required: the config of each arm")
        try:
            cfg = cfgmod.validate(raw[arm])
            cfgmod.steps_per_epoch(cfg)
        except ConfigError as exc:
            raise ConfigError(f"{arm}.{exc.field}", exc.value, exc.allowed) from None
        configs.append(cfg)
    seeds = check_seeds(raw.get("seeds", [0, 1, 2, 3, 4]))
    runs = tuple(Run((arm,), seed, {**cfg, "training": {**cfg["training"], "seed": seed}})
                 for arm, cfg in zip(ARMS, configs) for seed in seeds)
    return Plan(("arm",), (ARMS,), seeds, runs)


def verdict(result: Paired | None, what: str = "final val_loss", seeds: int = 0) -> str:
    """A plain sentence on B − A: its size, its 95 % interval, and whether seed noise explains it."""
    if result is None:
        return (f"Not enough to compare yet: {what} needs at least 2 seeds that finished in both arms"
                + (f" (of {seeds})." if seeds else "."))
    direction = "lower" if result.diff < 0 else "higher"
    size = f"B's {what} is {abs(result.diff):.4g} {direction} than A's"
    interval = f"95 % interval of B − A: {result.low:.4g} to {result.high:.4g}, over {result.n} paired seeds"
    if result.distinguishable:
        return f"{size} ({interval}): larger than the seed-to-seed noise."
    return f"{size} ({interval}): not distinguishable from seed noise with {result.n} seeds."


def compare(values: dict[tuple[str, int], float | None]) -> Paired | None:
    """values: (arm, seed) -> the chosen measure of that run (None: it has none)."""
    a = {seed: v for (arm, seed), v in values.items() if arm == "A"}
    b = {seed: v for (arm, seed), v in values.items() if arm == "B"}
    return paired(a, b)
