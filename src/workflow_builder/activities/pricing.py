"""What LLM calls cost: USD per one million tokens, per provider and model.

Prices are the providers' published list prices for standard (non-batch, uncached) use; edit
this table when they change. A model is matched by its exact name, else by the longest entry
its name starts with, so dated snapshots ("gpt-4o-2024-08-06") use their family's price.
Self-hosted models (vLLM, Ollama) are not listed: they cost 0, with a warning once per model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Price:
    """USD per one million prompt (input) and completion (output) tokens."""

    prompt_per_million: float
    completion_per_million: float


PRICES: dict[str, dict[str, Price]] = {
    "openai": {
        "gpt-5": Price(1.25, 10.00),
        "gpt-5-mini": Price(0.25, 2.00),
        "gpt-5-nano": Price(0.05, 0.40),
        "gpt-4o": Price(2.50, 10.00),
        "gpt-4o-mini": Price(0.15, 0.60),
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4.1-nano": Price(0.10, 0.40),
        "gpt-4-turbo": Price(10.00, 30.00),
        "gpt-3.5-turbo": Price(0.50, 1.50),
        "o1": Price(15.00, 60.00),
        "o1-mini": Price(1.10, 4.40),
        "o3": Price(2.00, 8.00),
        "o3-mini": Price(1.10, 4.40),
        "o4-mini": Price(1.10, 4.40),
    },
    "anthropic": {
        "claude-3-haiku": Price(0.25, 1.25),
        "claude-3-5-haiku": Price(0.80, 4.00),
        "claude-3-5-sonnet": Price(3.00, 15.00),
        "claude-3-7-sonnet": Price(3.00, 15.00),
        "claude-3-opus": Price(15.00, 75.00),
        "claude-sonnet-4": Price(3.00, 15.00),
        "claude-opus-4": Price(15.00, 75.00),
        "claude-opus-4-5": Price(5.00, 25.00),
        "claude-sonnet-4-5": Price(3.00, 15.00),
        "claude-haiku-4-5": Price(1.00, 5.00),
    },
}

_warned: set[tuple[str, str]] = set()


def price_of(provider: str, model: str) -> Price | None:
    """Return the model's price, or None when the table does not know it."""
    table = PRICES.get(provider, {})
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(f"{name}-")]
    return table[max(prefixes, key=len)] if prefixes else None


def cost_usd(provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Return the USD cost of a call (0 with a logged warning for an unknown model)."""
    price = price_of(provider, model)
    if price is None:
        if (provider, model) not in _warned:
            _warned.add((provider, model))
            logger.warning(
                "No price for %s model %r: its calls are counted as free", provider, model
            )
        return 0.0
    return (
        prompt_tokens * price.prompt_per_million + completion_tokens * price.completion_per_million
    ) / 1_000_000
