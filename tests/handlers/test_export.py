"""Defect 8 (export) and gap 11: the user export streams gzip CSV parts from disk to the real local
Bot API server; the scheduled export runs on one worker of the cluster per interval (a Redis lease).

Before the fix /export built the whole CSV in memory and sent it as one document (over Telegram's
50 MB limit at a million users), and an expired timed ban exported as banned."""
from __future__ import annotations

import csv
import gzip
import io
import time

import pytest

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from handlers import export
from handlers.bot_api import BotApi
from handlers.cluster_jobs import ClusterJobs
from handlers.export_schedule import export_job
from storage.records import User
from tests.handlers.harness import ADMIN, joined

TOKEN = "123456:handler-test"        # the harness bot's token (tests/handlers/conftest.py)


@pytest.fixture(scope="module")
def server():
    with running_emulator() as running:
        yield running


@pytest.fixture
def control(server):
    with ControlClient(server.url) as client:
        client.reset(TOKEN)
        yield client


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(data).decode())))


def test_parts_are_complete_gzip_csvs_under_the_size(tmp_path):
    users = [User(i, f"user{i}", first_name=f"=HYPERLINK(\"x\") {i}" if i == 5 else f"N{i}", points=i,
                  banned=i in (7, 8), banned_until=(time.time() - 60) if i == 7 else None)
             for i in range(1, 3001)]
    parts = export.write_parts(iter(users), tmp_path, part_bytes=8_000)
    assert len(parts) >= 2 and sum(rows for _, rows in parts) == 3000
    seen = []
    for path, rows in parts:
        assert path.stat().st_size < 8_000 + 64 * 1024           # zlib holds back at most its buffer
        table = rows_of(path.read_bytes())
        assert table[0] == list(export.FIELDS) and len(table) == rows + 1
        seen += table[1:]
    by_id = {int(r[0]): dict(zip(export.FIELDS, r)) for r in seen}
    assert sorted(by_id) == list(range(1, 3001))
    assert by_id[5]["first_name"].startswith("'=")                 # no formula in a spreadsheet
    assert by_id[7]["banned"] == "False" and by_id[8]["banned"] == "True"   # 7's ban expired


def test_export_command_uploads_the_parts_to_the_bot_api(bot, server, control):
    bot.rt.api = BotApi(server.url, TOKEN)
    control.inject_message(TOKEN, ADMIN, "hi")                      # the admin's chat exists
    for uid in range(1, 41):
        bot.rt.store.users.register(uid, f"u{uid}")
    out = bot.command(ADMIN, "export")
    assert "40 users" in joined(out)
    docs = [e for e in control.sent(TOKEN, ADMIN) if e["method"] == "sendDocument"]
    assert len(docs) == 1 and docs[0]["message"]["document"]["file_name"].endswith(".csv.gz")
    table = rows_of(control.file(TOKEN, docs[0]["message"]["document"]["file_id"]))
    assert len(table) == 41 and "1 of 1" in docs[0]["message"]["caption"]
    bot.rt.api.close()


class FakeUploads:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send_document(self, chat_id, path, name, caption=""):
        self.sent.append((chat_id, name, len(rows_of(path.read_bytes())) - 1))


def test_scheduled_export_runs_on_one_worker_per_interval(make_bot):
    bot = make_bot(ENABLE_USER_DATA_EXPORT="true", ADMIN_CHAT_ID="-100555", USER_DATA_EXPORT_INTERVAL_HOURS="6h")
    bot.rt.api = FakeUploads()
    for uid in range(1, 6):
        bot.rt.store.users.register(uid)
    now = [1_000_000.0]
    (first, a), (second, b) = ((ClusterJobs(bot.rt, [job], clock=lambda: now[0]), job)     # two workers
                               for job in (export_job(bot.rt), export_job(bot.rt)))
    assert first.run_once(a) == 5 and second.run_once(b) is None
    assert bot.rt.api.sent == [("-100555", bot.rt.api.sent[0][1], 5)]
    now[0] += 5 * 3600
    assert first.run_once(a) is None and second.run_once(b) is None  # not due yet
    now[0] += 3600
    lease = bot.rt.key("job", "export", "lease")
    bot.rt.redis.set(lease, "another worker", ex=60)
    assert second.run_once(b) is None                                 # someone holds the lease
    bot.rt.redis.delete(lease)
    assert second.run_once(b) == 5 and len(bot.rt.api.sent) == 2
    assert not bot.rt.redis.exists(lease)                             # released after the run


def test_a_failed_scheduled_export_is_tried_again(make_bot):
    bot = make_bot(ENABLE_USER_DATA_EXPORT="true", ADMIN_CHAT_ID="-100555")
    bot.rt.store.users.register(1)

    class Down:
        def send_document(self, *args, **kwargs):
            raise ConnectionError("Telegram away")
    bot.rt.api = Down()
    job = export_job(bot.rt)
    jobs = ClusterJobs(bot.rt, [job])
    with pytest.raises(ConnectionError):
        jobs.run_once(job)
    bot.rt.api = FakeUploads()
    assert jobs.run_once(job) == 1


def test_export_needs_a_chat():
    from botrunner.config.settings import ConfigError, load_settings
    with pytest.raises(ConfigError, match="ADMIN_CHAT_ID"):
        load_settings(environ={"ENABLE_USER_DATA_EXPORT": "true"}, env_file=None)
