"""The full review result as JSON: exactly the pydantic model, for machines."""

from __future__ import annotations

from reviewbot.review.findings import ReviewResult


def render_json(result: ReviewResult) -> str:
    return result.model_dump_json(indent=2) + "\n"
