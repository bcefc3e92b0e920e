"""The SQLite run store: runs, incremental reads, rename/delete, recovery, bad folders."""
import os
import sqlite3
import threading

import pytest

from lrviz.params import ConfigError
from lrviz.store import EPOCH_COLUMNS, INSIDE_COLUMNS, STEP_COLUMNS, Store, StoreError, default_home

CFG = {"schedule": {"kind": "constant", "learning_rate": 0.01}}


def steps(first, n, epoch=0):
    return [(s, epoch, 0.01, 1.0 / (s + 1), 0.5 * s) for s in range(first, first + n)]


def test_home_defaults_to_env_or_runs_beside_app(monkeypatch, tmp_path):
    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    assert default_home() == tmp_path
    monkeypatch.delenv("LRVIZ_HOME")
    assert default_home().name == "runs" and (default_home().parent / "lrviz").is_dir()


def test_run_lifecycle(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run(None, CFG, epochs=3, steps_per_epoch=10)
    run = store.run(rid)
    assert (run["name"], run["status"], run["total_steps"]) == (f"run {rid}", "queued", 30)
    assert run["config"] == CFG
    store.set_status(rid, "running", metric="accuracy")
    assert store.run(rid)["started"] and store.run(rid)["metric"] == "accuracy"
    store.set_status(rid, "diverged", "loss became nan at step 7 (epoch 0)")
    run = store.run(rid)
    assert run["status"] == "diverged" and run["finished"] and "step 7" in run["error"]
    assert not store.finish_if_active(rid, "failed", "late")  # a finished run keeps its status
    assert store.run(rid)["status"] == "diverged"
    assert store.run(12345) is None


def test_incremental_reads(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    store.append_steps(rid, steps(0, 5))
    first = store.steps(rid)
    assert first["step"] == [0, 1, 2, 3, 4] and first["loss"][2] == pytest.approx(1 / 3)
    store.append_steps(rid, steps(5, 3, epoch=1))
    assert store.steps(rid, after=first["step"][-1]) == {
        "step": [5, 6, 7], "epoch": [1, 1, 1], "learning_rate": [0.01] * 3, "loss": [1 / 6, 1 / 7, 1 / 8],
        "wall_time": [2.5, 3.0, 3.5], **{c: [None] * 3 for c in INSIDE_COLUMNS}}
    assert store.steps(rid, after=7) == {c: [] for c in STEP_COLUMNS}
    store.append_epochs(rid, [(0, 0.01, 0.5, 0.6, 0.8, 0.7, 0.1), (1, 0.01, 0.4, None, 0.9, None, 0.2)])
    assert store.epochs(rid, after=0)["val_loss"] == [None]
    assert store.last(rid) == (7, 1)


def test_columns_come_back_in_the_one_definitions_order(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    store.append_steps(rid, [(0, 0, 0.01, 0.9, 0.05)])
    store.append_epochs(rid, [(0, 0.01, 0.9, 0.8, 0.6, 0.55, 0.07, 0.85, 0.5)])
    assert STEP_COLUMNS == ("step", "epoch", "learning_rate", "loss", "wall_time", *INSIDE_COLUMNS)
    assert EPOCH_COLUMNS == ("epoch", "learning_rate", "loss", "val_loss", "metric", "val_metric", "wall_time",
                             "val_loss_at_y", "val_metric_at_y")
    assert store.steps(rid) == {c: [v] for c, v in zip(STEP_COLUMNS, (0, 0, 0.01, 0.9, 0.05, *[None] * 14))}
    assert store.epochs(rid) == {c: [v] for c, v in zip(EPOCH_COLUMNS, (0, 0.01, 0.9, 0.8, 0.6, 0.55, 0.07, 0.85, 0.5))}


def test_rows_that_leave_out_the_newer_trailing_columns_store_none(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    store.append_steps(rid, [(0, 0, 0.01, 0.9)])
    store.append_epochs(rid, [(0, 0.01, 0.9, 0.8, 0.6)])
    assert store.steps(rid)["wall_time"] == [None]
    assert store.epochs(rid)["val_metric"] == [None] and store.epochs(rid)["wall_time"] == [None]


OLD_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, error TEXT,
    metric TEXT, epochs INTEGER, steps_per_epoch INTEGER, total_steps INTEGER);
CREATE TABLE steps (
    run_id INTEGER NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL,
    learning_rate REAL, loss REAL, PRIMARY KEY (run_id, step)) WITHOUT ROWID;
CREATE TABLE epochs (
    run_id INTEGER NOT NULL, epoch INTEGER NOT NULL, learning_rate REAL, loss REAL,
    val_loss REAL, metric REAL, wall_time REAL, PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
INSERT INTO runs VALUES (1, 'old', '{}', 'done', 0, 0, 1, NULL, 'accuracy', 1, 2, 2);
INSERT INTO steps VALUES (1, 0, 0, 0.01, 0.7), (1, 1, 0, 0.01, 0.6);
INSERT INTO epochs VALUES (1, 0, 0.01, 0.65, 0.62, 0.8, 1.5);
"""


def test_a_store_file_of_the_old_schema_gains_the_new_columns(tmp_path):
    with sqlite3.connect(tmp_path / "lrviz.sqlite3") as db:
        db.executescript(OLD_SCHEMA)
    db.close()
    store = Store(tmp_path)
    assert store.steps(1) == {"step": [0, 1], "epoch": [0, 0], "learning_rate": [0.01, 0.01], "loss": [0.7, 0.6],
                              "wall_time": [None, None], **{c: [None, None] for c in INSIDE_COLUMNS}}
    assert store.epochs(1) == {"epoch": [0], "learning_rate": [0.01], "loss": [0.65], "val_loss": [0.62],
                               "metric": [0.8], "val_metric": [None], "wall_time": [1.5], "val_loss_at_y": [None],
                               "val_metric_at_y": [None]}
    store.append_epochs(1, [(1, 0.01, 0.5, 0.52, 0.85, 0.83, 2.9)])  # and takes new rows
    assert store.epochs(1, after=0)["val_metric"] == [0.83]


def test_reopening_a_migrated_store_changes_nothing(tmp_path):
    with sqlite3.connect(tmp_path / "lrviz.sqlite3") as db:
        db.executescript(OLD_SCHEMA)
    db.close()
    Store(tmp_path).close()
    again = Store(tmp_path)
    columns = [row[1] for row in again._db().execute("PRAGMA table_info(epochs)")]
    assert columns == ["run_id", *EPOCH_COLUMNS[:5], "wall_time", "val_metric", "val_loss_at_y",
                       "val_metric_at_y"]  # added at the end, once
    assert again.epochs(1)["wall_time"] == [1.5]


def test_a_runs_csv_columns_leave_out_those_only_other_runs_have(tmp_path):
    store = Store(tmp_path)
    adam, schedule_free = store.create_run("adam", CFG), store.create_run("sf", CFG)
    store.append_epochs(adam, [(0, 0.01, 0.9, 0.8, 0.6, 0.55, 0.07)])
    store.append_epochs(schedule_free, [(0, 0.01, 0.9, 0.8, 0.6, 0.55, 0.07, 0.85, None)])
    assert store.columns_of("epochs", adam) == EPOCH_COLUMNS[:7]
    assert store.columns_of("epochs", schedule_free) == EPOCH_COLUMNS[:8]
    assert list(store.stream("epochs", schedule_free, columns=EPOCH_COLUMNS[:8])) == \
        [[(0, 0.01, 0.9, 0.8, 0.6, 0.55, 0.07, 0.85)]]


def test_rename_and_delete_with_metrics(tmp_path):
    store = Store(tmp_path)
    keep, gone = store.create_run("keep", CFG), store.create_run("gone", CFG)
    for rid in (keep, gone):
        store.append_steps(rid, steps(0, 4))
        store.append_epochs(rid, [(0, 0.01, 0.5, 0.6, 0.8, 0.7, 0.1)])
    store.rename(keep, "kept run")
    store.delete(gone)
    assert [r["name"] for r in store.runs()] == ["kept run"]
    assert store.steps(gone)["step"] == [] and store.epochs(gone)["epoch"] == []
    assert store.steps(keep)["step"] == [0, 1, 2, 3]


def test_recover_marks_unfinished_runs_interrupted(tmp_path):
    store = Store(tmp_path)
    running, queued, done = (store.create_run(n, CFG) for n in "abc")
    store.set_status(running, "running")
    store.set_status(done, "done")
    store.append_steps(running, steps(0, 3))
    store.close()
    reopened = Store(tmp_path)
    assert sorted(reopened.recover()) == [running, queued]
    status = {r["id"]: r["status"] for r in reopened.runs()}
    assert status == {running: "interrupted", queued: "interrupted", done: "done"}
    assert reopened.steps(running)["step"] == [0, 1, 2]  # metrics survive the restart


def test_recover_leaves_the_runs_of_a_live_executor_alone(tmp_path):
    """A CLI sweep beside the page: opening the store again must not interrupt its runs."""
    import subprocess
    import sys

    from lrviz.store import owner_id

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = owner_id().rpartition(":")[0]
    store = Store(tmp_path)
    mine = store.create_run("this process's", CFG, owner=owner_id())
    dead = store.create_run("a dead process's", CFG, owner=f"{host}:{gone.stdout.strip()}")
    elsewhere = store.create_run("another host's", CFG, owner="elsewhere:1")
    old = store.create_run("from before owners", CFG)
    assert sorted(Store(tmp_path).recover()) == [dead, old]
    status = {r["id"]: r["status"] for r in store.runs()}
    assert (status[mine], status[elsewhere]) == ("queued", "queued")


def test_concurrent_writers_and_readers(tmp_path):
    store = Store(tmp_path)
    ids = [store.create_run(f"r{i}", CFG) for i in range(4)]
    errors = []

    def write(rid):
        try:
            for chunk in range(20):
                store.append_steps(rid, steps(chunk * 50, 50))
                store.steps(ids[0], after=-1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(store.steps(rid)["step"]) == 1000 for rid in ids)
    assert store._db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_in_place_of_the_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as err:
        Store(blocker / "runs")
    assert err.value.field == "LRVIZ_HOME" and "writable" in str(err.value)


def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o500)
    if os.geteuid() == 0:  # root writes anyway; ask the permission check what a user would get
        monkeypatch.setattr(os, "access", lambda path, mode: False)
    try:
        with pytest.raises(StoreError, match="read-only"):
            Store(home)
    finally:
        home.chmod(0o700)


def test_write_errors_become_store_errors(tmp_path, monkeypatch):
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    import sqlite3

    class Full:
        in_transaction = False

        def execute(self, sql, *args):
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "_db", lambda: Full())
    with pytest.raises(StoreError, match="full"):
        store.append_steps(rid, steps(0, 2))


def test_metric_rows_for_a_deleted_run_are_refused_and_leave_no_row(tmp_path):
    # A worker's last flush after the run was deleted must not recreate orphan rows.
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    store.append_steps(rid, steps(0, 3))
    store.delete(rid)
    for append, rows in ((store.append_steps, steps(3, 2)), (store.append_epochs, [(0, 0.01, 0.5, 0.6, 0.8, 0.7, 0.1)])):
        with pytest.raises(ConfigError, match=f"run {rid} no longer exists"):
            append(rid, rows)
    assert store.steps(rid)["step"] == [] and store.epochs(rid)["epoch"] == []


def test_a_status_set_on_a_deleted_run_changes_nothing(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    store.delete(rid)
    store.set_status(rid, "stopped")
    assert not store.finish_if_active(rid, "failed", "late")
    assert store.run(rid) is None and store.runs() == []


def test_renaming_a_deleted_run_says_it_no_longer_exists(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("a", CFG)
    store.delete(rid)
    with pytest.raises(ConfigError) as err:
        store.rename(rid, "too late")
    assert err.value.value == rid and f"run {rid} no longer exists (it was deleted)" in str(err.value)
    assert store.runs() == []


BIDI_AND_ZERO_WIDTH = "\u202e\u200b\u2066\ufeff\u00ad\x07\t"  # Cf and Cc characters


def test_run_names_lose_control_and_format_characters_and_surrounding_spaces(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run(f"  my\u202e run{BIDI_AND_ZERO_WIDTH} 2 ", CFG)
    assert store.run(rid)["name"] == "my run 2"
    store.rename(rid, "\u200bfinal\u202dcut\n")
    assert store.run(rid)["name"] == "finalcut"


def test_a_name_that_is_only_invisible_characters_gets_the_automatic_name(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run(f" {BIDI_AND_ZERO_WIDTH} ", CFG)
    assert store.run(rid)["name"] == f"run {rid}"


def test_renaming_to_only_invisible_characters_is_refused_naming_the_field(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("kept", CFG)
    with pytest.raises(ConfigError) as err:
        store.rename(rid, "\u200b\u200b \u202e")
    assert err.value.field == "name" and "visible character" in err.value.allowed
    assert store.run(rid)["name"] == "kept"
