"""Datasets as NumPy arrays: TensorFlow Playground's 2-D sets, a 1-D regression, the tables
scikit-learn ships, and the user's CSV. No TensorFlow here: the server checks CSVs too.

The split is the contract of config.train_size: shuffle the rows with data.seed, keep the
last floor(rows · validation_split) for validation.
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import uploads
from .params import ConfigError

MAX_ROWS = 200_000
MAX_COLUMNS = 500
MAX_BYTES = 100 * 2**20
MAX_LINE = 65_536       # a longer line means a huge cell, not a table of numbers
MAX_CLASSES = 100
AUTO_CLASSES = 20       # an integer-like target with at most this many values is a class label


@dataclass(frozen=True)
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    task: str                   # binary, multiclass or regression
    n_classes: int              # 0 for regression
    feature_names: tuple[str, ...]


def load(data_cfg: dict) -> Data:
    """The validated data section's dataset, split and ready to train on."""
    name, seed = data_cfg["name"], data_cfg["seed"]
    if name == "csv":
        X, y, task, k, names = _from_csv(data_cfg)
    elif name in TABLES:
        X, y, names = TABLES[name]()
        k = int(y.max()) + 1
        task = "binary" if k == 2 else "multiclass"
    else:
        rng = np.random.default_rng(seed)
        X, y = SYNTHETIC[name](data_cfg["n_samples"], data_cfg["noise"], rng)
        task, k = ("regression", 0) if name == "regression" else ("binary", 2)
        names = ("x",) if X.shape[1] == 1 else ("x1", "x2")
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = X[order], y[order]
    n_val = int(math.floor(len(X) * data_cfg["validation_split"]))
    cut = len(X) - n_val
    if name in TABLES or name == "csv":
        X = _standardise(X, X[:cut])
    return Data(_f32(X[:cut]), _f32(y[:cut]), _f32(X[cut:]), _f32(y[cut:]), task, k, tuple(names))


def epoch_order(seed, epoch, rows):
    """The order in which epoch `epoch` (from 0) visits the training rows.

    The one definition of the batch order: lrviz's training sets it into its graph loop at each
    epoch's start, and the generated script (codegen) carries this function verbatim, so both feed the
    same batches. Plain NumPy keyed by (seed, epoch): no TensorFlow, no hidden state.
    """
    return np.random.default_rng([seed, epoch]).permutation(rows)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _standardise(X: np.ndarray, train: np.ndarray) -> np.ndarray:
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (X - mean) / np.where(std > 0, std, 1.0)  # constant columns (digits' borders) stay 0


# --- synthetic sets: (n, noise, rng) -> X, y ---------------------------------------------

def _moons(n, noise, rng):
    from sklearn.datasets import make_moons

    return make_moons(n, noise=noise, random_state=_sk_seed(rng))


def _circles(n, noise, rng):
    from sklearn.datasets import make_circles

    return make_circles(n, noise=noise, factor=0.5, random_state=_sk_seed(rng))


def _sk_seed(rng) -> int:
    return int(rng.integers(2**31 - 1))


def _spirals(n, noise, rng):
    # Two interleaved arms, as in TensorFlow Playground.
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.0 * np.pi
    angle = t + np.pi * y
    X = np.c_[t * np.cos(angle), t * np.sin(angle)] / np.pi
    return X + rng.normal(0.0, noise, X.shape), y


def _xor(n, noise, rng):
    X = rng.uniform(-1.0, 1.0, (n, 2))
    X += np.sign(X) * 0.05  # Playground's padding keeps points off the axes
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X + rng.normal(0.0, noise, X.shape), y


def _blobs(n, noise, rng):
    y = np.arange(n) % 2
    centres = np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, 1.0])
    return centres + rng.normal(0.0, 0.3 + noise, (n, 2)), y


def _regression(n, noise, rng):
    x = rng.uniform(-3.0, 3.0, (n, 1))
    return x, np.sin(x[:, 0]) + rng.normal(0.0, noise, n)


SYNTHETIC = {"moons": _moons, "circles": _circles, "spirals": _spirals, "xor": _xor,
             "blobs": _blobs, "regression": _regression}


def _table(loader_name: str):
    def load_table():
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        names = [str(f) for f in getattr(bunch, "feature_names", [])] or \
            [f"x{i}" for i in range(bunch.data.shape[1])]
        return bunch.data.astype(np.float64), bunch.target.astype(np.int64), names

    return load_table


TABLES = {"digits": _table("load_digits"), "breast_cancer": _table("load_breast_cancer"),
          "wine": _table("load_wine"), "iris": _table("load_iris")}


# --- the user's CSV -------------------------------------------------------------------------

def csv_rows(path: str) -> int:
    """Data rows of a CSV (what config.steps_per_epoch needs); a bad CSV raises ConfigError."""
    return len(_read_csv(path)[0])


def _from_csv(data_cfg: dict):
    frame, text_columns = _read_csv(data_cfg["path"])
    target = data_cfg["target"] or frame.columns[-1]
    if target not in frame.columns:
        raise ConfigError("data.target", target,
                          "allowed: a column of the CSV: " + ", ".join(map(str, frame.columns[:20])))
    features = [c for c in frame.columns if c != target and c not in text_columns]
    if not features:
        raise ConfigError("data.path", data_cfg["path"],
                          f"has no numeric feature column besides the target {target!r}")
    X = frame[features].to_numpy(dtype=np.float64)
    y, task, k = _target(frame[target], target in text_columns, data_cfg["task"], target)
    return X, y, task, k, [str(c) for c in features]


def _target(column, is_text: bool, wanted: str, name: str):
    values = column.to_numpy(dtype=object if is_text else np.float64)
    if wanted == "regression" and is_text:
        raise ConfigError("data.target", name, "is text; regression needs a numeric target")
    integer_like = not is_text and bool(np.all(values == np.round(values)))
    labels = np.unique(values)
    classify = wanted == "classification" or (
        wanted == "auto" and (is_text or (integer_like and len(labels) <= AUTO_CLASSES)))
    if not classify:
        return values, "regression", 0
    if len(labels) < 2:
        raise ConfigError("data.target", name, "has one class only; classification needs at least two")
    if len(labels) > MAX_CLASSES:
        raise ConfigError("data.target", name,
                          f"has {len(labels)} distinct values; classification allows at most {MAX_CLASSES}")
    y = np.searchsorted(labels, values)
    return y, ("binary" if len(labels) == 2 else "multiclass"), len(labels)


def _read_csv(path: str):
    """(frame, names of text columns), checked in full before anything uses it. Errors name
    the path as the config gives it (an upload's bare name), never where the server keeps it."""
    real = uploads.locate(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise ConfigError("data.path", path, f"cannot be read: {exc.strerror or exc}") from None
    return _parse_csv(os.path.realpath(real), st.st_mtime_ns, st.st_size, path)


@lru_cache(maxsize=4)
def _parse_csv(path: str, mtime_ns: int, size: int, shown: str):
    import pandas as pd

    def bad(why: str):
        return ConfigError("data.path", shown, why)

    if size == 0:
        raise bad("is empty; allowed: a CSV file with a header row and numeric columns")
    if size > MAX_BYTES:
        raise bad(f"is {size / 2**20:.0f} MiB; allowed: at most {MAX_BYTES // 2**20} MiB")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise bad(f"cannot be read: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise bad("is a binary file, not CSV text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad(f"is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise bad("is empty; allowed: a CSV file with a header row and numeric columns")
    _check_lines(raw, bad)
    try:
        # index_col=False: a row one field longer than the header is an error, not an index.
        frame = pd.read_csv(io.StringIO(text), index_col=False, on_bad_lines="error", engine="c",
                            low_memory=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise bad("has no header row") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise bad(f"is not a rectangular CSV table ({_first_line(exc)})") from None
    if frame.shape[1] > MAX_COLUMNS:
        raise bad(f"has {frame.shape[1]} columns; allowed: at most {MAX_COLUMNS}")
    if len(frame) > MAX_ROWS:
        raise bad(f"has {len(frame)} rows; allowed: at most {MAX_ROWS:,}")
    if len(frame) < 2:
        raise bad(f"has {len(frame)} data rows; allowed: at least 2")
    missing = frame.isna().to_numpy()
    if missing.any():
        row, col = np.argwhere(missing)[0]
        raise bad(f"has an empty, missing or NaN value in column {frame.columns[col]!r} at data row "
                  f"{row + 1} (a short row, an empty cell or NaN); allowed: a full table of numbers")
    text_columns = {c for c in frame.columns if not _is_numeric(frame[c])}
    numeric = frame[[c for c in frame.columns if c not in text_columns]].to_numpy(dtype=np.float64)
    if not np.isfinite(numeric).all():
        raise bad("has an infinite value; allowed: finite numbers")
    return frame, frozenset(text_columns)


def _is_numeric(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)


def _check_lines(raw: bytes, bad) -> None:
    codes = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(codes == 10)
    lengths = np.diff(np.r_[-1, ends, len(codes)])
    if lengths.max() > MAX_LINE:
        raise bad(f"has a line of {lengths.max():,} bytes (a huge cell?); allowed: at most {MAX_LINE:,}")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
