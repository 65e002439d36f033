"""Committed capex: GPU orders placed ahead of delivery, which must be paid when they arrive.

Without it capex is discretionary month by month: a compute provider short of money simply buys
fewer GPUs, so a funding squeeze or a demand slump only cuts investment and can never make a firm
default within a year, and ``ai_winter`` *lowers* neocloud default risk (less demand, less
borrowing). In the market GPUs and data-centre capacity are bought on non-cancellable purchase
orders placed quarters ahead (Nvidia's Blackwell lead times of about a year in late 2024;
CoreWeave's 2025 capex slipped a quarter with one developer's late power shell, Q3 2025 call),
and the committed deliveries must be paid whatever the month's funding -- "compute equals
commitments".

Time to build in the reduced form of a geometric delivery lag (Kydland and Prescott 1982 use a
fixed lag; a geometric one needs one state per firm). Each compute provider keeps a book ``B`` of
GPUs ordered and not yet delivered (USD bn). Each month

    D_t     = B_t / L                       deliveries due (mean lag L months)
    wanted  = max(plan_t, D_t)              the month's capex is at least what arrives
    B_{t+1} = B_t - D_t + c_s min(plan_t, K_t)   new orders: a share c_s of the capex planned and funded

with ``plan_t`` the capex the firm plans on its current expectations (after the compute market's
response), ``K_t`` the capex it financed this month from its regular sources (spare cash, new
loans, new equity; not the liquidity it drew to pay deliveries) and ``c_s`` its sector's committed
share. A firm orders ahead what it both wants and can fund today -- not a plan its financing has
long stopped covering (the model's plans follow demand, which can outrun any balance sheet), and
not at the pace of deliveries it is paying by running down its cash -- and stops ordering when
its plan falls. In growth ``plan_t`` exceeds ``D_t`` (orders placed months ago
on lower spending) and the channel changes nothing; when demand, prices or funding fall,
deliveries keep coming. At the start the book is at its steady state for the
calibrated capex, ``B_0 = L c_s capex``.

The wanted capex is financed as any capex (spare cash, new loans, new equity). If that leaves part
of ``D_t`` unpaid, the firm pays the rest from its remaining cash and then its liquid securities
(sold at par); what is still unpaid is a payment default to the supplier, counted as illiquidity
in the month's resolution (11 U.S.C. 303: an unpaid trade creditor can file). The supplier keeps
the undelivered GPUs: no flow, so cash is conserved.

Units: USD bn; L months; c_s a share of planned capex; all arrays (paths, agents).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import by_sector, param

UNPAID_TOL = 1e-12  # USD bn: an unpaid delivery below this is rounding, not a default


def _share(v: float, doc: str) -> float:
    return param(v, ge=0.0, le=1.0, unit="share of planned capex", doc=doc)


@dataclass(frozen=True)
class CapexOrderParams:
    """Delivery lag and each sector's committed share. docs/calibration.md gives what each value rests on."""

    lead_months: float = param(6.0, ge=1.0, le=36.0, unit="months",
                               doc="mean delivery lag of ordered GPU capacity (geometric)")
    committed_chipmaker: float = _share(0.0, "chipmakers plan no GPU capex")
    committed_hyperscaler: float = _share(0.5, "share of hyperscalers' planned capex ordered ahead (non-cancellable)")
    committed_neocloud: float = _share(0.8, "share of neoclouds' planned capex ordered ahead (non-cancellable)")
    committed_ai_lab: float = _share(0.0, "AI labs plan no GPU capex (they rent)")
    committed_private_credit: float = _share(0.0, "private-credit funds: none")
    committed_bank: float = _share(0.0, "banks: none")
    committed_spv: float = _share(0.0, "SPVs: none")


def sector_shares(p: CapexOrderParams, sectors: list[str]) -> list[float]:
    """Each agent's committed share from its sector; a sector without one is an error naming the key."""
    return by_sector(p, "committed", sectors, "capex_orders", "CapexOrderParams (kernels/capex_orders.py)")


def initial_book(capex: Any, share: Any, lead_months: float) -> Any:
    """(agents,) USD bn of orders outstanding at the start: the steady state L c capex."""
    return capex * share * lead_months


def deliveries(xp: ModuleType, book: Any, alive: Any, lead_months: float) -> Any:
    """(paths, agents) USD bn of ordered GPUs arriving this month, B / L (none to the dead)."""
    return xp.where(alive, book / lead_months, 0.0)


def step_book(xp: ModuleType, book: Any, due: Any, plan: Any, capex: Any, share: Any, alive: Any) -> Any:
    """(paths, agents) the order book after this month's deliveries and new orders c min(plan, capex);
    capex: what the month's regular financing paid for."""
    return xp.where(alive, book - due + share[None, :] * xp.minimum(plan, capex), 0.0)


def pay_shortfall(xp: ModuleType, due: Any, capex: Any, cash: Any, securities: Any) -> tuple[Any, Any, Any]:
    """What of the deliveries ``due`` the month's financed ``capex`` leaves unpaid, paid from
    ``cash`` (what is left after the capex paid from cash) and then ``securities``.

    Returns (from cash, from securities, still unpaid), each (paths, agents) USD bn, >= 0.
    """
    short = xp.maximum(due - capex, 0.0)
    from_cash = xp.minimum(short, xp.maximum(cash, 0.0))
    from_sec = xp.minimum(short - from_cash, xp.maximum(securities, 0.0))
    return from_cash, from_sec, xp.maximum(short - from_cash - from_sec, 0.0)
