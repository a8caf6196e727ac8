"""The history of a repository's runs, as JSON data: read from the journal and the run
event logs (what ``reviewbot runs``, ``reviewbot show``, the dashboard and the Action's job
summary show).

Nothing here writes. Every call opens the journal afresh, so a reader sees the rows a
running process commits.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from reviewbot.runtime.control import read_control
from reviewbot.runtime.journal import Journal, RunRecord

RUNS_LIMIT = 500
# statuses a run can have in the list (the journal's, plus "killed" for a vanished process)
STATUSES = ("running", "finished", "partial", "killed", "interrupted", "failed")


def journal_path(state: Path) -> Path:
    return state / "journal.sqlite"


def run_dir(state: Path, run_id: str) -> Path:
    return state / "runs" / run_id


def events_path(state: Path, run_id: str) -> Path:
    return run_dir(state, run_id) / "events.jsonl"


def _records(state: Path, run_id: str | None = None,
             limit: int = RUNS_LIMIT) -> list[tuple[RunRecord, float]]:
    """Journaled runs, newest first, each with what all its tries spent (a resume's stats
    book only what that try spent anew)."""
    if not journal_path(state).is_file():
        return []
    journal = Journal(journal_path(state))
    try:
        if run_id is not None:
            found = journal.get_run(run_id)
            records = [found] if found is not None else []
        else:
            records = journal.list_runs(limit=limit)
        return [(r, journal.spent(r.id)) for r in records]
    finally:
        journal.close()


def get_record(state: Path, run_id: str) -> RunRecord | None:
    found = _records(state, run_id)
    return found[0][0] if found else None


def read_events(state: Path, run_id: str) -> list[dict[str, Any]]:
    """The run's events as plain dicts (a torn last line of a live log is skipped)."""
    path = events_path(state, run_id)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def _duration(record: RunRecord, now: float) -> float:
    end = record.finished if record.finished is not None else now
    if record.status != "running" and record.finished is None:
        wall = (record.stats or {}).get("wall_seconds")
        return float(wall) if wall else 0.0
    return max(0.0, end - record.started)


def outcome_summary(result: Any) -> dict[str, Any]:
    """For reviews, findings and the funnel; for migrations, files per status."""
    if not isinstance(result, dict):
        return {}
    if isinstance(result.get("funnel"), dict):
        return {
            "kind": "review",
            "confirmed": len(result.get("findings") or []),
            "funnel": result["funnel"],
        }
    files = result.get("files")
    if isinstance(files, list) and all(isinstance(f, dict) and "status" in f for f in files):
        counts = Counter(str(f["status"]) for f in files)
        return {
            "kind": "migration",
            "files": dict(counts),
            **_shown_files([
                {"path": f.get("path"), "status": f.get("status"), "reason": f.get("reason", "")}
                for f in files
            ]),
        }
    return {}


# A 20,000-file migration's view is polled several times a second: its file table shows
# this many rows, every file that did not migrate first, then the latest migrated ones.
FILES_SHOWN = 500


def _shown_files(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``per_file`` (at most FILES_SHOWN rows) and ``per_file_total`` (all of them)."""
    total = len(rows)
    if total > FILES_SHOWN:
        others = [r for r in rows if r["status"] != "migrated"][:FILES_SHOWN]
        room = FILES_SHOWN - len(others)
        migrated = [r for r in rows if r["status"] == "migrated"]
        rows = others + (migrated[-room:] if room else [])
    return {"per_file": rows, "per_file_total": total}


def temporal_of(record: RunRecord) -> dict[str, Any] | None:
    """Where a distributed run's workflow is (workflow id, address, namespace, task queue);
    None for a run of this machine."""
    info = record.params.get("temporal") if record.params.get("engine") == "temporal" else None
    return info if isinstance(info, dict) else None


def _last(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((e for e in reversed(events) if e.get("type") == kind), None)


def _files_outcome(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A migration's files as far as a distributed run's log has them (it has no result
    yet): each finished file's last status, and the files not finished yet as pending."""
    status: dict[str, str] = {}
    for e in events:
        if e.get("type") == "file_done":
            status[str(e.get("path"))] = str(e.get("status"))
    if not status and _last(events, "progress") is None:
        return {}
    counts = Counter(status.values())
    progress = _last(events, "progress") or {}
    pending = int(progress.get("files") or 0) - len(status)
    if pending > 0:
        counts["pending"] = pending
    return {
        "kind": "migration",
        "files": dict(counts),
        **_shown_files([{"path": p, "status": s, "reason": ""} for p, s in status.items()]),
    }


def _live_totals(events: list[dict[str, Any]]) -> tuple[int, int, float]:
    """Agents ended, of them failed, and dollars, counted from the event log (a distributed
    run's from the last spend its workflow reported)."""
    progress = _last(events, "progress")
    if progress is not None:
        total = progress.get("total") or {}
        return (int(total.get("agents") or 0), int(total.get("failed") or 0),
                float(total.get("cost_usd") or 0.0))
    agents = failed = 0
    cost = 0.0
    for e in events:
        if e.get("type") in ("agent_finished", "agent_failed"):
            agents += 1
            failed += e.get("type") == "agent_failed"
            cost += float(e.get("cost_usd") or 0.0)
    return agents, failed, cost


def run_summary(state: Path, record: RunRecord, now: float | None = None,
                spent: float = 0.0) -> dict[str, Any]:
    """One row of the runs list (``spent``: what the journal booked over all tries)."""
    now = time.time() if now is None else now
    stats = record.stats or {}
    total = stats.get("total") or {}
    outcome = outcome_summary(record.result)
    temporal = temporal_of(record)
    control = read_control(run_dir(state, record.id))
    paused = False
    if record.status == "running" or not stats or (temporal is not None and not outcome):
        events = read_events(state, record.id)
        agents, failed, cost = _live_totals(events)
        if record.status == "running":
            # a workflow is paused when it says so; a local run when its control file does
            shown = _last(events, "progress") if temporal is not None else None
            paused = bool(shown.get("paused")) if shown else control == "pause"
        if temporal is not None and not outcome:
            outcome = _files_outcome(events)
    if record.status != "running" and stats:
        agents, failed = int(total.get("agents", 0)), int(total.get("failed", 0))
        cost = float(total.get("cost_usd", 0.0))
    return {
        "id": record.id,
        "harness": record.harness_name,
        "status": record.status,
        "started": record.started,
        "finished": record.finished,
        "duration": _duration(record, now),
        "agents": agents,
        "failed_agents": failed,
        "cost_usd": max(cost, spent),
        "stop_reason": stats.get("stop_reason"),
        "control": control,
        "paused": paused,
        "outcome": outcome,
        "temporal": temporal,
    }


def list_runs(state: Path, status: str | None = None,
              limit: int = RUNS_LIMIT) -> list[dict[str, Any]]:
    """The runs list, newest first; ``status``: keep only these (comma-separated); at most
    ``limit`` rows (of the newest ``RUNS_LIMIT`` runs)."""
    now = time.time()
    runs = [run_summary(state, r, now, spent) for r, spent in _records(state)]
    if status:
        wanted = set(status.split(","))
        runs = [r for r in runs if r["status"] in wanted]
    return runs[:limit]


def _usage_parts(usage: dict[str, Any] | None) -> tuple[int, int, int, int]:
    u = usage or {}
    return (
        int(u.get("input_tokens") or 0),
        int(u.get("output_tokens") or 0),
        int(u.get("cache_read_input_tokens") or 0),
        int(u.get("cache_creation_input_tokens") or 0),
    )


def _agents(events: list[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    """One row per agent call, from its start and end events (times relative to ``t0``)."""
    by_call: dict[int, dict[str, Any]] = {}
    for e in events:
        kind = e.get("type")
        if kind not in ("agent_started", "agent_finished", "agent_failed"):
            continue
        call = int(e.get("call") or 0)
        row = by_call.setdefault(
            call,
            {
                "call": call, "role": e.get("role"), "tier": e.get("tier"),
                "model": e.get("model"), "phase": e.get("phase") or "main",
                "status": "running", "start": None, "end": None, "replayed": False,
                "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
                "cache_write_tokens": 0, "cost_usd": 0.0, "seconds": 0.0, "error": None,
                "key": e.get("key"), "ordinal": e.get("ordinal"), "tools_called": [],
                "prompt_chars": None, "context_chars": None,
            },
        )
        ts = float(e.get("ts") or t0) - t0
        if kind == "agent_started":
            row["start"] = ts
            continue
        row["end"] = ts
        row["seconds"] = float(e.get("seconds") or 0.0)
        if row["start"] is None:
            row["start"] = ts - row["seconds"]
        inp, out, read, write = _usage_parts(e.get("usage"))
        row.update(
            input_tokens=inp, output_tokens=out, cache_read_tokens=read,
            cache_write_tokens=write, cost_usd=float(e.get("cost_usd") or 0.0),
            tools_called=list(e.get("tools_called") or []),
            prompt_chars=e.get("prompt_chars"), context_chars=e.get("context_chars"),
        )
        if kind == "agent_failed":
            row["status"], row["error"] = "failed", e.get("error")
        else:
            row["replayed"] = bool(e.get("replayed"))
            row["status"] = "replayed" if row["replayed"] else "finished"
    return sorted(by_call.values(), key=lambda r: r["call"])


def _phases(agents: list[dict[str, Any]], events: list[dict[str, Any]],
            now: float) -> list[dict[str, Any]]:
    order: list[str] = []
    for e in events:
        if e.get("type") == "phase_started" and e.get("phase") not in order:
            order.append(str(e["phase"]))
    for a in agents:
        if a["phase"] not in order:
            order.append(a["phase"])
    out = []
    for name in order:
        rows = [a for a in agents if a["phase"] == name]
        inp = sum(a["input_tokens"] for a in rows)
        read = sum(a["cache_read_tokens"] for a in rows)
        write = sum(a["cache_write_tokens"] for a in rows)
        starts = [a["start"] for a in rows if a["start"] is not None]
        ends = [a["end"] if a["end"] is not None else now for a in rows]
        prompt = inp + read + write
        out.append({
            "phase": name,
            "started": len(rows),
            "running": sum(1 for a in rows if a["status"] == "running"),
            "finished": sum(1 for a in rows if a["status"] == "finished"),
            "failed": sum(1 for a in rows if a["status"] == "failed"),
            "replayed": sum(1 for a in rows if a["status"] == "replayed"),
            "input_tokens": prompt,
            "output_tokens": sum(a["output_tokens"] for a in rows),
            "cache_read_share": read / prompt if prompt else 0.0,
            "cost_usd": sum(a["cost_usd"] for a in rows),
            "elapsed": (max(ends) - min(starts)) if starts and ends else 0.0,
        })
    return out


def _remote_phases(events: list[dict[str, Any]], t0: float,
                   now: float) -> list[dict[str, Any]]:
    """A distributed run's phases: the workflow's phases as it entered them, and what the
    agents of each phase spent on the workers (from the last spend it reported)."""
    spans: dict[str, list[float | None]] = {}
    for e in events:
        kind, ts = e.get("type"), float(e.get("ts") or t0) - t0
        if kind == "phase_started":
            spans.setdefault(str(e.get("phase")), [ts, None])
        elif kind == "phase_finished" and str(e.get("phase")) in spans:
            spans[str(e.get("phase"))][1] = ts
    by_phase = (_last(events, "progress") or {}).get("by_phase") or {}
    out = []
    for name in [*spans, *(p for p in by_phase if p not in spans)]:
        spend = by_phase.get(name) or {}
        inp, output, read, write = _usage_parts(spend.get("usage"))
        prompt = inp + read + write
        agents, failed = int(spend.get("agents") or 0), int(spend.get("failed") or 0)
        replayed = int(spend.get("replayed") or 0)
        start, end = spans.get(name, [None, None])
        out.append({
            "phase": name, "started": agents, "running": 0,
            "finished": max(0, agents - failed - replayed), "failed": failed,
            "replayed": replayed, "input_tokens": prompt, "output_tokens": output,
            "cache_read_share": read / prompt if prompt else 0.0,
            "cost_usd": float(spend.get("cost_usd") or 0.0),
            "elapsed": ((end if end is not None else now) - start) if start is not None else 0.0,
        })
    return out


def run_view(state: Path, run_id: str) -> dict[str, Any] | None:
    """Everything the run page shows (None: no such run)."""
    found = _records(state, run_id)
    if not found:
        return None
    record, all_spent = found[0]
    events = read_events(state, run_id)
    t0 = record.started
    if record.finished is not None:
        end = record.finished
    elif record.status == "running":
        end = time.time()
    else:  # killed: it ended with its last event
        end = max([float(e.get("ts") or t0) for e in events] + [t0])
    now = end - t0
    agents = _agents(events, t0)
    if record.status != "running":
        for a in agents:  # started but never ended: the process went away under it
            if a["status"] == "running":
                a["status"] = "unfinished"
    started = next((e for e in events if e.get("type") == "run_started"), {})
    budget = started.get("budget_usd")
    for e in reversed(events):  # a resumed run logs run_started again; the last one counts
        if e.get("type") == "run_started":
            budget = e.get("budget_usd")
            break
    spent = sum(a["cost_usd"] for a in agents)
    done = [a for a in agents if a["status"] in ("finished", "failed")]
    running = sum(1 for a in agents if a["status"] == "running")
    per_agent = spent / len(done) if done else 0.0
    projected = spent + running * per_agent  # the agents in flight at the average cost
    phases = _phases(agents, events, now)
    progress = _last(events, "progress")
    if progress is not None:  # the agents ran on a workflow's workers: its ledger
        spent = projected = float((progress.get("total") or {}).get("cost_usd") or 0.0)
        budget = progress.get("budget_usd", budget)
        phases = _remote_phases(events, t0, now)
    summary = run_summary(state, record, spent=all_spent)
    summary["cost_usd"] = max(summary["cost_usd"], spent)
    return {
        **summary,
        "params": record.params,
        "max_agents": started.get("max_agents"),
        "budget": {"budget_usd": budget, "spent_usd": spent, "projected_usd": projected},
        "elapsed": now,
        "phases": phases,
        "calls": agents,  # one row per agent call ("agents" is the count)
        "notes": [e.get("message") for e in events if e.get("type") == "note"],
        "stops": [e.get("reason") for e in events if e.get("type") == "stopped"],
        "errors": [e.get("where", "") + ": " + str(e.get("error")) for e in events
                   if e.get("type") == "branch_failed"],
        "stats": record.stats,
    }


def agent_detail(state: Path, run_id: str, call: int) -> dict[str, Any] | None:
    """One agent: its events plus the journal row that recorded it (matched by role,
    phase, model and finish time; rows carry no call number)."""
    view = run_view(state, run_id)
    if view is None:
        return None
    agent = next((a for a in view["calls"] if a["call"] == call), None)
    if agent is None:
        return None
    detail = dict(agent)
    detail["journal"] = _journal_row(state, run_id, agent, view["started"])
    return detail


def _journal_row(state: Path, run_id: str, agent: dict[str, Any],
                 t0: float) -> dict[str, Any] | None:
    path = journal_path(state)
    if not path.is_file():
        return None
    columns = ("SELECT role, model, tier, phase, prompt, result, usage, cost, duration, error,"
               " status, finished FROM agent_calls WHERE run_id=?")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if agent.get("key") is not None and agent.get("ordinal") is not None:
            # the events carry the journal's key: the row, exactly
            rows = db.execute(columns + " AND input_hash=? AND ordinal=?",
                              (run_id, agent["key"], agent["ordinal"])).fetchall()
            if rows:
                return _row_detail(rows[0])
        # older event logs: match by role, phase, model and finish time
        rows = db.execute(columns + " AND role=? AND model=?",
                          (run_id, agent["role"], agent["model"])).fetchall()
    finally:
        db.close()
    phase = None if agent["phase"] == "main" else agent["phase"]
    candidates = [r for r in rows if r[3] == phase or (phase is None and r[3] in (None, "main"))]
    if not candidates:
        return None
    end = t0 + (agent["end"] if agent["end"] is not None else 0.0)
    return _row_detail(min(candidates, key=lambda r: abs(r[11] - end)))


def _row_detail(best: tuple[Any, ...]) -> dict[str, Any]:
    result: Any = None
    if best[5] is not None:
        try:
            result = json.loads(best[5])
        except ValueError:
            result = best[5]
    return {
        "role": best[0], "model": best[1], "tier": best[2], "phase": best[3],
        "prompt": best[4], "prompt_chars": len(best[4]),
        "result": result, "result_chars": len(best[5] or ""),
        "usage": json.loads(best[6]) if best[6] else None,
        "cost_usd": best[7], "duration": best[8], "error": best[9], "status": best[10],
    }
