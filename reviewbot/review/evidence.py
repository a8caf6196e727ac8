"""Deterministic evidence for a model finding: a test that was run against the head."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Outcome(StrEnum):
    REPRODUCED = "reproduced"  # the test failed at head for the stated reason: confirmed
    NOT_REPRODUCED = "not_reproduced"  # the test passed at head: evidence against, refuted
    INCONCLUSIVE = "inconclusive"  # could not run, timed out, failed otherwise: the vote decides


class Reproduction(BaseModel):
    """What the reproducer wrote and what running it at the head showed."""

    outcome: Outcome
    reason: str  # one line: why this outcome
    test_path: str = ""
    test: str = ""  # the test's source, offered as a suggested test when reproduced
    command: str = ""
    expected: str = ""  # the failure the reproducer predicted
    output: str = ""  # the end of the command's output
    seconds: float = 0.0
    attempts: int = 0
    tier: str = ""


def reproducing_test(verification: object | None) -> Reproduction | None:
    """The test that reproduced a finding (a finding's ``verification``), to show and offer
    as a suggested test; None when no test reproduced it."""
    proof = getattr(verification, "reproduction", None)
    if isinstance(proof, Reproduction) and proof.outcome is Outcome.REPRODUCED:
        return proof
    return None
