"""The spawned pool, through the executor contract: queueing, Stop, a killed worker, restart
recovery, shutdown.

One pool with one worker serves the whole module (a worker pays ~5 s of TensorFlow import).
"""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from lrviz.pool import Pool, worker_count
from lrviz.schedules import make
from lrviz.store import Store
from lrviz.visitors import Visitor
from lrviz.worker import FLUSH_S

pytestmark = pytest.mark.timeout(300)

SHORT = {"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200},
         "training": {"epochs": 3}}
LONG = {"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200},
        "training": {"epochs": 10_000}}


def wait_for(predicate):
    """Poll until true; pytest-timeout, not this test, decides how long is too long."""
    while not (value := predicate()):
        time.sleep(0.02)
    return value


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("engine-home")


@pytest.fixture(scope="module")
def left_running(home):
    store = Store(home)  # a run a crashed app left behind
    rid = store.create_run("orphan", SHORT, 3, 5)
    store.set_status(rid, "running")
    return rid


@pytest.fixture(scope="module")
def engine(home, left_running):
    eng = Pool(home, max_workers=1)
    eng.wait_ready()
    yield eng
    pids = eng.workers()
    eng.shutdown()
    assert not any(_alive(pid) for pid in pids)


def _alive(pid):
    try:  # a zombie that nobody reaped yet has ended too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def status(engine, rid):
    return engine.progress(rid).status


def finished(engine, rid):
    return status(engine, rid) not in ("queued", "running")


def test_restart_marks_runs_left_running_interrupted(engine, left_running):
    assert engine.progress(left_running).status == "interrupted"


def test_a_run_trains_and_reports_progress(engine):
    rid = engine.submit(SHORT, name="short")
    wait_for(lambda: finished(engine, rid))
    p = engine.progress(rid)
    assert p.status == "done" and p.error is None
    assert (p.epoch, p.epochs, p.step, p.total_steps) == (3, 3, 15, 15)
    assert engine.store.run(rid)["metric"] == "accuracy" and engine.store.run(rid)["name"] == "short"
    assert len(engine.store.steps(rid)["step"]) == 15 and len(engine.store.epochs(rid)["epoch"]) == 3


def test_the_worker_stores_wall_time_per_step_and_val_metric_per_epoch(engine):
    rid = engine.submit(SHORT)
    wait_for(lambda: finished(engine, rid))
    steps, epochs = engine.store.steps(rid), engine.store.epochs(rid)
    assert all(w > 0 for w in steps["wall_time"]) and steps["wall_time"] == sorted(steps["wall_time"])
    assert all(0 <= v <= 1 for v in epochs["val_metric"]) and len(epochs["val_metric"]) == 3


def test_queue_beyond_the_cap_then_both_finish(engine):
    first, second = engine.submit(LONG), engine.submit(SHORT)
    assert engine.progress(second).queue_position == 1 and status(engine, second) == "queued"
    wait_for(lambda: engine.store.steps(first)["step"])
    assert engine.progress(first).queue_position is None and status(engine, first) == "running"
    assert engine.progress(first).eta_s is not None
    engine.stop(first)
    wait_for(lambda: finished(engine, second))
    assert status(engine, first) == "stopped" and status(engine, second) == "done"


def test_stop_keeps_metrics_and_cancels_queued_runs(engine):
    # Other data: it cannot join the first run's job (executor.stack_key) when the worker is
    # still busy at the first submit, so it waits in the queue.
    other = {**LONG, "data": {**LONG["data"], "seed": 1}}
    running, queued = engine.submit(LONG), engine.submit(other)
    wait_for(lambda: len(engine.store.steps(running)["step"]) >= 10)
    engine.stop(queued)
    assert status(engine, queued) == "stopped" and queued not in engine.active()
    engine.stop(running)
    wait_for(lambda: finished(engine, running))
    assert status(engine, running) == "stopped"
    assert len(engine.store.steps(running)["step"]) >= 10


def test_killed_worker_fails_its_run_and_is_replaced(engine):
    victim, after = engine.submit(LONG), engine.submit(SHORT)
    wait_for(lambda: engine.store.steps(victim)["step"])
    (pid,) = engine.workers()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: finished(engine, victim))
    p = engine.progress(victim)
    assert p.status == "failed" and p.error == "worker process died (signal 9)" and p.step > 0
    wait_for(lambda: finished(engine, after))
    assert status(engine, after) == "done"
    assert len(engine.workers()) == 1 and engine.workers() != [pid]


def test_a_worker_whose_memory_grew_is_recycled_without_losing_runs(engine, monkeypatch):
    monkeypatch.setattr(engine, "recycle_growth", -1.0)  # any run counts as growth
    (old,) = engine.workers()
    first = engine.submit(SHORT)
    wait_for(lambda: finished(engine, first))
    # The store says 'done' before the pool reads the worker's memory; growth is judged then.
    wait_for(lambda: old not in engine.workers() and len(engine.workers()) == 1)
    monkeypatch.setattr(engine, "recycle_growth", 10.0)
    engine.wait_ready()
    second = engine.submit(SHORT)
    wait_for(lambda: finished(engine, second))
    assert status(engine, first) == status(engine, second) == "done"


def test_a_bad_config_is_refused_at_submit(engine):
    from lrviz.params import ConfigError

    with pytest.raises(ConfigError):
        engine.submit({"schedule": make("constant"), "optimizer": {"lr": 0.1}})


def test_without_a_cpp_compiler_the_worker_lives_and_each_run_fails_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    monkeypatch.setenv("LRVIZ_CACHE", str(tmp_path / "cache"))  # spawned workers take the environment as it is now
    eng = Pool(tmp_path, max_workers=1)
    try:
        assert eng.wait_ready()
        workers = eng.workers()
        run_id = eng.submit(SHORT)
        wait_for(lambda: finished(eng, run_id))
        done = eng.progress(run_id)
        assert done.status == "failed" and "'no-such-compiler' cannot run" in done.error
        assert "apt-get install g++" in done.error and eng.workers() == workers  # the same worker, alive
    finally:
        eng.shutdown()


def test_a_delayed_engine_starts_no_worker_before_its_delay_but_at_once_on_submit(tmp_path):
    eng = Pool(tmp_path, max_workers=1, warm_after=3600)
    try:
        time.sleep(0.5)  # the monitor has checked the clock a few times by now
        assert eng.workers() == []
        run_id = eng.submit(SHORT)
        assert len(eng.workers()) == 1
        assert eng.progress(run_id).workers_starting  # what the page tells a queued run's user
        wait_for(lambda: Store(tmp_path).run(run_id)["status"] == "done")
        assert not eng.progress(run_id).workers_starting
    finally:
        eng.shutdown()


def test_a_delayed_engine_starts_its_workers_once_the_delay_has_passed(tmp_path):
    eng = Pool(tmp_path, max_workers=1, warm_after=0.2)
    try:
        assert eng.workers() == []
        assert eng.wait_ready()  # no submit: the delay alone starts them
        assert len(eng.workers()) == 1
    finally:
        eng.shutdown()


def test_worker_count_from_argument_env_or_cores(monkeypatch):
    monkeypatch.setenv("LRVIZ_WORKERS", "3")
    assert worker_count(None) == 3 and worker_count(2) == 2
    monkeypatch.delenv("LRVIZ_WORKERS")
    assert worker_count(None) == (os.cpu_count() or 1)


def test_workers_exit_when_the_app_process_dies(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from lrviz.pool import Pool
        if __name__ == "__main__":
            engine = Pool({str(tmp_path)!r}, max_workers=1)
            print(engine.workers()[0], flush=True)
            time.sleep(600)
    """)
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    worker = int(app.stdout.readline())
    app.kill()
    app.wait()
    wait_for(lambda: not _alive(worker))


def rows_of(store, run_id) -> dict:
    """How many rows each table holds for the run, read straight from the file."""
    db = sqlite3.connect(store.path)
    try:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t} WHERE {key} = ?", (run_id,)).fetchone()[0]
                for t, key in (("runs", "id"), ("steps", "run_id"), ("epochs", "run_id"))}
    finally:
        db.close()


NO_ROWS = {"runs": 0, "steps": 0, "epochs": 0}


def test_a_run_queued_behind_a_stopped_run_whose_worker_is_ended_trains_on_a_fresh_worker(engine, monkeypatch):
    # Bug: the pool's monitor killed the worker and cleared its run, and in the same pass
    # still saw it idle (alive until reaped) and handed it the next run, which then failed
    # with "worker process died (signal 9)".
    monkeypatch.setattr(engine, "stop_grace_s", 0.0)
    stopped, queued = engine.submit(LONG), engine.submit(SHORT)
    wait_for(lambda: engine.store.steps(stopped)["step"])
    (pid,) = engine.workers()
    os.kill(pid, signal.SIGSTOP)  # as if inside one long graph call: it cannot honour Stop
    engine.stop(stopped)
    wait_for(lambda: finished(engine, queued))
    assert status(engine, stopped) == "stopped"
    assert status(engine, queued) == "done" and engine.progress(queued).error is None
    assert len(engine.workers()) == 1 and engine.workers() != [pid]


def test_deleting_a_running_run_frees_its_worker_for_the_next_run_and_leaves_no_row(engine):
    deleted, successor = engine.submit(LONG), engine.submit(SHORT)
    wait_for(lambda: len(engine.store.steps(deleted)["step"]) >= 10)
    engine.delete(deleted)
    assert engine.progress(deleted) is None and deleted not in engine.active()
    wait_for(lambda: finished(engine, successor))
    assert status(engine, successor) == "done" and engine.progress(successor).step == 15
    time.sleep(2 * FLUSH_S)  # a late flush of the deleted run would have landed by now
    assert rows_of(engine.store, deleted) == NO_ROWS


def test_deleting_a_queued_run_takes_it_out_of_the_queue(engine):
    running, deleted, after = engine.submit(LONG), engine.submit(SHORT), engine.submit(SHORT)
    engine.delete(deleted)
    assert deleted not in engine.active() and engine.progress(after).queue_position == 1
    engine.stop(running)
    wait_for(lambda: finished(engine, after))
    assert status(engine, after) == "done" and rows_of(engine.store, deleted) == NO_ROWS


def _other_data(i):  # a run that cannot join another's job (executor.stack_key): it waits its turn
    return {**LONG, "data": {**LONG["data"], "seed": 100 + i}}


def test_a_visitors_single_run_starts_before_another_visitors_waiting_sweep(engine):
    sweep = [engine.submit(_other_data(i), by=Visitor("a")) for i in range(4)]
    wait_for(lambda: status(engine, sweep[0]) == "running")
    single = engine.submit(SHORT, by=Visitor("b"))
    assert engine.progress(single).queue_position == 1
    assert [engine.progress(r).queue_position for r in sweep[1:]] == [2, 3, 4]
    engine.stop(sweep[0])
    wait_for(lambda: status(engine, single) != "queued")
    assert [status(engine, r) for r in sweep[1:]] == ["queued"] * 3
    for run_id in sweep[::-1]:
        engine.stop(run_id)
    wait_for(lambda: finished(engine, single))
    assert status(engine, single) == "done"


def test_the_hosts_limit_on_waiting_runs_refuses_the_next_and_makes_no_run(engine, monkeypatch):
    from lrviz.params import ConfigError
    from lrviz.sharing import Limits

    monkeypatch.setattr(engine, "limits", Limits(queued=1))
    busy = engine.submit(LONG, by=Visitor("a"))
    wait_for(lambda: status(engine, busy) == "running")
    waiting = engine.submit(_other_data(0), by=Visitor("a"))
    before = len(engine.store.runs())
    with pytest.raises(ConfigError, match="at most 1 waiting runs or experiments per visitor"):
        engine.submit(_other_data(1), by=Visitor("a"))
    assert len(engine.store.runs()) == before
    other = engine.submit(_other_data(2), by=Visitor("b"))  # the limit is per visitor
    engine.submit(_other_data(3))  # and binds visitors only, not the host at the command line
    for run_id in (other, waiting, busy):
        engine.stop(run_id)
    for run_id in engine.active():
        engine.stop(run_id)
