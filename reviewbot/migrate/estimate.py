"""The dry run's cost range for the files that need a model."""

from __future__ import annotations

from collections.abc import Sequence

from reviewbot.config import Config, Tier
from reviewbot.migrate.result import Estimate
from reviewbot.models import Usage, cost_usd

# An author agent reads the file and edits it in a few turns; each turn re-sends the
# conversation. These are planning numbers, not promises.
_TURNS = 4
_FIXED_PROMPT_TOKENS = 2_500  # system, tools, instruction, site listing
_OUTPUT_TOKENS = 1_500
_SKEPTIC = Usage(input_tokens=3_000, output_tokens=300)


def _author_usage(file_bytes: int) -> Usage:
    file_tokens = file_bytes // 4
    return Usage(
        input_tokens=_TURNS * (_FIXED_PROMPT_TOKENS + file_tokens), output_tokens=_OUTPUT_TOKENS
    )


def estimate_cost(config: Config, sources: Sequence[bytes]) -> Estimate:
    """Low: every file passes on the fast tier. High: every file needs all three tiers."""
    models = config.models
    pricing = models.pricing
    skeptic_model = models.model_for(Tier.FAST)
    low = high = 0.0
    for source in sources:
        usage = _author_usage(len(source))
        skeptic = cost_usd(skeptic_model, _SKEPTIC, pricing)
        low += cost_usd(models.model_for(Tier.FAST), usage, pricing) + skeptic
        high += sum(cost_usd(models.model_for(t), usage, pricing) + skeptic for t in Tier)
    return Estimate(model_files=len(sources), low_usd=round(low, 4), high_usd=round(high, 4))
