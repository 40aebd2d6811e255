"""docs/deployment.md steps 0-2, run as written in a throwaway directory, so the guide cannot rot.

The shell blocks marked `<!-- doctest: NAME -->` are taken from the guide and run in one bash
script with a few mechanical rewrites: the guide's absolute paths move under a temporary root,
the service user is a throwaway system user (created by the guide's own `useradd` line),
`sudoedit` becomes an append of test values (a token, the local Bot API server's URL), and the
apt-get line checks that the packages it names are installed instead of installing them.
`git clone` clones this repository's committed HEAD, and pip installs from it into a fresh venv
made by the system `python3`, as on a fresh Debian VM.

Run as root, the commands the guide runs as the service user really run as that unprivileged
user (`runuser`). Not root: everything runs as the current user and the test says so in its
output (user and owner steps are dropped, the rest is the same).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from botrunner.emulator import running_emulator
from tests.runner.conftest import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deployment.md"
BLOCK = re.compile(r"<!-- doctest: (\w[\w-]*) -->\n```sh\n(.*?)```", re.S)
STEPS = ["prerequisites", "install", "configure", "database"]
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def guide_blocks() -> dict[str, str]:
    return {name: body for name, body in BLOCK.findall(GUIDE.read_text())}


def as_root() -> bool:
    return os.geteuid() == 0 and shutil.which("runuser") is not None and shutil.which("useradd") is not None


def rewrite(script: str, sandbox: Path, user: str | None, settings: str) -> str:
    """The guide's commands, pointed at the sandbox and the test user."""
    for path in ("/opt/botrunner", "/etc/botrunner", "/var/lib/botrunner"):
        script = script.replace(path, f"{sandbox}{path}")
    script = script.replace("<your botrunner repository>", str(ROOT))
    script = re.sub(r"^sudo apt-get install -y (.+)$", r"dpkg -s \1 >/dev/null", script, flags=re.M)
    script = re.sub(r"^sudoedit (\S+).*$", lambda m: f"cat >> {m.group(1)} <<'EOF'\n{settings}EOF", script,
                    flags=re.M)
    if user:
        script = re.sub(r"(-[og] |nologin |root:)botrunner\b", rf"\g<1>{user}", script)
        script = script.replace("sudo -u botrunner ", f"runuser -u {user} -- ")
    else:
        script = re.sub(r"^sudo useradd .*$", "true", script, flags=re.M)
        script = re.sub(r" -o \S+| -g \S+", "", script)
        script = script.replace("sudo -u botrunner ", "")
    return script.replace("sudo ", "")


@pytest.fixture
def sandbox():
    directory = Path(tempfile.mkdtemp(prefix="br-doc-"))
    directory.chmod(0o755)                 # the service user must reach the paths inside
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def service_user():
    if not as_root():
        print("deployment guide test: not root, so it runs as the current user without useradd/owners")
        yield None
        return
    name = f"brdoc{uuid.uuid4().hex[:6]}"
    yield name
    # userdel refuses while a process of the user is still exiting: wait for the last one to go
    wait_until(lambda: subprocess.run(["userdel", name], capture_output=True).returncode in (0, 6), 30, 0.5,
               f"userdel {name}")


def test_guide_has_the_steps_the_test_runs():
    assert list(guide_blocks()) == STEPS


def test_install_and_check_as_written(sandbox, service_user):
    if not Path("/usr/bin/python3").exists() or not shutil.which("dpkg"):
        pytest.fail("the guide targets Debian: /usr/bin/python3 and dpkg are needed to run it")
    blocks = guide_blocks()
    with running_emulator(port=0) as emu:
        settings = f"BOT_TOKEN=4711:guide-test-token\nTELEGRAM_API_URL={emu.url}\n"
        script = "\n".join(rewrite(blocks[step], sandbox, service_user, settings) for step in STEPS)
        env = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
        env.update(PATH=SYSTEM_PATH, HOME=str(sandbox), LANG="C.UTF-8")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=sandbox, env=env,
                              capture_output=True, text=True, timeout=900)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"the guide failed:\n{script}\n---\n{output[-6000:]}"
        assert "botrunner check: all 8 checks passed" in done.stdout, output[-4000:]
        assert "[  ok] env file:" in done.stdout and "[  ok] webhook: no webhook set" in done.stdout
        assert f"{sandbox}/var/lib/botrunner is writable" in done.stdout
        assert "0 created" not in done.stdout and "created" in done.stdout      # db init made the tables
        status = running_service_status(blocks["configure"], sandbox, service_user, env)
    assert "Bot: 4711 (keys botrunner:4711:*)" in status and "Workers: 1" in status, status
    assert "Webhook: none (long polling works" in status and "Last poll error: none recorded" in status
    state = sandbox / "var" / "lib" / "botrunner"
    if service_user:
        import pwd
        assert pwd.getpwuid((state / "botrunner.sqlite3").stat().st_uid).pw_name == service_user
        env_file = sandbox / "etc" / "botrunner" / "botrunner.env"
        assert oct(env_file.stat().st_mode & 0o777) == "0o640"


def running_service_status(configure: str, sandbox: Path, user: str | None, env: dict[str, str]) -> str:
    """Start the supervisor as the unit does (its user, env file, STATE_DIR), then step 3's `br status`."""
    br = re.search(r"^br\(\) \{.*?\}", configure, re.S | re.M)
    assert br, "the configure step defines br()"
    shorthand = rewrite(br.group(0), sandbox, user, "")
    log = open(sandbox / "supervisor.log", "wb")
    supervisor = subprocess.Popen(["bash", "-c", f"{shorthand}\nbr start --workers 1"], env=env, cwd=sandbox,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return wait_until(lambda: _status_with_a_worker(shorthand, env, sandbox), 90, 0.5,
                          "br status to show the running worker")
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)      # the group: runuser, the supervisor, its workers
        try:
            supervisor.wait(40)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(supervisor.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()


def _status_with_a_worker(shorthand: str, env: dict[str, str], sandbox: Path) -> str | None:
    done = subprocess.run(["bash", "-c", f"{shorthand}\nbr status"], env=env, cwd=sandbox, capture_output=True,
                          text=True, timeout=60)
    return done.stdout if done.returncode == 0 and "Workers: 1" in done.stdout else None
