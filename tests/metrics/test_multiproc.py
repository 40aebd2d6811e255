"""The multiprocess directory: emptied by the supervisor at start, summed over processes, live gauges dropped."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# in a fresh interpreter: prometheus_client's mode is per process and must not leak into the test run
SCRIPT = textwrap.dedent("""
    import os, sys
    from botrunner.config.settings import load_settings
    from botrunner.metrics import multiproc, record
    from botrunner.metrics.http import render
    from botrunner.metrics.cluster import Snapshot
    settings = load_settings(environ={"STATE_DIR": sys.argv[1]}, env_file=None)
    import prometheus_client                       # imported before prepare(): prepare switches the mode
    directory = multiproc.prepare(settings)
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            record.update_done(b"0-0", "command:start")
            record.worker_alive(1000.0)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    multiproc.process_dead(children[0])
    print(directory)
    print(render(Snapshot()).decode())
""")


def test_prepare_empties_the_directory_and_counters_sum_over_processes(tmp_path):
    stale = tmp_path / "metrics" / "counter_999999.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left by an earlier supervisor")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    directory, text = out.stdout.split("\n", 1)
    assert Path(directory) == (tmp_path / "metrics").resolve()
    assert not stale.exists()
    assert 'botrunner_updates_handled_total{result="ok"} 3.0' in text
    rss = [line for line in text.splitlines() if line.startswith("botrunner_worker_resident_memory_bytes")]
    assert len(rss) == 2, rss                           # three workers wrote it, one was marked dead
    assert "botrunner_redis_up 0.0" in text


def test_an_operator_set_directory_wins(tmp_path):
    from botrunner.config.settings import load_settings
    from botrunner.metrics.multiproc import directory_for
    settings = load_settings(environ={"STATE_DIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")},
                             env_file=None)
    assert directory_for(settings) == (tmp_path / "m").resolve()
    assert directory_for(load_settings(environ={"STATE_DIR": str(tmp_path)}, env_file=None)) == \
        (tmp_path / "metrics").resolve()
