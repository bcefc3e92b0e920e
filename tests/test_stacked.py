"""Runs that differ in their seed, schedule, Adam settings or network train side by side as one
model, and each is the run it would be alone: the same rate at every step, the same losses and metrics within float32
noise (final val_loss well within the 1e-4 the brief asks), its own divergence and its own Stop."""
import itertools

import numpy as np
import pytest

from lrviz import config, executor, stacked, train
from lrviz.schedules import make

pytestmark = pytest.mark.timeout(600)

CASES = {  # task and schedule mechanism: a Keras class, a curve, a function of the epoch
    "binary, CosineDecay": ({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.01,
                                                                     "decay_steps": 120}}, {"name": "moons"}),
    "multiclass, one-cycle": (make("one_cycle", maximal_learning_rate=0.02), {"name": "iris"}),
    "regression, step decay": (make("step_decay", initial_learning_rate=0.01, epochs_drop=2), {"name": "regression"}),
}


def seeds(schedule, data, n=3, **training):
    base = config.validate({"schedule": schedule, "data": {"n_samples": 300, **data},
                            "training": {"epochs": 6, **training}})
    return [{**base, "training": {**base["training"], "seed": s}} for s in range(n)]


def alone(cfg):
    steps, epochs = [], []
    outcome = train.run(cfg, lambda s, e: (steps.extend(s), epochs.extend(e)))
    return outcome, np.array(steps, dtype=float), np.array(epochs, dtype=float)


def side_by_side(cfgs, stops=None):
    rows = [([], []) for _ in cfgs]
    outcomes = stacked.run(cfgs, [lambda s, e, r=r: (r[0].extend(s), r[1].extend(e)) for r in rows],
                           stops or [None] * len(cfgs))
    return [(o, np.array(s, dtype=float), np.array(e, dtype=float)) for o, (s, e) in zip(outcomes, rows)]


@pytest.fixture(scope="module", params=list(CASES))
def compared(request):
    cfgs = seeds(*CASES[request.param])
    return [alone(c) for c in cfgs], side_by_side(cfgs)


def test_each_replica_applies_the_rate_of_its_run_alone_at_every_step(compared):
    for (_, solo, _), (_, stack, _) in zip(*compared):
        assert np.array_equal(solo[:, :3], stack[:, :3])  # step, epoch, learning rate


def test_each_replica_ends_where_its_run_alone_ends(compared):
    for (solo, _, solo_epochs), (stack, _, stack_epochs) in zip(*compared):
        assert (stack.status, stack.steps, stack.epochs) == (solo.status, solo.steps, solo.epochs)
        assert len(stack_epochs) == len(solo_epochs)


def test_each_replica_has_the_losses_and_metrics_of_its_run_alone(compared):
    for (_, solo_steps, solo), (_, stack_steps, stack) in zip(*compared):
        np.testing.assert_allclose(stack_steps[:, 3], solo_steps[:, 3], rtol=1e-5)
        np.testing.assert_allclose(stack[:, 2:6], solo[:, 2:6], rtol=1e-5)  # loss, val_loss, metric, val_metric


@pytest.fixture(scope="module")
def rates():
    """A sweep over the rate, one seed per cell: one schedule each, one stack (one Adam, a rate per replica)."""
    base = seeds(make("constant", learning_rate=0.003), {"name": "moons"}, n=1)[0]
    cfgs = [{**base, "schedule": make("constant", learning_rate=r)} for r in (1e-3, 1e-2)]
    cfgs.append({**base, "schedule": make("CosineDecay", initial_learning_rate=0.02, decay_steps=150)})
    return [alone(c) for c in cfgs], side_by_side(cfgs), cfgs


def test_replicas_with_schedules_of_their_own_share_a_stack_key(rates):
    *_, cfgs = rates
    assert len({executor.stack_key(c) for c in cfgs}) == 1


def assert_rows_as_alone(solo: tuple, stack: tuple) -> None:
    """(outcome, step rows, epoch rows) of a replica against its run alone: the rate of every
    step bit for bit, the losses and the epochs' values within float32 noise."""
    (_, solo_steps, solo_epochs), (_, stack_steps, stack_epochs) = solo, stack
    assert np.array_equal(solo_steps[:, :3], stack_steps[:, :3])
    np.testing.assert_allclose(stack_steps[:, 3], solo_steps[:, 3], rtol=1e-5)
    np.testing.assert_allclose(stack_epochs[:, 2:6], solo_epochs[:, 2:6], rtol=1e-5)


def test_each_replica_follows_its_own_schedule_as_its_run_alone(rates):
    solo_runs, stack_runs, _ = rates
    for solo, stack in zip(solo_runs, stack_runs):
        assert_rows_as_alone(solo, stack)


BLOCKS = {  # replicas with Adam settings or a network of their own, side by side
    "beta_1": {"optimizer": {"beta_1": 0.8}},
    "beta_2 near 1": {"optimizer": {"beta_2": 0.99999}},  # 1 - beta_2 in float32 would lose 2 digits
    "epsilon": {"optimizer": {"epsilon": 1e-3}},
    "amsgrad": {"optimizer": {"amsgrad": True}},
    "weight decay": {"optimizer": {"weight_decay": 0.05}},
    "clipvalue": {"optimizer": {"clipvalue": 0.01}},
    "widths": {"model": {"hidden_units": [8, 24, 8]}},
    "activation": {"model": {"activation": "tanh"}},
}


def blocks(schedules):
    """The default config, then one replica per BLOCKS entry, then a second seed of the default;
    schedules: each replica's schedule, in turn."""
    base = seeds(make("constant"), {"name": "iris"}, n=1)[0]
    cfgs = [base, *[config.validate({**base, **change}) for change in BLOCKS.values()]]
    cfgs.append({**base, "training": {**base["training"], "seed": 1}})
    return [{**c, "schedule": s} for c, s in zip(cfgs, itertools.cycle(schedules))]


@pytest.fixture(scope="module", params=["one schedule", "schedules of their own"])
def blocked(request):
    mixed = [make("constant", learning_rate=0.01), make("CosineDecay", initial_learning_rate=0.02, decay_steps=90)]
    cfgs = blocks(mixed[:1] if request.param == "one schedule" else mixed)
    return [alone(c) for c in cfgs], side_by_side(cfgs), cfgs


def test_runs_that_differ_in_their_adam_or_network_share_a_stack_key(blocked):
    *_, cfgs = blocked
    assert len({executor.stack_key(c) for c in cfgs}) == 1


def test_each_replica_with_an_adam_or_network_of_its_own_is_its_run_alone(blocked):
    solo_runs, stack_runs, _ = blocked
    for solo, stack in zip(solo_runs, stack_runs):
        assert (stack[0].status, stack[0].steps) == (solo[0].status, solo[0].steps)
        assert_rows_as_alone(solo, stack)


def test_replicas_in_blocks_of_their_own_differ_from_the_default():
    """The check above could pass if every block trained the first block's Adam and network."""
    (_, default, _), *others = side_by_side(blocks([make("constant", learning_rate=0.01)])[:-1])
    for (_, own, _), name in zip(others, BLOCKS):
        assert not np.allclose(own[:, 3], default[:, 3]), name


def test_replicas_with_their_own_rates_keep_weight_decay_exact():
    base = seeds(make("constant"), {"name": "moons"}, n=1)[0]
    decayed = {**base, "optimizer": {**base["optimizer"], "weight_decay": 0.05}}
    cfgs = [{**decayed, "schedule": make("constant", learning_rate=r)} for r in (0.003, 0.03)]
    for (_, _, solo), (_, _, stack) in zip([alone(c) for c in cfgs], side_by_side(cfgs)):
        np.testing.assert_allclose(stack[:, 2:6], solo[:, 2:6], rtol=1e-5)


def test_the_first_seed_of_a_stack_is_not_the_others():
    (_, a, _), (_, b, _) = side_by_side(seeds(*CASES["binary, CosineDecay"], n=2))
    assert not np.array_equal(a[:, 3], b[:, 3])


def test_a_replica_that_diverges_ends_alone_at_its_own_step():
    cfgs = seeds(make("constant", learning_rate=10.0), {"name": "regression"}, n=2, epochs=20)
    cfgs = [{**c, "model": {**c["model"], "hidden_units": [32] * 6}} for c in cfgs]
    for (solo, solo_steps, _), (stack, stack_steps, _) in zip([alone(c) for c in cfgs], side_by_side(cfgs)):
        assert stack.status == solo.status == "diverged" and stack.steps == solo.steps
        assert stack.error == solo.error


class StopAfter:
    """A run's stop flag that is set once training has asked it `calls` times."""

    def __init__(self, calls):
        self.calls = calls

    def is_set(self):
        self.calls -= 1
        return self.calls < 0


def test_stopping_one_replica_stops_it_and_not_the_others():
    cfgs = seeds(*CASES["binary, CosineDecay"], n=2)
    (stopped, steps, _), (done, _, epochs) = side_by_side(cfgs, [StopAfter(2), None])
    assert stopped.status == "stopped" and stopped.steps < done.steps and len(steps) == stopped.steps
    assert done.status == "done" and len(epochs) == 6


def test_runs_that_differ_in_their_seed_share_a_stack_key():
    a, b = seeds(*CASES["binary, CosineDecay"], n=2)
    assert executor.stack_key(a) == executor.stack_key(b) is not None


@pytest.mark.parametrize("change", [{"data": {"noise": 0.3}}, {"training": {"batch_size": 64}},
                                    {"training": {"epochs": 7}}])
def test_runs_on_other_data_or_batches_do_not_share_a_stack_key(change):
    a = seeds(*CASES["binary, CosineDecay"], n=1)[0]
    other = {section: {**a[section], **values} for section, values in change.items()}
    assert executor.stack_key({**a, **other}) != executor.stack_key(a)


def test_a_schedule_set_by_epoch_stacks_only_with_the_same_adam_and_network():
    """Its callback sets one optimizer's rate: one block only."""
    a = seeds(*CASES["regression, step decay"], n=1)[0]
    for change in BLOCKS.values():
        other = {section: {**a[section], **values} for section, values in change.items()}
        assert executor.stack_key({**a, **other}) != executor.stack_key(a)


@pytest.mark.parametrize("change", [
    {"schedule": make("reduce_lr_on_plateau")},  # one monitored metric for all
    {"optimizer": {"clipnorm": 1.0}},  # a norm over every replica
    {"optimizer": {"global_clipnorm": 1.0}},
    {"schedule": make("lr_range")},  # stops on its own loss
])
def test_runs_that_cannot_share_a_schedule_or_a_norm_train_alone(change):
    base = seeds(*CASES["binary, CosineDecay"], n=1)[0]
    assert executor.stack_key(config.validate({**base, **change})) is None


def test_a_replica_whose_run_is_deleted_ends_alone():
    from lrviz.store import RunGone

    cfgs = seeds(*CASES["binary, CosineDecay"], n=2)
    calls, kept = [0], []

    def deleted(steps, epochs):
        calls[0] += 1
        if calls[0] > 3:
            raise RunGone(7)  # the store refuses rows once the run is gone

    outcomes = stacked.run(cfgs, [deleted, lambda s, e: kept.extend(e)], [None, None])
    assert outcomes[0].status == "failed" and "no longer exists" in outcomes[0].error
    assert outcomes[1].status == "done" and len(kept) == 6


@pytest.mark.parametrize("data", [{"name": "moons"}, {"name": "iris"}])
def test_a_replica_starts_from_the_weights_of_its_run_alone(data):
    from lrviz import data as datamod
    from lrviz import model

    cfg = config.validate({"schedule": make("constant"), "data": data, "model": {"hidden_units": [8, 4]},
                           "training": {"seed": 7}})
    loaded = datamod.load(cfg["data"])
    built = model.network(cfg, loaded).get_weights()
    drawn = [w for pair in model.initial_weights(cfg, loaded) for w in pair]
    assert len(built) == len(drawn) and all(np.array_equal(a, b) for a, b in zip(built, drawn))
