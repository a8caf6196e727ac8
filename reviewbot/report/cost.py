"""The one-line cost summary every run ends with."""

from __future__ import annotations

from reviewbot.config import Tier
from reviewbot.runtime.stats import RunStats


def human_count(n: int) -> str:
    """1234567 -> '1.23M', 85300 -> '85k', 950 -> '950'."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1_000:
        return f"{n / 1000:.1f}k"
    return str(n)


def human_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def dollars(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"


def cost_line(stats: RunStats) -> str:
    """E.g. ``cost: 212 agents (12 replayed, 3 failed) · 1.20M tokens in / 85k out ·
    cache read 61% · fast $0.31 · deep $0.90 · total $1.21 · 3m12s · PARTIAL (budget)``."""
    total = stats.total
    extras = []
    if total.replayed:
        extras.append(f"{total.replayed} replayed")
    if total.failed:
        extras.append(f"{total.failed} failed")
    agents = f"{total.agents} agent{'s' if total.agents != 1 else ''}"
    if extras:
        agents += f" ({', '.join(extras)})"
    usage = total.usage
    parts = [
        f"cost: {agents}",
        f"{human_count(usage.prompt_tokens)} tokens in / {human_count(usage.output_tokens)} out",
        f"cache read {usage.cache_read_share:.0%}",
    ]
    for tier in Tier:
        spend = stats.by_tier.get(tier.value)
        if spend is not None and spend.agents > spend.replayed:
            parts.append(f"{tier.value} {dollars(spend.cost_usd)}")
    parts.append(f"total {dollars(total.cost_usd)}")
    parts.append(human_duration(stats.wall_seconds))
    failed = failed_phases(stats)
    if failed:
        parts.append(f"FAILED ({', '.join(failed)}: no agent answered)")
    if stats.partial:
        reason = stats.stop_reason or "stopped"
        if reason == "budget":
            reason += "".join(f"; {left} unused" for left in budget_left(stats))
        parts.append(f"PARTIAL ({reason})")
    return " · ".join(parts)


def failed_phases(stats: RunStats | None) -> list[str]:
    """:meth:`RunStats.failed_phases` (none without stats)."""
    return stats.failed_phases() if stats is not None else []


def failed_message(stats: RunStats) -> str | None:
    """The error line of a run with a phase where no model agent answered (else None)."""
    failed = failed_phases(stats)
    if not failed:
        return None
    first = stats.errors[0] if stats.errors else "no agent answered"
    return (f"every model agent of the {', '.join(failed)} phase failed ({first}); check the "
            "model service and run again")


def budget_left(stats: RunStats) -> list[str]:
    """What the run left of each of its budgets, e.g. ``["$0.0031 of $0.02"]``.

    A budget stop leaves less than one model turn's worst case unspent: the next
    turn did not fit in it.
    """
    total = stats.total
    left = []
    if stats.budget_usd is not None:
        unused = max(stats.budget_usd - total.cost_usd, 0.0)
        left.append(f"{dollars(unused)} of {dollars(stats.budget_usd)}")
    if stats.budget_tokens is not None:
        unused_tokens = max(stats.budget_tokens - total.usage.total_tokens, 0)
        left.append(
            f"{human_count(unused_tokens)} of {human_count(stats.budget_tokens)} tokens"
        )
    return left
