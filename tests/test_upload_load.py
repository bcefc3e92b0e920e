"""Load: four sessions upload a 99 MB CSV (99,000 rows × 500 columns) at the same moment to one
real `streamlit run app.py` server, then four refused ones. The server stays under 1 GiB and
answers /_stcore/health fast all the while; refused uploads leave nothing on disk. A 75 MB
config JSON is refused at once, and leaves the session's later reruns fast.

Each session uploads as Streamlit's frontend does (tests/e2e/conftest.py Session underneath): it
asks the server for an upload URL, PUTs the file there (with the XSRF cookie and header) and
reruns the script with the file uploader's new state. Streamlit itself keeps each uploaded file
in memory while its widget holds it, unless lrviz releases it once saved: the test reads that
share from /_stcore/metrics."""
from __future__ import annotations

import json
import re
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lrviz import config, uploads, urlstate, visitors
from lrviz.schedules import make
from lrviz.store import Store
from tests.support import HealthPoller, Session, rss_mib, start_server, stop_server, wait_healthy


pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SESSIONS = 4
ROWS, COLUMNS = 99_000, 500
RSS_TARGET_MIB = 1024.0
P95_TARGET_MS = 200.0
RERUNS = 20
XSRF = "5f" * 16  # the double-submit token: the same in the cookie and the header


def table(seed: int) -> bytes:
    """99,000 rows of 500 one-digit columns (the last a 0/1 label), 99 MB; each seed its own bytes."""
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 10, (1000, COLUMNS))
    block[:, -1] %= 2
    body = ("\n".join(",".join(map(str, r)) for r in block.tolist()) + "\n").encode()
    header = (",".join(f"c{i}" for i in range(COLUMNS - 1)) + ",label\n").encode()
    return header + body * (ROWS // 1000)


class Uploader(Session):
    """A Session that can open the data panel and put a file into an uploader (the CSV one unless
    told another key)."""

    def __init__(self, url: str, query: str, cookie: str | None = None):
        self.url, self.ids, self.captions, self.file = url, {}, [], None
        super().__init__(url, query, timeout=240, cookie=cookie)
        self.send({"panel.data": True})  # the CSV uploader is drawn in the open data panel

    def _element(self, el) -> None:
        super()._element(el)
        kind = el.WhichOneof("type")
        if kind == "file_uploader":
            self.ids[el.file_uploader.id.rsplit("-", 1)[-1]] = el.file_uploader.id
        elif kind == "markdown":
            self.captions.append(el.markdown.body)

    def _block(self, block) -> None:
        super()._block(block)
        if block.WhichOneof("type") == "expandable" and block.expandable.id:
            self.ids[block.expandable.id.rsplit("-", 1)[-1]] = block.expandable.id

    def send(self, states: dict) -> None:
        """Rerun with these widget states (key -> True for an open panel, or a file record)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        msg.rerun_script.query_string, msg.rerun_script.page_script_hash = self.query, self.page_hash
        for key, value in {"panel.data": True, **states}.items():
            widget = msg.rerun_script.widget_states.widgets.add()
            widget.id = self.ids[key]
            if value is True:
                widget.bool_value = True
            else:
                widget.file_uploader_state_value.uploaded_file_info.add().CopyFrom(value)
        self.texts, self.captions = [], []
        self.ws.send(msg.SerializeToString())
        self._read_until_finished()

    def upload(self, name: str, content: bytes, key: str = "data.upload") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.Common_pb2 import UploadedFileInfo
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.file_urls_request.request_id, msg.file_urls_request.file_names[:] = name, [name]
        self.ws.send(msg.SerializeToString())
        while True:
            answer = ForwardMsg()
            answer.ParseFromString(self.ws.recv(timeout=self.timeout))
            if answer.WhichOneof("type") == "file_urls_response":
                urls = answer.file_urls_response.file_urls[0]
                break
        if self.file:  # the frontend deletes the file a new one replaces
            self._http("DELETE", self.file.file_urls.delete_url)
        boundary = "lrvizboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        self._http("PUT", urls.upload_url, body, f"multipart/form-data; boundary={boundary}")
        self.file = UploadedFileInfo(name=name, size=len(content), file_id=urls.file_id, file_urls=urls)
        self.send({key: self.file})

    def _http(self, method: str, path: str, body: bytes | None = None, kind: str = "") -> None:
        headers = {"X-Xsrftoken": XSRF, "Cookie": f"_streamlit_xsrf={XSRF}", **({"Content-Type": kind} if kind else {})}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as r:
            assert r.status == 204, r.status


class RssSampler(threading.Thread):
    """The server's resident memory every 20 ms: its peak, from /proc."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))


def streamlit_upload_bytes(url: str) -> int:
    """What Streamlit's UploadedFileManager holds now (its line in /_stcore/metrics)."""
    with urllib.request.urlopen(url + "/_stcore/metrics", timeout=30) as r:
        text = r.read().decode()
    found = re.search(r'cache_memory_bytes\{cache_type="UploadedFileManager"[^}]*\} (\d+)', text)
    return int(found.group(1)) if found else 0


def visitor_who_uploaded(home, name: str, i: int) -> str:
    """The cookie of a visitor who may train on the upload (lrviz.visitors): a link naming it
    then chooses CSV data for them."""
    ident = f"uploader{i}".ljust(22, "x")
    Store(home).grant(ident, name)
    return visitors.token(ident, home)


def test_four_99_mb_uploads_at_once_keep_the_server_small_and_responsive(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    seed = uploads.save("seed.csv", b"a,label\n1,0\n2,1\n", home)  # a link can then choose CSV data
    query = "cfg=" + urlstate.encode(config.validate({"schedule": make("constant"),
                                                      "data": {"name": "csv", "path": seed}}))["cfg"]
    good = [table(i) for i in range(SESSIONS)]
    bad = [g[:-2] + b"\n" for g in good]  # the last row one cell short: refused after a full read
    proc, url = start_server(home, env={"LRVIZ_WORKERS": "1"})
    poller, together = HealthPoller(url), threading.Barrier(SESSIONS)
    pages, took = [], {"accepted": [], "refused": []}

    def round_of(what: str, files: list[bytes]):
        def one(i: int):
            together.wait()  # every session uploads at the same moment
            start = time.perf_counter()
            pages[i].upload(f"big{i}.csv", files[i])
            took[what].append(time.perf_counter() - start)
            return pages[i].texts + pages[i].captions, pages[i].exceptions
        with ThreadPoolExecutor(SESSIONS) as pool:
            return list(pool.map(one, range(SESSIONS)))

    try:
        wait_healthy(url, proc)
        pages = [Uploader(url, query, visitor_who_uploaded(home, seed, i)) for i in range(SESSIONS)]
        idle = rss_mib(proc.pid)
        sampler = RssSampler(proc.pid)
        sampler.start()
        poller.start()
        accepted = round_of("accepted", good)
        held, after, first_peak = streamlit_upload_bytes(url) / 2**20, rss_mib(proc.pid), sampler.peak
        refused = round_of("refused", bad)
        poller.done.set()
        sampler.done.set()
        for page in pages:
            page.close()
        saved = sorted(p.stat().st_size for p in (home / "uploads").iterdir())
    finally:
        poller.done.set()
        stop_server(proc)

    ms = sorted(poller.ms)
    p50, p95 = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
    print(f"\nserver RSS: {idle:.0f} MiB before; peak {first_peak:.0f} MiB while four are accepted, {after:.0f} MiB "
          f"after (Streamlit's UploadedFileManager holds {held:.0f} MiB of it); peak {sampler.peak:.0f} MiB while "
          f"four more are refused (target peak < {RSS_TARGET_MIB:g} MiB)")
    print(f"upload → page done: accepted {min(took['accepted']):.1f}–{max(took['accepted']):.1f} s, "
          f"refused {min(took['refused']):.1f}–{max(took['refused']):.1f} s")
    print(f"health: {len(ms)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms "
          f"(target p95 < {P95_TARGET_MS:g} ms); failures: {len(poller.failures)}")
    for texts, exceptions in accepted:
        assert not exceptions and any(f"{ROWS:,} rows" in t for t in texts), texts
    for texts, exceptions in refused:
        assert not exceptions and any("refused" in t and "data row" in t for t in texts), texts
    assert held < 1, "Streamlit still holds the uploaded bytes after lrviz saved them"
    assert saved == sorted([len(good[0])] * SESSIONS + [len(b"a,label\n1,0\n2,1\n")])  # no refused file stays
    assert not poller.failures
    assert sampler.peak < RSS_TARGET_MIB
    assert p95 < P95_TARGET_MS


def test_a_75_mb_config_upload_is_refused_at_once_and_later_reruns_stay_fast(tmp_path):
    # It was parsed (seconds under the GIL), refused holding the whole list, and its repr
    # redrawn on every rerun of that session: 1.3 s each, health p95 1.3 s.
    huge = json.dumps({"schedule": make("constant"), "model": {"hidden_units": [1] * 25_000_000}}).encode()
    proc, url = start_server(tmp_path)
    poller = HealthPoller(url)
    try:
        wait_healthy(url, proc)
        page = Uploader(url, "")
        poller.start()
        start = time.perf_counter()
        page.upload("c.json", huge, key="config_upload")
        refused, texts = time.perf_counter() - start, page.texts
        start = time.perf_counter()
        for _ in range(RERUNS):
            page.send({})
        rerun = (time.perf_counter() - start) / RERUNS
        poller.done.set()
        page.close()
    finally:
        poller.done.set()
        stop_server(proc)
    ms = sorted(poller.ms)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"\n{len(huge) / 1e6:.0f} MB config refused in {refused:.1f} s; then a rerun takes {rerun * 1000:.0f} ms; "
          f"health: {len(ms)} requests, p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")
    assert any("Uploaded config refused" in t and "at most 1,048,576" in t for t in texts), texts
    assert not page.exceptions and not poller.failures
    assert rerun < 0.5 and p95 < P95_TARGET_MS
