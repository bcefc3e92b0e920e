"""The run store: runs, their per-step and per-epoch metrics, in one SQLite file (WAL).

It is both the record and the channel: workers append metrics in batches, the page reads
only the rows after the last one it has. One connection per thread and process; WAL lets
readers go on while a worker writes, busy_timeout makes concurrent writers wait their turn.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import unicodedata
from contextlib import contextmanager
from pathlib import Path

from .params import ConfigError

STATUSES = ("queued", "running", "done", "stopped", "diverged", "failed", "interrupted")
FINISHED = ("done", "stopped", "diverged", "failed", "interrupted")
# The one definition of a metric row: train.run's sink, the worker's batches, the tables and
# every reader use these tuples in this order. wall_time: seconds since training began when the
# step (the epoch, its validation included) finished. metric / val_metric: accuracy or MAE,
# as the run's `metric` says; val_ columns are None without validation data.
MAX_LAYERS = 9  # Dense layers: config's 8 hidden ones at most, and the head
# Inside the optimizer at each step (lrviz.inside): the gradient's norm, Adam's bias-correction
# factor, the median, 90th percentile and largest per-parameter step |Δθ|, and each Dense
# layer's update-to-weight ratio ‖Δθ‖/‖θ‖ (update_ratio_1 is the first hidden layer).
INSIDE_COLUMNS = ("grad_norm", "bias_correction", "step_median", "step_p90", "step_max",
                  *(f"update_ratio_{i}" for i in range(1, MAX_LAYERS + 1)))
STEP_COLUMNS = ("step", "epoch", "learning_rate", "loss", "wall_time", *INSIDE_COLUMNS)
INSIDE_READ = ("step", "first", "wall_time", *INSIDE_COLUMNS)  # Store.inside's columns
EPOCH_COLUMNS = ("epoch", "learning_rate", "loss", "val_loss", "metric", "val_metric", "wall_time",
                 "val_loss_at_y", "val_metric_at_y")
# Columns only some runs have (None in all of another run's rows): a run's CSV leaves them out
# where it has none (a run of fewer layers, a run recorded before they existed). _at_y: schedule-free AdamW's validation at its training point y (its
# val_loss and val_metric are at the average x, where the method is meant to be evaluated).
SOME_RUNS = ("val_loss_at_y", "val_metric_at_y", *INSIDE_COLUMNS)
# A run's steps summarised in at most SUMMARY_BUCKETS buckets of bucket_width(total_steps)
# consecutive steps, kept as rows arrive: what the charts draw, read in milliseconds however
# long the run. A chart draws each bucket's lowest and highest value (figures.MAX_POINTS in all,
# about two per pixel column, as a line through every step would cover it). Downloads read the
# exact rows.
SUMMARY_BUCKETS = 1000
SUMMARY_COLUMNS = ("bucket", "step_first", "step_last", "n", "lr_min", "lr_max", "loss_min", "loss_max",
                   "loss_sum", "loss_n", "wall_min", "wall_max")
RUN_COLUMNS = ("id", "name", "config", "status", "created", "started", "finished", "error", "metric",
               "epochs", "steps_per_epoch", "total_steps", "group_id", "cell", "node", "owner", "visitor", "exercise")
# An experiment's runs share a group: kind is range_test, seeds, ab or sweep; spec is what was
# asked (JSON); a run's cell is its place in it (a JSON list: the grid's values, or the arm).
GROUP_COLUMNS = ("id", "kind", "name", "spec", "created", "visitor")
# owner: the executor process that queued a run (recover() leaves a live one's runs alone).
# visitor: who started it on the page (lrviz.visitors; None: the command line, the host);
# exercise: the exercise link they came by (lrviz.exercises).

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, error TEXT,
    metric TEXT, epochs INTEGER, steps_per_epoch INTEGER, total_steps INTEGER, group_id INTEGER, cell TEXT,
    node TEXT, owner TEXT, visitor TEXT, exercise TEXT);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL,
    created REAL NOT NULL, visitor TEXT);
CREATE TABLE IF NOT EXISTS exercises (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL, hidden TEXT NOT NULL, locked TEXT NOT NULL,
    visitor TEXT, created REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants (
    visitor TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (visitor, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS steps (
    run_id INTEGER NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL,
    learning_rate REAL, loss REAL, wall_time REAL, {INSIDE}, PRIMARY KEY (run_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL, epoch INTEGER NOT NULL, learning_rate REAL, loss REAL,
    val_loss REAL, metric REAL, val_metric REAL, wall_time REAL, val_loss_at_y REAL, val_metric_at_y REAL,
    PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS views (
    run_id INTEGER NOT NULL, epoch INTEGER NOT NULL, meta TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    run_id INTEGER NOT NULL, bucket INTEGER NOT NULL, step_first INTEGER NOT NULL, step_last INTEGER NOT NULL,
    n INTEGER NOT NULL, lr_min REAL, lr_max REAL, loss_min REAL, loss_max REAL, loss_sum REAL NOT NULL,
    loss_n INTEGER NOT NULL, wall_min REAL, wall_max REAL, PRIMARY KEY (run_id, bucket)) WITHOUT ROWID;
""".replace("{INSIDE}", ", ".join(f"{c} REAL" for c in INSIDE_COLUMNS))
# Columns added since the first schema: a store file written before them gains them on open
# (their old rows read None).
ADDED_COLUMNS = {"steps": (("wall_time", "REAL"), *((c, "REAL") for c in INSIDE_COLUMNS)),
                 "epochs": (("val_metric", "REAL"), ("val_loss_at_y", "REAL"), ("val_metric_at_y", "REAL")),
                 "runs": (("group_id", "INTEGER"), ("cell", "TEXT"), ("node", "TEXT"), ("owner", "TEXT"),
                          ("visitor", "TEXT"), ("exercise", "TEXT")),
                 "groups": (("visitor", "TEXT"),)}


class StoreError(ConfigError):
    """The store's folder cannot be used (read-only, full, not a folder): says which and why."""

    def __init__(self, path, reason: str):
        super().__init__("LRVIZ_HOME", str(path),
                         f"{reason}; set LRVIZ_HOME to a writable folder with free space")



class RunGone(ConfigError):
    """A write to a run that was deleted (by another page, or while its worker was stopping)."""

    def __init__(self, run_id: int):
        super().__init__("run", run_id, f"run {run_id} no longer exists (it was deleted)")


def owner_id() -> str:
    """This process, as the owner of the runs it queues: host and process id."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str | None) -> bool:
    """Whether the process that queued a run still runs (one on another host: assumed so)."""
    if not owner:
        return False  # written before owners were kept
    import socket

    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class GroupGone(ConfigError):
    """The experiment a run was to join was deleted meanwhile."""

    def __init__(self, group_id: int):
        super().__init__("group", group_id, "this experiment was deleted")


def clean_name(name: str | None) -> str:
    """A run name as it is stored: control and format characters go (a bidi override shows
    text reversed, zero-width ones make a name look empty or like another), and so does
    surrounding whitespace; plain spaces inside stay."""
    return "".join(c for c in name or "" if unicodedata.category(c) not in ("Cc", "Cf")).strip()


def default_home() -> Path:
    return Path(os.environ.get("LRVIZ_HOME") or Path(__file__).resolve().parents[1] / "runs")


class Store:
    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home else default_home()
        self.path = self.home / "lrviz.sqlite3"
        self._local = threading.local()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(self.home, f"cannot create the run folder ({exc.strerror or exc})") from None
        if not os.access(self.home, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise StoreError(self.home, "the run store is read-only")
        try:
            self._db().executescript(SCHEMA)
            self._add_missing_columns()
            self._db().execute("CREATE INDEX IF NOT EXISTS runs_group ON runs (group_id)")  # after: old files gain group_id
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def _add_missing_columns(self) -> None:
        if not self._missing_columns(self._db()):
            return  # the usual case: no write lock taken just to open the store
        with self._write() as db:  # asked again under the lock: two processes may open an old file
            for table, name, kind in self._missing_columns(db):
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    @staticmethod
    def _missing_columns(db) -> list[tuple[str, str, str]]:
        have = {t: {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in ADDED_COLUMNS}
        return [(t, name, kind) for t, cols in ADDED_COLUMNS.items() for name, kind in cols if name not in have[t]]

    # --- connections ---------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.execute("PRAGMA busy_timeout = 30000")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc) from None
            self._local.db, self._local.pid = db, os.getpid()
        return db

    @contextmanager
    def _write(self):
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def _read(self, sql: str, args=()) -> list[tuple]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- runs ----------------------------------------------------------------------------

    def create_run(self, name: str | None, config: dict, epochs: int | None = None,
                   steps_per_epoch: int | None = None, group_id: int | None = None, cell: list | None = None,
                   owner: str | None = None, visitor: str | None = None, exercise: str | None = None) -> int:
        """owner: the executor process that queued it (owner_id()): recover() leaves a live one's runs.
        visitor: who asked for it (lrviz.visitors), in which exercise (lrviz.exercises)."""
        total = epochs * steps_per_epoch if epochs and steps_per_epoch else None
        name = clean_name(name)
        with self._write() as db:
            if group_id is not None and not db.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone():
                raise GroupGone(group_id)
            cur = db.execute(
                "INSERT INTO runs (name, config, status, created, epochs, steps_per_epoch, total_steps, group_id, cell,"
                " owner, visitor, exercise) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name or "", json.dumps(config), time.time(), epochs, steps_per_epoch, total, group_id,
                 None if cell is None else json.dumps(cell), owner, visitor, exercise))
            run_id = cur.lastrowid
            if not name:
                db.execute("UPDATE runs SET name = ? WHERE id = ?", (f"run {run_id}", run_id))
        return run_id

    def set_status(self, run_id: int, status: str, error: str | None = None,
                   metric: str | None = None, node: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        now = time.time()
        with self._write() as db:  # a deleted run has no row to update: nothing is written
            db.execute(
                "UPDATE runs SET status = ?, error = ?, metric = COALESCE(?, metric), node = COALESCE(?, node),"
                " started = CASE WHEN ? = 'running' THEN ? ELSE started END,"
                " finished = CASE WHEN ? IN (%s) THEN ? ELSE finished END WHERE id = ?"
                % ",".join("?" * len(FINISHED)),
                (status, error, metric, node, status, now, status, *FINISHED, now, run_id))

    def finish_if_active(self, run_id: int, status: str, error: str | None = None) -> bool:
        """Set a final status only if the run is still queued or running (no one finished it)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE runs SET status = ?, error = ?, finished = ? WHERE id = ?"
                " AND status IN ('queued', 'running')", (status, error, time.time(), run_id))
        return cur.rowcount > 0

    def recover(self) -> list[int]:
        """Runs left queued or running by an executor process that is gone become 'interrupted'.
        Those of a live one (a CLI sweep beside the page, the page beside it) are left alone."""
        with self._write() as db:
            rows = db.execute("SELECT id, owner FROM runs WHERE status IN ('queued', 'running')").fetchall()
            ids = [run_id for run_id, owner in rows if not _alive(owner)]
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                db.execute("UPDATE runs SET status = 'interrupted', finished = ?,"
                           " error = COALESCE(error, 'the app stopped before the run finished')"
                           f" WHERE id IN ({','.join('?' * len(part))})", (time.time(), *part))
        return ids

    def runs(self, visitor: str | None = ..., single: bool = False, exercise: str | None = None) -> list[dict]:
        """Every run, oldest first; or only a visitor's (None: the host's); single: only runs
        outside an experiment; exercise: only the runs done in that exercise."""
        where, args = ["1"], []
        if visitor is not ...:
            where, args = [*where, "visitor IS ?"], [*args, visitor]
        if single:
            where.append("group_id IS NULL")
        if exercise is not None:
            where, args = [*where, "exercise = ?"], [*args, exercise]
        rows = self._read(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE {' AND '.join(where)} ORDER BY id", args)
        return [_run_dict(r) for r in rows]

    def run(self, run_id: int) -> dict | None:
        rows = self._read(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,))
        return _run_dict(rows[0]) if rows else None

    def rename(self, run_id: int, name: str) -> None:
        shown = clean_name(name)
        if not shown:
            raise ConfigError("name", name, "allowed: any text with at least one visible character (control,"
                                            " format and zero-width characters are removed)")
        with self._write() as db:
            if db.execute("UPDATE runs SET name = ? WHERE id = ?", (shown, run_id)).rowcount == 0:
                raise RunGone(run_id)  # deleted by another page meanwhile: the rename must not vanish silently

    def delete(self, run_id: int) -> None:
        with self._write() as db:
            for table, key in (("steps", "run_id"), ("buckets", "run_id"), ("epochs", "run_id"), ("views", "run_id"),
                               ("runs", "id")):
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (run_id,))

    # --- experiments: groups of runs ------------------------------------------------------

    def create_group(self, kind: str, name: str | None, spec: dict, visitor: str | None = None) -> int:
        with self._write() as db:
            cur = db.execute("INSERT INTO groups (kind, name, spec, created, visitor) VALUES (?, ?, ?, ?, ?)",
                             (kind, clean_name(name) or "", json.dumps(spec), time.time(), visitor))
            if not clean_name(name):
                db.execute("UPDATE groups SET name = ? WHERE id = ?", (f"{kind} {cur.lastrowid}", cur.lastrowid))
        return cur.lastrowid

    def groups(self, kind: str | None = None, visitor: str | None = ...) -> list[dict]:
        """Experiments, oldest first: of one kind, or all; a visitor's (None: the host's), or everyone's."""
        where, args = ["1"], []
        if kind:
            where, args = [*where, "kind = ?"], [*args, kind]
        if visitor is not ...:
            where, args = [*where, "visitor IS ?"], [*args, visitor]
        rows = self._read(f"SELECT {', '.join(GROUP_COLUMNS)} FROM groups WHERE {' AND '.join(where)} ORDER BY id", args)
        return [_group_dict(r) for r in rows]

    def group(self, group_id: int) -> dict | None:
        rows = self._read(f"SELECT {', '.join(GROUP_COLUMNS)} FROM groups WHERE id = ?", (group_id,))
        return _group_dict(rows[0]) if rows else None

    def group_runs(self, group_id: int) -> list[dict]:
        rows = self._read(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE group_id = ? ORDER BY id", (group_id,))
        return [_run_dict(r) for r in rows]

    def delete_group(self, group_id: int) -> None:
        """The group and every run in it (an executor stops its runs first: Executor.delete)."""
        with self._write() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM runs WHERE group_id = ?", (group_id,))]
            db.execute("DELETE FROM groups WHERE id = ?", (group_id,))
        for run_id in ids:
            self.delete(run_id)

    # --- exercise links ------------------------------------------------------------------------

    def create_exercise(self, ident: str, name: str, config: dict, hidden: list, locked: list,
                        visitor: str | None) -> None:
        with self._write() as db:
            db.execute("INSERT INTO exercises (id, name, config, hidden, locked, visitor, created)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", (ident, clean_name(name), json.dumps(config),
                                                          json.dumps(hidden), json.dumps(locked), visitor, time.time()))

    def exercises_by(self, visitor: str | None) -> list[tuple[str, str]]:
        """(id, name) of the exercises a visitor made, newest first."""
        return self._read("SELECT id, name FROM exercises WHERE visitor IS ? ORDER BY created DESC", (visitor,))

    def exercise_files(self) -> set[str]:
        """The CSVs exercises train on (lrviz.uploads keeps them)."""
        return {json.loads(c)["data"].get("path") for (c,) in self._read("SELECT config FROM exercises")} - {None}

    def exercise(self, ident: str) -> dict | None:
        rows = self._read("SELECT id, name, config, hidden, locked, visitor FROM exercises WHERE id = ?", (ident,))
        if not rows:
            return None
        ident, name, config, hidden, locked, visitor = rows[0]
        return {"id": ident, "name": name, "config": json.loads(config), "hidden": json.loads(hidden),
                "locked": json.loads(locked), "visitor": visitor}

    # --- uploads a visitor may read ----------------------------------------------------------

    def grant(self, visitor: str, name: str) -> None:
        """The visitor uploaded this CSV (lrviz.uploads), or opened an exercise that trains on it."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO grants (visitor, name) VALUES (?, ?)", (visitor, name))

    def granted(self, visitor: str, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM grants WHERE visitor = ? AND name = ?", (visitor, name)))

    def finals(self, run_ids) -> dict[int, dict]:
        """Per run: its last epoch's loss, val_loss, metric and val_metric, and its lowest val_loss."""
        ids = list(run_ids)
        out = {}
        for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self._read(
                "SELECT e.run_id, e.epoch, e.loss, e.val_loss, e.metric, e.val_metric, b.best FROM epochs e"
                " JOIN (SELECT run_id, MAX(epoch) AS last, MIN(val_loss) AS best FROM epochs"
                f" WHERE run_id IN ({marks}) GROUP BY run_id) b ON e.run_id = b.run_id AND e.epoch = b.last",
                part)
            for run_id, epoch, loss, val_loss, metric, val_metric, best in rows:
                out[run_id] = {"epochs": epoch + 1, "final_loss": loss, "final_val_loss": val_loss,
                               "best_val_loss": best, "final_metric": metric, "final_val_metric": val_metric}
        return out

    # --- metrics -------------------------------------------------------------------------

    def append_steps(self, run_id: int, rows) -> None:
        """rows: tuples in STEP_COLUMNS order."""
        self._append("steps", STEP_COLUMNS, run_id, rows)

    def append_epochs(self, run_id: int, rows) -> None:
        """rows: tuples in EPOCH_COLUMNS order."""
        self._append("epochs", EPOCH_COLUMNS, run_id, rows)

    def _append(self, table: str, columns: tuple, run_id: int, rows) -> None:
        # Trailing columns a row leaves out are stored NULL, as in a file written before they
        # existed: a worker of the previous version can still hand its rows over.
        rows = [(run_id, *r, *(None,) * (len(columns) - len(r))) for r in rows]
        if rows:
            names = ", ".join(("run_id", *columns))
            marks = ", ".join("?" * (len(columns) + 1))
            with self._write() as db:
                # Checked in the same transaction as the insert: a worker's last flush after a
                # delete would otherwise leave rows that no run owns and nothing removes.
                if not db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                    raise RunGone(run_id)
                db.executemany(f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})", rows)
                if table == "steps":
                    self._add_buckets(db, run_id, rows)

    def append_views(self, run_id: int, rows) -> None:
        """rows: (epoch, JSON of the extent and shape, the predictions' bytes): lrviz.model_view's encoding."""
        rows = [(run_id, *r) for r in rows]
        if rows:
            with self._write() as db:
                if not db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                    raise RunGone(run_id)
                db.executemany("INSERT OR REPLACE INTO views (run_id, epoch, meta, data) VALUES (?, ?, ?, ?)", rows)

    def view_epochs(self, run_id: int) -> list[int]:
        return [r[0] for r in self._read("SELECT epoch FROM views WHERE run_id = ? ORDER BY epoch", (run_id,))]

    def views(self, run_id: int, epochs) -> list[tuple]:
        """(epoch, meta JSON, bytes) of those epochs of the run that it recorded, in order (model_view.decode)."""
        out = []
        epochs = list(epochs)
        for start in range(0, len(epochs), 500):  # SQLite's limit on bound parameters
            part = epochs[start:start + 500]
            out += self._read(f"SELECT epoch, meta, data FROM views WHERE run_id = ? AND epoch IN "
                              f"({','.join('?' * len(part))}) ORDER BY epoch", (run_id, *part))
        return out

    def steps(self, run_id: int, after: int = -1) -> dict[str, list]:
        """Columns of the steps after `after`, in order: {"step": [...], "epoch": [...], ...}."""
        return self._columns("steps", "step", STEP_COLUMNS, run_id, after)

    def epochs(self, run_id: int, after: int = -1) -> dict[str, list]:
        return self._columns("epochs", "epoch", EPOCH_COLUMNS, run_id, after)

    def _columns(self, table, key, columns, run_id, after) -> dict[str, list]:
        rows = self._read(f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ? AND {key} > ?"
                          f" ORDER BY {key}", (run_id, after))
        return {c: list(v) for c, v in zip(columns, zip(*rows))} if rows else {c: [] for c in columns}

    # --- the charts' summary and the exact rows for downloads ------------------------------

    def summary(self, run_id: int, after: int = -1) -> dict[str, list]:
        """Columns of the run's buckets from bucket `after` on (it may have grown since it was
        read), in SUMMARY_COLUMNS order. A run stored before buckets existed gets them here, once."""
        rows = self._read(f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM buckets WHERE run_id = ? AND bucket >= ?"
                          " ORDER BY bucket", (run_id, after))
        if not rows and after < 0 and self._read("SELECT 1 FROM steps WHERE run_id = ? LIMIT 1", (run_id,)):
            self._summarise_stored(run_id)
            return self.summary(run_id, after)
        return {c: list(v) for c, v in zip(SUMMARY_COLUMNS, zip(*rows))} if rows else {c: [] for c in SUMMARY_COLUMNS}

    def inside(self, run_id: int, width: int, after: int = -1) -> dict[str, list]:
        """INSIDE_READ columns of the steps after `after`: wall_time and INSIDE_COLUMNS, each the
        mean over its bucket of `width` steps (the step itself at width 1; NULLs left out), with
        "step" the bucket's middle step and "first" its first: what the charts draw, however long
        the run."""
        means = ", ".join(f"AVG({c})" for c in ("wall_time", *INSIDE_COLUMNS))
        rows = self._read(f"SELECT (MIN(step) + MAX(step)) / 2.0, MIN(step), {means} FROM steps"
                          " WHERE run_id = ? AND step > ? GROUP BY step / ? ORDER BY step / ?",
                          (run_id, after, width, width))
        names = INSIDE_READ
        return {c: list(v) for c, v in zip(names, zip(*rows))} if rows else {c: [] for c in names}

    def _add_buckets(self, db, run_id: int, rows: list[tuple]) -> None:
        """Fold step rows (run_id first, as _append holds them) into their buckets, inside
        _append's transaction: the summary never lags or leads the steps."""
        total = db.execute("SELECT total_steps FROM runs WHERE id = ?", (run_id,)).fetchone()
        width = bucket_width(total[0] if total else None)
        marks = ", ".join("?" * (len(SUMMARY_COLUMNS) + 1))
        db.executemany(f"INSERT INTO buckets (run_id, {', '.join(SUMMARY_COLUMNS)}) VALUES ({marks})"
                       f" ON CONFLICT (run_id, bucket) DO UPDATE SET {_MERGE}",
                       [(run_id, *b) for b in _buckets(rows, width)])

    def _summarise_stored(self, run_id: int) -> None:
        # SQL's MIN, MAX and TOTAL skip NULLs as _buckets skips NaNs: the same buckets.
        with self._write() as db:
            if db.execute("SELECT 1 FROM buckets WHERE run_id = ? LIMIT 1", (run_id,)).fetchone():
                return  # another reader did it first
            total = db.execute("SELECT total_steps FROM runs WHERE id = ?", (run_id,)).fetchone()
            width = bucket_width(total[0] if total else None)
            db.execute(f"INSERT INTO buckets (run_id, {', '.join(SUMMARY_COLUMNS)}) SELECT run_id, step / ?,"
                       " MIN(step), MAX(step), COUNT(*), MIN(learning_rate), MAX(learning_rate), MIN(loss),"
                       " MAX(loss), TOTAL(loss), COUNT(loss), MIN(wall_time), MAX(wall_time) FROM steps"
                       " WHERE run_id = ? GROUP BY step / ?", (width, run_id, width))

    def columns_of(self, table: str, run_id: int) -> tuple[str, ...]:
        """The columns of "steps" or "epochs" that the run has: all but those of SOME_RUNS it has
        no value in."""
        columns = {"steps": STEP_COLUMNS, "epochs": EPOCH_COLUMNS}[table]
        some = [c for c in columns if c in SOME_RUNS]
        held = self._read(f"SELECT {', '.join(f'COUNT({c})' for c in some)} FROM {table} WHERE run_id = ?",
                          (run_id,))[0] if some else ()
        empty = {c for c, n in zip(some, held) if not n}
        return tuple(c for c in columns if c not in empty)

    def stream(self, table: str, run_id: int, chunk: int = 65_536, columns: tuple[str, ...] | None = None):
        """The run's exact rows of "steps" or "epochs" (tuples in STEP_COLUMNS / EPOCH_COLUMNS
        order, or of `columns`, the key first), in lists of at most `chunk` rows: a download of two
        million steps never holds them all."""
        key, every = {"steps": ("step", STEP_COLUMNS), "epochs": ("epoch", EPOCH_COLUMNS)}[table]
        columns = columns or every
        after = -1
        while True:
            rows = self._read(f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ? AND {key} > ?"
                              f" ORDER BY {key} LIMIT ?", (run_id, after, chunk))
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def last(self, run_id: int) -> tuple[int, int]:
        """(last step, last complete epoch) recorded, -1 when none: what progress shows."""
        step = self._read("SELECT MAX(step) FROM steps WHERE run_id = ?", (run_id,))[0][0]
        epoch = self._read("SELECT MAX(epoch) FROM epochs WHERE run_id = ?", (run_id,))[0][0]
        return (-1 if step is None else step), (-1 if epoch is None else epoch)


def bucket_width(total_steps: int | None) -> int:
    """Steps per summary bucket: 1 (every step exact) up to SUMMARY_BUCKETS steps."""
    return max(1, -(-(total_steps or 0) // SUMMARY_BUCKETS))


# Merging a batch's bucket into the stored one. SQLite's two-argument min() and max() are NULL
# when either side is (a NaN is stored as NULL): coalesce makes a missing side the other one.
_MERGE = ", ".join(
    [f"{c} = {f}(coalesce({c}, excluded.{c}), coalesce(excluded.{c}, {c}))"
     for c, f in (("step_first", "min"), ("step_last", "max"), ("lr_min", "min"), ("lr_max", "max"),
                  ("loss_min", "min"), ("loss_max", "max"), ("wall_min", "min"), ("wall_max", "max"))]
    + [f"{c} = {c} + excluded.{c}" for c in ("n", "loss_sum", "loss_n")])


def _buckets(rows: list[tuple], width: int) -> list[tuple]:
    """SUMMARY_COLUMNS rows of the buckets that step rows (run_id, *STEP_COLUMNS) fall in.
    NaN-aware: a missing value is left out of min, max and mean, and a bucket of none is NULL."""
    import numpy as np

    a = np.array([r[1:len(STEP_COLUMNS) + 1] for r in rows], dtype=np.float64)  # None becomes NaN
    a = a[np.argsort(a[:, 0], kind="stable")]
    step, lr, loss, wall = a[:, 0], a[:, 2], a[:, 3], a[:, 4]
    bucket = step.astype(np.int64) // width
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    finite = ~np.isnan(loss)

    def each(ufunc, values, whole=False):
        with np.errstate(invalid="ignore"):
            out = ufunc.reduceat(values, starts)
        return out.astype(np.int64).tolist() if whole else [None if v != v else v for v in out.tolist()]

    return list(zip(bucket[starts].tolist(), step[starts].astype(np.int64).tolist(), each(np.maximum, step, True),
                    np.diff(np.r_[starts, len(bucket)]).tolist(), each(np.fmin, lr), each(np.fmax, lr),
                    each(np.fmin, loss), each(np.fmax, loss), each(np.add, np.where(finite, loss, 0.0)),
                    each(np.add, finite.astype(np.int64), True), each(np.fmin, wall), each(np.fmax, wall)))


def _group_dict(row: tuple) -> dict:
    out = dict(zip(GROUP_COLUMNS, row))
    out["spec"] = json.loads(out["spec"])
    return out


def _run_dict(row: tuple) -> dict:
    out = dict(zip(RUN_COLUMNS, row))
    out["config"] = json.loads(out["config"])
    out["cell"] = None if out["cell"] is None else json.loads(out["cell"])
    return out


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        why = "is read-only"
    elif "full" in text:
        why = "is full (no space left for the run store)"
    elif "unable to open" in text:
        why = "cannot be opened (missing, not a folder, or no permission)"
    elif "locked" in text or "busy" in text:
        why = "is locked by another process for too long"
    else:
        why = f"failed: {text}"
    return StoreError(path, f"the run store {why}")
