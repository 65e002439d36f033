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

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class MarketParams:
    """Feedback from the month's losses to spreads and sentiment; the loan market's discount."""

    spread_per_loss: float = param(0.5, ge=0.0, le=100.0, unit="annual spread per loss rate",
                                   doc="spread add-on per unit of loss rate (losses / AI debt)")
    sentiment_per_loss: float = param(5.0, ge=0.0, le=1000.0, unit="per loss rate",
                                      doc="sentiment drop per unit of loss rate")
    sentiment_per_default: float = param(0.1, ge=0.0, le=10.0, unit="per default",
                                         doc="sentiment drop per defaulting AI company")
    recovery: float = param(0.05, ge=0.0, le=1.0, unit="share a month",
                            doc="monthly healing toward calm (spread 0, sentiment the scenario's)")
    loan_sale_haircut: float = param(0.05, ge=0.0, lt=1.0, unit="share",
                                     doc="discount on loans banks and funds sell in a hurry")


def update(
    xp: ModuleType, spread: Any, sentiment: Any, calm_sentiment: float, loss_rate: Any,
    ai_defaults: Any, p: MarketParams,
) -> tuple[Any, Any]:
    """(market spread add-on (annual), sentiment), each (paths,).

    loss_rate: (paths,) this month's credit losses over loans outstanding at the month's start;
    ai_defaults: (paths,) AI companies defaulting this month; calm_sentiment: the scenario's.
    """
    s = (1.0 - p.recovery) * spread + p.spread_per_loss * loss_rate
    m = sentiment + p.recovery * (calm_sentiment - sentiment)
    m = m - p.sentiment_per_loss * loss_rate - p.sentiment_per_default * ai_defaults
    return s, xp.maximum(m, 0.0)
