"""lrviz's TensorFlow kernel (inside_op.cc), compiled on first use against the TensorFlow that
is installed and kept in a cache folder ($LRVIZ_CACHE, else ~/.cache/lrviz), keyed by the
source, TensorFlow's version and the flags: about 2 s once, then a load in milliseconds.
Workers that start together take turns on a lock: the first builds, the others find its file.
A library is loaded only from a folder and a file that this user owns and no one else may
write (any other is built anew): a library runs as code in every worker."""
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
    compiler = shlex.split(os.environ.get("CXX") or "") or ["g++"]
    flags = [*FLAGS, *tf.sysconfig.get_compile_flags()]
    key = hashlib.sha256("\0".join([SOURCE.read_text(), tf.__version__, tf.sysconfig.get_lib(), *compiler,
                                    platform.machine(), *flags]).encode()).hexdigest()[:16]
    folder = _cache()
    target = folder / f"inside_op-{key}.so"
    if _trusted(target):  # a cache that cannot be written still serves what it holds
        return target
    try:
        with open(folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
            if not _trusted(target):
                target.unlink(missing_ok=True)  # another's, or one others could have written: built anew
                _build(compiler, flags, folder, target)
    except OSError as exc:
        raise BuildError(f"lrviz keeps its TensorFlow kernel in {folder}, which cannot be written "
                         f"({exc.strerror}): name a folder this user may write in $LRVIZ_CACHE") from None
    return target


def _build(compiler: list[str], flags: list[str], folder: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp) / target.name
        command = [*compiler, str(SOURCE), "-o", str(out), *flags, *tf.sysconfig.get_link_flags()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise BuildError(f"building {SOURCE.name} took over 600 s: is the machine out of memory?") from None
        except OSError as exc:  # not found, not executable
            raise BuildError(f"lrviz builds a TensorFlow kernel with a C++ compiler, and {compiler[0]!r} cannot "
                             f"run ({exc.strerror}): install one (Debian: apt-get install g++) or name it in $CXX"
                             ) from None
        if done.returncode:
            raise BuildError(f"building {SOURCE.name} failed ({shlex.join(command)}):\n{done.stderr[-3000:]}")
        out.chmod(0o755)  # the linker follows the umask, which may let the group write
        os.replace(out, target)


def _cache() -> Path:
    """$LRVIZ_CACHE, else ~/.cache/lrviz, made if need be, this user's alone."""
    folder = Path(os.environ.get("LRVIZ_CACHE") or Path.home() / ".cache" / "lrviz")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
        if info.st_uid == os.getuid() and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            folder.chmod(0o700)  # ours: what others may have put there is not loaded (_trusted)
    except OSError as exc:
        raise BuildError(f"lrviz keeps its TensorFlow kernel in {folder}, which cannot be made ({exc.strerror}): "
                         "name a folder this user may write in $LRVIZ_CACHE") from None
    if folder.stat().st_uid != os.getuid():
        raise BuildError(f"{folder} belongs to another user, so lrviz will not load its kernel from there: "
                         "name a folder of your own in $LRVIZ_CACHE")
    return folder


def _trusted(path: Path) -> bool:
    """A file of this user's that no one else may write."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
