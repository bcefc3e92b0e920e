"""Sweeps: a grid over one or two fields of the config (by dotted path, or whole schedule
sections) × seeds, checked cell by cell before anything runs. Seed replicates are a sweep
with no grid; a paired A/B is one over two configs (experiments.ab).

    {"base": CONFIG, "grid": {"optimizer.beta_1": [0.9, 0.8], "schedule": [SECTION, SECTION]},
     "seeds": [0, 1, 2]}
"""
from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass

from .. import config as cfgmod
from ..params import ConfigError

MAX_RUNS = 500
MAX_FIELDS = 2
MAX_SEEDS = 10
KEYS = ("base", "grid", "seeds")


@dataclass(frozen=True)
class Run:
    cell: tuple  # the grid's values in the grid's field order
    seed: int
    config: dict


@dataclass(frozen=True)
class Plan:
    fields: tuple[str, ...]
    values: tuple[tuple, ...]  # each field's values, in order
    seeds: tuple[int, ...]
    runs: tuple[Run, ...]      # cell by cell, seeds inside

    @property
    def cells(self) -> list[tuple]:
        return list(itertools.product(*self.values))


def check(raw) -> Plan:
    """Validate a sweep and expand it into its runs; a bad field, value, cell or size raises
    ConfigError naming it (grid.<path>[i], and the cell) before anything runs."""
    if not isinstance(raw, dict):
        raise ConfigError("sweep", raw, "allowed: a JSON object with base, grid and seeds")
    for key in raw:
        if key not in KEYS:
            raise ConfigError(f"sweep.{key}", raw[key], "unknown key; allowed: " + ", ".join(KEYS))
    try:
        base = cfgmod.validate(raw.get("base", {"schedule": _default_schedule()}))
    except ConfigError as exc:
        raise ConfigError(f"base.{exc.field}", exc.value, exc.allowed) from None
    grid = raw.get("grid", {})
    if not isinstance(grid, dict) or len(grid) > MAX_FIELDS:
        raise ConfigError("grid", grid, f"allowed: an object of at most {MAX_FIELDS} fields, each with a list "
                          "of values, e.g. {\"optimizer.beta_1\": [0.9, 0.8]}")
    seeds = check_seeds(raw.get("seeds", [base["training"]["seed"]]))
    fields = tuple(grid)
    for path in fields:
        _check_path(base, path, grid[path])
        if "schedule" in fields and path.startswith("schedule."):
            raise ConfigError(f"grid.{path}", grid[path], "the grid also sweeps whole schedules (grid.schedule), "
                              "which would replace this field; sweep one or the other")
        values = grid[path]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{path}", values, "allowed: a non-empty list of values")
        keys = [label(v) for v in values]
        if len(set(keys)) != len(keys):
            twice = next(v for v, k in zip(values, keys) if keys.count(k) > 1)
            raise ConfigError(f"grid.{path}", twice, "appears twice; allowed: different values")
    count = math.prod(len(grid[f]) for f in fields) * len(seeds)
    if count > MAX_RUNS:
        raise ConfigError("grid", {f: len(grid[f]) for f in fields},
                          f"{count:,} runs ({' × '.join(str(len(grid[f])) for f in fields)} cells × {len(seeds)} "
                          f"seeds); allowed: at most {MAX_RUNS}")
    for path in fields:  # each value alone first, so the message names it, not a cell
        for i, value in enumerate(grid[path]):
            _cell_config(base, {path: value}, f"grid.{path}[{i}]")
    runs = []
    for cell in itertools.product(*(grid[f] for f in fields)):
        where = ", ".join(f"{f} = {_short(v)}" for f, v in zip(fields, cell))
        cfg = _cell_config(base, dict(zip(fields, cell)), f"the cell {where}" if where else "base")
        for seed in seeds:
            runs.append(Run(cell, seed, _with_seed(cfg, seed)))
    return Plan(fields, tuple(tuple(grid[f]) for f in fields), seeds, tuple(runs))


def single(config: dict) -> Plan:
    """One run as a plan (an LR range test's)."""
    seed = config["training"]["seed"]
    return Plan((), (), (seed,), (Run((), seed, config),))


SECTIONS = ("schedule", "optimizer", "training", "model", "data")
NOT_SWEPT = ("training.seed", "data.path")  # seeds are the sweep's own axis; a file is chosen on its own


def fields(cfg: dict) -> list[str]:
    """The paths a sweep can vary in this config: every field of every section (a nested
    schedule's too), seeds and the data file excepted."""
    out = []

    def walk(node, path):
        for key, value in node.items():
            if key in ("kind", "class_name"):
                continue
            where = f"{path}.{key}"
            if isinstance(value, dict):
                walk(value, where)
            elif where not in NOT_SWEPT:
                out.append(where)

    for section in SECTIONS:
        walk(cfg[section], section)
    return out


def check_seeds(seeds) -> tuple[int, ...]:
    if (not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS
            or any(type(s) is not int or not 0 <= s < 2**31 for s in seeds) or len(set(seeds)) != len(seeds)):
        raise ConfigError("seeds", seeds, f"allowed: a list of 1 to {MAX_SEEDS} different integers from 0 to 2**31 - 1")
    return tuple(seeds)


def _default_schedule() -> dict:
    from ..schedules import DEFAULT, make

    return make(DEFAULT)


def _check_path(base: dict, path: str, values) -> None:
    if path == "schedule":
        return
    if path in NOT_SWEPT:
        raise ConfigError(f"grid.{path}", values, "not swept here: " + ("seeds are the sweep's own list (seeds)"
                          if path == "training.seed" else "a sweep trains on one data file"))
    parts = path.split(".") if isinstance(path, str) else []
    node = base
    for part in parts:
        if not isinstance(node, dict) or part not in node or part in ("kind", "class_name"):
            raise ConfigError(f"grid.{path}", values, "not a field of the config; allowed: schedule (whole schedule "
                              "sections) or a dotted path such as " + ", ".join(_examples(base)))
        node = node[part]
    if isinstance(node, dict):
        raise ConfigError(f"grid.{path}", values, "a section, not a field; allowed: one of its fields, e.g. "
                          + ", ".join(_examples(base, path)))


def _examples(base: dict, under: str = "") -> list[str]:
    out = []
    node = base
    for part in filter(None, under.split(".")):
        node = node[part]
    for key, value in node.items():
        if isinstance(value, dict):
            out += [f"{key}.{k}" for k in value if not isinstance(value[k], dict)][:2]
        elif key not in ("kind",):
            out.append(f"{under}.{key}" if under else key)
    return out[:6]


def _cell_config(base: dict, cell: dict, where: str) -> dict:
    raw = copy.deepcopy(base)
    for path, value in cell.items():
        if path == "schedule":
            raw["schedule"] = value
            continue
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        cfg = cfgmod.validate(raw)
        cfgmod.steps_per_epoch(cfg)  # a CSV's length, a formula over the whole run
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.field}", exc.value, exc.allowed) from None
    return cfg


def _with_seed(cfg: dict, seed: int) -> dict:
    return {**cfg, "training": {**cfg["training"], "seed": seed}}


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def tick(value) -> str:
    """A grid value as people read it: a schedule as its family and peak rate, a number short."""
    if isinstance(value, dict):
        from ..schedules import FAMILIES, family_id, params_of

        fam = FAMILIES[family_id(value)]
        p = params_of(value)
        rates = [p[q.name] for q in fam.params if q.is_rate and isinstance(p[q.name], (int, float))]
        return fam.label + (f" (peak {max(rates):.3g})" if rates else "")
    return json.dumps(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)


def where(fields, cell) -> str:
    """A cell as people read it, e.g. 'optimizer.beta_1 = 0.9, schedule = One-cycle (peak 0.005)'."""
    return ", ".join(f"{f} = {tick(v)}" for f, v in zip(fields, cell))


def label(value) -> str:
    """A grid value as a results CSV writes it, and as a key to find it by: numbers and text as
    they are, a schedule section (or a list) as its JSON."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
