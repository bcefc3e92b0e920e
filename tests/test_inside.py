"""Inside the optimizer at every step (lrviz.inside): each recorded measure against the same
thing computed in NumPy from the weights before and after the step and from Keras's own
gradient, for Adam and schedule-free AdamW, for a run alone and side by side."""
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


@pytest.mark.parametrize("units", [(16, 16), (32, 40)],
                         ids=["small variables", "a big one, all in the sample"])
@pytest.mark.parametrize("optimizer", [None, SF], ids=["Adam", "schedule-free AdamW"])
def test_each_measure_is_numpys_from_the_weights_and_kerass_gradient(optimizer, units):
    before, after, grads, row, layers, inside = one_step(cfg_of(optimizer, units))
    assert (inside.big, inside.index) == ((0, None) if units == (16, 16) else (1, None))  # 32 × 40 > LIMIT
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
        [cfg_of({"amsgrad": True}, units=(64, 128), seed=5)]  # strided layers: two replicas, and one alone
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
    from lrviz.inside import LIMIT, MEMORY, SAMPLE, chunk_cap, row_floats

    assert row_floats([256, 16]) == 2 * (256 + 16)  # small variables: weights and gradients whole
    assert row_floats([2 * LIMIT]) == 2 * LIMIT + 4  # a big one: its kept steps at most, four numbers
    assert row_floats([100 * LIMIT]) == 4 * SAMPLE + 4  # at most four times its share of the sample
    million = 1_000_000
    assert train.chunk_size(10, 1, 10_000, million) == chunk_cap(million) == 15
    assert (chunk_cap(million) + 1) * million * 4 * 4 <= MEMORY  # the floats, copied ~4 times
    assert chunk_cap(10 ** 9) == 1  # one step a call, never none
    assert train.chunk_size(337, 32, 50, 674) == 50  # a small model: the whole epoch


def test_a_big_variables_stride_keeps_its_share_of_the_sample_and_reaches_every_unit_where_it_can():
    from lrviz.inside import _stride

    assert _stride(8192, 1900, 128) == 3  # 4 would keep 2,048 but shares a factor with the row: 3 does not
    assert _stride(1024 * 1024, 1900, 1024) == 551  # the largest that keeps 1,900 (1024² // 1900) is odd
    assert _stride(64 * 96, 2048, 96) == 1  # 3 and 2 share factors with 96: every weight, not a third of the units
    assert _stride(4096, 0, 64) == 4095  # no share: one weight kept at least (4,096 shares a factor)
    assert _stride(64 * 96, 1536, 96) == 4  # 4, 3 and 2 all share a factor with 96: the largest
    for size in (1025, 4096, 8192, 64 * 96, 1024 * 1024):
        for width in (2, 64, 96, 128, 1024):
            for count in (1, 100, 985, 2048):
                kept = -(-size // _stride(size, count, width))
                assert min(count, size) <= kept <= min(4 * count, size)


def test_a_big_layer_is_measured_exactly_and_lends_every_sth_step_to_the_quantiles():
    from lrviz.inside import LIMIT, SAMPLE, row_floats

    before, after, grads, row, layers, inside = one_step(cfg_of(units=(64, 128), samples=2000), after=30)
    sizes = [b.size for b in before]
    assert 2 * inside.n + inside.kept + 4 * inside.big <= row_floats(inside.sizes)
    assert inside.strides == [None, None, 3, None, None, None]  # 8,192 > LIMIT; 2 divides 128, 3 does not
    assert [m > LIMIT for m in sizes] == [False, False, True, False, False, False]
    delta = [(a - b).astype(np.float64) for a, b in zip(after, before)]
    exact = [np.sqrt(sum((d ** 2).sum() for d in delta[2 * i:2 * i + 2])
                     / sum((b.astype(np.float64) ** 2).sum() for b in before[2 * i:2 * i + 2])) for i in range(layers)]
    np.testing.assert_allclose(row[4:4 + layers], exact, rtol=2e-5)
    np.testing.assert_allclose(row[0], np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)), rtol=2e-5)
    assert row[3] == pytest.approx(max(np.abs(d).max() for d in delta), rel=2e-5)
    # The quantiles' sample: each variable in its share of all the parameters, a big one's from its kept steps.
    kept = [np.abs(np.ravel(d)[::s or 1]) for d, s in zip(delta, inside.strides)]
    steps = np.concatenate(kept)
    index = inside.index
    np.testing.assert_allclose(row[1:3], np.quantile(steps[index], (0.5, 0.9)), rtol=2e-5)
    # The quantiles' sample: each variable in its share of all the parameters.
    share = np.bincount(np.searchsorted(np.cumsum([len(k) for k in kept]), index, side="right"), minlength=6)
    np.testing.assert_allclose(share, SAMPLE * np.array(sizes) / sum(sizes), atol=1)
    assert share.sum() == SAMPLE


def test_a_sampled_model_without_a_big_variable_takes_its_quantiles_over_its_sample():
    from lrviz.inside import SAMPLE

    before, after, grads, row, layers, inside = one_step(cfg_of(units=(32, 32, 32)), after=3)
    assert inside.big == 0 and len(inside.index) == SAMPLE < sum(inside.sizes)  # 2,241 parameters, none over LIMIT
    steps = np.abs(np.concatenate([(a - b).ravel() for a, b in zip(after, before)]))
    np.testing.assert_allclose(row[1:3], np.quantile(steps[inside.index], (0.5, 0.9)), rtol=2e-5)
    assert row[3] == pytest.approx(steps.max(), rel=2e-5)  # the largest over all of them


def test_a_big_layers_measures_do_not_depend_on_how_many_steps_a_graph_call_holds(monkeypatch):
    cfg = cfg_of(units=(64, 128), samples=400)  # 10 steps an epoch, 2 epochs
    alone = rows_of(cfg)  # the whole epoch in one call: each step measured from the one before it
    monkeypatch.setattr(train, "chunk_size", lambda *args: 1)  # each step the first of its call
    single = rows_of(cfg)
    for column in INSIDE_COLUMNS:
        np.testing.assert_allclose(alone[column], single[column], rtol=1e-4, err_msg=column)


def test_a_big_variables_largest_step_counts_though_it_is_not_among_the_kept_steps():
    import keras
    import tensorflow as tf

    from lrviz.inside import Inside

    rng = np.random.default_rng(0)
    kernel = keras.Variable(rng.normal(size=(64, 128)).astype(np.float32))
    bias = keras.Variable(rng.normal(size=128).astype(np.float32))
    inside = Inside([[kernel, bias]])
    assert inside.strides == [3, None]
    before = [kernel.numpy().astype(np.float64), bias.numpy().astype(np.float64)]
    state, marks = inside.begin(), inside.mark()
    step = rng.normal(scale=1e-3, size=(64, 128)).astype(np.float32)
    step[0, 1] = 0.5  # the largest step, at a weight the row does not keep (flat index 1)
    kernel.assign(kernel.numpy() + step)
    bias.assign(bias.numpy() - np.float32(1e-3))
    grads = [rng.normal(size=(64, 128)).astype(np.float32), np.ones(128, np.float32)]
    state = inside.step(0, state, [tf.constant(g) for g in grads], marks)
    measured = inside.measures(state)[0].numpy()[0, 0]
    delta = [kernel.numpy() - before[0], bias.numpy() - before[1]]
    np.testing.assert_allclose(measured[0], np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)), rtol=1e-6)
    assert measured[3] == pytest.approx(0.5, rel=1e-6)
    ratio = np.sqrt(sum((d ** 2).sum() for d in delta) / sum((b ** 2).sum() for b in before))
    assert measured[4] == pytest.approx(ratio, rel=1e-5)
