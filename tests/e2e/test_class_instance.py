"""One instance, a whole class, in real browsers: two browser contexts are two visitors. Each
sees and changes only their own runs, looks at the other's read-only, keeps their own across a
reload; a cookie forged with the other's id is a newcomer's; the host's admin token manages
every run."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lrviz import config, urlstate, visitors
from lrviz.schedules import make
from tests.support import start_server, stop_server, wait_healthy, wait_idle
from pages import key, open_tab, press, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

ADMIN = "the-teachers-token"
TINY = urlstate.encode(config.validate({"schedule": make("constant", learning_rate=0.01),
                                        "data": {"n_samples": 200}, "training": {"epochs": 2}}))["cfg"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    home = tmp_path_factory.mktemp("class-home")
    proc, url = start_server(home, env={visitors.ADMIN_ENV: ADMIN})
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def two_browsers(chrome):
    contexts = [chrome.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.set_default_timeout(60_000)
    yield pages
    for c in contexts:
        c.close()


def visit(page, url: str) -> None:
    page.goto(url)
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)


def overlay_options(page) -> list[str]:
    page.locator(f"{key('runs.pick')} input").click()
    options = [o.inner_text() for o in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    return options


def test_visitors_change_only_their_own_runs_and_the_host_manages_all(shared, two_browsers):
    alice, bob = two_browsers
    visit(alice, f"{shared}/?cfg={TINY}")
    open_tab(alice, "Train")
    alice.locator(f"{key('train.name')} input").fill("alice's run")
    alice.get_by_role("button", name="Train", exact=True).click()
    alice.get_by_text(re.compile(r"Done in")).wait_for(timeout=120_000)
    wait_idle(alice)
    (cookie,) = [c for c in alice.context.cookies() if c["name"] == visitors.COOKIE]
    alice_id = cookie["value"].split(".")[0]

    alice.reload()  # the same visitor: their run is still listed in the Train tab
    wait_idle(alice)
    open_tab(alice, "Train")
    assert re.fullmatch(r"alice's run \(#\d+\)", alice.locator(f"{key('live.pick')} input").input_value())
    shot(alice, "class-alice-after-reload")

    visit(bob, f"{shared}/?cfg={TINY}")  # the same link, another browser: none of alice's runs are his
    open_tab(bob, "Train")
    bob.get_by_text("Press Train").wait_for()
    assert not bob.locator(key("live.pick")).count()
    open_tab(bob, "Runs")
    bob.get_by_text("No runs here yet").wait_for()
    bob.locator(key("runs.whose")).get_by_text("Everyone's").click()
    wait_idle(bob)
    (shown,) = overlay_options(bob)
    assert re.fullmatch(r"alice's run \(#\d+\) · visitor 1", shown)  # by number, never her id
    assert alice_id not in bob.content()
    bob.get_by_text("Rename or delete").click()
    bob.get_by_text("Only your own runs can be renamed or deleted.").wait_for()
    assert not bob.locator(key("runs.delete")).count()
    shot(bob, "class-bob-sees-alices-run-read-only")

    # A cookie that names alice with a made-up signature makes bob a newcomer, not alice.
    bob.context.add_cookies([{"name": visitors.COOKIE, "value": f"{alice_id}.{'0' * 32}", "url": shared}])
    visit(bob, shared)
    open_tab(bob, "Train")
    bob.get_by_text("Press Train").wait_for()
    assert not bob.locator(key("live.pick")).count()

    # The host: with the admin token, every run can be deleted.
    bob.get_by_text("Host", exact=True).click()
    bob.locator(f"{key('visitor.admin_token')} input").fill("not the token")
    bob.locator(f"{key('visitor.admin_token')} input").press("Enter")
    bob.get_by_text("Admin token refused").wait_for()
    bob.locator(f"{key('visitor.admin_token')} input").fill(ADMIN)
    bob.locator(f"{key('visitor.admin_token')} input").press("Enter")
    bob.get_by_text("You manage every visitor's runs").wait_for()
    open_tab(bob, "Runs")
    bob.locator(key("runs.whose")).get_by_text("Everyone's").click()
    wait_idle(bob)
    if not bob.locator(key("runs.sure")).is_visible():
        bob.get_by_text("Rename or delete").click()
    bob.locator(f"{key('runs.sure')} label").click()
    wait_idle(bob)
    press(bob, "runs.delete")
    shot(bob, "class-host-deleted-alices-run")
    open_tab(alice, "Train")
    alice.reload()
    wait_idle(alice)
    open_tab(alice, "Train")
    alice.get_by_text("Press Train").wait_for()


def trace_names(page, chart: str) -> list[str]:
    return page.evaluate("""(sel) => Array.from(document.querySelector(sel + ' .js-plotly-plot')._fullData,
                             d => d.legendgrouptitle && d.legendgrouptitle.text)""", key(chart))


def pick(page, name: str, option: str) -> None:
    """Add an option to a multiselect: typed, then clicked in its list (tried again if a rerun
    closed the list meanwhile)."""
    box = page.locator(f"{key(name)} input")
    for attempt in range(3):
        box.click()
        box.fill(option)
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            wait_idle(page)
    else:
        raise AssertionError(f"{option!r} never showed in {name}'s list")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # out of the box: a click elsewhere would only close its list
    wait_idle(page)


def train(page) -> None:
    open_tab(page, "Train")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Done in")).wait_for(timeout=120_000)
    wait_idle(page)


def test_an_exercise_link_hides_and_locks_controls_and_the_class_view_overlays_every_run(shared, two_browsers):
    teacher, student = two_browsers
    visit(teacher, f"{shared}/?cfg={TINY}")
    teacher.get_by_text("Exercise link").click()
    teacher.locator(f"{key('exercise.name')} input").fill("Warmup or not")
    teacher.locator(f"{key('exercise.name')} input").press("Enter")
    wait_idle(teacher)
    pick(teacher, "exercise.hide", "model.hidden_units")
    pick(teacher, "exercise.lock", "training.epochs")
    teacher.get_by_role("button", name="Make the link").click()
    wait_idle(teacher)
    link = teacher.locator(f"{key('panel.exercise')} code").inner_text().strip()
    assert re.fullmatch(re.escape(shared) + r"/\?exercise=[\w-]+", link)
    shot(teacher, "exercise-teacher-made-the-link")

    visit(student, link)
    student.get_by_text("Exercise: Warmup or not.").wait_for()
    student.locator(f"{key('panel.model')} summary").click()
    student.locator(key("model.activation")).wait_for()
    assert not student.locator(key("model.hidden_units")).count()  # hidden
    student.locator(f"{key('panel.training')} summary").click()
    epochs = student.locator(f"{key('training.epochs')} input")
    assert epochs.is_disabled() and epochs.input_value() == "2"  # locked at the teacher's value
    assert student.locator(f"{key('training.batch_size')} input").is_enabled()  # left free
    shot(student, "exercise-student-hidden-and-locked")
    train(student)

    visit(teacher, link)  # the teacher trains in the exercise too
    train(teacher)
    open_tab(student, "Runs")
    student.get_by_text("The exercise's").wait_for()
    names = trace_names(student, "runs.lr")
    assert len(names) == 2 and sum(" · visitor " in n for n in names) == 1, names  # the teacher's, by number
    shot(student, "exercise-class-view")
