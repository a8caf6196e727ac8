"""Dollar cost of model usage: a built-in price table that configuration can override.

Prices are US dollars per million tokens, following Anthropic's published
pricing: a 5-minute cache write costs 1.25x the input price and a cache read
0.1x. Only 5-minute (default ``ephemeral``) cache breakpoints are written by
this package, so the 1-hour write price is not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping

from reviewbot.config import Price
from reviewbot.models.usage import Usage


def _price(input_: float, output: float) -> Price:
    return Price(input=input_, output=output, cache_write=input_ * 1.25, cache_read=input_ * 0.1)


_HAIKU = _price(1.0, 5.0)
_SONNET = _price(3.0, 15.0)
_OPUS = _price(5.0, 25.0)

BUILTIN_PRICES: Mapping[str, Price] = {
    "claude-haiku-5-5": _HAIKU,
    "claude-sonnet-5-5": _SONNET,
    "claude-opus-5-5": _OPUS,
    "claude-sonnet-5": _SONNET,
    "claude-opus-5": _OPUS,
    "claude-opus-4-8": _OPUS,
    "claude-opus-4-7": _OPUS,
    "claude-opus-4-6": _OPUS,
    "claude-sonnet-4-6": _SONNET,
    "claude-haiku-4-5": _HAIKU,
    "claude-haiku-4-5-20251001": _HAIKU,
    "claude-opus-4-5": _OPUS,
    "claude-opus-4-5-20251101": _OPUS,
    "claude-sonnet-4-5": _SONNET,
    "claude-sonnet-4-5-20250929": _SONNET,
}

# Checked in order: the first family named in an unknown id decides its price.
_FAMILIES: tuple[tuple[str, Price], ...] = (("haiku", _HAIKU), ("sonnet", _SONNET), ("opus", _OPUS))


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> Price:
    """The price of ``model``: a configured override, else the built-in table.

    An id missing from both is priced by its family name (``haiku``, ``sonnet``,
    ``opus``) and otherwise at the most expensive known price. Erring high keeps
    a dollar budget safe: a run may stop early, it never overspends because a
    model id was new. Users set ``models.pricing`` to price such a model exactly.
    """
    if overrides and model in overrides:
        return overrides[model]
    if model in BUILTIN_PRICES:
        return BUILTIN_PRICES[model]
    lowered = model.lower()
    for family, price in _FAMILIES:
        if family in lowered:
            return price
    known = [*BUILTIN_PRICES.values(), *(overrides or {}).values()]
    return max(known, key=lambda p: (p.output, p.input))


def is_priced(model: str, overrides: Mapping[str, Price] | None = None) -> bool:
    """Whether ``model`` has an exact price (configured or built in) rather than a fallback."""
    return bool(overrides and model in overrides) or model in BUILTIN_PRICES


def cost_usd(model: str, usage: Usage, overrides: Mapping[str, Price] | None = None) -> float:
    """Dollars for ``usage`` on ``model``; each token class at its own price."""
    price = price_for(model, overrides)
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    ) / 1_000_000
