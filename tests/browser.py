"""The one headless browser of the test suite: Debian's chromium driven by selenium through
chromium-driver (never a downloaded browser). Conftests that need it import the `browser` fixture from
here; a failing test leaves a screenshot and the page's source in test-artifacts/
(TEST_ARTIFACTS). Without chromium a test using it fails under CI=true and is skipped locally."""
from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--window-size=420,780")


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver) of the Debian packages; a clear failure under CI when missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    reason = "chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver; `make test-deps`)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def start_chromium():
    """A new headless chromium session, 420 px wide (a phone)."""
    browser_path, driver_path = chromium_paths()
    os.environ.setdefault("SE_OFFLINE", "true")          # selenium must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    return driver


def full_page_screenshot(driver, path: str | Path, width: int) -> None:
    """A PNG of the whole page laid out `width` px wide (not only the window's part of it)."""
    metrics = {"width": width, "height": 400, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)      # laid out short first, then
    try:                                                                        # as tall as its content
        height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    Path(path).write_bytes(base64.b64decode(shot["data"]))


class Artifacts:
    """Keeps a failed test's browser screen and page source. A test's call is reported before its
    fixtures are torn down, so a grown failure count at teardown means this test failed."""

    def __init__(self, request) -> None:
        self.request = request
        self.failures = request.session.testsfailed

    def save(self, driver, suffix: str = "") -> None:
        if self.request.session.testsfailed == self.failures:
            return
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = ARTIFACTS / (self.request.node.name.replace("/", "_") + suffix)
        driver.save_screenshot(f"{stem}.png")
        Path(f"{stem}.html").write_text(driver.page_source)


@pytest.fixture
def browser(request) -> Iterator:
    artifacts = Artifacts(request)
    driver = start_chromium()
    try:
        yield driver
    finally:
        artifacts.save(driver)
        driver.quit()
