"""Banks that can be hurt: a non-AI book that grows and loses in stress, and payouts restricted
by the capital conservation buffer.

Each bank's ``other_assets`` is its risk-weighted book outside the AI web (calibration: RWA at
weight 1). With this channel on, each month, for every live bank (all arrays (paths, agents)
USD bn unless stated):

* **Growth.** The book grows at ``book_growth`` a year, funded by deposits (``other_liab``):
  ``growth = other_assets x book_growth / 12`` on both sides, so RWA moves with lending and the
  capital ratio no longer rises on retained earnings alone. Assumption: US bank loans grew ~3% a
  year in 2023-25 (Federal Reserve H.8).
* **Losses that load on the macro state.** The calibration's ``non_ai_cash_flow`` is net income
  in a normal year (normal provisions included). Losses beyond normal, as an annual rate of the
  book, load on equity-market sentiment (the scenario's macro state) and on the rise of the base
  rate over its 2025 level::

      excess = min(base_loss x max((s_ref / max(sentiment, eps))^k - 1, 0)
                   + rate_loss x max(base_rate - r_ref, 0), loss_cap)
      loss   = other_assets x excess / 12

  Calibration: the Federal Reserve's DFAST severely adverse scenarios give loan loss rates of
  ~6-7% over nine quarters (2024: 6.4%; 2025: ~6.1%), against normal net charge-offs of
  ~0.6% a year (FDIC Quarterly Banking Profile 2024-25). With sentiment at 0.7 and the base rate
  +200bp (``severe``), the default parameters give ~2% a year beyond normal, ~6% over nine
  quarters with the normal losses; a deeper sentiment fall gives more, up to ``loss_cap``.
* **Payouts from earnings, restricted by the buffer.** Net income is grossed up to before
  distributions (``non_ai_cash_flow`` is what is retained at ``payout_ratio``:
  ``income = non_ai_cash_flow x payout_ratio / (1 - payout_ratio)``), and the bank pays out
  ``payout_ratio`` of the month's positive earnings (its equity change less equity raised and
  payouts already made) times the maximum payout share of the capital conservation buffer
  (Basel III RBC30.4; US 12 CFR 217.11 Table 1): with ``b = (CET1 ratio - minimum) /
  (requirement - minimum)`` the share of the buffer left, the share is 1 for ``b >= 1``, 0.6
  for ``b > 0.75``, 0.4 for ``b > 0.5``, 0.2 for ``b > 0.25`` and 0 otherwise.

So in stress the book's losses cut earnings and capital, payouts fall as capital enters the
buffer, and a bank that falls below its requirement stops new lending (``bank_regulation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param
from .state import per_agent

SENTIMENT_FLOOR = 1e-3  # sentiment below this counts as this (the loss cap binds long before)


@dataclass(frozen=True)
class BankCapitalParams:
    """Banks' non-AI book and payouts (config node ``banks``)."""

    book_growth: float = param(0.03, ge=-0.5, le=0.5, unit="annual rate",
                               doc="growth of banks' non-AI risk-weighted book, deposit-funded")
    base_loss: float = param(0.006, ge=0.0, le=0.2, unit="annual share of the book",
                             doc="normal net charge-off rate the sentiment loading scales")
    sentiment_elasticity: float = param(3.0, ge=0.0, le=20.0, unit="exponent",
                                        doc="losses scale as (reference sentiment / sentiment)^this")
    reference_sentiment: float = param(1.0, ge=0.0, le=10.0, unit="index",
                                       doc="sentiment at which losses are normal (the baseline calm level)")
    rate_loss: float = param(0.5, ge=0.0, le=10.0, unit="annual loss rate per unit of rate rise",
                             doc="extra annual loss rate per unit rise of the base rate over reference_rate")
    reference_rate: float = param(0.0375, ge=0.0, le=0.5, unit="annual rate",
                                  doc="base rate at which losses are normal (2025 level)")
    loss_cap: float = param(0.05, ge=0.0, le=1.0, unit="annual share of the book",
                            doc="ceiling on the excess annual loss rate")
    payout_ratio: float = param(0.8, ge=0.0, le=0.99, unit="share of earnings",
                                doc="dividends and buybacks out of positive earnings, before buffer limits")
    minimum: float = param(0.045, ge=0.0, le=0.5, unit="share of RWA",
                           doc="CET1 minimum: the bottom of the conservation-buffer zone")


def excess_loss_rate(xp: ModuleType, sentiment: Any, base_rate: Any, p: BankCapitalParams) -> Any:
    """(paths,) annual loss rate of the non-AI book beyond normal, from sentiment and the base
    rate (both (paths,))."""
    s = xp.maximum(sentiment, SENTIMENT_FLOOR)
    load = xp.maximum((p.reference_sentiment / s) ** p.sentiment_elasticity - 1.0, 0.0)
    rate = p.base_loss * load + p.rate_loss * xp.maximum(base_rate - p.reference_rate, 0.0)
    return xp.minimum(rate, p.loss_cap)


def book_month(
    xp: ModuleType, is_bank: Any, alive: Any, other_assets: Any, non_ai_cash_flow: Any, sentiment: Any,
    base_rate: Any, p: BankCapitalParams,
) -> tuple[Any, Any, Any]:
    """The month's (growth, gross-up income, loss) of each live bank's non-AI book, (paths,
    agents) USD bn each. is_bank: (agents,); non_ai_cash_flow: (agents,) or (paths, agents)."""
    live = alive & is_bank[None, :]
    growth = xp.where(live, other_assets * (p.book_growth / 12.0), 0.0)
    income = xp.where(live, per_agent(non_ai_cash_flow) * (p.payout_ratio / (1.0 - p.payout_ratio)), 0.0)
    rate = excess_loss_rate(xp, sentiment, base_rate, p)
    loss = xp.where(live, xp.maximum(other_assets + growth, 0.0) * (rate[:, None] / 12.0), 0.0)
    return growth, income, loss


def payout_share(xp: ModuleType, ratio: Any, req: Any, minimum: float) -> Any:
    """(paths, agents) maximum payout share of the conservation buffer (US 12 CFR 217.11):
    ratio (paths, agents) CET1 ratios, req (paths,) the requirement."""
    width = xp.maximum(req - minimum, 1e-12)[:, None]
    left = ratio - minimum
    share = xp.zeros_like(left)
    for floor, value in ((0.25, 0.2), (0.5, 0.4), (0.75, 0.6)):
        share = xp.where(left > floor * width, value, share)
    return xp.where(left >= width, 1.0, share)


def distributions(
    xp: ModuleType, is_bank: Any, alive: Any, earnings: Any, ratio: Any, req: Any, cash: Any,
    p: BankCapitalParams,
) -> Any:
    """(paths, agents) USD bn each live bank pays out this month: ``payout_ratio`` x positive
    earnings x its buffer's payout share, at most its cash."""
    share = payout_share(xp, ratio, req, p.minimum)
    paid = xp.minimum(p.payout_ratio * xp.maximum(earnings, 0.0) * share, xp.maximum(cash, 0.0))
    return xp.where(alive & is_bank[None, :], paid, 0.0)
