"""Inside the optimizer at every step (lrviz.inside): each recorded measure against the same
thing computed in NumPy from the weights before and after the step and from Keras's own
gradient, for Adam and schedule-free AdamW, for a run alone and side by side."""
import os

import numpy as np
import pytest

from lrviz import adam, config, stacked, train
from lrviz.schedules import make
from lrviz.store import INSIDE_COLUMNS, MAX_LAYERS, STEP_COLUMNS

SF = {"class_name": "ScheduleFreeAdamW", "config": {"warmup_steps": 3}}


def cfg_of(optimizer=None, units=(16, 16), samples=200, **training):
    return config.validate({"schedule": make("constant", learning_rate=0.01), "optimizer": optimizer or {},
                            "data": {"n_samples": samples}, "model": {"hidden_units": list(units)},
                            "training": {"epochs": 2, **training}})


def one_step(cfg, after: int = 0):
    """(weights before, weights after, Keras's gradient, the recorded row, the number of layers,
    the model's Inside) of a run's step `after` (within its first epoch)."""
    import keras
    import tensorflow as tf

    from lrviz import data as datamod
    from lrviz import model as modelmod

    data = datamod.load(cfg["data"])
    model, _ = modelmod.build(cfg, data, cls=train.Recorder, jit_compile=False)
    model.attach(data, cfg["training"]["batch_size"], cfg["training"]["seed"], 1)
    ticks = tf.data.Dataset.from_tensors(0).repeat()
    if after:
        model.fit(ticks, epochs=1, steps_per_epoch=after, shuffle=False, verbose=0)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    rows = slice(32 * after, 32 * after + 32)  # the batch: the order before any epoch is 0, 1, ...
    x, y = data.X_train[rows], data.y_train[rows]
    with tf.GradientTape() as tape:
        loss = model._compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    model.fit(ticks, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    from lrviz.inside import with_quantiles

    row = with_quantiles(model.feed.inside.numpy(), model.feed.sample.numpy())[0, 0]
    return before, after, grads, row, len(model.layers), model.inside


@pytest.mark.parametrize("units", [(16, 16), (32, 40)], ids=["16-16", "32-40"])
@pytest.mark.parametrize("optimizer", [None, SF], ids=["Adam", "schedule-free AdamW"])
def test_each_measure_is_numpys_from_the_weights_and_kerass_gradient(optimizer, units):
    before, after, grads, row, layers, inside = one_step(cfg_of(optimizer, units))
    assert inside.picks == list(range(sum(inside.sizes)))  # 337 and 1,457 parameters: all in the sample
    delta = [a - b for a, b in zip(after, before)]
    steps = np.abs(np.concatenate([d.ravel() for d in delta]))
    grad_norm = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
    ratios = [np.sqrt(sum((d.astype(np.float64) ** 2).sum() for d in delta[2 * i:2 * i + 2])
                      / sum((b.astype(np.float64) ** 2).sum() for b in before[2 * i:2 * i + 2])) for i in range(layers)]
    want = [grad_norm, np.quantile(steps, 0.5), np.quantile(steps, 0.9), steps.max(), *ratios]
    np.testing.assert_allclose(row[:4 + layers], want, rtol=2e-5)
    assert np.isnan(row[4 + layers:]).all() and len(row) == 4 + MAX_LAYERS


def rows_of(cfg):
    steps = []
    outcome = train.run(cfg, lambda s, e: steps.extend(s))
    assert outcome.status == "done"
    return {c: np.array([np.nan if r[i] is None else r[i] for r in steps], dtype=float) for i, c in enumerate(STEP_COLUMNS)}


def test_a_run_records_every_measure_at_every_step_and_none_for_layers_it_lacks():
    rows = rows_of(cfg_of(units=(8,)))
    assert len(rows["step"]) == 10
    for column in INSIDE_COLUMNS[:7]:  # three measures, the bias correction, two layers
        assert np.isfinite(rows[column]).all() and (rows[column] > 0).all(), column
    assert np.isnan(rows["update_ratio_3"]).all()


@pytest.mark.parametrize("optimizer", [None, SF], ids=["Adam", "schedule-free AdamW"])
def test_the_bias_correction_is_the_optimizers_formula_at_each_step(optimizer):
    cfg = cfg_of(optimizer)
    rows = rows_of(cfg)
    t = rows["step"] + 1
    beta_1 = 0.0 if optimizer else 0.9  # schedule-free AdamW corrects its second moment only
    np.testing.assert_allclose(rows["bias_correction"], np.sqrt(1 - 0.999 ** t) / (1 - beta_1 ** t), rtol=1e-12)
    np.testing.assert_array_equal(rows["bias_correction"], adam.bias_correction(rows["step"], cfg["optimizer"]))


def test_a_replica_side_by_side_records_what_its_run_alone_records():
    cfgs = [cfg_of(seed=s) for s in (0, 1)] + [cfg_of(units=(8, 4, 4), seed=2)] + \
        [cfg_of(units=(64, 128), seed=s) for s in (3, 4)] + \
        [cfg_of({"amsgrad": True}, units=(64, 128), seed=5)]  # sampled blocks: two replicas, and one alone
    got = [[] for _ in cfgs]
    stacked.run(cfgs, [lambda s, e, k=k: got[k].extend(s) for k in range(len(cfgs))], [None] * len(cfgs))
    for cfg, rows in zip(cfgs, got):
        alone = rows_of(cfg)
        side = {c: np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)
                for i, c in enumerate(STEP_COLUMNS)}
        for column in INSIDE_COLUMNS:
            np.testing.assert_allclose(side[column], alone[column], rtol=1e-3, atol=1e-9, err_msg=column)


def test_recording_can_be_switched_off_to_measure_its_cost():
    steps = []
    train.run(cfg_of(), lambda s, e: steps.extend(s), inside=False)
    grad_norm = STEP_COLUMNS.index("grad_norm")
    assert np.isnan([r[grad_norm] for r in steps]).all()


# ---- stored, read back for the charts, drawn ----

def stored_run(tmp_path, total=3000, layers=2):
    from lrviz.store import Store

    store = Store(tmp_path)
    run_id = store.create_run("r", {}, 1, total)
    rng = np.random.default_rng(1)
    rows = []
    for step in range(total):
        ratios = [*rng.uniform(1e-4, 1e-2, layers), *[None] * (MAX_LAYERS - layers)]
        rows.append((step, 0, 1e-3, 0.5, step * 1e-3, *rng.uniform(0.1, 1, 5), *ratios))
    store.append_steps(run_id, rows)
    return store, run_id, rows


def test_the_chart_reads_each_buckets_mean_and_the_download_every_step(tmp_path):
    from lrviz import exports
    from lrviz.store import bucket_width

    store, run_id, rows = stored_run(tmp_path)
    width = bucket_width(3000)
    got = store.inside(run_id, width)
    assert width == 3 and len(got["step"]) == 1000
    grad_norm = np.array([r[STEP_COLUMNS.index("grad_norm")] for r in rows])
    np.testing.assert_allclose(got["grad_norm"], grad_norm.reshape(-1, 3).mean(axis=1), rtol=1e-12)
    assert got["update_ratio_3"] == [None] * 1000
    header = exports.run_csv(store, run_id, "steps", "accuracy").readline().decode().strip().split(",")
    assert header == [*STEP_COLUMNS[:12]]  # two layers: update_ratio_3 and on have no value in this run


def test_a_trace_reads_only_new_buckets_and_the_figure_draws_them(tmp_path):
    from lrviz import figures
    from lrviz.traces import Traces

    store, run_id, rows = stored_run(tmp_path, total=10)
    traces = Traces(store)
    first = traces.get(run_id)
    assert len(first.inside["step"]) == 10
    store.append_steps(run_id, [(10, 1, *rows[0][2:])])
    trace = traces.get(run_id)
    assert trace.inside["step"].tolist() == list(range(11))
    fig = figures.inside_figure([trace])
    lines = {t.name: t for t in fig.data}
    assert set(lines) == {"layer 1", "layer 2 (output)", "step |Δθ|: median", "step |Δθ|: 90th percentile",
                          "step |Δθ|: largest", "gradient norm", "bias correction on the rate"}
    np.testing.assert_array_equal(lines["gradient norm"].y, trace.inside["grad_norm"])
    assert lines["layer 1"].yaxis == "y" and lines["gradient norm"].yaxis == "y3"
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis4.type == "linear"


@pytest.mark.parametrize("size", [7, 337, 2048])
def test_the_quantiles_are_numpys_and_a_padded_block_leaves_its_padding_out(size):
    from lrviz.inside import QUANTILES, with_quantiles

    sample = np.random.default_rng(size).random((5, 2, size)).astype(np.float32)
    got = with_quantiles(np.zeros((5, 2, 13)), sample)[..., 1:3]
    np.testing.assert_allclose(got, np.moveaxis(np.quantile(sample.astype(float), QUANTILES, axis=-1), 0, -1),
                               rtol=1e-14)
    padded = np.concatenate([sample, np.full((5, 2, 3), np.nan, np.float32)], axis=-1)
    np.testing.assert_allclose(with_quantiles(np.zeros((5, 2, 13)), padded)[..., 1:3], got, rtol=1e-14)


def test_a_graph_call_records_no_more_steps_than_its_memory_allows():
    from lrviz.inside import MEMORY, SAMPLE, WIDTH, chunk_cap, record_floats

    assert record_floats([256, 16]) == WIDTH + 272  # a small model: every parameter in the sample
    assert record_floats([10 ** 6, 10], k=3) == 3 * (WIDTH + SAMPLE)
    floats = record_floats([10 ** 6], k=1000)
    assert train.chunk_size(10, 1, 10_000, floats) == chunk_cap(floats) == 16
    assert chunk_cap(floats) * floats * 4 * 2 <= MEMORY  # the record and the host's copy
    assert chunk_cap(10 ** 9) == 1  # one step a call, never none
    assert train.chunk_size(337, 32, 50, record_floats([337])) == 50  # a small model: the whole epoch


@pytest.mark.parametrize("sizes", [[2 * 64, 64, 64 * 128, 128, 128, 1], [1024 * 1024, 1], [2049]])
def test_the_sample_takes_each_variables_share_of_sample_parameters(sizes):
    from lrviz.inside import SAMPLE, _picks

    picks = np.asarray(_picks(sizes, np.random.default_rng(0)))
    assert len(picks) == SAMPLE and (np.diff(picks) > 0).all() and 0 <= picks[0] and picks[-1] < sum(sizes)
    share = np.bincount(np.searchsorted(np.cumsum(sizes), picks, side="right"), minlength=len(sizes))
    np.testing.assert_allclose(share, SAMPLE * np.array(sizes) / sum(sizes), atol=1)


@pytest.mark.parametrize("units", [(64, 128), (32, 32, 32)], ids=["64-128", "32-32-32"])
def test_a_sampled_model_takes_its_quantiles_over_its_sample_and_every_other_measure_over_all(units):
    before, after, grads, row, layers, inside = one_step(cfg_of(units=units, samples=2000), after=30)
    assert inside.sample == 2048 < sum(inside.sizes)  # 8,837 and 2,241 parameters
    delta = [(a - b).astype(np.float64) for a, b in zip(after, before)]
    exact = [np.sqrt(sum((d ** 2).sum() for d in delta[2 * i:2 * i + 2])
                     / sum((b.astype(np.float64) ** 2).sum() for b in before[2 * i:2 * i + 2])) for i in range(layers)]
    np.testing.assert_allclose(row[4:4 + layers], exact, rtol=2e-5)
    np.testing.assert_allclose(row[0], np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)), rtol=2e-5)
    steps = np.abs(np.concatenate([d.ravel() for d in delta]))
    assert row[3] == pytest.approx(steps.max(), rel=2e-5)
    np.testing.assert_allclose(row[1:3], np.quantile(steps[inside.picks], (0.5, 0.9)), rtol=2e-5)


def test_the_measures_do_not_depend_on_how_many_steps_a_graph_call_holds(monkeypatch):
    cfg = cfg_of(units=(64, 128), samples=400)  # 10 steps an epoch, 2 epochs
    alone = rows_of(cfg)  # the whole epoch in one call: each step measured from the one before it
    monkeypatch.setattr(train, "chunk_size", lambda *args: 1)  # each step the first of its call
    single = rows_of(cfg)
    for column in INSIDE_COLUMNS:
        np.testing.assert_allclose(alone[column], single[column], rtol=1e-4, err_msg=column)


# ---- the kernel itself, driven by hand ----

def by_hand(shape=(64, 128), k=None, seed=0):
    """(an Inside over a kernel and a bias, their values as float64, a record and a sample for
    three steps), its weights kept by begin()."""
    import keras
    import tensorflow as tf

    from lrviz.inside import WIDTH, Inside

    rng = np.random.default_rng(seed)
    extra = () if k is None else (k,)
    kernel = keras.Variable(rng.normal(size=(*shape, *extra)).astype(np.float32))
    bias = keras.Variable(rng.normal(size=(shape[1], *extra)).astype(np.float32))
    inside = Inside([[kernel, bias]], k)
    replicas = inside.k
    record = tf.Variable(tf.fill([3, replicas, WIDTH], np.nan))
    sample = tf.Variable(tf.fill([3, replicas, inside.sample + 5], -1.0))  # 5 beyond this block's sample
    inside.begin()
    return inside, [kernel.numpy().astype(np.float64), bias.numpy().astype(np.float64)], record, sample


def test_a_steps_largest_change_counts_though_it_is_not_in_the_sample():
    import tensorflow as tf

    inside, before, record, sample = by_hand()
    kernel, bias = inside.variables
    rng = np.random.default_rng(1)
    step = rng.normal(scale=1e-3, size=(64, 128)).astype(np.float32)
    missing = next(i for i in range(64 * 128) if i not in set(inside.picks))
    step.flat[missing] = 0.5
    kernel.assign(kernel.numpy() + step)
    bias.assign(bias.numpy() - np.float32(1e-3))
    grads = [rng.normal(size=(64, 128)).astype(np.float32), np.ones(128, np.float32)]
    inside.step(tf.constant(1), [tf.constant(g) for g in grads], record, sample)
    row = record.numpy()[1, 0]
    delta = [kernel.numpy() - before[0], bias.numpy() - before[1]]
    np.testing.assert_allclose(row[0], np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)), rtol=1e-6)
    assert np.isnan(row[1:3]).all() and row[3] == pytest.approx(0.5, rel=1e-6)
    ratio = np.sqrt(sum((d ** 2).sum() for d in delta) / sum((b ** 2).sum() for b in before))
    assert row[4] == pytest.approx(ratio, rel=1e-5) and np.isnan(row[5:]).all()
    got = sample.numpy()[1, 0]
    np.testing.assert_allclose(got[:inside.sample], np.abs(np.concatenate([d.ravel() for d in delta]))[inside.picks],
                               rtol=1e-6)
    assert np.isnan(got[inside.sample:]).all()  # the padding to a wider block's sample
    assert np.isnan(record.numpy()[[0, 2]]).all() and (sample.numpy()[[0, 2]] == -1).all()  # only row 1 written


def test_side_by_side_each_replica_is_measured_on_its_own_and_written_at_its_place():
    import tensorflow as tf

    from lrviz.inside import WIDTH

    inside, before, _, _ = by_hand(shape=(8, 4), k=3)
    kernel, bias = inside.variables
    kernel.assign(kernel.numpy() * np.float32(1.01))
    bias.assign(bias.numpy() + np.float32(0.02) * np.arange(3, dtype=np.float32))  # replica r: +0.02 r
    record = tf.Variable(tf.fill([2, 5, WIDTH], np.nan))  # replicas 1-3 are this block's
    sample = tf.Variable(tf.fill([2, 5, inside.sample], -1.0))
    grads = [np.random.default_rng(2).normal(size=s).astype(np.float32) for s in ((8, 4, 3), (4, 3))]
    inside.step(tf.constant(0), [tf.constant(g) for g in grads], record, sample, first=1)
    for r in range(3):
        delta = [kernel.numpy()[..., r] - before[0][..., r], bias.numpy()[..., r] - before[1][..., r]]
        ratio = np.sqrt(sum((d ** 2).sum() for d in delta) / sum((b[..., r] ** 2).sum() for b in before))
        grad_norm = np.sqrt(sum((g[..., r].astype(np.float64) ** 2).sum() for g in grads))
        row = record.numpy()[0, 1 + r]
        assert row[0] == pytest.approx(grad_norm, rel=1e-6) and row[4] == pytest.approx(ratio, rel=1e-5)
        assert row[3] == pytest.approx(max(np.abs(d).max() for d in delta), rel=1e-6)
        np.testing.assert_allclose(sample.numpy()[0, 1 + r], np.abs(np.concatenate([d.ravel() for d in delta])),
                                   rtol=1e-5)
    assert np.isnan(record.numpy()[0, [0, 4]]).all() and (sample.numpy()[0, [0, 4]] == -1).all()


@pytest.mark.parametrize("k", [None, 2], ids=["alone", "side by side"])
def test_an_update_that_is_not_finite_makes_the_largest_step_nan(k):
    import tensorflow as tf

    inside, _, record, sample = by_hand(shape=(40, 40), k=k)  # more than one block of the sums
    kernel, _ = inside.variables
    value = kernel.numpy()
    value[(-1,) * value.ndim] = np.nan  # the last replica's last weight, among finite ones
    kernel.assign(value + np.float32(1e-3))
    extra = () if k is None else (k,)
    inside.step(tf.constant(0), [tf.zeros([40, 40, *extra]), tf.zeros([40, *extra])], record, sample)
    largest = record.numpy()[0, :, 3]
    assert np.isnan(largest[-1]) and (k is None or largest[0] == pytest.approx(1e-3, rel=1e-2))


def test_the_host_keeps_what_it_read_though_the_next_step_writes_the_record():
    import tensorflow as tf

    inside, _, record, sample = by_hand(shape=(4, 4))
    grads = [tf.zeros([4, 4]), tf.zeros([4])]
    inside.step(tf.constant(0), grads, record, sample)
    read = record.value()  # a tensor sharing the variable's buffer
    first = read.numpy().copy()
    inside.variables[1].assign(np.ones(4, np.float32))
    inside.step(tf.constant(0), grads, record, sample)
    np.testing.assert_array_equal(read.numpy(), first)
    assert not np.array_equal(record.numpy(), first, equal_nan=True)


def test_a_step_outside_the_record_is_refused_with_the_shapes():
    import tensorflow as tf

    inside, _, record, sample = by_hand(shape=(4, 4))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"record \[3,1,13\] has no room for step 3"):
        inside.step(tf.constant(3), [tf.zeros([4, 4]), tf.zeros([4])], record, sample)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"has no replicas 2 to 2"):
        inside.step(tf.constant(0), [tf.zeros([4, 4]), tf.zeros([4])], record, sample, first=2)


@pytest.mark.timeout(120)  # a variable locked twice would hang
def test_the_op_refuses_what_would_read_astray_or_lock_a_variable_twice():
    import tensorflow as tf

    inside, _, record, sample = by_hand(shape=(4, 4))
    grads = [tf.zeros([4, 4]), tf.zeros([4])]
    with pytest.raises(tf.errors.InvalidArgumentError, match="variables of their own"):
        inside.step(tf.constant(0), grads, record, record)
    kept, inside.before = inside.before, inside.variables[1]  # the bias as the weights kept: locked twice
    with pytest.raises(tf.errors.InvalidArgumentError, match="variables of their own"):
        inside.step(tf.constant(0), grads, record, sample)
    inside.before = kept
    inside.picks = [3, 1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="picks must be distinct indices >= 0, in order"):
        inside.step(tf.constant(0), grads, record, sample)
    inside.picks = [0, 20]  # 20 parameters: 0 to 19
    with pytest.raises(tf.errors.InvalidArgumentError, match="pick 20 is beyond the model's 20 parameters"):
        inside.step(tf.constant(0), grads, record, sample)


def test_a_missing_compiler_is_named_in_the_error(monkeypatch, tmp_path):
    from lrviz import kernels

    monkeypatch.setenv("LRVIZ_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(kernels.BuildError, match="'no-such-compiler' cannot run.*apt-get install g\\+\\+"):
        kernels.built()
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # nothing half-built left behind


def test_the_kernel_is_built_once_into_the_cache_and_then_reused(monkeypatch, tmp_path):
    from lrviz import kernels

    monkeypatch.setenv("LRVIZ_CACHE", str(tmp_path))
    path = kernels.built()
    assert path.parent == tmp_path and path.suffix == ".so" and sorted(tmp_path.iterdir()) == [tmp_path / ".lock", path]
    stamp = path.stat().st_mtime_ns
    assert kernels.built() == path and path.stat().st_mtime_ns == stamp


def test_a_cache_folder_that_cannot_be_made_is_named_in_the_error(monkeypatch, tmp_path):
    from lrviz import kernels

    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("LRVIZ_CACHE", str(tmp_path / "a file" / "cache"))
    with pytest.raises(kernels.BuildError, match=r"a file/cache, which cannot be made .*LRVIZ_CACHE"):
        kernels.built()


def test_a_library_others_could_have_written_is_built_anew_and_none_follows_the_umask(monkeypatch, tmp_path):
    import os

    from lrviz import kernels

    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setenv("LRVIZ_CACHE", str(folder))
    old = os.umask(0o002)  # the group may write what is made: Ubuntu's default for users
    try:
        path = kernels.built()
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o700 and path.stat().st_mode & 0o777 == 0o755
    path.write_bytes(b"planted")
    path.chmod(0o777)
    assert kernels.built() == path and path.read_bytes()[:4] == b"\x7fELF" and path.stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_a_cache_folder_of_another_users_is_refused(monkeypatch, tmp_path):
    from lrviz import kernels

    folder = tmp_path / "cache"
    folder.mkdir()
    os.chown(folder, 65534, 65534)  # nobody's
    monkeypatch.setenv("LRVIZ_CACHE", str(folder))
    with pytest.raises(kernels.BuildError, match="belongs to another user"):
        kernels.built()


def test_workers_that_start_together_build_the_kernel_once(tmp_path):
    import subprocess
    import sys

    log, cxx = tmp_path / "builds", tmp_path / "cxx"
    cxx.write_text(f'#!/bin/sh\necho built >> "{log}"\nsleep 3\nexec g++ "$@"\n')  # wide enough to overlap
    cxx.chmod(0o755)
    env = {**os.environ, "CXX": str(cxx), "LRVIZ_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = "from lrviz import kernels; kernels.inside_op(); print(kernels.built())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    paths = [p.communicate(timeout=240)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and paths[0] == paths[1]
    assert log.read_text().splitlines() == ["built"]
