"""lrviz's TensorFlow kernel (inside_op.cc), compiled on first use against the TensorFlow that
is installed and kept in a cache folder ($LRVIZ_CACHE, else ~/.cache/lrviz), keyed by the
source, TensorFlow's version and the flags: about 2 s once, then a load in milliseconds.
Workers that start together may build it twice; each writes its own file and renames it into
place, so none loads a half-written one."""
from __future__ import annotations

import hashlib
import os
import platform
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
        _library = tf.load_op_library(str(built()))
    return _library.lrviz_inside


def built() -> Path:
    """The compiled library's path: from the cache, or compiled now."""
    compiler = os.environ.get("CXX", "g++")
    flags = [*FLAGS, *tf.sysconfig.get_compile_flags()]
    key = hashlib.sha256("\0".join([SOURCE.read_text(), tf.__version__, tf.sysconfig.get_lib(), compiler,
                                    platform.machine(), *flags]).encode()).hexdigest()[:16]
    folder = _cache()
    target = folder / f"inside_op-{key}.so"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp) / target.name
        command = [compiler, str(SOURCE), "-o", str(out), *flags, *tf.sysconfig.get_link_flags()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except FileNotFoundError:
            raise BuildError(f"lrviz builds a TensorFlow kernel with a C++ compiler, and {compiler!r} was not found: "
                             "install one (Debian: apt-get install g++) or name it in $CXX") from None
        if done.returncode:
            raise BuildError(f"building {SOURCE.name} failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
        os.replace(out, target)
    return target


def _cache() -> Path:
    """$LRVIZ_CACHE, else ~/.cache/lrviz, made if need be."""
    folder = Path(os.environ.get("LRVIZ_CACHE") or Path.home() / ".cache" / "lrviz")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"lrviz keeps its TensorFlow kernel in {folder}, which cannot be made ({exc.strerror}): "
                         "name a folder this user may write in $LRVIZ_CACHE") from None
    return folder
