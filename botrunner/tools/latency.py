"""Latency samples and their summary (percentiles, throughput), shared by the demo, the load test and
the benchmarks so every number in this project is computed the same way.

Percentiles use the nearest-rank rule of the deployment guide's script: sorted[floor(n * q)].
"""
from __future__ import annotations

import statistics
import threading
from dataclasses import asdict, dataclass, field

#: The deployment guide's targets for its load test.
TARGET_SUCCESS = 0.99       # more than 99 % of the /start commands answered
TARGET_P95_MS = 500.0       # p95 below 500 ms
TARGET_P99_MS = 1000.0      # p99 below 1000 ms


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted samples (0.0 when there are none)."""
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


@dataclass
class Summary:
    """What a run of simulated users produced, in numbers a report or --json prints."""

    sent: int
    replied: int
    failed: int
    elapsed_s: float
    success_rate: float
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def targets(self) -> dict[str, bool]:
        """The guide's three targets, each pass (True) or fail."""
        return {"success > 99 %": self.success_rate > TARGET_SUCCESS,
                "p95 < 500 ms": self.p95_ms < TARGET_P95_MS,
                "p99 < 1000 ms": self.p99_ms < TARGET_P99_MS}

    def passed(self) -> bool:
        return all(self.targets().values())

    def as_dict(self) -> dict:
        numbers = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}
        return {**numbers, "targets": self.targets(), "passed": self.passed()}


@dataclass
class Samples:
    """Thread-safe reply latencies (ms) and counts of requests sent and failed."""

    latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_sent(self, n: int = 1) -> None:
        with self.lock:
            self.sent += n

    def add_reply(self, latency_ms: float) -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)

    def add_failure(self, n: int = 1) -> None:
        with self.lock:
            self.failed += n

    @property
    def replied(self) -> int:
        return len(self.latencies_ms)

    def quantiles(self, *qs: float) -> list[float]:
        """Several percentiles from one sort (what a progress line needs)."""
        with self.lock:
            data = sorted(self.latencies_ms)
        return [percentile(data, q) for q in qs]

    def summary(self, elapsed_s: float) -> Summary:
        """Freeze the samples into a Summary; throughput is replies per second of `elapsed_s`."""
        with self.lock:
            data = sorted(self.latencies_ms)
            sent, failed = self.sent, self.failed
        return Summary(sent=sent, replied=len(data), failed=failed, elapsed_s=round(elapsed_s, 3),
                       success_rate=len(data) / sent if sent else 0.0,
                       throughput=len(data) / elapsed_s if elapsed_s > 0 else 0.0,
                       p50_ms=percentile(data, 0.50), p95_ms=percentile(data, 0.95),
                       p99_ms=percentile(data, 0.99), max_ms=data[-1] if data else 0.0,
                       mean_ms=statistics.fmean(data) if data else 0.0)


def render_rows(rows: list[tuple[str, str]], indent: str = "  ") -> str:
    """A two-column table: names padded to the longest one."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{indent}{name:<{width}}  {value}" for name, value in rows)


def summary_rows(summary: Summary) -> list[tuple[str, str]]:
    """The rows every report shares: success, throughput, latency percentiles."""
    return [
        ("success", f"{summary.replied} of {summary.sent} ({summary.success_rate * 100:.1f} %)"),
        ("throughput", f"{summary.throughput:.1f} replies/s over {summary.elapsed_s:.2f} s"),
        ("latency p50 / p95 / p99", f"{summary.p50_ms:.1f} / {summary.p95_ms:.1f} / {summary.p99_ms:.1f} ms"),
        ("latency mean / max", f"{summary.mean_ms:.1f} / {summary.max_ms:.1f} ms"),
    ]


def target_rows(summary: Summary) -> list[tuple[str, str]]:
    """One row per target with PASS or FAIL."""
    return [(name, "PASS" if ok else "FAIL") for name, ok in summary.targets().items()]
