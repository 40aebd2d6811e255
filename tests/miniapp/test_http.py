"""The Mini App's HTTP API on a real worker's server (`botrunner start`, two workers, the local Bot
API server): initData refused when forged, stale or unsigned; the slider answered once; a solved
slider reaches the bot as an event that deletes the prompt and welcomes; the same account and
device again within 10 s gets 429; and one device, one account across two workers."""
from __future__ import annotations

import threading
import time
import zlib

import httpx
import pytest
import redis

from tests.miniapp.live import DEVICE, MiniAppClient, human_trace, miniapp_bot, sign_init_data
from tests.runner.conftest import KEYS, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(redis_server, tmp_path_factory):
    with miniapp_bot(redis_server.url, tmp_path_factory.mktemp("miniapp-http")) as (bot, base):
        pipeline = redis.Redis.from_url(redis_server.url)
        yield bot, base, pipeline
        pipeline.close()


def client(live, ip: str) -> MiniAppClient:
    return MiniAppClient(live[1], ip, live[2])


def prompt_of(bot, user_id: int) -> dict:
    """/start as a new user; the message with the web_app button."""
    after = bot.last_index(user_id)
    bot.command(user_id, "start")
    return bot.wait(user_id, "Tap Verify", after)


def test_the_page_is_self_contained(live):
    page = httpx.get(live[1] + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "<script src" not in page.text and "http://" not in page.text and "https://" not in page.text
    assert "tgWebAppData" in page.text and 'data-api="/miniapp/api/"' in page.text
    moved = httpx.get(live[1], timeout=10)
    assert moved.status_code == 301 and moved.headers["Location"] == "/miniapp/"


@pytest.mark.parametrize("init_data, reason", [
    (sign_init_data(701).replace("Ann", "Bob"), "signature is invalid"),                 # tampered user
    (sign_init_data(701, token="999:other-bot-token"), "signature is invalid"),           # another bot's
    (sign_init_data(701, auth_date=time.time() - 7200), "too old"),                       # stale
    (sign_init_data(701, auth_date=time.time() + 3600), "in the future"),
    ("&".join(p for p in sign_init_data(701).split("&") if not p.startswith("hash=")), "no hash"),
    ("", "missing"),
])
def test_refused_init_data_gets_401_with_a_reason(live, init_data, reason):
    answer = client(live, "10.1.0.1").session(init_data)
    assert answer.status_code == 401 and reason in answer.json()["error"]


def test_bad_bodies(live):
    c = client(live, "10.1.0.2")
    assert c.http.post(live[1] + "/api/session", content=b"{nope").status_code == 400
    assert c.http.post(live[1] + "/api/session", content=b"[1]").status_code == 400
    assert c.post("session", {"init_data": "x" * 70_000}).status_code == 413


def test_solved_slider_deletes_the_prompt_and_welcomes(live):
    bot, _, _ = live
    uid = 702
    prompt = prompt_of(bot, uid)
    assert prompt["message"]["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"].startswith("https://")
    assert "captcha" in bot.ask(uid, "menu", "captcha")["text"].lower()          # refused until verified
    c = client(live, "10.1.0.3")
    after = bot.last_index(uid)
    answer = c.solve(sign_init_data(uid))
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    bot.wait(uid, "Verified", after)
    deleted = [e for e in bot.sent(uid, after) if e["method"] == "deleteMessage"]
    assert [e.get("message_id") for e in deleted] == [prompt["message_id"]]
    again = c.solve(sign_init_data(uid))                              # same account, same device, at once
    assert again.status_code == 429 and "moment ago" in again.json()["error"]


def test_a_wrong_or_scripted_answer_is_refused_and_the_challenge_used_up(live):
    c = client(live, "10.1.0.4")
    init = sign_init_data(703)
    challenge = c.session(init).json()
    target = c.target(challenge["challenge_id"])
    body = {"init_data": init, "challenge_id": challenge["challenge_id"], "position": target + 0.2,
            "trace": human_trace(target + 0.2), "fingerprint": DEVICE}
    wrong = c.post("verify", body)
    assert wrong.status_code == 422 and "not quite" in wrong.json()["error"]
    retry = c.post("verify", {**body, "position": target, "trace": human_trace(target)})
    assert retry.status_code == 422 and "expired" in retry.json()["error"]
    fresh = c.session(init).json()
    target = c.target(fresh["challenge_id"])
    robot = [[0, 0, 300], [5, target / 2, 300], [10, target, 300]] * 3
    scripted = c.post("verify", {**body, "challenge_id": fresh["challenge_id"], "position": target, "trace": robot})
    assert scripted.status_code == 422


def test_the_user_comes_from_init_data_not_from_the_request(live):
    bot, _, _ = live
    prompt_of(bot, 704)
    prompt_of(bot, 705)
    c = client(live, "10.1.0.5")
    challenge = c.session(sign_init_data(704)).json()
    target = c.target(challenge["challenge_id"])
    answer = c.post("verify", {"init_data": sign_init_data(704), "user_id": 705, "challenge_id": challenge["challenge_id"],
                               "position": target, "trace": human_trace(target),
                               "fingerprint": {**DEVICE, "canvas": "704"}})
    assert answer.status_code == 200
    bot.wait(704, "Verified")
    assert bot.find(705, "Verified") is None


def lanes_apart(pipeline) -> tuple[int, int]:
    """Two new user ids whose lanes two different workers hold."""
    owners = {n: pipeline.get(KEYS.lane_owner(n)) for n in range(16)}
    first = next(uid for uid in range(1100, 1200) if owners[zlib.crc32(str(uid).encode()) % 16])
    owner = owners[zlib.crc32(str(first).encode()) % 16]
    second = next(uid for uid in range(1200, 1300)
                  if owners[zlib.crc32(str(uid).encode()) % 16] not in (None, owner))
    return first, second


def test_one_device_one_account_across_two_workers(live):
    bot, _, pipeline = live
    users = lanes_apart(pipeline)
    for uid in users:
        prompt_of(bot, uid)
    device = {**DEVICE, "canvas": "shared-phone"}
    answers: dict[int, int] = {}

    def verify(uid: int, ip: str) -> None:
        answers[uid] = client(live, ip).solve(sign_init_data(uid), device=device).status_code

    threads = [threading.Thread(target=verify, args=(uid, f"10.2.0.{i}")) for i, uid in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {users[0]: 200, users[1]: 200}                 # the slider was solved by both
    for uid in users:
        wait_until(lambda: bot.find(uid, "Verified") or bot.find(uid, "Security notice"), 30, 0.1,  # noqa: B023
                   what=f"the verdict for {uid}")
    outcomes = {uid: ("verified" if bot.find(uid, "Verified") else "refused") for uid in users}
    assert sorted(outcomes.values()) == ["refused", "verified"], outcomes
    refused = next(uid for uid, o in outcomes.items() if o == "refused")
    assert bot.find(refused, "Security notice") is not None
    with bot.database() as db:
        passed = dict(db.execute(f"SELECT id, captcha_passed FROM users WHERE id IN ({users[0]}, {users[1]})"))
    assert sorted(passed.values()) == [0, 1]
    lanes = [zlib.crc32(str(uid).encode()) % 16 for uid in users]
    assert pipeline.get(KEYS.lane_owner(lanes[0])) != pipeline.get(KEYS.lane_owner(lanes[1]))
