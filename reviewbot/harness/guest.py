"""The process a generated harness runs in: it holds nothing worth stealing.

Started by ``reviewbot.harness.host`` (``python -I -B -m reviewbot.harness.guest
LIMITS``), inside bubblewrap where the machine has it. Before any harness code
exists here, this process caps its own memory, CPU time, file size (0: it
writes no file), open files and processes; then it reads the harness source
from the channel, compiles it under RestrictedPython, and runs ``main`` against
:class:`GuestRun`, whose every agent call is a message to the parent. The
parent holds the key, the model client, the journal and the repository; this
process has none of them, an environment built from an allow-list, an empty
working directory and, under bubblewrap, no network and no view of the file
system beyond the Python installation.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from reviewbot.config import Config, Tier
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.harness import channel
from reviewbot.harness.guards import SandboxViolation, capability, exec_restricted, harness_line
from reviewbot.runtime.api import (
    Assembly,
    Budget,
    Failure,
    HarnessRun,
    RepoReader,
    ToolGrant,
    WorktreeChange,
)
from reviewbot.runtime.compose import Composition, pipeline_position
from reviewbot.runtime.errors import AgentError, RunStopped
from reviewbot.runtime.results import VoteResult

if TYPE_CHECKING:
    from reviewbot.models import Tool

M = TypeVar("M", bound=BaseModel)

_phase: ContextVar[str | None] = ContextVar("reviewbot_guest_phase", default=None)


def apply_limits(memory_mb: int, cpu_seconds: int) -> list[str]:
    """Cap this process before harness code exists in it; returns what is enforced."""
    enforced = []
    # A write past RLIMIT_FSIZE should fail with EFBIG, not kill us with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for name, limit, label in (
        ("RLIMIT_AS", memory_mb * 1024 * 1024, f"memory {memory_mb} MB"),
        ("RLIMIT_CPU", cpu_seconds, f"CPU {cpu_seconds} s"),
        ("RLIMIT_FSIZE", 0, "no file writes"),
        ("RLIMIT_NOFILE", 64, "64 open files"),
        ("RLIMIT_NPROC", 0, "no new processes"),
        ("RLIMIT_CORE", 0, ""),
    ):
        which = getattr(resource, name, None)
        if which is None:
            continue
        soft, hard = resource.getrlimit(which)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        # RLIMIT_CPU: the soft limit sends SIGXCPU (the parent reports it); the hard one kills.
        new_hard = cap + 5 if name == "RLIMIT_CPU" and hard == resource.RLIM_INFINITY else cap
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (cap, new_hard))
            if label:
                enforced.append(label)
    return enforced


def _take_channel() -> tuple[int, int]:
    """The channel is our stdin/stdout; keep private copies and point 0 and 1 elsewhere,
    so nothing that writes to stdout can forge a message."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    os.set_blocking(read_fd, False)
    return read_fd, write_fd


class _Lines:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    async def next(self) -> bytes | None:
        while b"\n" not in self._buffer:
            await anyio.wait_readable(self._fd)
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


class GuestRun(Composition):
    """The runtime API, every model call relayed to the parent over the channel."""

    def __init__(self, write_fd: int, start: dict[str, Any]) -> None:
        self._fd = write_fd
        self._ids = 0
        self._waiting: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._stopped = bool(start.get("stopped"))
        self._stop_reason: str | None = start.get("stop_reason")
        self._concurrency = int(start["concurrency"])
        self._notes = 0
        self.models_available = bool(start["models_available"])
        self.params: dict[str, Any] = dict(start["params"])
        self.run_id = str(start["run_id"])
        self._config = Config.model_validate(start["config"])
        self._budget = Budget.model_validate(start["budget"])
        self._failures: list[Failure] = []
        self._repo = _GuestRepo(self)

    # the channel --------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        data = channel.encode(message)
        if len(data) > channel.MAX_MESSAGE_BYTES:
            raise SandboxViolation(f"a call of more than {channel.MAX_MESSAGE_BYTES} bytes")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def deliver(self, reply: dict[str, Any]) -> None:
        waiting = self._waiting.pop(int(reply["id"]), None)
        if waiting is None:
            return
        self._stopped = bool(reply.get("stopped"))
        self._stop_reason = reply.get("stop_reason")
        if "budget" in reply:
            self._budget = Budget.model_validate(reply["budget"])
        waiting[1].append(reply)
        waiting[0].set()

    async def _call(self, message: dict[str, Any]) -> Any:
        if len(self._waiting) >= channel.MAX_IN_FLIGHT:
            raise SandboxViolation(f"more than {channel.MAX_IN_FLIGHT} calls in flight")
        self._ids += 1
        call_id = self._ids
        depth, tail = pipeline_position()
        done, box = anyio.Event(), list[dict[str, Any]]()
        self._waiting[call_id] = (done, box)
        self.send({**message, "id": call_id, "depth": depth, "tail": tail})
        await done.wait()
        reply = box[0]
        if reply["ok"]:
            return reply["value"]
        kind, text = reply.get("kind"), str(reply.get("message", ""))
        if kind == "agent":
            role, phase = str(reply.get("role") or "agent"), reply.get("phase")
            where = f" in phase {phase}" if phase else ""
            self._failures.append(Failure(where=f"{role} agent{where}", error=text, role=role,
                                          phase=phase))
            raise AgentError(text, role=role, phase=phase)
        if kind == "stopped":
            raise RunStopped(str(reply.get("reason") or "stopped"))
        raise UsageError(text)

    # the runtime API ------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def config(self) -> Config:
        return self._config

    @property
    def budget(self) -> Budget:
        """As of the parent's last reply."""
        return self._budget

    @property
    def failures(self) -> list[Failure]:
        return list(self._failures)

    @property
    def repo(self) -> RepoReader:
        return self._repo

    async def ask(
        self, prompt: str, *, schema: type[M], role: str,
        tools: Sequence[Tool] | ToolGrant = "none", phase: str | None = None,
        timeout: float | None = None, context: Sequence[str] = (), system: str | None = None,
        tier: Tier | str | None = None,
    ) -> M:
        grant = _grant(tools)
        value = await self._call({
            "op": "agent", "prompt": prompt, "output_schema": schema.model_json_schema(),
            "schema_name": schema.__name__[:64], "role": role,
            "phase": phase if phase is not None else _phase.get(), "context": list(context),
            "system": system, "tier": getattr(tier, "value", tier), "timeout": timeout,
            "tools": grant,
        })
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            raise AgentError(
                f"{role} agent's answer does not fit {schema.__name__}: "
                f"{exc.errors(include_url=False)[0]['msg']}", role=role,
            ) from None

    async def vote(
        self, claim: str, *, angles: Sequence[str], context: Sequence[str] = (),
        role: str = "skeptic", judge_role: str = "judge", phase: str | None = None,
        tools: Sequence[Tool] | ToolGrant = "none",
    ) -> VoteResult:
        grant = _grant(tools)
        value = await self._call({
            "op": "vote", "claim": claim, "angles": list(angles), "context": list(context),
            "role": role, "judge_role": judge_role, "tools": grant,
            "phase": phase if phase is not None else _phase.get(),
        })
        return VoteResult.model_validate(value)

    async def repo_call(self, method: str, *, path: str = "", pattern: str = "",
                        base: str = "") -> Any:
        return await self._call({"op": "repo", "method": method, "path": path,
                                 "pattern": pattern, "base": base})

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        token = _phase.set(name)
        self.send({"op": "phase", "name": name, "edge": "start"})
        try:
            yield
        finally:
            _phase.reset(token)
            self.send({"op": "phase", "name": name, "edge": "end"})

    def note(self, message: str) -> None:
        self._line(message, progress=False)

    def progress(self, message: str) -> None:
        self._line(message, progress=True)

    def _line(self, message: str, *, progress: bool) -> None:
        if len(message) > channel.MAX_NOTE_CHARS:
            raise SandboxViolation(f"run.note takes at most {channel.MAX_NOTE_CHARS} characters")
        self._notes += 1
        if self._notes > channel.MAX_NOTES:
            raise SandboxViolation(f"a harness may leave at most {channel.MAX_NOTES} notes")
        self.send({"op": "note", "text": message, "progress": progress})

    def skip_phase(self, name: str, why: str = "") -> None:
        if len(why) > channel.MAX_NOTE_CHARS:
            raise SandboxViolation(f"skip_phase takes at most {channel.MAX_NOTE_CHARS} characters")
        self.send({"op": "skip_phase", "name": name, "why": why})

    async def workflow(self, name: str, **params: Any) -> Any:
        """A built-in or saved harness, run as a step by the parent; its result as JSON data."""
        return await self._call({"op": "workflow", "name": name, "params": params})

    async def edit(
        self, prompt: str, *, role: str = "author", paths: Sequence[str] = (),
        verify: str | None = None, context: Sequence[str] = (), tier: Tier | str | None = None,
        phase: str | None = None,
    ) -> WorktreeChange:
        if verify is not None:
            raise SandboxViolation("run.edit(verify=...) is not available in a generated "
                                   "harness; the configured migrate.verify command runs")
        value = await self._call({
            "op": "edit", "prompt": prompt, "role": role, "paths": list(paths),
            "context": list(context), "tier": getattr(tier, "value", tier),
            "phase": phase if phase is not None else _phase.get(),
        })
        return WorktreeChange.model_validate(value)

    async def assemble(self, commits: Sequence[str], branch: str) -> Assembly:
        value = await self._call({"op": "assemble", "commits": list(commits), "branch": branch})
        return Assembly.model_validate(value)

    def _branch_failed(self, where: str, exc: Exception, item: int) -> None:
        if isinstance(exc, RunStopped):
            return  # the stop itself is reported once, not per branch
        if isinstance(exc, AgentError) and exc.role:
            return  # the parent recorded it when the agent failed
        error = f"{type(exc).__name__}: {exc}"[:2_000]
        self._failures.append(Failure(where=where, error=error, item=item))
        self.send({"op": "branch_failed", "where": where, "error": error, "item": item})


class _GuestRepo:
    """``run.repo`` in the sandbox: every call answered by the parent."""

    def __init__(self, run: GuestRun) -> None:
        self._run = run

    async def files(self, prefix: str = "") -> list[str]:
        return list(await self._run.repo_call("files", path=prefix))

    async def read(self, path: str) -> str:
        return str(await self._run.repo_call("read", path=path))

    async def grep(self, pattern: str, prefix: str = "") -> list[dict[str, Any]]:
        return list(await self._run.repo_call("grep", pattern=pattern, path=prefix))

    async def find_calls(self, symbol: str, prefix: str = "") -> list[dict[str, Any]]:
        return list(await self._run.repo_call("find_calls", pattern=symbol, path=prefix))

    async def diff(self, base: str) -> list[dict[str, Any]]:
        return list(await self._run.repo_call("diff", base=base))

    async def changed_symbols(self, base: str) -> list[dict[str, Any]]:
        return list(await self._run.repo_call("changed_symbols", base=base))


def _grant(tools: Any) -> str:
    """Tools cross the boundary by name only."""
    if tools in ("none", "repo"):
        return str(tools)
    if tools == () or tools == []:
        return "none"
    raise SandboxViolation('tools= takes "repo" or "none" in a generated harness')


if TYPE_CHECKING:

    def _implements_the_api(run: GuestRun) -> HarnessRun:
        return run  # mypy checks that the sandbox side is exactly the typed runtime API


def _failure(exc: BaseException, filename: str, name: str) -> dict[str, Any]:
    where = harness_line(exc, filename)
    if isinstance(exc, SandboxViolation):
        return {"kind": "violation", "message": f"generated harness {name}{where}: {exc.message}"}
    if isinstance(exc, AgentError):
        return {"kind": "agent", "message": exc.message}
    if isinstance(exc, RunStopped):
        return {"kind": "stopped", "message": exc.message, "reason": exc.reason[:200]}
    if isinstance(exc, ReviewbotError):
        return {"kind": "usage", "message": exc.message}
    if isinstance(exc, MemoryError):
        return {"kind": "harness",
                "message": f"generated harness {name}{where} ran out of its memory limit"}
    return {"kind": "harness", "message":
            f"generated harness {name} failed{where}: {type(exc).__name__}: {exc}"[:3_000]}


def _done(result: Any, name: str) -> dict[str, Any]:
    try:
        data = to_jsonable_python(result)
        json.dumps(data)
    except (TypeError, ValueError, PydanticSerializationError) as exc:
        return {"op": "failed", "kind": "usage", "message":
                f"harness {name} returned a value that is not JSON data ({exc}); return a "
                "pydantic model or dicts/lists/strings/numbers"}
    return {"op": "done", "result": data}


async def serve(read_fd: int, write_fd: int, enforced: list[str]) -> None:
    lines = _Lines(read_fd)
    os.write(write_fd, channel.encode({"op": "ready", "enforced": enforced}))
    first = await lines.next()
    if first is None:
        return
    start = json.loads(first)
    run = GuestRun(write_fd, start)
    filename, name = str(start["filename"]), str(start["name"])

    async def replies() -> None:
        while (line := await lines.next()) is not None:
            run.deliver(json.loads(line))
        os._exit(0)  # the parent is gone: nothing to finish for

    async with anyio.create_task_group() as tg:
        tg.start_soon(replies)
        try:
            module = exec_restricted(
                str(start["source"]), filename=filename, name=str(start["module"])
            )
            main = module.__dict__.get("main")
            if main is None:
                raise UsageError(f"harness {filename} needs `async def main(run, **params)`")
            result = await main(capability(run), **start["params"])
        except Exception as exc:  # every failure of generated code goes back as one line
            message: dict[str, Any] = {"op": "failed", **_failure(exc, filename, name)}
        else:
            message = _done(result, name)
        data = channel.encode(message)
        if len(data) > channel.MAX_MESSAGE_BYTES:
            data = channel.encode({"op": "failed", "kind": "usage", "message":
                                   f"harness {name} returned more than "
                                   f"{channel.MAX_MESSAGE_BYTES} bytes"})
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        tg.cancel_scope.cancel()


def main() -> None:
    limits = json.loads(sys.argv[1])
    enforced = apply_limits(int(limits["memory_mb"]), int(limits["cpu_seconds"]))
    enforced += [str(item) for item in limits.get("isolation", [])]
    read_fd, write_fd = _take_channel()
    anyio.run(serve, read_fd, write_fd, enforced)


if __name__ == "__main__":
    main()
