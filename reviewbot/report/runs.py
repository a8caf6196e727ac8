"""The runs list and one run's phase tree as terminal text (`reviewbot runs`, `reviewbot show`).

Both render the rows of :mod:`reviewbot.runtime.history`, the data the dashboard shows.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from reviewbot.report.cost import dollars, human_count, human_duration


def when(ts: float | None) -> str:
    """A run's start in local time, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def outcome_text(outcome: dict[str, Any]) -> str:
    """Confirmed findings of a review; files migrated/skipped/failed of a migration."""
    kind = outcome.get("kind")
    if kind == "review":
        return plural(int(outcome.get("confirmed") or 0), "finding")
    if kind == "migration":
        files = outcome.get("files") or {}
        pending = f", {files['pending']} pending" if files.get("pending") else ""
        return (f"{files.get('migrated', 0)} migrated, {files.get('skipped', 0)} skipped, "
                f"{files.get('failed', 0)} failed{pending}")
    return ""


def files_text(outcome: dict[str, Any]) -> str:
    """Every file status of a migration, the usual three first (dropped ones too)."""
    files = Counter(outcome.get("files") or {})
    order = ["migrated", "skipped", "failed", *sorted(set(files) - {"migrated", "skipped",
                                                                    "failed"})]
    return ", ".join(f"{files[s]} {s}" for s in order if files[s] or s in order[:3])


def funnel_of(outcome: dict[str, Any]) -> str:
    # Imported here: the review domain is a third of `reviewbot runs`' start-up, and only
    # review rows with a funnel need it.
    from reviewbot.report.markdown import funnel_text
    from reviewbot.review.findings import Funnel

    return funnel_text(Funnel.model_validate(outcome.get("funnel") or {}))


def status_text(row: dict[str, Any]) -> str:
    where = " on temporal" if row.get("temporal") else ""
    if row["status"] == "running":
        # a distributed run is paused once its workflow says so (pausing until then)
        state = ("paused" if row.get("paused") else
                 {"stop": "stopping", "pause": "pausing"}.get(str(row.get("control"))))
        if state:
            return f"running{where} ({state})"
    return f"running{where}" if row["status"] == "running" else str(row["status"])


def agents_text(row: dict[str, Any]) -> str:
    failed = int(row.get("failed_agents") or 0)
    return f"{row['agents']}" + (f" ({failed} failed)" if failed else "")


# (header, right-aligned)
_COLUMNS = [("RUN", False), ("HARNESS", False), ("STATUS", False), ("STARTED", False),
            ("DURATION", True), ("AGENTS", True), ("COST", True), ("OUTCOME", False)]


def runs_table(rows: list[dict[str, Any]]) -> str:
    """A header row and one aligned row per run (the dashboard's runs list)."""
    cells = [[h for h, _ in _COLUMNS]]
    for r in rows:
        outcome = outcome_text(r.get("outcome") or {})
        if r.get("stop_reason") and r["status"] != "running":
            outcome = f"{outcome} ({r['stop_reason']})" if outcome else str(r["stop_reason"])
        cells.append([
            r["id"], r["harness"], status_text(r), when(r["started"]),
            human_duration(float(r["duration"] or 0.0)), agents_text(r),
            dollars(float(r["cost_usd"] or 0.0)), outcome,
        ])
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if right else c.ljust(w)
                 for c, w, (_, right) in zip(row, widths, _COLUMNS, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _phase_line(p: dict[str, Any]) -> str:
    counts = [f"{p[k]} {k}" for k in ("running", "finished", "failed", "replayed") if p[k]]
    agents = plural(int(p["started"]), "agent") + (f" ({', '.join(counts)})" if counts else "")
    return (f"{agents} · {human_count(p['input_tokens'])} in / "
            f"{human_count(p['output_tokens'])} out · cache read {p['cache_read_share']:.0%} · "
            f"{dollars(p['cost_usd'])} · {human_duration(p['elapsed'])}")


def _roles(calls: list[dict[str, Any]], phase: str) -> list[str]:
    by_role: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in calls:
        if c["phase"] == phase:
            by_role.setdefault((str(c["role"]), str(c["tier"])), []).append(c)
    out = []
    for (role, tier), rows in by_role.items():
        failed = sum(1 for c in rows if c["status"] == "failed")
        tail = f", {failed} failed" if failed else ""
        out.append(f"{role} ({tier}) ×{len(rows)}{tail} · "
                   f"{dollars(sum(c['cost_usd'] for c in rows))}")
    return out


def run_tree(view: dict[str, Any]) -> str:
    """One run: its header, the phase tree (phases, then roles in each) and the totals."""
    status = status_text(view)
    if view.get("stop_reason") and view["status"] != "running":
        status += f" ({view['stop_reason']})"
    lines = [f"{view['harness']}  run {view['id']}  {status}"]
    budget = (view.get("budget") or {}).get("budget_usd")
    spend = dollars(float(view["cost_usd"] or 0.0))
    if budget:
        spend += f" of {dollars(float(budget))} budget"
    lines.append(f"started {when(view['started'])} · {human_duration(view['duration'])} · "
                 f"{plural(int(view['agents']), 'agent')} · {spend}")
    phases = view.get("phases") or []
    width = max([len(p["phase"]) for p in phases] + [len("total")])
    lines.append("")
    for i, p in enumerate(phases):
        last = i == len(phases) - 1
        lines.append(f"{'└─' if last else '├─'} {p['phase']:<{width}}  {_phase_line(p)}")
        roles = _roles(view.get("calls") or [], p["phase"])
        for j, role in enumerate(roles):
            lines.append(f"{'   ' if last else '│  '}{'└─' if j == len(roles) - 1 else '├─'} "
                         f"{role}")
    if not phases:
        lines.append("(no agents)")
    totals = {k: sum(p[k] for p in phases) for k in
              ("started", "running", "finished", "failed", "replayed", "input_tokens",
               "output_tokens", "cost_usd")}
    prompt = totals["input_tokens"]
    read = sum(c["cache_read_tokens"] for c in view.get("calls") or [])
    totals.update(phase="total", cache_read_share=read / prompt if prompt else 0.0,
                  elapsed=view["duration"])
    lines.append(f"   {'total':<{width}}  {_phase_line(totals)}")
    outcome = view.get("outcome") or {}
    if outcome.get("kind") == "review":
        lines += ["", f"funnel: {funnel_of(outcome)}"]
    elif outcome.get("kind") == "migration":
        lines += ["", f"files: {files_text(outcome)}"]
    for label, items in (("note", view.get("notes")), ("error", view.get("errors"))):
        for item in items or []:
            lines.append(f"{label}: {item}")
    return "\n".join(lines)
