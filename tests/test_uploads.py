"""Uploaded CSVs: named by their file name and content, found again by that name, and no server
path ever leaves the server in a config."""
import hashlib

import pytest

from lrviz import codegen, config, data, exports, uploads, urlstate
from lrviz.params import ConfigError
from lrviz.schedules import make

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
