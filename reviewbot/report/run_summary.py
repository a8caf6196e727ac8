"""One run as Markdown for a GitHub job summary: phases, agents, cost, the funnel or the
files, and a mermaid gantt chart of when each agent ran (where barriers waste time).

It renders the run view of :mod:`reviewbot.runtime.history`, the data the dashboard and
``reviewbot show`` render. Only numbers and names the harness chose reach the page (no
model text: notes and errors stay in the report proper).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reviewbot.report.cost import dollars, human_count, human_duration
from reviewbot.report.runs import files_text, funnel_of, plural
from reviewbot.runtime.history import run_view

# More agents than this and the chart has one bar per phase (a job summary stays small).
MAX_BARS = 60
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 _.()/-]+")
_STATE = {"finished": "done", "replayed": "done", "failed": "crit", "running": "active",
          "unfinished": "active"}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _name(text: Any) -> str:
    """A mermaid task or section name: no ':' or ';' (its separators), no markup."""
    return _UNSAFE_NAME.sub(" ", str(text)).strip() or "-"


def _ms(seconds: float | None) -> int:
    return int(round(max(0.0, seconds or 0.0) * 1000))


def _axis_format(seconds: float) -> str:
    """Tick labels for a run this long (the chart's time 0 is the run's start)."""
    if seconds < 10:
        return "%S.%L"  # seconds and milliseconds
    return "%M:%S" if seconds < 3600 else "%H:%M"


def gantt(view: dict[str, Any]) -> str:
    """A mermaid gantt chart of the run's agents over time (seconds from its start)."""
    calls = [c for c in view.get("calls") or [] if c.get("start") is not None]
    end_of_run = float(view.get("elapsed") or 0.0)
    lines = ["```mermaid", "gantt", "    title Agents over time", "    dateFormat x",
             f"    axisFormat {_axis_format(end_of_run)}"]
    phases = [p["phase"] for p in view.get("phases") or []]
    per_phase = len(calls) > MAX_BARS
    for phase in phases:
        rows = [c for c in calls if c["phase"] == phase]
        if not rows:
            continue
        lines.append(f"    section {_name(phase)}")
        spans = [(_ms(c["start"]), _ms(c["end"] if c["end"] is not None else end_of_run), c)
                 for c in rows]
        if per_phase:
            start, end = min(s for s, _, _ in spans), max(e for _, e, _ in spans)
            failed = any(c["status"] == "failed" for c in rows)
            tag = "crit, " if failed else ""
            lines.append(f"    {plural(len(rows), 'agent')} :{tag}{start}, {max(end, start + 1)}")
            continue
        for start, end, c in spans:
            tag = _STATE.get(str(c["status"]), "done")
            lines.append(f"    {_name(c['role'])} {c['call']} :{tag}, {start}, "
                         f"{max(end, start + 1)}")
    lines.append("```")
    return "\n".join(lines)


def _row(name: str, p: dict[str, Any]) -> str:
    cells = [name, p["started"], p["finished"], p["failed"], p["replayed"],
             human_count(p["input_tokens"]), human_count(p["output_tokens"]),
             f"{p['cache_read_share']:.0%}", dollars(p["cost_usd"]), human_duration(p["elapsed"])]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def job_summary(view: dict[str, Any]) -> str:
    """The Markdown of one run view (see the module docstring)."""
    status = view["status"] + (f" ({view['stop_reason']})" if view.get("stop_reason") else "")
    head = (f"**{_cell(view['harness'])}** · {_cell(status)} · "
            f"{plural(int(view['agents']), 'agent')} · {dollars(float(view['cost_usd']))} · "
            f"{human_duration(float(view['duration']))}")
    out = [f"### reviewbot run `{_cell(view['id'])}`", "", head, ""]
    phases = view.get("phases") or []
    if phases:
        out += ["| phase | agents | finished | failed | replayed | tokens in | tokens out "
                "| cache read | cost | elapsed |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        out += [_row(_cell(p["phase"]), p) for p in phases]
        calls = view.get("calls") or []
        prompt = sum(p["input_tokens"] for p in phases)
        total = {k: sum(p[k] for p in phases) for k in
                 ("started", "finished", "failed", "replayed", "input_tokens", "output_tokens",
                  "cost_usd")}
        total.update(cache_read_share=(sum(c["cache_read_tokens"] for c in calls) / prompt
                                       if prompt else 0.0), elapsed=view["duration"])
        out += [_row("**total**", total), ""]
    outcome = view.get("outcome") or {}
    if outcome.get("kind") == "review":
        out += [f"**Funnel:** {funnel_of(outcome)}", ""]
    elif outcome.get("kind") == "migration":
        out += [f"**Files:** {files_text(outcome)}", ""]
    if any(c.get("start") is not None for c in view.get("calls") or []):
        out += [gantt(view), ""]
    return "\n".join(out)


def run_summary_markdown(state: Path, run_id: str) -> str | None:
    """:func:`job_summary` of the run ``run_id`` journaled under ``state`` (None: no such run)."""
    view = run_view(state, run_id)
    return job_summary(view) if view is not None else None
