"""Datasets: shapes, the split contract of config.train_size, determinism, and CSV checks."""
from pathlib import Path

import numpy as np
import pytest

from lrviz import config, data
from lrviz.params import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "assets" / "example.csv"
BUILTIN = ["moons", "circles", "spirals", "xor", "blobs", "regression", "digits", "breast_cancer",
           "wine", "iris"]


def section(**kw):
    return config.validate({"schedule": {"kind": "constant"}, "data": kw})["data"]


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_sets_follow_the_split_contract(name):
    cfg = section(name=name, n_samples=300, validation_split=0.25)
    d = data.load(cfg)
    rows = len(d.X_train) + len(d.X_val)
    assert len(d.X_train) == config.train_size(cfg)
    assert len(d.X_val) == int(np.floor(rows * 0.25))
    for a in (d.X_train, d.y_train, d.X_val, d.y_val):
        assert a.dtype == np.float32 and np.isfinite(a).all()
    assert d.X_train.shape[1] == len(d.feature_names)
    if d.task == "regression":
        assert d.n_classes == 0
    else:
        assert set(np.unique(d.y_train)) <= set(range(d.n_classes))
        assert d.task == ("binary" if d.n_classes == 2 else "multiclass")


def test_same_seed_same_data_other_seed_other_data():
    a, b = data.load(section(name="spirals", seed=3)), data.load(section(name="spirals", seed=3))
    c = data.load(section(name="spirals", seed=4))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)


def test_tables_are_standardised_with_train_statistics():
    d = data.load(section(name="breast_cancer"))
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-5)
    assert not np.allclose(d.X_val.mean(axis=0), 0, atol=1e-5)


def test_example_csv_loads_as_binary_classification():
    cfg = section(name="csv", path=str(EXAMPLE))
    d = data.load(cfg)
    assert d.task == "binary" and d.n_classes == 2 and d.feature_names == ("x1", "x2")
    assert data.csv_rows(str(EXAMPLE)) == 300
    assert len(d.X_train) == config.train_size(cfg) == 240
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-5)


def write(tmp_path, text, name="t.csv", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return str(p)


def test_csv_target_and_task(tmp_path):
    rows = "\n".join(f"{i},{i % 3},{i * 0.5},{'ab'[i % 2]}" for i in range(40))
    path = write(tmp_path, "a,b,c,label\n" + rows + "\n")
    assert data.load(section(name="csv", path=path)).task == "binary"         # text labels
    d = data.load(section(name="csv", path=path, target="b"))
    assert (d.task, d.n_classes, d.feature_names) == ("multiclass", 3, ("a", "c"))  # text column dropped
    assert data.load(section(name="csv", path=path, target="c")).task == "regression"
    assert data.load(section(name="csv", path=path, target="b", task="regression")).task == "regression"
    assert data.load(section(name="csv", path=path, target="a", task="classification")).n_classes == 40


BAD = {
    "empty": ("", "data.path"),
    "blank": ("\n\n  \n", "data.path"),
    "header only": ("a,b\n", "data.path"),
    "not utf-8": ("a,b\n1,\xe9\n".encode("latin-1"), "data.path"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "data.path"),
    "long row": ("a,b,c\n1,2,3\n4,5,6,7\n8,9,1\n", "data.path"),
    "short row": ("a,b,c\n1,2,3\n4,5\n8,9,1\n", "data.path"),
    "empty cell": ("a,b,c\n1,2,3\n4,,6\n8,9,1\n", "data.path"),
    "nan": ("a,b,c\n1,2,3\n4,nan,6\n8,9,1\n", "data.path"),
    "inf": ("a,b,c\n1,2,3\n4,inf,6\n8,9,1\n", "data.path"),
    "no numeric feature": ("name,label\nx,1\ny,0\nz,1\n", "data.path"),
    "one class": ("a,label\n1,1\n2,1\n3,1\n", "data.target"),
    "too many columns": (",".join(f"c{i}" for i in range(501)) + "\n" + ",".join(["1"] * 501) + "\n" * 2,
                         "data.path"),
    "too many rows": ("a,b\n" + "1,0\n2,1\n" * 100_001, "data.path"),
    "huge cell": ("a,b\n1," + "9" * 70_000 + "\n2,1\n", "data.path"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_csv_is_a_config_error(tmp_path, case):
    text, field = BAD[case]
    path = write(tmp_path, text, mode="wb" if isinstance(text, bytes) else "w")
    with pytest.raises(ConfigError) as err:
        data.load(section(name="csv", path=path))
    assert err.value.field == field
    assert "Traceback" not in str(err.value)


def test_missing_target_and_missing_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        data.load(section(name="csv", path=str(EXAMPLE), target="nope"))
    assert err.value.field == "data.target" and "x1" in str(err.value)
    with pytest.raises(ConfigError) as err:
        data.csv_rows(str(tmp_path / "missing.csv"))
    assert err.value.field == "data.path"


def test_text_target_cannot_be_regression(tmp_path):
    path = write(tmp_path, "a,label\n1,x\n2,y\n3,x\n")
    with pytest.raises(ConfigError) as err:
        data.load(section(name="csv", path=path, task="regression"))
    assert err.value.field == "data.target"


def test_a_changed_file_is_read_again(tmp_path):
    path = write(tmp_path, "a,b\n1,0\n2,1\n")
    assert data.csv_rows(path) == 2
    write(tmp_path, "a,b\n1,0\n2,1\n3,0\n4,1\n")
    assert data.csv_rows(path) == 4
