"""CSV files uploaded to the server, and the path policy around them.

An upload is saved under <home>/uploads as `<its name>-<content hash>.csv`, and a config names
it by that file name alone: the share URL, the JSON download and the script then carry no
server path, and the same file always gets the same name. Whoever reads the data (the page,
a worker, the CLI) turns a bare name back into a path with locate().
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from .store import default_home

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def folder(home: str | Path | None = None) -> Path:
    return Path(home or default_home()) / "uploads"


def file_name(original: str, data: bytes) -> str:
    """`<original stem>-<12 hex of SHA-256>.csv`, in characters that are safe everywhere."""
    stem = original[:-4] if original.lower().endswith(".csv") else original
    stem = _UNSAFE.sub("_", stem).strip("._")[:40] or "upload"
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}.csv"


def save(original: str, data: bytes, home: str | Path | None = None) -> str:
    """Store an upload (once per content) and return the name a config uses for it."""
    name = file_name(original, data)
    path = folder(home) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != len(data):
        # Written aside, then renamed: a crash or a second upload never leaves half a file
        # under a name that promises this content.
        part = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.part")
        part.write_bytes(data)
        os.replace(part, path)
    return name


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


def portable(cfg: dict, home: str | Path | None = None) -> dict:
    """A config whose data.path is an upload's absolute path (runs stored before uploads were
    named by file) with that path replaced by the upload's name; any other config as it is."""
    path = cfg.get("data", {}).get("path")
    if not path or is_bare(path):
        return cfg
    name = trusted(path, home)
    return {**cfg, "data": {**cfg["data"], "path": name}} if name else cfg
