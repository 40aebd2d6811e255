"""The benchmark bot on botrunner: BOT_HANDLERS=benchmarks.peers.botrunner_bot:router.

A synchronous handler, run by the worker's handler threads; the store is opened once per worker.
"""
from __future__ import annotations

from benchmarks.peers.bench_store import RoundTripReport, open_store, register
from botrunner.bot.context import Context
from botrunner.bot.router import Router

router = Router()


@router.on_worker_start
def open_bench_store(services) -> None:
    """One SQLite store and one round-trip report per worker process."""
    store = open_store()
    services.provide("bench_store", store)
    services.provide("bench_report", RoundTripReport(store))


@router.command("start")
def start(ctx: Context) -> None:
    """Register the user, then reply."""
    ctx.reply(register(ctx.services.bench_store, ctx.effective_user))
    ctx.services.bench_report.count()
