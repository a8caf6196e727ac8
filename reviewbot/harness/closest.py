"""The built-in harness closest to a task, for when no model can write one.

``reviewbot plan`` without a model service cannot have a harness written, so it picks
``review`` or ``migrate`` (by ``--kind``, else by the task's words) and fills in what
the task's words give: the instruction and a qualified symbol for ``migrate``; the
review dimensions the task names, and the task as the description, for ``review``.
Nothing here calls a model.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from reviewbot.config import Config
from reviewbot.review.dimensions import configured_dimensions

# Words that make a task a migration rather than a review or audit.
MIGRATE_WORDS = frozenset({
    "migrate", "migration", "replace", "rename", "upgrade", "port", "convert", "rewrite",
    "deprecated", "switch", "move",
})
_WORD = re.compile(r"[a-z][a-z0-9_+-]*")
# `requests.get`, `os.path.join`: a qualified name written in the task.
_SYMBOL = re.compile(r"`([A-Za-z_][\w.]*\.[A-Za-z_]\w*)`|\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b")
_SHORT = 5  # words shorter than this say little about a dimension ("find", "each")
_COMMON = frozenset({"change", "changes", "every", "which", "there", "these", "their", "where",
                     "about", "other", "without"})


class BuiltinChoice(BaseModel):
    name: str  # "review" or "migrate"
    reason: str  # why this one, in words
    params: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)  # what the user still has to say


def closest_builtin(task: str, kind: str | None, config: Config) -> BuiltinChoice:
    words = set(_WORD.findall(task.lower()))
    if kind == "migrate" or (kind is None and words & MIGRATE_WORDS):
        hits = sorted(words & MIGRATE_WORDS)
        reason = "--kind migrate" if kind else f"the task says {', '.join(map(repr, hits))}"
        return _migrate(task, reason)
    if kind is None:
        reason = "the task does not ask for a change to the code"
    else:
        reason = f"--kind {kind}"
    choice = BuiltinChoice(name="review", reason=reason, params={"description": task})
    names = [d.name for d in configured_dimensions(config.review) if _mentions(d.prompt, words)]
    if names:
        choice.params["dimensions"] = ",".join(names)
    if kind == "audit":
        choice.notes.append("review looks at a change (the branch against its base, and "
                            "uncommitted edits), not at the whole repository")
    return choice


def _migrate(task: str, reason: str) -> BuiltinChoice:
    choice = BuiltinChoice(name="migrate", reason=reason, params={"instruction": task})
    match = _SYMBOL.search(task)
    if match:
        choice.params["find"] = match.group(1) or match.group(2)
    else:
        choice.notes.append("the task names no qualified symbol: pass --param find=MODULE.NAME "
                            "(whose calls to migrate)")
    return choice


def _mentions(prompt: str, words: set[str]) -> bool:
    """Whether the task shares a telling word with a dimension's prompt."""
    prompt_words = set(_WORD.findall(prompt.lower()))
    return any(len(w) >= _SHORT and w in prompt_words for w in words - _COMMON)
