"""Default tasks, built from configuration and synced at worker start.

The task row is the one source of truth for a reward: handlers pay `task.reward`, `/setting
daily_bonus` and the task editors write the row. Configuration reaches the row when it changes: the
reward each default was last synced from (`task_default.<id>` in store.settings) is compared with the
configured one at worker start, and only a changed setting overwrites the row, so an admin's edit
survives restarts until the operator changes the setting itself (POINTS_*, DAILY_BONUS).
"""
from __future__ import annotations

from typing import Any

from botrunner.config.settings import Settings
from storage.records import Task

TWITTER_HANDLE = r"@?[A-Za-z0-9_]{1,15}"
TWEET_URL = r"https://(x|twitter)\.com/[A-Za-z0-9_]{1,15}/status/\d{5,25}(\?\S*)?"


def default_tasks(s: Settings) -> list[Task]:
    """The Node bot's defaults, minus those whose target is not configured."""
    tasks = [
        Task("daily", "daily", "Daily check-in", s.daily_bonus, cooldown_s=s.daily_task_reset_interval_s, order=1),
        Task("invite", "referrals", f"Invite {s.referral_task_threshold} friends", s.points_per_referral,
             target=str(s.referral_task_threshold), order=5),
        Task("premium", "premium", "Telegram Premium member", s.points_premium_member, order=6),
    ]
    if s.required_channel_id:
        tasks.append(Task("channel", "channel", "Join our channel", s.points_channel_join,
                          target=s.required_channel_id, order=0))
    if s.task_twitter_profile:
        tasks.append(Task("x_follow", "proof", "Follow us on X", s.points_twitter_follow,
                          target=s.task_twitter_profile, proof_pattern=TWITTER_HANDLE,
                          auto_approve=s.auto_approve_submissions, order=2))
    if s.task_twitter_tweet:
        tasks.append(Task("retweet", "proof", "Retweet our post", s.points_retweet, target=s.task_twitter_tweet,
                          proof_pattern=TWEET_URL, auto_approve=s.auto_approve_submissions, order=3))
    if s.bot_website:
        tasks.append(Task("website", "link", "Visit our website", s.points_channel_join, target=s.bot_website,
                          order=4))
    return tasks


def sync_default_tasks(store: Any, s: Settings) -> tuple[int, list[str]]:
    """Seed missing defaults; put a changed configured reward into its row. Returns (added, updated ids)."""
    tasks = default_tasks(s)
    added = store.tasks.seed(tasks)
    updated = []
    for task in tasks:
        key = f"task_default.{task.id}"
        if store.settings.get(key) != task.reward:
            if store.settings.get(key) is not None:
                store.tasks.update(task.id, reward=task.reward)
                updated.append(task.id)
            store.settings.set(key, task.reward)
    return added, updated
