"""SIGKILL mid-run, then ``--resume``: only files without a finished task record are redone."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mig_rules import JOIN

FILES = [f"m{i}.py" for i in range(6)]

LOGGER = """import pathlib, subprocess, sys, time
status = ["git", "status", "--porcelain"]
changed = subprocess.run(status, capture_output=True, text=True).stdout.split()
names = sorted(p for p in changed if p.endswith(".py")) or ["<assembled>"]
with open(sys.argv[1], "a") as log:
    log.write(" ".join(names) + "\\n")
time.sleep(0.4)
"""


def finished(db: Path) -> set[str]:
    if not db.exists():
        return set()
    con = sqlite3.connect(str(db))
    try:
        return {row[0] for row in con.execute("SELECT path FROM migrate_tasks")}
    except sqlite3.OperationalError:
        return set()
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_then_rerun_redoes_only_unfinished_files(git_repo, tmp_path: Path) -> None:
    for name in FILES:
        git_repo.write(name, f'import os\nP = os.path.join("{name}", "x")\n')
    git_repo.commit("initial")
    git_repo.write("local.txt", "uncommitted\n")
    status, head = git_repo.git("status", "--porcelain"), git_repo.head()
    logger = tmp_path / "logger.py"
    logger.write_text(LOGGER)
    log = tmp_path / "verify.log"
    cmd = [
        sys.executable,
        "-m",
        "reviewbot",
        "migrate",
        "use join",
        *JOIN,
        "--verify",
        f"{sys.executable} {logger} {log}",
        "--jobs",
        "1",
        "--quiet",
        "--format",
        "json",
        "--repo",
        str(git_repo.path),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    db = git_repo.path / ".git" / "reviewbot" / "migrate.sqlite"

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(finished(db)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = finished(db)
    assert 2 <= len(done_before) < len(FILES), done_before
    first_log = log.read_text().splitlines()

    time.sleep(1.0)  # the killed run's verify commands die with it; the next run prunes
    log.unlink()
    (killed_run,) = [p.name for p in (git_repo.path / ".git" / "reviewbot" / "runs").iterdir()]
    out = subprocess.run(
        [*cmd, "--resume", killed_run], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    redone = [line for line in log.read_text().splitlines() if line != "<assembled>"]
    assert sorted(redone) == sorted(set(FILES) - done_before)  # each unfinished file once, no other
    assert log.read_text().splitlines().count("<assembled>") == 1
    files = {f["path"]: f for f in data["files"]}
    assert {p for p, f in files.items() if f["reused"]} == done_before
    assert all(f["status"] == "migrated" for f in files.values())
    changed = git_repo.git("diff", "--name-only", f"{data['base']}..{data['branch']}").split()
    assert changed == FILES
    assert len(first_log) >= len(done_before)
    # the user's tree never moved
    assert git_repo.git("status", "--porcelain") == status and git_repo.head() == head
    # the killed run's worktree was pruned; the finished run parked its worktree for reuse
    wt_dir = git_repo.path / ".git" / "reviewbot" / "worktrees"
    assert not [p for p in wt_dir.iterdir() if p.name.startswith(f"rb-{proc.pid}-")]
    assert all(lock.read_text().startswith("free ") for lock in wt_dir.glob("*.lock"))
