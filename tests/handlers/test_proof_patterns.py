"""Operator proof patterns run on RE2 (linear time), are validated when added, and see a capped input.

Before the fix, `re.fullmatch` ran them: the catastrophic patterns below took exponential time (the
tests hung until their timeout) and `/addtask` stored any pattern, backreferences included."""
from __future__ import annotations

import pytest

from handlers import proof_patterns
from storage.records import Task
from tests.handlers.harness import ADMIN, joined

EVIL = [(r"(a+)+$", "a" * 64 + "!"), (r"(a|aa)+$", "a" * 80 + "!"), (r"(\w+\s?)*$", "word " * 40 + "!")]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern, proof", EVIL)
def test_catastrophic_patterns_answer_at_once(pattern, proof):
    assert proof_patterns.matches(pattern, proof) is False
    assert proof_patterns.matches(pattern, proof[:-1]) is True


def test_whole_proof_case_insensitive_ascii_digits_capped_input():
    assert proof_patterns.matches(r"@?[a-z0-9_]{1,15}", "@ALICE_1")
    assert not proof_patterns.matches(r"@?[a-z0-9_]{1,15}", "hello @alice")       # the whole proof
    assert not proof_patterns.matches(r"\d+", "²") and proof_patterns.matches(r"\d+", "42")
    assert not proof_patterns.matches(r".*", "x" * (proof_patterns.MAX_INPUT + 1))


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=x)x", "a{1000}{1000}", "(", "x" * 201])
def test_unusable_patterns_are_refused_with_a_reason(pattern):
    assert proof_patterns.check(pattern)
    assert proof_patterns.matches(pattern, "a") is False                # stored earlier: matches nothing


def test_addtask_validates_the_pattern(bot):
    out = bot.command(ADMIN, "addtask", r"proof 10 - Follow us | (a)\1")
    assert "cannot be used" in joined(out) and "RE2" in joined(out)
    assert not [t for t in bot.rt.store.tasks.list() if t.title == "Follow us"]
    bot.command(ADMIN, "addtask", r"proof 10 - Follow us | @?[a-z0-9_]{1,15}")
    (task,) = [t for t in bot.rt.store.tasks.list() if t.title == "Follow us"]
    assert task.proof_pattern == r"@?[a-z0-9_]{1,15}"


@pytest.mark.timeout(30)
def test_a_catastrophic_stored_pattern_cannot_freeze_the_handler(bot):
    bot.rt.store.tasks.create(Task("evil", "proof", "Evil", 5, proof_pattern=r"(a+)+$"))
    bot.join(1)
    bot.click(1, "task:p:evil")
    assert "expected format" in joined(bot.text(1, "a" * 64 + "!"))
    bot.click(1, "task:p:evil")
    assert "Submitted" in joined(bot.text(1, "a" * 64))
