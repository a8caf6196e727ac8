"""The migration workflow: discover, batches of file tasks, assembly; the ledger of the
budget and the agent backstop.

Workflow code is replayed by Temporal to rebuild its state, so it must be deterministic:
no I/O, no clocks but ``workflow.now()``, no randomness. Everything that touches git, the
file system or a model is an activity (``reviewbot.temporal.activities``), named here by
string so this module imports only the message types.

Limits respected: at most ``max_in_flight`` batch activities pending (Temporal allows
2,000); each batch is one activity, so the history grows by a few events per batch and
the workflow continues as new (carrying its :class:`State`) before ``history_limit``
events; messages are paths, commit ids and short per-file records.

Signals: ``stop`` (no new batch starts, what finished is assembled into a partial result),
``pause`` (no new batch starts until ``resume``; the batches in flight finish and are
recorded; carried across continue-as-new) and ``resume``.
"""


import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from reviewbot.runtime.stats import RunStats
    from reviewbot.temporal.messages import (
        WORKFLOW_NAME,
        AssembleInput,
        AssembleOutput,
        BatchInput,
        BatchOutput,
        Files,
        MigrationRequest,
        Outcome,
        Plan,
        Progress,
        State,
    )

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                    maximum_attempts=8)
# The least a batch is granted when a budget is set: a grant smaller than one model turn's
# worst case would stop the batch's run before its first agent.
MIN_GRANT_USD = 0.10
# The fewest agents a batch is granted under --max-agents: one model tier of one file (its
# author and its skeptic), so that a grant can finish a file.
MIN_GRANT_AGENTS = 2
# A batch's grant: (dollars, agents) a batch may spend (None: that cap is not set), or the cap
# ("budget", "max_agents") whose remainder cannot cover another batch.
Grant = tuple[float | None, int | None] | str
FILES_PAGE = 2_000  # finished files one ``files`` query returns (well under 2 MB)


@workflow.defn(name=WORKFLOW_NAME)
class MigrationWorkflow:
    def __init__(self) -> None:
        self._progress = Progress()
        self._state: State | None = None
        self._stop: str | None = None
        self._pause: bool | None = None  # the last pause (True) or resume (False) signal

    @workflow.query
    def progress(self) -> Progress:
        return self._progress

    @workflow.query
    def files(self, since: int) -> Files:
        """The files finished from ``since`` on (a page), for the client's journal."""
        state = self._state
        if state is None:
            return Files()
        return Files(done=state.done[since:since + FILES_PAGE], count=len(state.done),
                     lost=list(state.lost), spent=state.spent, stopped=state.stopped)

    @workflow.signal
    def stop(self, reason: str) -> None:
        """No new batch starts; the running ones finish and what finished is assembled."""
        self._stop = self._stop or reason

    @workflow.signal
    def pause(self) -> None:
        """No new batch starts until ``resume``; the running ones finish and are recorded."""
        self._pause = self._progress.paused = True

    @workflow.signal
    def resume(self) -> None:
        self._pause = self._progress.paused = False

    @workflow.run
    async def run(self, request: MigrationRequest, state: State | None = None) -> Outcome:
        run_id = workflow.info().workflow_id
        started = workflow.now()
        if state is None:
            self._progress = Progress(budget_usd=request.budget_usd, max_agents=request.max_agents)
            plan = await workflow.execute_activity(
                "discover", args=[request, run_id], result_type=Plan,
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=timedelta(seconds=60), retry_policy=RETRY,
            )
            state = State(plan=plan, pending=list(plan.paths))
        self._show(request, state, "migrate", 0)
        drained = await self._batches(request, run_id, state)
        if not drained:
            state.paused = self._paused(state)
            state.wall_seconds += (workflow.now() - started).total_seconds()
            state.generation += 1
            workflow.continue_as_new(args=[request, state])
        self._show(request, state, "assemble", 0)
        assembled = await workflow.execute_activity(
            "assemble",
            AssembleInput(request=request, run=run_id, plan=state.plan,
                          results_commits=state.results_commits, lost=state.lost,
                          unstarted=state.unstarted, stopped=state.stopped,
                          partial=self._partial(request, state)),
            result_type=AssembleOutput, start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(seconds=60), retry_policy=RETRY,
        )
        state.wall_seconds += (workflow.now() - started).total_seconds()
        self._show(request, state, "done", 0)
        spent = state.spent
        stats = RunStats(
            run_id=run_id, harness="migrate", partial=state.stopped is not None,
            stop_reason=state.stopped, total=spent.total, by_tier=spent.by_tier,
            by_phase=spent.by_phase, budget_usd=request.budget_usd, errors=spent.errors,
            wall_seconds=state.wall_seconds,
        )
        return Outcome(report_commit=assembled.report_commit, branch=request.branch,
                       head=assembled.head, remote=request.remote, stats=stats,
                       executed=state.executed, reused=state.reused, batches=state.next_index,
                       generation=state.generation)

    async def _batches(self, request: MigrationRequest, run_id: str, state: State) -> bool:
        """Run batches until none is left (True), or until the history is long enough to
        continue as new (False: nothing is in flight then)."""
        in_flight: dict[asyncio.Task[BatchOutput], BatchInput] = {}
        while True:
            if self._stop is not None and state.stopped is None:
                state.stopped = self._stop
            state.paused = self._paused(state)
            long_history = self._history_is_long(request)
            while (not long_history and state.pending and state.stopped is None
                   and not state.paused and len(in_flight) < request.max_in_flight):
                grant = self._grant(request, state, in_flight)
                if isinstance(grant, str):
                    if not in_flight:  # nothing will hand back an unspent grant
                        state.stopped = grant
                    break
                batch = BatchInput(request=request, run=run_id, plan_commit=state.plan.commit,
                                   index=state.next_index, paths=state.pending[:request.batch_size],
                                   allowance_usd=grant[0], allowance_agents=grant[1])
                state.pending = state.pending[request.batch_size:]
                state.next_index += 1
                task = asyncio.ensure_future(workflow.execute_activity(
                    "migrate_batch", batch, result_type=BatchOutput,
                    start_to_close_timeout=timedelta(hours=4),
                    heartbeat_timeout=timedelta(seconds=request.heartbeat_seconds),
                    retry_policy=RETRY,
                ))
                in_flight[task] = batch
            self._show(request, state, "migrate", len(in_flight))
            waiting = state.paused and state.stopped is None and bool(state.pending)
            if not in_flight and not (waiting and not long_history):
                if state.stopped is not None:
                    state.unstarted.extend(state.pending)
                    state.pending = []
                return not state.pending
            waits: list[asyncio.Future[Any]] = list(in_flight)
            released: asyncio.Future[Any] | None = None
            if waiting:  # a resume (or a stop) wakes the loop with batches in flight or not
                released = asyncio.ensure_future(workflow.wait_condition(
                    lambda: self._pause is False or self._stop is not None))
                waits.append(released)
            finished, _ = await workflow.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if released is not None and not released.done():
                released.cancel()
            for task in [t for t in in_flight if t in finished]:  # in the order started
                batch = in_flight.pop(task)
                try:
                    out = task.result()
                except ActivityError:
                    state.lost.extend(batch.paths)  # failed on every try: reported per file
                    continue
                self._record(request, state, batch, out)

    def _paused(self, state: State) -> bool:
        """Paused by the last signal, else as the run before continue-as-new was."""
        return state.paused if self._pause is None else self._pause

    def _record(self, request: MigrationRequest, state: State, batch: BatchInput,
                out: BatchOutput) -> None:
        state.spent.add(out.spent)
        state.agents += out.agents
        state.lost_usd += out.lost_usd
        state.executed += out.executed
        state.reused += out.reused
        state.results_commits.append(out.results_commit)
        finished = out.files
        if out.stopped in ("budget", "max_agents"):
            unfinished = [d.path for d in out.files if not d.final]
            progressed = (len(unfinished) < len(batch.paths) or out.spent.total.cost_usd > 0
                          or out.agents > 0 or out.lost_usd > 0)
            if unfinished and progressed:
                # the batch's grant ran out, not the cap: its unfinished files go back in the
                # queue, for grants from what the budget and the agent cap still hold
                state.pending = unfinished + state.pending
                finished = [d for d in out.files if d.final]
            else:
                state.stopped = out.stopped  # a grant that could not buy one step: stop here
        state.done.extend(finished)

    def _grant(self, request: MigrationRequest, state: State,
               in_flight: dict[asyncio.Task[BatchOutput], BatchInput]) -> Grant:
        """What the next batch may spend and how many agents it may start: a share of what
        the budget and the agent cap hold after what was spent and what the batches in
        flight were granted (None: no such cap), or the cap that cannot cover a batch (none
        starts)."""
        free = request.max_in_flight - len(in_flight)
        usd: float | None = None
        if request.budget_usd is not None:
            reserved = sum(b.allowance_usd or 0.0 for b in in_flight.values())
            remaining = (request.budget_usd - state.spent.total.cost_usd - state.lost_usd
                         - reserved)
            if remaining < min(MIN_GRANT_USD, request.budget_usd) or remaining <= 0:
                return "budget"
            usd = min(remaining, max(remaining / free, MIN_GRANT_USD))
        agents: int | None = None
        if request.max_agents is not None:
            held = sum(b.allowance_agents or 0 for b in in_flight.values())
            left = request.max_agents - state.agents - held
            if left < min(MIN_GRANT_AGENTS, request.max_agents):
                return "max_agents"
            agents = min(left, max(left // free, MIN_GRANT_AGENTS))
        return usd, agents

    def _partial(self, request: MigrationRequest, state: State) -> bool:
        sample = 0 < request.limit < state.plan.files_found
        unfinished = any(not d.final for d in state.done)
        return sample or state.stopped is not None or bool(state.lost) or unfinished

    def _history_is_long(self, request: MigrationRequest) -> bool:
        info = workflow.info()
        return (info.get_current_history_length() >= request.history_limit
                or info.is_continue_as_new_suggested())

    def _show(self, request: MigrationRequest, state: State, phase: str, in_flight: int) -> None:
        self._state = state
        failed = sum(1 for d in state.done if d.status in ("failed", "dropped"))
        self._progress = Progress(
            phase=phase, files=len(state.plan.paths), done=len(state.done) - failed, failed=failed,
            batches_in_flight=in_flight, spent_usd=state.spent.total.cost_usd,
            budget_usd=request.budget_usd, agents=state.agents, max_agents=request.max_agents,
            executed=state.executed, reused=state.reused,
            generation=state.generation, paused=self._paused(state),
        )
