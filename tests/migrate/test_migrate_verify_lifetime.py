"""A SIGKILL of ``reviewbot migrate`` ends its ``--verify`` commands and their children too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mig_rules import JOIN

# Writes into its worktree until killed, and leaves a child of its own running.
VERIFY = ("echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; "
          "while :; do echo tick >> ticks.txt; sleep 0.05; done")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent has not reaped it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_migrate_ends_every_verify_process(git_repo, tmp_path: Path) -> None:
    git_repo.write("a.py", 'import os\nP = os.path.join("a", "x")\n')
    git_repo.commit("initial")
    pids = tmp_path / "pids"
    cmd = [sys.executable, "-m", "reviewbot", "migrate", "use join", *JOIN,
           "--verify", VERIFY.format(pids=pids), "--quiet", "--repo", str(git_repo.path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    worktrees = git_repo.path / ".git" / "reviewbot" / "worktrees"
    deadline = time.monotonic() + 60
    ticks: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        ticks = list(worktrees.glob("*/ticks.txt")) if worktrees.is_dir() else []
        if ticks and pids.exists() and len(pids.read_text().split()) >= 2:
            break
        time.sleep(0.05)
    assert ticks, f"the verify command never ran: {proc.stderr.read() if proc.stderr else ''}"
    verify_pids = [int(p) for p in pids.read_text().split()]
    assert all(_alive(p) for p in verify_pids)

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 2
    while any(_alive(p) for p in verify_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in verify_pids if _alive(p)] == []
    # and nothing writes into the dead run's worktree any more
    size = ticks[0].stat().st_size
    time.sleep(0.3)
    assert ticks[0].stat().st_size == size
