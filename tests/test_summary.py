"""What the run charts read: the store's per-bucket summary, kept as rows arrive, checked
against NumPy over the exact rows; the traces shared by every session; exact streamed downloads."""
import csv
import io
import math
import threading

import numpy as np
import pytest

from lrviz import exports, figures
from lrviz.store import SUMMARY_BUCKETS, Store, bucket_width
from lrviz.traces import Traces, drawn

CFG = {"schedule": {"kind": "constant", "learning_rate": 0.01}}


def rows(n, spe, seed=0, nan_every=0):
    """(step, epoch, learning_rate, loss, wall_time) of a falling rate and a noisy loss."""
    rng = np.random.default_rng(seed)
    step = np.arange(n)
    lr = 1e-3 * np.cos(step / n * math.pi / 2) ** 2
    loss = 1 / (1 + step / 100) + rng.random(n) * 0.1
    if nan_every:
        loss[::nan_every] = np.nan
    return [(int(s), int(s // spe), float(a), None if b != b else float(b), s * 1e-3)
            for s, a, b in zip(step, lr, loss)]


def stored(tmp_path, n, spe=100, batches=(1, 999, 7, 10_000), **kw):
    """A store holding one run of n steps, appended in batches of uneven sizes (as a worker
    flushes), so buckets are merged across batches."""
    store = Store(tmp_path)
    run_id = store.create_run("long", CFG, epochs=n // spe, steps_per_epoch=spe)
    data, first, i = rows(n, spe, **kw), 0, 0
    while first < n:
        size = batches[i % len(batches)]
        store.append_steps(run_id, data[first:first + size])
        first, i = first + size, i + 1
    return store, run_id, data


def expected(data, width):
    """The summary, computed independently: NumPy over the exact rows, bucket by bucket."""
    a = np.array([[np.nan if v is None else v for v in r] for r in data], dtype=np.float64)
    out = []
    for b in range(0, len(a), width):
        part = a[b:b + width]
        loss = part[:, 3][~np.isnan(part[:, 3])]
        out.append((b // width, part[0, 0], part[-1, 0], len(part), part[:, 2].min(), part[:, 2].max(),
                    loss.min() if len(loss) else np.nan, loss.max() if len(loss) else np.nan,
                    loss.sum(), len(loss), part[:, 4].min(), part[:, 4].max()))
    return np.array(out, dtype=np.float64)


def as_array(summary):
    return np.array([[np.nan if v is None else v for v in row] for row in zip(*summary.values())], dtype=np.float64)


def test_a_run_is_summarised_in_at_most_summary_buckets_of_equal_width():
    assert bucket_width(None) == bucket_width(0) == bucket_width(SUMMARY_BUCKETS) == 1
    assert bucket_width(SUMMARY_BUCKETS + 1) == 2
    assert bucket_width(2_000_000) == 2000 and 2_000_000 / bucket_width(2_000_000) <= SUMMARY_BUCKETS


def test_the_summary_kept_as_rows_arrive_equals_numpy_over_the_exact_rows(tmp_path):
    store, run_id, data = stored(tmp_path, 25_000)
    width = bucket_width(25_000)
    assert width == 25 and 1007 % width  # buckets cross the batches' edges
    np.testing.assert_allclose(as_array(store.summary(run_id)), expected(data, width), rtol=1e-12)


def test_missing_losses_are_left_out_of_a_buckets_range_and_mean(tmp_path):
    store, run_id, data = stored(tmp_path, 5_000, nan_every=3)
    np.testing.assert_allclose(as_array(store.summary(run_id)), expected(data, 5), rtol=1e-12)


def test_a_short_run_is_summarised_step_by_step_exactly(tmp_path):
    store, run_id, data = stored(tmp_path, 1_000, spe=50)
    trace = Traces(store).get(run_id)
    assert trace.width == 1 and not trace.means
    exact = store.steps(run_id)
    for column in ("step", "learning_rate", "loss", "wall_time", "epoch"):
        np.testing.assert_array_equal(trace.steps[column], exact[column])


def test_a_run_stored_before_summaries_existed_is_summarised_on_first_read(tmp_path):
    store, run_id, data = stored(tmp_path, 9_000)
    before = store.summary(run_id)
    with store._write() as db:
        db.execute("DELETE FROM buckets")
    np.testing.assert_allclose(as_array(store.summary(run_id)), as_array(before), rtol=1e-12)
    np.testing.assert_allclose(as_array(before), expected(data, bucket_width(9_000)), rtol=1e-12)


def test_reading_from_a_bucket_on_returns_it_again_with_the_rows_added_since(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("r", CFG, epochs=50, steps_per_epoch=100)  # width 5
    data = rows(10_000, 100)
    store.append_steps(run_id, data[:12])
    assert store.summary(run_id)["n"] == [5, 5, 2]
    store.append_steps(run_id, data[12:20])
    assert store.summary(run_id, after=2) == {k: v[2:] for k, v in store.summary(run_id).items()}
    assert store.summary(run_id, after=2)["n"] == [5, 5]


def test_a_long_run_is_drawn_as_each_buckets_range_in_the_order_the_curve_moves(tmp_path):
    store, run_id, data = stored(tmp_path, 40_000, spe=400)
    trace = Traces(store).get(run_id)
    assert trace.width == 40 and len(trace.steps["step"]) == 2 * 1000
    lr = np.array([r[2] for r in data])
    # A falling rate: each bucket's highest value at its first step, its lowest at its last,
    # both the exact rate of that step.
    np.testing.assert_array_equal(trace.steps["step"][:4], [0, 39, 40, 79])
    np.testing.assert_array_equal(trace.steps["learning_rate"], lr[trace.steps["step"].astype(int)])
    assert np.all(np.diff(trace.steps["learning_rate"]) <= 0)
    loss = np.array([r[3] for r in data]).reshape(-1, 40)
    np.testing.assert_allclose(trace.means["loss"], loss.mean(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(trace.means["step"], np.arange(1000) * 40 + 19)


def test_the_loss_chart_of_a_long_run_draws_bucket_means_smoothed_per_bucket(tmp_path):
    store, run_id, data = stored(tmp_path, 40_000, spe=400)
    trace = Traces(store).get(run_id)
    fig = figures.loss_figure([trace], smoothing=0.6)
    band, mean = (t for t in fig.data if t.name.startswith("loss"))
    assert "lowest and highest of each 40 steps" in band.name and "mean of each 40 steps" in mean.name
    means = np.array([r[3] for r in data]).reshape(-1, 40).mean(axis=1)
    np.testing.assert_allclose(np.asarray(mean.y, dtype=float), figures.smooth(means, 0.6 ** 40), rtol=1e-12)
    # Drawn as they are (MAX_POINTS points): the lowest and highest loss of the whole run among them.
    assert len(band.y) == figures.MAX_POINTS
    assert min(band.y) == min(r[3] for r in data) and max(band.y) == max(r[3] for r in data)


def test_every_session_shares_one_read_of_a_finished_run(tmp_path):
    store, run_id, _ = stored(tmp_path, 20_000)
    store.set_status(run_id, "done")
    traces = Traces(store)
    reads = []
    summary = store.summary
    store.summary = lambda *a, **k: reads.append(a) or summary(*a, **k)
    got = []
    threads = [threading.Thread(target=lambda: got.append(traces.get(run_id))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reads) == 1 and len({id(t.steps["loss"]) for t in got}) == 1
    traces.get(run_id)
    assert len(reads) == 1  # read to its end after it finished: never read again


def test_a_running_run_is_read_from_its_last_bucket_on(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("r", CFG, epochs=50, steps_per_epoch=100)  # width 5
    data = rows(5_000, 100)
    traces = Traces(store)
    store.append_steps(run_id, data[:12])
    assert traces.get(run_id).means["loss"].shape == (3,)
    store.append_steps(run_id, data[12:23])
    trace = traces.get(run_id)
    loss = np.array([r[3] for r in data[:23]])
    np.testing.assert_allclose(trace.means["loss"], [loss[i:i + 5].mean() for i in range(0, 23, 5)], rtol=1e-12)


def test_a_rename_shows_at_once_and_a_deleted_run_is_none(tmp_path):
    store, run_id, _ = stored(tmp_path, 3_000)
    store.set_status(run_id, "done")
    traces = Traces(store)
    assert traces.get(run_id).label == "long"
    store.rename(run_id, "renamed")
    assert traces.get(run_id).label == "renamed"
    store.delete(run_id)
    assert traces.get(run_id) is None
    assert store.summary(run_id) == {c: [] for c in store.summary(run_id)}  # its buckets went too


def test_the_least_recently_drawn_runs_leave_beyond_the_byte_budget(tmp_path):
    store = Store(tmp_path)
    ids = []
    for _ in range(3):
        run_id = store.create_run("r", CFG, epochs=10, steps_per_epoch=100)
        store.append_steps(run_id, rows(1000, 100))
        store.set_status(run_id, "done")
        ids.append(run_id)
    one = Traces(store)
    one.get(ids[0])
    traces = Traces(store, budget=int(2.5 * one._entries[ids[0]].nbytes()))  # room for two runs
    for run_id in ids:
        traces.get(run_id)
    assert list(traces._entries) == ids[1:]


def test_a_rising_curve_is_drawn_low_then_high_a_falling_one_high_then_low():
    summary = {"step_first": np.array([0.0, 10.0]), "step_last": np.array([9.0, 19.0]),
               "lr_min": np.array([1.0, 3.0]), "lr_max": np.array([2.0, 4.0]),
               "loss_min": np.array([5.0, 1.0]), "loss_max": np.array([6.0, 2.0]),
               "loss_sum": np.array([55.0, 15.0]), "loss_n": np.array([10.0, 10.0]),
               "wall_min": np.array([0.0, 1.0]), "wall_max": np.array([0.9, 1.9])}
    steps, means = drawn(summary, 10, 10)
    np.testing.assert_array_equal(steps["learning_rate"], [1, 2, 3, 4])
    np.testing.assert_array_equal(steps["loss"], [6, 5, 2, 1])  # the first bucket goes as the second
    np.testing.assert_array_equal(means["loss"], [5.5, 1.5])


def test_a_long_run_with_one_bucket_so_far_is_drawn():
    # Bug: the first bucket took the direction of a second one that did not exist yet.
    one = {k: np.array([v]) for k, v in {"step_first": 0.0, "step_last": 3.0, "lr_min": 1.0, "lr_max": 2.0,
                                          "loss_min": 5.0, "loss_max": 6.0, "loss_sum": 22.0, "loss_n": 4.0,
                                          "wall_min": 0.0, "wall_max": 0.3}.items()}
    steps, means = drawn(one, 2000, 100)
    np.testing.assert_array_equal(steps["learning_rate"], [1, 2])
    np.testing.assert_array_equal(means["loss"], [5.5])


@pytest.mark.parametrize("kind", ["steps", "epochs"])
def test_a_runs_csv_holds_its_exact_rows_under_the_metrics_names(tmp_path, kind):
    store, run_id, data = stored(tmp_path, 2_500, nan_every=7)
    store.append_epochs(run_id, [(e, 0.001, 0.5, 0.6, 0.9, None, e * 0.1) for e in range(25)])
    text = exports.run_csv(store, run_id, kind, "accuracy").read().decode()
    table = list(csv.reader(io.StringIO(text)))
    if kind == "steps":
        assert table[0] == ["step", "epoch", "learning_rate", "loss", "wall_time"]
        assert len(table) == 2_501
        for row, want in zip(table[1:], data):
            assert [int(row[0]), int(row[1])] == list(want[:2])
            assert [float(v) if v else None for v in row[2:]] == list(want[2:])  # bit for bit; NaN empty
    else:
        assert table[0] == ["epoch", "learning_rate", "loss", "val_loss", "accuracy", "val_accuracy", "wall_time"]
        assert table[1] == ["0", "0.001", "0.5", "0.6", "0.9", "", "0.0"] and len(table) == 26


def test_a_runs_csv_is_written_a_chunk_at_a_time(tmp_path):
    store, run_id, _ = stored(tmp_path, 3_000)
    chunks = [len(c) for c in store.stream("steps", run_id, chunk=1_000)]
    assert chunks == [1_000, 1_000, 1_000]


def test_a_run_without_rows_downloads_its_header(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("r", CFG, epochs=1, steps_per_epoch=1)
    assert exports.run_csv(store, run_id, "steps", None).read() == b"step,epoch,learning_rate,loss,wall_time\n"
