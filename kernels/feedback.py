"""Market feedback: credit spreads and equity sentiment respond to the month's losses.

The loop from lost revenue to lost funding to more losses (DESIGN.md, section 1): defaults and
credit losses widen the market credit spread paid on floating and new debt and depress equity
sentiment, which scales how much equity AI labs and neoclouds can raise. Both heal toward calm
at a monthly rate. A reduced form of the spread/fire-sale feedback in Brunnermeier and Pedersen
(2009, "Market liquidity and funding liquidity", RFS 22(6)) and the sentiment channel of
Gennaioli and Shleifer's diagnostic expectations; the coefficients are parameters, not estimates.

    spread'    = (1 - k) spread + a x loss rate
    sentiment' = sentiment + k (s0 - sentiment) - b x loss rate - c x AI defaults, floored at 0
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def update(
    xp: ModuleType, spread: Any, sentiment: Any, calm_sentiment: float, loss_rate: Any,
    ai_defaults: Any, spread_per_loss: float, sentiment_per_loss: float,
    sentiment_per_default: float, recovery: float,
) -> tuple[Any, Any]:
    """(market spread add-on (annual), sentiment), each (paths,).

    loss_rate: (paths,) this month's credit losses over loans outstanding at the month's start;
    ai_defaults: (paths,) AI companies defaulting this month.
    """
    s = (1.0 - recovery) * spread + spread_per_loss * loss_rate
    m = sentiment + recovery * (calm_sentiment - sentiment)
    m = m - sentiment_per_loss * loss_rate - sentiment_per_default * ai_defaults
    return s, xp.maximum(m, 0.0)
