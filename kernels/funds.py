"""Private-credit funds: LP redemptions, gates, liquidity buffers, leverage caps and NAV triggers.

Semi-liquid vehicles let LPs redeem monthly. Requests respond to past returns, as flows chase
performance in open-end funds (Chevalier and Ellison 1997, JPE 105(6); Goldstein, Jiang and Ng
2017, "Investor flows and fragility in corporate bond funds", JFE 126(3) -- outflows that are
more sensitive to bad returns than inflows to good ones; here, a linear response to losses):

    requests = NAV x (base + sensitivity x max(0, -last month's return))

and are paid up to the gate (a share of NAV a month); the rest waits (dropped here). A fund pays
from cash and sells loans (its other assets) at ``haircut`` when cash runs short.

Bank back-leverage lines (loans from a bank to a fund) carry a NAV loan-to-value trigger: line
debt over the fund's gross assets at most the line's limit. Above it -- or above the regime's
leverage cap on debt / NAV -- the fund must sell loans to repay lines; a fund that cannot get
back under the trigger defaults (covenant breach).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import ledger
from .accounting import balance_sheet, from_payers, to_payees
from .state import Book, State, per_agent


def redemptions(
    xp: ModuleType, is_fund: Any, alive: Any, nav: Any, last_return: Any, base: Any,
    sensitivity: Any, gate: float,
) -> Any:
    """(paths, agents) USD bn of redemptions due this month (after the gate)."""
    nav_pos = xp.maximum(nav, 0.0)
    rate = per_agent(base) + per_agent(sensitivity) * xp.maximum(-last_return, 0.0)
    due = xp.minimum(rate * nav_pos, gate * nav_pos)
    return xp.where(alive & is_fund[None, :], due, 0.0)


def raise_cash(xp: ModuleType, cash: Any, other_assets: Any, need: Any, haircut: float) -> tuple[Any, Any]:
    """Sell loans at ``haircut`` to cover ``need`` beyond cash.

    Returns (book value sold, cash available to pay = min(need, cash + proceeds)), (paths, agents).
    """
    short = xp.where(need > 0, xp.maximum(need - cash, 0.0), 0.0)
    sold = xp.minimum(short / (1.0 - haircut), other_assets)
    return sold, xp.minimum(need, cash + sold * (1.0 - haircut))


def deleverage_sales(
    xp: ModuleType, line_debt: Any, assets: Any, nav: Any, other_assets: Any, trigger: Any,
    leverage_cap: float, haircut: float,
) -> tuple[Any, Any]:
    """Loans a fund must sell to get back under its NAV trigger and the leverage cap.

    line_debt, assets, nav, other_assets: (paths, agents); trigger: (paths, agents) the NAV-LTV
    limit of its lines (their limits weighted by size; anything where it has none). Selling x at
    haircut h and repaying lines with the proceeds gives LTV (D - x(1-h)) / (A - x) <= L for
    x >= (D - L A) / ((1-h) - L), and
    leverage (D - x(1-h)) / NAV <= cap for x >= (D - cap NAV) / (1-h) (ignoring the haircut's
    small effect on NAV). Returns (book value to sell, bool: the sale cannot restore the limits).
    """
    denom = (1.0 - haircut) - trigger
    safe = xp.where(denom > 0, denom, 1.0)
    breach = (line_debt > 0) & (line_debt > trigger * assets)
    x_ltv = xp.where(breach, xp.where(denom > 0, (line_debt - trigger * assets) / safe, xp.inf), 0.0)
    if leverage_cap > 0:
        over = line_debt > leverage_cap * xp.maximum(nav, 0.0)
        x_lev = xp.where(over, (line_debt - leverage_cap * xp.maximum(nav, 0.0)) / (1.0 - haircut), 0.0)
        x_ltv = xp.maximum(x_ltv, x_lev)
    sell = xp.minimum(x_ltv, other_assets)
    return sell, x_ltv > other_assets * (1.0 + 1e-12) + 1e-12


def fund_runs(
    xp: ModuleType, book: Book, s: State, is_fund: Any, base: Any, sensitivity: Any, gate: float,
    leverage_cap: float, haircut: float,
) -> tuple[State, Any, Any]:
    """One month of the fund-run channel: redemptions paid (selling loans where cash runs short),
    then back-leverage lines brought back under their NAV triggers and the leverage cap.

    is_fund: (agents,) bool; base, sensitivity: (agents,) or (paths, agents) redemption
    parameters; gate, leverage_cap (0 = none), haircut: the regime's and the loan market's.
    Returns (state, covenant breaches (paths, agents) bool, redemptions paid (paths, agents)).
    """
    h = haircut
    # 1. LP redemptions, gated, paid from cash and loan sales
    due = redemptions(xp, is_fund, s.alive, s.equity, s.last_return, base, sensitivity, gate)
    sold, paid = raise_cash(xp, s.cash, s.other_assets, due, h)
    s = ledger.pay_external(xp, ledger.sell_to_external(xp, s, "other_assets", sold, h), paid)
    s = s.replace(redemptions=s.redemptions + xp.sum(paid, axis=1), forced_sales=s.forced_sales + xp.sum(sold, axis=1))
    # 2. back-leverage lines: NAV loan-to-value triggers and the regime's leverage cap
    line = s.c_alive & book.nav_line[None, :]
    line_out = xp.where(line, s.outstanding, 0.0)
    line_debt, _ = from_payers(xp, book, line_out)
    weighted, _ = from_payers(xp, book, line_out * book.ltv_max[None, :])
    safe = xp.where(line_debt > 0, line_debt, 1.0)
    trigger = xp.where(line_debt > 0, weighted / safe, 1.0)
    assets = balance_sheet(xp, book, s)["assets"]
    x, fail = deleverage_sales(xp, line_debt, assets, s.equity, s.other_assets, trigger, leverage_cap, h)
    fund = is_fund[None, :] & s.alive
    x = xp.where(fund, x, 0.0)
    repaid = xp.minimum(x * (1.0 - h), line_debt)
    share_c = xp.take(xp.concat([repaid / safe, xp.zeros_like(s.cash[:, :1])], axis=1), book.payer, axis=1)
    repaid_c = line_out * share_c
    received, to_ext = to_payees(xp, book, s.alive, repaid_c)
    s = ledger.repay(ledger.sell_to_external(xp, s, "other_assets", x, h), repaid, repaid_c, received, to_ext)
    return s.replace(forced_sales=s.forced_sales + xp.sum(x, axis=1)), fail & fund, paid
