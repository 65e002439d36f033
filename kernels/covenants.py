"""Covenants and margin calls on GPU-backed loans.

A secured loan carries a loan-to-value covenant: the borrower's secured debt over the value of
its GPU collateral (:mod:`aisim.kernels.collateral`) must stay at or below the loan's limit. When the
collateral value falls -- rental prices drop, a fire sale marks the market down -- a breach
forces the borrower to repay ``cure_share`` of the excess, pro rata across the breached loans
(a margin call; posting other collateral is not modelled). A borrower whose cash and
securities cannot meet the call defaults with cause "covenant breach".
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import ledger
from .accounting import from_payers, to_payees
from .params import param
from .state import LOAN, Book, State


@dataclass(frozen=True)
class CovenantParams:
    ltv_max: float = param(1.0, gt=0.0, le=10.0, unit="debt / collateral value",
                           doc="default loan-to-value covenant of secured loans and fund lines")
    cure_share: float = param(1.0, ge=0.0, le=1.0, unit="share",
                              doc="share of the excess debt a breach forces the borrower to repay")


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


def meet_margin_calls(
    xp: ModuleType, book: Book, s: State, illiquid: Any, collateral_value: Any, cure_share: float,
) -> tuple[State, Any]:
    """Borrowers that can meet this month's margin calls from cash and securities repay the
    called principal to their lenders (selling securities at par as needed); the others breach.

    illiquid: (paths, agents) bool, already defaulting this month (no call is made on them);
    collateral_value: (paths, agents) USD bn. Returns (state, breach (paths, agents) bool).
    """
    call_c, call = margin_calls(xp, book, s.alive & ~illiquid, s.c_alive, s.outstanding, collateral_value,
                                book.ltv_max, cure_share)
    can = (s.cash + s.securities >= call) & (call > 0)
    breach = (call > 0) & ~can
    pay_c = xp.where(xp.take(xp.concat([can, xp.zeros_like(can[:, :1])], axis=1), book.payer, axis=1), call_c, 0.0)
    pay = xp.where(can, call, 0.0)
    sold = xp.minimum(s.securities, xp.maximum(pay - s.cash, 0.0))
    received, to_ext = to_payees(xp, book, s.alive, pay_c)
    return ledger.repay(ledger.sell_securities(xp, s, sold), pay, pay_c, received, to_ext), breach
