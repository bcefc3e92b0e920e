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


def csv_text(columns: dict) -> str:
    """CSV of equal-length columns; floats written with repr, so downloads are exact."""
    names = list(columns)
    arrays = [np.asarray(columns[n]) for n in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    cols = [a.tolist() for a in arrays]
    writer.writerows(zip(*cols))
    return out.getvalue()


def curve_csv(step, epoch, lr, extra: dict | None = None) -> str:
    """`step,epoch,learning_rate` (the CLI's format), plus any extra per-step columns."""
    cols = {"step": np.asarray(step, dtype=np.int64), "epoch": np.asarray(epoch, dtype=np.int64),
            "learning_rate": np.asarray(lr, dtype=np.float64)}
    cols.update(extra or {})
    return csv_text(cols)


def rows_csv(rows: dict, order: tuple) -> str:
    """Per-step or per-epoch run rows (column arrays); integer columns stay integers."""
    cols = {}
    for name in order:
        if name in rows:
            a = np.asarray(rows[name], dtype=np.float64)
            ints = name in ("step", "epoch") and np.all(np.isfinite(a))
            cols[name] = a.astype(np.int64) if ints else a
    return csv_text(cols)


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


def stop_image_server() -> None:
    try:
        import kaleido

        with _EXPORT_LOCK:
            kaleido.stop_sync_server(silence_warnings=True)
    except ImportError:
        pass
