"""The one channel between a generated harness's process and reviewbot.

One JSON object a line, in both directions, over the child's stdin and stdout.
What the child may ask is exactly the runtime API (``agent``, ``vote``, phases,
notes, branch failures) plus its result; each message is validated here as
untrusted input, with limits on every size, before the parent acts on it.
Nothing else crosses: no object, no file descriptor, no environment.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_MESSAGES = 200_000
MAX_PROMPT_CHARS = 400_000
MAX_CONTEXT_ITEMS = 64
MAX_CONTEXT_CHARS = 2_000_000
MAX_SCHEMA_BYTES = 64 * 1024
MAX_NOTE_CHARS = 2_000
MAX_NOTES = 500
MAX_ANGLES = 16
MAX_IN_FLIGHT = 4_096

_Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_. -]+$")]
_Text = Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]
_Context = Annotated[list[Annotated[str, Field(max_length=MAX_CONTEXT_CHARS)]],
                     Field(max_length=MAX_CONTEXT_ITEMS)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Tool sets a sandboxed harness may grant its agents, by name: "repo" is the read-only
# repository tools the review finders use (read, grep, list, find symbol, find callers).
Tools = Literal["none", "repo"]


class _Placed(_Message):
    """A call made at some place of the harness: its phase and pipeline position."""

    id: int = Field(ge=1)
    phase: _Name | None = None
    depth: int = Field(default=0, ge=0, le=64)
    tail: bool = False


class AgentCall(_Placed):
    op: Literal["agent"]
    prompt: _Text
    output_schema: dict[str, Any]
    schema_name: _Name
    role: _Name
    context: _Context = []
    system: _Text | None = None
    tier: _Name | None = None
    timeout: float | None = Field(default=None, gt=0, le=86_400)
    tools: Tools = "none"


class VoteCall(_Placed):
    op: Literal["vote"]
    claim: _Text
    angles: Annotated[list[Annotated[str, Field(max_length=2_000)]],
                      Field(min_length=1, max_length=MAX_ANGLES)]
    context: _Context = []
    role: _Name = "skeptic"
    judge_role: _Name = "judge"
    tools: Tools = "none"


class RepoCall(_Placed):
    """Read-only repository access (``run.repo``), answered from the commit the run reads."""

    op: Literal["repo"]
    method: Literal["files", "read", "grep", "diff", "find_calls", "changed_symbols"]
    path: Annotated[str, Field(max_length=1_000)] = ""
    pattern: Annotated[str, Field(max_length=1_000)] = ""
    # diff/changed_symbols: the change from ``base`` to HEAD; find_calls: ``pattern`` is the
    # qualified symbol
    base: Annotated[str, Field(max_length=200)] = ""


class PhaseEdge(_Message):
    op: Literal["phase"]
    name: _Name
    edge: Literal["start", "end"]


class NoteMessage(_Message):
    op: Literal["note"]
    text: Annotated[str, Field(max_length=MAX_NOTE_CHARS)]
    progress: bool = False  # a live-display line (run.progress), not one for the report


class BranchFailure(_Message):
    op: Literal["branch_failed"]
    where: Annotated[str, Field(max_length=200)]
    error: Annotated[str, Field(max_length=2_000)]
    item: int | None = Field(default=None, ge=0)


class SkipPhase(_Message):
    op: Literal["skip_phase"]
    name: _Name
    why: Annotated[str, Field(max_length=MAX_NOTE_CHARS)] = ""


class WorkflowCall(_Placed):
    """``run.workflow(name, **params)``: a built-in or saved harness run as a step by the
    parent, against the parent's run (its budget, journal and repository)."""

    op: Literal["workflow"]
    name: _Name
    params: dict[str, Any] = Field(default_factory=dict, max_length=64)


class Done(_Message):
    op: Literal["done"]
    result: Any = None


FailureKind = Literal["violation", "harness", "agent", "stopped", "usage"]


class Failed(_Message):
    op: Literal["failed"]
    kind: FailureKind
    message: Annotated[str, Field(max_length=4_000)]
    reason: Annotated[str, Field(max_length=200)] = ""


class Ready(_Message):
    op: Literal["ready"]
    enforced: list[Annotated[str, Field(max_length=100)]] = Field(max_length=20)


class EditCall(_Placed):
    """``run.edit``: an agent editing in a worktree of the parent's; no verify command
    crosses the boundary (a shell command is the user's to give, in configuration)."""

    op: Literal["edit"]
    prompt: _Text
    role: _Name = "author"
    paths: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list,
                                                                 max_length=100)
    context: _Context = []
    tier: _Name | None = None


class AssembleCall(_Placed):
    op: Literal["assemble"]
    commits: list[Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]] = Field(min_length=1,
                                                                          max_length=5_000)
    branch: Annotated[str, Field(min_length=1, max_length=200,
                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]


FromGuest = Annotated[
    AgentCall | VoteCall | RepoCall | WorkflowCall | EditCall | AssembleCall | PhaseEdge
    | NoteMessage | BranchFailure | SkipPhase | Done | Failed | Ready,
    Field(discriminator="op"),
]


@lru_cache(maxsize=1)
def _from_guest() -> TypeAdapter[FromGuest]:
    # Built on first use: only the parent parses, and the sandbox process starts faster.
    return TypeAdapter(FromGuest)


class ChannelError(Exception):
    """The other side sent something that is not a valid message."""


def parse_from_guest(line: bytes) -> FromGuest:
    """One message from the sandboxed process, validated; ``ChannelError`` otherwise."""
    if len(line) > MAX_MESSAGE_BYTES:
        raise ChannelError(f"a message of more than {MAX_MESSAGE_BYTES} bytes")
    try:
        message = _from_guest().validate_json(line)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ChannelError(f"an invalid message ({where}: {err['msg']})") from None
    if isinstance(message, AgentCall) and len(json.dumps(message.output_schema)) > MAX_SCHEMA_BYTES:
        raise ChannelError(f"an output schema of more than {MAX_SCHEMA_BYTES} bytes")
    return message


def encode(message: BaseModel | dict[str, Any]) -> bytes:
    """One line of the channel."""
    if isinstance(message, BaseModel):
        data = message.model_dump_json(exclude_none=False)
    else:
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return data.encode("utf-8") + b"\n"
