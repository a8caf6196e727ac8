"""Composition of agent calls: ``parallel``, ``pipeline``, ``until_dry``.

One implementation for both sides of the sandbox boundary: the in-process
``Run`` and the ``Run`` a generated harness gets in its own process
(``reviewbot.harness.guest``) both derive from :class:`Composition`, so a
branch failure, a pipeline's tail policy and ``until_dry``'s dedup behave the
same everywhere. This module imports no model client, so the sandbox process
starts without one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import anyio
from pydantic import BaseModel

from reviewbot.errors import ModelServiceError, UsageError
from reviewbot.runtime.errors import ModelsUnavailable, RunInterrupted
from reviewbot.runtime.scheduler import tail_items

if TYPE_CHECKING:
    from reviewbot.config import Tier
    from reviewbot.models import Tool
    from reviewbot.runtime.api import Isolation, ToolGrant, WorktreeChange

T = TypeVar("T")
V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)

# Errors that end the whole run; every other failure of a branch ends only that branch.
RUN_FATAL: tuple[type[BaseException], ...] = (ModelServiceError, ModelsUnavailable, RunInterrupted)

# Where in (possibly nested) pipelines the current task is: its stage depth and whether
# its item is in a pipeline's tail; together they give its concurrency-slot priority.
_depth: ContextVar[int] = ContextVar("reviewbot_depth", default=0)
_tail: ContextVar[bool] = ContextVar("reviewbot_tail", default=False)


def pipeline_position() -> tuple[int, bool]:
    """The current task's (stage depth, in a pipeline's tail)."""
    return _depth.get(), _tail.get()


@contextlib.contextmanager
def at_pipeline_position(depth: int, tail: bool) -> Iterator[None]:
    """Run the body as if at ``depth``/``tail`` of a pipeline (a call relayed from the
    sandbox process carries the position it had there)."""
    depth_token, tail_token = _depth.set(depth), _tail.set(tail)
    try:
        yield
    finally:
        _tail.reset(tail_token)
        _depth.reset(depth_token)


class Composition:
    """``agent``'s two kinds, ``parallel``, ``pipeline`` and ``until_dry`` over a
    subclass's ``ask``, ``edit``, ``stopped``, ``concurrency`` and ``_branch_failed``."""

    @overload
    async def agent(
        self, prompt: str, *, schema: type[M], role: str,
        tools: Sequence[Tool] | ToolGrant = ..., phase: str | None = ...,
        timeout: float | None = ..., context: Sequence[str] = ..., system: str | None = ...,
        tier: Tier | str | None = ..., isolation: Literal["none"] = ...,
    ) -> M: ...

    @overload
    async def agent(
        self, prompt: str, *, isolation: Literal["worktree"], role: str = ...,
        paths: Sequence[str] = ..., verify: str | None = ..., phase: str | None = ...,
        context: Sequence[str] = ..., tier: Tier | str | None = ...,
    ) -> WorktreeChange: ...

    async def agent(
        self, prompt: str, *, schema: type[M] | None = None, role: str | None = None,
        tools: Sequence[Tool] | ToolGrant = (), phase: str | None = None,
        timeout: float | None = None, context: Sequence[str] = (), system: str | None = None,
        tier: Tier | str | None = None, isolation: Isolation = "none",
        paths: Sequence[str] = (), verify: str | None = None,
    ) -> M | WorktreeChange:
        """One sub-agent. By default it answers in ``schema`` (see ``ask``); with
        ``isolation="worktree"`` it edits in a worktree of its own and the result is its
        gated commit (see ``edit``)."""
        if isolation == "worktree":
            if schema is not None or tools or system is not None or timeout is not None:
                raise UsageError('an agent with isolation="worktree" takes no schema=, '
                                 "tools=, system= or timeout=: it answers with its commit")
            return await self.edit(prompt, role=role or "author", paths=paths, verify=verify,
                                   context=context, tier=tier, phase=phase)
        if isolation != "none":
            raise UsageError(f'isolation= is "none" or "worktree", not {isolation!r}')
        if schema is None or role is None:
            raise UsageError("run.agent needs schema= and role= (or isolation=\"worktree\")")
        return await self.ask(prompt, schema=schema, role=role, tools=tools, phase=phase,
                              timeout=timeout, context=context, system=system, tier=tier)

    async def ask(
        self, prompt: str, *, schema: type[M], role: str, tools: Sequence[Tool] | ToolGrant,
        phase: str | None, timeout: float | None, context: Sequence[str], system: str | None,
        tier: Tier | str | None,
    ) -> M:
        raise NotImplementedError

    async def edit(
        self, prompt: str, *, role: str = "author", paths: Sequence[str] = (),
        verify: str | None = None, context: Sequence[str] = (), tier: Tier | str | None = None,
        phase: str | None = None,
    ) -> WorktreeChange:
        raise NotImplementedError

    @property
    def stopped(self) -> bool:
        raise NotImplementedError

    @property
    def concurrency(self) -> int:
        raise NotImplementedError

    def _branch_failed(self, where: str, exc: Exception, item: int) -> None:
        raise NotImplementedError

    async def parallel(self, thunks: Iterable[Callable[[], Awaitable[T]]]) -> list[T | None]:
        """Run all thunks concurrently and wait for all (a barrier).

        A branch that fails becomes ``None`` and its error is recorded in
        ``stats.errors``; run-fatal errors (the service refusing us) end the run.
        """
        tasks = list(thunks)
        results: list[T | None] = [None] * len(tasks)

        async def branch(i: int, thunk: Callable[[], Awaitable[T]]) -> None:
            try:
                results[i] = await thunk()
            except RUN_FATAL:
                raise
            except Exception as exc:  # a failed branch is data for the harness, not a crash
                self._branch_failed(f"parallel branch {i}", exc, i)

        await _each(tasks, branch)
        return results

    async def pipeline(
        self, items: Iterable[Any], *stages: Callable[[Any], Awaitable[Any]]
    ) -> list[Any | None]:
        """Send every item through all stages independently, with no barrier between stages.

        Item 1 may be in stage 3 while item 50 is still in stage 1. Results keep
        input order; an exception in any stage drops that item to ``None`` and is
        recorded. Later stages get concurrency slots before earlier ones, so
        started items finish before new ones start (a budget stop leaves whole
        items); the last items go earliest stage first, so the run ends on single
        calls rather than chains (see ``reviewbot.runtime.scheduler``).
        """
        if not stages:
            raise UsageError("run.pipeline needs at least one stage")
        values = list(items)
        results: list[Any | None] = [None] * len(values)
        base = _depth.get()
        tail_from = len(values) - tail_items(len(values), self.concurrency)

        async def flow(i: int, value: Any) -> None:
            if i >= tail_from:
                _tail.set(True)  # this task's context only; nested calls inherit it
            for k, stage in enumerate(stages):
                _depth.set(base + k)
                try:
                    value = await stage(value)
                except RUN_FATAL:
                    raise
                except Exception as exc:  # the item drops out; the pipeline goes on
                    self._branch_failed(f"pipeline item {i} stage {k + 1}", exc, i)
                    return
            results[i] = value

        await _each(values, flow)
        return results

    async def until_dry(
        self,
        round_fn: Callable[[int], Awaitable[Iterable[T]]],
        *,
        key: Callable[[T], Hashable],
        dry_rounds: int = 2,
        max_rounds: int,
        accept: Callable[[T], Awaitable[bool]] | None = None,
    ) -> list[T]:
        """Repeat rounds until ``dry_rounds`` consecutive rounds bring nothing new.

        Every item a round returns is deduplicated by ``key`` against every item
        ever seen, including ones ``accept`` rejected, so a rejected item that
        keeps coming back does not keep the loop alive. With ``accept`` (e.g. a
        verification agent), the new items of a round are checked concurrently
        and only accepted ones are returned; a failed check rejects. Returns the
        new (accepted) items in discovery order. Stops early when the run stops.
        """
        if max_rounds < 1 or dry_rounds < 1:
            raise UsageError("run.until_dry needs max_rounds >= 1 and dry_rounds >= 1")
        seen: set[Hashable] = set()
        found: list[T] = []
        dry = 0
        for index in range(max_rounds):
            if self.stopped:
                break
            fresh: list[T] = []
            for item in await round_fn(index) or ():
                k = key(item)
                if k not in seen:
                    seen.add(k)
                    fresh.append(item)
            if accept is not None and fresh:
                verdicts = await self.parallel([_bind(accept, item) for item in fresh])
                found += [item for item, ok in zip(fresh, verdicts, strict=True) if ok]
            else:
                found += fresh
            dry = 0 if fresh else dry + 1
            if dry >= dry_rounds:
                break
        return found


async def _each(values: Sequence[V], body: Callable[[int, V], Awaitable[None]]) -> None:
    """Run ``body(i, value)`` for every value concurrently and wait for all.

    ``body`` handles its own failures; a run-fatal one cancels the siblings, and the first
    is re-raised plainly after the group (not wrapped in an exception group, so callers
    can catch it by type).
    """
    fatal: list[BaseException] = []

    async def guarded(i: int, value: V) -> None:
        try:
            await body(i, value)
        except RUN_FATAL as exc:
            if not fatal:
                fatal.append(exc)
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for i, value in enumerate(values):
            tg.start_soon(guarded, i, value)
    if fatal:
        raise fatal[0]


def _bind(fn: Callable[[T], Awaitable[bool]], item: T) -> Callable[[], Awaitable[bool]]:
    async def call() -> bool:
        return await fn(item)

    return call
