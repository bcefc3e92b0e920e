"""Downloads: CSV, JSON, standalone HTML, PNG/SVG through kaleido, and the plain-Keras script.

PNG and SVG need a Chrome: kaleido starts one (about 4 s) on the first export and this
module keeps it for the later ones. Without one, image_support() says why and the page
points to the chart's own camera button.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading

import numpy as np

from .codegen import keras_script  # noqa: F401  (exports.keras_script(config) -> str)

CHROME_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_EXPORT_LOCK = threading.Lock()  # kaleido's shared server answers one request at a time


CSV_CHUNK_ROWS = 65_536  # rows formatted at a time: a 10-million-step curve never becomes one string


def write_csv(columns: dict, out, header: bool = True) -> None:
    """Equal-length columns as CSV into a text file: a header, "\n" line ends, floats written
    with repr (exact: they read back bit for bit), missing values (None, NaN) as empty cells.
    The one CSV format of lrviz: the page's downloads and the command line both use it."""
    names = list(columns)
    arrays = [np.asarray(columns[n]) for n in names]
    rows = csv_writer(out)
    if header:
        rows.writerow(names)
    for first in range(0, len(arrays[0]) if arrays else 0, CSV_CHUNK_ROWS):
        rows.writerows(zip(*(_cells(a[first:first + CSV_CHUNK_ROWS]) for a in arrays)))


def csv_writer(out):
    """The csv module's writer (C speed) in lrviz's format: "\n" line ends, floats by repr,
    None as an empty cell, text quoted where it must be."""
    return csv.writer(out, lineterminator="\n")


def _cells(a: np.ndarray) -> list:
    values = a.tolist()
    return [None if v != v else v for v in values] if a.dtype.kind in "fc" else values  # NaN: empty


def csv_text(columns: dict) -> str:
    """The CSV of equal-length columns as text (write_csv's format)."""
    out = io.StringIO()
    write_csv(columns, out)
    return out.getvalue()


def run_csv(store, run_id: int, kind: str, metric: str | None):
    """A run's exact "steps" or "epochs" in write_csv's format, in a temporary file read back from
    the start: the rows go from the store to the disk a chunk at a time, so two million steps are
    never one string in the server (Streamlit still reads the finished file to serve it)."""
    import tempfile

    out = tempfile.TemporaryFile(buffering=0)  # a raw file: Streamlit reads raw and buffered readers only
    text = io.TextIOWrapper(io.BufferedWriter(out), encoding="utf-8", newline="")
    rows = csv_writer(text)
    columns = store.columns_of(kind, run_id)
    names = _metric_names(metric)
    rows.writerow([names.get(c, c) for c in columns])  # the header, as run_columns names them
    for chunk in store.stream(kind, run_id, columns=columns):  # the store's NULL is None: an empty cell
        rows.writerows(chunk)
    text.flush()
    text.detach().detach()  # the writers go, the file stays open
    out.seek(0)
    return out


def curve_columns(step, epoch, lr, extra: dict | None = None) -> dict:
    cols = {"step": np.asarray(step, dtype=np.int64), "epoch": np.asarray(epoch, dtype=np.int64),
            "learning_rate": np.asarray(lr, dtype=np.float64)}
    cols.update(extra or {})
    return cols


def run_columns(rows, kind: str, metric: str | None) -> dict[str, np.ndarray]:
    """A run's metrics as named columns, ready for csv_text and charts.

    rows: a dict of columns (Store.steps / Store.epochs, a RunTrace's arrays) or row tuples in
    store.STEP_COLUMNS / EPOCH_COLUMNS order (what train.run's sink gets); kind: "steps" or
    "epochs"; metric: the run's metric ("accuracy" or "mae"), which names the metric columns
    (metric -> accuracy, val_metric -> val_accuracy); None keeps "metric" and "val_metric".
    Returns {name: array} in the store's column order: step and epoch int64, the others float64
    with NaN where a value is missing (None, or a column the rows do not have); a column that
    only some runs have (store.SOME_RUNS) only where this run has a value in it.
    """
    from .store import EPOCH_COLUMNS, SOME_RUNS, STEP_COLUMNS

    stored = {"steps": STEP_COLUMNS, "epochs": EPOCH_COLUMNS}[kind]
    if not isinstance(rows, dict):
        rows = list(rows)
        rows = {name: [r[i] if i < len(r) else None for r in rows] for i, name in enumerate(stored)}
    length = max((len(v) for v in rows.values()), default=0)
    names = _metric_names(metric)
    out = {name: _column(name, rows.get(name, [None] * length)) for name in stored}
    return {names.get(name, name): a for name, a in out.items() if name not in SOME_RUNS or not np.all(np.isnan(a))}


def _metric_names(metric: str | None) -> dict:
    """metric -> accuracy, val_metric -> val_accuracy, and so on, for a run's metric."""
    if not metric:
        return {}
    return {"metric": metric, "val_metric": f"val_{metric}", "val_metric_at_y": f"val_{metric}_at_y"}


def _column(name: str, values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)  # None becomes NaN
    if name in ("step", "epoch") and np.all(np.isfinite(a)):
        return a.astype(np.int64)
    return a


def config_json(config: dict) -> str:
    """The config as `python -m lrviz train CONFIG.json` and the page's uploader read it."""
    return json.dumps(config, indent=2, sort_keys=False) + "\n"


def html(fig) -> str:
    """A standalone interactive page: plotly.js inlined, works offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def chrome_path() -> str | None:
    """The Chrome kaleido would use, or None."""
    env = os.environ.get("BROWSER_PATH")
    if env and os.path.exists(env):
        return env
    for path in CHROME_CANDIDATES:
        if os.path.exists(path):
            return path
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def image_support() -> str | None:
    """None when PNG/SVG export can work here; otherwise the reason, for the page."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "PNG/SVG export needs the kaleido package."
    if chrome_path() is None:
        return ("PNG/SVG export needs Chrome or Chromium, which this server does not have "
                "(Debian: apt-get install chromium).")
    return None


def image(fig, fmt: str = "png", width: int = 1000, height: int = 500, scale: float = 2.0) -> bytes:
    """PNG or SVG bytes of a figure. The first call starts a browser that later calls reuse."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"format: got {fmt!r}; allowed: 'png' or 'svg'")
    import kaleido

    path = chrome_path()
    if path and not os.environ.get("BROWSER_PATH"):
        os.environ["BROWSER_PATH"] = path  # where choreographer looks first
    spec = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    opts = {"format": fmt, "width": width, "height": height, "scale": scale if fmt == "png" else 1}
    with _EXPORT_LOCK:
        kaleido.start_sync_server(silence_warnings=True)
        data = kaleido.calc_fig_sync(spec, opts=opts)
    return data if isinstance(data, bytes) else bytes(data)
