"""The server imports the pages' heavy lazy imports ahead of need, while no page runs
(lrviz.page.resources.Warmup): a class's first pages and first runs do not wait behind them."""
from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import pytest

from lrviz.page.resources import LAZY_IMPORTS, Warmup
from tests.support import Session, start_server, stop_server, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "sklearn", "pandas")  # what the server may import inside a function


def probe(tmp_path, monkeypatch, name: str) -> str:
    (tmp_path / f"{name}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def wait_imported(name: str, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while name not in sys.modules and time.monotonic() < end:
        time.sleep(0.05)
    return name in sys.modules


def test_the_warmup_imports_nothing_while_pages_keep_running(tmp_path, monkeypatch):
    name = probe(tmp_path, monkeypatch, "lrviz_warm_probe_busy")
    warmup = Warmup((name,), quiet=0.5)
    for _ in range(20):  # a page every 0.1 s for 2 s
        warmup.busy()
        time.sleep(0.1)
        assert name not in sys.modules
    assert wait_imported(name)


def test_the_warmup_imports_each_module_once_the_server_is_quiet(tmp_path, monkeypatch):
    names = (probe(tmp_path, monkeypatch, "lrviz_warm_probe_a"), probe(tmp_path, monkeypatch, "lrviz_warm_probe_b"))
    warmup = Warmup(names, quiet=0.1)
    warmup.thread.join(timeout=30)
    assert not warmup.thread.is_alive() and all(n in sys.modules for n in names)


def test_every_heavy_import_inside_a_function_is_warmed():
    lazy = set()
    for path in (ROOT / "lrviz").rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        lazy |= {a.name for a in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        lazy |= {f"{node.module}.{a.name}" if node.module in HEAVY else node.module
                                 for a in node.names}
    heavy = {m for m in lazy if m.split(".")[0] in HEAVY}
    assert heavy and heavy <= set(LAZY_IMPORTS), sorted(heavy - set(LAZY_IMPORTS))


@pytest.mark.slow
def test_a_real_server_has_them_loaded_once_its_first_page_is_drawn(tmp_path):
    proc, url = start_server(tmp_path)
    try:
        wait_healthy(url, proc)
        Session(url).close()
        end = time.monotonic() + 60
        while not (loaded := _loaded(proc.pid)) and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        stop_server(proc)
    assert loaded, "the server never imported the pages' lazy imports"


def _loaded(pid: int) -> bool:
    """Whether the process has mapped the compiled parts of scipy.signal, sklearn and pandas."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return all(part in maps for part in ("scipy/signal/", "sklearn/", "pandas/_libs/"))
