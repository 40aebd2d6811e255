"""The session-wide guard (tests/conftest.py): a script spanning cluster slots fails on one Redis too."""
from __future__ import annotations

import pytest

from botrunner.redis_batch import ScriptBatcher
from botrunner.redis_keys import Keys
from tests.aio import run

KEYS = Keys.for_token("9:slots")


def test_a_script_over_two_slot_groups_is_refused_and_one_group_is_fine(redis_client):
    with pytest.raises(AssertionError, match="2 cluster slots"):
        redis_client.eval("return 1", 2, KEYS.lane(1), KEYS.poll_offset)
    assert redis_client.eval("return 1", 3, KEYS.lane(1), KEYS.lane_owner(1), KEYS.done(1, 99)) == 1


def test_a_batched_script_over_two_slot_groups_is_refused_too(redis_url):
    """The batcher and redis_scripts.pipelined pack their requests with hiredis, past redis-py's
    execute_command: the guard sees them where they are packed (botrunner.packed_pipeline.pack)."""
    async def scenario(client):
        script = ScriptBatcher(client).script("return 1")
        return await script(keys=[KEYS.lane(1), KEYS.lane_owner(1)], args=[]), await script(
            keys=[KEYS.lane(1), KEYS.poll_offset], args=[])
    with pytest.raises(AssertionError, match="2 cluster slots"):
        run(scenario, redis_url)
