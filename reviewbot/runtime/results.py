"""What a vote returns: plain pydantic data, shared by the runtime and the sandbox process.

Kept apart from ``vote.py`` (which needs the model layer) so that a generated
harness's process can rebuild a ``VoteResult`` without importing a model client.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

VerdictValue = Literal["confirmed", "refuted"]


class Verdict(BaseModel):
    """What a skeptic or judge returns."""

    verdict: VerdictValue = Field(
        description="'confirmed' only if the claim holds; 'refuted' when it does not or when unsure"
    )
    reason: str = Field(description="the evidence for the verdict, briefly")


class Vote(BaseModel):
    angle: str
    verdict: VerdictValue
    reason: str
    model: str


class VoteResult(BaseModel):
    verdict: VerdictValue
    votes: list[Vote]
    escalated: bool = False
    judge: Vote | None = None

    @property
    def confirmed(self) -> bool:
        return self.verdict == "confirmed"
