"""The parent side of the sandbox: run generated harness code in a process of its own.

The real ``Run`` (model client, journal, budget, repository) stays here. The
generated code runs in ``reviewbot.harness.guest``, started with an environment
built from an allow-list, an empty working directory and OS limits, inside
bubblewrap (no network, no file system beyond the Python installation, its own
PID namespace, killed with us) when the machine has it. Every message it sends
is validated (``reviewbot.harness.channel``) before this side acts on it; its
agent calls run through the real ``Run`` here, and only plain data goes back.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
import jsonschema
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from pydantic import BaseModel, ConfigDict, model_validator

import reviewbot
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.harness import channel
from reviewbot.harness.capabilities import RepoAccess
from reviewbot.harness.guards import SandboxViolation
from reviewbot.harness.runner import HarnessFailed, to_jsonable
from reviewbot.harness.workflows import check_sandboxed_step
from reviewbot.models import Tool
from reviewbot.process import environment, find_bwrap
from reviewbot.runtime.compose import RUN_FATAL, at_pipeline_position
from reviewbot.runtime.errors import AgentError, RunStopped
from reviewbot.runtime.events import PhaseFinished, PhaseStarted
from reviewbot.runtime.run import Run

# The only variables the sandbox process gets; nothing of the caller's environment
# (the process policy's "none": not even PATH or HOME).
GUEST_ENV = environment(
    "none", {"LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"})


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    wall_seconds: float


def limits_for(run: Run) -> Limits:
    rt = run.config.runtime
    return Limits(memory_mb=rt.sandbox_memory_mb, cpu_seconds=rt.sandbox_cpu_seconds,
                  wall_seconds=rt.sandbox_wall_seconds)


# isolation -----------------------------------------------------------------------


def _visible_paths() -> list[str]:
    """What the sandbox process may read: the Python installation and reviewbot's code."""
    package = Path(reviewbot.__file__).resolve().parent
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent),
             str(package), "/usr", "/lib", "/lib64", "/lib32"}
    return sorted(p for p in paths if Path(p).exists())


def _bwrap_prefix(bwrap: str) -> list[str]:
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv"]
    # The empty /tmp first: the Python installation may itself live under /tmp (a CI venv),
    # and a bind made before the tmpfs would be hidden by it.
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in _visible_paths():
        argv += ["--ro-bind", path, path]
    argv += ["--chdir", "/tmp"]
    for key, value in GUEST_ENV.items():
        argv += ["--setenv", key, value]
    return argv + ["--"]


def _guest_argv() -> list[str]:
    return [sys.executable, "-I", "-B", "-m", "reviewbot.harness.guest"]


@lru_cache(maxsize=1)
def isolation() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(command prefix, what it enforces): bubblewrap when it works here, else none.

    Probed once per process: bubblewrap needs user namespaces, which some
    containers and kernels refuse.
    """
    bwrap = find_bwrap()
    if bwrap is not None and sys.platform == "linux":
        prefix = _bwrap_prefix(bwrap)
        try:
            probe = subprocess.run(  # noqa: S603 (fixed argv, no shell)
                [*prefix, sys.executable, "-I", "-c", "pass"], env=GUEST_ENV,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=20, check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            probe = None
        if probe is not None and probe.returncode == 0:
            return tuple(prefix), ("no network", "no file system but Python's",
                                   "own PID namespace", "dies with reviewbot")
    return (), ()


def describe_isolation() -> str:
    """One line for the terminal: what holds a generated harness on this machine."""
    _, enforced = isolation()
    if enforced:
        return "sandbox: separate process in bubblewrap (" + ", ".join(enforced) + ")"
    return ("sandbox: separate process without bubblewrap: no secrets, OS limits, but it can "
            "read files and reach the network (install bubblewrap to close that)")


# schemas from the sandbox ------------------------------------------------------------

# Keywords left out of this side's validation: regular expressions written by generated
# code must not run here (the sandbox process re-validates with its own pydantic model).
_UNCHECKED = frozenset({"pattern", "patternProperties", "format", "propertyNames"})


def _without_unchecked(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_unchecked(v) for k, v in node.items() if k not in _UNCHECKED}
    if isinstance(node, list):
        return [_without_unchecked(v) for v in node]
    return node


def remote_schema(schema: Mapping[str, Any], name: str) -> type[BaseModel]:
    """A pydantic model standing in for the sandboxed harness's own: it has that model's
    JSON schema and validates answers against it, so the agent loop here (structured
    output, the invalid-output retry, the journal) works unchanged. One class per
    distinct schema: the journal and the schema caches key on the class."""
    return _remote(name, json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=1_000)
def _remote(name: str, schema_json: str) -> type[BaseModel]:
    schema = json.loads(schema_json)
    checked = _without_unchecked(schema)
    try:
        validator_class = jsonschema.validators.validator_for(checked)
        validator_class.check_schema(checked)
    except jsonschema.SchemaError as exc:
        raise UsageError(
            f"output schema {name} is not a valid JSON schema: {exc.message}"
        ) from None
    validator = validator_class(checked)
    exported = schema  # freshly parsed: nothing else holds it

    class Remote(BaseModel):
        model_config = ConfigDict(extra="allow", title=name)

        @model_validator(mode="before")
        @classmethod
        def _matches(cls, data: Any) -> Any:
            error = jsonschema.exceptions.best_match(validator.iter_errors(data))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "answer"
                raise ValueError(f"{where}: {error.message[:300]}")
            return data

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return copy.deepcopy(exported)

    Remote.__name__ = Remote.__qualname__ = name
    return Remote


# the host ----------------------------------------------------------------------------

# Messages that ask the parent to do something and wait for its reply.
Call = (channel.AgentCall | channel.VoteCall | channel.RepoCall | channel.WorkflowCall
        | channel.EditCall | channel.AssembleCall)
CALLS = (channel.AgentCall, channel.VoteCall, channel.RepoCall, channel.WorkflowCall,
         channel.EditCall, channel.AssembleCall)


class _Host:
    def __init__(self, run: Run, process: Process, name: str) -> None:
        self.run = run
        self.process = process
        self.name = name
        self.messages = 0
        self.fatal: list[BaseException] = []
        # capabilities: what the sandboxed harness may use, opened here on first use
        self.access = RepoAccess(run.workspace)

    def tools(self, name: str) -> tuple[Tool, ...]:
        return self.access.tools(name)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(channel.encode(message))

    def _state(self) -> dict[str, Any]:
        return {"stopped": self.run.stopped, "stop_reason": self.run.stop_reason,
                "budget": self.run.budget.model_dump(mode="json")}

    async def answer(self, message: Call) -> None:
        """Perform one call of the sandboxed harness here and send back plain data."""
        reply: dict[str, Any] = {"op": "reply", "id": message.id}
        try:
            with at_pipeline_position(message.depth, message.tail):
                value = await self.perform(message)
            reply |= {"ok": True, "value": value}
        except RUN_FATAL as exc:
            if not self.fatal:
                self.fatal.append(exc)
            raise
        except AgentError as exc:
            reply |= {"ok": False, "kind": "agent", "message": exc.message, "role": exc.role,
                      "phase": exc.phase}
        except RunStopped as exc:
            reply |= {"ok": False, "kind": "stopped", "message": exc.message,
                      "reason": exc.reason}
        except ReviewbotError as exc:
            reply |= {"ok": False, "kind": "usage", "message": exc.message}
        await self.send(reply | self._state())

    async def perform(self, message: Call) -> Any:
        run = self.run
        if isinstance(message, channel.AgentCall):
            schema = remote_schema(message.output_schema, message.schema_name)
            output: BaseModel = await run.agent(
                message.prompt, schema=schema, role=message.role, phase=message.phase,
                timeout=message.timeout, context=message.context, system=message.system,
                tier=message.tier, tools=self.tools(message.tools),
            )
            return output.model_dump(mode="json")
        if isinstance(message, channel.VoteCall):
            vote = await run.vote(
                message.claim, angles=message.angles, context=message.context,
                role=message.role, judge_role=message.judge_role, phase=message.phase,
                tools=self.tools(message.tools),
            )
            return vote.model_dump(mode="json")
        if isinstance(message, channel.EditCall):
            change = await run.edit(message.prompt, role=message.role, paths=message.paths,
                                    context=message.context, tier=message.tier,
                                    phase=message.phase)
            return change.model_dump(mode="json")
        if isinstance(message, channel.AssembleCall):
            assembly = await run.assemble(message.commits, message.branch)
            return assembly.model_dump(mode="json")
        if isinstance(message, channel.WorkflowCall):
            check_sandboxed_step(run, message.name, message.params)
            result = await run.workflow(message.name, **message.params)
            return to_jsonable(result, harness=message.name)
        try:
            return await self.access.call(message.method, path=message.path,
                                          pattern=message.pattern, base=message.base)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise UsageError(f"run.repo.{message.method}: {exc}") from None

    def act(self, message: channel.FromGuest) -> None:
        run = self.run
        if isinstance(message, channel.PhaseEdge):
            event = PhaseStarted if message.edge == "start" else PhaseFinished
            run.events.emit(event(phase=message.name))
        elif isinstance(message, channel.NoteMessage):
            (run.progress if message.progress else run.note)(message.text)
        elif isinstance(message, channel.BranchFailure):
            run.record_branch_failure(message.where, message.error, item=message.item)
        elif isinstance(message, channel.SkipPhase):
            run.skip_phase(message.name, message.why)

    def failure(self, message: channel.Failed) -> BaseException:
        if message.kind == "violation":
            return SandboxViolation(message.message)
        if message.kind == "agent":
            return AgentError(message.message)
        if message.kind == "stopped":
            return RunStopped(message.reason or "stopped")
        if message.kind == "usage":
            return UsageError(message.message)
        return HarnessFailed(message.message)


def _exit_reason(returncode: int | None, limits: Limits) -> str:
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return f"used more than its CPU limit of {limits.cpu_seconds} s"
        if sig == signal.SIGKILL:
            return "was killed (it exceeded a limit of the sandbox)"
        return f"was ended by signal {signal.Signals(sig).name}"
    return f"exited with status {returncode} before finishing"


async def host_harness(
    run: Run, *, source: str, filename: str, name: str, module: str, params: Mapping[str, Any],
) -> Any:
    """Run a checked generated harness in its sandbox process against ``run``; its result."""
    limits = limits_for(run)
    prefix, enforced = isolation()
    argv = [*prefix, *_guest_argv(), json.dumps({
        "memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
        "isolation": list(enforced),
    })]
    start = {
        "source": source, "filename": filename, "name": name, "module": module,
        "params": dict(params), "models_available": run.models_available, "run_id": run.run_id,
        "concurrency": run.concurrency, "stopped": run.stopped, "stop_reason": run.stop_reason,
        "budget": run.budget.model_dump(mode="json"), "config": run.config.model_dump(mode="json"),
    }
    with tempfile.TemporaryDirectory(prefix="reviewbot-sandbox-") as empty:
        process = await anyio.open_process(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(GUEST_ENV), cwd=empty, start_new_session=True,
        )
        host = _Host(run, process, name)
        try:
            with anyio.fail_after(limits.wall_seconds):
                return await _serve(host, start, limits)
        except TimeoutError:
            raise HarnessFailed(
                f"generated harness {name} ran past its wall-clock limit of "
                f"{limits.wall_seconds:g} s (runtime.sandbox_wall_seconds)"
            ) from None
        finally:
            with anyio.CancelScope(shield=True):
                _kill(process)
                await process.wait()
                await process.aclose()


def _kill(process: Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _serve(host: _Host, start: dict[str, Any], limits: Limits) -> Any:
    process = host.process
    assert process.stdout is not None and process.stderr is not None
    lines = BufferedByteReceiveStream(process.stdout)
    stderr_tail = bytearray()
    outcome: list[Any] = []

    async def drain_stderr() -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            stderr_tail.extend(chunk)
            del stderr_tail[:-4096]

    async def next_message() -> channel.FromGuest | None:
        try:
            line = await lines.receive_until(b"\n", channel.MAX_MESSAGE_BYTES + 1)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            return None
        except anyio.DelimiterNotFound:
            raise SandboxViolation(
                f"generated harness {host.name} sent a message of more than "
                f"{channel.MAX_MESSAGE_BYTES} bytes"
            ) from None
        host.messages += 1
        if host.messages > channel.MAX_MESSAGES:
            raise SandboxViolation(
                f"generated harness {host.name} sent more than {channel.MAX_MESSAGES} messages"
            )
        try:
            return channel.parse_from_guest(line)
        except channel.ChannelError as exc:
            raise SandboxViolation(f"generated harness {host.name} sent {exc}") from None

    async def conversation() -> None:
        ready = await next_message()
        if not isinstance(ready, channel.Ready):
            raise HarnessFailed(_died(host, stderr_tail, limits, "could not start"))
        await host.send(start)
        while True:
            message = await next_message()
            if message is None:
                await process.wait()
                raise HarnessFailed(_died(host, stderr_tail, limits, None))
            if isinstance(message, CALLS):
                tg.start_soon(host.answer, message)
            elif isinstance(message, channel.Done):
                outcome.append(message.result)
                return
            elif isinstance(message, channel.Failed):
                raise host.failure(message)
            elif isinstance(message, channel.Ready):
                raise SandboxViolation(f"generated harness {host.name} sent ready twice")
            else:
                host.act(message)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain_stderr)
            await conversation()
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _first(group) from None
    return outcome[0]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return group.exceptions[0]


def _died(host: _Host, stderr_tail: bytearray, limits: Limits, what: str | None) -> str:
    reason = what or _exit_reason(host.process.returncode, limits)
    text = stderr_tail.decode("utf-8", "replace").strip().splitlines()
    last = f" ({text[-1][:300]})" if text else ""
    if "MemoryError" in last:
        reason, last = f"ran out of its memory limit of {limits.memory_mb} MB", ""
    return f"generated harness {host.name} {reason}{last}"
