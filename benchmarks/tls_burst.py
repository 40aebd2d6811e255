"""The reply-only burst through one Redis reached over TLS and through the same kind of Redis in plain
TCP, in the same run: what TLS to Redis costs the pipeline.

    .venv/bin/python benchmarks/tls_burst.py                       # 2 workers, 5000 /start, 3 runs each
    .venv/bin/python benchmarks/tls_burst.py --runs 5 --write-doc

Both sides are Debian's redis-server 7 with the same settings (AOF on, appendfsync everysec): one on a
plain port, one with `port 0` and a tls-port that requires client certificates (mutual TLS, with
throwaway certificates from tests/redis_ha/tls_certs.py; botrunner has REDIS_URL=rediss://... and the
REDIS_TLS_* files, REDIS_TLS_VERIFY=full). The bot is benchmarks/runner_burst.py's (one reply per
/start, SEND_LIMITS=false); runs alternate plain / TLS so machine load hits both alike. Reported: the
ratio of the medians and the median of the per-pair ratios; --write-doc replaces its section in
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cluster_burst import single_server  # noqa: E402
from runner_burst import LANES, alternating, compared  # noqa: E402

from benchmarks.sections import write_section  # noqa: E402
from botrunner.emulator.client import ControlClient  # noqa: E402
from botrunner.tools.local_runs import start_emulator, stop, wait_until  # noqa: E402
from tests.redis_ha.tls_certs import make_certs  # noqa: E402
from tests.redis_ha.tls_servers import tls_server  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- tls-burst:begin -->", "<!-- tls-burst:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    emulator, api_url = start_emulator()
    with tempfile.TemporaryDirectory(prefix="br-tls-bench-") as tmp:
        certs = make_certs(Path(tmp) / "certs")
        plain, plain_url = single_server(Path(tmp) / "plain")
        secure = tls_server(Path(tmp) / "tls", certs, auth_clients="yes")
        secure.lines = [line for line in secure.lines if not line.startswith("appendonly")]
        secure.lines += ["appendonly yes", "appendfsync everysec"]
        secure.start()
        tls_client = secure.client()
        wait_until(lambda: _answers(tls_client), 30, "the TLS redis-server")
        clients = {"plain": redis.Redis.from_url(plain_url), "tls": tls_client}
        urls = {"plain": plain_url, "tls": secure.url}
        extra = {"plain": {}, "tls": certs.env(client_cert=True)}
        control = ControlClient(api_url)
        try:
            print(f"Burst: {args.updates} /start from {args.users} users, {LANES} lanes, {args.workers} workers, "
                  f"cpus={os.cpu_count()}; plain TCP vs mutual TLS", flush=True)
            sides = {side: (clients[side], urls[side], extra[side]) for side in clients}
            rates, loads = alternating(control, api_url, tmp, sides, args)
        finally:
            control.close()
            stop(emulator, 10)
            secure.kill()
            plain.terminate()
            plain.wait(10)
    medians, share, paired = compared(rates, "plain", "tls")
    print(f"\nmedian plain {medians['plain']:.0f}/s, TLS {medians['tls']:.0f}/s: {share:.0%} of plain; "
          f"median of the paired ratios {paired:.0%}; load average {min(loads):.1f}-{max(loads):.1f}")
    if args.write_doc:
        write_doc(args, rates, medians, share, paired, loads)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def spread(rates: dict[str, list[float]]) -> str:
    """Whether the pairs tell TLS's cost apart from the machine's run-to-run noise."""
    pairs = [t / p for p, t in zip(rates["plain"], rates["tls"])]
    if min(pairs) < 1 < max(pairs):
        return (f"The pairs range from {min(pairs):.0%} to {max(pairs):.0%}: TLS's cost is within the run-to-run "
                "spread here, not measurable on this machine at this load.")
    return f"Every pair is {'below' if max(pairs) <= 1 else 'above'} 100 % ({min(pairs):.0%}-{max(pairs):.0%})."


def write_doc(args: argparse.Namespace, rates: dict[str, list[float]], medians: dict[str, float],
              share: float, paired: float, loads: list[float]) -> None:
    command = (f"python benchmarks/tls_burst.py --workers {args.workers} --updates {args.updates} "
               f"--users {args.users} --runs {args.runs} --write-doc")
    lines = [BEGIN, "## Redis over TLS: the reply-only burst, mutual TLS vs plain TCP", "",
             f"Generated by `{command}` on {datetime.date.today()}: {args.updates} /start from {args.users} users "
             f"through `botrunner start --workers {args.workers}` ({LANES} lanes, one reply per update, "
             "SEND_LIMITS=false), against one Debian redis-server 7 on a plain port and one on a tls-port only "
             "that requires client certificates (REDIS_URL=rediss://..., the REDIS_TLS_* files, "
             "REDIS_TLS_VERIFY=full; same server settings, AOF on), runs alternating, all on this 2-core machine.",
             "", "| Redis | runs (updates/s) | median updates/s | of plain |", "| --- | --- | ---: | ---: |",
             f"| plain TCP | {', '.join(f'{r:.0f}' for r in rates['plain'])} | {medians['plain']:.0f} | 100 % |",
             f"| mutual TLS | {', '.join(f'{r:.0f}' for r in rates['tls'])} | {medians['tls']:.0f} | "
             f"{share:.0%} |".replace("%", " %"), "",
             f"Per pair (TLS run / the plain run before it): "
             f"{', '.join(f'{t / p:.0%}' for p, t in zip(rates['plain'], rates['tls']))}, median {paired:.0%}. "
             f"Load average during the runs: {min(loads):.1f}-{max(loads):.1f} (other work on the machine). "
             f"{spread(rates)} The handshakes are paid once per connection (the workers keep theirs in pools); "
             "what remains per command is its encryption.".replace("%", " %"), END]
    write_section(DOC, "\n".join(lines), BEGIN, END)


if __name__ == "__main__":
    main()
