"""Gap 10: the Node bot's rate limits per action, each a setting; admins exempt from user limits."""
from __future__ import annotations

from botrunner.config.settings import load_settings
from storage.records import Task
from tests.handlers.harness import ADMIN, joined

LIMITED = "Too many requests"
WALLETS = ["0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
           "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26"]


def test_defaults_are_the_node_bots():
    s = load_settings(environ={}, env_file=None)
    assert (s.rate_limit_commands_per_min, s.rate_limit_submissions_per_hour, s.rate_limit_wallet_changes_per_day,
            s.rate_limit_referral_code_per_hour, s.rate_limit_point_claims_per_hour,
            s.rate_limit_admin_actions_per_min) == (10, 3, 5, 1, 20, 100)


def test_commands_per_minute_and_admins_exempt(make_bot):
    bot = make_bot(RATE_LIMIT_COMMANDS_PER_MIN="3")
    bot.join(1)                                      # /start and the captcha answer count too
    bot.command(1, "points")
    assert LIMITED in joined(bot.command(1, "points"))
    bot.join(ADMIN)
    assert all("Balance" in joined(bot.command(ADMIN, "points")) for _ in range(8))


def test_admin_actions_per_minute(make_bot):
    bot = make_bot(RATE_LIMIT_ADMIN_ACTIONS_PER_MIN="2")
    assert "Users" in joined(bot.command(ADMIN, "admin")) and "Users" in joined(bot.command(ADMIN, "admin"))
    assert LIMITED in joined(bot.command(ADMIN, "admin"))


def test_proof_submissions_per_hour(make_bot):
    bot = make_bot(RATE_LIMIT_SUBMISSIONS_PER_HOUR="2")
    for n in range(3):
        bot.rt.store.tasks.create(Task(f"p{n}", "proof", f"Proof {n}", 5))
    bot.join(1)
    for n in range(2):
        bot.click(1, f"task:p:p{n}")
        assert "Submitted" in joined(bot.text(1, f"proof {n}"))
    bot.click(1, "task:p:p2")
    assert LIMITED in joined(bot.text(1, "proof 2"))
    assert bot.rt.store.submissions.get_for(1, "p2") is None


def test_wallet_changes_per_day(make_bot):
    bot = make_bot(RATE_LIMIT_WALLET_CHANGES_PER_DAY="2", WALLET_CHANGE_COOLDOWN_S="0")
    bot.join(1)
    for address in WALLETS[:2]:
        assert "saved" in joined(bot.command(1, "wallet", address)).lower()
    assert LIMITED in joined(bot.command(1, "wallet", WALLETS[2]))
    assert bot.rt.store.users.get(1).wallet_address.lower() == WALLETS[1].lower()


def test_point_claims_per_hour(make_bot):
    bot = make_bot(RATE_LIMIT_POINT_CLAIMS_PER_HOUR="2")
    for n in range(3):
        bot.rt.store.tasks.create(Task(f"l{n}", "link", f"Link {n}", 5, target="https://example.org"))
    bot.join(1)
    bot.click(1, "task:d:l0")
    bot.click(1, "task:d:l1")
    assert LIMITED in joined(bot.click(1, "task:d:l2"))
    assert bot.rt.store.points.balance(1) == 10


def test_updates_refused_by_maintenance_do_not_count(make_bot):
    """The gate counts the command in the round trip that reads the spam freeze, but not while
    maintenance refuses the update anyway."""
    bot = make_bot(RATE_LIMIT_COMMANDS_PER_MIN="3")
    bot.join(1)                                      # two counted: /start and the answer
    bot.rt.set_switch("maintenance", True)
    for _ in range(4):
        assert "Balance" not in joined(bot.command(1, "points"))
    bot.rt.set_switch("maintenance", False)
    assert "Balance" in joined(bot.command(1, "points"))
    assert LIMITED in joined(bot.command(1, "points"))
