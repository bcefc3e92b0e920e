"""Uploaded CSVs: named by their file name and content, found again by that name, and no server
path ever leaves the server in a config."""
import hashlib
import io
import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lrviz import codegen, config, data, exports, uploads, urlstate
from lrviz.params import ConfigError
from lrviz.schedules import make
from lrviz.store import Store
from tests.apptest import open_panels

CSV = b"a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    return tmp_path


def test_an_upload_is_named_by_its_file_name_and_content_hash(home):
    name = uploads.save("My data (v2).csv", CSV)
    assert name == f"My_data_v2-{hashlib.sha256(CSV).hexdigest()[:12]}.csv"
    assert (home / "uploads" / name).read_bytes() == CSV
    assert uploads.save("My data (v2).csv", CSV) == name  # the same file, the same name


def test_a_config_names_the_upload_and_the_data_loads_from_it(home):
    name = uploads.save("d.csv", CSV)
    cfg = config.validate({"schedule": make("constant"), "data": {"name": "csv", "path": name,
                                                                  "validation_split": 0.0}})
    assert data.csv_rows(cfg["data"]["path"]) == 4
    assert str(home) not in exports.config_json(cfg) + urlstate.encode(cfg)["cfg"] + codegen.keras_script(cfg)


def test_errors_about_an_upload_name_it_not_where_it_lives(home):
    name = uploads.save("bad.csv", b"a,b\n1\n")
    with pytest.raises(ConfigError) as err:
        data.csv_rows(name)
    assert name in str(err.value) and str(home) not in str(err.value)


def test_switching_away_from_csv_drops_the_path(home):
    name = uploads.save("d.csv", CSV)
    cfg = config.validate({"schedule": make("constant"), "data": {"name": "moons", "path": name}})
    assert cfg["data"]["path"] is None


@pytest.mark.parametrize("path,trusted", [
    ("NAME", True), ("ABS", True), ("../NAME", False), ("/etc/passwd", False), ("elsewhere.csv", False),
    ("uploads/NAME", False), ("", False), (None, False),
])
def test_a_link_may_only_name_files_uploaded_here(home, tmp_path, path, trusted):
    name = uploads.save("d.csv", CSV)
    if path:
        path = path.replace("ABS", str(home / "uploads" / name)).replace("NAME", name)
    assert (uploads.trusted(path) == name) is trusted


def test_a_bare_name_that_is_not_an_upload_is_a_path_in_the_working_folder(home, tmp_path, monkeypatch):
    (tmp_path / "mine.csv").write_bytes(CSV)
    monkeypatch.chdir(tmp_path)
    assert data.csv_rows("mine.csv") == 4


def test_a_half_written_upload_is_written_again(home):
    name = uploads.file_name("d.csv", CSV)
    (home / "uploads").mkdir()
    (home / "uploads" / name).write_bytes(CSV[:7])  # what a crash mid-write would leave
    assert uploads.save("d.csv", CSV) == name
    assert (home / "uploads" / name).read_bytes() == CSV
    assert [p.name for p in (home / "uploads").iterdir()] == [name]  # no part file left behind


def test_a_stored_runs_absolute_upload_path_becomes_its_name(home):
    name = uploads.save("d.csv", CSV)
    cfg = {"data": {"name": "csv", "path": str(home / "uploads" / name)}}
    assert uploads.portable(cfg)["data"]["path"] == name
    other = {"data": {"name": "csv", "path": "/somewhere/else.csv"}}
    assert uploads.portable(other) == other


class Stream(io.BytesIO):
    """An uploaded file that may only be read in pieces, as a large upload must be."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads = []

    def getvalue(self):
        raise AssertionError("the whole upload was read at once")

    def read(self, size=-1):
        assert 0 < size <= 2**20, f"read({size})"
        self.reads.append(size)
        return super().read(size)


def test_an_upload_is_saved_from_its_stream_a_piece_at_a_time(home):
    content = CSV * 100_000  # 3 MB
    stream = Stream(content)
    name = uploads.save("d.csv", stream)
    assert name == uploads.file_name("d.csv", content) and len(stream.reads) > 2
    assert (home / "uploads" / name).read_bytes() == content


def aged(home, name: str, days_ago: float) -> None:
    """Mark an upload as last used `days_ago` days ago."""
    when = time.time() - days_ago * 86400
    os.utime(home / "uploads" / name, (when, when))


def run_reading(home, name: str, status: str) -> None:
    store = Store(home)
    run = store.create_run("r", config.validate({"schedule": make("constant"),
                                                 "data": {"name": "csv", "path": name}}))
    store.set_status(run, status)


def table(i: int) -> bytes:
    return b"a,y\n" + f"{i},0\n{i},1\n".encode() * 250  # 2 KB, the same size for each digit i


def test_beyond_the_folder_cap_the_least_recently_used_uploads_go_first(home, monkeypatch):
    names = [uploads.save(f"{i}.csv", table(i)) for i in range(3)]
    for days, name in zip((3, 1, 2), names):
        aged(home, name, days)
    monkeypatch.setattr(uploads, "MAX_FOLDER_BYTES", 3 * len(table(0)))
    newest = uploads.save("new.csv", table(9))
    left = {p.name for p in (home / "uploads").iterdir()}
    assert left == {newest, names[1], names[2]}  # names[0] was used longest ago


def test_saving_a_file_again_counts_as_using_it(home, monkeypatch):
    names = [uploads.save(f"{i}.csv", table(i)) for i in range(3)]
    for days, name in zip((3, 2, 1), names):
        aged(home, name, days)
    uploads.save("0.csv", table(0))
    monkeypatch.setattr(uploads, "MAX_FOLDER_BYTES", 3 * len(table(0)))
    newest = uploads.save("new.csv", table(9))
    assert {p.name for p in (home / "uploads").iterdir()} == {newest, names[0], names[2]}


@pytest.mark.parametrize("status", ["queued", "running"])
def test_an_upload_that_a_queued_or_running_run_reads_is_never_evicted(home, monkeypatch, status):
    names = [uploads.save(f"{i}.csv", table(i)) for i in range(3)]
    for days, name in zip((3, 2, 1), names):
        aged(home, name, days)
    run_reading(home, names[0], status)
    run_reading(home, names[1], "done")  # a finished run no longer reads its file
    monkeypatch.setattr(uploads, "MAX_FOLDER_BYTES", 3 * len(table(0)))
    newest = uploads.save("new.csv", table(9))
    assert {p.name for p in (home / "uploads").iterdir()} == {newest, names[0], names[2]}


def test_a_refused_upload_is_discarded_unless_a_queued_or_running_run_reads_it(home):
    refused, busy = uploads.save("bad.csv", b"a\n1\n"), uploads.save("busy.csv", b"b\n1\n")
    run_reading(home, busy, "running")
    uploads.discard(refused)
    uploads.discard(busy)
    assert [p.name for p in (home / "uploads").iterdir()] == [busy]


@pytest.fixture
def page(home, monkeypatch):
    """The page on a fresh store, with its data panel open; the engine it starts is shut down after."""
    from lrviz.pool import Pool

    made, init = [], Pool.__init__

    def recorded(self, *args, **kw):
        made.append(self)
        init(self, *args, **kw)

    monkeypatch.setattr(Pool, "__init__", recorded)
    monkeypatch.setenv("LRVIZ_WORKERS", "1")
    at = open_panels(AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                                       default_timeout=60).run())
    at.selectbox(key="data.name").set_value("csv").run()
    yield at
    for engine in made:
        engine.shutdown()


def test_a_refused_csv_upload_is_deleted_at_once(page, home):
    page.file_uploader(key="data.upload").set_value(("bad.csv", b"a,b\n1,2\n3\n", "text/csv")).run()
    assert "CSV bad.csv refused" in " ".join(e.value for e in page.error).replace("\\", "")
    assert list((home / "uploads").iterdir()) == []


def test_an_accepted_csv_upload_is_kept_and_described(page, home):
    page.file_uploader(key="data.upload").set_value(("good.csv", CSV, "text/csv")).run()
    assert not page.error and page.session_state["data.path"] in os.listdir(home / "uploads")
    assert any(c.value.replace("\\", "") == "good.csv: 4 rows; columns: a, b, y" for c in page.caption)


def test_what_a_crash_left_half_written_an_hour_ago_is_removed(home):
    (home / "uploads").mkdir()
    old, fresh = home / "uploads" / ".d.csv.1.2.part", home / "uploads" / ".e.csv.1.2.part"
    old.write_bytes(CSV[:7])
    fresh.write_bytes(CSV[:7])  # maybe being written right now
    when = time.time() - 2 * 3600
    os.utime(old, (when, when))
    name = uploads.save("d.csv", CSV)
    assert sorted(p.name for p in (home / "uploads").iterdir()) == sorted([name, fresh.name])
