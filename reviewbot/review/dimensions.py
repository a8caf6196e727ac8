"""Review dimensions: what each finder looks for. Configurable in ``[review] dimensions``."""

from __future__ import annotations

from collections.abc import Sequence

from reviewbot.config import DimensionConfig, ReviewConfig
from reviewbot.errors import UsageError

DEFAULT_DIMENSIONS: tuple[DimensionConfig, ...] = (
    DimensionConfig(
        name="correctness",
        prompt=(
            "Find correctness bugs the change introduces: wrong logic, off-by-one errors, "
            "wrong conditions, broken invariants, misuse of APIs, callers the change breaks, "
            "None/empty cases the new code mishandles."
        ),
    ),
    DimensionConfig(
        name="security",
        prompt=(
            "Find security problems the change introduces: injection (SQL, shell, template, "
            "path), unsafe deserialization, missing authorization or validation of untrusted "
            "input, secrets in code or logs, weak cryptography, SSRF."
        ),
    ),
    DimensionConfig(
        name="performance",
        prompt=(
            "Find performance regressions the change introduces: work repeated in loops, "
            "quadratic algorithms on unbounded input, N+1 queries, blocking calls on hot or "
            "async paths, unbounded memory growth."
        ),
    ),
    DimensionConfig(
        name="error-handling",
        prompt=(
            "Find error-handling problems the change introduces: swallowed exceptions, broad "
            "excepts that hide bugs, resources not released on error paths, errors reported "
            "with the wrong type or message, missing handling of failures that can happen."
        ),
    ),
    DimensionConfig(
        name="tests",
        prompt=(
            "Find testing problems in the change: new behaviour without tests, tests that "
            "cannot fail, assertions that check the wrong thing, tests that depend on order, "
            "time or the network."
        ),
    ),
)

GENERAL_DIMENSION_NAME = "general"


def configured_dimensions(config: ReviewConfig) -> list[DimensionConfig]:
    return list(config.dimensions) if config.dimensions else list(DEFAULT_DIMENSIONS)


def select_dimensions(config: ReviewConfig, names: Sequence[str] | None) -> list[DimensionConfig]:
    """The configured dimensions, narrowed to ``names`` (``--dimensions a,b``) when given."""
    available = configured_dimensions(config)
    if not names:
        return available
    by_name = {d.name: d for d in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UsageError(
            f"unknown review dimension {', '.join(unknown)}; choose from {', '.join(by_name)}"
        )
    return [by_name[n] for n in names]


def general_dimension(dimensions: Sequence[DimensionConfig]) -> DimensionConfig:
    """One finder covering every dimension, for changes too small to fan out."""
    body = "\n".join(f"- {d.name}: {d.prompt}" for d in dimensions)
    role = dimensions[0].role if dimensions else "finder"
    return DimensionConfig(
        name=GENERAL_DIMENSION_NAME,
        prompt=f"Review the change along every one of these dimensions:\n{body}",
        role=role,
    )
