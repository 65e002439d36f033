"""Graded refinancing: a maturing bullet is rolled up to the borrower's leverage capacity.

Without it refinancing is all-or-nothing (:mod:`aisim.kernels.refinancing`): a borrower whose
debt / assets exceeds ``max_leverage`` by a cent has its whole bullet fall due. Syndicated loans
are not refinanced that way: in an amend-and-extend the lenders that agree extend the maturity of
*a portion* of the facility, at current-market pricing, and the rest is repaid on the original
schedule (Herr, Bernasek and Corcoran 2009, "Amend and extends emerge as new trend in U.S. loan
markets", Mondaq; the extension clauses of credit agreements let the borrower extend "all or a
portion of any principal amount" of a tranche). Here the rolled portion is what keeps the
borrower within its leverage test: per borrower i, in the debt/assets view of the refinancing
test (``Model.leverage_view``: SPVs consolidated under ``spv_consolidation``, JV debt left out
unless consolidated),

    capacity_i = max(max_leverage_i x A_i - (D_i - P_i), 0)

with A_i, D_i (paths, agents) USD bn its assets and debt and P_i the principal of all its bullet
loans maturing this month. The incumbent lenders (the external bond market too) roll at most
capacity_i of what they would roll, pro rata over the borrower's maturing bullets:

    rolled_c' = rolled_c x min(1, capacity_i / sum_c rolled_c)

and the borrower pays the rest (a required paydown). Other lenders' refinancing of the refused
part (:func:`aisim.kernels.refinancing.refused_bullets`) is capped at the capacity left,
``max(capacity_i - sum_c rolled_c', 0)``. A borrower far inside its limit (capacity >= P) rolls
as before, one beyond it by more than P rolls nothing. Dead or failed lenders and dead borrowers
roll nothing, as without the channel. Repricing of the rolled part is credit pricing's
(:mod:`aisim.kernels.credit_pricing`: the rolled share's margin resets to the borrower's spread).
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any

from .accounting import from_payers
from .contracts import Dues
from .state import BULLET, LOAN, Book, per_agent


def borrower_ok(xp: ModuleType, alive: Any, equity: Any) -> Any:
    """(paths, agents) bool: a borrower may roll at all (alive, equity > 0); the leverage test
    becomes the capacity below."""
    return alive & (equity > 0.0)


def maturing(xp: ModuleType, book: Book, dues: Dues, maturity: Any) -> Any:
    """(paths, contracts) bool: live bullet loans falling due this month (maturity (paths, contracts) months)."""
    return dues.active & ((book.kind == LOAN) & (book.amort == BULLET))[None, :] & (maturity == 1)


def capacity(xp: ModuleType, book: Book, max_leverage: Any, debt: Any, assets: Any, outstanding: Any,
             due: Any) -> Any:
    """(paths, agents) USD bn: max(max_leverage x assets - (debt - P), 0), P the principal of the
    bullets maturing this month (``due`` (paths, contracts) bool from :func:`maturing`).

    max_leverage: (agents,) or (paths, agents); debt, assets: (paths, agents) USD bn in the
    refinancing test's view; outstanding: (paths, contracts) USD bn."""
    p, _ = from_payers(xp, book, xp.where(due, outstanding, 0.0))
    return xp.maximum(per_agent(max_leverage) * assets - (debt - p), 0.0)


def cap_rolls(xp: ModuleType, book: Book, dues: Dues, outstanding: Any, cap: Any) -> Dues:
    """The dues with each borrower's rolled principal cut pro rata to ``cap`` (paths, agents) USD bn;
    a bullet left with nothing rolled is not refinanced (its maturity runs out). ``roll_room`` of
    the result is the capacity the capped rolls leave for other lenders, ``max(cap - rolled', 0)``."""
    rolled = xp.where(dues.refinanced, outstanding - dues.principal, 0.0)
    total, _ = from_payers(xp, book, rolled)
    over = total > cap
    scale = xp.where(over, cap / xp.where(over, total, 1.0), 1.0)
    ext = xp.ones((scale.shape[0], 1), dtype=scale.dtype)
    of_payer = xp.take(xp.concat([scale, ext], axis=1), book.payer, axis=1)
    cut = dues.refinanced & (of_payer < 1.0)
    principal = xp.where(cut, outstanding - rolled * of_payer, dues.principal)
    refinanced = dues.refinanced & ~(cut & (of_payer <= 0.0))
    room = xp.maximum(cap - xp.minimum(total, cap), 0.0)  # what the capped rolls leave
    return replace(dues, principal=principal, refinanced=refinanced, roll_room=room)
