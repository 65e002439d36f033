"""Equity funding and payouts, against the external sector.

* Raises: an agent whose cash is below its buffer raises new equity from outside investors, up
  to ``equity_raise x sentiment`` a month less what it already raised for capex this month,
  and nothing while a scenario closes the market to its sector.
  This is how AI labs fund their burn.
* Liquidity before growth: the equity a compute provider raises for capex is what its month's
  room leaves after restoring its cash buffer, except what the GPU deliveries already due need
  (:func:`capex_equity`). A firm short of cash cuts discretionary investment before it lets its
  liquidity run out.
* Payouts: ``payout`` x the cash above twice the buffer goes to shareholders (dividends and
  buybacks) -- how hyperscalers' non-AI cash flow leaves the network.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .state import AgentParams, per_agent


def raise_room(xp: ModuleType, p: AgentParams, sentiment: Any, market_open: Any) -> Any:
    """(paths, agents) USD bn of equity outside investors would take this month:
    ``equity_raise x sentiment``, zero where the market is closed to the agent's sector.

    sentiment: (paths,); market_open: (agents,) bool.
    """
    return xp.where(market_open[None, :], per_agent(p.equity_raise) * sentiment[:, None], 0.0)


def equity_raise(xp: ModuleType, p: AgentParams, alive: Any, cash: Any, room: Any) -> Any:
    """(paths, agents) USD bn raised to restore the cash buffer, within ``room`` (paths, agents)."""
    gap = xp.maximum(per_agent(p.cash_buffer) - cash, 0.0)
    return xp.where(alive, xp.minimum(gap, xp.maximum(room, 0.0)), 0.0)


def payouts(xp: ModuleType, p: AgentParams, alive: Any, cash: Any) -> Any:
    """(paths, agents) USD bn paid out to shareholders."""
    excess = xp.maximum(cash - 2.0 * per_agent(p.cash_buffer), 0.0)
    return xp.where(alive, per_agent(p.payout) * excess, 0.0)


def capex_equity(xp: ModuleType, need: Any, room: Any, gap: Any, due: Any) -> Any:
    """(paths, agents) USD bn of new equity raised for capex this month, liquidity first.

    need: capex left to fund after spare cash and new loans; room: the month's equity room
    (:func:`raise_room`); gap: the cash buffer less cash, floored at 0; due: GPU deliveries due
    this month less what spare cash and new loans pay of them (``capex_commitments``; 0 without
    it). All (paths, agents) USD bn.

        raised = clip(min(need, max(room - gap, min(room, due))), 0)

    Deliveries due are contractual (non-cancellable orders) and come first; then the cash buffer
    (the financing phase restores it from the room left); discretionary capex gets what remains.
    With cash at or above its buffer (gap 0) this is ``min(need, room)``, the rule without the
    priority. Economics: when external finance is costly a firm's investment falls with its cash
    and it hoards liquidity before investing (Bolton, Chen and Wang 2011, J. Finance 66: the
    marginal value of cash rises above 1 as cash falls and investment is cut; Campello, Graham
    and Harvey 2010, J. Financial Economics 97: in 2008 financially constrained firms planned
    deeper capex cuts than others and drew on their credit lines for liquidity). Without the
    priority a neocloud whose contracted revenue ends keeps spending its whole equity room on
    GPUs while its cash runs out, and defaults illiquid with positive book equity.
    """
    avail = xp.maximum(xp.maximum(room - gap, 0.0), xp.minimum(room, due))
    return xp.maximum(xp.minimum(need, avail), 0.0)
