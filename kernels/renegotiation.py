"""Renegotiation of a distressed buyer's take-or-pay commitments (channel ``renegotiation``).

A long-term offtake is an executory contract. When the buyer cannot pay, its sellers choose
between enforcing it (the buyer defaults; in its bankruptcy the contract is rejected under
11 U.S.C. 365 and the seller holds at best an unsecured claim for damages, and loses the
customer) and amending it. When demand collapsed under the 1980s US natural-gas take-or-pay
contracts, most of the pipelines' liabilities were resolved by voluntary renegotiation and
buy-outs rather than by the buyers' failure (DOE/EIA discussion paper 049, "Resolving take-or-pay
liabilities: progress through voluntary renegotiation"; Masten and Crocker 1985, "Efficient
adaptation in long-term contracts: take-or-pay provisions for natural gas", AER 75(5)); the
renegotiation-proof contract of Hart and Moore (1988, Econometrica 56(4)) is the theory. Compute
contracts have been amended the same way (Microsoft and OpenAI restructured theirs in Oct 2025;
Microsoft let data-centre leases lapse in 2025, TD Cowen).

Rule, per path, each month after the dues are known and before they are settled. A live buyer
``b`` that owes ``O_b > 0`` on offtakes and would be short,

    g_b = max(D_b + C_b - (M_b + S_b + R_b), 0) > 0,

(``D_b`` everything it owes on contracts this month, ``C_b`` its operating costs, ``M_b`` its cash,
``S_b`` its liquid securities, ``R_b`` the lease, offtake and backstop payments it is due to
receive) asks its offtake sellers for the cut that makes this month payable. They grant it pro
rata over all of ``b``'s offtakes (pari passu, as an out-of-court restructuring treats a class),
down to ``floor`` of the original payments, the seller's reservation value:

    sigma'_b = max(sigma_b (1 - g_b / O_b), floor)    where g_b > 0 and O_b > 0, else sigma_b,

and every remaining payment of ``b``'s offtakes is ``sigma'_b`` times the contract's. A cut is
permanent (the contract is amended, not deferred); the sellers' committed capacity falls with it
(what the buyer gave up is spot capacity again), and so do their contracted backlog and the debt
it supports. What the floor leaves unpaid is a payment default, as without the channel. One
round a month: a cut that lowers another buyer's receipts is seen by that buyer next month.

``floor`` (0.4): in the buyer's default the seller would recover at most an unsecured creditor's
share of its claim, about 40% (the standard recovery of CDS pricing,
../shared/calibration/credit-markets-2025.md); a cut that leaves less is worse for the seller than the
default, so it is refused. With contract contagion on, a defaulted buyer's offtakes end with no
claim at all, so the floor is, if anything, conservative.

Shapes: scale (paths, agents), the share of its original offtake payments each buyer still
owes (1 at the start); payments, owed (paths, contracts) / (paths, agents) USD bn this month.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param
from .state import OFFTAKE, Book


@dataclass(frozen=True)
class RenegotiationParams:
    """The sellers' reservation value in a renegotiation (``renegotiation.*``)."""

    floor: float = param(0.4, ge=0.05, le=1.0, unit="share",
                         doc="least share of its original payments a renegotiated offtake keeps: the recovery "
                             "the seller would expect on an unsecured claim in the buyer's default")


def offtake_factor(xp: ModuleType, book: Book, scale: Any) -> Any:
    """(paths, contracts): each offtake's payer's ``scale``, 1 for every other contract (and for
    offtakes bought by the external sector)."""
    n = book.n_agents
    by_payer = xp.take(scale, xp.minimum(book.payer, n - 1), axis=1)
    mine = ((book.kind == OFFTAKE) & (book.payer < n))[None, :]
    return xp.where(mine, by_payer, 1.0)


def scaled_monthly(xp: ModuleType, book: Book, scale: Any | None) -> Any:
    """(1 or paths, contracts) USD bn / month: the contracts' monthly payments with each offtake
    at its buyer's renegotiated ``scale``; the book's own payments when ``scale`` is None."""
    if scale is None:
        return book.monthly[None, :]
    return book.monthly[None, :] * offtake_factor(xp, book, scale)


def cut(xp: ModuleType, scale: Any, alive: Any, owed: Any, costs: Any, liquid: Any, receipts: Any,
        offtake_due: Any, floor: float) -> Any:
    """(paths, agents) the buyers' scale after this month's renegotiation (the rule above).

    scale, owed (D), costs (C), liquid (M + S), receipts (R), offtake_due (O): (paths, agents);
    alive: (paths, agents) bool."""
    short = xp.maximum(owed + costs - (liquid + receipts), 0.0)
    ask = alive & (short > 0) & (offtake_due > 0)
    keep = 1.0 - short / xp.where(ask, offtake_due, 1.0)
    return xp.where(ask, xp.maximum(scale * keep, floor), scale)


def reprice(xp: ModuleType, book: Book, payment: Any, old: Any, new: Any) -> Any:
    """(paths, contracts) this month's payments with each offtake moved from its buyer's ``old``
    scale to its ``new`` one (both > 0: the floor is positive)."""
    return payment * (offtake_factor(xp, book, new) / offtake_factor(xp, book, old))
