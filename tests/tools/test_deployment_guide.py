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
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from botrunner.emulator import running_emulator

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
    subprocess.run(["userdel", name], capture_output=True)


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
    state = sandbox / "var" / "lib" / "botrunner"
    if service_user:
        import pwd
        assert pwd.getpwuid((state / "botrunner.sqlite3").stat().st_uid).pw_name == service_user
        env_file = sandbox / "etc" / "botrunner" / "botrunner.env"
        assert oct(env_file.stat().st_mode & 0o777) == "0o640"
