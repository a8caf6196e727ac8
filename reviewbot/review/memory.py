"""What maintainers dismissed before, remembered across pull requests in the repository.

The memory is a file in the repository, ``.reviewbot/memory.json``, so it is reviewed and
versioned like code: the GitHub surface proposes additions through a small pull request,
``reviewbot memory list|forget`` shows and edits it. Like the rules it is read at the base,
so a pull request cannot dismiss its own findings by editing it.

A finding is like a remembered one when it is in the same file and has the same title, or a
similar one in the same category (word overlap): the code may have moved or changed. Such a
finding is not reported as open; it is listed as dismissed before, citing the memory entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError

from reviewbot.review.dedup import title_similarity
from reviewbot.review.findings import Finding, normalize_title

MEMORY_FILE = ".reviewbot/memory.json"
SIMILAR_TITLE = 0.5  # word overlap of two titles (same file and category) that counts as alike
MAX_MEMORY_BYTES = 2_000_000


class ReadView(Protocol):
    def exists(self, path: str) -> bool: ...

    def read(self, path: str) -> str: ...


class Titled(Protocol):
    """Anything that names a finding: a finding, a tracked one, a remembered one."""

    @property
    def path(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def title(self) -> str: ...


class Remembered(BaseModel):
    fingerprint: str
    path: str
    category: str
    title: str
    by: str = ""  # who dismissed it
    reason: str = ""
    pull: int | None = None  # where it was dismissed
    rule: str | None = None

    @property
    def id(self) -> str:
        return self.fingerprint[:10]

    def cite(self) -> str:
        where = f" in #{self.pull}" if self.pull else ""
        who = f" by {self.by}" if self.by else ""
        why = f": {self.reason}" if self.reason else ""
        return f"dismissed before{where}{who}{why} ({MEMORY_FILE} {self.id})"


def alike(a: Titled, b: Titled) -> bool:
    """Same file, and the same title or a similar one in the same category."""
    if a.path != b.path:
        return False
    if normalize_title(a.title) == normalize_title(b.title):
        return True
    return (a.category.lower() == b.category.lower()
            and title_similarity(a.title, b.title) >= SIMILAR_TITLE)


class Memory(BaseModel):
    version: int = 1
    dismissed: list[Remembered] = Field(default_factory=list)

    def match(self, finding: Finding) -> Remembered | None:
        return next((r for r in self.dismissed if alike(finding, r)), None)

    def add(self, entries: Iterable[Remembered]) -> list[Remembered]:
        """Add what is not remembered yet (by fingerprint); returns what was added."""
        known = {r.fingerprint for r in self.dismissed}
        added = []
        for entry in entries:
            if entry.fingerprint not in known:
                self.dismissed.append(entry)
                known.add(entry.fingerprint)
                added.append(entry)
        return added

    def forget(self, prefix: str) -> list[Remembered]:
        """Drop the entries whose id starts with ``prefix``; returns them."""
        gone = [r for r in self.dismissed if prefix and r.fingerprint.startswith(prefix)]
        self.dismissed = [r for r in self.dismissed if r not in gone]
        return gone

    def dumps(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def parse_memory(text: str, *, where: str) -> tuple[Memory, list[str]]:
    """The memory in ``text``; an unreadable file is an empty memory and a note."""
    if len(text) > MAX_MEMORY_BYTES:
        return Memory(), [f"{where} is larger than {MAX_MEMORY_BYTES} bytes; it was not read"]
    try:
        return Memory.model_validate_json(text), []
    except ValidationError as exc:
        return Memory(), [f"{where} is not a reviewbot memory ({exc.errors()[0]['msg']}); "
                          "it was not read"]


def read_memory(view: ReadView, *, at: str = "") -> tuple[Memory, list[str]]:
    try:
        if not view.exists(MEMORY_FILE):
            return Memory(), []
        text = view.read(MEMORY_FILE)
    except (FileNotFoundError, UnicodeDecodeError, ValueError):
        return Memory(), [f"{MEMORY_FILE} could not be read; it was not used"]
    return parse_memory(text, where=f"{MEMORY_FILE} at {at[:12]}" if at else MEMORY_FILE)


def set_aside_remembered(findings: list[Finding], memory: Memory) -> tuple[list[Finding],
                                                                            list[Finding]]:
    """(findings to report, findings like remembered dismissals with the memory cited)."""
    kept: list[Finding] = []
    remembered: list[Finding] = []
    for f in findings:
        entry = memory.match(f)
        if entry is None:
            kept.append(f)
        else:
            remembered.append(f.model_copy(update={"remembered": entry.cite()}))
    return kept, remembered
