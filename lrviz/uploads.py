"""CSV files uploaded to the server, and the path policy around them.

An upload is saved under <home>/uploads as `<its name>-<content hash>.csv`, and a config names
it by that file name alone: the share URL, the JSON download and the script then carry no
server path, and the same file always gets the same name. Whoever reads the data (the page,
a worker, the CLI) turns a bare name back into a path with locate().

What stays on disk: a refused upload is deleted at once (discard). The folder holds at most
MAX_FOLDER_BYTES: a save that takes it over deletes the least recently used uploads first
(used: saved, or uploaded again; the file's mtime) until it fits again. Never deleted: a file
that a queued or running run names (its worker reads it, or will), one an exercise link
trains on, and the file just saved. A
deleted upload is gone for stored runs and links that name it: their page says the file
cannot be read, and uploading it again brings it back under the same name.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import threading
import time
from pathlib import Path
from typing import BinaryIO

from .params import ConfigError
from .store import Store, StoreError, default_home

MAX_FOLDER_BYTES = 2**30  # ten uploads of the largest size Streamlit lets through (100 MiB)
PIECE = 2**20  # bytes read from an upload at a time

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def folder(home: str | Path | None = None) -> Path:
    return Path(home or default_home()) / "uploads"


def file_name(original: str, data: bytes | BinaryIO) -> str:
    """`<original stem>-<12 hex of SHA-256>.csv`, in characters that are safe everywhere."""
    return _named(original, _digest(data)[0])


def _named(original: str, digest: str) -> str:
    stem = original[:-4] if original.lower().endswith(".csv") else original
    stem = _UNSAFE.sub("_", stem).strip("._")[:40] or "upload"
    return f"{stem}-{digest[:12]}.csv"


def _digest(data: bytes | BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for piece in _pieces(data):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


def _pieces(data: bytes | BinaryIO):
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    stream.seek(0)
    while piece := stream.read(PIECE):
        yield piece


def save(original: str, data: bytes | BinaryIO, home: str | Path | None = None) -> str:
    """Store an upload (once per content; read in pieces, never copied whole) and return the
    name a config uses for it. Old uploads may go to make room: see the module's docstring."""
    digest, size = _digest(data)
    name = _named(original, digest)
    path = folder(home) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != size:
        # Written aside, then renamed: a crash or a second upload never leaves half a file
        # under a name that promises this content.
        part = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.part")
        with open(part, "wb") as f:
            for piece in _pieces(data):
                f.write(piece)
        os.replace(part, path)
    else:
        os.utime(path)  # uploaded again: used now
    tidy(home, keep=name)
    return name


def discard(name: str, home: str | Path | None = None) -> None:
    """Delete a refused upload at once, unless a queued or running run names it."""
    busy = in_use(home)
    if busy is not None and name not in busy and is_bare(name):
        (folder(home) / name).unlink(missing_ok=True)


def tidy(home: str | Path | None = None, keep: str = "") -> None:
    """Delete the least recently used uploads while the folder holds more than MAX_FOLDER_BYTES,
    never `keep` nor a file that a queued or running run names; and what a crash left half
    written an hour ago."""
    files = []
    for entry in os.scandir(folder(home)):
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue  # another session's tidy took it
        if entry.name.endswith(".part") and st.st_mtime < time.time() - 3600:
            Path(entry.path).unlink(missing_ok=True)
        elif entry.name.endswith(".csv"):
            files.append((st.st_mtime, st.st_size, entry.name))
    total = sum(size for _, size, _ in files)
    busy = in_use(home) if total > MAX_FOLDER_BYTES else set()
    if busy is None:
        return  # the store cannot say which files runs read: delete none
    for _, size, name in sorted(files):
        if total <= MAX_FOLDER_BYTES:
            break
        if name != keep and name not in busy:
            (folder(home) / name).unlink(missing_ok=True)
            total -= size


def in_use(home: str | Path | None = None) -> set[str] | None:
    """Names of the uploads that queued or running runs read, and those an exercise link trains
    on; None when the store cannot say."""
    try:
        store = Store(home)
        try:
            runs, exercises = store.runs(), store.exercise_files()
        finally:
            store.close()
    except StoreError:
        return None
    paths = [r["config"].get("data", {}).get("path") for r in runs if r["status"] in ("queued", "running")]
    return {Path(p).name for p in [*paths, *exercises] if p}  # runs stored before names were bare: absolute paths


def is_bare(path: str) -> bool:
    return bool(path) and Path(path).name == path and path not in (".", "..")


def locate(path: str, home: str | Path | None = None) -> str:
    """The file a config's data.path means: a bare name is an upload when one by that name
    exists; anything else is a path as its writer meant it (relative to the working folder)."""
    if is_bare(path):
        uploaded = folder(home) / path
        if uploaded.is_file():
            return str(uploaded)
    return path


def trusted(path: str | None, home: str | Path | None = None) -> str | None:
    """The upload name a config from outside (a link, an uploaded JSON) may use, or None.

    Only files uploaded to this server can be named: any other path would let a link read the
    server's files. A link made before names were bare carries the upload's absolute path:
    it still works when that file is in this server's uploads folder.
    """
    if not path:
        return None
    uploads = folder(home).resolve()
    name = path if is_bare(path) else Path(path).name
    if not is_bare(path) and Path(path).resolve().parent != uploads:
        return None
    return name if (uploads / name).is_file() else None


def check_granted(store, visitor: str, path: str | None) -> None:
    """ConfigError unless the visitor uploaded this CSV (or opened an exercise that trains on
    it): on a shared instance, nobody reads another visitor's file, not even its column names."""
    if not (path and is_bare(path) and store is not None and store.granted(visitor, path)):
        raise ConfigError("data.path", path, "not a CSV file you uploaded to this server: upload it in the Data panel")


def portable(cfg: dict, home: str | Path | None = None) -> dict:
    """A config whose data.path is an upload's absolute path (runs stored before uploads were
    named by file) with that path replaced by the upload's name; any other config as it is."""
    path = cfg.get("data", {}).get("path")
    if not path or is_bare(path):
        return cfg
    name = trusted(path, home)
    return {**cfg, "data": {**cfg["data"], "path": name}} if name else cfg
