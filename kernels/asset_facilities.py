"""Asset-based SPV facilities: banks' non-recourse back-leverage on private-credit funds' AI loans.

A fund puts its AI loans into a bankruptcy-remote SPV; a bank lends to the SPV against a
borrowing base of an advance rate times the eligible loans, secured by all the SPV's assets,
non-recourse to the fund, floating and revolving (BDC 10-Q filings: "Borrowings under the
Scotiabank Credit Facility are secured by all of the assets held by SPV I ... SOFR plus 1.975%",
SEC EDGAR 2071136 R14, 2025; an Ally Bank SPV facility at SOFR + 2.75%, EDGAR 1948368 R15, 2024).
The SPV is not an agent of its own: its loans stay on the fund's books, its facility is a
contract from the fund to the bank flagged ``Book.asset_line``, and its limited liability is the
write-off below. Interest and the revolving principal (1/maturity a month) are paid in settlement
like any floating revolving loan.

Each month, after resolution (hook ``after_resolution``; the month's defaults are known, banks'
ratios are not yet measured, so a write-off hits this month's capital), for each alive fund f
(all arrays (paths, agents), USD bn, zero outside alive funds):

* the pool ``P_f``: the outstanding principal (book value) of the loans f holds whose payer is an
  agent (its AI loans: calibrated loans and capex facilities), alive after this month's defaults;
* ``F_f``: what f owes on its asset facilities; ``D_f`` the principal of the pool's loans that
  defaulted this month (before resolution), ``L_f`` f's credit losses booked on them, and the
  recoveries the estates paid f in cash ``R_f = max(D_f - L_f, 0)``;

then, in this order,

1. **cash sweep**: the recoveries repay the facility first, ``S = min(R, F)``;
2. **non-recourse write-off**: where the facility exceeds what is left of the pool, the SPV's
   equity is gone and the bank writes off the excess, ``W = max(F - S - P, 0)``: the bank's loan
   and equity fall by ``W`` (a credit loss, counted in ``credit_loss``, ``line_loss`` and
   ``facility_loss``), f's liability falls by ``W`` and its equity rises by it (limited liability;
   the loss is in f's ``loss_caused``, as the SPV's default imposed it);
3. **borrowing base** ``BB = a x P`` (``a`` the advance rate) against ``F1 = F - S - W``:
   above it (a borrowing-base deficiency) f cures from cash above its buffer,
   ``C = min(F1 - BB, max(cash - S - buffer, 0))``; below it f draws ``X = BB - F1`` from the
   facility's bank, if the bank passes its lender tests (bank regulation), split evenly over f's
   facilities whose lender passes, each bank lending at most its cash above its buffer (pro rata
   over the draws on it). The draw is f's cash: next month it lends it to AI borrowers.

Sweep, write-off and cure are split over a fund's facilities pro rata to their outstanding. A
repayment to a bank that has defaulted goes to the external sector, which holds its loans (as
everywhere in the model), and so does a write-off's loss.

The pool is at book, not at fair value (``fv_mark`` of :mod:`aisim.kernels.funds`): the facility's
loss is realised when loans default and recover, which is when this module writes off; middle-
market SPV facilities value performing first-lien loans at par in the borrowing base (fair value
applies to defaulted or impaired loans, which leave the pool here); and the mechanism then does
not depend on the fund_runs channel being on. With fair value the base would shrink before the
defaults, the fund would cure earlier, and the bank would lose less.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import ledger
from .accounting import from_payers, to_payees
from .params import param
from .state import LOAN, Book, State, per_agent


@dataclass(frozen=True)
class AssetFacilityParams:
    """Asset-based SPV facilities: the borrowing base. docs/calibration.md gives what it rests on."""

    advance_rate: float = param(0.65, ge=0.0, le=1.0, unit="share of the pool",
                                doc="borrowing base per USD of a fund's AI loans (book); ASSUMPTION: middle of "
                                    "the 50-75% typical of first-lien middle-market loans")


def _of(xp: ModuleType, x: Any, index: Any) -> Any:
    """(paths, contracts) the value of (paths, agents) ``x`` at each contract's party ``index``
    (0, or False, for the external sector)."""
    return xp.take(xp.concat([x, xp.zeros_like(x[:, :1])], axis=1), index, axis=1)


def pool_loans(xp: ModuleType, book: Book, c_alive: Any) -> Any:
    """(paths, contracts) bool: alive loans whose payer is an agent (a fund's pool where it holds them)."""
    return c_alive & ((book.kind == LOAN) & (book.payer < book.n_agents))[None, :]


def pool(xp: ModuleType, book: Book, s: State, fund: Any) -> Any:
    """(paths, agents) USD bn: each alive fund's pool ``P`` at book (``fund``: (paths, agents) bool)."""
    held, _ = to_payees(xp, book, s.alive, xp.where(pool_loans(xp, book, s.c_alive), s.outstanding, 0.0))
    return xp.where(fund, held, 0.0)


def recoveries(xp: ModuleType, book: Book, before: State, after: State, fund: Any) -> Any:
    """(paths, agents) USD bn: ``R = max(D - L, 0)``, what the estates of this month's defaulted
    borrowers paid each alive fund on its pool (``before``: the state before resolution)."""
    n = book.n_agents
    ended = pool_loans(xp, book, before.c_alive) & ~after.c_alive
    face, _ = to_payees(xp, book, after.alive, xp.where(ended, before.outstanding, 0.0))
    lost = after.credit_loss[:, :n] - before.credit_loss[:, :n]
    return xp.where(fund, xp.maximum(face - lost, 0.0), 0.0)


def waterfall(xp: ModuleType, facility: Any, pool_: Any, recovered: Any, cash: Any, buffer: Any,
              advance: float) -> tuple[Any, Any, Any, Any]:
    """Steps 1-3 of the module doc per fund, all (paths, agents) USD bn: facility ``F``, pool ``P``,
    recoveries ``R``, cash, cash buffer. Returns (sweep ``S``, write-off ``W``, cure ``C``, draw
    wanted ``X``)."""
    sweep = xp.minimum(recovered, facility)
    rest = facility - sweep
    write_off = xp.maximum(rest - pool_, 0.0)
    left = rest - write_off
    base = advance * pool_
    cure = xp.minimum(xp.maximum(left - base, 0.0), xp.maximum(cash - sweep - buffer, 0.0))
    want = xp.maximum(base - left, 0.0)
    return sweep, write_off, cure, want


def _split(xp: ModuleType, book: Book, line_out: Any, amount: Any) -> Any:
    """(paths, contracts) a fund's ``amount`` (paths, agents) over its facilities, pro rata to ``line_out``."""
    total, _ = from_payers(xp, book, line_out)
    share = xp.where(total > 0, amount / xp.where(total > 0, total, 1.0), 0.0)
    return line_out * _of(xp, share, book.payer)


def _repay(xp: ModuleType, book: Book, s: State, line_out: Any, amount: Any) -> State:
    paid_c = _split(xp, book, line_out, amount)
    paid, _ = from_payers(xp, book, paid_c)
    received, to_ext = to_payees(xp, book, s.alive, paid_c)
    return ledger.repay(s, paid, paid_c, received, to_ext)


def draws(xp: ModuleType, book: Book, s: State, want: Any, lender_ok: Any, spare: Any) -> Any:
    """(paths, contracts) USD bn drawn on each asset facility: a fund's ``want`` (paths, agents)
    split evenly over its alive facilities whose lender passes its tests (``lender_ok`` (paths,
    agents) bool), each lender lending at most its ``spare`` cash (paths, agents), pro rata."""
    ok_c = s.c_alive & book.asset_line[None, :] & _of(xp, lender_ok, book.payee)
    ok_c = ok_c & _of(xp, s.alive, book.payer)
    n_ok, _ = from_payers(xp, book, xp.astype(ok_c, xp.float64))
    per = xp.where(n_ok > 0, want / xp.where(n_ok > 0, n_ok, 1.0), 0.0)
    want_c = xp.where(ok_c, _of(xp, per, book.payer), 0.0)
    at_lender, _ = to_payees(xp, book, s.alive, want_c)
    scale = xp.where(at_lender > 0, xp.minimum(spare / xp.where(at_lender > 0, at_lender, 1.0), 1.0), 0.0)
    return want_c * _of(xp, scale, book.payee)


def step(xp: ModuleType, book: Book, before: State, s: State, is_fund: Any, cash_buffer: Any, lender_ok: Any,
         p: AssetFacilityParams) -> State:
    """One month of the asset-facility channel (steps 1-3 of the module doc).

    before: the state before this month's resolution; s: after it. is_fund: (agents,) bool;
    cash_buffer: (agents,) or (paths, agents) USD bn each agent keeps back (funds before curing,
    banks before lending); lender_ok: (paths, agents) bool lenders passing their tests.
    """
    fund = is_fund[None, :] & s.alive
    line = s.c_alive & book.asset_line[None, :]
    line_out = xp.where(line, s.outstanding, 0.0)
    facility, _ = from_payers(xp, book, line_out)
    facility = xp.where(fund, facility, 0.0)
    pool_ = pool(xp, book, s, fund)
    buffer = per_agent(cash_buffer) + xp.zeros_like(s.cash)
    sweep, write_off, cure, want = waterfall(xp, facility, pool_, recoveries(xp, book, before, s, fund), s.cash,
                                             buffer, p.advance_rate)
    # 1. the sweep; 2. the write-off: the bank's loss, the fund's relief (its SPV's limited liability)
    s = _repay(xp, book, s, line_out, sweep)
    line_out = xp.where(line, s.outstanding, 0.0)
    lost_c = _split(xp, book, line_out, write_off)
    lost_in, lost_ext = to_payees(xp, book, s.alive, lost_c)
    s = ledger.write_off_loans(xp, s, lost_c, lost_in, lost_ext, write_off)
    s = s.replace(line_loss=s.line_loss + xp.sum(write_off, axis=1),
                  facility_loss=s.facility_loss + xp.sum(write_off, axis=1))
    # 3. the borrowing base: a deficiency cured from cash, room drawn from the bank
    line_out = xp.where(line, s.outstanding, 0.0)
    s = _repay(xp, book, s, line_out, cure)
    spare = xp.maximum(s.cash - buffer, 0.0)
    drawn_c = draws(xp, book, s, want, lender_ok, spare)
    borrowed, _ = from_payers(xp, book, drawn_c)
    lent, _ = to_payees(xp, book, s.alive, drawn_c)
    return ledger.draw_loans(s, drawn_c, borrowed, lent)
