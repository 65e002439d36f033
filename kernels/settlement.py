"""Settlement: pay what is due, pro rata where an agent cannot pay it all.

Each agent owes its contract dues plus its operating costs, and pays from its cash, its liquid
securities (sold at par to the external sector only as far as needed) and what it receives this
month. Agents settle together: every agent i pays the same fraction ``r_i`` of each of its
obligations (equal priority).

Channel ``clearing`` on (the default): the fractions are those of the greatest clearing vector
(Eisenberg and Noe 2001; with default costs alpha, beta < 1, Rogers and Veraart 2013), computed
exactly by :func:`aisim.kernels.clearing.clearing_payments` on the month's obligations between agents,
with the external sector as a node that owes nothing and pays what it owes in full. A
defaulting agent's default costs -- the (1 - alpha) share of its own resources and (1 - beta)
of its receipts that it does not pass on -- go to the external sector (lawyers, lost value).
The dense solve runs only in months where some agent cannot pay in full.

Channel ``clearing`` off: the fractions come from the monotone iteration

    r_i(0)   = min(1, L_i / D_i)
    r_i(k+1) = min(1, (L_i + sum_c r_payer(c)(k) x due_c [payee(c) = i]) / D_i)

with L_i its cash and securities and D_i what it owes. Starting from what each agent can pay
from its own resources, the fractions only rise, and every iterate is feasible: an agent never
pays out more than it holds plus what it is sure to receive, so cash never goes negative
(beyond rounding). The
iteration stops when nothing changes or after ``max_rounds`` rounds; ``r_i < 1`` then means
illiquid, and the agent defaults this month. (This is the lower, always-feasible approach to
the clearing problem; the greatest clearing vector of Eisenberg and Noe (2001) is in
:mod:`aisim.kernels.clearing`.)

Interest, lease, offtake, backstop and rvg payments move equity from payer to payee; principal
only swaps a loan for cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .accounting import from_payers, party_alive, to_payees
from .clearing import clearing_payments
from .contracts import Dues
from .state import EQUITY, LOAN, REVOLVING, Book, State

ILLIQUIDITY_TOL = 1e-12
# a shortfall within this share of max(dues, 1) is rounding, not default: the calm test, the
# clearing solve and the ratio all use it, so no agent is in default for one and not another
SHORTFALL_TOL = 1e-12
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
    default_costs: Any  # (paths, agents) Rogers-Veraart costs of default, paid to the external sector


def payment_ratios(
    xp: ModuleType, book: Book, alive: Any, liquid: Any, due: Any, due_c: Any, max_rounds: int = MAX_ROUNDS,
    shortcuts: bool = True,
) -> Any:
    """(paths, agents) fractions of their obligations agents can pay, by the monotone iteration.

    liquid: (paths, agents) cash + securities; due: (paths, agents) total owed; due_c:
    (paths, contracts) owed per contract. shortcuts: stop as soon as nothing changes (reads a
    value on the host); without, run all ``max_rounds`` (a converged round is an exact no-op).
    """
    safe = xp.where(due > 0, due, 1.0)
    ones = xp.ones((due.shape[0], 1), dtype=due.dtype)
    ratio = xp.where(due > 0, xp.minimum(liquid / safe, 1.0), 1.0)
    for _ in range(max_rounds):
        r_c = xp.take(xp.concat([ratio, ones], axis=1), book.payer, axis=1)
        r_c = xp.where(xp.take(party_alive(xp, alive), book.payer, axis=1), r_c, 1.0)
        received, _ = to_payees(xp, book, alive, due_c * r_c)
        new = xp.where(due > 0, xp.minimum((liquid + received) / safe, 1.0), 1.0)
        if shortcuts and not bool(xp.any(new != ratio)):
            break
        ratio = new
    return ratio


def greatest_ratios(
    xp: ModuleType, book: Book, alive: Any, liquid: Any, due: Any, due_c: Any, costs: Any,
    alpha: float, beta: float, shortcuts: bool = True,
) -> tuple[Any, Any]:
    """(paths, agents) fractions paid at the greatest clearing vector, and each agent's outside
    resources e (liquid + what the external sector pays it), for the default costs.

    The (agents + 1)-node network is the month's dues as a list of obligations (flows to live
    payees, flows re-routed to the external sector, the costs owed to it), never a dense matrix.
    With ``shortcuts``, the solve is skipped when everyone
    can pay in full (a host read); without, it runs on every path and calm paths keep 1.
    """
    n = book.n_agents
    alive_p = party_alive(xp, alive)
    payer_live = xp.take(alive_p, book.payer, axis=1) & (book.payer < n)[None, :]
    payee_live = xp.take(alive_p, book.payee, axis=1) & (book.payee < n)[None, :]
    zero = xp.zeros_like(due_c)
    # what the external sector pays (its own contracts, or those it took over) is certain
    from_ext, _ = to_payees(xp, book, alive, xp.where(payer_live, zero, due_c))
    e = liquid + from_ext
    received_full, _ = to_payees(xp, book, alive, xp.where(payer_live, due_c, zero))
    # a path on which everyone can pay in full settles in full, whether or not another path of
    # the chunk needs the solve: a path's outcome must not depend on its chunk
    calm = ~xp.any(due > e + received_full + SHORTFALL_TOL * xp.maximum(due, 1.0), axis=1)
    if shortcuts and bool(xp.all(calm)):
        return xp.ones_like(due), e
    # the month's obligations among the n agents and the external node n: each contract to its
    # payee while the payee is alive, else to the external sector, and each agent's costs
    payer, payee = book.clearing_obligations  # fixed index arrays: a device plans their reduction once
    amounts = xp.concat([xp.where(payer_live & payee_live, due_c, zero),
                         xp.where(payer_live & ~payee_live, due_c, zero), costs], axis=1)
    e_full = xp.concat([e, xp.zeros_like(e[:, :1])], axis=1)
    p, p_bar = clearing_payments(payer, payee, amounts, e_full, alpha=alpha, beta=beta, xp=xp, shortcuts=shortcuts,
                                 threshold=SHORTFALL_TOL)
    p, p_bar = p[:, :n], p_bar[:, :n]
    safe = xp.where(p_bar > 0, p_bar, 1.0)
    ratio = xp.where(p_bar > 0, xp.minimum(p / safe, 1.0), 1.0)
    # the same threshold as the calm test: a shortfall within rounding is no default, whether
    # or not someone else's shortfall made the solve run
    ratio = xp.where(p >= p_bar - SHORTFALL_TOL * xp.maximum(p_bar, 1.0), 1.0, ratio)
    return xp.where(calm[:, None], 1.0, ratio), e


def settle(
    xp: ModuleType, book: Book, alive: Any, cash: Any, securities: Any, dues: Dues, costs: Any, *,
    greatest: bool = False, alpha: float = 1.0, beta: float = 1.0, shortcuts: bool = True,
) -> Settlement:
    """Settle one month. cash, securities, costs: (paths, agents) USD bn; dues per contract.

    greatest: use the greatest clearing vector (channel ``clearing``), else the monotone lower
    iteration; alpha, beta: Rogers-Veraart default costs (1 = Eisenberg-Noe); shortcuts: exact
    early exits that read array values on the host (off on a device).
    """
    due_c = dues.total
    owed, _ = from_payers(xp, book, due_c, alive)
    due = xp.where(alive, owed + costs, 0.0)
    if greatest:
        ratio, e = greatest_ratios(xp, book, alive, cash + securities, due, due_c, costs, alpha, beta, shortcuts)
    else:
        ratio = payment_ratios(xp, book, alive, cash + securities, due, due_c, shortcuts=shortcuts)
    ones = xp.ones((ratio.shape[0], 1), dtype=ratio.dtype)
    r_c = xp.take(xp.concat([ratio, ones], axis=1), book.payer, axis=1)
    # contracts a replacement counterparty took over are paid in full by the external sector
    r_c = xp.where(xp.take(party_alive(xp, alive), book.payer, axis=1), r_c, 1.0)
    paid = due_c * r_c
    principal_paid = dues.principal * r_c
    income = paid - principal_paid
    costs_paid = costs * ratio

    out_a, out_ext = from_payers(xp, book, paid, alive)
    in_a, in_ext = to_payees(xp, book, alive, paid)
    inc_out, _ = from_payers(xp, book, income, alive)
    inc_in, _ = to_payees(xp, book, alive, income)
    outflow = out_a + costs_paid
    sold = xp.minimum(securities, xp.maximum(outflow - cash - in_a, 0.0))
    new_cash = cash + sold + in_a - outflow
    new_sec = securities - sold
    short = ratio < 1.0 - ILLIQUIDITY_TOL
    default_costs = xp.zeros_like(cash)
    if greatest and (alpha < 1.0 or beta < 1.0):
        # what a defaulter keeps back beyond alpha e + beta receipts is lost to default
        default_costs = xp.where(short & alive, (1.0 - alpha) * e + (1.0 - beta) * in_a, 0.0)
        default_costs = xp.minimum(default_costs, new_cash + new_sec)
        from_sec = xp.maximum(default_costs - new_cash, 0.0)
        new_cash = new_cash - (default_costs - from_sec)
        new_sec = new_sec - from_sec
        sold = sold + from_sec
    equity_change = inc_in - inc_out - costs_paid - default_costs
    # external: buys securities, pays contracts where it is payer, receives costs and flows to it
    external_net = (xp.sum(sold, axis=1) + out_ext - in_ext - xp.sum(costs_paid, axis=1)
                    - xp.sum(default_costs, axis=1))
    return Settlement(cash=new_cash, securities=new_sec, equity_change=equity_change,
                      principal_paid=principal_paid, paid=paid, costs_paid=costs_paid, ratio=ratio,
                      illiquid=short & alive, external_net=external_net, default_costs=default_costs)


def post(xp: ModuleType, book: Book, s: State, st: Settlement, dues: Dues, refinance_term: int) -> State:
    """Post a settlement to the state: cash, securities and equity from the kernel's result;
    principal off the contracts; maturities stepped down (refinanced bullets start a new term of
    ``refinance_term`` months); contracts that ran out end."""
    outstanding = s.outstanding - st.principal_paid
    revolving = (book.amort == REVOLVING)[None, :]
    step_down = xp.where(dues.active & ~revolving, s.maturity - 1, s.maturity)
    maturity = xp.where(dues.refinanced, refinance_term, step_down)
    loan_or_stake = ((book.kind == LOAN) | (book.kind == EQUITY))[None, :]
    finished = (maturity <= 0) & (~loan_or_stake | (outstanding == 0.0))
    return s.replace(
        cash=st.cash, securities=st.securities, equity=s.equity + st.equity_change,
        outstanding=outstanding, maturity=maturity, c_alive=s.c_alive & ~finished,
        ext_cash=s.ext_cash - st.external_net, default_costs=s.default_costs + xp.sum(st.default_costs, axis=1),
    )
