"""Resolution of defaulted agents: liquidation, pro-rata recovery, and ending their contracts.

An agent defaults when it is illiquid (could not pay what was due, :mod:`kernels.settlement`) or
insolvent (equity below zero). Its estate is wound up in the same month:

1. the external sector buys its assets: securities at par, GPUs at ``recovery_gpu`` x book,
   other assets at ``recovery_other`` x book, loans it holds at face (their borrowers then pay
   the external sector), equity stakes it holds at their mark;
2. creditors -- lenders on the loans it owes, and the external sector for its other
   liabilities -- recover ``R = min(1, estate / claims)`` of their claims, pro rata (equal
   seniority; secured lending and clearing come with the contagion channels);
3. the loss ``(1 - R) x claim`` hits each creditor's books the same month (loan written off,
   equity down); any surplus goes to shareholders: holders of equity stakes by their share, the
   rest to the external sector; stakes in the defaulted agent are written off against that;
4. every contract it is party to ends (an offtake seller loses that revenue, a lessee its
   lease), except loans it held, which the external sector now owns;
5. its balance sheet is emptied; ``alive`` turns false and the month and cause are recorded.

Creditors pushed into insolvency are resolved in further rounds of the same month until no new
default appears (at most one round per agent).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from kernels.accounting import from_payers, party_alive, to_payees
from kernels.state import EQUITY, ILLIQUIDITY, INSOLVENCY, LOAN, Book, State

SOLVENCY_TOL = 1e-9


@dataclass(frozen=True)
class Resolution:
    state: State
    new_defaults: Any  # (paths, agents) bool
    credit_loss: Any  # (paths, agents + 1) creditor losses this round, external last
    stake_loss: Any  # (paths, agents) write-downs of equity stakes in the defaulted


def insolvent(xp: ModuleType, state: State, assets: Any) -> Any:
    """(paths, agents) bool: equity below zero beyond rounding (relative to assets)."""
    return state.alive & (state.equity < -SOLVENCY_TOL * xp.maximum(assets, 1.0))


def resolve(
    xp: ModuleType, book: Book, state: State, new: Any, cause: Any, recovery_gpu: float,
    recovery_other: float,
) -> Resolution:
    """Wind up the agents in ``new`` ((paths, agents) bool) with ``cause`` ((paths, agents) int64).

    Returns the new state, the round's credit losses by creditor (paths, agents + 1; the
    external sector last) and write-downs of stakes held in the defaulted (paths, agents).
    Flows to an agent defaulting in the same round go to the external sector, which has just
    bought that agent's claims at face (a simplification that the clearing channel refines).
    """
    zero_c = xp.zeros_like(state.outstanding)
    zero_a = xp.zeros_like(state.cash)
    ones_p = xp.ones((new.shape[0], 1), dtype=state.cash.dtype)
    new_party = xp.concat([new, xp.zeros((new.shape[0], 1), dtype=xp.bool)], axis=1)
    payer_new = xp.take(new_party, book.payer, axis=1)
    payee_new = xp.take(new_party, book.payee, axis=1)
    loan = (book.kind == LOAN)[None, :] & state.c_alive
    stake = (book.kind == EQUITY)[None, :] & state.c_alive
    after = state.alive & ~new

    # 1. the external sector buys the estate's assets
    held, _ = to_payees(xp, book, state.alive, xp.where((loan | stake) & payee_new, state.outstanding, zero_c))
    proceeds = state.securities + recovery_gpu * state.gpu + recovery_other * state.other_assets + held
    proceeds = xp.where(new, proceeds, zero_a)
    estate = xp.where(new, state.cash, zero_a) + proceeds

    # 2. claims and the recovery rate, equal seniority
    owed_c = xp.where(loan & payer_new, state.outstanding, zero_c)
    debt, _ = from_payers(xp, book, owed_c)
    other = xp.where(new, state.other_liab, zero_a)
    claims = debt + other
    safe = xp.where(claims > 0, claims, 1.0)
    rec = xp.where(claims > 0, xp.minimum(estate / safe, 1.0), 1.0)
    rec_c = xp.take(xp.concat([rec, ones_p], axis=1), book.payer, axis=1)
    recovered_c = owed_c * rec_c
    lost_c = owed_c - recovered_c
    surplus = xp.where(new, xp.maximum(estate - claims, 0.0), zero_a)

    # 3. shareholders: stake holders take their share of any surplus; their stakes are written off
    stakes_in = stake & payer_new
    share_c = xp.where(stakes_in, book.share[None, :] + zero_c, zero_c)
    surplus_c = xp.take(xp.concat([surplus, 0.0 * ones_p], axis=1), book.payer, axis=1) * share_c
    stake_change_c = surplus_c - xp.where(stakes_in, state.outstanding, zero_c)
    shares_held, _ = from_payers(xp, book, share_c)
    surplus_rest = surplus * (1.0 - xp.minimum(shares_held, 1.0))

    rec_in, rec_ext = to_payees(xp, book, after, recovered_c)
    loss_in, loss_ext = to_payees(xp, book, after, lost_c)
    surplus_in, surplus_ext = to_payees(xp, book, after, surplus_c)
    stake_in, _ = to_payees(xp, book, after, stake_change_c)
    other_lost = other * (1.0 - rec)
    ext_paid = xp.sum(proceeds, axis=1)
    ext_received = (rec_ext + surplus_ext + xp.sum(other * rec + surplus_rest, axis=1))

    # 4. contracts the defaulted are party to end, except loans they held (now the external's)
    ends = (payer_new | payee_new) & ~(loan & payee_new & ~payer_new)

    # 5. empty the estate
    def clear(x: Any) -> Any:
        return xp.where(new, xp.zeros_like(x), x)

    credit_loss = xp.concat([loss_in, (loss_ext + xp.sum(other_lost, axis=1))[:, None]], axis=1)
    out = state.replace(
        cash=clear(state.cash + rec_in + surplus_in), securities=clear(state.securities),
        gpu=clear(state.gpu), other_assets=clear(state.other_assets),
        other_liab=clear(state.other_liab), equity=clear(state.equity - loss_in + stake_in),
        alive=after,
        default_month=xp.where(new, state.month, state.default_month),
        default_cause=xp.where(new, cause, state.default_cause),
        loss_caused=state.loss_caused + xp.where(new, claims * (1.0 - rec), zero_a),
        outstanding=xp.where(ends, zero_c, state.outstanding),
        c_alive=state.c_alive & ~ends,
        ext_cash=state.ext_cash - ext_paid + ext_received,
        credit_loss=state.credit_loss + credit_loss,
    )
    return Resolution(state=out, new_defaults=new, credit_loss=credit_loss,
                      stake_loss=xp.maximum(-stake_in, 0.0))


def default_cause(xp: ModuleType, illiquid: Any, insolvent_now: Any) -> Any:
    """(paths, agents) int64 cause code: illiquidity takes precedence when both hold."""
    return xp.where(illiquid, ILLIQUIDITY, xp.where(insolvent_now, INSOLVENCY, 0))
