"""Operations: revenue from outside the network, operating costs, and GPU depreciation.

Compute providers sell capacity two ways: under offtake contracts (settled in
:mod:`aisim.kernels.settlement`) and on the spot market at the GPU rental price. Capacity is measured
by the GPU book value (USD bn); ``capacity_yield`` is the spot revenue a USD bn of capacity earns
per month at rental index 1. Capacity committed to offtakes is the offtake payment divided by
the same yield. Spot utilisation rises with AI demand; what stays unsold is what a backstop
writer may be asked to buy.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .accounting import to_payees
from .state import OFFTAKE, AgentParams, Book, per_agent


def committed_capacity(xp: ModuleType, book: Book, alive: Any, active: Any, p: AgentParams,
                       monthly: Any = None) -> Any:
    """GPU capacity (USD bn of book) each seller has sold forward on live offtakes.

    active: (paths, contracts) bool; monthly: (1 or paths, contracts) the payments (renegotiated
    offtakes', :func:`aisim.kernels.renegotiation.scaled_monthly`), the book's when None.
    Returns (paths, agents).
    """
    monthly = book.monthly[None, :] if monthly is None else monthly
    monthly = xp.where(active & (book.kind == OFFTAKE)[None, :], monthly, 0.0)
    per_seller, _ = to_payees(xp, book, alive, monthly)
    safe = xp.where(p.capacity_yield > 0, p.capacity_yield, 1.0)
    return xp.where(p.capacity_yield > 0, per_seller / safe, 0.0)


def spot_market(
    xp: ModuleType, p: AgentParams, gpu: Any, committed: Any, demand: Any, price: Any,
) -> tuple[Any, Any]:
    """Spot revenue and the value of unsold spot capacity, both (paths, agents) USD bn / month.

    gpu, committed: (paths, agents) USD bn; demand, price: (paths,) indices.
    utilisation = min(1, utilisation_param x demand); revenue = spare capacity x yield x price x
    utilisation; unsold value = spare capacity x yield x price x (1 - utilisation).
    """
    spare = xp.maximum(gpu - committed, 0.0)
    util = xp.clip(per_agent(p.utilisation) * demand[:, None], 0.0, 1.0)
    gross = spare * per_agent(p.capacity_yield) * price[:, None]
    return gross * util, gross * (1.0 - util)


def spot_market_at(xp: ModuleType, p: AgentParams, gpu: Any, committed: Any, price: Any, util: Any) -> tuple[Any, Any]:
    """As :func:`spot_market` at per-seller terms: price, util (paths, agents) from a cleared
    market (:mod:`aisim.kernels.compute_market`). revenue = spare x yield x price x util."""
    spare = xp.maximum(gpu - committed, 0.0)
    gross = spare * per_agent(p.capacity_yield) * price
    return gross * util, gross * (1.0 - util)


def external_revenue(xp: ModuleType, p: AgentParams, demand: Any, spot_revenue: Any) -> tuple[Any, Any]:
    """(AI revenue, non-AI cash flow) from the external sector, each (paths, agents) USD bn / month.

    AI labs' end-user revenue scales with the demand index; compute providers add spot sales.
    """
    ai = per_agent(p.revenue) * demand[:, None] + spot_revenue
    non_ai = per_agent(p.non_ai_cash_flow) + xp.zeros_like(spot_revenue)
    return ai, non_ai


def operating_costs(xp: ModuleType, p: AgentParams, ai_revenue: Any, contract_revenue: Any) -> Any:
    """Costs owed to the external sector this month, (paths, agents) USD bn.

    Fixed opex plus ``cost_share`` of AI revenue, contracted revenue included (power, staff,
    compute bought in).
    """
    return per_agent(p.opex) + per_agent(p.cost_share) * (ai_revenue + contract_revenue)


def depreciation(xp: ModuleType, p: AgentParams, gpu: Any) -> Any:
    """Declining-balance depreciation at 1/life a month: gpu / life, (paths, agents) USD bn.

    A pool of GPUs bought at different times has no single remaining life; charging the pool
    1/life a month keeps the book on the stated accounting life without per-vintage state.
    """
    return gpu / per_agent(p.gpu_life_months)
