"""Leverage headroom: compute providers borrow for capex only up to a margin below their
refinancing test.

Without it a firm borrows for its capex plan until its debt / assets reaches ``max_leverage``,
the very limit at which lenders refuse to roll its maturing bullets, and it then sits at that
limit: the first loss, or a bullet falling due, leaves it unable to refinance and it defaults
on the debt wall with cash still in hand (Oracle's 38B construction loan at month 48 in the
baseline). Firms do not run their balance sheets that way: CFOs name financial flexibility and
the credit rating as the first determinants of debt policy and keep borrowing capacity in
reserve (Graham and Harvey 2001, "The theory and practice of corporate finance: evidence from
the field", JFE 60(2-3), 187-243, Table 6), and rating agencies' downgrade thresholds on
leverage sit below covenant levels. So new capex borrowing b of a firm with debt D and assets A
is capped where the loan-financed purchase brings its leverage to the target
``L = (1 - headroom) x max_leverage`` (the purchase adds b to both debt and assets):

    (D + b) / (A + b) <= L   <=>   b <= max(0, (L A - D) / (1 - L))        (L < 1)

The rest of the plan is then funded by equity within its room, or not spent: the capex plan
adjusts to what financing allows rather than the balance sheet to the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param
from .state import per_agent


@dataclass(frozen=True)
class HeadroomParams:
    """The margin compute providers keep below their refinancing leverage test."""

    headroom: float = param(0.1, ge=0.0, le=0.9, unit="share of max_leverage",
                            doc="capex borrowing stops at debt / assets = (1 - headroom) x max_leverage")


def borrowing_room(xp: ModuleType, debt: Any, assets: Any, max_leverage: Any, headroom: float) -> Any:
    """(paths, agents) USD bn of new debt-financed capex that keeps debt / assets at most
    (1 - headroom) x max_leverage.

    debt, assets: (paths, agents) USD bn; max_leverage: (agents,) or (paths, agents).
    Unbounded (inf) where the target is 1 or more (a purchase financed wholly by debt never
    raises debt / assets above 1).
    """
    target = per_agent(max_leverage) * (1.0 - headroom) + xp.zeros_like(debt)
    below = target < 1.0
    safe = xp.where(below, 1.0 - target, 1.0)
    room = xp.maximum((target * assets - debt) / safe, 0.0)
    return xp.where(below, room, xp.inf)
