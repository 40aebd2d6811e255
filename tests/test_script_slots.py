"""The session-wide guard (tests/conftest.py): a script spanning cluster slots fails on one Redis too."""
from __future__ import annotations

import pytest

from botrunner.redis_keys import Keys

KEYS = Keys.for_token("9:slots")


def test_a_script_over_two_slot_groups_is_refused_and_one_group_is_fine(redis_client):
    with pytest.raises(AssertionError, match="2 cluster slots"):
        redis_client.eval("return 1", 2, KEYS.lane(1), KEYS.poll_offset)
    assert redis_client.eval("return 1", 3, KEYS.lane(1), KEYS.lane_owner(1), KEYS.done(1, 99)) == 1
