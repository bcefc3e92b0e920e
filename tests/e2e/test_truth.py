"""What the page shows and sends is true, in a real browser: every download holds what its
label says, flat curves are drawn at their value, numbers are never cut off, the preset box
names what is loaded."""
from __future__ import annotations

import csv
import json
import re

import pytest

from tests.support import wait_idle
from lrviz import config
from pages import choose, download, key, open_tab, plot, selectbox, set_number, shot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def figure_in_html(path) -> tuple[list, dict]:
    """(data, layout) that a Plotly HTML export draws: the arguments of its Plotly.newPlot call."""
    text = path.read_text(encoding="utf-8")
    rest = text[text.index("Plotly.newPlot(") + len("Plotly.newPlot("):]
    decoder, values = json.JSONDecoder(), []
    for _ in range(3):  # the div's id, the data, the layout
        rest = rest.lstrip().removeprefix(",").lstrip()
        value, end = decoder.raw_decode(rest)
        values.append(value)
        rest = rest[end:]
    return values[1], values[2]


def rows(path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_every_download_holds_what_its_label_says(server, app_page, tmp_path):
    page = app_page
    page.goto(server["url"])
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    set_number(page, "data.n_samples", 200)  # 160 training rows, batch 32: 5 steps per epoch
    set_number(page, "training.epochs", 3)
    open_tab(page, "Train")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Done in")).wait_for(timeout=120_000)
    wait_idle(page)
    open_tab(page, "Downloads")
    page.locator(key("dl.runs_loss_html")).wait_for()
    shot(page, "10-downloads")
    run_id = int(re.search(r"dl-run(\d+)-steps", page.locator("[class*='st-key-dl-run']").first
                           .get_attribute("class")).group(1))

    cfg = json.loads(download(page, "dl.config", tmp_path).read_text())
    assert config.validate(cfg) == cfg and cfg["training"]["epochs"] == 3
    script = download(page, "dl.script", tmp_path).read_text()
    compile(script, "lrviz_keras.py", "exec")
    assert "keras.optimizers.Adam" in script

    data, layout = figure_in_html(download(page, "dl.curve_html", tmp_path))
    assert layout["title"]["text"] == "Learning rate per optimizer step"
    assert data[0]["name"].startswith("Time-based decay")
    header, body = rows(download(page, "dl.curve", tmp_path))
    assert header[:3] == ["step", "epoch", "learning_rate"] and len(body) == 15
    header, body = rows(download(page, "dl.curve_epochs", tmp_path))
    assert header == ["epoch", "step", "learning_rate"] and len(body) == 3
    assert download(page, "dl.curve_img.png", tmp_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = download(page, "dl.curve_img.svg", tmp_path).read_text()
    assert svg.startswith("<svg") and "Learning rate per optimizer step" in svg

    header, body = rows(download(page, f"dl.run{run_id}.steps", tmp_path))
    # A 16-16 MLP has three Dense layers: update_ratio_4 and on have no value in this run, so no column.
    assert header == ["step", "epoch", "learning_rate", "loss", "wall_time", "grad_norm", "bias_correction",
                      "step_median", "step_p90", "step_max", "update_ratio_1", "update_ratio_2",
                      "update_ratio_3"] and len(body) == 15
    assert all(all(r.values()) for r in body)
    header, body = rows(download(page, f"dl.run{run_id}.epochs", tmp_path))
    assert header == ["epoch", "learning_rate", "loss", "val_loss", "accuracy", "val_accuracy", "wall_time"]
    assert len(body) == 3 and all(r["val_accuracy"] for r in body)
    assert json.loads(download(page, f"dl.run{run_id}.config", tmp_path).read_text()) == cfg
    compile(download(page, f"dl.run{run_id}.script", tmp_path).read_text(), "run.py", "exec")

    charts = {"lr": ("Learning rate the optimizer applied", ["learning_rate"]),
              "loss": ("Loss", ["loss (raw)", "loss (smoothed 0.6)", "val_loss"]),
              "metric": ("accuracy per epoch", ["accuracy", "val_accuracy"]),
              "inside": ("Inside the optimizer, step by step",
                         ["layer 1", "layer 2", "layer 3 (output)", "step |Δθ|: median", "step |Δθ|: 90th percentile",
                          "step |Δθ|: largest", "gradient norm", "bias correction on the rate"])}
    for name, (title, traces) in charts.items():
        data, layout = figure_in_html(download(page, f"dl.runs_{name}_html", tmp_path))
        assert layout["title"]["text"] == title, name
        assert [d["name"] for d in data] == traces, name
    assert download(page, "dl.runs_img.png", tmp_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Loss" in download(page, "dl.runs_img.svg", tmp_path).read_text()


@pytest.mark.parametrize("preset", ["Constant 1e-3 (Adam's default)", "ReduceLROnPlateau",
                                    "Article: Adam(lr=0.001, decay=1e-6)"])
def test_a_flat_rate_is_drawn_at_its_value_and_no_number_is_cut_off(server, app_page, preset):
    page = app_page
    page.goto(server["url"])
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    choose(page, "preset", preset)
    shown = plot(page, "preview.chart")
    low, high = shown["range"]
    assert low < shown["y"][0] < high and low > 0, shown["range"]  # not a line at 0 on −1…1
    cut = page.evaluate("""() => Array.from(document.querySelectorAll("[data-testid='stMetricValue']"))
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)""")
    assert cut == []
    shot(page, "11-flat-" + re.sub(r"\W+", "-", preset.lower())[:20])


def test_the_preset_box_names_the_preset_and_says_when_settings_changed(server, app_page):
    page = app_page
    page.goto(server["url"])
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    article = "Article: time-based decay (LearningRateScheduler)"
    expect(selectbox(page, "preset")).to_have_value(article)
    set_number(page, "training.epochs", 30)
    expect(selectbox(page, "preset")).to_have_value("(your own settings)")
    assert "training.epochs" in page.locator("[data-testid='stSidebar']").inner_text()
    choose(page, "preset", article)
    expect(selectbox(page, "preset")).to_have_value(article)
    expect(page.locator(f"{key('training.epochs')} input")).to_have_value("20")
    shot(page, "12-preset-restored")


def test_a_reload_keeps_view_settings_and_this_visitors_runs_and_a_rename_shows(server, app_page):
    page = app_page
    page.goto(server["url"])
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    set_number(page, "data.n_samples", 100)
    set_number(page, "training.epochs", 2)
    page.locator(f"{key('p.log_y')} label").click()
    wait_idle(page)
    choose(page, "p.x", "epochs completed")
    open_tab(page, "Train")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Done in")).wait_for(timeout=120_000)
    wait_idle(page)
    assert "p.log_y=true" in page.url and "p.x=epoch" in page.url

    page.reload()
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    open_tab(page, "Train")
    page.get_by_text(re.compile(r"Done in")).wait_for()
    loss = plot(page, "live.loss")
    assert loss["type"] == "log" and max(loss["x"]) == 2  # epochs completed, on a log axis

    open_tab(page, "Runs")
    page.get_by_text("Rename or delete").click()
    wait_idle(page)
    page.locator(f"{key('runs.new_name')} input").fill("renamed run")
    page.locator(f"{key('runs.new_name')} input").press("Enter")
    wait_idle(page)
    page.locator(f"{key('runs.rename')} button:visible").first.click()
    wait_idle(page)
    expect(selectbox(page, "runs.target")).to_have_value(re.compile(r"^renamed run \(#\d+\)$"))
    shot(page, "13-renamed")
