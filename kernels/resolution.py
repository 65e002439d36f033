"""Resolution of defaulted agents: liquidation, recovery by seniority, and ending their contracts.

An agent defaults when it is illiquid (could not pay what was due, :mod:`aisim.kernels.settlement`),
breaches a covenant it cannot cure (:mod:`aisim.kernels.covenants`), or is insolvent (equity below
zero). Its estate is wound up in the same month:

1. the external sector buys its assets: GPUs at ``gpu_price`` per USD bn of book (their market
   value after the fire-sale impact, :mod:`aisim.kernels.collateral`), securities at par, other
   assets at ``recovery_other`` x book, loans it holds at face (their borrowers then pay the
   external sector), equity stakes it holds at their mark;
2. secured lenders recover first from the GPU proceeds, pro rata: ``r_s = min(1, GPU proceeds /
   secured claims)``; what is left of the proceeds joins the rest of the estate, from which
   unsecured claims -- unsecured loans, secured lenders' deficiency, and the external sector's
   other liabilities -- recover ``R = min(1, pool / unsecured claims)`` pro rata;
3. each creditor's loss ``claim - recovery`` hits its books the same month (loan written off,
   equity down); any surplus goes to shareholders: holders of equity stakes by their share, the
   rest to the external sector; stakes in the defaulted agent are written off against that;
4. the contracts it is party to end: an offtake seller loses that revenue, a lessor its lease
   (with the lease-claims channel, :mod:`aisim.kernels.lease_claims`, the lessor has an unsecured
   claim for the rent capped as 11 U.S.C. 502(b)(6) caps it, ranked in step 2),
   a beneficiary its backstop or guarantee. Loans it held go on, owned by the external sector.
   With contract contagion switched off, leases, offtakes, backstops and guarantees it owed are
   taken over by the external sector instead (a replacement counterparty on the same terms);
5. its balance sheet is emptied; ``alive`` turns false and the month and cause are recorded.

Creditors pushed into insolvency are resolved in further rounds of the same month.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import lease_claims as leases
from .accounting import from_payers, to_payees
from .state import COVENANT, EQUITY, ILLIQUIDITY, INSOLVENCY, LEASE, LOAN, Book, State, replaceable

SOLVENCY_TOL = 1e-9


@dataclass(frozen=True)
class Resolution:
    state: State
    credit_loss: Any  # (paths, agents + 1) creditor losses this round, external last
    stake_loss: Any  # (paths,) write-downs of equity stakes held in the defaulted, net of surplus
    gpu_sold: Any  # (paths,) USD bn of GPU book sold by the estates


def insolvent(xp: ModuleType, state: State, assets: Any) -> Any:
    """(paths, agents) bool: equity below zero beyond rounding (relative to assets)."""
    return state.alive & (state.equity < -SOLVENCY_TOL * xp.maximum(assets, 1.0))


def default_cause(xp: ModuleType, illiquid: Any, breach: Any, insolvent_now: Any) -> Any:
    """(paths, agents) int64 cause code; illiquidity, then covenant breach, then insolvency."""
    code = xp.astype(insolvent_now, xp.int64) * INSOLVENCY
    code = xp.where(breach, COVENANT, code)
    return xp.where(illiquid, ILLIQUIDITY, code)


def resolve(
    xp: ModuleType, book: Book, state: State, new: Any, cause: Any, gpu_price: Any,
    recovery_other: float, contagion: bool = True, lease_claims: leases.LeaseClaimParams | None = None,
) -> Resolution:
    """Wind up the agents in ``new`` ((paths, agents) bool) with ``cause`` ((paths, agents) int64).

    gpu_price: (paths, agents) USD recovered per USD of GPU book. Flows to an agent defaulting
    in the same round go to the external sector, which has just bought that agent's claims at
    face (the clearing channel settles payments; this settles the estates).
    lease_claims: with the lease-claims channel on, the 502(b)(6) cap (:mod:`aisim.kernels.lease_claims`):
    the lessors of a defaulting lessee's leases that end claim the capped rent as unsecured
    creditors; None: leases end with no claim.
    """
    zero_c = xp.zeros_like(state.outstanding)
    zero_a = xp.zeros_like(state.cash)
    ones_p = xp.ones((new.shape[0], 1), dtype=state.cash.dtype)
    new_party = xp.concat([new, xp.zeros((new.shape[0], 1), dtype=xp.bool)], axis=1)
    payer_new = xp.take(new_party, book.payer, axis=1)
    payee_new = xp.take(new_party, book.payee, axis=1)
    loan = (book.kind == LOAN)[None, :] & state.c_alive
    stake = (book.kind == EQUITY)[None, :] & state.c_alive
    secured = loan & book.secured[None, :]
    after = state.alive & ~new
    # 4 (decided first). contracts: the defaulted's end, except loans it held (now the external's)
    # and, without contract contagion, the obligations a replacement counterparty takes over
    keep = loan & payee_new & ~payer_new
    if not contagion:
        keep = keep | (replaceable(book)[None, :] & state.c_alive & payer_new & ~payee_new)
    ends = (payer_new | payee_new) & ~keep
    rejected = (book.kind == LEASE)[None, :] & state.c_alive & payer_new & ends
    if lease_claims is not None:
        lease_c, rent_lost_c = leases.claims(xp, book.monthly, state.maturity, rejected, lease_claims)
    else:
        lease_c = rent_lost_c = zero_c
    lease_claim, _ = from_payers(xp, book, lease_c)

    def by_payer(x: Any) -> Any:
        return xp.take(xp.concat([x, ones_p], axis=1), book.payer, axis=1)

    # 1. the external sector buys the estate's assets
    held, _ = to_payees(xp, book, state.alive, xp.where((loan | stake) & payee_new, state.outstanding, zero_c))
    gpu_proceeds = xp.where(new, state.gpu * gpu_price, zero_a)
    other_proceeds = xp.where(new, state.securities + recovery_other * state.other_assets + held, zero_a)

    # 2. secured lenders first, from the GPU proceeds; then everyone else pro rata
    owed_c = xp.where(loan & payer_new, state.outstanding, zero_c)
    sec_c = xp.where(secured, owed_c, zero_c)
    secured_claims, _ = from_payers(xp, book, sec_c)
    debt, _ = from_payers(xp, book, owed_c)
    safe_s = xp.where(secured_claims > 0, secured_claims, 1.0)
    r_s = xp.where(secured_claims > 0, xp.minimum(gpu_proceeds / safe_s, 1.0), 1.0)
    pool = xp.where(new, state.cash, zero_a) + other_proceeds + gpu_proceeds - r_s * secured_claims
    other = xp.where(new, state.other_liab, zero_a)
    unsecured = debt - secured_claims + (1.0 - r_s) * secured_claims + other + lease_claim
    safe_u = xp.where(unsecured > 0, unsecured, 1.0)
    rec = xp.where(unsecured > 0, xp.minimum(pool / safe_u, 1.0), 1.0)
    rs_c, rec_c = by_payer(r_s), by_payer(rec)
    recovered_c = xp.where(book.secured[None, :], owed_c * (rs_c + (1.0 - rs_c) * rec_c), owed_c * rec_c)
    lost_c = owed_c - recovered_c
    lease_rec_c = lease_c * rec_c
    surplus = xp.where(new, xp.maximum(pool - unsecured, 0.0), zero_a)

    # 3. shareholders: stake holders take their share of any surplus; their stakes are written off
    stakes_in = stake & payer_new
    share_c = xp.where(stakes_in, book.share[None, :] + zero_c, zero_c)
    surplus_c = by_payer(surplus) * share_c
    stake_change_c = surplus_c - xp.where(stakes_in, state.outstanding, zero_c)
    shares_held, _ = from_payers(xp, book, share_c)
    surplus_rest = surplus * (1.0 - xp.minimum(shares_held, 1.0))

    rec_in, rec_ext = to_payees(xp, book, after, recovered_c)
    lease_in, lease_ext = to_payees(xp, book, after, lease_rec_c)
    lease_loss_in, lease_loss_ext = to_payees(xp, book, after, rent_lost_c - lease_rec_c)
    loss_in, loss_ext = to_payees(xp, book, after, lost_c)
    surplus_in, surplus_ext = to_payees(xp, book, after, surplus_c)
    stake_in, stake_ext = to_payees(xp, book, after, stake_change_c)
    other_lost = other * (1.0 - rec)
    recovered_by, _ = from_payers(xp, book, recovered_c)
    ext_paid = xp.sum(gpu_proceeds + other_proceeds, axis=1)
    ext_received = rec_ext + lease_ext + surplus_ext + xp.sum(other * rec + surplus_rest, axis=1)

    # 5. empty the estate
    def clear(x: Any) -> Any:
        return xp.where(new, xp.zeros_like(x), x)

    credit_loss = xp.concat([loss_in, (loss_ext + xp.sum(other_lost, axis=1))[:, None]], axis=1)
    out = state.replace(
        cash=clear(state.cash + rec_in + lease_in + surplus_in), securities=clear(state.securities),
        gpu=clear(state.gpu), other_assets=clear(state.other_assets),
        other_liab=clear(state.other_liab), equity=clear(state.equity - loss_in + stake_in + lease_in),
        alive=after,
        default_month=xp.where(new, state.month, state.default_month),
        default_cause=xp.where(new, cause, state.default_cause),
        loss_caused=state.loss_caused + xp.where(new, debt - recovered_by + other_lost, zero_a),
        outstanding=xp.where(ends, zero_c, state.outstanding),
        c_alive=state.c_alive & ~ends,
        ext_cash=state.ext_cash - ext_paid + ext_received,
        credit_loss=state.credit_loss + credit_loss,
    )
    if state.line_loss is not None:  # fund_runs: creditors' losses on back-leverage lines to funds
        lines = (book.nav_line | book.asset_line)[None, :]  # NAV lines and asset facilities alike
        out = out.replace(line_loss=state.line_loss + xp.sum(xp.where(lines, lost_c, 0.0), axis=1))
    if lease_claims is not None:  # lease_claims: rent lost net of the claim's recovery, by lessor
        out = out.replace(lease_loss=state.lease_loss + xp.concat([lease_loss_in, lease_loss_ext[:, None]], axis=1))
    return Resolution(
        state=out, credit_loss=credit_loss,
        stake_loss=-xp.sum(xp.minimum(stake_in, 0.0), axis=1) - xp.minimum(stake_ext, 0.0),
        gpu_sold=xp.sum(xp.where(new, state.gpu, zero_a), axis=1),
    )

