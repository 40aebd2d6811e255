"""How fast the machine's cores are while a phase runs: the CPU time of one fixed piece of pure-Python work,
sampled every PROBE_EVERY_S in a thread of the benchmark process; and how much of the cores the rest of
the machine took meanwhile (OthersCpu: every core's busy time less the benchmark's own processes').

Why: on a VM whose vCPUs share the host's physical cores with other tenants, the same work costs very
different CPU time from one moment to the next, and the guest sees no steal time. Pinned to one vCPU,
this probe's work took 12 ms or 20 ms of CPU (two states, switching within a second), and in the reply
burst's slow runs every process, the local Bot API server included (whose work per update does not
depend on the bot), spent 50-60 % more CPU per update than in the fast ones (docs/benchmarks.md,
"Run-to-run spread"). A run's rate is read next to the probe measured during it; a high probe says the
machine, not the code, was slow then. The other cause of a slow run is the rest of the guest's work (other
jobs on the same vCPUs): the same tree and host state gave 787-962 updates/s with the others idle and
470-759 when they took cores.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

import psutil

PROBE_LOOPS = 25_000      # about 1 ms of CPU on this machine's fast state
PROBE_EVERY_S = 0.1       # about 1 % of one core, taken from the load generator's process


def probe_work(loops: int = PROBE_LOOPS) -> int:
    """The fixed work: integer arithmetic in the interpreter's loop, no allocation that grows, no I/O."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


class HostProbe:
    """`with HostProbe() as probe: ...` samples until the block ends; `probe.median_us()` afterwards."""

    def __init__(self, every_s: float = PROBE_EVERY_S, loops: int = PROBE_LOOPS) -> None:
        self.every_s = every_s
        self.loops = loops
        self.samples_us: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-probe", daemon=True)

    def __enter__(self) -> HostProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def median_us(self) -> float:
        """Median CPU microseconds of one probe during the block (0.0: the block ended before the first)."""
        return statistics.median(self.samples_us) if self.samples_us else 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            started = time.thread_time()         # this thread's CPU only, not the load generator's
            probe_work(self.loops)
            self.samples_us.append((time.thread_time() - started) * 1e6)


def busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (user, nice, system, interrupts)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)


class OthersCpu:
    """`with OthersCpu(ours) as others: ...`: afterwards `others.cores`, the cores the rest of the machine used
    on average during the block (its busy time less `ours()`, the CPU seconds of the benchmark's processes)."""

    def __init__(self, ours: Callable[[], float], busy: Callable[[], float] = busy_seconds) -> None:
        self.ours = ours
        self.busy = busy
        self.cores = 0.0

    def __enter__(self) -> OthersCpu:
        self._start = (time.monotonic(), self.busy(), self.ours())
        return self

    def __exit__(self, *exc: object) -> None:
        began, busy, ours = self._start
        elapsed = max(time.monotonic() - began, 1e-6)
        self.cores = max(0.0, (self.busy() - busy) - (self.ours() - ours)) / elapsed
