"""docs/benchmarks.md from the comparison's results: medians and ratios, every repetition, the machine,
the command, and how each number is measured."""
from __future__ import annotations

import os
import platform
import statistics
import time
from importlib import metadata
from pathlib import Path

from benchmarks.sections import write_section
from benchmarks.systems import LABELS

METRICS = ("updates_per_s", "p50_ms", "p95_ms", "p99_ms", "success", "cpu_per_1000", "redis_cpu_per_1000",
           "cpu_total_per_1000",
           "rss_worker_mb", "rss_total_mb", "db_per_update", "redis_per_update")

METHOD = """\
## How it is measured

- **One local Bot API server** (`botrunner emulator`, a separate process) for every system and every run;
  the workload is injected through its control plane (`botrunner.tools.loadtest`, the code behind
  `botrunner loadtest`). Latency is the server's clock from the update's injection to the bot's
  `sendMessage` arriving at the server.
- **The same bot everywhere** (`benchmarks/peers/`): `/start` registers the user through botrunner's
  own storage layer (`SQLiteStore.users.register`: an `INSERT ... ON CONFLICT DO NOTHING` and a `SELECT`
  on a fresh WAL-mode SQLite file) and replies with one message. botrunner runs it as a synchronous
  handler in its handler threads; python-telegram-bot (`Application.run_polling`,
  `concurrent_updates(True)`) and aiogram 3 (`Dispatcher.start_polling`, defaults: updates handled as
  tasks) call the same register inline in their async handler. All use long polling.
- **Each run** starts the system fresh (new SQLite file; for botrunner an emptied Redis and all 64
  lanes owned), warms it up, then injects a **burst** of new users' /start at once (updates/s = replies
  from the first injection to the last reply) and runs the **guide's test** (1000 /start in 10 batches,
  100 ms apart, not waiting between batches: p50/p95/p99 and success; a reply later than 10 s fails).
  Each phase starts from a system at rest, as in a deployment: after the warm-up and after each phase
  the benchmark waits until the bot's processes are idle (at most `--settle` s; the airdrop bot's
  captcha pool refills then), and the CPU columns include the work done in that quiet time, less what
  the system burns at rest anyway (its share of a core at rest, measured before the warm-up once it is at rest).
- **Repetitions are interleaved** (each repetition starts with a different system) and the table shows
  medians. Costs: CPU seconds of the bot's processes (supervisor + workers) per 1000 updates; for
  botrunner also the Redis server's CPU; RSS per update-handling process (workers; the single process of
  a peer) and in total; database round trips per update as counted by the storage layer in the bots;
  Redis commands per update (`INFO stats`, including idle lease renewals during the run).
- botrunner's extra work is its guarantees: every update is stored in a Redis stream before it is
  acknowledged to Telegram, handled under a lane lease, and acknowledged after the reply is sent, so a
  crash or restart loses nothing. The peers keep updates in memory only.
"""

PROFILING = """\
## Profiling the worker

`benchmarks/profile_worker.py --workload reply --gil` attaches py-spy to a worker (1 worker, bursts of
2000 reply-only /start) and ranks functions by samples taken while they held the GIL. Before the
hot-path work a one-reply update cost five Redis round trips in the worker (the completion check, the
outbox journal's read, the limiter's slot, the journal's confirmation, the completion marker + XACK);
of the worker's Python time Redis calls took about 28 % (redis-py's pure-Python reply parser a good
part of it), the send path (python-telegram-bot over aiohttp, a form-encoded body) about 18 % and
parsing the update into `telegram.Update` about 17 %. Now: three round trips (begin reads the journal
and clears the blocked flag; the limiter's script checks the lane lease; the completion script writes
the last reply's journal entry), the scripts of one event-loop turn share one pipeline, hiredis parses
the replies, and a call is one JSON body. Measured the same way afterwards (the machine loaded by
other work): the send path (aiohttp's request and its socket writes under python-telegram-bot) is
about 23 % of the worker's Python time, the Redis pipelines about 16 % (most of it the socket write
of each pipeline), `Update.de_json` about 14 % (it also decides that an update is valid: an
unparseable one never reaches a handler, so it is not made lazy), the rest of the handler thread
and its hop about 9 %. A second round then took plain JSON calls off python-telegram-bot's request
layers, replaced the executor hop per update by drainer threads and capped the pipelines in flight:
the hot-path section below has its profile before and after and its measurements.
"""


def median(results: list[dict], system: str, metric: str) -> float:
    return statistics.median(r[metric] for r in results if r["system"] == system)


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("python-telegram-bot", "aiogram", "redis", "uvloop"))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return [f"- CPU: {os.cpu_count()} x {cpu}; Linux {platform.release()}; Python {platform.python_version()}",
            f"- {versions}",
            f"- load average at the end: {load} (anything else running on the machine shows here). Everything "
            "(server, load generator, bot, Redis) runs on the same cores, so numbers are noisy: read the medians "
            "and the ratios, not single runs.",
            "- host probe (every run's table): the median CPU time of one fixed piece of pure-Python work sampled "
            "during the burst (`benchmarks/host_probe.py`). On a VM whose cores the host shares with other tenants "
            "the same work costs up to 1.9x more CPU from one moment to the next, with no steal time shown: a run "
            "with a high probe ran on a slow machine, whatever the system. others' cores: how many of the cores "
            "the rest of the machine used on average during the burst (every core's busy time less the server's, the "
            "load generator's, Redis' and the system's own)."]


def spread(results: list[dict], system: str, metric: str) -> str:
    """min / median / max over the repetitions, and the largest distance from the median in %."""
    values = sorted(r[metric] for r in results if r["system"] == system)
    mid = statistics.median(values)
    worst = max(abs(v - mid) for v in values) / mid * 100 if mid else 0.0
    return f"{values[0]:.0f} / {mid:.0f} / {values[-1]:.0f} (±{worst:.0f} %)"


def summary_table(results: list[dict], systems: list[str]) -> list[str]:
    rows = ["| system | updates/s | min / median / max | vs PTB | vs aiogram | vs bare aiohttp | p50 ms | p95 ms | "
            "p99 ms | success | CPU s/1000 upd incl. Redis (Redis) | RSS/worker MB | RSS total MB | DB trips/upd | "
            "Redis cmds/upd |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    bases = [median(results, peer, "updates_per_s") if peer in systems else None for peer in ("ptb", "aiogram", "aiohttp")]
    for name in systems:
        m = {metric: median(results, name, metric) for metric in METRICS}
        ratios = " | ".join(f"{m['updates_per_s'] / base:.2f}x" if base else "-" for base in bases)
        cpu = m["cpu_total_per_1000"]
        redis_cpu = f" ({m['redis_cpu_per_1000']:.2f})" if m["redis_cpu_per_1000"] else ""
        rows.append(f"| {LABELS[name]} | {m['updates_per_s']:.0f} | {spread(results, name, 'updates_per_s')} | "
                    f"{ratios} | {m['p50_ms']:.1f} | "
                    f"{m['p95_ms']:.1f} | {m['p99_ms']:.1f} | {m['success'] * 100:.1f} % | "
                    f"{cpu:.2f}{redis_cpu} | {m['rss_worker_mb']:.0f} | {m['rss_total_mb']:.0f} | "
                    f"{m['db_per_update']:.2f} | {m['redis_per_update']:.1f} |")
    return rows


def runs_table(results: list[dict]) -> list[str]:
    rows = ["| # | system | rep | updates/s | host probe us | others' cores | burst success | p50 ms | p95 ms | "
            "p99 ms | max ms | success |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for n, r in enumerate(results, 1):
        probe = f"{r['probe_us']:.0f}" if r.get("probe_us") else "-"
        others = f"{r['others_cores']:.2f}" if "others_cores" in r else "-"
        rows.append(f"| {n} | {r['system']} | {r['rep'] + 1} | {r['updates_per_s']:.0f} | {probe} | {others} | "
                    f"{r['burst_success'] * 100:.1f} % | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                    f"{r['max_ms']:.1f} | {r['success'] * 100:.1f} % |")
    return rows


KEPT = "<!-- Sections below are measured by other commands (each says which) and kept by compare.py. -->"


def kept_sections(path: Path) -> list[str]:
    """What stands below the KEPT marker in the current file (webhook, broadcast, ... measurements)."""
    text = path.read_text() if path.exists() else ""
    return [KEPT, *text.split(KEPT, 1)[1].strip("\n").splitlines(), ""] if KEPT in text else [KEPT, ""]


def write_markdown(results: list[dict], args, command: str, elapsed_s: float, path: Path) -> Path:
    """Write the whole report (the file is generated: edit this module, not the file); the sections
    below the KEPT marker come from other benchmark commands and are carried over unchanged."""
    systems = [s for s in args.systems if any(r["system"] == s for r in results)]
    lines = ["# Benchmarks: botrunner, python-telegram-bot and aiogram on the same workload", "",
             "Generated by `benchmarks/compare.py` (`make bench`); do not edit by hand.", "",
             f"Command: `{command}` — {args.repeats} interleaved repetition(s), burst of {args.burst} /start, "
             f"guide's test of {args.guide} /start, {args.warmup} warm-up; took {elapsed_s / 60:.1f} min on "
             f"{time.strftime('%Y-%m-%d')}.", "", "## Medians", "", *summary_table(results, systems), "",
             "updates/s: the burst. p50/p95/p99 and success: the deployment guide's test (targets: success > 99 %, "
             "p95 < 500 ms, p99 < 1000 ms).", "", "## Machine", "", *machine(), "", METHOD, PROFILING, "## Every run", "",
             *runs_table(results), "", *kept_sections(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


REPLY_BEGIN, REPLY_END = "<!-- reply-burst:begin -->", "<!-- reply-burst:end -->"


def write_reply_section(results: list[dict], args, command: str, elapsed_s: float, path: Path) -> Path:
    """The reply-only burst (`--workload reply`): its own section below the KEPT marker, replaced in place
    when measured again; the generated top of the file is left as it is."""
    systems = [s for s in args.systems if any(r["system"] == s for r in results)]
    section = [REPLY_BEGIN, "## Reply-only burst: what the runner itself costs", "",
               f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} ({elapsed_s / 60:.1f} min): the same runs "
               f"as the table at the top, but /start only replies (no database), burst of {args.burst}, guide's test "
               f"of {args.guide}, {args.repeats} interleaved repetitions, limits off everywhere. Ratios are of "
               "medians in this one run against the same local Bot API server.", "",
               *summary_table(results, systems), "", *machine(), "", "Every run:", "", *runs_table(results), REPLY_END]
    write_section(path, "\n".join(section), REPLY_BEGIN, REPLY_END, empty=KEPT + "\n")
    return path
