"""Every failure is one line with the documented exit status, from the real CLI.

Also walks the README's exit-status paragraph: each status it lists is produced by a
command that should produce it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reviewbot.testing import Reply

README = Path(__file__).resolve().parents[1] / "README.md"
BASE = "def mean(items):\n    return sum(items) / len(items) if items else 0.0\n"
HEAD = "import os\n\n\n" + BASE.replace(" if items else 0.0", "")


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reviewbot", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("reviewbot: error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Usage:" not in proc.stderr
    return errors[0]


@pytest.fixture
def change(git_repo: Any) -> Any:
    git_repo.write(".reviewbot.toml", "[models]\nmax_retries = 0\n")
    git_repo.write("stats.py", BASE)
    git_repo.commit("base")
    git_repo.write("stats.py", HEAD)  # uncommitted: an unused import ruff reports
    return git_repo


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("review", "/no/such/dir"), "/no/such/dir is not a directory"),
        (("review", "--reproduce", "some"), "Invalid value for '--reproduce'"),
        (("review", "--bogus"), "No such option '--bogus'"),
        (("review", "--format", "xml"), "Invalid value for '--format'"),
        (("no-such-command",), "No such command"),
    ],
)
def test_click_errors_are_one_documented_line(change: Any, args: tuple[str, ...],
                                              expected: str) -> None:
    proc = _cli(change.path, *args)
    assert proc.returncode == 2
    assert expected in _one_error_line(proc)


def test_a_directory_outside_git_is_a_usage_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for args in (("review", str(plain)), ("diff",)):
        proc = _cli(plain, *args)
        assert proc.returncode == 2, proc.stderr
        assert "is not inside a git repository" in _one_error_line(proc)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs to give the repository to another user")
def test_dubious_ownership_names_safe_directory_and_honours_it(
    change: Any, tmp_path: Path
) -> None:
    change.git("add", "-A")
    change.commit("head")
    subprocess.run(["chown", "-R", "65534", str(change.path)], check=True)
    for args in (("review", "--quiet"), ("diff",), ("find", "mean"), ("resume", "--list"),
                 ("migrate", "x", "--find", "mean")):
        proc = _cli(change.path, *args)
        assert proc.returncode == 3, proc.stderr
        line = _one_error_line(proc)
        assert f"git config --global --add safe.directory {change.path}" in line
    trusted = tmp_path / "gitconfig"
    trusted.write_text(f"[safe]\n\tdirectory = {change.path}\n")
    proc = _cli(change.path, "diff", env={"GIT_CONFIG_GLOBAL": str(trusted)})
    assert proc.returncode == 0, proc.stderr


def test_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = _cli(tmp_path, "serve-model", "--port", str(busy.getsockname()[1]))
    assert proc.returncode == 3
    assert "pick another --port" in _one_error_line(proc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool.reviewbot.runtime]\nconcurrency = 2\n", "drop the prefix"),
        ("[review]\nfail_onn = 'high'\n", "did you mean 'review.fail_on'?"),
    ],
)
def test_config_mistakes_say_the_fix(change: Any, text: str, expected: str) -> None:
    change.write(".reviewbot.toml", text)
    proc = _cli(change.path, "review", "--quiet")
    assert proc.returncode == 2
    assert expected in _one_error_line(proc)


def test_shallow_clone_without_merge_base_suggests_deepening(git_repo: Any,
                                                             tmp_path: Path) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    for n in range(3):
        git_repo.write("a.py", f"x = {n + 2}\n")
        git_repo.commit(f"feature {n}")
    git_repo.git("checkout", "-q", "main")
    git_repo.write("b.py", "y = 1\n")
    git_repo.commit("main moves on")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--no-single-branch",
                    f"file://{git_repo.path}", str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", "feature"], cwd=clone, check=True)
    proc = _cli(clone, "review", "--quiet")
    assert proc.returncode == 3, proc.stderr
    line = _one_error_line(proc)
    assert "--deepen=" in line and "--unshallow" in line and "fetch-depth: 0" in line
    assert "git fetch origin" not in line


# The exit-status paragraph of the README, walked ------------------------------------


def _documented_statuses() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    paragraph = text[text.index("Exit status:"):].split("\n\n")[0]
    return {int(code): what for code, what in re.findall(r"`(\d+)`\s+([^,`]+)", paragraph)}


def test_readme_lists_the_exit_statuses_the_cli_uses() -> None:
    from reviewbot.errors import ExitCode

    assert set(_documented_statuses()) == {int(c) for c in ExitCode}


def test_every_documented_exit_status_happens(change: Any, model_env: Any) -> None:
    documented = _documented_statuses()
    seen: dict[int, str] = {}

    def expect(code: int, *args: str, env: dict[str, str] | None = None) -> None:
        proc = _cli(change.path, *args, env=env)
        assert proc.returncode == code, (args, proc.stdout[-500:], proc.stderr[-500:])
        if code not in (0, 1):
            _one_error_line(proc) if code != 4 else None
        seen[code] = " ".join(args)

    server = model_env(lambda req: Reply.hang(30) if "hang" in req.all_text else
                       {"findings": []} if req.role == "finder" else
                       {"summary": "ok"} if req.role == "synthesizer" else
                       {"verdict": "refuted", "reason": "-"})
    offline = {"ANTHROPIC_BASE_URL": "", "ANTHROPIC_API_KEY": ""}
    expect(0, "diff")
    expect(0, "review", "--quiet", env=offline)
    expect(1, "review", "--quiet", "--fail-on", "info", env=offline)  # ruff: unused import
    expect(2, "review", "--format", "xml")
    expect(3, "review", "--quiet", env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"})
    expect(3, "review", "--quiet", "--base", "no-such-ref", env=offline)
    expect(4, "run", "review", "--strict", "--quiet", "--budget", "0.000001")

    # 130: Ctrl-C while a finder waits on the model; the cost line still ends the run.
    change.write("stats.py", HEAD + "\n# hang\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewbot", "review", "--quiet"], cwd=change.path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ANTHROPIC_BASE_URL": server.base_url},
    )
    deadline = time.monotonic() + 30
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert re.search(r"^cost: .*agent", err, re.M), err
    assert "resume with `reviewbot resume" in err
    seen[130] = "review (Ctrl-C)"

    assert set(seen) == set(documented), (seen, documented)


def test_failed_harness_generate_still_ends_with_its_cost_line(
    git_repo: Any, model_env: Any
) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("base")
    bad = {"name": "bad", "description": "d", "source": "import os\n"}
    model_env(lambda req: bad)
    proc = _cli(git_repo.path, "harness", "generate", "verify the claims of a text")
    assert proc.returncode == 3, proc.stderr
    assert "in 3 tries" in _one_error_line(proc)
    assert re.search(r"^cost: 3 agents .*total \$", proc.stderr, re.M), proc.stderr


def test_migrate_with_no_model_answering_is_not_a_success(git_repo: Any) -> None:
    git_repo.write(".reviewbot.toml", "[models]\nmax_retries = 0\n")
    git_repo.write("b.py", 'import requests\n\n\ndef h():\n    return requests.get("u")\n')
    git_repo.commit("base")
    proc = _cli(git_repo.path, "migrate", "use httpx", "--find", "requests.get", "--quiet",
                env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": "k"})
    assert proc.returncode == 3, proc.stderr
    assert "nothing migrated" in _one_error_line(proc)
    assert re.search(r"^cost: .*FAILED", proc.stderr, re.M), proc.stderr


@pytest.mark.parametrize("args", [("diff",), ("find", "mean"), ("resume", "--list")])
def test_a_closed_stdout_is_not_a_failure(change: Any, args: tuple[str, ...]) -> None:
    change.commit("head")
    proc = subprocess.Popen([sys.executable, "-m", "reviewbot", *args], cwd=change.path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "Broken" not in err
