"""The executor contract without TensorFlow: what every executor shares (config checks,
progress from the store), what a worker runs for one job, and the sink it reports to.
tests/test_engine.py drives the spawned pool itself."""
from __future__ import annotations

import dataclasses
import inspect
import os
from types import SimpleNamespace

import pytest

from lrviz import config, executor
from lrviz.executor import Executor, Progress
from lrviz.params import ConfigError
from lrviz.pool import Pool
from lrviz.schedules import make
from lrviz.store import Store
from lrviz.worker import FLUSH_S, StoreSink, run_job

CFG = config.validate({"schedule": make("constant"), "data": {"n_samples": 200}, "training": {"epochs": 3}})


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path)


def parameters(function) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def executors():
    try:
        from lrviz.ray_pool import RayPool  # imports Ray, which scripts/test.sh installs
    except ImportError:
        if os.environ.get("CI"):
            raise
        return [Pool]  # a checkout without requirements-ray.txt: the Ray tests skip too
    from lrviz.ray_proxy import RayProxy

    return [Pool, RayPool, RayProxy]


@pytest.mark.parametrize("kind", executors(), ids=lambda kind: kind.__name__)
def test_each_executor_offers_every_call_of_the_protocol_with_the_same_parameters(kind):
    calls = [name for name, _ in inspect.getmembers(Executor, inspect.isfunction) if not name.startswith("_")]
    assert sorted(calls) == ["active", "delete", "progress", "shutdown", "stop", "submit", "submit_many", "warm",
                             "where"]
    for name in calls:
        assert parameters(getattr(kind, name)) == parameters(getattr(Executor, name)), name


def test_progress_is_a_frozen_record():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Progress("queued", 1, 0, 3, 0, 15, 0.0, None, None, False).status = "done"


def test_a_queued_run_shows_its_place_and_nothing_recorded(store):
    run = executor.create_run(store, CFG, "mine")
    p = executor.progress(store, run, queue_position=2, workers_starting=True)
    assert p == Progress(status="queued", queue_position=2, epoch=0, epochs=3, step=0, total_steps=15,
                         elapsed_s=0.0, eta_s=None, error=None, workers_starting=True)
    assert store.run(run)["name"] == "mine"


def test_a_running_run_counts_steps_and_epochs_and_estimates_the_time_left(store):
    run = executor.create_run(store, CFG, None)
    store.set_status(run, "running", metric="accuracy")
    store.append_steps(run, [(i, i // 5, 0.001, 1.0, 0.1 * i) for i in range(6)])
    store.append_epochs(run, [(0, 0.001, 1.0, None, 0.5, None, 0.5)])
    p = executor.progress(store, run)
    assert (p.status, p.epoch, p.step, p.total_steps, p.queue_position) == ("running", 1, 6, 15, None)
    assert p.eta_s == pytest.approx(p.elapsed_s / 6 * 9)


def test_a_deleted_run_has_no_progress(store):
    run = executor.create_run(store, CFG, None)
    store.delete(run)
    assert executor.progress(store, run) is None


def test_a_bad_config_or_a_csv_that_cannot_train_is_refused_before_any_run_exists(store, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "1,0\n2,1\n" * 50)
    with pytest.raises(ConfigError):
        executor.check_config({"schedule": make("constant"), "optimizer": {"lr": 0.1}})
    with pytest.raises(ConfigError) as err:
        executor.check_config({"schedule": make("constant"), "data": {"name": "csv", "path": str(path),
                                                                      "target": "label"}})
    assert err.value.field == "data.target" and store.runs() == []


# --- one job, as a worker runs it ------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """The sink's clock, standing still until a test moves it."""
    now = [100.0]
    monkeypatch.setattr("lrviz.worker.time.monotonic", lambda: now[0])
    return now


class FakeTrain:
    """lrviz.train's run(), without TensorFlow: hands over `rows` step rows one call each,
    then ends as told."""

    def __init__(self, rows: int = 3, status: str = "done", raises: Exception | None = None):
        self.rows, self.status, self.raises = rows, status, raises

    def run(self, cfg, sink, stop, on_start):
        on_start("accuracy")
        for i in range(self.rows):
            sink([(i, 0, 0.01, 1.0, 0.1 * i)], [])
        if self.raises:
            raise self.raises
        return SimpleNamespace(status=self.status, error=None)


def flag(is_set: bool):
    return SimpleNamespace(is_set=lambda: is_set)


def test_a_job_records_its_rows_metric_and_final_status(store, clock):
    run = executor.create_run(store, CFG, None)
    run_job(FakeTrain(rows=3), StoreSink(store, run), CFG, flag(False))
    assert store.run(run)["status"] == "done" and store.run(run)["metric"] == "accuracy"
    assert store.steps(run)["step"] == [0, 1, 2]


def test_a_job_stopped_before_it_started_ends_stopped_without_training(store):
    run = executor.create_run(store, CFG, None)
    run_job(FakeTrain(), StoreSink(store, run), CFG, flag(True))
    assert store.run(run)["status"] == "stopped" and store.steps(run)["step"] == []


def test_a_job_that_raises_fails_its_run_keeping_the_rows_before(store, clock):
    run = executor.create_run(store, CFG, None)  # the clock stands still: the sink holds rows 1-3
    run_job(FakeTrain(rows=4, raises=OSError("disk on fire")), StoreSink(store, run), CFG, flag(False))
    assert store.run(run)["status"] == "failed" and store.run(run)["error"] == "disk on fire"
    assert store.steps(run)["step"] == [0, 1, 2, 3]


def test_the_sink_writes_the_first_rows_at_once_then_batches_until_flush(store, clock):
    run = executor.create_run(store, CFG, None)
    sink = StoreSink(store, run)
    sink([(0, 0, 0.01, 1.0, 0.0)], [])
    sink([(1, 0, 0.01, 1.0, 0.1)], [])
    assert store.steps(run)["step"] == [0]
    clock[0] += FLUSH_S
    sink([(2, 0, 0.01, 1.0, 0.2)], [(0, 0.01, 1.0, None, 0.5, None, 0.2)])
    assert store.steps(run)["step"] == [0, 1, 2] and store.epochs(run)["epoch"] == [0]
    sink([(3, 0, 0.01, 1.0, 0.3)], [])
    sink.flush()
    assert store.steps(run)["step"] == [0, 1, 2, 3]
