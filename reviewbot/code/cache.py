"""On-disk cache of call-site results per (query, blob id, language).

It lives in ``<git dir>/reviewbot/cache/calls.sqlite``.

Trees cannot be stored, and re-parsing is what costs, so the cache keeps what a
search produces: for every file it looked at, either "the byte prefilter ruled
it out" or the call sites found in it. A blob id names exact content, so an
entry never goes stale; a changed file simply has a new blob id. A second search
of an unchanged repository therefore reads no file and parses nothing.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import NamedTuple

from reviewbot.code.calls import RawSite

# Bump when what a search finds for the same input changes (new resolution rules...).
RESULTS_VERSION = 2

_FIELDS = tuple(RawSite.__dataclass_fields__)


class FileResult(NamedTuple):
    """What a search learned about one blob: sites (None: the prefilter ruled it out, never
    parsed), whether its tree had syntax errors, or why it was skipped."""

    sites: list[RawSite] | None
    errors: bool = False
    skip: str | None = None


class ResultsCache:
    """A small SQLite file; one row per (query key, blob id, language)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "calls.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (query TEXT NOT NULL, blob TEXT NOT NULL,"
            " lang TEXT NOT NULL, errors INTEGER NOT NULL, sites TEXT, skip TEXT,"
            " PRIMARY KEY (query, blob, lang)) WITHOUT ROWID"
        )

    def close(self) -> None:
        self._db.close()

    def load(self, query: str) -> dict[tuple[str, str], FileResult]:
        """Everything known for ``query``: (blob id, language) -> result."""
        key = f"{RESULTS_VERSION}:{query}"
        out: dict[tuple[str, str], FileResult] = {}
        for blob, lang, errors, sites, skip in self._db.execute(
            "SELECT blob, lang, errors, sites, skip FROM calls WHERE query = ?", (key,)
        ):
            decoded = None if sites is None else [RawSite(*row) for row in json.loads(sites)]
            out[(blob, lang)] = FileResult(decoded, bool(errors), skip)
        return out

    def store(self, query: str, rows: dict[tuple[str, str], FileResult]) -> None:
        self.store_many({query: rows})

    def store_many(self, rows_by_query: dict[str, dict[tuple[str, str], FileResult]]) -> None:
        """Store the results of several queries in one transaction."""
        encoded = [
            (
                f"{RESULTS_VERSION}:{query}",
                blob,
                lang,
                int(r.errors),
                None
                if r.sites is None
                else json.dumps([[getattr(s, f) for f in _FIELDS] for s in r.sites]),
                r.skip,
            )
            for query, rows in rows_by_query.items()
            for (blob, lang), r in rows.items()
        ]
        if not encoded:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?)", encoded)
