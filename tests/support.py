"""What the tests that drive a real server share: start and stop `streamlit run app.py`, find
its processes and their memory, talk to it as a browser tab does (Session), and poll its health.
The pytest fixtures built on these are in tests/e2e/conftest.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> float:
    """Seconds until /_stcore/health answers ok."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                if r.read().decode().strip() == "ok":
                    return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError("streamlit did not become healthy")


def start_server(home: Path, port: int | None = None, env: dict | None = None):
    """(process, url) of `streamlit run app.py` with LRVIZ_HOME=home (and `env` on top)."""
    port = port or free_port()
    env = {**os.environ, "LRVIZ_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://localhost:{port}"


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the app has finished its script run (Streamlit marks the app element)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    page.wait_for_timeout(200)


def lrviz_processes(home: Path) -> list[int]:
    """Live processes started for this home: the server and every process it spawned (spawned
    children inherit LRVIZ_HOME, and keep it when their parent dies and they are re-parented)."""
    needle = f"LRVIZ_HOME={home}\0".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "environ").read_bytes() and _state(proc) != "Z":
                found.append(int(proc.name))
        except (OSError, IndexError):
            pass  # it ended while we looked
    return found


def lrviz_workers(home: Path) -> list[int]:
    """The training workers among them (multiprocessing's spawned children)."""
    return [pid for pid in lrviz_processes(home) if b"multiprocessing.spawn" in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _state(proc: Path) -> str:
    return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (no psutil here)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


class Session:
    """One browser session without the browser: Streamlit's own websocket protocol, as its
    frontend speaks it. Reruns the script, presses buttons by key, and reruns a fragment when
    the server asks (st.fragment's run_every), so the server sees what a browser tab makes it do.
    Collects each run's alert texts, dataframes and exceptions."""

    def __init__(self, url: str, query: str = "", timeout: float = 120.0, cookie: str | None = None):
        """cookie: the visitor's token (lrviz.visitors) its browser sends; none: a newcomer."""
        from websockets.sync.client import connect

        from lrviz.visitors import COOKIE

        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else None
        self.ws = connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                          max_size=None, open_timeout=timeout, additional_headers=headers)
        self.query, self.timeout, self.page_hash = query, timeout, ""
        self.buttons, self.texts, self.frames, self.exceptions = {}, [], [], []
        self.multiselects, self.chosen, self.charts = {}, {}, {}  # key -> id; id -> labels; key -> spec
        self.widgets, self.values = {}, {}  # key -> id of every widget drawn; id -> (field, value) set()
        self.tabs, self.open, self._tabs_id = {}, {}, None  # label -> tabs widget id; id -> open label
        self.auto = None  # (seconds, fragment id) while a fragment asks to be rerun
        self.rerun()

    def rerun(self, press: str | None = None, fragment: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_script_hash = self.query, self.page_hash
        state.fragment_id, state.is_auto_rerun = fragment, bool(fragment)
        for widget_id, label in self.open.items():  # a browser sends every widget's state
            widget = state.widget_states.widgets.add()
            widget.id, widget.string_value = widget_id, label
        for widget_id, labels in self.chosen.items():
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            widget.string_array_value.data.extend(labels)
        for widget_id, (field, value) in self.values.items():
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            if field.endswith("_array_value"):
                getattr(widget, field).data.extend(value)
            else:
                setattr(widget, field, value)
        if press:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = self.buttons[press], True
        if not fragment:
            self.texts, self.frames, self.charts = [], [], {}
        self.ws.send(msg.SerializeToString())
        self._read_until_finished()

    def press(self, key: str) -> None:
        self.rerun(press=key)

    def choose(self, key: str, labels: list[str]) -> None:
        """Set a multiselect (by key) to these option labels, as a click in the browser does."""
        self.chosen[self.multiselects[key]] = labels
        self.rerun()

    def set(self, key: str, field: str, value) -> None:
        """Set the widget with this key as the browser does: `field` is the WidgetState value it
        sends (string_value for a text box, string_array_value for a segmented control,
        double_array_value for a slider)."""
        self.values[self.widgets[key]] = (field, value)
        self.rerun()

    def open_tab(self, name: str) -> None:
        """Click the tab whose label ends with `name` (only the open tab's content is drawn)."""
        label = next(label for label in self.tabs if label.endswith(name))
        self.open[self.tabs[label]] = label
        self.rerun()

    def wait_for(self, word: str) -> str:
        """Keep the page alive (fragment timers, else full reruns) until an alert says `word`."""
        end = time.monotonic() + self.timeout
        while not (hit := [t for t in self.texts if word in t]):
            if time.monotonic() > end:
                raise TimeoutError(f"{word!r} never showed; last: {self.texts[-3:]}")
            time.sleep(self.auto[0] if self.auto else 0.5)
            self.rerun(fragment=self.auto[1] if self.auto else "")
        return hit[-1]

    def _read_until_finished(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        end = time.monotonic() + self.timeout
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = msg.new_session.main_script_hash
                if not msg.metadata.run.fragment_ids:  # a full run: it sends its timers again
                    self.auto = None
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element)
            elif kind == "delta" and msg.delta.WhichOneof("type") == "add_block":
                self._block(msg.delta.add_block)
            elif kind == "auto_rerun":
                self.auto = (msg.auto_rerun.interval, msg.auto_rerun.fragment_id)
            elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return

    def _element(self, el) -> None:
        kind = el.WhichOneof("type")
        widget_id = getattr(getattr(el, kind), "id", "") if kind else ""
        if isinstance(widget_id, str) and widget_id:
            self.widgets[widget_id.rsplit("-", 1)[-1]] = widget_id
        if kind == "button":
            self.buttons[el.button.id.rsplit("-", 1)[-1]] = el.button.id  # ids end with the key
        elif kind == "multiselect":
            self.multiselects[el.multiselect.id.rsplit("-", 1)[-1]] = el.multiselect.id
        elif kind == "plotly_chart":
            self.charts[el.plotly_chart.id.rsplit("-", 1)[-1]] = el.plotly_chart.spec
        elif kind == "alert":
            self.texts.append(el.alert.body)
        elif kind == "dataframe":
            import pyarrow as pa

            self.frames.append(pa.ipc.open_stream(el.dataframe.arrow_data.data).read_pandas())
        elif kind == "exception":
            self.exceptions.append(el.exception.message)

    def _block(self, block) -> None:
        if block.WhichOneof("type") == "tab_container" and block.tab_container.id:
            self._tabs_id = block.tab_container.id
        elif block.WhichOneof("type") == "tab" and self._tabs_id:
            self.tabs[block.tab.label] = self._tabs_id

    def close(self) -> None:
        self.ws.close()


class HealthPoller(threading.Thread):
    """GET /_stcore/health every 100 ms; keeps each answer's latency (ms)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.ms, self.failures, self.done = url, [], [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=10) as r:
                    answer = r.read()
            except OSError as exc:
                answer = repr(exc).encode()
            took = time.perf_counter() - start
            self.ms.append(took * 1000)
            if answer != b"ok":
                self.failures.append(answer)
            self.done.wait(max(0.0, 0.1 - took))
