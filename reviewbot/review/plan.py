"""The review plan, scaled to the change, and its cost estimate before anything is spent.

A tiny change gets one finder covering every dimension. A larger one gets one finder
per dimension and shard; shards are groups of files (neighbours by path, so a package
stays together) whose context fits under ``review.shard_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from reviewbot.config import Config, DimensionConfig, Tier
from reviewbot.models.pricing import price_for
from reviewbot.review.context import HeadView, estimate_tokens, file_blocks, symbol_block
from reviewbot.review.dimensions import general_dimension
from reviewbot.review.rules import ReviewRules

# Assumptions of the estimate, per agent. Low: findings are rare, one turn, cache hits.
# High: several tool turns, many candidates, every skeptic vote splits a third of the time.
SYSTEM_TOKENS = 700
TOOL_SCHEMA_TOKENS = 600
PROMPT_TOKENS = 350
TOOL_TURN_TOKENS = (0, 1_500)  # extra input per tool turn
FINDER_TURNS = (1, 4)
FINDER_OUTPUT = (250, 1_500)
CANDIDATES_PER_FINDER = (0.5, 3.0)
SURVIVE_GROUNDING_DEDUP = (0.5, 0.8)
SKEPTIC_INPUT = 2_000
SKEPTIC_TURNS = (1, 3)
SKEPTIC_OUTPUT = (150, 400)
ESCALATION_RATE = (0.0, 0.34)
JUDGE_INPUT = 3_000
JUDGE_OUTPUT = 400
SYNTH_INPUT_PER_FINDING = 150
SYNTH_OUTPUT = 400


class Shard(BaseModel):
    index: int
    paths: list[str]
    tokens: int  # estimated size of the shard's shared context


class CostEstimate(BaseModel):
    tokens_low: int
    tokens_high: int
    usd_low: float
    usd_high: float


class ReviewPlan(BaseModel):
    dimensions: list[str]  # the finders' dimensions ("general" for a tiny change)
    tiny: bool
    shards: list[Shard] = Field(default_factory=list)
    finders: int = 0
    skeptics_per_finding: int = 3
    agents: dict[str, tuple[int, int]] = Field(default_factory=dict)  # phase -> (low, high)
    estimate: CostEstimate | None = None
    changed_lines: int = 0


def changed_line_count(changes: Sequence[Any]) -> int:
    return sum(len(c.added_lines) + len(c.removed_lines) for c in changes)


def shard_files(sizes: Sequence[tuple[str, int]], limit: int) -> list[Shard]:
    """Pack files (sorted by path, so directories stay together) into shards under ``limit``."""
    shards: list[Shard] = []
    current: list[str] = []
    tokens = 0
    for path, size in sorted(sizes):
        if current and tokens + size > limit:
            shards.append(Shard(index=len(shards), paths=current, tokens=tokens))
            current, tokens = [], 0
        current.append(path)
        tokens += size
    if current:
        shards.append(Shard(index=len(shards), paths=current, tokens=tokens))
    return shards


def finder_dimensions(
    dimensions: Sequence[DimensionConfig], tiny: bool
) -> list[DimensionConfig]:
    return [general_dimension(dimensions)] if tiny else list(dimensions)


def plan_review(
    changes: Sequence[Any],
    head: HeadView,
    dimensions: Sequence[DimensionConfig],
    config: Config,
    symbols: Mapping[str, Sequence[Any]] | None = None,
    rules: ReviewRules | None = None,
) -> ReviewPlan:
    """``symbols``: the changed symbols assigned to each file (:func:`assign_symbols`); their
    callers block goes into the shard's context, so it counts toward the shard's size, as
    does the block of repository ``rules`` for the shard's files."""
    reviewable = [c for c in changes if str(getattr(c.status, "value", c.status)) != "deleted"]
    changed = changed_line_count(changes)
    tiny = changed <= config.review.tiny_change_lines and len(reviewable) <= 3
    assigned = symbols or {}

    def size(change: Any) -> int:
        mine = assigned.get(change.path, ())
        text = file_blocks(change, head, mine)[0] + symbol_block(mine, head)[0]
        return estimate_tokens(text)

    sizes = [(c.path, size(c)) for c in reviewable]
    shards = [] if not sizes else (
        [Shard(index=0, paths=sorted(p for p, _ in sizes), tokens=sum(t for _, t in sizes))]
        if tiny else shard_files(sizes, config.review.shard_tokens)
    )
    if rules is not None:
        for shard in shards:
            shard.tokens += estimate_tokens(rules.block(shard.paths))
    dims = finder_dimensions(dimensions, tiny)
    plan = ReviewPlan(
        dimensions=[d.name for d in dims], tiny=tiny, shards=shards,
        finders=len(dims) * len(shards), skeptics_per_finding=config.review.skeptics,
        changed_lines=changed,
    )
    plan.agents, plan.estimate = estimate(plan, dims, config)
    return plan


def _usd(config: Config, role: str, uncached: float, write: float, read: float, out: float,
         tier: Tier | None = None) -> float:
    model = config.models.model_for(tier or config.models.tier_for(role))
    p = price_for(model, config.models.pricing)
    return (uncached * p.input + write * p.cache_write + read * p.cache_read + out * p.output) / 1e6


def estimate(
    plan: ReviewPlan, dims: Sequence[DimensionConfig], config: Config
) -> tuple[dict[str, tuple[int, int]], CostEstimate]:
    """Agents per phase and a token/dollar range. Low assumes cache hits, high assumes none."""
    if not plan.shards:
        return {"find": (0, 0), "verify": (0, 0), "synthesize": (0, 0)}, CostEstimate(
            tokens_low=0, tokens_high=0, usd_low=0.0, usd_high=0.0)
    role = dims[0].role if dims else "finder"
    n_dims = len(dims)
    toks = [0.0, 0.0]
    usd = [0.0, 0.0]
    agents: dict[str, list[int]] = {"find": [plan.finders, plan.finders]}
    verified = [0, 0]
    for i, cached in ((0, True), (1, False)):
        for shard in plan.shards:
            prefix = SYSTEM_TOKENS + TOOL_SCHEMA_TOKENS + shard.tokens
            turns = FINDER_TURNS[i]
            per_turn_extra = TOOL_TURN_TOKENS[i]
            for d in range(n_dims):
                tail = PROMPT_TOKENS * turns + per_turn_extra * turns * (turns - 1) / 2
                if cached:
                    write = prefix if d == 0 else 0
                    read = prefix * turns - write
                    uncached = tail
                else:
                    write, read, uncached = 0, 0, prefix * turns + tail
                out = FINDER_OUTPUT[i]
                toks[i] += uncached + write + read + out
                usd[i] += _usd(config, role, uncached, write, read, out)
        candidates = plan.finders * CANDIDATES_PER_FINDER[i]
        findings = round(candidates * SURVIVE_GROUNDING_DEDUP[i])
        verified[i] = findings
        skeptics = findings * plan.skeptics_per_finding
        s_in = SKEPTIC_INPUT * SKEPTIC_TURNS[i]
        toks[i] += skeptics * (s_in + SKEPTIC_OUTPUT[i])
        usd[i] += skeptics * _usd(config, "skeptic", s_in, 0, 0, SKEPTIC_OUTPUT[i])
        judges = round(findings * ESCALATION_RATE[i])
        toks[i] += judges * (JUDGE_INPUT + JUDGE_OUTPUT)
        usd[i] += judges * _usd(config, "judge", JUDGE_INPUT, 0, 0, JUDGE_OUTPUT)
        s_in = SYSTEM_TOKENS + PROMPT_TOKENS + findings * SYNTH_INPUT_PER_FINDING
        toks[i] += s_in + SYNTH_OUTPUT
        usd[i] += _usd(config, "synthesizer", s_in, 0, 0, SYNTH_OUTPUT)
        agents.setdefault("verify", [0, 0])[i] = skeptics + judges
        agents.setdefault("synthesize", [1, 1])
    return (
        {k: (v[0], v[1]) for k, v in agents.items()},
        CostEstimate(tokens_low=round(toks[0]), tokens_high=round(toks[1]),
                     usd_low=round(usd[0], 4), usd_high=round(usd[1], 4)),
    )
