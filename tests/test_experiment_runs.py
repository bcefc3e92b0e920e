"""Experiments on a real pool: a group's runs train as the same configs trained alone, the
results table reads the store, Stop stops the whole group, Delete leaves nothing, and a run
that diverges or fails does not stop the others."""
import numpy as np
import pytest

from lrviz import config, train
from lrviz.experiments import groups, sweep
from lrviz.pool import Pool
from lrviz.schedules import make

pytestmark = pytest.mark.timeout(600)

BASE = {"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200}, "training": {"epochs": 3}}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    pool = Pool(tmp_path_factory.mktemp("experiments"), max_workers=2)
    yield pool
    pool.shutdown()


def finish(engine, group):
    import time

    while any(r["status"] in ("queued", "running") for r in engine.store.group_runs(group)):
        time.sleep(0.05)
    return engine.store.group_runs(group)


@pytest.fixture(scope="module")
def swept(engine):
    raw = {"base": BASE, "grid": {"optimizer.beta_1": [0.9, 0.5], "schedule": [make("constant", learning_rate=0.01),
                                                                           make("CosineDecay", decay_steps=15)]},
           "seeds": [0, 1]}
    plan = sweep.check(raw)
    group = groups.start(engine, "sweep", raw, plan, "grid")
    return plan, group, finish(engine, group)


def test_every_run_of_a_sweep_finishes_in_its_cell(swept):
    plan, group, runs = swept
    assert [r["status"] for r in runs] == ["done"] * 8
    assert [r["cell"] for r in runs] == [[*run.cell, run.seed] for run in plan.runs]


def test_a_cell_of_a_sweep_equals_the_same_config_trained_alone(swept, engine):
    plan, group, runs = swept
    alone = []
    train.run(config.validate(plan.runs[5].config), lambda s, e: alone.extend(e))
    pooled = engine.store.epochs(runs[5]["id"])
    np.testing.assert_allclose(pooled["val_loss"], [e[3] for e in alone], rtol=1e-4)


def test_the_results_have_one_row_per_run_with_the_grid_by_path(swept, engine):
    plan, group, runs = swept
    cols = groups.results(engine.store, group)
    assert list(cols)[:6] == ["optimizer.beta_1", "schedule", "seed", "run_id", "status", "final_loss"]
    assert "final_accuracy" in cols and "final_val_accuracy" in cols and cols["node"][0]
    epochs = engine.store.epochs(runs[0]["id"])
    assert cols["final_val_loss"][0] == epochs["val_loss"][-1] and cols["best_val_loss"][0] == min(epochs["val_loss"])
    assert all(r["started"] <= r["finished"] for r in runs)
    csv = groups.csv_columns(cols)
    assert csv["schedule"][0] == '{"kind": "constant", "learning_rate": 0.01}'


def test_cells_average_the_seeds_of_each_cell(swept, engine):
    plan, group, runs = swept
    cols = groups.results(engine.store, group)
    table = groups.cells(cols, ["optimizer.beta_1", "schedule"], "final_val_loss")
    assert len(table) == 4 and all(c["n"] == 2 for c in table)
    assert table[0]["mean"] == pytest.approx(np.mean(cols["final_val_loss"][:2]))


def test_a_diverging_cell_shows_as_diverged_and_the_others_finish(engine):
    raw = {"base": {**BASE, "model": {"hidden_units": [32] * 6}, "data": {"name": "regression", "n_samples": 200}},
           "grid": {"schedule": [make("constant", learning_rate=0.001), make("constant", learning_rate=10.0)]},
           "seeds": [0]}
    group = groups.start(engine, "sweep", raw, sweep.check(raw))
    runs = finish(engine, group)
    assert [r["status"] for r in runs] == ["done", "diverged"]
    table = groups.cells(groups.results(engine.store, group), ["schedule"], "final_val_loss")
    assert table[1]["n"] == 0 and table[1]["status"] == "1 diverged"


def test_stop_stops_every_run_of_the_group(engine):
    raw = {"base": {**BASE, "training": {"epochs": 10_000}}, "seeds": [0, 1, 2, 3]}
    group = groups.start(engine, "seeds", raw, sweep.check(raw))
    groups.stop(engine, group)
    assert {r["status"] for r in finish(engine, group)} == {"stopped"}


def test_delete_removes_the_group_and_its_runs(engine):
    raw = {"base": BASE, "seeds": [0, 1]}
    group = groups.start(engine, "seeds", raw, sweep.check(raw))
    ids = [r["id"] for r in engine.store.group_runs(group)]
    groups.delete(engine, group)
    assert engine.store.group(group) is None and all(engine.store.run(i) is None for i in ids)


def test_groups_survive_a_restart(engine):
    from lrviz.store import Store

    raw = {"base": BASE, "seeds": [5]}
    group = groups.start(engine, "seeds", raw, sweep.check(raw), "kept")
    finish(engine, group)
    again = Store(engine.store.home)
    assert again.group(group)["name"] == "kept" and again.group_runs(group)[0]["status"] == "done"


def test_the_seeds_of_a_cell_train_side_by_side_in_one_worker(swept):
    plan, group, runs = swept
    for cell in range(4):
        pair = runs[2 * cell:2 * cell + 2]
        assert pair[0]["node"] == pair[1]["node"] and abs(pair[0]["started"] - pair[1]["started"]) < 0.5


def test_a_sweeps_runs_are_named_for_their_cell_and_seed_as_people_read_them(swept):
    plan, group, runs = swept
    assert runs[0]["name"].endswith(": optimizer.beta_1 = 0.9, schedule = Constant (peak 0.01), seed 0")
    assert runs[-1]["name"].endswith(": optimizer.beta_1 = 0.5, schedule = Cosine decay (with warmup) (peak 0.01), seed 1")


def test_a_sweeps_runs_over_adam_settings_train_side_by_side_in_one_worker(swept):
    plan, group, runs = swept
    assert len({r["node"] for r in runs}) == 1


def test_networks_of_their_own_are_shared_out_over_the_workers(engine, monkeypatch):
    import time

    monkeypatch.setattr(engine, "recycle_growth", 10.0)  # no worker is replaced meanwhile
    while engine.active() or len(engine.workers()) != 2:  # both free: the store says done a little earlier
        time.sleep(0.05)
    engine.wait_ready()
    raw = {"base": BASE, "grid": {"model.activation": ["relu", "tanh"]}, "seeds": [0, 1]}
    runs = finish(engine, groups.start(engine, "sweep", raw, sweep.check(raw)))
    relu, tanh = {r["node"] for r in runs[:2]}, {r["node"] for r in runs[2:]}
    assert len(relu) == len(tanh) == 1 and relu != tanh


def test_a_network_of_its_own_trains_its_seeds_together_even_when_a_job_is_full(engine):
    """3 networks x 7 seeds: a job of whole blocks (7, not 7 + 3 of the next), each block started at once."""
    raw = {"base": BASE, "grid": {"model.activation": ["relu", "tanh", "elu"]}, "seeds": list(range(7))}
    runs = finish(engine, groups.start(engine, "sweep", raw, sweep.check(raw)))
    for block in (runs[:7], runs[7:14], runs[14:]):
        assert len({r["node"] for r in block}) == 1
        assert max(r["started"] for r in block) - min(r["started"] for r in block) < 0.5


def test_an_experiment_that_cannot_start_leaves_no_group_and_no_run(engine, tmp_path):
    from lrviz.params import ConfigError

    table = tmp_path / "one-class.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i * 2},yes\n" for i in range(50)))
    raw = {"base": {**BASE, "data": {"name": "csv", "path": str(table), "target": "label", "task": "classification"}},
           "seeds": [0, 1]}
    plan = sweep.check(raw)  # its file and length are fine; its one class only shows when runs are made
    before = (len(engine.store.groups()), len(engine.store.runs()))
    with pytest.raises(ConfigError, match="class"):
        groups.start(engine, "seeds", raw, plan)
    assert (len(engine.store.groups()), len(engine.store.runs())) == before


def test_stopping_one_run_of_a_stack_stops_it_and_the_others_finish(engine):
    import time

    raw = {"base": {**BASE, "training": {"epochs": 400}}, "seeds": [0, 1]}
    group = groups.start(engine, "seeds", raw, sweep.check(raw))
    first, second = (r["id"] for r in engine.store.group_runs(group))
    while not engine.store.steps(first)["step"]:
        time.sleep(0.02)
    engine.stop(first)
    runs = finish(engine, group)
    assert [r["status"] for r in runs] == ["stopped", "done"]
    assert len(engine.store.steps(first)["step"]) < len(engine.store.steps(second)["step"]) == 2000
