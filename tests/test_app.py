"""The page under Streamlit's AppTest: widgets driven by key, figures read from their JSON,
downloads captured where Streamlit stores them, URLs and uploads, and a real tiny run."""
from __future__ import annotations

import base64
import csv
import io
import json
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lrviz import config, exports, presets, urlstate, visitors
from lrviz.schedules import curve, family_id, make
from tests.apptest import APP, app, errors, ok, open_panels, open_tab, spec, ys

@pytest.fixture(scope="module", autouse=True)
def home(page_home):
    return page_home


def url_cfg(at) -> str:
    value = at.query_params["cfg"]
    return value if isinstance(value, str) else value[-1]


def warnings(at):
    return " ".join(w.value for w in at.warning).replace("\\", "")


def test_first_page_shows_the_articles_recipe_and_puts_it_in_the_url():
    at = ok(app())
    assert not at.error
    fig = spec(at)
    assert fig["data"][0]["name"].startswith("Time-based decay")
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("optimizer step")
    assert fig["layout"]["yaxis"]["title"]["text"] == "learning rate"
    cfg, problem = urlstate.decode({"cfg": url_cfg(at)})
    assert problem is None and family_id(cfg["schedule"]) == "time_based_decay"
    want = curve(cfg["schedule"], 20, 50)[2]
    np.testing.assert_allclose(ys(fig), want)  # 1,000 steps: every point is drawn
    assert any("compounds" in w.value for w in at.warning)  # the article's pitfall
    assert len(at.get("plotly_chart")) >= 2  # with its comparison chart


def test_every_widget_has_a_key_and_help():
    at = ok(app())
    for tab in [t.label for t in at.tabs]:
        check_keys_and_help(ok(open_tab(at, tab)))


def test_only_the_open_tab_is_drawn():
    at = ok(app())
    assert any("preview.chart" in c.proto.id for c in at.get("plotly_chart"))
    assert not at.get("download_button") and not at.button
    open_tab(at, "Downloads")
    assert at.get("download_button") and not at.get("plotly_chart")


def test_a_tab_keeps_its_settings_while_another_tab_is_open():
    at = ok(open_tab(app(), "Train"))
    at.text_input(key="train.name").set_value("kept").run()
    open_tab(at, "Preview")
    assert "train.name" not in [w.key for w in at.text_input]  # the Train tab is not drawn ...
    open_tab(at, "Train")
    assert at.text_input(key="train.name").value == "kept"  # ... yet its name is still there


def test_a_closed_panel_draws_no_widgets_yet_keeps_their_values():
    at = ok(AppTest.from_file(APP, default_timeout=30).run())  # a first visit: only Adam is open
    assert "training.epochs" not in [w.key for w in at.number_input]
    assert "optimizer.beta_1" in [w.key for w in at.number_input]
    open_panels(at).number_input(key="training.epochs").set_value(7).run()
    at.session_state["panel.training"] = False
    at.number_input(key="optimizer.beta_1").set_value(0.8).run()  # a rerun with the panel closed
    assert "7 epochs" in at.markdown[0].value and "β₁=0.8" in at.markdown[0].value
    assert ok(open_panels(at)).number_input(key="training.epochs").value == 7


def check_keys_and_help(at: AppTest) -> None:
    for kind in ("selectbox", "select_slider", "number_input", "toggle", "checkbox", "text_input", "slider",
                 "text_area", "multiselect", "button"):
        for w in getattr(at, kind):
            assert w.key, (kind, w.label)
            assert w.help, (kind, w.key)


def test_family_and_parameters_redraw_the_preview():
    at = ok(app())
    at.selectbox(key="s.family").set_value("ExponentialDecay").run()
    ok(at)
    at.select_slider(key="s.ExponentialDecay.initial_learning_rate").set_value(0.05)
    at.number_input(key="s.ExponentialDecay.decay_steps").set_value(200)
    at.number_input(key="s.ExponentialDecay.decay_rate").set_value(0.25)
    at.toggle(key="s.ExponentialDecay.staircase").set_value(True).run()
    ok(at)
    assert not at.error, errors(at)
    sched = make("ExponentialDecay", initial_learning_rate=0.05, decay_steps=200, decay_rate=0.25, staircase=True)
    np.testing.assert_allclose(ys(spec(at)), curve(sched, 20, 50)[2])
    at.toggle(key="p.log_y").set_value(True)
    at.toggle(key="p.adam").set_value(True)
    at.toggle(key="c.on").set_value(True).run()
    at.selectbox(key="c.family").set_value("constant").run()
    ok(at)
    fig = spec(at)
    assert fig["layout"]["yaxis"]["type"] == "log"
    names = [d["name"] for d in fig["data"]]
    assert any("Adam step size" in n for n in names) and any(n.startswith("compare: Constant") for n in names)
    t = np.arange(1000) + 1.0
    lr = curve(sched, 20, 50)[2]
    np.testing.assert_allclose(ys(fig, 1), lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t), rtol=1e-12)


@pytest.mark.parametrize("name", list(presets.available()))
def test_each_preset_loads(name):
    at = ok(app())
    at.selectbox(key="preset").set_value(name).run()
    ok(at)
    assert not at.error, errors(at)
    want = presets.available()[name].config()
    assert at.selectbox(key="s.family").value == family_id(want["schedule"])
    cfg, _ = urlstate.decode({"cfg": url_cfg(at)})
    assert cfg["schedule"] == want["schedule"]
    spe = config.steps_per_epoch(cfg)
    np.testing.assert_allclose(ys(spec(at)), curve(want["schedule"], cfg["training"]["epochs"], spe)[2])


def test_the_preset_box_names_the_articles_recipe_on_a_first_visit():
    at = ok(app())
    assert at.selectbox(key="preset").value == presets.PRESETS[0].name


def test_the_preset_box_says_what_changed_and_choosing_the_preset_again_restores_it():
    at = ok(app())
    at.number_input(key="training.epochs").set_value(30).run()
    assert at.selectbox(key="preset").value == "(your own settings)"
    note = " ".join(c.value for c in at.caption)
    assert "Changed since you loaded" in note and "`training.epochs`" in note
    at.selectbox(key="preset").set_value(presets.PRESETS[0].name).run()
    assert at.number_input(key="training.epochs").value == 20
    assert at.selectbox(key="preset").value == presets.PRESETS[0].name


def test_settings_that_equal_a_preset_are_named_for_it():
    cfg = presets.available()["One-cycle"].config()
    at = ok(app({"cfg": urlstate.encode(cfg)["cfg"]}))
    assert at.selectbox(key="preset").value == "One-cycle"


def test_a_preset_over_the_whole_run_follows_the_epochs():
    at = ok(app())
    at.selectbox(key="preset").set_value("Cosine decay with linear warmup").run()
    assert at.segmented_control(key="s.units").value == "% of the run"
    at.number_input(key="training.epochs").set_value(40).run()
    cfg, _ = urlstate.decode({"cfg": url_cfg(at)})
    assert cfg["schedule"]["config"]["decay_steps"] == 1800 and not at.warning
    assert urlstate.decode_units(at.query_params) == "% of the run"


def test_a_schedule_that_ends_before_training_does_says_so_and_marks_where():
    at = ok(app())
    at.selectbox(key="preset").set_value("Cosine decay with linear warmup").run()
    at.segmented_control(key="s.units").set_value("steps").run()
    assert at.number_input(key="s.CosineDecay.decay_steps").value == 900
    at.number_input(key="training.epochs").set_value(40).run()
    (note,) = [w.value for w in at.warning]
    assert "ends at step 1,000 (epoch 20) of 40" in note
    marks = [s for s in spec(at)["layout"]["shapes"] if s["line"].get("dash") == "dash"]
    assert [m["x0"] for m in marks] == [1000]


def test_changing_the_unit_shows_the_same_steps_in_it():
    at = ok(app())
    at.selectbox(key="s.family").set_value("CosineDecay").run()
    at.number_input(key="s.CosineDecay.decay_steps").set_value(500).run()
    at.segmented_control(key="s.units").set_value("epochs").run()
    assert at.number_input(key="s.CosineDecay.decay_steps").value == 10
    at.segmented_control(key="s.units").set_value("% of the run").run()
    assert at.number_input(key="s.CosineDecay.decay_steps").value == 50
    cfg, _ = urlstate.decode({"cfg": url_cfg(at)})
    assert cfg["schedule"]["config"]["decay_steps"] == 500


def test_a_reload_keeps_the_unit_of_step_counts():
    cfg = presets.available()["Warmup, stable, decay (WSD)"].config()
    at = ok(app({"cfg": urlstate.encode(cfg)["cfg"], "units": "percent"}))
    assert at.number_input(key="s.warmup_stable_decay.stable_steps").value == 65


def test_a_rate_far_above_adams_range_gets_a_warning():
    at = ok(app())
    at.selectbox(key="s.family").set_value("expression").run()
    at.text_area(key="s.expression.expression").set_value("lr0 * 500").run()
    assert any("far above what Adam tolerates" in w.value for w in at.warning)


def test_nested_and_comparison_schedules_are_labelled_as_what_they_are():
    at = ok(app())
    at.selectbox(key="s.family").set_value("linear_warmup").run()
    assert at.selectbox(key="s.linear_warmup.schedule.family").label == "inner schedule family"
    assert any("the inner schedule" in m.value for m in at.markdown)
    at.toggle(key="c.on").set_value(True).run()
    assert at.selectbox(key="c.family").label == "comparison schedule family"


def test_a_links_chart_options_are_drawn_on_its_very_first_run():
    at = ok(AppTest.from_file(APP, default_timeout=30))
    at.query_params["p.log_y"] = "true"
    at.run()
    assert spec(at)["layout"]["yaxis"]["type"] == "log"


def test_a_formula_that_goes_negative_late_in_the_run_is_refused_and_cannot_train():
    at = ok(app())
    at.number_input(key="training.epochs").set_value(30).run()  # 1,500 steps
    at.selectbox(key="s.family").set_value("expression").run()
    at.text_area(key="s.expression.expression").set_value("lr0 * (1 - step / 1100)").run()
    text = errors(at)
    assert "schedule.expression" in text and "at step 1,101 (epoch 22, with 50 steps per epoch)" in text
    assert open_tab(at, "Train").button(key="train.start").disabled


def test_a_comparison_formula_that_goes_bad_in_the_run_is_refused_naming_it():
    at = ok(app())
    at.toggle(key="c.on").set_value(True).run()
    at.selectbox(key="c.family").set_value("expression").run()
    at.text_area(key="c.expression.expression").set_value("lr0 - step * 1e-4").run()
    ok(at)
    text = errors(at)
    assert "Comparison schedule refused" in text and "comparison schedule.expression" in text and "step 101" in text


def test_a_preset_that_cannot_run_over_your_data_says_so_and_changes_nothing():
    at = ok(app())
    at.number_input(key="data.n_samples").set_value(200_000)
    at.number_input(key="training.batch_size").set_value(1)
    at.number_input(key="training.epochs").set_value(1).run()
    at.selectbox(key="preset").set_value("One-cycle").run()
    ok(at)
    assert "Preset not applied" in errors(at) and "training.epochs" in errors(at)
    assert at.selectbox(key="s.family").value == "time_based_decay"


def test_a_list_that_is_not_finite_numbers_is_refused_not_a_traceback():
    at = ok(app())
    at.selectbox(key="s.family").set_value("PiecewiseConstantDecay").run()
    at.text_input(key="s.PiecewiseConstantDecay.boundaries").set_value("100, inf").run()
    ok(at)
    assert "boundaries" in errors(at) and "finite numbers" in errors(at)
    at.segmented_control(key="s.units").set_value("epochs").run()  # converting skips what does not parse
    ok(at)


def test_legacy_decay_shows_what_keras_3_does():
    at = ok(app())
    at.selectbox(key="preset").set_value("Article: Adam(lr=0.001, decay=1e-6)").run()
    text = " ".join(w.value for w in at.warning)
    assert "Argument(s) not recognized" in text and "flat" in text and "InverseTimeDecay" in text
    pit = spec(at, "pitfall.chart.0")
    assert np.all(ys(pit, 0) == 0.001) and ys(pit, 1)[-1] < 0.001


def test_plateau_with_a_schedule_explains_the_type_error():
    at = ok(app())
    at.selectbox(key="s.family").set_value("reduce_lr_on_plateau").run()
    assert "TypeError" in " ".join(w.value for w in at.warning)


def test_settings_that_clash_are_refused_naming_the_field():
    at = ok(app())
    at.checkbox(key="optimizer.clipnorm.on").set_value(True)
    at.checkbox(key="optimizer.clipvalue.on").set_value(True).run()
    ok(at)
    assert "optimizer.clipvalue" in errors(at) and "only one of" in errors(at)
    at.checkbox(key="optimizer.clipvalue.on").set_value(False)
    at.text_input(key="model.hidden_units").set_value("16, lots").run()
    assert "model.hidden_units" in errors(at)
    at.text_input(key="model.hidden_units").set_value("8, 8").run()
    assert not at.error, errors(at)


def test_a_shared_link_restores_the_settings():
    cfg = config.validate({"schedule": make("cyclical", step_size=75, mode="triangular2"),
                           "training": {"epochs": 9, "batch_size": 64}, "optimizer": {"amsgrad": True}})
    at = ok(app(urlstate.encode(cfg)))
    assert not at.warning or all("link" not in w.value for w in at.warning)
    assert at.selectbox(key="s.family").value == "cyclical"
    assert at.number_input(key="s.cyclical.step_size").value == 75
    assert at.number_input(key="training.epochs").value == 9
    assert at.toggle(key="optimizer.amsgrad").value is True
    assert urlstate.decode({"cfg": url_cfg(at)}) == (cfg, None)


@pytest.mark.parametrize("value, reason", [
    ("not*base64!", "base64"),
    (base64.urlsafe_b64encode(b'{"schedule": {"kind": "constant", "learning_rate": -1}}').decode(),
     "schedule.learning_rate"),
    (base64.urlsafe_b64encode(b'{"schedule": {"kind": "evil"}}').decode(), "schedule.kind"),
])
def test_bad_links_fall_back_with_a_warning(value, reason):
    at = ok(app({"cfg": value}))
    text = warnings(at)
    assert "link" in text and reason in text
    assert at.selectbox(key="s.family").value == "time_based_decay"  # the defaults
    assert not at.error


def test_a_links_notice_stays_until_a_setting_changes():
    at = ok(app({"cfg": "not*base64!"}))  # app() has rerun once already, to open the panels
    assert "settings were not used" in warnings(at)
    assert "settings were not used" in warnings(at.run())
    at.number_input(key="training.epochs").set_value(3).run()
    assert "settings were not used" not in warnings(at)


def test_a_run_too_long_to_store_is_refused_naming_the_epochs():
    at = ok(app())
    at.number_input(key="data.n_samples").set_value(200_000)
    at.number_input(key="training.batch_size").set_value(1)
    at.number_input(key="training.epochs").set_value(10_000).run()
    ok(at)
    assert "training.epochs" in errors(at)


def test_a_link_cannot_point_the_server_at_its_own_files():
    cfg = config.validate({"schedule": make("constant"), "data": {"name": "csv", "path": "/etc/passwd"}})
    at = ok(app(urlstate.encode(cfg)))
    assert "/etc/passwd ignored" in warnings(at)
    assert at.session_state["data.path"] is None and at.selectbox(key="data.name").value == "moons"
    assert not at.error


def test_downloads_carry_the_plotted_data(downloads):
    at = ok(open_tab(app(), "Downloads"))
    cfg, _ = urlstate.decode({"cfg": url_cfg(at)})
    assert json.loads(downloads("lrviz-config.json")) == cfg
    rows = list(csv.DictReader(io.StringIO(downloads("lrviz-curve.csv").decode())))
    assert len(rows) == 1000 and list(rows[0])[:3] == ["step", "epoch", "learning_rate"]
    np.testing.assert_array_equal([float(r["learning_rate"]) for r in rows], curve(cfg["schedule"], 20, 50)[2])
    epochs = list(csv.DictReader(io.StringIO(downloads("lrviz-curve-epochs.csv").decode())))
    assert [int(r["step"]) for r in epochs] == list(range(0, 1000, 50))
    assert [float(r["learning_rate"]) for r in epochs] == [float(r["learning_rate"]) for r in rows[::50]]
    script = downloads("lrviz_keras.py").decode()
    assert script == exports.keras_script(cfg)
    compile(script, "lrviz_keras.py", "exec")
    assert b"Plotly.newPlot" in downloads("lrviz-curve.html")


def test_an_uploaded_config_loads_and_a_bad_one_is_refused():
    at = ok(app())
    good = config.validate({"schedule": make("PolynomialDecay", power=2.0), "training": {"epochs": 5}})
    at.file_uploader(key="config_upload").set_value(("c.json", exports.config_json(good).encode(),
                                                     "application/json")).run()
    ok(at)
    assert at.selectbox(key="s.family").value == "PolynomialDecay"
    assert at.number_input(key="training.epochs").value == 5
    at.file_uploader(key="config_upload").set_value(("d.json", b'{"schedule": {"kind": "constant"}, "optimizer": '
                                                     b'{"lr": 0.001}}', "application/json")).run()
    ok(at)
    assert "optimizer.lr" in errors(at)


def test_choosing_csv_before_a_file_keeps_the_preview_and_asks_for_one():
    at = ok(app())
    at.selectbox(key="data.name").set_value("csv").run()
    assert not at.error, errors(at)
    assert any("Upload a CSV file" in i.value and "uses moons (50 steps per epoch)" in i.value for i in at.info)
    assert len(ys(spec(at))) == 1000  # the preview stays, on the last data
    open_tab(at, "Train")
    assert at.button(key="train.start").disabled


def test_csv_upload_is_saved_under_the_home_by_name_and_checked(home):
    at = ok(app())
    at.selectbox(key="data.name").set_value("csv").run()
    rows = "\n".join(f"{i % 7},{i % 3},{i % 2}" for i in range(120))
    at.file_uploader(key="data.upload").set_value(("my <b>data</b>.csv", f"a,b,label\n{rows}\n".encode(),
                                                   "text/csv")).run()
    ok(at)
    assert not at.error, errors(at)
    assert any("my \\<b\\>data\\</b\\>" in c.value and "label" in c.value for c in at.caption)  # escaped
    name = at.session_state["data.path"]
    assert name.startswith("my_b_data_b-") and (home / "uploads" / name).exists()
    linked, _ = urlstate.decode(at.query_params)
    assert linked["data"]["path"] == name and str(home) not in json.dumps(linked)
    at.selectbox(key="data.name").set_value("moons").run()
    assert urlstate.decode(at.query_params)[0]["data"]["path"] is None  # dropped with the CSV
    at.selectbox(key="data.name").set_value("csv").run()
    at.file_uploader(key="data.upload").set_value(("bad.csv", b"a,b\n1,2\n3\n", "text/csv")).run()
    ok(at)
    assert "data.path" in errors(at)


def poll(at: AppTest, word: str, timeout: float = 180) -> str:
    """Rerun the page (run_every timers do not fire under AppTest) until `word` shows."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        ok(at)
        text = " ".join(x.value for x in [*at.info, *at.success, *at.warning, *at.error])
        if word in text:
            return text
        time.sleep(0.3)
    raise AssertionError(f"{word!r} never showed: {text}")


def test_a_tiny_run_trains_and_can_be_compared_renamed_and_deleted(downloads):
    at = ok(app())
    at.number_input(key="data.n_samples").set_value(200)
    at.number_input(key="training.epochs").set_value(2).run()
    open_tab(at, "Train")
    at.text_input(key="train.name").set_value("tiny <run>").run()
    at.button(key="train.start").click().run()
    ok(at)
    assert not at.error, errors(at)
    poll(at, "Done in")
    lr = ys(spec(at, "live.lr"))
    assert len(lr) == 10  # 2 epochs x 5 steps: the rate the optimizer applied at every step
    np.testing.assert_allclose(lr, curve(make("time_based_decay", initial_learning_rate=0.1, decay=0.005),
                                         2, 5)[2], rtol=1e-6)
    assert len(ys(spec(at, "live.loss"))) == 10
    assert "accuracy" in json.dumps(spec(at, "live.metric")["layout"]["yaxis"])

    open_tab(at, "Runs")
    table = at.dataframe[0].value
    row = table.iloc[-1]
    assert row["name"] == "tiny <run>" and row["status"] == "done"
    assert row["schedule"] == "time_based_decay" and row["epochs"] == 2 and row["batch size"] == 32
    assert row["peak lr"] == 0.1 and np.isfinite(row["final loss"]) and 0 <= row["final accuracy"] <= 1
    assert 0 <= row["final val_accuracy"] <= 1 and np.isfinite(row["best val_loss"])
    run_id = int(row["id"])

    # A reload (a new session whose browser sends the visitor's cookie) keeps their runs in the
    # Train tab; another visitor on the same link sees none of them there.
    link = {k: v[-1] for k, v in at.query_params.items()}
    with mock.patch("lrviz.page.identity.cookie", return_value=visitors.token(at.session_state["visitor.id"])):
        again = open_tab(ok(app(link)), "Train")
    assert again.selectbox(key="live.pick").options == [f"tiny <run> (#{run_id})"]
    stranger = open_tab(ok(app(link)), "Train")
    assert "live.pick" not in [e.key for e in stranger.selectbox]

    # Downloads follow the watched run; exact per-step rows.
    open_tab(at, "Downloads")
    steps = list(csv.DictReader(io.StringIO(downloads(f"run-{run_id}-steps.csv").decode())))
    assert [int(r["step"]) for r in steps] == list(range(10))
    np.testing.assert_allclose([float(r["learning_rate"]) for r in steps], lr)
    assert len(list(csv.DictReader(io.StringIO(downloads(f"run-{run_id}-epochs.csv").decode())))) == 2

    open_tab(at, "Runs")
    at.multiselect(key="runs.pick").set_value([run_id]).run()
    ok(at)
    assert len(ys(spec(at, "runs.lr"))) == 10
    at.selectbox(key="runs.target").set_value(run_id)
    at.text_input(key="runs.new_name").set_value("renamed").run()
    at.button(key="runs.rename").click().run()
    ok(at)
    assert "renamed" in at.dataframe[0].value["name"].tolist()
    at.checkbox(key="runs.sure").set_value(True).run()
    at.button(key="runs.delete").click().run()
    ok(at)
    assert not at.dataframe or run_id not in at.dataframe[0].value["id"].tolist()


def test_a_run_trains_on_an_uploaded_csv_named_by_its_file(home):
    at = ok(app())
    at.selectbox(key="data.name").set_value("csv").run()
    csv_bytes = (Path(APP).parent / "assets" / "example.csv").read_bytes()
    at.file_uploader(key="data.upload").set_value(("example.csv", csv_bytes, "text/csv")).run()
    at.number_input(key="training.epochs").set_value(2).run()
    open_tab(at, "Train")
    at.button(key="train.start").click().run()
    poll(at, "Done in")
    assert len(ys(spec(at, "live.loss"))) == 16  # 240 training rows, batch 32: 8 steps per epoch

    # Another visitor given a link to these settings neither trains on that CSV nor learns its columns.
    stranger = ok(app({"cfg": url_cfg(at)}))
    notice = " ".join(w.value for w in stranger.warning)
    assert "only CSV files you uploaded here can be used" in notice
    assert stranger.selectbox(key="data.name").value != "csv"
    page_text = json.dumps([str(e.value) for e in [*stranger.caption, *stranger.markdown, *stranger.warning]])
    assert "x1" not in page_text and "x2" not in page_text  # the CSV's column names


def test_stop_ends_a_long_run_as_stopped():
    at = ok(app())
    at.number_input(key="data.n_samples").set_value(200)
    at.number_input(key="training.epochs").set_value(5000).run()
    open_tab(at, "Train")
    at.button(key="train.start").click().run()
    poll(at, "Running")
    at.button(key="live.stop").click().run()
    text = poll(at, "Stopped")
    assert "Stopped at epoch" in text


NO_TENSORFLOW = """
import sys
from streamlit.testing.v1 import AppTest
from lrviz import presets
from lrviz.schedules import FAMILIES
at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
for name in presets.available():
    at.selectbox(key="preset").set_value(name).run()
for family in FAMILIES:
    at.selectbox(key="s.family").set_value(family).run()
assert not at.exception, at.exception
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch"))
print("LOADED", loaded)
"""


def test_the_page_never_imports_tensorflow(tmp_path):
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, APP], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "LRVIZ_HOME": str(tmp_path)}, cwd=Path(APP).parent)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "LOADED []" in r.stdout, r.stdout[-2000:]


def test_the_warmup_view_follows_adams_beta_2():
    at = app()
    assert "β₂ = 0.999" in spec(ok(at), "preview.warmup")["layout"]["title"]["text"]
    at.number_input(key="optimizer.beta_2").set_value(0.99).run()
    fig = spec(ok(at), "preview.warmup")
    assert "β₂ = 0.99:" in fig["layout"]["title"]["text"] and "200 steps" in fig["data"][1]["name"]


def test_an_exercises_locked_setting_holds_against_a_forged_widget_value(home):
    from lrviz import exercises
    from lrviz.store import Store

    setup = config.validate({"schedule": make("constant", learning_rate=0.01), "training": {"epochs": 3}})
    made = exercises.make(Store(home), "Locked epochs", setup, ["model.hidden_units"], ["training.epochs"])
    at = ok(app({"exercise": made.id}))
    assert "Exercise: Locked epochs." in " ".join(i.value for i in at.info)
    assert at.number_input(key="training.epochs").disabled
    assert "model.hidden_units" not in [w.key for w in at.text_input]
    at.session_state["training.epochs"] = 9  # as a request that ignores `disabled` would set it
    at.run()
    assert "3 epochs" in ok(at).markdown[0].value
    at.number_input(key="training.batch_size").set_value(16).run()  # what it leaves free moves
    assert "batch 16" in ok(at).markdown[0].value


def test_a_link_to_an_exercise_this_server_lacks_says_so_and_shows_the_usual_page():
    at = ok(app({"exercise": "no-such-thing"}))
    assert "does not exist on this server" in " ".join(w.value for w in at.warning)
    assert not at.number_input(key="training.epochs").disabled


def test_an_exercises_maker_sees_the_class_view_without_joining(home):
    from lrviz.store import Store

    at = ok(app())
    at.session_state["panel.exercise"] = True
    at.run()
    at.text_input(key="exercise.name").set_value("To watch").run()
    at.button(key="exercise.make").click().run()
    ident = ok(at).code[0].value.rsplit("exercise=", 1)[1]
    setup = config.validate({"schedule": make("constant"), "training": {"epochs": 2}})
    Store(home).create_run("a student's run", setup, 2, 5, visitor="s" * 22, exercise=ident)
    at.session_state["runs.whose"] = "The exercise's"
    table = ok(open_tab(at, "Runs")).dataframe[0].value
    assert table["name"].tolist() == ["a student's run"] and table["by"].tolist()[0].startswith("visitor ")
