"""The runtime API, typed: what every harness gets as ``run``.

One protocol for both kinds of harness. The in-process :class:`reviewbot.runtime.Run`
(built-in harnesses) and the sandboxed ``GuestRun`` (generated harnesses, every call
relayed to the parent) implement exactly it, and mypy checks that they do; a
harness annotated ``run: HarnessRun`` can use nothing else. Bookkeeping (stats,
events, the scheduler, the journal) is the runtime's, not the harness's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

from pydantic import BaseModel, ConfigDict

from reviewbot.config import Config, Tier
from reviewbot.runtime.results import VoteResult

if TYPE_CHECKING:
    from reviewbot.models import Tool

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# Tools granted by name cross the sandbox boundary; tool objects only exist in-process.
ToolGrant = Literal["none", "repo"]
Isolation = Literal["none", "worktree"]


class Budget(BaseModel):
    """The run's spending so far against its caps (``None``: no cap)."""

    model_config = ConfigDict(frozen=True)

    total: float | None  # dollars
    spent: float
    remaining: float | None
    tokens_total: int | None = None
    tokens_spent: int = 0


class Failure(BaseModel):
    """One branch of ``parallel``/``pipeline`` (or one agent) that failed; the run went on."""

    model_config = ConfigDict(frozen=True)

    where: str  # "pipeline item 3 stage 1", "finder agent in phase review"
    error: str
    item: int | None = None  # the item's index, for a branch of parallel/pipeline
    role: str | None = None  # for an agent's failure
    phase: str | None = None


class WorktreeChange(BaseModel):
    """What an agent with ``isolation="worktree"`` produced: a gated commit, or why not."""

    commit: str | None = None  # on ``branch``, its parent the run's base
    branch: str | None = None
    files: list[str] = []
    passed: bool = False
    failed_gate: str | None = None
    reason: str = ""


class Assembly(BaseModel):
    """``run.assemble``: which commits landed on the branch and which did not apply."""

    branch: str
    head: str | None = None
    applied: list[str] = []
    conflicts: list[str] = []


class RepoReader(Protocol):
    """``run.repo``: the repository at the run's commit, read-only; plain data out."""

    async def files(self, prefix: str = "") -> list[str]: ...

    async def read(self, path: str) -> str: ...

    async def grep(self, pattern: str, prefix: str = "") -> list[dict[str, Any]]: ...

    async def find_calls(self, symbol: str, prefix: str = "") -> list[dict[str, Any]]: ...

    async def diff(self, base: str) -> list[dict[str, Any]]: ...

    async def changed_symbols(self, base: str) -> list[dict[str, Any]]: ...


class Editor(Protocol):
    """What ``run.edit``/``run.assemble`` delegate to (worktrees live in the harness layer)."""

    async def edit(
        self, run: Any, prompt: str, *, role: str, paths: Sequence[str], verify: str | None,
        context: Sequence[str], tier: Tier | str | None, phase: str | None,
    ) -> WorktreeChange: ...

    async def assemble(self, commits: Sequence[str], branch: str) -> Assembly: ...

    async def close(self) -> None: ...


class RepoGrant(RepoReader, Protocol):
    """What the runtime holds: the reader plus the tool sets it grants agents by name."""

    def tools(self, name: str) -> Sequence[Tool]: ...


class HarnessRun(Protocol):
    """The runtime API (see the module docstring)."""

    params: dict[str, Any]

    @property
    def run_id(self) -> str: ...

    @property
    def config(self) -> Config: ...

    @property
    def models_available(self) -> bool: ...

    @property
    def stopped(self) -> bool: ...

    @property
    def stop_reason(self) -> str | None: ...

    @property
    def concurrency(self) -> int: ...

    @property
    def budget(self) -> Budget: ...

    @property
    def failures(self) -> list[Failure]: ...

    @property
    def repo(self) -> RepoReader: ...

    @overload
    async def agent(
        self,
        prompt: str,
        *,
        schema: type[M],
        role: str,
        tools: Sequence[Tool] | ToolGrant = ...,
        phase: str | None = ...,
        timeout: float | None = ...,
        context: Sequence[str] = ...,
        system: str | None = ...,
        tier: Tier | str | None = ...,
        isolation: Literal["none"] = ...,
    ) -> M: ...

    @overload
    async def agent(
        self,
        prompt: str,
        *,
        isolation: Literal["worktree"],
        role: str = ...,
        paths: Sequence[str] = ...,
        verify: str | None = ...,
        phase: str | None = ...,
        context: Sequence[str] = ...,
        tier: Tier | str | None = ...,
    ) -> WorktreeChange: ...

    async def parallel(self, thunks: Iterable[Callable[[], Awaitable[T]]]) -> list[T | None]: ...

    async def pipeline(
        self, items: Iterable[Any], *stages: Callable[[Any], Awaitable[Any]]
    ) -> list[Any]: ...

    async def until_dry(
        self,
        round_fn: Callable[[int], Awaitable[Iterable[T]]],
        *,
        key: Callable[[T], Hashable],
        max_rounds: int,
        dry_rounds: int = ...,
        accept: Callable[[T], Awaitable[bool]] | None = ...,
    ) -> list[T]: ...

    async def vote(
        self,
        claim: str,
        *,
        angles: Sequence[str],
        context: Sequence[str] = ...,
        role: str = ...,
        judge_role: str = ...,
        phase: str | None = ...,
        tools: Sequence[Tool] | ToolGrant = ...,
    ) -> VoteResult: ...

    def phase(self, name: str) -> AbstractContextManager[None]: ...

    def skip_phase(self, name: str, why: str = ...) -> None: ...

    def note(self, message: str) -> None: ...

    def progress(self, message: str) -> None: ...

    async def workflow(self, name: str, **params: Any) -> Any: ...

    async def edit(
        self,
        prompt: str,
        *,
        role: str = ...,
        paths: Sequence[str] = ...,
        verify: str | None = ...,
        context: Sequence[str] = ...,
        tier: Tier | str | None = ...,
        phase: str | None = ...,
    ) -> WorktreeChange: ...

    async def assemble(self, commits: Sequence[str], branch: str) -> Assembly: ...


# Runs a named harness's ``main`` against the calling run (the harness layer provides it).
WorkflowRunner = Callable[[Any, str, dict[str, Any]], Awaitable[Any]]
