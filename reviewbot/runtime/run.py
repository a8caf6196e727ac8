"""``Run``: the one object a harness receives.

It is a capability: a harness can spawn agents, fan out, pipeline, loop until
dry, vote, group work into phases and leave notes, and nothing else. Global
control (concurrency, the backstop, the budget, the journal, events) lives here
and in the scheduler, never in a model's context.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from pydantic import BaseModel

from reviewbot.config import Config, Tier
from reviewbot.errors import UsageError
from reviewbot.models import Tool, cost_usd
from reviewbot.models.request import (
    MIN_SHARED_PREFIX_TOKENS,
    AgentFailed,
    AgentRequest,
    TurnDenied,
    TurnPlan,
    cache_prefix_key,
    shared_prefix_tokens,
)
from reviewbot.models.usage import Usage
from reviewbot.runtime.api import (
    Assembly,
    Budget,
    Editor,
    Failure,
    HarnessRun,
    RepoGrant,
    RepoReader,
    ToolGrant,
    WorkflowRunner,
    WorktreeChange,
)
from reviewbot.runtime.compose import Composition
from reviewbot.runtime.compose import pipeline_position as _position
from reviewbot.runtime.control import RunControl
from reviewbot.runtime.errors import AgentError, ModelsUnavailable, RunStopped
from reviewbot.runtime.events import (
    AgentFailure,
    AgentFinished,
    AgentStarted,
    BranchFailed,
    EventBus,
    Note,
    PhaseFinished,
    PhaseStarted,
    Stopped,
)
from reviewbot.runtime.hedging import AgentHedge, Latencies
from reviewbot.runtime.journal import Journal, input_hash
from reviewbot.runtime.scheduler import Scheduler, pipeline_priority
from reviewbot.runtime.stats import RunStats, Spend
from reviewbot.runtime.vote import run_vote

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

M = TypeVar("M", bound=BaseModel)

NO_PHASE = "main"

_phase: ContextVar[str | None] = ContextVar("reviewbot_phase", default=None)

NO_MODELS_MESSAGE = (
    "no model service configured; set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a "
    "compatible server) to run model phases"
)


def default_system(role: str) -> str:
    """The system text when a call gives none: the model layer already states the role
    and that inputs are data; an empty string keeps the cached prefix shared by roles."""
    del role
    return ""


class Run(Composition):
    """The runtime API a harness programs against (see the module docstring)."""

    def __init__(
        self,
        *,
        run_id: str,
        config: Config,
        params: dict[str, Any] | None = None,
        client: AsyncAnthropic | None = None,
        journal: Journal | None = None,
        events: EventBus | None = None,
        harness: str = "",
        max_agents: int | None = None,
        budget_usd: float | None = None,
        replay: dict[tuple[str, int], str] | None = None,
        workspace: Path | None = None,
        repo: RepoGrant | None = None,
        workflows: WorkflowRunner | None = None,
        editor: Editor | None = None,
    ) -> None:
        self.run_id = run_id
        self.config = config
        self.params: dict[str, Any] = dict(params or {})
        self.stats = RunStats(run_id=run_id, harness=harness)
        self.events = events if events is not None else EventBus()
        self._client = client
        self._journal = journal
        self._replay = dict(replay or {})
        # The repository the run is about (None outside one): capabilities granted to
        # sandboxed harnesses (read-only repository access) are opened from it.
        self.workspace = workspace
        self._repo = repo
        self._workflows = workflows
        self._editor = editor
        self._failures: list[Failure] = []
        # cache prefix key -> set once the first agent with that prefix has written the cache
        self._primers: dict[str, anyio.Event] = {}
        self._ordinals: defaultdict[str, int] = defaultdict(int)
        self._calls = itertools.count(1)
        rt = config.runtime
        pricing = config.models.pricing
        self._pricing = pricing
        self._scheduler = Scheduler(
            concurrency=rt.concurrency,
            role_concurrency=dict(rt.role_concurrency),
            max_agents=max_agents if max_agents is not None else rt.max_agents,
            budget_usd=budget_usd if budget_usd is not None else rt.budget_usd,
            budget_tokens=rt.budget_tokens,
            cost_of=lambda model, usage: cost_usd(model, usage, pricing),
        )
        self._latencies = (
            Latencies(rt.hedge_quantile, rt.hedge_min_samples) if rt.hedge else None
        )
        self._scheduler.on_stop(self._stopped)
        # stop/pause asked from outside (the dashboard, `reviewbot control`): runtime.control
        self.control = RunControl.beside(
            self.events.path, stop=self._scheduler.stop, stopped=lambda: self._scheduler.stopped,
            note=lambda message: self.events.emit(Note(message=message)),
        )

    # state --------------------------------------------------------------

    @property
    def budget_usd(self) -> float | None:
        """The dollar cap this run enforces (None: no cap)."""
        return self._scheduler.budget_usd

    @property
    def budget(self) -> Budget:
        """Spent against the caps, now (the harness may plan by it; the scheduler enforces it)."""
        sched = self._scheduler
        total, spent = sched.budget_usd, self.stats.total.cost_usd
        return Budget(
            total=total, spent=spent,
            remaining=max(0.0, total - spent) if total is not None else None,
            tokens_total=sched.budget_tokens, tokens_spent=self.stats.total.usage.total_tokens,
        )

    @property
    def repo(self) -> RepoReader:
        """The repository the run is about, read-only (granted by the runner)."""
        if self._repo is None:
            raise UsageError("run.repo needs a repository; run the harness inside one "
                             "(or pass --repo)")
        return self._repo

    def granted(self, tools: Sequence[Tool] | ToolGrant) -> tuple[Tool, ...]:
        """Tool objects for a grant by name (``"repo"``: the finders' read-only tools)."""
        if isinstance(tools, str):
            if tools == "none":
                return ()
            if self._repo is None:
                raise UsageError(f"tools={tools!r} needs a repository; run the harness inside "
                                 "one (or pass --repo)")
            return tuple(self._repo.tools(tools))
        return tuple(tools)

    async def workflow(self, name: str, **params: Any) -> Any:
        """Run a built-in or saved harness as a step: same budget, concurrency and journal."""
        if self._workflows is None:
            raise UsageError("run.workflow is not available in this run")
        with self.phase(f"workflow {name}"):
            return await self._workflows(self, name, params)

    def _editing(self) -> Editor:
        if self._editor is None:
            raise UsageError("run.edit and run.assemble need a repository; run the harness "
                             "inside one (or pass --repo)")
        return self._editor

    async def edit(
        self,
        prompt: str,
        *,
        role: str = "author",
        paths: Sequence[str] = (),
        verify: str | None = None,
        context: Sequence[str] = (),
        tier: Tier | str | None = None,
        phase: str | None = None,
    ) -> WorktreeChange:
        """An agent that edits in a worktree of its own (``isolation="worktree"``): its
        change is gated (``paths`` globs, parse, tests not weakened, verify) and, passing,
        committed on a task branch. The user's working tree is never touched."""
        return await self._editing().edit(
            self, prompt, role=role, paths=tuple(paths), verify=verify, context=tuple(context),
            tier=tier, phase=phase,
        )

    async def assemble(self, commits: Sequence[str], branch: str) -> Assembly:
        """Merge ``commits`` (from ``run.edit``) onto ``branch``, based at the run's commit."""
        return await self._editing().assemble(list(commits), branch)

    @property
    def max_agents(self) -> int:
        """The total-agent backstop this run enforces."""
        return self._scheduler.max_agents

    @property
    def agents_started(self) -> int:
        """Agents started or replayed so far: what the ``max_agents`` backstop counts."""
        return self._scheduler.requested

    @property
    def models_available(self) -> bool:
        """False when no model service is configured: harnesses skip model phases and say so."""
        return self._client is not None

    @property
    def stopped(self) -> bool:
        """The budget or the backstop was hit: start nothing new, wrap up with what you have."""
        self.control.poll()
        return self._scheduler.stopped

    @property
    def stop_reason(self) -> str | None:
        return self._scheduler.stop_reason

    @property
    def concurrency(self) -> int:
        """Agents at once (pipelines size their tail by it)."""
        return self._scheduler.concurrency

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    def stop(self, reason: str) -> None:
        """Stop starting agents (the runner uses this; a harness may too)."""
        self._scheduler.stop(reason)

    def _stopped(self, reason: str) -> None:
        self.stats.partial = True
        self.stats.stop_reason = reason
        self.events.emit(Stopped(reason=reason))

    # phases and notes ---------------------------------------------------

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Group the agents started inside (this task and tasks it spawns) under ``name``."""
        token = _phase.set(name)
        self.events.emit(PhaseStarted(phase=name))
        try:
            yield
        finally:
            _phase.reset(token)
            self.events.emit(PhaseFinished(phase=name))

    def skip_phase(self, name: str, why: str = "") -> None:
        """Record that a phase did not run (e.g. no model service) and, given, why."""
        self.stats.skipped_phases.append(name)
        if why:
            self.note(f"skipped {name}: {why}")

    def note(self, message: str) -> None:
        """A line for the final report and the event log."""
        self.stats.notes.append(message)
        self.events.emit(Note(message=message))

    def progress(self, message: str) -> None:
        """A line for the live progress display and the event log, not the report."""
        self.events.emit(Note(message=message))

    # agents -------------------------------------------------------------

    async def ask(
        self,
        prompt: str,
        *,
        schema: type[M],
        role: str,
        tools: Sequence[Tool] | ToolGrant = (),
        phase: str | None = None,
        timeout: float | None = None,
        context: Sequence[str] = (),
        system: str | None = None,
        tier: Tier | str | None = None,
    ) -> M:
        """One sub-agent (``run.agent`` without isolation); returns a validated ``schema``
        instance.

        Raises ``AgentError`` when this agent fails (invalid output after the retry,
        timeout, turn limit), ``RunStopped`` when the run is stopped (no model call
        is made), ``ModelServiceError`` when the service refuses us (run-fatal).
        """
        tools = self.granted(tools)
        phase = phase if phase is not None else _phase.get()
        chosen = _tier(tier) if tier is not None else self.config.models.tier_for(role)
        model = self.config.models.model_for(chosen)
        system_text = system if system is not None else default_system(role)
        context = tuple(context)
        sched = self._scheduler
        sched.check()
        key = input_hash(
            model=model,
            role=role,
            tier=chosen.value,
            system=system_text,
            context=context,
            prompt=prompt,
            schema=schema,
            tool_names=[t.name for t in tools],
        )
        ordinal = self._ordinals[key]
        self._ordinals[key] = ordinal + 1
        call = next(self._calls)

        # Which call an event is about, and its journal key (the dashboard's drill-down).
        ident: dict[str, Any] = {
            "call": call, "role": role, "tier": chosen.value, "model": model, "phase": phase,
            "key": key, "ordinal": ordinal,
        }
        sizes: dict[str, Any] = {
            "prompt_chars": len(prompt), "context_chars": sum(len(c) for c in context)
        }
        stored = self._replay.get((key, ordinal))
        if stored is not None:
            sched.count_replayed()
            replayed = schema.model_validate_json(stored)
            self._account(phase, chosen, Usage(), 0.0, failed=False, replayed=True)
            self.events.emit(AgentFinished(**ident, **sizes, replayed=True))
            return replayed
        if self._client is None:
            raise ModelsUnavailable(NO_MODELS_MESSAGE)

        self.stats.budget_usd, self.stats.budget_tokens = sched.budget_usd, sched.budget_tokens
        max_tokens = self.config.models.max_tokens
        request = AgentRequest(
            model=model,
            role=role,
            system=system_text,
            context=context,
            prompt=prompt,
            schema=schema,
            tools=tuple(tools),
            max_turns=self.config.models.max_turns,
            max_tokens=max_tokens,
        )
        primer = await self._wait_for_cache(request)
        try:
            depth, tail = _position()
            await sched.acquire_slots(role, pipeline_priority(depth, tail=tail))
        except BaseException:
            if primer is not None:
                primer.set()
            raise
        ticket: int | None = None  # the scheduler's, once the first turn is admitted
        tools_called: list[str] = []
        announced = False
        live = Usage()
        try:

            async def before_turn(plan: TurnPlan) -> int:
                # Every turn reserves its worst case first (see reviewbot.runtime.scheduler).
                nonlocal ticket, announced
                if ticket is None:
                    await self.control.gate()  # a stop or pause asked from outside
                    ticket, granted = await sched.admit(
                        model, plan.input_tokens, plan.max_tokens, plan.min_tokens
                    )
                    announced = True
                    self.events.emit(AgentStarted(**ident))
                    return granted
                turn = await sched.next_turn(
                    ticket, plan.input_tokens, plan.max_tokens, plan.min_tokens
                )
                if turn is None:
                    booked = f"{plan.turn} turn{'s' if plan.turn != 1 else ''} booked"
                    raise TurnDenied(
                        f"stopped by the budget before turn {plan.turn + 1} ({booked})"
                    )
                return turn

            def on_usage(usage: Usage) -> None:
                nonlocal live
                live = live + usage
                if ticket is not None:
                    sched.book(ticket, usage, cost_usd(model, usage, self._pricing))
                if primer is not None:
                    primer.set()  # the first response is in: the prefix is cached

            request.on_usage = on_usage
            request.before_turn = before_turn
            request.on_tool = tools_called.append
            if self._latencies is not None:

                def hedge_spent(usage: Usage) -> None:
                    nonlocal live
                    live = live + usage
                    self.stats.hedges += 1

                request.hedge = AgentHedge(
                    self._latencies, (model, role), sched,
                    lambda m, u: cost_usd(m, u, self._pricing), hedge_spent,
                )
            limit = timeout if timeout is not None else self.config.runtime.agent_timeout
            started = time.perf_counter()
            error: str | None = None
            output: M | None = None
            try:
                # The conversation needs the SDK: imported by the first call that has a client.
                from reviewbot.models.agent import run_agent

                with anyio.fail_after(limit):
                    outcome = await run_agent(self._client, request)
            except TimeoutError:
                error, usage = f"timed out after {limit:g}s", live
            except AgentFailed as exc:
                error, usage = str(exc.reason), _max_usage(exc.usage, live)
            except BaseException:
                # Refused its first turn (RunStopped: it never started), run-fatal errors,
                # cancellation (Ctrl-C): what was spent is booked already; count it.
                if live.total_tokens:
                    spent = cost_usd(model, live, self._pricing)
                    self._account(phase, chosen, live, spent, failed=True, replayed=False)
                raise
            else:
                output, usage = outcome.output, _max_usage(outcome.usage, live)
            seconds = time.perf_counter() - started
            cost = cost_usd(model, usage, self._pricing)
        finally:
            if ticket is not None:
                sched.release(ticket)
            sched.release_slots(role)
            if primer is not None:
                primer.set()  # failed or stopped before answering: siblings go ahead anyway

        if self._journal is not None:
            self._journal.record_call(
                self.run_id,
                input_hash=key,
                ordinal=ordinal,
                role=role,
                model=model,
                tier=chosen.value,
                phase=phase,
                prompt=prompt,
                result_json=output.model_dump_json() if output is not None else None,
                usage=usage,
                cost=cost,
                duration=seconds,
                error=error,
            )
        self._account(phase, chosen, usage, cost, failed=error is not None, replayed=False)
        if error is not None:
            where = f" in phase {phase}" if phase else ""
            self.stats.errors.append(f"{role} agent{where}: {error}")
            self._failures.append(Failure(where=f"{role} agent{where}", error=error, role=role,
                                          phase=phase))
            if not announced:  # failed before its first turn (inputs that cannot be sent)
                self.events.emit(AgentStarted(**ident))
            self.events.emit(
                AgentFailure(**ident, **sizes, error=error, usage=usage, cost_usd=cost,
                             seconds=seconds, tools_called=tools_called)
            )
            raise AgentError(f"{role} agent failed: {error}", role=role, phase=phase)
        self.events.emit(
            AgentFinished(**ident, **sizes, usage=usage, cost_usd=cost, seconds=seconds,
                          tools_called=tools_called)
        )
        assert output is not None
        return output

    async def _wait_for_cache(self, request: AgentRequest[Any]) -> anyio.Event | None:
        """Let one agent write a shared prompt prefix to the cache before its siblings start.

        A cache entry is readable only once the request that wrote it has been answered,
        so siblings of a fan-out sent at the same moment would each pay the cache write
        (1.25x input) instead of a cache read (0.1x). The first agent with a cacheable
        prefix gets the returned event and sets it on its first response (or when it
        ends); the others wait for it, holding no concurrency slot while they wait.
        """
        if (
            not self.config.runtime.prime_caches
            or shared_prefix_tokens(request) < MIN_SHARED_PREFIX_TOKENS
        ):
            return None
        key = cache_prefix_key(request)
        primer = self._primers.get(key)
        if primer is None:
            primer = self._primers[key] = anyio.Event()
            return primer
        await primer.wait()
        return None

    def _account(
        self, phase: str | None, tier: Tier, usage: Usage, cost: float, *, failed: bool,
        replayed: bool,
    ) -> None:
        stats = self.stats
        for spend in (
            stats.total,
            stats.by_phase.setdefault(phase or NO_PHASE, Spend()),
            stats.by_tier.setdefault(tier.value, Spend()),
        ):
            spend.agents += 1
            spend.failed += failed
            spend.replayed += replayed
            if not replayed:
                spend.usage = spend.usage + usage
                spend.cost_usd += cost

    # composition ----------------------------------------------------------

    def _branch_failed(self, where: str, exc: Exception, item: int) -> None:
        if isinstance(exc, RunStopped):
            return  # the stop itself is reported once, not per branch
        if isinstance(exc, AgentError) and exc.role:
            return  # already recorded by `agent`
        self.record_branch_failure(where, f"{type(exc).__name__}: {exc}", item=item)

    def record_branch_failure(self, where: str, error: str, item: int | None = None) -> None:
        """A branch of ``parallel``/``pipeline`` failed (also relayed from a sandboxed one)."""
        self.stats.errors.append(f"{where}: {error}")
        self._failures.append(Failure(where=where, error=error, item=item))
        self.events.emit(BranchFailed(where=where, error=error))

    @property
    def failures(self) -> list[Failure]:
        """Branches that failed so far, structured (the harness decides what they mean)."""
        return list(self._failures)

    # One implementation, in the vote module: ``run.vote(claim, angles=...)`` is ``run_vote(run,
    # claim, angles=...)``.
    vote = run_vote


def _tier(value: Tier | str) -> Tier:
    try:
        return Tier(value)
    except ValueError:
        allowed = ", ".join(t.value for t in Tier)
        raise UsageError(f"unknown model tier {value!r}; use one of {allowed}") from None


def _max_usage(reported: Usage, live: Usage) -> Usage:
    """The agent's total usage: what it reported, or what we saw live if that is more."""
    return reported if reported.total_tokens >= live.total_tokens else live


if TYPE_CHECKING:

    def _implements_the_api(run: Run) -> HarnessRun:
        return run  # mypy checks that Run is exactly the typed runtime API
