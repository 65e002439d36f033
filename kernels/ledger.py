"""The ledger: every posting of the month, double entry, against the state.

Each function posts both sides of one kind of transaction -- the agents' cash and equity, the
asset or contract it moves, and the external sector's net cash -- so the books balance by
construction; :func:`aisim.kernels.accounting.identity_residual` stays as the monthly proof.

Conventions: amounts are (paths, agents) USD bn, non-negative, in the direction the name says;
per-contract amounts are (paths, contracts). The external sector's net cash ``ext_cash`` (paths,)
is what it has paid into the network: it falls when agents receive from it and rises when they
pay it. Flows that change only the composition of an agent's assets (a loan for cash) leave its
equity alone; flows that are income or expense (revenue, costs, equity raised, payouts, a sale
below book) move it.

The arithmetic of each posting is fixed (the order of additions included), so the model's
results do not depend on how the phases group their postings.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .state import State


def receive_external(xp: ModuleType, s: State, amount: Any) -> State:
    """Agents receive ``amount`` from the external sector as income or new equity."""
    return s.replace(cash=s.cash + amount, equity=s.equity + amount, ext_cash=s.ext_cash - xp.sum(amount, axis=1))


def pay_external(xp: ModuleType, s: State, amount: Any) -> State:
    """Agents pay ``amount`` to the external sector as an expense or a payout."""
    return s.replace(cash=s.cash - amount, equity=s.equity - amount, ext_cash=s.ext_cash + xp.sum(amount, axis=1))


def depreciate(s: State, amount: Any) -> State:
    """GPU book value written down by ``amount``: an expense with no cash."""
    return s.replace(equity=s.equity - amount, gpu=s.gpu - amount)


def sell_to_external(xp: ModuleType, s: State, asset: str, book: Any, haircut: float) -> State:
    """Agents sell ``book`` of ``asset`` (``other_assets``: loans) to the external sector at
    ``haircut`` below book; the discount is a loss."""
    proceeds = book * (1.0 - haircut)
    return s.replace(**{
        "cash": s.cash + proceeds, asset: getattr(s, asset) - book, "equity": s.equity - book * haircut,
        "ext_cash": s.ext_cash - xp.sum(proceeds, axis=1),
    })


def sell_securities(xp: ModuleType, s: State, amount: Any) -> State:
    """Agents sell liquid securities at par to the external sector."""
    return s.replace(cash=s.cash + amount, securities=s.securities - amount,
                     ext_cash=s.ext_cash - xp.sum(amount, axis=1))


def repay(s: State, paid: Any, paid_c: Any, received: Any, to_external: Any) -> State:
    """Debtors repay principal: ``paid`` (paths, agents) by payer, ``paid_c`` (paths, contracts)
    off the contracts' outstanding, ``received`` by live creditors and ``to_external`` (paths,)
    by the external sector (``aisim.kernels.accounting.to_payees`` of ``paid_c``)."""
    return s.replace(cash=s.cash - paid + received, outstanding=s.outstanding - paid_c,
                     ext_cash=s.ext_cash + to_external)


def add_to_facilities(xp: ModuleType, outstanding: Any, n_calibrated: int, amount: Any) -> Any:
    """(paths, contracts) outstanding with ``amount`` (paths, facilities) of new lending on the
    capex facilities, which follow the ``n_calibrated`` calibrated contracts."""
    return xp.concat([outstanding[:, :n_calibrated], outstanding[:, n_calibrated:] + amount], axis=1)


def lend(xp: ModuleType, s: State, n_calibrated: int, amount: Any, lent: Any, borrowed: Any = None) -> State:
    """New loans on the capex facilities: ``amount`` (paths, facilities); lenders pay ``lent``.

    Borrowers receive ``borrowed`` in cash, or, when it is None, spend it at once on GPUs (the
    investment posting :func:`invest` books those)."""
    cash = s.cash if borrowed is None else s.cash + borrowed
    return s.replace(cash=cash - lent, outstanding=add_to_facilities(xp, s.outstanding, n_calibrated, amount),
                     credit_supply=s.credit_supply + xp.sum(amount, axis=1))


def invest(xp: ModuleType, s: State, internal: Any, raised: Any, capex: Any) -> State:
    """GPU capex ``capex`` = ``internal`` cash + new loans + ``raised`` new equity (from the
    external sector); the seller's side is :func:`receive_external` of chipmakers' sales and
    the external suppliers' share (:func:`sell_gpus`)."""
    return s.replace(cash=s.cash - internal, equity=s.equity + raised, gpu=s.gpu + capex,
                     ext_cash=s.ext_cash - xp.sum(raised, axis=1), capex_cum=s.capex_cum + xp.sum(capex, axis=1))


def sell_gpus(s: State, sales: Any, to_external: Any) -> State:
    """The other side of :func:`invest`: chipmakers book ``sales`` (paths, agents) as revenue,
    outside suppliers the rest ``to_external`` (paths,); together they are the month's capex."""
    return s.replace(cash=s.cash + sales, equity=s.equity + sales, ext_cash=s.ext_cash + to_external)


def write_off_loans(xp: ModuleType, s: State, lost_c: Any, lost_in: Any, lost_ext: Any, relief: Any) -> State:
    """Lenders write ``lost_c`` (paths, contracts) off loans whose debtors do not default (a
    non-recourse facility beyond its collateral, :mod:`aisim.kernels.asset_facilities`): live
    lenders lose ``lost_in`` (paths, agents) of loans and equity, the external sector
    ``lost_ext`` (paths,) of claims it holds; debtors' liabilities fall and their equity rises by
    ``relief`` (paths, agents), whose default-like loss it is (``loss_caused``). No cash."""
    loss = xp.concat([lost_in, lost_ext[:, None]], axis=1)
    return s.replace(outstanding=s.outstanding - lost_c, equity=s.equity - lost_in + relief,
                     credit_loss=s.credit_loss + loss, loss_caused=s.loss_caused + relief)


def draw_loans(s: State, drawn_c: Any, borrowed: Any, lent: Any) -> State:
    """Draws ``drawn_c`` (paths, contracts) on revolving loans: lenders pay ``lent``, debtors
    receive ``borrowed`` (paths, agents) in cash."""
    return s.replace(cash=s.cash + borrowed - lent, outstanding=s.outstanding + drawn_c)


def revalue_contracts(s: State, outstanding: Any, revaluation: Any) -> State:
    """Contracts re-marked to ``outstanding``; holders' equity moves by ``revaluation``."""
    return s.replace(outstanding=outstanding, equity=s.equity + revaluation)


def grow_book(s: State, amount: Any) -> State:
    """Banks' non-AI book grows by ``amount``, funded by deposits: other assets and other
    liabilities both rise; no cash, no equity."""
    return s.replace(other_assets=s.other_assets + amount, other_liab=s.other_liab + amount)


def write_down(s: State, asset: str, amount: Any) -> State:
    """``amount`` of ``asset`` written off as a credit loss: an expense with no cash."""
    return s.replace(**{asset: getattr(s, asset) - amount, "equity": s.equity - amount})


def remark(xp: ModuleType, s: State, mark: Any) -> State:
    """Fair-value marks (paths, agents) beside the book replace the previous ones; holders' equity
    moves by the change (no cash). A defaulted agent's mark is gone with its estate."""
    old = xp.where(s.alive, s.fv_mark, 0.0)
    return s.replace(fv_mark=mark, equity=s.equity + mark - old)


def issue_notes(xp: ModuleType, s: State, is_notes: Any, payer: Any, notes: Any) -> State:
    """New notes (:mod:`aisim.kernels.notes_market`): each issuer's ``notes`` (paths, agents) are
    added to its notes contract (is_notes (contracts,) bool, payer (contracts,) issuer columns)
    and paid by bondholders (the external sector); the issuer spends them at once on GPUs
    (:func:`invest` books the purchase as capex)."""
    from .notes_market import post

    return s.replace(outstanding=post(xp, s.outstanding, is_notes, payer, notes),
                     ext_cash=s.ext_cash - xp.sum(notes, axis=1))


def refinance_notes(xp: ModuleType, s: State, is_notes: Any, payer: Any, notes: Any) -> State:
    """New notes sold for cash (to pay a maturing bullet): each issuer's ``notes`` (paths, agents)
    added to its notes contract, paid by bondholders (the external sector) into its cash."""
    from .notes_market import post

    return s.replace(outstanding=post(xp, s.outstanding, is_notes, payer, notes), cash=s.cash + notes,
                     ext_cash=s.ext_cash - xp.sum(notes, axis=1))

