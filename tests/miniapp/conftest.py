"""Mini App test fixtures: a headless Debian chromium (driven by selenium through chromium-driver)
that saves a screenshot and the page's source as test artefacts when a test using it fails."""
from __future__ import annotations

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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser(request) -> Iterator:
    browser_path, driver_path = chromium_paths()
    os.environ.setdefault("SE_OFFLINE", "true")          # selenium must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            stem = ARTIFACTS / request.node.name.replace("/", "_")
            driver.save_screenshot(f"{stem}.png")
            stem.with_suffix(".html").write_text(driver.page_source)
        driver.quit()
