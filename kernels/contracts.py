"""Contract cash flows due this month, by contract, before anyone knows who can pay.

Per contract c on each path:

* loan: interest ``outstanding x rate / 12``; principal by schedule -- bullet: all of it in the
  last month; linear: ``outstanding / months left``; revolving (new capex lending):
  ``outstanding / term`` every month, never maturing. A bullet the lender refinances
  (:mod:`aisim.kernels.refinancing`) pays no principal and runs ``refi_term`` months more.
* lease, offtake: the fixed monthly payment while live.
* backstop: the writer buys the beneficiary's unsold spot capacity, up to the monthly cap.
* rvg: in its last month the guarantor pays ``max(0, guaranteed value - the SPV's GPU book)``.
* equity: no cash flow (marked in :mod:`aisim.kernels.marking`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .state import BACKSTOP, BULLET, LEASE, LINEAR, LOAN, OFFTAKE, REVOLVING, RVG, Book, State


@dataclass(frozen=True)
class Dues:
    """What each contract owes this month, (paths, contracts) USD bn."""

    active: Any  # bool: the contract pays this month
    interest: Any
    principal: Any
    payment: Any  # non-loan payments (lease, offtake, backstop, rvg)
    refinanced: Any  # bool: a maturing bullet rolled over this month
    roll_room: Any = None  # (paths, agents) USD bn of leverage capacity the rolls leave (graded refinancing)

    @property
    def total(self) -> Any:
        return self.interest + self.principal + self.payment


def active_mask(xp: ModuleType, book: Book, state: State) -> Any:
    """(paths, contracts) bool: live, started, not past maturity, not ended by a scenario exit."""
    started = (book.start <= state.month) & (state.month < book.exit_month)
    return state.c_alive & started[None, :] & (state.maturity > 0)


def current_rate(xp: ModuleType, book: Book, base_rate: Any) -> Any:
    """Annual rate per contract: base + spread where floating, else fixed. (paths, contracts)."""
    return xp.where(book.floating[None, :], base_rate[:, None] + book.rate[None, :], book.rate[None, :])


def scheduled_dues(
    xp: ModuleType, book: Book, state: State, unsold_value: Any, gpu: Any, refinance_ok: Any,
    monthly: Any = None,
) -> Dues:
    """Everything owed this month before settlement.

    unsold_value, gpu: (paths, agents) USD bn; refinance_ok: (paths, contracts) bool from
    :func:`aisim.kernels.refinancing.refinance_ok`; monthly: (1 or paths, contracts) leases' and
    offtakes' payments (renegotiated offtakes', :func:`aisim.kernels.renegotiation.scaled_monthly`),
    the book's when None. Returns :class:`Dues`.
    """
    active = active_mask(xp, book, state)
    loan = active & (book.kind == LOAN)[None, :]
    out = state.outstanding
    zero = xp.zeros_like(out)
    last = state.maturity == 1
    bullet_due = (book.amort == BULLET)[None, :] & last
    refinanced = loan & bullet_due & refinance_ok & book.refinance[None, :]
    months_left = xp.astype(xp.maximum(state.maturity, 1), out.dtype)
    principal = xp.where(bullet_due & ~refinanced, out, zero)
    principal = xp.where((book.amort == LINEAR)[None, :], out / months_left, principal)
    term = xp.astype(xp.maximum(book.maturity, 1), out.dtype)
    principal = xp.where((book.amort == REVOLVING)[None, :], out / term[None, :], principal)
    principal = xp.where(loan, principal, zero)
    interest = xp.where(loan, out * state.rate / 12.0, zero)

    fixed = active & ((book.kind == LEASE) | (book.kind == OFFTAKE))[None, :]
    payment = xp.where(fixed, (book.monthly[None, :] if monthly is None else monthly) + zero, zero)
    n = book.n_agents
    # beneficiaries are always agents for backstops and rvgs (validated); clamp for external rows
    payee_col = xp.minimum(book.payee, n - 1)
    unsold = xp.take(unsold_value, payee_col, axis=1)
    draw = xp.minimum(book.monthly[None, :], unsold)
    payment = xp.where(active & (book.kind == BACKSTOP)[None, :], draw, payment)
    shortfall = xp.maximum(book.amount[None, :] - xp.take(gpu, payee_col, axis=1), 0.0)
    payment = xp.where(active & (book.kind == RVG)[None, :] & last, shortfall, payment)
    return Dues(active=active, interest=interest, principal=principal, payment=payment,
                refinanced=refinanced)
