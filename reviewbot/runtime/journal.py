"""The run journal: SQLite under the repository's git directory.

One row per run and one per finished agent call, keyed by a hash of the call's
inputs plus its ordinal among calls with the same inputs. A resumed run looks
each call up by that key and replays the stored result instead of calling the
model, so a run killed mid-way repeats only the calls that had not finished.

Writes are one small autocommit transaction each, in WAL mode with
``synchronous=NORMAL``: a committed row survives the process being killed, and
a write costs tens of microseconds, so it is done inline on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reviewbot.errors import UsageError
from reviewbot.git import shared_git_dir
from reviewbot.models.usage import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    harness_path TEXT NOT NULL,
    harness_hash TEXT NOT NULL,
    harness_name TEXT NOT NULL,
    params TEXT NOT NULL,
    repo_path TEXT,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    result TEXT,
    stats TEXT,
    pid INTEGER,
    host TEXT
);
CREATE TABLE IF NOT EXISTS agent_calls (
    run_id TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    tier TEXT NOT NULL,
    phase TEXT,
    prompt TEXT NOT NULL,
    result TEXT,
    usage TEXT,
    cost REAL NOT NULL DEFAULT 0,
    duration REAL NOT NULL DEFAULT 0,
    error TEXT,
    status TEXT NOT NULL,
    finished REAL NOT NULL,
    PRIMARY KEY (run_id, input_hash, ordinal)
);
"""


def state_dir(repo_path: Path | None, env: Mapping[str, str] = os.environ) -> Path:
    """Where reviewbot keeps its state for ``repo_path``.

    Inside a repository: ``<git dir>/reviewbot`` (the common git dir for linked
    worktrees, so every worktree shares one journal). Outside one:
    ``$XDG_STATE_HOME/reviewbot`` or ``~/.local/state/reviewbot``.
    """
    if repo_path is not None:
        gitdir = shared_git_dir(repo_path)
        if gitdir is not None:
            return gitdir / "reviewbot"
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "reviewbot"


def input_hash(
    *,
    model: str,
    role: str,
    tier: str,
    system: str | None,
    context: Sequence[str],
    prompt: str,
    schema: type[BaseModel],
    tool_names: Sequence[str],
) -> str:
    """The identity of an agent call: everything that decides what the model is asked."""
    h = hashlib.sha256()
    for part in (model, role, tier, system or "", *context, prompt):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    h.update(json.dumps(_schema_json(schema), sort_keys=True).encode("utf-8"))
    h.update(b"\x00")
    h.update("\x00".join(tool_names).encode("utf-8"))
    return h.hexdigest()


_SCHEMA_CACHE: dict[type[BaseModel], dict[str, Any]] = {}


def _schema_json(schema: type[BaseModel]) -> dict[str, Any]:
    # Building a JSON schema costs ~100 us; harnesses reuse a handful of schemas.
    cached = _SCHEMA_CACHE.get(schema)
    if cached is None:
        cached = _SCHEMA_CACHE[schema] = schema.model_json_schema()
    return cached


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RunRecord(BaseModel):
    id: str
    harness_path: str
    harness_hash: str
    harness_name: str
    params: dict[str, Any]
    repo_path: str | None
    status: str
    started: float
    finished: float | None
    result: Any = None
    stats: dict[str, Any] | None = None


def _observed_status(status: str, pid: int | None, host: str | None) -> str:
    """A run recorded as running whose process is gone was killed: say so (it resumes)."""
    if status != "running" or pid is None or host != socket.gethostname():
        return status
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "killed"
    except PermissionError:  # alive, owned by someone else
        return status
    return status


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        for column, kind in (("pid", "INTEGER"), ("host", "TEXT")):
            if column not in columns:  # a journal written before runs recorded their process
                self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")

    @classmethod
    def for_repo(cls, repo_path: Path | None, env: Mapping[str, str] = os.environ) -> Journal:
        return cls(state_dir(repo_path, env) / "journal.sqlite")

    def close(self) -> None:
        self._db.close()

    # runs -----------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        harness_path: Path,
        harness_hash: str,
        harness_name: str,
        params: Mapping[str, Any],
        repo_path: Path | None,
        restart: bool = False,
    ) -> bool:
        """Record the run as running; returns True when the id already existed (a resume).

        ``restart``: a new run under an id used before (its start, result and stats are
        replaced, not continued)."""
        existed = self.get_run(run_id) is not None
        if restart:
            self._db.execute("UPDATE runs SET started=?, result=NULL, stats=NULL WHERE id=?",
                             (time.time(), run_id))
        self._db.execute(
            "INSERT INTO runs (id, harness_path, harness_hash, harness_name, params, repo_path,"
            " status, started, pid, host) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET harness_path=excluded.harness_path,"
            " harness_hash=excluded.harness_hash, harness_name=excluded.harness_name,"
            " params=excluded.params, status='running', finished=NULL, pid=excluded.pid,"
            " host=excluded.host",
            (
                run_id,
                str(harness_path),
                harness_hash,
                harness_name,
                json.dumps(dict(params), sort_keys=True),
                str(repo_path) if repo_path is not None else None,
                time.time(),
                os.getpid(),
                socket.gethostname(),
            ),
        )
        return existed

    def finish_run(
        self, run_id: str, *, status: str, result: Any, stats: Mapping[str, Any]
    ) -> None:
        self._db.execute(
            "UPDATE runs SET status=?, finished=?, result=?, stats=? WHERE id=?",
            (status, time.time(), json.dumps(result), json.dumps(dict(stats)), run_id),
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(
            "SELECT id, harness_path, harness_hash, harness_name, params, repo_path, status,"
            " started, finished, result, stats, pid, host FROM runs WHERE id=?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        return RunRecord(
            id=row[0],
            harness_path=row[1],
            harness_hash=row[2],
            harness_name=row[3],
            params=json.loads(row[4]),
            repo_path=row[5],
            status=_observed_status(row[6], row[11], row[12]),
            started=row[7],
            finished=row[8],
            result=json.loads(row[9]) if row[9] is not None else None,
            stats=json.loads(row[10]) if row[10] is not None else None,
        )

    def require_run(self, run_id: str) -> RunRecord:
        record = self.get_run(run_id)
        if record is None:
            raise UsageError(
                f"no run '{run_id}' in {self.path}; list runs with `reviewbot resume --list`"
            )
        return record

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM runs ORDER BY started DESC LIMIT ?", (limit,)
            ).fetchall()
        ]
        return [r for r in (self.get_run(i) for i in ids) if r is not None]

    # agent calls ----------------------------------------------------------

    def finished_calls(self, run_id: str) -> dict[tuple[str, int], str]:
        """(input hash, ordinal) -> result JSON of every call that finished well."""
        rows = self._db.execute(
            "SELECT input_hash, ordinal, result FROM agent_calls WHERE run_id=? AND status='ok'",
            (run_id,),
        ).fetchall()
        return {(h, o): r for h, o, r in rows}

    def record_call(
        self,
        run_id: str,
        *,
        input_hash: str,
        ordinal: int,
        role: str,
        model: str,
        tier: str,
        phase: str | None,
        prompt: str,
        result_json: str | None,
        usage: Usage,
        cost: float,
        duration: float,
        error: str | None,
    ) -> None:
        self._db.execute(
            # A call that failed and runs again on resume keeps what the failed try cost.
            "INSERT INTO agent_calls (run_id, input_hash, ordinal, role, model, tier,"
            " phase, prompt, result, usage, cost, duration, error, status, finished)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, input_hash, ordinal) DO UPDATE SET role=excluded.role,"
            " model=excluded.model, tier=excluded.tier, phase=excluded.phase,"
            " prompt=excluded.prompt, result=excluded.result, usage=excluded.usage,"
            " cost=agent_calls.cost + excluded.cost, duration=excluded.duration,"
            " error=excluded.error, status=excluded.status, finished=excluded.finished",
            (
                run_id,
                input_hash,
                ordinal,
                role,
                model,
                tier,
                phase,
                prompt,
                result_json,
                usage.model_dump_json(),
                cost,
                duration,
                error,
                "ok" if error is None else "failed",
                time.time(),
            ),
        )

    def spent(self, run_id: str) -> float:
        """Dollars every journaled call of the run cost, over the first run and its resumes."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM agent_calls WHERE run_id=?", (run_id,)
        ).fetchone()
        return float(row[0])

    def call_counts(self, run_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM agent_calls WHERE run_id=? GROUP BY status", (run_id,)
        ).fetchall()
        return {status: n for status, n in rows}
