"""Investment: compute providers buy GPU capacity from chipmakers, and how they pay for it.

Each month a compute provider plans capex from its expectations (adaptive, :mod:`aisim.kernels.macro`):
``planned = capex x expected demand x expected price ^ elasticity``. It pays with, in order,

1. cash above its buffer;
2. new loans on revolving capex facilities from lenders with capacity: a lender offers
   ``lend_rate x cash above its buffer`` if it passes its tests, and the month's loans are
   allocated pro rata, so facility (b, l) lends ``need_b x supply_l / max(total need,
   total supply)`` -- no borrower gets more than it needs, no lender lends more than it offers;
3. new equity from outside investors, up to ``equity_raise x sentiment``.

The capex is the chipmakers' revenue (by ``chip_share`` among the alive ones; the external
sector if none is alive) and becomes the buyer's GPU book.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .backend import segment_sum
from .state import AgentParams, per_agent


def planned_capex(xp: ModuleType, p: AgentParams, alive: Any, exp_demand: Any, exp_price: Any) -> Any:
    """(paths, agents) USD bn: the capex each agent would like to spend this month."""
    level = exp_demand[:, None] * xp.maximum(exp_price[:, None], 1e-12) ** per_agent(p.price_elasticity)
    return xp.where(alive, per_agent(p.capex) * level, 0.0)


def spare_cash(xp: ModuleType, p: AgentParams, cash: Any) -> Any:
    """(paths, agents) USD bn of cash above the buffer."""
    return xp.maximum(cash - per_agent(p.cash_buffer), 0.0)


def allocate_loans(
    xp: ModuleType, need: Any, supply: Any, borrower: Any, lender: Any, n_agents: int,
) -> tuple[Any, Any, Any]:
    """Pro-rata allocation of new lending over facilities.

    need, supply: (paths, agents) USD bn (zero where an agent neither borrows nor lends);
    borrower, lender: (facilities,) int64 agent columns of each facility.
    Returns (amount per facility (paths, facilities), borrowed (paths, agents), lent (paths, agents)).
    """
    d = xp.take(need, borrower, axis=1)
    s = xp.take(supply, lender, axis=1)
    # totals over the distinct parties of the facilities, not over facilities
    is_b = segment_sum(xp, xp.ones((1, borrower.shape[0]), dtype=need.dtype), borrower, n_agents) > 0
    is_l = segment_sum(xp, xp.ones((1, lender.shape[0]), dtype=need.dtype), lender, n_agents) > 0
    total_d = xp.sum(xp.where(is_b, need, 0.0), axis=1)
    total_s = xp.sum(xp.where(is_l, supply, 0.0), axis=1)
    denom = xp.maximum(total_d, total_s)
    safe = xp.where(denom > 0, denom, 1.0)
    amount = xp.where(denom[:, None] > 0, d * s / safe[:, None], 0.0)
    return amount, segment_sum(xp, amount, borrower, n_agents), segment_sum(xp, amount, lender, n_agents)


def chip_revenue(xp: ModuleType, p: AgentParams, alive: Any, capex_total: Any) -> tuple[Any, Any]:
    """Split the month's capex among alive chipmakers by ``chip_share``.

    capex_total: (paths,) USD bn. Returns (revenue per agent (paths, agents), to external (paths,)).
    """
    w = xp.where(alive & p.is_chipmaker[None, :], per_agent(p.chip_share), 0.0)
    tot = xp.sum(w, axis=1)
    safe = xp.where(tot > 0, tot, 1.0)
    rev = (w / safe[:, None]) * capex_total[:, None]  # shares first: capex / a tiny total share would overflow
    return rev, xp.where(tot > 0, 0.0, capex_total)
