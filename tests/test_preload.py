"""The server preloads the pages' heavy lazy imports while no page runs
(lrviz.page.resources.Preload): a class's pages and live views do not wait behind them."""
from __future__ import annotations

import ast
import importlib.util
import sys
import threading
import time
from pathlib import Path

import pytest

from lrviz.page.resources import LAZY_IMPORTS, Preload
from tests.support import Session, start_server, stop_server, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "sklearn", "pandas")  # packages whose import takes the server's GIL for 0.3 s or more


def probe(tmp_path, monkeypatch, name: str) -> str:
    """The name of a new, empty module that only this test imports."""
    (tmp_path / f"{name}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def imported(name: str, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while name not in sys.modules and time.monotonic() < end:
        time.sleep(0.05)
    return name in sys.modules


def test_nothing_is_preloaded_while_a_page_runs(tmp_path, monkeypatch):
    name = probe(tmp_path, monkeypatch, "lrviz_preload_probe_long")
    preload = Preload((name,), quiet=0.2)
    with preload.page():
        time.sleep(2.0)  # ten times the quiet time
        assert name not in sys.modules
    assert imported(name)


def test_nothing_is_preloaded_while_pages_follow_each_other_closely(tmp_path, monkeypatch):
    name = probe(tmp_path, monkeypatch, "lrviz_preload_probe_busy")
    preload = Preload((name,), quiet=1.0)
    for _ in range(20):  # a short page every 0.1 s for 2 s
        with preload.page():
            pass
        time.sleep(0.1)
        assert name not in sys.modules
    assert imported(name)


def test_with_no_page_every_module_is_preloaded(tmp_path, monkeypatch):
    names = tuple(probe(tmp_path, monkeypatch, f"lrviz_preload_probe_{n}") for n in "ab")
    preload = Preload(names, quiet=0.1)
    preload.thread.join(timeout=30)
    assert not preload.thread.is_alive() and all(n in sys.modules for n in names)


def test_a_module_that_is_not_installed_is_skipped_quietly(tmp_path, monkeypatch):
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    name = probe(tmp_path, monkeypatch, "lrviz_preload_probe_after")
    preload = Preload(("lrviz_no_such_module", name), quiet=0.1)
    preload.thread.join(timeout=30)
    assert name in sys.modules and not failures


def lazy_imports() -> set[str]:
    """The modules lrviz imports inside a function: `from a import b` imports a.b when that is a module."""
    found = set()
    for path in (ROOT / "lrviz").rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        found |= {a.name for a in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        found |= {_imported(node.module, a.name) for a in node.names}
    return found


def _imported(parent: str, name: str) -> str:
    try:
        return f"{parent}.{name}" if importlib.util.find_spec(f"{parent}.{name}") else parent
    except ModuleNotFoundError:  # parent is a module, not a package
        return parent


def test_every_lazy_import_of_scipy_sklearn_or_pandas_is_preloaded():
    heavy = {m for m in lazy_imports() if m.split(".")[0] in HEAVY}
    assert heavy and heavy <= set(LAZY_IMPORTS), sorted(heavy - set(LAZY_IMPORTS))


@pytest.mark.slow
def test_a_real_server_has_them_loaded_soon_after_its_first_page(tmp_path):
    proc, url = start_server(tmp_path)
    try:
        wait_healthy(url, proc)
        Session(url).close()
        end = time.monotonic() + 60
        while not (loaded := _loaded(proc.pid)) and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        stop_server(proc)
    assert loaded, "the server never preloaded the pages' lazy imports"
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def _loaded(pid: int) -> bool:
    """Whether the process has mapped the compiled parts of scipy.signal, sklearn and pandas."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return all(part in maps for part in ("scipy/signal/", "sklearn/", "pandas/_libs/"))
