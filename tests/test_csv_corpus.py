"""Hostile and broken input from outside: a corpus of bad CSVs, tampered links and uploaded
configs. Each is refused as one ConfigError that names the field (data.path or data.target),
the value and what is allowed, before anything downstream sees a partly read table."""
import base64
import json
from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

from lrviz import config, data, urlstate
from lrviz.params import ConfigError
from lrviz.schedules import make


def _table(rows: int, header=b"a,b\n", row=b"1,0\n2,1\n") -> bytes:
    return header + row * (rows // 2)


# name: (file content, field, words the message must contain: what is wrong or what is allowed)
CORPUS = {
    "empty file": (b"", "data.path", "empty"),
    "binary bytes": (bytes(range(256)) * 64, "data.path", "binary"),
    "latin-1 with accents": ("x,café,naïve\n1,2,0\n3,4,1\n".encode("latin-1"), "data.path", "UTF-8"),
    "a short row": (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "data.path", "short row"),
    "a long row": (b"a,b,c\n1,2,3\n4,5,6,7\n6,7,8\n", "data.path", "rectangular"),
    "one column only": (b"a\n1\n2\n3\n", "data.path", "feature column"),
    "all-NaN column": (b"a,b,c\n1,,0\n2,,1\n3,,0\n", "data.path", "'b'"),
    "empty cells": (b"a,b,c\n1,2,0\n3,,1\n4,5,\n", "data.path", "empty"),
    "one class only": (b"a,label\n1,1\n2,1\n3,1\n", "data.target", "one class"),
    "a million rows": (_table(10**6), "data.path", "200,000"),
    "over 500 columns": ((",".join(f"c{i}" for i in range(501)) + "\n" + "1," * 500 + "0\n" + "2," * 500
                         + "1\n").encode(), "data.path", "500"),
    "a 10 MB cell": (b"a,b\n1," + b"7" * 10_000_000 + b"\n2,1\n", "data.path", "65,536"),
    "header only": (b"a,b,label\n", "data.path", "at least 2"),
    "30,000 duplicate names": (b"a," * 29_999 + b"a\n" + b"1," * 29_999 + b"1\n", "data.path", "'a'"),
}


# Sound tables whose columns cannot be trained: only data.load, in the worker, sees that.
NEEDS_THE_TARGET = {"one column only", "one class only"}


def write(tmp_path, case) -> str:
    path = tmp_path / "bad.csv"
    path.write_bytes(CORPUS[case][0])
    return str(path)


def section(path, **kw):
    return config.validate({"schedule": make("constant"), "data": {"name": "csv", "path": path, **kw}})["data"]


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_loading_a_bad_csv_is_one_config_error_naming_the_field(case, tmp_path):
    _, field, words = CORPUS[case]
    path = write(tmp_path, case)
    with pytest.raises(ConfigError) as err:
        data.load(section(path))  # raises: no Data, not even its first rows, comes back
    assert err.value.field == field
    assert words in str(err.value)
    assert "Traceback" not in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize("case", sorted(set(CORPUS) - NEEDS_THE_TARGET))
def test_a_bad_table_is_refused_before_a_run_could_be_created(case, tmp_path):
    # Pool.submit computes steps_per_epoch (through csv_rows) before it creates a run.
    path = write(tmp_path, case)
    with pytest.raises(ConfigError) as err:
        config.steps_per_epoch(config.validate({"schedule": make("constant"),
                                                "data": {"name": "csv", "path": path}}))
    assert err.value.field == "data.path" and err.value.value.endswith("bad.csv")


def test_a_missing_target_column_names_the_columns_there_are(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("height,weight,label\n1,2,0\n3,4,1\n")
    with pytest.raises(ConfigError) as err:
        data.load(section(str(path), target="lable"))
    assert err.value.field == "data.target" and err.value.value == "lable"
    assert "height, weight, label" in str(err.value)


def test_a_refused_file_fixed_in_place_loads_in_full(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,0\n2,\n")
    with pytest.raises(ConfigError):
        data.csv_rows(str(path))
    path.write_bytes(b"a,b\n" + b"1,0\n2,1\n" * 50)
    assert data.csv_rows(str(path)) == 100
    assert len(data.load(section(str(path), validation_split=0.0)).X_train) == 100


def _link(obj_or_text) -> dict:
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    return {"cfg": base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")}


def _good_link() -> str:
    return urlstate.encode(config.validate({"schedule": make("constant"), "training": {"epochs": 3}}))["cfg"]


TAMPERED = {
    "truncated": {"cfg": _good_link()[:-7]},
    "one character flipped": {"cfg": "Z" + _good_link()[1:]},
    "NaN learning rate": _link('{"schedule": {"kind": "constant", "learning_rate": NaN}}'),
    "overflowing number": _link('{"schedule": {"kind": "constant", "learning_rate": 1e999}}'),
    "nesting bomb": _link("[" * 100_000 + "]" * 100_000),
    "unknown key": _link({"schedule": make("constant"), "training": {"epochs": 3, "pickle": "x"}}),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_link_gives_no_config_and_a_reason(case):
    cfg, problem = urlstate.decode(TAMPERED[case])
    assert cfg is None  # the page then shows its defaults with this reason
    assert problem.startswith("URL parameter 'cfg':") and "Traceback" not in problem


def test_a_nan_in_an_uploaded_config_names_its_field():
    text = json.dumps({"schedule": make("constant"), "optimizer": {"beta_2": float("nan")}})
    assert "NaN" in text  # Python's json writes it; the upload reads it back as a float
    with pytest.raises(ConfigError) as err:
        config.loads(text)
    assert err.value.field == "optimizer.beta_2"


HUGE = [1] * 10**6  # what a 3 MB uploaded config can hold in one list


def test_an_error_about_a_huge_value_keeps_only_its_start():
    text = json.dumps({"schedule": {"class_name": "PiecewiseConstantDecay",
                                    "config": {"boundaries": HUGE, "values": [0.1, 0.01]}}})
    with pytest.raises(ConfigError) as err:
        config.loads(text)
    assert err.value.field == "schedule.config.boundaries"
    assert repr(err.value.value).startswith("[1, 1, 1") and len(repr(err.value.value)) <= 200
    assert len(str(err.value)) < 400


def test_a_refused_config_upload_leaves_no_copy_of_it_in_the_session(tmp_path, monkeypatch):
    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
    huge = json.dumps({"schedule": make("constant"), "model": {"hidden_units": HUGE}}).encode()
    at.file_uploader(key="config_upload").set_value(("c.json", huge, "application/json")).run()
    assert not at.exception and "Uploaded config refused" in " ".join(e.value for e in at.error)
    error = at.session_state["upload_error"]  # kept for every rerun of this session
    assert len(repr(error.value)) <= 200
    assert error.__traceback__ is None and error.__context__ is None  # frames would hold the upload
