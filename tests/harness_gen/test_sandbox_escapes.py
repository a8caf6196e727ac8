"""Escape attempts against the sandbox of generated harnesses.

Each attempt runs twice: through the checker (which must refuse it), and straight
through the run-time layers with the checker bypassed (the sandbox process, its
guards and limits), where it must fail with one line or be contained: no attempt
reads a file, sees a secret, reaches the network, writes outside its temp dir or
outlives its limits. A second set runs *unrestricted* Python in the same sandbox
process, to show what the OS layer holds on its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from reviewbot.config import Config
from reviewbot.errors import ReviewbotError
from reviewbot.harness.checker import check_harness_source
from reviewbot.harness.host import GUEST_ENV, host_harness, isolation
from reviewbot.runtime import Run

CANARY = "canary-secret-6f1d2c"
ISOLATED = bool(isolation()[1])
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="bubblewrap cannot run here")


def body(*lines: str, head: str = "") -> str:
    return head + "async def main(run):\n" + "".join(f"    {line}\n" for line in lines)


PYDANTIC_FRAMES = """\
from __future__ import annotations
from typing import Literal
from pydantic import BaseModel

class M(BaseModel):
    kind: Literal["a"] = "a"

"""

# name -> source of an `async def main(run)` harness that tries to get out.
ATTEMPTS: dict[str, str] = {
    "pydantic rebuild frame walk": body(
        "M.model_rebuild(force=True, _parent_namespace_depth=8)", "return 'x'",
        head=PYDANTIC_FRAMES),
    "pydantic construct": body("return M.model_construct(kind='b').kind", head=PYDANTIC_FRAMES),
    "generator frame": body("g = (x for x in [1])", "return g.gi_frame.f_back.f_globals"),
    "coroutine frame": body("c = run.note", "return c.cr_frame"),
    "traceback frame": body("try:", "    1/0", "except Exception as e:",
                            "    return e.__traceback__.tb_frame.f_globals"),
    "format string": body("return '{0.__class__.__mro__}'.format(run)"),
    "format_map": body("return '{x.__class__}'.format_map({'x': run})"),
    "three-argument type": body("T = type('T', (), {'__getattr__': lambda s, n: n})",
                                "return T().x"),
    "metaclass": body("class Meta(type):", "    pass",
                      "class C(metaclass=Meta):", "    pass", "return C"),
    "init_subclass": body("class A:", "    def __init_subclass__(cls):", "        pass",
                          "return A"),
    "decorator reaching globals": body("def deco(f):", "    return f.__globals__",
                                       "@deco", "def g():", "    pass", "return g"),
    "functools.partial internals": body("return partial(print).func",
                                        head="from functools import partial\n"),
    "run internals": body("return run.__class__.__dict__"),
    "run attribute by getattr": body("return getattr(run, '_' + '_dict__')"),
    "results' attributes": body("return VoteResult.__subclasses__()",
                                head="from reviewbot.runtime import VoteResult\n"),
    "unicode look-alike dunder": body("return ().__ｃlass__"),
    "underscore keyword argument": body(
        "return M.model_json_schema(_parent_namespace_depth=5)", head=PYDANTIC_FRAMES),
    "import os": body("import os", "return dict(os.environ)"),
    "import subprocess": body("import subprocess", "return subprocess.run(['id'])"),
    "import socket": body("import socket", "return socket.socket()"),
    "open a file": body("return open('/etc/hostname').read()"),
    "builtins via import": body("import builtins", "return builtins.open"),
    "eval": body("return eval('1+1')"),
    "exec": body("exec('x=1')"),
    "itertools.product repeat": body("return len(list(product(range(10), repeat=9)))",
                                     head="from itertools import product\n"),
    "memory at import time": "hoard = 'x' * (8 * 1024 ** 3)\n" + body("return 1"),
    "CPU loop without while": body(
        "n = 0", "for a in range(100000):", "    for b in range(100000):", "        n += 1",
        "return n"),
    "huge power": body("return len(str(10 ** 10 ** 9))"),
    "regex backtracking": body("return bool(re.match('(a+)+$', 'a' * 64 + 'b'))",
                               head="import re\n"),
    "unbounded notes": body("for i in range(100000):", "    run.note('x' * 1000)"),
    "huge note": body("run.note('x' * 10 ** 6)"),
    "recursion through lambdas": body("f = lambda g: g(g)", "return f(f)"),
}


def run_unchecked(source: str, config: Config | None = None) -> Any:
    """The harness through the sandbox process and its guards, the checker bypassed."""
    config = config or Config.model_validate(
        {"runtime": {"sandbox_cpu_seconds": 3, "sandbox_memory_mb": 1024,
                     "sandbox_wall_seconds": 60}}
    )
    run = Run(run_id="escape", config=config)

    async def go() -> Any:
        return await host_harness(run, source=source, filename="<escape>", name="escape",
                                  module="reviewbot_generated_escape", params={})

    return anyio.run(go), run


# Legal code whose harm shows only when it runs: the run-time layers must contain it.
DYNAMIC = frozenset({"CPU loop without while", "regex backtracking", "unbounded notes",
                     "huge note", "memory at import time", "recursion through lambdas"})
META_LINE = "META = {'name': 'escape', 'max_agents': 5, 'budget_usd': 0.1}\n"


def with_meta(source: str) -> str:
    lines = source.splitlines(keepends=True)
    future = [line for line in lines if line.startswith("from __future__")]
    rest = [line for line in lines if not line.startswith("from __future__")]
    return "".join(future) + META_LINE + "".join(rest)


@pytest.mark.parametrize("name", sorted(set(ATTEMPTS) - DYNAMIC))
def test_checker_refuses(name: str) -> None:
    report = check_harness_source(with_meta(ATTEMPTS[name]), filename="<escape>")
    assert not report.ok, name
    assert report.problems and all("\n" not in p.message for p in report.problems)
    assert not any(p.message.startswith("META") for p in report.problems)


def test_checker_survives_hostile_sizes() -> None:
    for source in ("X = " + "+".join(["1"] * 200_000) + "\n",
                   "X = " + "+".join(["1"] * 20_000) + "\n",
                   "X = " + "[" * 150 + "1" + "]" * 150 + "\n"):
        report = check_harness_source(source)
        assert not report.ok
        assert any("nest" in p.message or "larger" in p.message for p in report.problems)


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_runtime_layers_contain(name: str, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    monkeypatch.chdir(tmp_path)
    try:
        result, run = run_unchecked(ATTEMPTS[name])
    except ReviewbotError as exc:
        message = exc.message
        assert "\n" not in message.strip(), message
        assert CANARY not in message
    else:
        # Whatever came back is plain data and holds nothing of ours.
        text = repr(result) + repr(run.stats.notes) + repr(run.stats.errors)
        assert CANARY not in text
        assert "/etc" not in text
    assert list(tmp_path.iterdir()) == []


# unrestricted Python in the sandbox process: what the OS layer holds by itself -------------

RAW_PREAMBLE = (
    "from reviewbot.harness.guest import apply_limits\n"
    "apply_limits(1024, 5)\n"
)


def run_raw(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    prefix, _ = isolation()
    argv = [*prefix, sys.executable, "-I", "-B", "-c", RAW_PREAMBLE + code]
    env = dict(GUEST_ENV)
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def listener() -> Any:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    hits: list[int] = []

    def accept() -> None:
        server.settimeout(15)
        try:
            conn, _ = server.accept()
            hits.append(1)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    server.close()
    thread.join(timeout=20)


def test_raw_python_sees_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
    proc = run_raw("import os; print(sorted(os.environ.items()))", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout
    assert "ANTHROPIC" not in proc.stdout and "GITHUB" not in proc.stdout


def test_raw_python_writes_no_file(tmp_path: Path) -> None:
    proc = run_raw("f = open('out.txt', 'w'); f.write('x' * 10); f.close()", tmp_path)
    assert proc.returncode != 0
    assert "File too large" in proc.stderr
    assert not (tmp_path / "out.txt").exists() or (tmp_path / "out.txt").stat().st_size == 0


@needs_isolation
def test_raw_python_process_does_not_outlive_the_sandbox(tmp_path: Path) -> None:
    # Root may fork past RLIMIT_NPROC; the PID namespace ends every process with the sandbox.
    marker = "reviewbot-escape-sleeper"
    code = (f"import os, time\nif os.fork() == 0:\n    os.execv('/bin/sleep', "
            f"['{marker}', '30'])\nprint('parent done')")
    started = time.monotonic()
    proc = run_raw(code, tmp_path)
    assert time.monotonic() - started < 20
    time.sleep(0.2)
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit()
             and marker in _cmdline(p)]
    assert alive == [], proc.stderr


def _cmdline(proc_dir: Path) -> str:
    try:
        return (proc_dir / "cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


@needs_isolation
def test_raw_python_reads_no_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY, encoding="utf-8")
    proc = run_raw(f"print(open({str(secret)!r}).read())", Path("/"))
    assert CANARY not in proc.stdout
    proc = run_raw("print(open('/etc/hostname').read())", Path("/"))
    assert proc.returncode != 0 and "FileNotFoundError" in proc.stderr
    proc = run_raw(f"import os; print(os.listdir({str(tmp_path.parent)!r}))", Path("/"))
    assert proc.returncode != 0 and "FileNotFoundError" in proc.stderr


@needs_isolation
def test_raw_python_reaches_no_network(tmp_path: Path, listener: Any) -> None:
    port, hits = listener
    proc = run_raw(
        f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)", tmp_path
    )
    assert proc.returncode != 0
    assert "Network is unreachable" in proc.stderr or "Connection refused" in proc.stderr
    assert hits == []


def test_raw_python_cpu_is_capped(tmp_path: Path) -> None:
    proc = run_raw("while True: pass", tmp_path)
    assert proc.returncode in (-24, 152, -9, 137)  # SIGXCPU or SIGKILL at the hard limit


def test_escape_count(capsys: pytest.CaptureFixture[str]) -> None:
    # Printed so the suite's output says how many attempts each layer faced.
    with capsys.disabled():
        print(f"\n{len(ATTEMPTS)} escape attempts, each through the checker and the "
              f"run-time layers; OS isolation {'on' if ISOLATED else 'off'} ({os.uname().sysname})")


def _guest_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and "reviewbot.harness.guest" in _cmdline(p)]


def _memory_holds(pid: int, needle: bytes) -> bool:
    found = False
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if "r" not in perms:
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            if needle in chunk:
                found = True
    return found


def test_sandbox_process_holds_neither_key_nor_token(
    model_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from reviewbot.harness import load_sandboxed, run_harness

    key, token = "sk-canary-key-1b2c3d4e", "ghs_canarytoken5f6a7b"
    monkeypatch.setenv("GITHUB_TOKEN", token)
    seen: dict[str, Any] = {}

    def handler(request: Any) -> Any:
        # The sandbox process is alive and waiting for this answer: look inside it.
        pids = _guest_pids()
        seen["pids"] = pids
        for pid in pids:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            seen.setdefault("environ", []).append(environ)
            seen.setdefault("memory", []).append(
                _memory_holds(pid, key.encode()) or _memory_holds(pid, token.encode())
            )
            # the scan works: the harness's own source is in that memory
            seen.setdefault("sanity", []).append(_memory_holds(pid, b"say ok"))
        return {"answer": "ok"}

    model_env(handler, api_key=key)
    source = (
        "# reviewbot: generated harness\n"
        "from pydantic import BaseModel\n\n"
        "META = {'name': 'canary', 'max_agents': 2, 'budget_usd': 0.1}\n\n"
        "class Answer(BaseModel):\n    answer: str\n\n"
        "async def main(run):\n"
        "    return (await run.agent('say ok', schema=Answer, role='finder')).answer\n"
    )
    path = tmp_path / "canary.py"
    path.write_text(source, encoding="utf-8")
    outcome = run_harness(load_sandboxed(path), {}, config=Config(), repo_path=None,
                          env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert outcome.result == "ok"
    assert seen["pids"], "the sandbox process was not found while it ran"
    for environ in seen["environ"]:
        assert key.encode() not in environ and token.encode() not in environ
        assert b"ANTHROPIC" not in environ and b"GITHUB" not in environ
    assert seen["memory"] == [False] * len(seen["pids"])
    assert any(seen["sanity"])  # the python process (bubblewrap, if any, is the other)
