"""`botrunner dead list|replay|drop` on dead letters written by the real Completion (real Redis)."""
from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from click.testing import CliRunner

import cli
from botrunner.intake.store import lane_for
from botrunner.processing.completion import Completion
from botrunner.redis_keys import GROUP, Keys

TOKEN = "616161:dead-letter-token"
KEYS = Keys.for_token(TOKEN)
LANES = 8


def update(update_id: int, chat: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "chat": {"id": chat, "type": "private"},
                                                "from": {"id": chat, "is_bot": False, "first_name": "U"},
                                                "date": 0, "text": "/start"}}


def dead_letter(redis_url: str, *updates: dict) -> None:
    async def write():
        client = aioredis.from_url(redis_url)
        try:
            completion = Completion(client, KEYS)
            for u in updates:
                await completion.dead_letter(3, f"1-{u['update_id']}", u["update_id"], json.dumps(u),
                                             "Traceback ...\nKeyError: 'balance'", 5)
        finally:
            await client.aclose()
    asyncio.run(write())


def dead(redis_url: str, *args: str):
    env = {"REDIS_URL": redis_url, "BOT_TOKEN": TOKEN, "LANES": str(LANES), "MONGODB_URL": ""}
    return CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "dead", *args], env=env, prog_name="botrunner")


def test_list_shows_each_dead_letter_and_its_last_error_line(redis_url):
    dead_letter(redis_url, update(10, 501), update(11, 502))
    result = dead(redis_url, "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[1:3] == ["update", "10"] and "attempts 5" in lines[0] and "KeyError: 'balance'" in lines[0]
    assert lines[-1] == "bot 616161: 2 dead letter(s), 2 shown"
    raw = json.loads(dead(redis_url, "list", "--json", "--limit", "1").stdout)
    assert json.loads(raw["update"]) == update(10, 501)


def test_replay_moves_an_entry_back_into_the_lane_of_its_chat(redis_url, redis_client):
    dead_letter(redis_url, update(20, 777), update(21, 778))
    entry_id = dead(redis_url, "list").stdout.split()[0]
    lane = lane_for(update(20, 777), LANES)
    redis_client.xgroup_create(KEYS.lane(lane), GROUP, id="0", mkstream=True)
    result = dead(redis_url, "replay", entry_id)
    assert result.exit_code == 0 and result.stdout.strip() == "bot 616161: replayed 1 of 1 dead letter(s)"
    delivered = redis_client.xreadgroup(GROUP, "w", {KEYS.lane(lane): ">"})
    [(_, [(_, fields)])] = delivered
    assert fields[b"update_id"] == b"20" and json.loads(fields[b"update"]) == update(20, 777)
    assert redis_client.xlen(KEYS.dead) == 1                   # the other one stays
    again = dead(redis_url, "replay", entry_id)                  # an entry is replayed once, never twice
    assert again.exit_code == 1 and "no such dead letter" in again.stderr


def test_replay_all_and_drop(redis_url, redis_client):
    dead_letter(redis_url, *(update(30 + n, 900 + n) for n in range(5)))
    first = dead(redis_url, "list").stdout.split()[0]
    assert dead(redis_url, "drop", first).stdout.strip() == "bot 616161: dropped 1 of 1 dead letter(s)"
    assert dead(redis_url, "replay", "--all").stdout.strip() == "bot 616161: replayed 4 of 4 dead letter(s)"
    assert redis_client.xlen(KEYS.dead) == 0
    replayed = sum(redis_client.xlen(KEYS.lane(n)) for n in range(LANES) if redis_client.exists(KEYS.lane(n)))
    assert replayed == 4


def test_drop_all_needs_yes_and_ids_or_all_not_both(redis_url, redis_client):
    dead_letter(redis_url, update(40, 1))
    refused = dead(redis_url, "drop", "--all")
    assert refused.exit_code == 1 and "--yes" in refused.stderr and redis_client.xlen(KEYS.dead) == 1
    both = dead(redis_url, "replay", "1-1", "--all")
    assert both.exit_code == 1 and "not both" in both.stderr
    assert dead(redis_url, "drop", "--all", "--yes").exit_code == 0 and redis_client.xlen(KEYS.dead) == 0
