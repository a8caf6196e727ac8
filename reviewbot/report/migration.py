"""The migration report: counts by status and tier, failures by gate, cost, timings, the branch."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from reviewbot.migrate.result import MigrationResult
from reviewbot.report.cost import dollars, human_duration
from reviewbot.runtime.stats import RunStats

_ORDER = ("migrated", "skipped", "failed", "dropped")


def _indent(text: str, prefix: str = "      ", lines: int = 6) -> str:
    body = [line for line in text.strip().splitlines() if line.strip()][:lines]
    return "\n".join(prefix + line[:200] for line in body)


def render_dry_run(result: MigrationResult) -> str:
    out = [
        f'dry run: "{result.instruction}" at {result.base[:10]}',
        f"found {result.sites_found} sites in {result.files_found} files"
        + (
            f"; planning the first {len(result.plan)} (--limit)"
            if len(result.plan) < result.files_found
            else ""
        ),
    ]
    for plan in result.plan:
        lines = ", ".join(str(n) for n in plan.site_lines)
        if plan.rule_covers is None:
            how = "needs a model"
        elif plan.rule_covers:
            how = "rule tier"
        else:
            how = f"needs a model ({plan.rule_note})"
        out.append(f"  {plan.path}: lines {lines} · {how}")
    ruled = sum(1 for p in result.plan if p.rule_covers)
    est = result.estimate
    cost = (
        f"estimated {dollars(est.low_usd)}–{dollars(est.high_usd)}"
        if est and est.model_files
        else "estimated $0.00"
    )
    out.append(
        f"planned: {len(result.plan)} tasks · rule tier covers {ruled} · "
        f"{len(result.plan) - ruled} need a model · {cost}"
    )
    if est and est.model_files and not result.models_available:
        out.append("no model configured: files that need a model would be skipped")
    out.append(f"result branch would be {result.branch}")
    return "\n".join(out)


def render_text(result: MigrationResult, stats: RunStats | None = None) -> str:
    if result.dry_run:
        return render_dry_run(result)
    counts = result.counts()
    tiers = result.tier_counts()
    out: list[str] = [f'migrate: "{result.instruction}"']
    status = " · ".join(f"{counts[s]} {s}" for s in _ORDER if counts[s])
    by_tier = ", ".join(f"{t} {n}" for t, n in sorted(tiers.items()))
    out.append(
        f"files: {len(result.files)} of {result.files_found} · {status or 'nothing to do'}"
        + (f" (by tier: {by_tier})" if by_tier else "")
    )
    reused = sum(1 for f in result.files if f.reused)
    if reused:
        out.append(f"  {reused} reused from an earlier run (same instruction, rule, file and base)")
    site_counts = Counter(s.status for s in result.sites)
    out.append(
        "sites: "
        + " · ".join(
            f"{site_counts[s]} {s}" for s in ("migrated", "skipped", "failed") if site_counts[s]
        )
    )
    failures = result.failures_by_gate()
    if failures:
        out.append("failures by gate:")
        for gate, files in sorted(failures.items()):
            out.append(f"  {gate} ({len(files)}):")
            for f in files:
                out.append(f"    {f.path} [{f.status}] {f.reason}")
                if f.output.strip():
                    out.append(_indent(f.output))
    skipped = [f for f in result.files if f.status == "skipped"]
    if skipped:
        out.append("skipped:")
        out.extend(f"  {f.path}: {f.reason}" for f in skipped)
    kept = [(f.path, line, why) for f in result.files for line, why in f.kept_sites.items()]
    if kept:
        out.append("sites left as they were (explained):")
        out.extend(f"  {p}:{line}: {why}" for p, line, why in kept)
    asm = result.assembly
    if asm is not None and asm.verify is not None:
        verdict = "passed" if asm.verify.passed else "FAILED"
        extra = f" after {asm.bisect_rounds} bisection probes" if asm.bisect_rounds else ""
        out.append(f"assembled branch: --verify {verdict}{extra}")
        if not asm.verify.passed:
            out.append(_indent(asm.verify.output))
    migrated = counts["migrated"]
    if stats is not None:
        per_file = stats.total.cost_usd / migrated if migrated else 0.0
        out.append(f"cost per migrated file: {dollars(per_file)}")
    timing = " · ".join(f"{k} {human_duration(v)}" for k, v in sorted(result.timings.items()))
    out.append(
        f"wall-clock: {human_duration(result.wall_seconds)}"
        + (f" (summed over tasks: {timing})" if timing else "")
        + f" · peak worktrees on disk: {result.peak_worktrees}"
    )
    if result.stopped:
        out.append(
            f"stopped early ({result.stopped}): re-run the same command (or --resume) to finish"
        )
    if asm is not None and asm.head and asm.head != result.base:
        out.append(f"branch: {result.branch}")
        out.append(f"review it: git diff {result.base[:10]}..{result.branch}")
        if result.task_branches_deleted:
            out.append(f"task branches cleaned up: {result.task_branches_deleted}")
    else:
        out.append("no branch written: no change passed its gates")
    return "\n".join(out)


def render_json(result: MigrationResult, stats: RunStats | None = None) -> str:
    data: dict[str, Any] = result.model_dump(mode="json")
    data["sites"] = [s.model_dump(mode="json") for s in result.sites]
    data["counts"] = dict(result.counts())
    data["tiers"] = dict(result.tier_counts())
    if stats is not None:
        data["cost_usd"] = stats.total.cost_usd
    return json.dumps(data, indent=2)
