"""Settlement: pay what is due, pro rata where an agent cannot pay it all.

Each agent owes its contract dues plus its operating costs, and pays from its cash, its liquid
securities (sold at par to the external sector only as far as needed) and what it receives this
month. Agents settle together: every agent i pays the same fraction ``r_i`` of each of its
obligations (equal priority), found by the monotone iteration

    r_i(0)   = min(1, L_i / D_i)
    r_i(k+1) = min(1, (L_i + sum_c r_payer(c)(k) x due_c [payee(c) = i]) / D_i)

with L_i its cash and securities and D_i what it owes. Starting from what each agent can pay
from its own resources, the fractions only rise, and every iterate is feasible: an agent never
pays out more than it holds plus what it is sure to receive, so cash never goes negative. The
iteration stops when nothing changes or after ``max_rounds`` rounds; ``r_i < 1`` then means
illiquid, and the agent defaults this month. (This is the lower, always-feasible approach to
the clearing problem; the greatest clearing vector of Eisenberg and Noe (2001) is in
:mod:`kernels.clearing`.)

Interest, lease, offtake, backstop and rvg payments move equity from payer to payee; principal
only swaps a loan for cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from kernels.accounting import from_payers, to_payees
from kernels.contracts import Dues
from kernels.state import Book

ILLIQUIDITY_TOL = 1e-12
MAX_ROUNDS = 32


@dataclass(frozen=True)
class Settlement:
    cash: Any  # (paths, agents) after payments and receipts
    securities: Any  # (paths, agents)
    equity_change: Any  # (paths, agents): received non-principal - paid non-principal - costs
    principal_paid: Any  # (paths, contracts)
    paid: Any  # (paths, contracts) total paid per contract
    costs_paid: Any  # (paths, agents)
    ratio: Any  # (paths, agents) share of its obligations each agent paid
    illiquid: Any  # (paths, agents) bool
    external_net: Any  # (paths,) cash the external sector paid in (negative: received)


def payment_ratios(
    xp: ModuleType, book: Book, alive: Any, liquid: Any, due: Any, due_c: Any, max_rounds: int = MAX_ROUNDS,
) -> Any:
    """(paths, agents) fractions of their obligations agents can pay, by the monotone iteration.

    liquid: (paths, agents) cash + securities; due: (paths, agents) total owed; due_c:
    (paths, contracts) owed per contract.
    """
    safe = xp.where(due > 0, due, 1.0)
    ones = xp.ones((due.shape[0], 1), dtype=due.dtype)
    ratio = xp.where(due > 0, xp.minimum(liquid / safe, 1.0), 1.0)
    for _ in range(max_rounds):
        r_c = xp.take(xp.concat([ratio, ones], axis=1), book.payer, axis=1)
        received, _ = to_payees(xp, book, alive, due_c * r_c)
        new = xp.where(due > 0, xp.minimum((liquid + received) / safe, 1.0), 1.0)
        if not bool(xp.any(new != ratio)):
            break
        ratio = new
    return ratio


def settle(xp: ModuleType, book: Book, alive: Any, cash: Any, securities: Any, dues: Dues, costs: Any) -> Settlement:
    """Settle one month. cash, securities, costs: (paths, agents) USD bn; dues per contract."""
    due_c = dues.total
    owed, _ = from_payers(xp, book, due_c)
    due = xp.where(alive, owed + costs, 0.0)
    ratio = payment_ratios(xp, book, alive, cash + securities, due, due_c)
    ones = xp.ones((ratio.shape[0], 1), dtype=ratio.dtype)
    r_c = xp.take(xp.concat([ratio, ones], axis=1), book.payer, axis=1)
    paid = due_c * r_c
    principal_paid = dues.principal * r_c
    income = paid - principal_paid
    costs_paid = costs * ratio

    out_a, out_ext = from_payers(xp, book, paid)
    in_a, in_ext = to_payees(xp, book, alive, paid)
    inc_out, _ = from_payers(xp, book, income)
    inc_in, _ = to_payees(xp, book, alive, income)
    outflow = out_a + costs_paid
    sold = xp.minimum(securities, xp.maximum(outflow - cash - in_a, 0.0))
    new_cash = cash + sold + in_a - outflow
    equity_change = inc_in - inc_out - costs_paid
    # external: buys securities, pays contracts where it is payer, receives costs and flows to it
    external_net = xp.sum(sold, axis=1) + out_ext - in_ext - xp.sum(costs_paid, axis=1)
    short = ratio < 1.0 - ILLIQUIDITY_TOL
    return Settlement(cash=new_cash, securities=securities - sold, equity_change=equity_change,
                      principal_paid=principal_paid, paid=paid, costs_paid=costs_paid, ratio=ratio,
                      illiquid=short & alive, external_net=external_net)
