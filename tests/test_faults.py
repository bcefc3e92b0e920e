"""Faults forced for real: a worker killed under a live page, the server killed mid-run and
started again, a store folder that is read-only or full, a run that diverges.

Pages are real `streamlit run app.py` servers driven over Streamlit's websocket (the Session
of tests/e2e/conftest.py), except the store-folder cases, which AppTest covers in-process.
tests/test_engine.py already covers the engine alone (a killed worker, restart recovery)."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lrviz import config, urlstate, visitors
from lrviz.params import ConfigError
from lrviz.schedules import make
from lrviz.store import Store, StoreError
from tests.apptest import as_host, open_panels, open_tab
from tests.support import Session, lrviz_processes, lrviz_workers, start_server, stop_server, wait_healthy

pytestmark = pytest.mark.timeout(300)
APP = str(Path(__file__).resolve().parents[1] / "app.py")
ONE_WORKER = {"LRVIZ_WORKERS": "1"}


def cfg(epochs: int, **sections) -> dict:
    return config.validate({"schedule": make("constant", learning_rate=0.01), "training": {"epochs": epochs},
                            "data": {"n_samples": 200, **sections.pop("data", {})}, **sections})


LONG, SHORT = "cfg=" + urlstate.encode(cfg(10_000))["cfg"], "cfg=" + urlstate.encode(cfg(2))["cfg"]


def wait_until(predicate, seconds: float = 60.0):
    end = time.monotonic() + seconds
    while not (value := predicate()):
        if time.monotonic() > end:
            return value
        time.sleep(0.05)
    return value


def plain(text: str) -> str:
    return text.replace("\\", "")  # the page escapes Markdown in user and error text


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as r:
        return r.read() == b"ok"


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc, url = start_server(home, env=ONE_WORKER)
    wait_healthy(url, proc)
    served = {"proc": proc, "url": url, "home": home}
    yield served
    stop_server(served["proc"])  # the restarted one, where a test restarted it


# --- (a) a worker killed mid-run ----------------------------------------------------------------

def test_a_killed_worker_fails_its_run_while_the_page_and_other_runs_go_on(server):
    url, store = server["url"], Store(server["home"])
    victim_page, other_page = Session(url, LONG), Session(url, SHORT)
    victim_page.open_tab("Train")
    other_page.open_tab("Train")
    victim_page.press("train.start")
    victim = store.runs()[-1]["id"]
    assert wait_until(lambda: len(store.steps(victim)["step"]) >= 20)
    other_page.press("train.start")  # submitted before the kill: queued behind it (one worker)
    (worker,) = lrviz_workers(server["home"])
    os.kill(worker, signal.SIGKILL)
    assert "Failed: worker process died (signal 9)" in plain(victim_page.wait_for("Failed"))
    assert healthy(url)
    other_page.wait_for("Done in")
    other_page.press("train.start")  # submitted after the kill
    other_page.wait_for("Done in")
    runs = store.runs()
    assert [r["status"] for r in runs] == ["failed", "done", "done"]
    assert runs[0]["error"] == "worker process died (signal 9)" and len(store.steps(victim)["step"]) >= 20
    assert lrviz_workers(server["home"]) and worker not in lrviz_workers(server["home"])
    assert not victim_page.exceptions and not other_page.exceptions


def test_a_run_queued_while_the_worker_starts_is_never_shown_interrupted(server):
    # Bug: each spawned worker runs app.py again (Streamlit makes the page script __main__,
    # and spawn re-imports __main__ in the child), which builds an Engine there whose
    # Store.recover() marks every queued or running run of the live server 'interrupted'.
    seen, stop = [], threading.Event()

    def record():
        store = Store(server["home"])
        while not stop.is_set():
            for r in store.runs():
                if not seen or seen[-1] != r["status"]:
                    seen.append(r["status"])
            time.sleep(0.01)

    page = Session(server["url"], SHORT)  # the first page starts the engine and its worker
    page.open_tab("Train")
    watcher = threading.Thread(target=record)
    watcher.start()
    page.press("train.start")  # the worker is still loading TensorFlow: the run waits
    page.wait_for("Done in")
    stop.set()
    watcher.join()
    assert seen == ["queued", "running", "done"]


# --- (b) the server stopped mid-run and started again --------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_restart_keeps_every_run_and_its_metrics_and_leaves_no_process(server, sig):
    home, store = server["home"], Store(server["home"])
    short_page, long_page = Session(server["url"], SHORT), Session(server["url"], LONG)
    short_page.open_tab("Train")
    long_page.open_tab("Train")
    short_page.press("train.start")
    short_page.wait_for("Done in")
    long_page.press("train.start")
    finished, unfinished = (r["id"] for r in store.runs())
    assert wait_until(lambda: len(store.steps(unfinished)["step"]) >= 50)
    assert lrviz_workers(home) and server["proc"].pid in lrviz_processes(home)
    short_page.close()
    long_page.close()
    os.kill(server["proc"].pid, sig)
    server["proc"].wait(timeout=30)
    wait_until(lambda: not lrviz_processes(home), 10)  # workers notice within 0.5 s
    assert lrviz_processes(home) == []
    assert "Traceback" not in (home / "server.log").read_text()
    kept = store.steps(unfinished), store.epochs(unfinished)

    server["proc"], server["url"] = start_server(home, env=ONE_WORKER)
    wait_healthy(server["url"], server["proc"])
    page = Session(server["url"])  # its first run starts the engine, which recovers the store
    runs = {r["id"]: r for r in store.runs()}
    assert runs[finished]["status"] == "done" and len(store.steps(finished)["step"]) == 10
    assert runs[unfinished]["status"] == "interrupted" and "the app" in runs[unfinished]["error"]
    assert (store.steps(unfinished), store.epochs(unfinished)) == kept
    page.open_tab("Runs")
    page.set("runs.whose", "string_array_value", ["Everyone's"])  # runs the command line made: the host's
    table = page.frames[0].set_index("id")["status"]
    assert table.to_dict() == {finished: "done", unfinished: "interrupted"}


def test_the_first_page_after_a_crash_shows_the_left_run_interrupted(tmp_path):
    # Bug: the runs table was drawn before the engine started (and recovered the store), so
    # the first page after a crash listed a run that nothing trains as 'running'.
    home = tmp_path / "home"
    home.mkdir()
    left = Store(home).create_run("left running", cfg(20), 20, 5)
    Store(home).set_status(left, "running")
    proc, url = start_server(home, env=ONE_WORKER)
    try:
        wait_healthy(url, proc)
        page = Session(url)
        page.open_tab("Runs")
        page.set("runs.whose", "string_array_value", ["Everyone's"])
        assert page.frames[0].set_index("id")["status"].to_dict() == {left: "interrupted"}
    finally:
        stop_server(proc)


# --- (c) a store folder that is read-only or full ------------------------------------------------

def _mount(*args: str) -> bool:
    return os.geteuid() == 0 and subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def read_only_home(tmp_path):
    """An empty store folder on a read-only bind mount. chmod 0o555 proves nothing here: the
    tests run as root, and root writes through permission bits. Without mount rights: a folder
    that nobody can create, under /proc."""
    home = tmp_path / "ro"
    home.mkdir()
    if not _mount("--bind", "-o", "ro", str(home), str(home)):
        yield Path("/proc/lrviz-home")
        return
    yield home
    subprocess.run(["umount", "-l", str(home)], check=True)


class Disk:
    """A store folder on a 4 MiB tmpfs that fill() fills up: the kernel's own ENOSPC, which
    SQLite reports as SQLITE_FULL. Without mount rights these tests skip; test_store.py
    covers an injected SQLITE_FULL at the Store level."""

    def __init__(self, home: Path):
        self.home = home
        if not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(home)):
            pytest.skip("a real full disk needs mount rights (root with CAP_SYS_ADMIN)")

    def fill(self) -> None:
        try:
            with open(self.home / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError:
            pass  # no space left on device

    def free(self) -> None:
        (self.home / "filler").unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path):
    home = tmp_path / "small"
    home.mkdir()
    yield Disk(home)
    subprocess.run(["umount", "-l", str(home)], check=True)


def page_at(home: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("LRVIZ_HOME", str(home))
    return open_panels(AppTest.from_file(APP, default_timeout=60).run())


def errors(at: AppTest) -> str:
    return plain(" ".join(e.value for e in at.error))


def assert_preview_works(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert any("preview.chart" in c.proto.id for c in at.get("plotly_chart"))


def test_a_read_only_store_folder_is_named_on_the_page_while_the_preview_works(read_only_home, monkeypatch):
    with pytest.raises(StoreError) as err:
        Store(read_only_home)
    assert err.value.field == "LRVIZ_HOME"
    at = page_at(read_only_home, monkeypatch)
    for _ in range(3):  # every rerun says it again; nothing loops or crashes
        assert "The run store could not be opened** — LRVIZ_HOME" in errors(at)
        assert str(read_only_home) in errors(at)
        assert_preview_works(at)
        at.number_input(key="training.epochs").increment().run()
    open_tab(at, "Train")
    assert at.button(key="train.start").disabled
    assert "The run store could not be opened** — LRVIZ_HOME" in errors(at)


def test_a_csv_uploaded_to_a_read_only_store_folder_is_refused_not_a_crash(read_only_home, monkeypatch):
    # Bug: app.csv_upload calls ui.save_upload (mkdir HOME/uploads) outside any guard.
    at = page_at(read_only_home, monkeypatch)
    at.selectbox(key="data.name").set_value("csv").run()
    at.file_uploader(key="data.upload").set_value(("d.csv", b"a,b\n1,0\n2,1\n", "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "LRVIZ_HOME" in errors(at) or "data.path" in errors(at)


def test_a_full_disk_is_named_on_the_page_while_the_preview_works(disk, monkeypatch):
    disk.fill()
    with pytest.raises(StoreError, match="full"):
        Store(disk.home)
    at = page_at(disk.home, monkeypatch)
    assert "The run store could not be opened** — LRVIZ_HOME: the run store is full" in errors(at)
    assert_preview_works(at)
    at.run()
    assert_preview_works(at)


def test_a_disk_that_fills_up_refuses_writes_keeps_reads_and_recovers_when_freed(disk):
    store = Store(disk.home)
    run = store.create_run("before", cfg(2), 2, 5)
    store.append_steps(run, [(i, 0, 0.01, 1.0) for i in range(10)])
    disk.fill()
    with pytest.raises(StoreError, match="full"):
        store.append_steps(run, [(i, i // 100, 0.01, 1.0) for i in range(10, 5000)])
    with pytest.raises(StoreError, match="full"):
        store.create_run("after", cfg(2), 2, 5)
    assert [r["name"] for r in store.runs()] == ["before"] and len(store.steps(run)["step"]) == 10
    disk.free()
    store.append_steps(run, [(i, i // 100, 0.01, 1.0) for i in range(10, 5000)])
    assert len(store.steps(run)["step"]) == 5000


def test_a_page_on_a_disk_that_filled_up_shows_its_runs_and_names_the_full_disk(disk, monkeypatch):
    Store(disk.home).create_run("kept", cfg(2), 2, 5)
    disk.fill()
    at = page_at(disk.home, monkeypatch)
    assert_preview_works(at)
    open_tab(at, "Train")
    assert "The training engine could not start** — LRVIZ_HOME: the run store is full" in errors(at)
    open_tab(as_host(at), "Runs")  # a run made outside the page: the host's
    assert at.dataframe[0].value["name"].tolist() == ["kept"]
    at.selectbox(key="runs.target").set_value(1)
    at.text_input(key="runs.new_name").set_value("renamed").run()
    at.button(key="runs.rename").click().run()
    assert "The store refused** — LRVIZ_HOME: the run store is full" in errors(at)
    open_tab(at, "Preview")
    assert_preview_works(at)


# --- (d) a run that diverges, and a CSV that cannot train, through the engine ---------------------

@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from lrviz.pool import Pool

    eng = Pool(tmp_path_factory.mktemp("faults-engine"), max_workers=1)
    eng.wait_ready()
    yield eng
    eng.shutdown()


def finished(engine, run_id):
    assert wait_until(lambda: engine.progress(run_id).status not in ("queued", "running"), 120)
    return engine.progress(run_id)


def test_a_diverging_run_ends_diverged_at_its_first_non_finite_step_keeping_the_steps_before(engine):
    run = engine.submit(cfg(20, data={"name": "regression"}, model={"hidden_units": [32] * 8},
                            schedule=make("constant", learning_rate=10.0)))
    p = finished(engine, run)
    steps, epochs = engine.store.steps(run), engine.store.epochs(run)
    n = len(steps["step"])
    assert p.status == "diverged" and p.error.startswith("loss became")
    assert f"at step {n} (epoch {n // 5})" in p.error  # 160 training rows: 5 steps an epoch
    assert steps["step"] == list(range(n)) and all(math.isfinite(v) for v in steps["loss"])
    assert epochs["epoch"] == list(range(n // 5))  # only the epochs that ended before it


def test_a_csv_that_cannot_train_is_refused_at_submit_without_creating_a_run(engine, tmp_path):
    # submit says "a bad config or CSV raises ConfigError here"; a CSV whose target
    # column does not exist passes csv_rows and fails only later, in the worker.
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "1,0\n2,1\n" * 50)
    before = len(engine.store.runs())
    with pytest.raises(ConfigError) as err:
        engine.submit(cfg(2, data={"name": "csv", "path": str(path), "target": "label"}))
    assert err.value.field == "data.target"
    assert len(engine.store.runs()) == before


# --- (e) a run deleted or renamed while a page uses it ----------------------------------------

class TickingSession(Session):
    """A Session that can also tick a checkbox, by key (the page's Delete asks for one): a
    browser sends every widget's state with each rerun, so ticked boxes go with every later one."""

    def __init__(self, url: str, query: str = "", cookie: str | None = None):
        self.checkboxes, self.ticked = {}, []
        super().__init__(url, query, cookie=cookie)
        send = self.ws.send

        def send_with_ticks(data: bytes) -> None:
            from streamlit.proto.BackMsg_pb2 import BackMsg

            msg = BackMsg.FromString(data)
            for key in self.ticked:
                widget = msg.rerun_script.widget_states.widgets.add()
                widget.id, widget.bool_value = self.checkboxes[key], True
            send(msg.SerializeToString())

        self.ws.send = send_with_ticks

    def _element(self, el) -> None:
        super()._element(el)
        if el.WhichOneof("type") == "checkbox":
            self.checkboxes[el.checkbox.id.rsplit("-", 1)[-1]] = el.checkbox.id

    def tick(self, key: str) -> None:
        self.ticked.append(key)
        self.rerun()


@pytest.mark.slow
def test_a_live_view_stops_refreshing_once_another_page_deletes_its_run(server):
    # Bug: the live fragment returned early on a deleted run and kept its 1 s timer for good,
    # while the deleted run trained on in its worker.
    store = Store(server["home"])
    token = visitors.token("a" * 22, server["home"])  # one visitor, in two tabs
    owner, other = Session(server["url"], LONG, cookie=token), TickingSession(server["url"], cookie=token)
    owner.open_tab("Train")
    owner.press("train.start")
    (run,) = (r["id"] for r in store.runs())
    owner.wait_for("Running")
    assert owner.auto  # the live view refreshes itself
    other.open_tab("Runs")  # its first run is the only one: the box to delete from shows it
    other.tick("runs.sure")
    other.press("runs.delete")
    assert store.runs() == []
    owner.rerun(fragment=owner.auto[1])  # the timer's next tick
    assert owner.auto is None
    assert not owner.exceptions and not other.exceptions


def test_renaming_a_run_that_another_page_deleted_says_it_no_longer_exists(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    store = Store(home)
    store.create_run("kept", cfg(2), 2, 5)
    gone = store.create_run("gone", cfg(2), 2, 5)
    at = open_tab(as_host(page_at(home, monkeypatch)), "Runs")
    at.selectbox(key="runs.target").set_value(gone)
    at.text_input(key="runs.new_name").set_value("renamed").run()
    store.delete(gone)  # another page, meanwhile
    at.button(key="runs.rename").click().run()
    assert f"The store refused** — run: run {gone} no longer exists (it was deleted)" in errors(at)
    assert not at.exception, [e.value for e in at.exception]
    assert [r["name"] for r in store.runs()] == ["kept"]


def test_a_rename_to_only_invisible_characters_is_refused_naming_the_field(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    run = Store(home).create_run("kept", cfg(2), 2, 5)
    at = open_tab(as_host(page_at(home, monkeypatch)), "Runs")
    at.text_input(key="runs.new_name").set_value("\u200b\u202e\u200b").run()
    at.button(key="runs.rename").click().run()
    assert "The store refused** — name: allowed: any text with at least one visible character" in errors(at)
    assert Store(home).run(run)["name"] == "kept"
