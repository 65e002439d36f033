"""Equity funding and payouts, against the external sector.

* Raises: an agent whose cash is below its buffer raises new equity from outside investors, up
  to ``equity_raise x sentiment`` a month less what it already raised for capex this month,
  and nothing while a scenario closes the market to its sector.
  This is how AI labs fund their burn.
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
