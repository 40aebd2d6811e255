"""The Mini App page in a real browser (Debian's headless chromium via chromium-driver): opened as
a Telegram client opens it (initData in the URL fragment), the slider solved by dragging, and the
bot then welcoming the user through the local Bot API server; forged initData refused on the page.
A failing test leaves a screenshot in test-artifacts/ (TEST_ARTIFACTS)."""
from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

import pytest
import redis

from tests.miniapp.live import miniapp_bot, sign_init_data
from tests.runner.conftest import KEYS, wait_until

pytestmark = pytest.mark.slow
THEME = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499", "button_color": "#5288c1",
         "button_text_color": "#ffffff", "secondary_bg_color": "#232e3c"}


@pytest.fixture(scope="module")
def live(redis_server, tmp_path_factory):
    with miniapp_bot(redis_server.url, tmp_path_factory.mktemp("miniapp-browser")) as (bot, base):
        pipeline = redis.Redis.from_url(redis_server.url)
        yield bot, base, pipeline
        pipeline.close()


def open_page(browser, base: str, init_data: str) -> None:
    """What a Telegram client does: the Mini App URL with initData and the theme in the fragment."""
    fragment = (f"tgWebAppData={quote(init_data, safe='')}&tgWebAppVersion=7.10&tgWebAppPlatform=android"
                f"&tgWebAppThemeParams={quote(json.dumps(THEME), safe='')}")
    browser.get(f"{base}/#{fragment}")


def status(browser) -> tuple[str, str]:
    text, state = browser.execute_script(
        "var s = document.getElementById('status'); return [s.textContent, s.dataset.state || ''];")
    return text, state


def target_of(pipeline, user_id: int) -> float:
    """The gap of this user's live challenge, as a person sees it in the picture."""
    for key in pipeline.scan_iter(f"{KEYS.prefix}miniapp:challenge:*"):
        stored = json.loads(pipeline.get(key) or "null") or {}
        if stored.get("user_id") == user_id:
            return stored["target"]
    raise AssertionError(f"no challenge for {user_id}")


def drag_to(browser, target: float) -> None:
    """Press the knob, move it in uneven steps with a little vertical wobble, release on the gap."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    track, rail, knob, piece = browser.execute_script(
        "return [document.getElementById('track').clientWidth, document.getElementById('rail').clientWidth,"
        " document.getElementById('knob').offsetWidth, 0.12];")
    scale = track * (1 - piece) / (rail - knob - 4)
    distance = round(target * track / scale)
    steps = [distance // 5, distance // 4, distance // 6, distance // 5]
    steps.append(distance - sum(steps))
    chain = ActionChains(browser, duration=40).click_and_hold(browser.find_element(By.ID, "knob")).pause(0.1)
    for i, dx in enumerate(steps):
        chain.move_by_offset(dx, (-1) ** i * 2).pause(0.08)
    chain.release().perform()


def test_valid_init_data_slider_solved_by_dragging_then_the_bot_welcomes(live, browser):
    bot, base, pipeline = live
    uid = 1401
    after = bot.last_index(uid)
    bot.command(uid, "start")
    prompt = bot.wait(uid, "Tap Verify", after)
    open_page(browser, base, sign_init_data(uid, first_name="Browser"))
    wait_until(lambda: "Drag the slider" in status(browser)[0], 20, 0.1, what="the challenge on the page")
    colours = browser.execute_script("return getComputedStyle(document.body).backgroundColor;")
    assert colours == "rgb(23, 33, 43)"                                  # Telegram's bg_color was followed
    if os.environ.get("MINIAPP_DOCS_SCREENSHOT"):                         # refresh docs/images/miniapp.png
        browser.save_screenshot(os.environ["MINIAPP_DOCS_SCREENSHOT"])
    drag_to(browser, target_of(pipeline, uid))
    wait_until(lambda: status(browser)[1] in ("verified", "error") and status(browser)[1], 20, 0.1,
               what="the verdict on the page")
    assert status(browser) == ("Verified. You can go back to the chat.", "verified")
    bot.wait(uid, "Verified", after)
    assert [e["message_id"] for e in bot.sent(uid, after) if e["method"] == "deleteMessage"] == [prompt["message_id"]]


def test_forged_init_data_is_refused_on_the_page(live, browser):
    bot, base, _ = live
    uid = 1402
    after = bot.last_index(uid)
    bot.command(uid, "start")
    bot.wait(uid, "Tap Verify", after)
    forged = sign_init_data(uid, first_name="Mallory").replace("Mallory", "Mallory2")
    open_page(browser, base, forged)
    wait_until(lambda: status(browser)[1] == "error", 20, 0.1, what="the refusal on the page")
    assert "signature is invalid" in status(browser)[0]
    assert browser.execute_script("return document.getElementById('piece').style.display;") != "block"
    time.sleep(1.0)
    assert bot.find(uid, "Verified", after) is None


def test_no_init_data_says_to_open_it_from_telegram(live, browser):
    browser.get(live[1] + "/")
    wait_until(lambda: status(browser)[1] == "error", 20, 0.1, what="the hint")
    assert "from the bot's button" in status(browser)[0]
