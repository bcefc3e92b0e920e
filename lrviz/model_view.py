"""The model's view: what the network predicts over the input plane (data with two features:
the predicted class probability, as TensorFlow Playground draws it) or along the input line
(one feature: the fitted curve), recorded at every epoch.

NumPy only: the grid and the encoding are shared by the worker that predicts on the grid and
the page that draws the frames.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

SIDE = 64          # a 2-D view is SIDE × SIDE points
LINE = 200         # a 1-D view is LINE points
MARGIN = 0.1       # beyond the data on each side, as a share of its range
MAX_FRAMES = 200   # the epochs an animation shows at most (evenly spaced, the last always)


@dataclass(frozen=True)
class Grid:
    extent: tuple[float, ...]  # (x0, x1) or (x0, x1, y0, y1)
    points: np.ndarray         # [SIDE², 2] row by row from (x0, y0), or [LINE, 1]

    @property
    def axes(self) -> list[np.ndarray]:
        """Each axis's coordinates: [x] or [x, y]."""
        side = LINE if len(self.extent) == 2 else SIDE
        return [np.linspace(lo, hi, side) for lo, hi in zip(self.extent[::2], self.extent[1::2])]


def grid(x: np.ndarray) -> Grid | None:
    """The grid over the inputs x (every row the model sees, training and validation), or None
    when the data has more than two features."""
    if x.ndim != 2 or x.shape[1] not in (1, 2) or not len(x):
        return None
    low, high = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    pad = np.maximum((high - low) * MARGIN, 1e-6)
    extent = tuple(float(v) for pair in zip(low - pad, high + pad) for v in pair)
    axes = Grid(extent, np.empty((0, 1))).axes
    mesh = np.meshgrid(*axes) if len(axes) == 2 else axes
    points = np.column_stack([m.ravel() for m in mesh]).astype(np.float32)
    return Grid(extent, points)


def encode(extent: tuple, values: np.ndarray) -> tuple[str, bytes]:
    """(JSON of the extent and of the array's shape and dtype, the array's raw bytes; never a
    pickle): probabilities in float16 (8 KiB a 2-D epoch), anything else (a regression's
    values) in float32."""
    values = np.asarray(values)
    probabilities = values.size and np.all((values >= 0) & (values <= 1))
    raw = values.astype("<f2" if probabilities else "<f4")
    return json.dumps({"extent": list(extent), "shape": list(raw.shape), "dtype": raw.dtype.str}), raw.tobytes()


def decode(meta: str, blob: bytes) -> tuple[tuple, np.ndarray]:
    head = json.loads(meta)
    values = np.frombuffer(blob, dtype=np.dtype(head["dtype"])).reshape(head["shape"])
    return tuple(head["extent"]), values.astype(np.float64)


def frame_epochs(epochs: list[int], most: int = MAX_FRAMES) -> list[int]:
    """At most `most` of the recorded epochs, evenly spaced, the first and the last kept."""
    if len(epochs) <= most:
        return list(epochs)
    picks = np.unique(np.round(np.linspace(0, len(epochs) - 1, most)).astype(int))
    return [epochs[i] for i in picks]


def figure(store, run_id: int):
    """The run's animated view (figures.view_figure) from the store, or None when it recorded
    none (data of more than two features, or no epoch finished yet)."""
    run = store.run(run_id)
    epochs = store.view_epochs(run_id) if run else []
    if not epochs:
        return None
    from .params import ConfigError

    try:
        return animation(store.views(run_id, frame_epochs(epochs)), run["config"]["data"], len(epochs), run["name"])
    except ConfigError:  # its data cannot be read any more (an uploaded CSV removed)
        return None


def animation(rows: list[tuple], data_section: dict, recorded: int, name: str):
    """figures.view_figure of stored rows ((epoch, extent, bytes) of the epochs shown, of
    `recorded` in all), over the data section's training rows."""
    from . import data as datamod
    from . import figures

    frames = [(epoch, decode(extent, blob)[1]) for epoch, extent, blob in rows]
    extent = decode(rows[-1][1], rows[-1][2])[0]
    data = datamod.load(data_section)
    shown = f" ({len(frames)} of {recorded} epochs)" if len(frames) < recorded else ""
    return figures.view_figure(frames, extent, data.X_train, data.y_train, data.task,
                               f"The model's view, epoch by epoch{shown}: {name}")
