"""A real Streamlit server and headless Chromium, the way Streamlit's own browser tests work:
a free port, wait for /_stcore/health, then for the app to finish running. The helpers are in
tests/support.py."""
from __future__ import annotations

import os

import pytest

from tests.support import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, start_server, stop_server, wait_healthy


@pytest.fixture(scope="session")
def chromium_path():
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must run the browser tests, never skip them
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("lrviz-home")
    proc, url = start_server(home)
    try:
        wait_healthy(url, proc)
        yield {"url": url, "proc": proc, "home": home}
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def chrome(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def app_page(chrome):
    ARTIFACTS.mkdir(exist_ok=True)
    context = chrome.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
