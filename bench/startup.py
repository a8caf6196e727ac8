"""Start-up benchmark: how long small commands take, as a ratio to `python -c pass`.

A tiny repository is built in a temporary directory (one commit, then a one-line change
on a second), and each command runs as a fresh process several times; the median wall
time is printed next to the interpreter's own start-up measured in the same run, and
which commands imported the model SDK (`python -X importtime`).

    python bench/startup.py [--runs 7]

Goal: `resume --list` and `harness check` under 0.3 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sdist import git

HARNESS = """META = {"name": "tiny", "description": "a tiny harness", "phases": ["a"],
        "budget_usd": 1.0, "max_agents": 3}


async def main(run, **params):
    return {"ok": True}
"""

COMMANDS: dict[str, list[str]] = {
    "reviewbot --help": ["--help"],
    "resume --list": ["resume", "--list"],
    "harness check FILE": ["harness", "check", "harness.py"],
    "find os.path.join": ["find", "os.path.join"],
    "review (no model, one-line change)": ["review", "--base", "HEAD~1", "--quiet"],
}


def tiny_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text('import os\n\n\ndef f(p):\n    return os.path.join(p, "a")\n')
    (root / "harness.py").write_text(HARNESS)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    (root / "a.py").write_text('import os\n\n\ndef f(p):\n    return os.path.join(p, "b")\n')
    git(root, "commit", "-q", "-am", "one line")


def timed(argv: list[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imports_sdk(argv: list[str], cwd: Path, env: dict[str, str]) -> bool:
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return any(line.rstrip().endswith("| anthropic") for line in proc.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tiny_repo(root)
        base = timed([sys.executable, "-c", "pass"], root, env, args.runs)
        print(
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; median of "
            f"{args.runs} runs; python -c pass: {base * 1000:.0f} ms"
        )
        print(f"{'command':<38} {'median':>8} {'x pass':>7}  imports anthropic")
        for label, command in COMMANDS.items():
            argv = [sys.executable, "-m", "reviewbot", *command]
            seconds = timed(argv, root, env, args.runs)
            sdk = "yes" if imports_sdk(argv, root, env) else "no"
            print(f"{label:<38} {seconds * 1000:6.0f} ms {seconds / base:6.1f}x  {sdk}")
        again = timed([sys.executable, "-c", "pass"], root, env, args.runs)
        print(f"python -c pass again: {again * 1000:.0f} ms (the machine's drift over the run)")


if __name__ == "__main__":
    main()
