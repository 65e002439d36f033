"""Relationship lending: each borrower's capex facilities go to a bounded syndicate of lenders.

Without this channel the world builds one revolving capex facility per (borrower, lender) pair,
so the contract book grows as borrowers x lenders, i.e. with agents squared. In the loan market a
borrower does not borrow from every lender: it borrows from a small syndicate led by the banks
and funds it already has a relationship with (Sufi 2007, "Information asymmetry and financing
arrangements: evidence from syndicated loans", J. Finance 62(2): the lead arranger is usually a
prior lender and keeps a larger share when information is scarce; Bharath, Dahiya, Saunders and
Srinivasan 2007/2011 on relationship lending: a prior lending relationship makes the same lender
much more likely to lend again). Here each borrower ``b`` gets facilities from at most ``size``
lenders, chosen deterministically (host-side, once, when the world is built):

1. lenders with an existing lending relationship to ``b`` (a calibrated loan from the lender to
   ``b``, the long tail's loans included), then
2. the other lenders by size (total assets at the start, USD bn), largest first,
3. ties by column; a lender never lends to itself.

The chosen lenders' facilities are laid out in lender column order within each borrower, as
the full book lays them out, so that with ``size`` >= the number of lenders the book is the full
one, facility for facility. The number of facilities is at most ``size x borrowers``: linear in
agents. Every borrower keeps at least one lender whenever some lender other than itself exists.

Shapes: borrowers (B,) int64, lenders (L,) int64 agent columns; lender_size (L,) float64;
relationship (B, L) bool. Returns two (F,) int64 arrays, the facilities' borrowers and lenders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import param


@dataclass(frozen=True)
class SyndicateParams:
    """Relationship lending (``syndicate.*``)."""

    size: int = param(8, ge=1, le=10_000, unit="lenders",
                      doc="most lenders in a borrower's syndicate of capex facilities (relationship "
                      "lenders first, then the largest lenders)")


def choose(borrowers: np.ndarray, lenders: np.ndarray, lender_size: np.ndarray, relationship: np.ndarray,
           size: int) -> tuple[np.ndarray, np.ndarray]:
    """(facility borrower, facility lender) columns: up to ``size`` lenders per borrower.

    size <= 0 means every lender (the full book). Rows of ``relationship`` follow ``borrowers``,
    columns follow ``lenders``.
    """
    borrowers = np.asarray(borrowers, dtype=np.int64)
    lenders = np.asarray(lenders, dtype=np.int64)
    B, L = borrowers.shape[0], lenders.shape[0]
    if B == 0 or L == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    eligible = borrowers[:, None] != lenders[None, :]
    k = L if size <= 0 else min(int(size), L)
    rel = np.asarray(relationship, dtype=bool) & eligible
    # rank within each row: eligible first, relationship first, larger first, lower column first
    order = np.lexsort((
        np.broadcast_to(lenders[None, :], (B, L)),
        np.broadcast_to(-np.asarray(lender_size, dtype=np.float64)[None, :], (B, L)),
        ~rel,
        ~eligible,
    ), axis=-1)
    picked = np.zeros((B, L), dtype=bool)
    rows = np.arange(B)[:, None]
    picked[rows, order[:, :k]] = True
    picked &= eligible
    b_idx, l_idx = np.nonzero(picked)  # row-major: borrower order, then lender column order
    return borrowers[b_idx], lenders[l_idx]


def lender_sizes(n_agents: int, balance_assets: np.ndarray, loan_payee: np.ndarray, loan_amount: np.ndarray,
                 lenders: np.ndarray) -> np.ndarray:
    """(L,) total assets of each lender at the start: own balance sheet plus the loans it holds."""
    held = np.bincount(np.asarray(loan_payee, dtype=np.int64), weights=np.asarray(loan_amount, dtype=float),
                       minlength=n_agents + 1)[:n_agents]
    return (np.asarray(balance_assets, dtype=float) + held)[np.asarray(lenders, dtype=np.int64)]
