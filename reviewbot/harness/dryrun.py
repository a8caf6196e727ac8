"""Dry run: how many agents a harness starts and what it would cost, spending nothing.

The harness runs for real (its control flow, the scheduler, the backstop) against a
*simulated model*: an Anthropic-compatible server on loopback that answers every
structured request with a schema-valid instance (``reviewbot harness dry-run``
uses the loopback server of ``reviewbot.testing`` with :func:`widen_schema` and
:func:`vary_strings`). Requests are real HTTP, so
the input sizes measured are those of the real prompts, system text, context and
schemas. Nothing is journaled and no state directory is touched: the run has no
journal and its events stay in memory.

Model answers steer control flow (a finder that returns three findings starts
three votes), so the simulated answers fill every list with ``items_per_list``
distinct items and every optional field; the count is exact for those answers,
and the report says which ones they were. Every simulated vote is unanimous, so the
dry run never counts judge escalations; the high estimate does not either.

Estimates, per agent call, priced with the configured models:

- low: the measured input (with the prompt-cache reads the server simulated) and
  the simulated answers' output tokens;
- high: every input token priced as a cache write (the dearest input class) and
  at least ``output_tokens_high`` output tokens per call.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import anyio
from pydantic import BaseModel, Field

from reviewbot.config import Config, Tier
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.harness.capabilities import RepoAccess
from reviewbot.harness.editing import EDIT_TASK_SUFFIX, EditAnswer
from reviewbot.harness.loader import Harness, coerce_params
from reviewbot.harness.workflows import run_workflow
from reviewbot.models import ModelAccess, cost_usd, make_client
from reviewbot.models.usage import Usage
from reviewbot.runtime.api import Assembly, WorktreeChange
from reviewbot.runtime.errors import AgentError, RunStopped
from reviewbot.runtime.events import AgentFailure, AgentFinished
from reviewbot.runtime.run import NO_PHASE, Run

DEFAULT_ITEMS_PER_LIST = 2
DEFAULT_OUTPUT_TOKENS_HIGH = 1024


class SimulatedModel(Protocol):
    """A running Anthropic-compatible server that answers with simulated output."""

    @property
    def base_url(self) -> str: ...

    @property
    def calls(self) -> int: ...


class DryRunReport(BaseModel):
    harness: str
    agents: int = 0
    failed: int = 0
    agents_by_phase: dict[str, int] = Field(default_factory=dict)
    agents_by_role: dict[str, int] = Field(default_factory=dict)
    agents_by_tier: dict[str, int] = Field(default_factory=dict)
    est_tokens_low: int = 0
    est_tokens_high: int = 0
    est_input_tokens: int = 0
    est_cost_low: float = 0.0
    est_cost_high: float = 0.0
    cost_high_by_tier: dict[str, float] = Field(default_factory=dict)
    hit_backstop: bool = False
    stop_reason: str | None = None
    max_agents: int
    model_requests: int = 0  # requests the simulated model answered
    items_per_list: int
    output_tokens_high: int
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        """A few lines for the terminal."""

        def counts(values: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

        lines = [
            f"dry run of {self.harness}: {self.agents} agents ({self.failed} failed) over "
            f"{self.model_requests} simulated requests; answers filled lists with "
            f"{self.items_per_list} distinct items",
            f"  by phase: {counts(self.agents_by_phase)}",
            f"  by role:  {counts(self.agents_by_role)}",
            f"  by tier:  {counts(self.agents_by_tier)}",
            f"  tokens:   {self.est_tokens_low:,} - {self.est_tokens_high:,} "
            f"(input measured {self.est_input_tokens:,})",
            f"  estimate: ${self.est_cost_low:.4f} - ${self.est_cost_high:.4f}",
        ]
        if self.hit_backstop:
            lines.append(f"  the backstop of {self.max_agents} agents stopped it: a real run "
                         "would stop there too (partial result)")
        for error in self.errors[:5]:
            lines.append(f"  error: {error}")
        return "\n".join(lines)


def widen_schema(schema: Mapping[str, Any], items_per_list: int) -> dict[str, Any]:
    """``schema`` with every property required and every array at least
    ``items_per_list`` long (within ``maxItems``): a minimal instance of the result
    is then a representative answer rather than an empty one."""
    out = copy.deepcopy(dict(schema))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "array" or "items" in node:
                wanted = items_per_list
                if "maxItems" in node:
                    wanted = min(wanted, int(node["maxItems"]))
                node["minItems"] = max(int(node.get("minItems", 0)), wanted)
            props = node.get("properties")
            if isinstance(props, dict):
                node["required"] = list(props)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def vary_strings(instance: Any, prefix: str) -> Any:
    """Make the placeholder strings of a minimal instance (``"x"``) distinct: ``"x-<prefix>-1"``,
    ... A list of n simulated findings then holds n different findings, so dedup in the
    harness does not collapse the simulated fan-out (an upper bound on real overlap)."""
    counter = [0]

    def walk(node: Any) -> Any:
        if node == "x":
            counter[0] += 1
            return f"x-{prefix}-{counter[0]}"
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return walk(instance)


class SimulatedEditing:
    """``run.edit`` in a dry run: the agent is asked (and costed), no worktree is touched,
    and every change counts as passing so that what the harness does next is costed too."""

    async def edit(
        self, run: Any, prompt: str, *, role: str, paths: Sequence[str], verify: str | None,
        context: Sequence[str], tier: Tier | str | None, phase: str | None,
    ) -> WorktreeChange:
        answer = await run.agent(prompt + EDIT_TASK_SUFFIX, schema=EditAnswer, role=role,
                                 context=context, tier=tier, phase=phase)
        return WorktreeChange(commit="0" * 40, branch="dry-run", passed=True,
                              reason=answer.summary)

    async def assemble(self, commits: Sequence[str], branch: str) -> Assembly:
        return Assembly(branch=branch, applied=list(commits))

    async def close(self) -> None:
        return None


def dry_run(
    harness: Harness,
    params: Mapping[str, Any],
    *,
    config: Config,
    model: SimulatedModel,
    api_key: str | None = None,
    items_per_list: int = DEFAULT_ITEMS_PER_LIST,
    output_tokens_high: int = DEFAULT_OUTPUT_TOKENS_HIGH,
    max_agents: int | None = None,
    workspace: Path | None = None,
) -> DryRunReport:
    """Run ``harness`` against ``model`` (a simulated model server) and estimate its cost.

    ``items_per_list`` must be what the simulated model fills lists with (it is
    reported, not enforced). The budget is not applied (the estimate is compared
    with it afterwards); the backstop is (``max_agents``, else the harness's META,
    else configuration), and ``hit_backstop`` says whether it stopped the run.
    """
    values = coerce_params(harness.meta, params)
    limit = max_agents or harness.meta.max_agents or config.runtime.max_agents
    unbudgeted = config.model_copy(update={
        "runtime": config.runtime.model_copy(update={"budget_usd": None, "budget_tokens": None})
    })
    report = DryRunReport(
        harness=harness.name, max_agents=limit, items_per_list=items_per_list,
        output_tokens_high=output_tokens_high,
    )
    by_phase: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    by_tier: Counter[str] = Counter()
    high_by_tier: dict[str, float] = {}
    pricing = config.models.pricing
    before = model.calls

    def observe(event: Any) -> None:
        if not isinstance(event, AgentFinished | AgentFailure):
            return
        if isinstance(event, AgentFinished) and event.replayed:
            return
        report.agents += 1
        report.failed += isinstance(event, AgentFailure)
        by_phase[event.phase or NO_PHASE] += 1
        by_role[event.role] += 1
        by_tier[event.tier] += 1
        usage = event.usage
        prompt = usage.prompt_tokens
        output_high = max(usage.output_tokens, output_tokens_high)
        report.est_input_tokens += prompt
        report.est_tokens_low += usage.total_tokens
        report.est_tokens_high += prompt + output_high
        report.est_cost_low += cost_usd(event.model, usage, pricing)
        worst = Usage(cache_creation_input_tokens=prompt, output_tokens=output_high)
        high = cost_usd(event.model, worst, pricing)
        report.est_cost_high += high
        high_by_tier[event.tier] = high_by_tier.get(event.tier, 0.0) + high

    async def simulate() -> Run:
        access = ModelAccess(api_key=api_key, base_url=model.base_url)
        client = make_client(access, config.models)
        run = Run(
            run_id="dry-run", config=unbudgeted, params=values, client=client,
            harness=harness.name, max_agents=limit, workspace=workspace,
            repo=RepoAccess(workspace) if workspace is not None else None,
            workflows=run_workflow, editor=SimulatedEditing(),
        )
        run.events.subscribe(observe)
        try:
            await harness.main(run, **values)
        except RunStopped:
            pass  # the backstop; recorded on the run
        except AgentError as exc:
            run.stats.errors.append(f"the harness let an agent failure end it: {exc.message}")
        finally:
            await client.close()
        return run

    try:
        run = anyio.run(simulate)
    except ReviewbotError:
        raise
    except Exception as exc:  # a bug in the harness: the user needs its message, not ours
        raise UsageError(
            f"harness {harness.name} failed in the dry run: {type(exc).__name__}: {exc}"
        ) from None
    report.agents_by_phase = dict(by_phase)
    report.agents_by_role = dict(by_role)
    report.agents_by_tier = dict(by_tier)
    report.cost_high_by_tier = dict(high_by_tier)
    report.stop_reason = run.stop_reason
    report.hit_backstop = run.stop_reason == "max_agents"
    report.errors = list(run.stats.errors)
    report.notes = list(run.stats.notes)
    report.model_requests = model.calls - before
    return report
