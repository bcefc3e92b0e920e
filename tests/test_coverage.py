"""Schedules that count steps and the run they are used in: the preview says when a schedule
ends before training does, or when a warmup, decay or drop never happens; presets in epochs or
in % of the run follow the run."""
import shutil

import pytest

from lrviz import config, presets
from lrviz.schedules import coverage, make

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def notes_of(schedule, **training):
    cfg = config.validate({"schedule": schedule, "training": training})
    return coverage.notes(cfg["schedule"], cfg["training"]["epochs"], config.steps_per_epoch(cfg))


def test_a_cosine_that_ends_halfway_says_where_and_what_rate_is_left():
    cosine = make("CosineDecay", initial_learning_rate=1e-5, warmup_target=3e-3, warmup_steps=100,
                  decay_steps=900, alpha=0.01)
    (note,) = notes_of(cosine, epochs=40)  # 50 steps per epoch: 2,000 steps
    assert note.step == 1000 and "ends at step 1,000 (epoch 20) of 40" in note.text
    assert "last 1,000 steps (50 % of the run) stay at 3e-05" in note.text


def test_a_schedule_that_spans_the_run_says_nothing():
    assert notes_of(make("CosineDecay", decay_steps=1000), epochs=20) == []


def test_a_warmup_longer_than_the_run_never_completes():
    notes = notes_of(make("warmup_stable_decay", warmup_steps=1200, stable_steps=0, decay_steps=100), epochs=20)
    assert [n.text.split("**")[1] for n in notes] == ["The warmup never completes", "The decay never completes"]
    assert "would end at step 1,200 (epoch 24), but the run has 1,000 steps (20 epochs)" in notes[0].text
    assert notes[0].step == 1000


def test_a_decay_cut_short_says_how_far_it_got_and_the_last_rate():
    (note,) = notes_of(make("PolynomialDecay", initial_learning_rate=0.01, decay_steps=4000,
                            end_learning_rate=0.0001), epochs=20)
    assert "never completes" in note.text and "(25 % of the way)" in note.text
    assert "the rate at the last step is 0.00753" in note.text


def test_a_boundary_beyond_the_run_never_happens():
    (note,) = notes_of(make("PiecewiseConstantDecay", boundaries=[500, 1500], values=[0.01, 0.001, 0.0001]),
                       epochs=20)
    assert "never happens" in note.text and "step 1,501 (epoch 30.0)" in note.text


def test_epoch_drops_beyond_the_run_never_happen():
    (note,) = notes_of(make("multi_step", milestones=[10, 25]), epochs=20)
    assert note.text.startswith("**The drop at epoch 25 never happens**")
    (note,) = notes_of(make("step_decay", epochs_drop=30), epochs=20)
    assert note.text.startswith("**The first drop never happens**")


def test_a_warmup_in_front_of_a_schedule_shifts_the_inner_schedules_end():
    inner = make("CosineDecay", decay_steps=500)
    (note,) = notes_of(make("linear_warmup", warmup_steps=100, schedule=inner), epochs=20)
    assert note.step == 600 and "ends at step 600" in note.text


@pytest.fixture
def example_csv(tmp_path, monkeypatch):
    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    shutil.copy(ROOT / "assets" / "example.csv", tmp_path / "example.csv")
    monkeypatch.chdir(tmp_path)
    return {"name": "csv", "path": "example.csv"}


def test_the_cosine_preset_spans_the_run_of_an_uploaded_csv(example_csv):
    base = config.validate({"schedule": make("constant"), "data": example_csv})
    cfg = presets.available()["Cosine decay with linear warmup"].config(base)
    spe = config.steps_per_epoch(cfg)
    assert spe == 8  # 300 rows, 240 for training, batch 32
    assert cfg["schedule"]["config"]["warmup_steps"] == 16 and cfg["schedule"]["config"]["decay_steps"] == 144
    assert coverage.notes(cfg["schedule"], 20, spe) == []


@pytest.mark.parametrize("epochs", [5, 20, 40, 333])
def test_presets_over_the_whole_run_cover_any_number_of_epochs(epochs):
    for name in ("Cosine decay with linear warmup", "Warmup, stable, decay (WSD)"):
        cfg = presets.available()[name].config(epochs=epochs)
        assert coverage.notes(cfg["schedule"], epochs, config.steps_per_epoch(cfg)) == [], name


def test_presets_in_epochs_keep_their_epochs_for_any_batch_size():
    base = config.validate({"schedule": make("constant"), "training": {"batch_size": 100}})
    cfg = presets.available()["Exponential decay, staircase"].config(base)
    assert cfg["schedule"]["config"]["decay_steps"] == 5 * config.steps_per_epoch(cfg)  # 5 epochs of 16 steps


def test_shrinking_restarts_that_turn_nan_within_the_run_are_refused_naming_t_mul():
    with pytest.raises(config.ConfigError, match=r"gives the rate nan at step 400 \(epoch 8") as err:
        config.validate({"schedule": make("CosineDecayRestarts", first_decay_steps=200, t_mul=0.5)})
    assert err.value.field == "schedule.config.t_mul"


def test_where_kerass_arithmetic_departs_from_the_exact_schedule_the_page_says_so():
    cfg = config.validate({"schedule": make("CosineDecayRestarts", first_decay_steps=10, t_mul=2.0),
                           "training": {"epochs": 1700}})
    (text,) = coverage.arithmetic(cfg["schedule"], 1700, 50)
    assert "step 81,910 (epoch 1,638.2): Keras is in period 12, the exact schedule in period 13" in text
    assert coverage.arithmetic(cfg["schedule"], 1600, 50) == []
