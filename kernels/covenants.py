"""Covenants and margin calls on GPU-backed loans.

A secured loan carries a loan-to-value covenant: the borrower's secured debt over the value of
its GPU collateral (:mod:`aisim.kernels.collateral`) must stay at or below the loan's limit. When the
collateral value falls -- rental prices drop, a fire sale marks the market down -- a breach
forces the borrower to repay ``cure_share`` of the excess, pro rata across the breached loans
(a margin call; posting other collateral is not modelled). A borrower whose cash and
securities cannot meet the call defaults with cause "covenant breach".
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .accounting import from_payers
from .state import LOAN, Book


def margin_calls(
    xp: ModuleType, book: Book, alive: Any, c_alive: Any, outstanding: Any, collateral_value: Any,
    limit: Any, cure_share: float,
) -> tuple[Any, Any]:
    """Margin calls this month.

    collateral_value: (paths, agents) USD bn; limit: (contracts,) LTV limit of each loan.
    Returns (call per contract (paths, contracts), call per borrower (paths, agents)), USD bn.
    """
    secured = c_alive & ((book.kind == LOAN) & book.secured)[None, :]
    debt, _ = from_payers(xp, book, xp.where(secured, outstanding, 0.0))
    n = book.n_agents
    col = xp.minimum(book.payer, n - 1)
    d_c = xp.take(debt, col, axis=1)
    v_c = xp.take(collateral_value, col, axis=1)
    live = xp.take(alive, col, axis=1) & (book.payer < n)[None, :]
    breach = secured & live & (d_c > limit[None, :] * v_c)
    safe = xp.where(d_c > 0, d_c, 1.0)
    call_c = xp.where(breach, cure_share * outstanding * (1.0 - limit[None, :] * v_c / safe), 0.0)
    per_borrower, _ = from_payers(xp, book, call_c)
    return call_c, per_borrower
