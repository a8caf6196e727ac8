"""One environment policy for every program reviewbot starts, and nothing outlives a run.

Each path that starts a program is driven for real with stand-ins on PATH that write the
environment they were given to a file, while the parent holds a model key and tokens.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from reviewbot import process
from reviewbot.git.gitcli import status
from reviewbot.git.repo import open_repository
from reviewbot.migrate import verify_gate
from reviewbot.review import deterministic_findings, open_target

KEY, TOKEN = "sk-ant-canary-0a1b2c", "ghs_canary3d4e5f"
SECRETS = {
    "ANTHROPIC_API_KEY": KEY,
    "ANTHROPIC_AUTH_TOKEN": KEY,
    "GITHUB_TOKEN": TOKEN,
    "GH_TOKEN": TOKEN,
    "REVIEWBOT_STATE_KEY": KEY,
    "ACTIONS_RUNTIME_TOKEN": TOKEN,
    "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/" + TOKEN,
    "NPM_CONFIG__AUTHTOKEN": TOKEN,
}


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def _env_of(dump: Path) -> dict[str, str]:
    text = dump.read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _assert_clean(env: dict[str, str]) -> None:
    leaked = sorted(k for k, v in env.items() if k in SECRETS or KEY in v or TOKEN in v)
    assert not leaked, f"secrets reached the child: {leaked}"


def _stand_in(bin_dir: Path, name: str, dump: Path, then: str) -> None:
    """A program ``name`` on PATH that writes its environment to ``dump``, then ``then``."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nenv > "{dump}"\n{then}\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_base_environment_plus_named_extras(
    secrets: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LC_CTYPE", "C.UTF-8")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))  # set inside git hooks
    monkeypatch.setenv("VIRTUAL_ENV", "/opt/venv")
    base = process.run(["env"], cwd=tmp_path).stdout
    env = dict(line.split("=", 1) for line in base.splitlines() if "=" in line)
    _assert_clean(env)
    assert env["PATH"] == os.environ["PATH"] and env["LC_CTYPE"] == "C.UTF-8"
    assert env["GIT_CONFIG_GLOBAL"] == os.environ["GIT_CONFIG_GLOBAL"]  # tests set it
    assert "GIT_DIR" not in env and "VIRTUAL_ENV" not in env
    tools = process.run(["env"], cwd=tmp_path, inherit="toolchain").stdout
    assert "VIRTUAL_ENV=/opt/venv" in tools.splitlines()
    assert KEY not in tools and TOKEN not in tools
    # a secret reaches a child only when its caller names it
    named = process.run(["env"], cwd=tmp_path, extra={"GITHUB_TOKEN": TOKEN}).stdout
    assert f"GITHUB_TOKEN={TOKEN}" in named.splitlines() and KEY not in named
    assert process.environment("none", {"A": "1"}) == {"A": "1"}


def test_git_programs_see_no_secrets(
    secrets: None, git_repo: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_git = shutil.which("git")
    assert real_git is not None
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("one")
    dump = tmp_path / "git.env"
    _stand_in(tmp_path / "bin", "git", dump, f'exec "{real_git}" "$@"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    git_repo.write("a.py", "x = 2\n")
    assert status(git_repo.path) == {"a.py": " M"}
    _assert_clean(_env_of(dump))
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # a repository of another user: its safe.directory is asked of `git config`
        dump.unlink()
        subprocess.run(["chown", "-R", "65534", str(git_repo.path)], check=True)
        with pytest.raises(Exception, match="safe.directory"):
            open_repository(str(git_repo.path / ".git"))
        _assert_clean(_env_of(dump))


def test_verify_commands_see_no_secrets(secrets: None, tmp_path: Path) -> None:
    async def main() -> None:
        result = await verify_gate(f"env > {tmp_path / 'verify.env'}", tmp_path, timeout=30)
        assert result.passed, result.output

    anyio.run(main)
    env = _env_of(tmp_path / "verify.env")
    _assert_clean(env)
    assert env["PATH"] == os.environ["PATH"]


def test_node_check_sees_no_secrets(
    secrets: None, git_repo: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git_repo.write("a.js", "export const a = 1;\n")
    git_repo.commit("base")
    git_repo.write("a.js", "export const a = (1;\n")
    git_repo.commit("head")
    dump = tmp_path / "node.env"
    _stand_in(tmp_path / "bin", "node", dump, "exit 0")  # a node that accepts everything
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    target = open_target(git_repo.path, base="HEAD~1", head="HEAD")
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    assert [f.severity.value for f in det.findings] == ["info"]  # "node accepts it"
    _assert_clean(_env_of(dump))


# nothing outlives the run ----------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_command_tree_ends_with_its_timeout_and_its_own_end(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    with pytest.raises(subprocess.TimeoutExpired):
        process.run(["/bin/sh", "-c", f"sleep 60 & echo $! >> {pids}; sleep 60"],
                    cwd=tmp_path, timeout=0.5, tree=True)
    # a background process the command left behind when it ended
    started = time.monotonic()
    done = process.run(["/bin/sh", "-c", f"sleep 60 & echo $! >> {pids}; exit 4"],
                       cwd=tmp_path, tree=True)
    assert done.returncode == 4 and time.monotonic() - started < 5
    listed = [int(p) for p in pids.read_text().split()]
    assert len(listed) == 2
    deadline = time.monotonic() + 2
    while any(_alive(p) for p in listed) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in listed if _alive(p)]
    signalled = process.run(["/bin/sh", "-c", "kill -TERM $$"], cwd=tmp_path, tree=True)
    assert signalled.returncode == -15


def test_who_commits_is_inherited_though_the_name_says_auth() -> None:
    # GIT_AUTHOR_* matches the credential pattern (AUTH) but names who commits: a worker's
    # git needs it, as do the author/committer pairs of every git program we start
    source = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
              "GIT_AUTHOR_DATE": "2026-12-01T00:00:00", "GIT_AUTH_TOKEN": "secret"}
    env = process.environment("base", source=source)
    assert {k: env[k] for k in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE")} == {
        k: source[k] for k in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE")}
    assert "GIT_AUTH_TOKEN" not in env
