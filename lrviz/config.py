"""The experiment config: plain JSON, validated here and nowhere else.

Sections: schedule (required), optimizer (lrviz.optimizers: Adam or schedule-free AdamW),
data, model, training. Every section but
schedule may be left out and takes its defaults; unknown keys are errors. The validated
config is a plain dict in canonical form: the URL, the JSON download, the CLI and the
generated code are all made from it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .data import DATASETS, csv_rows
from . import optimizers
from .params import ConfigError, Param, Section
from .schedules import FAMILIES, check_on_run, check_schedule, family_id, params_of

DATA = Section((
    Param("name", "moons", "choice", "Dataset.", choices=tuple(DATASETS)),  # data.DATASETS declares them
    Param("n_samples", 2000, "int", "Samples to generate (synthetic sets only).", low=20, high=200_000),
    Param("noise", 0.2, "float", "Noise of the synthetic sets.", low=0.0, high=5.0),
    Param("validation_split", 0.2, "float", "Fraction held out for val_loss.", low=0.0, high=0.9),
    Param("seed", 0, "int", "Seed of the generated data and of the split.", low=0, high=2**31 - 1),
    Param("path", None, "text", "CSV file (name: csv): an uploaded file's name, or a path.", optional=True,
          max_len=4096),
    Param("target", None, "text", "CSV column to predict (default: the last).", optional=True,
          max_len=200),
    Param("task", "auto", "choice", "CSV task; auto detects it from the target column.",
          choices=("auto", "classification", "regression")),
))

MODEL = Section((
    Param("hidden_units", [16, 16], "ints", "Units of each hidden Dense layer.", low=1, high=1024,
          max_len=8),
    Param("activation", "relu", "choice", "Activation of the hidden layers.",
          choices=("relu", "tanh", "gelu", "sigmoid", "elu")),
))

TRAINING = Section((
    Param("epochs", 20, "int", "Passes over the training data.", low=1, high=10_000),
    Param("batch_size", 32, "int", "Samples per optimizer step.", low=1, high=65_536),
    Param("seed", 0, "int", "Seed of weights and shuffling: same seed, same curves.", low=0,
          high=2**31 - 1),
))

SECTIONS = {"data": DATA, "model": MODEL, "training": TRAINING}


def validate(raw) -> dict:
    """Check a whole experiment config; return its canonical form or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError("config", raw, "allowed: a JSON object with a 'schedule' section")
    for key in raw:
        if key not in ("schedule", "optimizer", *SECTIONS):
            raise ConfigError(key, raw[key], "unknown section; allowed: schedule, optimizer, " + ", ".join(SECTIONS))
    if "schedule" not in raw:
        raise ConfigError("schedule", None, "required: a schedule section")
    out = {"schedule": check_schedule(raw["schedule"], "schedule")}
    out["optimizer"] = optimizers.check(raw.get("optimizer", {}), "optimizer")
    for name, section in SECTIONS.items():
        out[name] = section.check(raw.get(name, {}), name)
    dataset = DATASETS[out["data"]["name"]]
    if dataset.file and not out["data"]["path"]:
        raise ConfigError("data.path", None, f"required when data.name is {dataset.name!r}: a CSV file")
    if not dataset.file:
        out["data"]["path"] = None  # a file the run does not read must not travel with its config
    family = FAMILIES[family_id(out["schedule"])]
    if family.check_run:  # its params against the data it trains on (a monitored metric)
        family.check_run(params_of(out["schedule"]), out["data"], dataset.task or out["data"]["task"], "schedule")
    _check_length(out)
    return out


MAX_STEPS = 2_000_000  # every step is a stored row; beyond this the store, not the schedule, suffers


def _check_length(cfg: dict) -> None:
    # A CSV's rows are known only once the file is read: steps_per_epoch checks it then.
    if not DATASETS[cfg["data"]["name"]].file:
        steps_per_epoch(cfg)


def default(schedule: dict | None = None) -> dict:
    from .schedules import DEFAULT, make

    return validate({"schedule": schedule or make(DEFAULT)})


def load(path: str | Path) -> dict:
    """Read and validate a JSON config file; every failure is a ConfigError."""
    return validate(read_json(path))


def read_json(path: str | Path, what: str = "config") -> object:
    """A JSON file as plain data (NaN and Infinity as floats, for validation to refuse by name)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} file", str(path), f"cannot be read: {exc.__class__.__name__}") from None
    return parse_json(text, what)


def parse_json(text: str, what: str = "config") -> object:
    try:
        return json.loads(text, parse_constant=lambda c: float(c))
    except (ValueError, RecursionError) as exc:
        raise ConfigError(what, text[:40], f"allowed: valid JSON ({exc})") from None


def loads(text: str) -> dict:
    return validate(parse_json(text))


def train_size(data: dict) -> int:
    """Training rows after the validation split, without loading the data."""
    dataset = DATASETS[data["name"]]
    rows = csv_rows(data["path"]) if dataset.file else dataset.rows or data["n_samples"]
    return rows - int(math.floor(rows * data["validation_split"]))


def data_steps_per_epoch(data: dict, batch_size: int) -> int:
    """Steps per epoch of a validated data section."""
    return batches(train_size(data), batch_size)


def batches(rows: int, batch_size: int) -> int:
    """Optimizer steps per epoch: ceil(training rows / batch size), the last batch partial."""
    return max(1, math.ceil(rows / batch_size))


def steps_per_epoch(cfg: dict) -> int:
    """Optimizer steps per epoch, once the run's length is known: a run of more than MAX_STEPS
    steps, or a schedule that gives a bad rate somewhere in it, is refused here."""
    spe = data_steps_per_epoch(cfg["data"], cfg["training"]["batch_size"])
    epochs = cfg["training"]["epochs"]
    if epochs * spe > MAX_STEPS:
        raise ConfigError("training.epochs", epochs,
                          f"{epochs * spe:,} optimizer steps in all; allowed: at most {MAX_STEPS:,} "
                          "(fewer epochs, or a larger training.batch_size)")
    check_on_run(cfg["schedule"], epochs, spe)
    return spe
