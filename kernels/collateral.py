"""Secured lending and fire sales: what GPU collateral is worth, and what selling it costs.

Collateral value. A GPU earns rent for its economic life, not its accounting life, so a pool of
GPUs bought in vintages v with book values B_v (each depreciated over ``L_acc`` months) is worth
as collateral

    V = sum_v B_v x (P / P_v) x q x min(1, L_eco / L_acc) x (1 - haircut floor)
      = B x P x u x q x min(1, L_eco / L_acc) x (1 - haircut floor),   u = sum_v (B_v / P_v) / B

where P is the rental price index now, P_v the index when vintage v was bought, L_eco the
valuation life (the regime may shorten it) and q the used-GPU market's fire-sale discount index
(1 in calm markets). A GPU's resale value follows the rent *that* GPU earns, which has fallen by
P / P_v since it was bought (H100 rents from >$8/hour in 2023 to ~$1.70 in Oct 2025, SemiAnalysis;
used H100s resell at a similar discount): a GPU bought today is worth its cost less the haircut,
whatever the index has done since 2025. ``u`` (State.gpu_vintage) is carried per agent: unchanged
by depreciation and pro-rata sales (both scale every vintage alike), and on a purchase of C at
index P it becomes (B u + C / P) / (B + C) (:func:`add_vintage`). Valuing the whole book at P
alone, as before, marked a new GPU at the index's cumulative decline since the start of the run
(~0.55 of cost after 5 years at the baseline's -1%/month), so every GPU-backed borrower drifted
into its LTV covenant with the horizon, however it was run. But the index falls for two
reasons: newer, cheaper compute (which a new vintage escapes: a GPU bought today is bought at
today's price per unit of compute) and market conditions (a glut hits every vintage, the new
included). ``vintage_share`` s splits them: each vintage is valued at P / P_v^s, carried as
u = sum_v (B_v P_v^-s) / B; s = 1 is the pure-technology reading, s = 0 the old valuation.
s = 0.5 is an assumption (docs/calibration.md): GPU price-performance improves ~25-35% a year
(Epoch AI, FLOP/$ of ML GPUs), about the baseline's whole per-GPU rent decline, while 2025's
H100/H200 rent falls (-22%/-29%, RBC) were partly a supply glut.

Fire sales. GPUs of defaulted borrowers are sold into a market of limited depth ``D`` (USD bn of
book a month). Selling S moves the discount index by the exponential price-impact function of
Cont and Schaanning (2017, "Fire sales, indirect contagion and systemic stress testing", Norges
Bank working paper 2/2017, the market-depth form of their price impact) or the linear impact of
Greenwood, Landier and Thesmar (2015, "Vulnerable banks", JFE 115(3), 471-485, price impact
proportional to net sales). (Equation numbers in these papers were not verified here.)

    exponential: q' = q exp(-S / D)        average sale price  q (1 - exp(-S/D)) / (S/D)
    linear:      q' = q max(0, 1 - S / D)  average sale price  q (1 - S/(2D)), or q D/(2S) past D

Every holder's collateral is marked at the new q, which lowers other loans' coverage. The
discount heals by a share ``recovery`` of the gap to 1 each month.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param
from .state import per_agent

EXPONENTIAL, LINEAR = "exponential", "linear"


@dataclass(frozen=True)
class CollateralParams:
    """The market for used GPUs."""

    valuation_life_months: float = param(60.0, ge=1.0, le=1200.0, unit="months",
                                         doc="economic life over which a GPU earns its rent (collateral value)")
    depth: float = param(50.0, gt=0.0, le=1e6, unit="USD bn",
                         doc="GPU book sold in a month that moves the price by ~63% (exponential impact)")
    impact: str = param(EXPONENTIAL, choices=(EXPONENTIAL, LINEAR), doc="price-impact function of fire sales")
    recovery: float = param(0.1, ge=0.0, le=1.0, unit="share a month", doc="share of the fire-sale discount that heals")
    vintage_share: float = param(0.5, ge=0.0, le=1.0, unit="share",
                                 doc="share of the rental index's fall a newer GPU vintage escapes (1: rent relative "
                                 "to its own purchase; 0: every vintage at the index)")


def value_factor(
    xp: ModuleType, price: Any, q: Any, life_months: Any, valuation_life: float, haircut_floor: float,
    vintage: Any = None,
) -> Any:
    """(paths, agents) collateral value per USD bn of GPU book.

    price, q: (paths,) indices; life_months: (agents,) or (paths, agents) accounting lives;
    vintage: (paths, agents) u of :func:`add_vintage` (None: every GPU bought at index 1).
    """
    life = xp.minimum(valuation_life / per_agent(life_months), 1.0)
    rel = (price * q)[:, None] if vintage is None else (price * q)[:, None] * vintage
    return rel * life * (1.0 - haircut_floor)


def add_vintage(xp: ModuleType, gpu: Any, vintage: Any, purchase: Any, price: Any, share: float = 1.0) -> Any:
    """(paths, agents) u after buying ``purchase`` USD bn of GPUs at rental index ``price``
    ((paths,)) onto a book ``gpu`` (paths, agents) with vintage ``vintage``:
    (B u + C P^-share) / (B + C); unchanged where nothing is held after the purchase."""
    total = gpu + purchase
    safe = xp.where(total > 0, total, 1.0)
    new = (gpu * vintage + purchase * price[:, None] ** (-share)) / safe
    return xp.where(total > 0, new, vintage)


def impact(xp: ModuleType, q: Any, sold: Any, depth: float, kind: str) -> tuple[Any, Any]:
    """Price impact of selling ``sold`` (paths,) USD bn of GPU book at discount index ``q`` (paths,).

    Returns (the new index q', the average price factor the sellers got), both (paths,).
    """
    x = sold / depth
    if kind == EXPONENTIAL:
        safe = xp.where(x > 1e-12, x, 1.0)
        avg = xp.where(x > 1e-12, (1.0 - xp.exp(-x)) / safe, 1.0 - 0.5 * x)
        return q * xp.exp(-x), q * avg
    safe = xp.where(x > 1.0, x, 1.0)
    return q * xp.maximum(1.0 - x, 0.0), q * xp.where(x > 1.0, 0.5 / safe, 1.0 - 0.5 * x)


def heal(xp: ModuleType, q: Any, recovery: float) -> Any:
    """The discount index after a month's healing: q + recovery (1 - q)."""
    return q + recovery * (1.0 - q)


def liquidation(
    xp: ModuleType, q: Any, gpu: Any, new: Any, value_per_book: Any, recovery: float, depth: float,
    kind: str,
) -> tuple[Any, Any, Any]:
    """Estates of the defaulting ``new`` ((paths, agents) bool) sell their GPUs (``gpu``, book)
    into the used-GPU market at once, moving its discount index ``q`` (paths,) by the impact.

    value_per_book: (paths, agents) collateral value per USD of book before the sale; recovery:
    share of market value a liquidation realises. Returns (q after the sale (paths,), USD
    recovered per USD of book (paths, agents), the fire-sale discount (paths,) USD bn: proceeds
    below the pre-sale market value).
    """
    sold = xp.sum(xp.where(new, gpu, 0.0), axis=1)
    q_after, avg = impact(xp, q, sold, depth, kind)
    # a linear impact can take the market to zero: nothing more can be sold for anything
    realised = xp.where(q > 0, avg / xp.where(q > 0, q, 1.0), 0.0)
    price = recovery * value_per_book * realised[:, None]
    at_market = xp.sum(xp.where(new, gpu * recovery * value_per_book, 0.0), axis=1)
    return q_after, price, at_market * (1.0 - realised)
