"""Safe by default: the server listens on this machine only, uploads stop where the CSV
checks stop, XSRF protection is on, no code path unpickles or evaluates anything, and user
text (run names, CSV headers) reaches the page as text, never as markup."""
from __future__ import annotations

import ast
import html
import json
import re
import tomllib
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from lrviz import config, data
from lrviz.schedules import make
from lrviz.store import Store
from tests.apptest import as_host, open_panels, open_tab

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("lrviz/**/*.py"), ROOT / "app.py"])
HOSTILE = "<script>alert(1)</script>**bold** [link](javascript:alert(1)) `code` <img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def streamlit_config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def test_the_server_listens_on_this_machine_only(streamlit_config):
    assert streamlit_config["server"]["address"] == "localhost"


def test_the_upload_limit_is_the_csv_limit(streamlit_config):
    # Streamlit counts maxUploadSize in MiB (size * 1024 * 1024 bytes).
    assert streamlit_config["server"]["maxUploadSize"] * 2**20 == data.MAX_BYTES


def test_xsrf_protection_is_on_and_tracebacks_stay_off_the_page(streamlit_config):
    assert streamlit_config["server"]["enableXsrfProtection"] is True
    assert streamlit_config["client"]["showErrorDetails"] == "none"


def _dangerous_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [f"import {n}" for n in names if n.split(".")[0] in ("pickle", "marshal", "shelve", "dill",
                                                                           "cloudpickle", "joblib")]
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("eval", "exec", "compile", "__import__"):
                found.append(f"{f.id}()")
            if isinstance(f, ast.Attribute) and f.attr in ("load", "unsafe_load", "full_load") and \
                    isinstance(f.value, ast.Name) and f.value.id == "yaml":
                found.append(f"yaml.{f.attr}()")
            if isinstance(f, ast.Attribute) and f.attr in ("load", "read_pickle", "system", "popen") and \
                    isinstance(f.value, ast.Name) and f.value.id in ("np", "numpy", "pd", "pandas", "os"):
                found.append(f"{f.value.id}.{f.attr}()")
            found += [f"{ast.unparse(f)}({k.arg}=...)" for k in node.keywords if k.arg in ("allow_pickle", "shell")]
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_unpickles_or_evaluates_anything(path):
    assert _dangerous_calls(ast.parse(path.read_text(), str(path))) == []


def test_the_scan_would_catch_each_forbidden_call():
    bad = "import pickle\neval('1')\nexec('1')\nyaml.load(s)\nnp.load(f, allow_pickle=True)\npd.read_pickle(f)"
    assert len(_dangerous_calls(ast.parse(bad))) == 7  # np.load counts twice: the call and its flag


def rendered(markdown: str) -> str:
    """HTML as a CommonMark + GFM renderer (Streamlit's is react-markdown with remark-gfm) makes it."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


def shows_literally(markdown: str, text: str) -> bool:
    out = rendered(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", out)).strip() == text and "<script" not in out \
        and "<strong>" not in out and "<a " not in out and "<img" not in out and "<code>" not in out


def test_the_renderer_used_here_would_show_unescaped_markup():
    assert not shows_literally(HOSTILE, HOSTILE)


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The app on a fresh store; the engine it starts (one worker) is shut down afterwards."""
    from lrviz.pool import Pool

    made, init = [], Pool.__init__

    def recorded(self, *args, **kw):
        made.append(self)
        init(self, *args, **kw)

    monkeypatch.setattr(Pool, "__init__", recorded)
    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    monkeypatch.setenv("LRVIZ_WORKERS", "1")
    store = Store(tmp_path)
    run = store.create_run("plain", config.validate({"schedule": make("constant")}), 20, 50)
    store.append_steps(run, [(i, 0, 0.001, 1.0 / (i + 1)) for i in range(50)])
    store.set_status(run, "done")
    yield open_panels(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run())
    for engine in made:
        engine.shutdown()


def test_a_hostile_run_name_is_shown_as_text_everywhere(app):
    at = open_tab(as_host(app), "Runs")
    at.selectbox(key="runs.target").set_value(1)
    at.text_input(key="runs.new_name").set_value(HOSTILE).run()
    at.button(key="runs.rename").click().run()
    assert not at.exception
    assert at.dataframe[0].value["name"].tolist() == [HOSTILE]  # a grid cell: text
    at.multiselect(key="runs.pick").set_value([1]).run()
    charts = [c for c in at.get("plotly_chart") if "runs.lr" in c.proto.id]
    name = json.loads(charts[0].proto.spec)["data"][0]["legendgrouptitle"]["text"]
    assert html.unescape(name) == f"{HOSTILE} (#1) · host" and "<" not in name  # Plotly reads < as its own tags
    open_tab(at, "Downloads")
    labels = [b.proto.label for b in at.get("download_button") if b.proto.label.endswith(": per step (CSV)")]
    assert labels and all(shows_literally(label, f"{HOSTILE}: per step (CSV)") for label in labels)


def test_hostile_csv_headers_are_shown_as_text(app):
    at = app
    at.selectbox(key="data.name").set_value("csv").run()
    csv = f"{HOSTILE},label\n1,0\n2,1\n3,0\n".encode()
    at.file_uploader(key="data.upload").set_value(("h.csv", csv, "text/csv")).run()
    assert not at.exception
    captions = [c.value for c in at.caption if "rows; columns:" in c.value]
    expected = f"h.csv: 3 rows; columns: {HOSTILE}, label"
    assert captions and shows_literally(captions[0], expected)
