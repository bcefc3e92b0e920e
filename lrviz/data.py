"""Datasets as NumPy arrays: TensorFlow Playground's 2-D sets, a 1-D regression, the tables
scikit-learn ships, and the user's CSV. No TensorFlow here: the server checks CSVs too.

Each dataset is one Dataset in DATASETS; the config's allowed names and row counts, the page's
choices, the monitor rules and the generated script all follow from it. To add one: write its
loader, (data section) -> (X, y), with NumPy and scikit-learn only (the script carries its
source), and declare it there.

The split is the contract of config.train_size: shuffle the rows with data.seed, keep the
last floor(rows · validation_split) for validation.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import math
import os
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

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

    def digest(self) -> str:
        """What tells these data from others: a file of the same name may have changed."""
        h = hashlib.blake2b(f"{self.task} {self.n_classes}".encode())
        for a in (self.X_train, self.y_train, self.X_val, self.y_val):
            h.update(f"{a.dtype} {a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class Dataset:
    """One dataset: all that validation, the page and the generated script need to know of it."""
    name: str
    load: Callable              # data section -> (X, y); a file's -> (X, y, task, n_classes)
    task: str | None            # binary, multiclass or regression; None: the file's target decides
    rows: int | None = None     # a shipped table's rows, known without loading; None: data.n_samples
    standardise: bool = False   # scaled by the training rows' mean and std
    file: bool = False          # reads data.path: its rows are known once the file is checked
    # What the generated script defines to load it, its loader last: functions, whose source it
    # copies, or code. Empty: `load` alone.
    script: tuple = ()


def load(data_cfg: dict) -> Data:
    """The validated data section's dataset, split and ready to train on."""
    ds = DATASETS[data_cfg["name"]]
    X, y, task, k = labelled(ds.load, ds.task, data_cfg)
    return Data(*split(X, y, data_cfg["seed"], data_cfg["validation_split"], ds.standardise), task, k)


# labelled, split and epoch_order are carried verbatim by the generated script (codegen), with the
# dataset's loader: both train on the same arrays in the same order.

def labelled(loader, task, d):
    """(X, y, task, n_classes) from a dataset's loader: a declared task, or the one a file's gives."""
    if task is None:
        return loader(d)
    X, y = loader(d)
    return X, y, task, 0 if task == "regression" else int(y.max()) + 1


def split(X, y, seed, validation_split, standardise):
    """(X_train, y_train, X_val, y_val) as float32: the rows shuffled with `seed`, the last
    floor(rows * validation_split) held out; standardised with the training rows' statistics."""
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = X[order], y[order]
    cut = len(X) - int(math.floor(len(X) * validation_split))
    if standardise:
        mean, std = X[:cut].mean(axis=0), X[:cut].std(axis=0)
        X = (X - mean) / np.where(std > 0, std, 1.0)  # constant columns (digits' borders) stay 0
    return tuple(np.ascontiguousarray(a, dtype=np.float32) for a in (X[:cut], y[:cut], X[cut:], y[cut:]))


def epoch_order(seed, epoch, rows):
    """The order in which epoch `epoch` (from 0) visits the training rows.

    The one definition of the batch order: lrviz's training sets it into its graph loop at each
    epoch's start, and the generated script (codegen) carries this function verbatim, so both feed the
    same batches. Plain NumPy keyed by (seed, epoch): no TensorFlow, no hidden state.
    """
    return np.random.default_rng([seed, epoch]).permutation(rows)


# --- loaders: (data section) -> X, y. Synthetic sets draw from data.seed's stream. -------------

def moons(d):
    from sklearn.datasets import make_moons

    return make_moons(d["n_samples"], noise=d["noise"], random_state=_sk_seed(d))


def circles(d):
    from sklearn.datasets import make_circles

    return make_circles(d["n_samples"], noise=d["noise"], factor=0.5, random_state=_sk_seed(d))


def _sk_seed(d):
    # scikit-learn's generators take an int: the first draw of data.seed's stream.
    return int(np.random.default_rng(d["seed"]).integers(2**31 - 1))


def spirals(d):
    # Two interleaved arms, as in TensorFlow Playground.
    n, rng = d["n_samples"], np.random.default_rng(d["seed"])
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.0 * np.pi
    angle = t + np.pi * y
    X = np.c_[t * np.cos(angle), t * np.sin(angle)] / np.pi
    return X + rng.normal(0.0, d["noise"], X.shape), y


def xor(d):
    rng = np.random.default_rng(d["seed"])
    X = rng.uniform(-1.0, 1.0, (d["n_samples"], 2))
    X += np.sign(X) * 0.05  # Playground's padding keeps points off the axes
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X + rng.normal(0.0, d["noise"], X.shape), y


def blobs(d):
    n, rng = d["n_samples"], np.random.default_rng(d["seed"])
    y = np.arange(n) % 2
    centres = np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, 1.0])
    return centres + rng.normal(0.0, 0.3 + d["noise"], (n, 2)), y


def regression(d):
    rng = np.random.default_rng(d["seed"])
    x = rng.uniform(-3.0, 3.0, (d["n_samples"], 1))
    return x, np.sin(x[:, 0]) + rng.normal(0.0, d["noise"], d["n_samples"])


def sklearn_table(d):
    """A table scikit-learn ships, by the name of its load_ function."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, "load_" + d["name"])()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def plain_csv(d):
    """The user's CSV as the generated script reads it: with the csv module and NumPy only (lrviz
    streams it through pandas, which the script does not import). The table is one lrviz has
    checked, so this checks nothing; the target is decided by lrviz's own _target."""
    with open(d["path"], newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r]
    header, body = rows[0], rows[1:]

    def numbers(j):
        try:
            return np.array([float(r[j]) for r in body])
        except ValueError:
            return None  # a text column: a target's class names, never a feature

    columns = {name: numbers(j) for j, name in enumerate(header)}
    target = d["target"] or header[-1]
    X = np.c_[tuple(v for k, v in columns.items() if k != target and v is not None)]
    is_text = columns[target] is None
    y = np.array([r[header.index(target)] for r in body]) if is_text else columns[target]
    return (X, *_target(y, is_text, d["task"], target))


# What _target needs in the script besides NumPy: its limits, and an error to raise.
_SCRIPT_CSV = f'''
AUTO_CLASSES, MAX_CLASSES = {AUTO_CLASSES!r}, {MAX_CLASSES!r}


class ConfigError(ValueError):
    """A CSV that cannot train, refused as lrviz refuses it."""

    def __init__(self, field, value, allowed):
        super().__init__(f"{{field}} = {{value!r}}: {{allowed}}")
'''


# --- the user's CSV -------------------------------------------------------------------------
#
# A CSV is checked before anything holds its table, stopping at the first problem: its bytes a
# block at a time (size, binary, UTF-8, line length), its header alone (repeated names, column
# count), then its rows a chunk at a time (row count, empty cells, text columns, infinities).
# The server keeps only a Table (rows, header, text columns) per file; the numbers themselves
# are read by load(), in the worker, in a second pass into arrays made once.
#
# Missing values: an empty cell (or a short row) always is one. NaN spellings ("NA", "nan",
# "null", ...) are missing values in a column of numbers, refused naming the cell; in a column
# of text ("US", "NA", "FR": country codes) they are text like the rest.

BLOCK = 2**20           # bytes read at a time by the byte checks
CHUNK_CELLS = 1_000_000  # cells parsed at a time: 8 MB as float64
MISSING = frozenset({"NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "#N/A", "<NA>"})


@dataclass(frozen=True)
class Table:
    """What the server keeps of a checked CSV: its size and header, not one cell."""
    rows: int
    columns: tuple[str, ...]
    text: frozenset[str]    # columns that hold text: a target's class names, never features


def csv_rows(path: str) -> int:
    """Data rows of a CSV (what config.steps_per_epoch needs); a bad CSV raises ConfigError."""
    return csv_table(path).rows


def csv_table(path: str) -> Table:
    """A CSV checked in full, as a Table; a bad CSV raises ConfigError. Errors name the path as
    the config gives it (an upload's bare name), never where the server keeps it."""
    real = uploads.locate(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise ConfigError("data.path", path, f"cannot be read: {exc.strerror or exc}") from None
    return _checked(os.path.realpath(real), st.st_mtime_ns, st.st_size, path)


def check(data_cfg: dict) -> None:
    """Raise the ConfigError load() would for a CSV that cannot train (no such target, one
    class, ...), reading the target column only: what a server can afford before a run."""
    table, target, _ = _layout(data_cfg)
    _, y = _columns(data_cfg["path"], table, [], target)
    _target(y, target in table.text, data_cfg["task"], target)


def _from_csv(data_cfg: dict):
    table, target, features = _layout(data_cfg)
    X, y = _columns(data_cfg["path"], table, features, target)
    y, task, k = _target(y, target in table.text, data_cfg["task"], target)
    return X, y, task, k


def _layout(data_cfg: dict):
    """(table, target column, feature columns) of a validated csv data section."""
    table = csv_table(data_cfg["path"])
    target = data_cfg["target"] or table.columns[-1]
    if target not in table.columns:
        raise ConfigError("data.target", target,
                          "allowed: a column of the CSV: " + ", ".join(table.columns[:20]))
    features = [c for c in table.columns if c != target and c not in table.text]
    if not features:
        raise ConfigError("data.path", data_cfg["path"],
                          f"has no numeric feature column besides the target {target!r}")
    return table, target, features


def _target(values: np.ndarray, is_text: bool, wanted: str, name: str):
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


def _columns(path: str, table: Table, features: list[str], target: str):
    """(features as one float64 array, the target column) of a checked CSV, filled a chunk at a
    time into arrays made once."""
    text = target in table.text
    X = np.empty((table.rows, len(features)))
    y = np.empty(table.rows, dtype=object if text else np.float64)
    types = {**dict.fromkeys(features, np.float64), target: object if text else np.float64}
    done = 0
    with closing(_chunks(uploads.locate(path), table.columns, _refusal(path),
                         usecols=[*features, target], dtype=types)) as chunks:
        for chunk in chunks:
            n = min(len(chunk), table.rows - done)
            X[done:done + n] = chunk[features].to_numpy(np.float64)[:n]
            y[done:done + n] = chunk[target].to_numpy(y.dtype)[:n]
            done += len(chunk)
    if done != table.rows:
        raise _refusal(path)("changed while it was read; allowed: a file that stays as it is")
    return X, y


def _refusal(shown: str):
    return lambda why: ConfigError("data.path", shown, why)


@lru_cache(maxsize=64)  # a Table holds at most a 64 KiB header: 64 of them are a few MB
def _checked(path: str, mtime_ns: int, size: int, shown: str) -> Table:
    bad = _refusal(shown)
    if size == 0:
        raise bad("is empty; allowed: a CSV file with a header row and numeric columns")
    if size > MAX_BYTES:
        raise bad(f"is {size / 2**20:.0f} MiB; allowed: at most {MAX_BYTES // 2**20} MiB")
    try:
        _check_bytes(path, bad)
        return _scan(path, _header(path, bad), bad)
    except OSError as exc:
        raise bad(f"cannot be read: {exc.strerror or exc}") from None


def _check_bytes(path: str, bad) -> None:
    """Binary, not UTF-8, blank, or a line too long for a table of numbers: refused from the
    bytes, a block at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done, line, blank = 0, 0, True  # bytes before this block; bytes of the line running into it
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            if b"\x00" in block:
                raise bad("is a binary file, not CSV text")
            _decode(decoder, block, done, bad)
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            first = line + (ends[0] + 1 if len(ends) else len(block))
            inside = np.diff(ends).max() if len(ends) > 1 else 0
            line = len(block) - ends[-1] - 1 if len(ends) else first
            if max(first, inside, line) > MAX_LINE:
                raise bad(f"has a line of over {MAX_LINE:,} bytes (a huge cell?); allowed: at most {MAX_LINE:,}")
            blank = blank and not block.strip()
            done += len(block)
    _decode(decoder, b"", done, bad, final=True)
    if blank:
        raise bad("is empty; allowed: a CSV file with a header row and numeric columns")


def _decode(decoder, block: bytes, done: int, bad, final: bool = False) -> None:
    held = len(decoder.getstate()[0])  # the end of the last block, waiting for the rest of its character
    try:
        decoder.decode(block, final)
    except UnicodeDecodeError as exc:
        raise bad(f"is not UTF-8 text (byte {done - held + exc.start})") from None


def _header(path: str, bad) -> tuple[str, ...]:
    """The header row, refused at once for a repeated name or too many columns (pandas would
    first rename 30,000 repeats of one name, one by one, for seconds)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            header = next((row for row in csv.reader(f) if row), None)
        except csv.Error as exc:
            raise bad(f"is not a rectangular CSV table ({exc})") from None
    if header is None:
        raise bad("has no header row")
    seen = set()
    for name in header:
        if name in seen:
            raise bad(f"has two columns named {_name(name)}; allowed: a header of distinct names")
        seen.add(name)
    if len(header) > MAX_COLUMNS:
        raise bad(f"has {len(header)} columns; allowed: at most {MAX_COLUMNS}")
    return tuple(header)


def _scan(path: str, columns: tuple[str, ...], bad) -> Table:
    import pandas as pd

    rows, text = 0, set()
    doubts = {}  # column -> (data row, cell) of its first NaN spelling or infinity: refused unless it is text
    with closing(_chunks(path, columns, bad)) as chunks:
        for chunk in chunks:
            if not len(chunk):
                continue  # the header alone
            kinds = {kind: _is_number(kind) for kind in set(chunk.dtypes)}
            numbers = [j for j, kind in enumerate(chunk.dtypes) if kinds[kind]]
            others = [j for j, kind in enumerate(chunk.dtypes) if not kinds[kind]]
            values = (chunk if not others else chunk.iloc[:, numbers]).to_numpy(np.float64)
            if np.isnan(values).any() or chunk.iloc[:, others].isna().to_numpy().any():
                row, col = np.argwhere(chunk.isna().to_numpy())[0]
                raise bad(f"has an empty value in column {_name(columns[col])} at data row {rows + row + 1} "
                          "(an empty cell or a short row); allowed: a full table")
            infinite = np.isinf(values)
            for k in np.flatnonzero(infinite.any(axis=0)):
                row = int(np.argmax(infinite[:, k]))
                doubts.setdefault(columns[numbers[k]], (rows + row + 1, str(chunk.iat[row, numbers[k]])))
            for j in others:
                name, cells = columns[j], chunk.iloc[:, j]
                if name in text:
                    continue
                if pd.api.types.is_bool_dtype(cells.dtype):
                    text.add(name)  # True/False: class names, not numbers
                    continue
                marked = cells.isin(MISSING).to_numpy()
                parsed = pd.to_numeric(cells.where(~marked), errors="coerce").to_numpy(np.float64)
                if (np.isnan(parsed) & ~marked).any():
                    text.add(name)  # other text than NaN spellings: a text column
                else:
                    row = int(np.argmax(marked | ~np.isfinite(parsed)))
                    doubts.setdefault(name, (rows + row + 1, cells.iat[row]))
            rows += len(chunk)
            if rows > MAX_ROWS:
                raise bad(f"has more than {MAX_ROWS:,} rows; allowed: at most {MAX_ROWS:,}")
    if rows < 2:
        raise bad(f"has {rows} data rows; allowed: at least 2")
    for name, (row, cell) in doubts.items():
        if name not in text and cell in MISSING:
            raise bad(f"has a missing value {cell!r} in column {_name(name)} at data row {row}; allowed: a full "
                      "table of numbers (such words are values only in a column of text)")
        if name not in text:
            raise bad(f"has an infinite value {cell!r} in column {_name(name)} at data row {row}; "
                      "allowed: finite numbers")
    return Table(rows, columns, frozenset(text))


def _chunks(path: str, columns: tuple[str, ...], bad, **read):
    """The table's rows, a chunk at a time. The header is given, not guessed: pandas renames
    repeated names one by one. Only an empty cell is missing here ("NA" is a country code)."""
    import pandas as pd

    try:
        # index_col=False: a row one field longer than the header is an error, not an index.
        with pd.read_csv(path, header=0, names=list(columns), index_col=False, encoding="utf-8-sig",
                         keep_default_na=False, na_values=[""], on_bad_lines="error", engine="c",
                         skip_blank_lines=True, chunksize=max(1, CHUNK_CELLS // len(columns)), **read) as reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise bad("has no header row") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise bad(f"is not a rectangular CSV table ({_first_line(exc)})") from None


def _is_number(kind) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind)


def _name(column: str) -> str:
    return repr(column if len(column) <= 40 else column[:40] + "…")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__


# --- the datasets: one declaration each ---------------------------------------------------------

DATASETS = {ds.name: ds for ds in (  # in the order the page offers them
    Dataset("moons", moons, "binary", script=(_sk_seed, moons)),
    Dataset("circles", circles, "binary", script=(_sk_seed, circles)),
    Dataset("spirals", spirals, "binary"),
    Dataset("xor", xor, "binary"),
    Dataset("blobs", blobs, "binary"),
    Dataset("regression", regression, "regression"),
    Dataset("digits", sklearn_table, "multiclass", rows=1797, standardise=True),
    Dataset("breast_cancer", sklearn_table, "binary", rows=569, standardise=True),
    Dataset("wine", sklearn_table, "multiclass", rows=178, standardise=True),
    Dataset("iris", sklearn_table, "multiclass", rows=150, standardise=True),
    Dataset("csv", _from_csv, None, standardise=True, file=True, script=(_SCRIPT_CSV, _target, plain_csv)),
)}


def reads_file(name) -> bool:
    """Whether data.name is a dataset read from the user's file (an unknown name is not)."""
    return name in DATASETS and DATASETS[name].file

