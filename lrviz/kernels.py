"""lrviz's TensorFlow kernel (inside_op.cc), compiled on first use against the TensorFlow that
is installed and kept in a cache folder ($LRVIZ_CACHE, else ~/.cache/lrviz), keyed by the
source, TensorFlow's version and the flags: about 2 s once, then a load in milliseconds.
Workers that start together take turns on a lock: the first builds, the others find its file.
A library is loaded only from a folder and a file that this user owns and no one else may
write: a library runs as code in every worker."""
from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shlex
import stat
import subprocess
import tempfile
from pathlib import Path

import tensorflow as tf

SOURCE = Path(__file__).with_name("inside_op.cc")
FLAGS = ["-shared", "-fPIC", "-O3", "-fopenmp-simd", "-Wno-deprecated-declarations"]
_library = None


class BuildError(RuntimeError):
    pass


def inside_op():
    """The LrvizInside op (lrviz.inside), built if need be."""
    global _library
    if _library is None:
        path = built()
        try:
            _library = tf.load_op_library(str(path))
        except tf.errors.NotFoundError as exc:  # a damaged file, or one built for another system
            raise BuildError(f"{path} does not load ({exc.message.strip()}): delete it, and lrviz builds it "
                             "again") from None
    return _library.lrviz_inside


def built() -> Path:
    """The compiled library's path: from the cache, or compiled now."""
    compiler = shlex.split(os.environ.get("CXX") or "g++")
    flags = [*FLAGS, *tf.sysconfig.get_compile_flags()]
    key = hashlib.sha256("\0".join([SOURCE.read_text(), tf.__version__, tf.sysconfig.get_lib(), *compiler,
                                    platform.machine(), *flags]).encode()).hexdigest()[:16]
    folder = _cache()
    target = folder / f"inside_op-{key}.so"
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        if not target.exists():
            _build(compiler, flags, folder, target)
    _own(target)
    return target


def _build(compiler: list[str], flags: list[str], folder: Path, target: Path) -> None:
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            out = Path(tmp) / target.name
            command = [*compiler, str(SOURCE), "-o", str(out), *flags, *tf.sysconfig.get_link_flags()]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode:
                raise BuildError(f"building {SOURCE.name} failed ({shlex.join(command)}):\n{done.stderr[-3000:]}")
            os.replace(out, target)
    except subprocess.TimeoutExpired:
        raise BuildError(f"building {SOURCE.name} took over 600 s: is the machine out of memory?") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == compiler[0]:
            raise BuildError(f"lrviz builds a TensorFlow kernel with a C++ compiler, and {compiler[0]!r} was not "
                             "found: install one (Debian: apt-get install g++) or name it in $CXX") from None
        raise BuildError(f"lrviz keeps its TensorFlow kernel in {folder}, which cannot be written "
                         f"({exc.strerror}): name a folder this user may write in $LRVIZ_CACHE") from None


def _cache() -> Path:
    """$LRVIZ_CACHE, else ~/.cache/lrviz, made if need be, this user's alone."""
    folder = Path(os.environ.get("LRVIZ_CACHE") or Path.home() / ".cache" / "lrviz")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"lrviz keeps its TensorFlow kernel in {folder}, which cannot be made ({exc.strerror}): "
                         "name a folder this user may write in $LRVIZ_CACHE") from None
    _own(folder)
    return folder


def _own(path: Path) -> None:
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BuildError(f"{path} belongs to another user or others may write it, so lrviz will not load its "
                         "kernel from there: name a folder of your own in $LRVIZ_CACHE")
