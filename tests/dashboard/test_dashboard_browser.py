"""The dashboard page in a real headless Chromium: apps, components, subscriptions and a fresh log line.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). On a
laptop without them the test is skipped, saying so; under ``CI=true`` it fails instead.
A screenshot is kept in ``artifacts/dashboard.png``.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import System

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must have it (.ci/run installs chromium and chromium-driver)")
    pytest.skip(f"{reason} (apt-get install chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        _unavailable(f"no headless browser: {CHROMIUM} or {CHROMEDRIVER} is missing")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.execute_script(f"return document.getElementById({element_id!r}).innerText"))


def until(what: str, predicate: Callable[[], Any], driver: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            shown = driver.find_element("tag name", "body").text
            raise AssertionError(f"the page never showed {what}; it shows:\n{shown}")
        time.sleep(0.1)


def test_the_page_shows_the_system_and_a_line_the_app_just_logged(system: System, browser: Any) -> None:
    browser.get(system.url + "#/apps/board")
    rows = until("a row per replica", lambda: browser.execute_script(
        "return [...document.querySelectorAll('#apps tbody tr')].map(r => r.dataset.appId)"), browser)
    assert sorted(rows) == ["board", "quiet", "quiet"]
    until("board's components",
          lambda: {"pubsub.sqlite", "state.sqlite"} <= set(text_of(browser, "components").split()), browser)
    subscriptions = until("board's subscription", lambda: "orders-dead" in text_of(browser, "subscriptions")
                          and text_of(browser, "subscriptions"), browser)
    assert "orders" in subscriptions.split() and "/orders" in subscriptions
    assert "healthy" in text_of(browser, "apps")
    until("board's actor type", lambda: "Board" in text_of(browser, "actors"), browser)

    token = uuid.uuid4().hex
    said = system.tandem("invoke", "--app-id", "board", "--method", "say", "--data", token)
    assert said.returncode == 0, said.stdout + said.stderr
    until("the line board just logged", lambda: f"board says {token}" in text_of(browser, "log"), browser)

    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(artifacts / "dashboard.png"))
