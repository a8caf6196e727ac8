"""Per-file task records, so a re-run or ``--resume`` redoes only unfinished files.

Model attempts are recorded too (the author's answer and the files it left), because an
agent's edits are side effects a replayed agent call would not repeat: a resumed task
re-applies a recorded attempt instead of asking the model again.

A task's key is (instruction, spec, verify command, file, base commit). A record is
written only when the task has a final outcome (migrated with its commit, failed at
a gate, skipped for a reason that a re-run would not change); a file that was in
flight when the process died has no record and is done again. A migrated record
counts only while its commit still exists in the repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from reviewbot.migrate.result import FileResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS migrate_tasks (
    key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    base TEXT NOT NULL,
    status TEXT NOT NULL,
    commit_sha TEXT,
    result TEXT NOT NULL,
    run_id TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS migrate_attempts (
    key TEXT NOT NULL,
    tier TEXT NOT NULL,
    answer TEXT NOT NULL,
    files TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (key, tier)
)
"""


def task_key(*, instruction: str, spec_key: str, verify: str | None, path: str, base: str) -> str:
    payload = json.dumps([instruction, spec_key, verify or "", path, base])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class TaskStore:
    """SQLite table ``migrate_tasks`` in ``<state dir>/migrate.sqlite`` (WAL; small writes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def get(self, key: str) -> FileResult | None:
        with self._lock:
            row = self._db.execute(
                "SELECT result FROM migrate_tasks WHERE key = ?", (key,)
            ).fetchone()
        return FileResult.model_validate_json(row[0]) if row else None

    def put(self, key: str, base: str, result: FileResult, run_id: str | None) -> None:
        stored = result.model_copy(update={"reused": False})
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO migrate_tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    result.path,
                    base,
                    result.status,
                    result.commit,
                    stored.model_dump_json(),
                    run_id,
                    time.time(),
                ),
            )

    def get_attempt(self, key: str, tier: str) -> tuple[str, dict[str, bytes | None]] | None:
        """A recorded model attempt: (the agent's answer as JSON, path -> content or None)."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer, files FROM migrate_attempts WHERE key = ? AND tier = ?", (key, tier)
            ).fetchone()
        if row is None:
            return None
        files = {
            p: None if c is None else base64.b64decode(c) for p, c in json.loads(row[1]).items()
        }
        return row[0], files

    def put_attempt(self, key: str, tier: str, answer: str, files: dict[str, bytes | None]) -> None:
        encoded = {p: None if c is None else base64.b64encode(c).decode() for p, c in files.items()}
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO migrate_attempts VALUES (?, ?, ?, ?, ?)",
                (key, tier, answer, json.dumps(encoded), time.time()),
            )

    def forget(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM migrate_tasks WHERE key = ?", (key,))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM migrate_tasks").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
