"""Refinancing tests: who can roll maturing debt and who can borrow anew.

A lender rolls a maturing bullet loan, or lends new money, when

* the borrower passes the stated test: alive, equity > 0, and debt / total assets at most its
  ``max_leverage``; and
* the lender is alive and, for a bank, its capital ratio (last month's, from
  :mod:`aisim.kernels.regulation`) is at least the regime's requirement. The external sector (outside
  bond markets) always lends to a borrower that passes; a defaulted lender's book is run off by
  the buyer of the estate and not rolled.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .accounting import from_payers, party_alive
from .state import BULLET, LOAN, RVG, AgentParams, Book, per_agent


def borrower_ok(xp: ModuleType, p: AgentParams, alive: Any, equity: Any, assets: Any, debt: Any) -> Any:
    """(paths, agents) bool: the borrower passes the refinancing test."""
    return alive & (equity > 0.0) & (debt <= per_agent(p.max_leverage) * assets)


def lender_ok(xp: ModuleType, p: AgentParams, alive: Any, capital_ratio: Any, requirement: Any) -> Any:
    """(paths, agents) bool: the lender is alive and, if a bank, meets its capital requirement.

    requirement: (paths,) share of RWA (it varies by path with the countercyclical buffer).
    """
    return alive & (~p.is_bank[None, :] | (capital_ratio >= requirement[:, None]))


def refinance_ok(xp: ModuleType, book: Book, borrower: Any, lender: Any, alive: Any) -> Any:
    """(paths, contracts) bool: both parties of each contract pass their tests.

    borrower, lender: (paths, agents) bool from the functions above; the external sector
    passes as lender, never needs to pass as borrower (it always pays).
    """
    ones = xp.ones((borrower.shape[0],), dtype=xp.bool)
    b = xp.take(xp.concat([borrower, ones[:, None]], axis=1), book.payer, axis=1)
    lend = xp.concat([lender, ones[:, None]], axis=1)
    # a dead lender's claims passed to the external sector's run-off buyer: no roll-over
    live = xp.take(party_alive(xp, alive), book.payee, axis=1)
    return b & xp.take(lend, book.payee, axis=1) & live


def consolidate_spvs(xp: ModuleType, book: Book, c_alive: Any, debt: Any, assets: Any) -> tuple[Any, Any]:
    """(debt, assets) (paths, agents) with each SPV's debt and assets added to the sponsor that
    guarantees its residual value (the regime's SPV consolidation rule)."""
    rvg = c_alive & (book.kind == RVG)[None, :]
    col = xp.minimum(book.payee, book.n_agents - 1)
    spv_debt, _ = from_payers(xp, book, xp.where(rvg, xp.take(debt, col, axis=1), 0.0))
    spv_assets, _ = from_payers(xp, book, xp.where(rvg, xp.take(assets, col, axis=1), 0.0))
    return debt + spv_debt, assets + spv_assets


def refused_bullets(xp: ModuleType, book: Book, dues: Any, borrower: Any) -> Any:
    """(paths, agents) USD bn of maturing bullet principal whose own lender will not roll it, for
    borrowers that pass their test (``borrower`` (paths, agents) bool): other lenders may."""
    refused = dues.active & (book.kind == LOAN)[None, :] & (dues.principal > 0) & (book.amort == BULLET)[None, :]
    need, _ = from_payers(xp, book, xp.where(refused, dues.principal, 0.0))
    return xp.where(borrower, need, 0.0)
