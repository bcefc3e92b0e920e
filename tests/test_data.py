"""Datasets: shapes, the split contract of config.train_size, determinism, and CSV checks."""
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from lrviz import config, data
from lrviz.params import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "assets" / "example.csv"
BUILTIN = [name for name, ds in data.DATASETS.items() if not ds.file]


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
    assert d.task == "binary" and d.n_classes == 2 and d.X_train.shape[1] == 2  # x1, x2
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
    assert (d.task, d.n_classes, d.X_train.shape[1]) == ("multiclass", 3, 2)  # text column dropped
    np.testing.assert_allclose(d.X_train[:, 0], d.X_train[:, 1], rtol=1e-5)  # a and c (= a / 2), standardised
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


def test_a_text_column_may_hold_NA_as_a_value(tmp_path):
    # Country codes: "NA" is Namibia, not a missing value.
    rows = "\n".join(f"{code},{i},{i % 2}" for i, code in enumerate(["US", "NA", "FR", "NA"] * 10))
    path = write(tmp_path, "country,x,label\n" + rows + "\n")
    assert data.load(section(name="csv", path=path)).X_train.shape[1] == 1  # x: a text column is no feature
    d = data.load(section(name="csv", path=path, target="country"))
    assert (d.task, d.n_classes) == ("multiclass", 3)  # FR, NA, US


@pytest.mark.parametrize("cell", ["NA", "nan", "NaN", "null", "N/A"])
def test_a_missing_value_marker_in_a_column_of_numbers_is_refused_naming_the_cell(tmp_path, cell):
    path = write(tmp_path, f"a,b,c\n1,2,0\n4,{cell},1\n8,9,0\n")
    with pytest.raises(ConfigError) as err:
        data.load(section(name="csv", path=path))
    assert err.value.field == "data.path"
    assert all(w in str(err.value) for w in (repr(cell), "'b'", "data row 2"))


def test_duplicate_column_names_are_refused_naming_the_first(tmp_path):
    path = write(tmp_path, "a,b,c,b,a\n1,2,3,4,0\n5,6,7,8,1\n")
    with pytest.raises(ConfigError) as err:
        data.csv_rows(path)
    assert err.value.field == "data.path" and "'b'" in str(err.value) and "'a'" not in str(err.value)


def test_checking_a_csv_holds_one_chunk_at_a_time_and_keeps_no_table(tmp_path):
    rows, columns = 100_000, 100
    table_bytes = rows * columns * 8  # the numbers as float64: 80 MB
    line = ",".join(str(i % 10) for i in range(columns - 1))
    path = write(tmp_path, ",".join(f"c{i}" for i in range(columns)) + "\n"
                 + "".join(f"{line},{i % 2}\n" for i in range(rows)))
    data.csv_rows(str(EXAMPLE))  # pandas' own first import is no part of the table
    tracemalloc.start()  # counts NumPy's and pandas' arrays, and the bytes and text Python reads
    try:
        assert data.csv_rows(path) == rows
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunks = 4 * data.CHUNK_CELLS * 8  # a chunk's numbers as parsed, as float64, and their masks
    assert chunks < table_bytes / 2 and peak < chunks, f"peak {peak / 2**20:.0f} MiB"
    assert held < 2**20, f"{held / 2**20:.1f} MiB kept after the check"  # the server keeps no table


def test_what_the_server_keeps_of_a_csv_is_its_size_header_and_text_columns(tmp_path):
    path = write(tmp_path, "x,name,label\n1,ab,0\n2,cd,1\n")
    table = data.csv_table(path)
    assert (table.rows, table.columns, table.text) == (2, ("x", "name", "label"), {"name"})


CANNOT_TRAIN = {  # sound tables whose columns cannot train: (text, data section keys)
    "a missing target": ("a,label\n1,0\n2,1\n", {"target": "lable"}),
    "one class": ("a,label\n1,1\n2,1\n3,1\n", {}),
    "a text target for regression": ("a,label\n1,x\n2,y\n3,x\n", {"task": "regression"}),
    "no numeric feature": ("name,label\nx,1\ny,0\nz,1\n", {}),
}


@pytest.mark.parametrize("case", sorted(CANNOT_TRAIN))
def test_check_refuses_what_load_refuses_without_reading_the_features(tmp_path, case):
    text, keys = CANNOT_TRAIN[case]
    cfg = section(name="csv", path=write(tmp_path, text), **keys)
    with pytest.raises(ConfigError) as loaded:
        data.load(cfg)
    with pytest.raises(ConfigError) as checked:
        data.check(cfg)
    assert str(checked.value) == str(loaded.value)


def test_check_passes_a_csv_that_trains():
    data.check(section(name="csv", path=str(EXAMPLE)))


@pytest.mark.parametrize("target", [None, "b", "c"])
def test_the_scripts_csv_reader_reads_what_lrviz_loads(tmp_path, target):
    rows = "\n".join(f"{i},{i % 3},{i * 0.5},{'ab'[i % 2]}" for i in range(40))
    for path in (str(EXAMPLE), write(tmp_path, "a,b,c,label\n" + rows + "\n")):
        cfg = section(name="csv", path=path, target=target if path != str(EXAMPLE) else None)
        X, y, task, k = data.plain_csv(cfg)
        want = data.load(cfg)
        got = data.split(X, y, cfg["seed"], cfg["validation_split"], True)
        for a, b in zip(got, (want.X_train, want.y_train, want.X_val, want.y_val)):
            np.testing.assert_array_equal(a, b)
        assert (task, k) == (want.task, want.n_classes)
