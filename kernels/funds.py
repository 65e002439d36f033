"""Private-credit funds as BDCs and interval funds: fair-value NAV, LP subscriptions and redemption
queues, quarterly tenders with a gate, leverage within the BDC limit, bank NAV lines with
loan-to-value triggers, and a secondary loan market with its own price impact.

Each month, in this order (``fund_runs``; the marks again after the month's losses, ``marks``):

1. **The secondary loan market heals and prices loans** (paths,): its fire-sale discount index
   ``q_L`` heals as the GPU one does (:mod:`aisim.kernels.collateral`), ``q_L <- 1 - (1 - q_L)(1 -
   recovery)``, and a performing loan trades at

       P = q_L x max(1 - D x market_spread, floor)

   (``D`` the spread duration of a floating loan, ``market_spread`` the market-wide credit spread
   add-on): the price method of fair value (ASC 820 Level 2/3; BDCs mark their Level 3 loans with
   yield and market methods each quarter).
2. **LP requests join a queue** (paths, agents), USD bn: for each semi-liquid fund

       requests = NAV x (base + sensitivity x (max(0, -r) + w_d x discount + w_g x gated_peers))

   with ``r`` last month's return net of flows, ``discount = min(k x market_spread, cap)`` the
   discount to NAV at which listed BDC peers trade when credit spreads widen, and ``gated_peers``
   the NAV-weighted share of the other funds gated at their last tender: redemptions respond to
   bad returns more than inflows to good ones (Chevalier and Ellison 1997; Goldstein, Jiang and
   Ng 2017, JFE 126) and to what other investors do (strategic complementarity: Chen, Goldstein
   and Jiang 2010, JFE 97). Requests not yet paid stay queued (not dropped).
3. **Quarterly tenders with a cap.** Every ``tender_months`` months a fund pays
   ``min(queue, min(tender_cap, gate x tender_months) x NAV)`` (non-traded BDCs tender for 5% of
   shares a quarter; interval funds, Rule 23c-3, offer 5-25% a quarter; ``gate`` is the regime's
   monthly limit) from cash, then by selling loans at ``P (1 - haircut)`` of book. A fund whose
   queue exceeds the cap by more than ``gate_tolerance`` of NAV is *gated* until its next tender.
4. **Leverage and NAV lines.** Bank back-leverage lines carry a NAV loan-to-value trigger: line
   debt over gross assets at most the lines' ``ltv_max``; and a fund's debt / NAV is at most the
   BDC limit (asset coverage 150%: debt/equity <= 2, Small Business Credit Availability Act 2018)
   or the regime's tighter cap. Above either, the fund must sell loans and repay lines (a margin
   call); one that cannot get back under the trigger defaults on its lines (covenant breach).
5. **Price impact.** All loans the funds sold this month move the loan market's index,
   ``q_L <- q_L x exp(-sold / depth)`` (a second fire-sale asset beside GPUs, priced by every fund
   that holds loans: Cont and Schaanning 2017; Greenwood, Landier and Thesmar 2015).
6. **Fair-value marks** (paths, agents), USD bn, held in ``fv_mark`` beside the book:

       mark = other_assets x (P - 1) + sum over AI loans k held of out_k x (max(P - D x dspread_b, floor) - 1)

   with ``dspread_b = max(spread_b - spread_b(0), 0)`` the widening of the borrower's own
   (distance-to-default) spread since month 0. NAV falls before defaults do; a loan that
   defaults leaves the mark when the credit loss is booked.

Returns net of LP flows: net subscriptions (the part of a fund's non-AI cash flow beyond the yield
on its book, ``max(non_ai_cash_flow - book_yield / 12 x other_assets, 0)``) and redemptions paid
are flows, not returns: ``r = (NAV change - net subscriptions + redemptions) / NAV``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import ledger
from .accounting import balance_sheet, from_payers, to_payees
from .params import param
from .state import LOAN, Book, State, per_agent


@dataclass(frozen=True)
class FundParams:
    """Private-credit vehicles: tenders, request responses, the loan market, marks, BDC leverage.
    docs/calibration.md gives what each value rests on."""

    tender_months: int = param(3, ge=1, le=12, unit="months", doc="months between a fund's tender offers")
    tender_cap: float = param(0.05, ge=0.0, le=1.0, unit="share of NAV a tender",
                              doc="most of NAV a fund repurchases at one tender (non-traded BDCs: 5% a quarter)")
    gate_tolerance: float = param(0.001, ge=0.0, le=1.0, unit="share of NAV",
                                  doc="a fund is gated when requests left unpaid at a tender exceed this share of NAV")
    discount_per_spread: float = param(5.0, ge=0.0, le=100.0, unit="discount per unit of annual spread",
                                       doc="listed BDC peers' discount to NAV per unit of the market credit spread")
    discount_max: float = param(0.5, ge=0.0, le=1.0, unit="share of NAV", doc="largest listed-peer discount")
    discount_weight: float = param(0.02, ge=0.0, le=10.0, unit="request rate per unit of discount",
                                   doc="redemption requests a month per unit of the peer discount (x sensitivity)")
    gate_weight: float = param(0.02, ge=0.0, le=10.0, unit="request rate per unit of gated share",
                               doc="redemption requests a month when all other funds are gated (x sensitivity)")
    book_yield: float = param(0.10, ge=0.0, le=1.0, unit="annual",
                              doc="yield of a fund's non-AI book; its non-AI cash flow beyond it is net subscriptions")
    spread_duration: float = param(3.0, ge=0.0, le=30.0, unit="years",
                                   doc="price sensitivity of a loan to its spread (fair-value marks)")
    price_floor: float = param(0.3, ge=0.0, le=1.0, unit="share of face", doc="lowest mark of a loan")
    depth: float = param(600.0, gt=0.0, le=1e6, unit="USD bn",
                         doc="secondary loan market depth: sales of x move its index by exp(-x / depth)")
    recovery: float = param(0.1, ge=0.0, le=1.0, unit="share a month",
                            doc="share of the loan market's fire-sale discount that heals each month")
    bdc_leverage_cap: float = param(2.0, ge=0.0, le=100.0, unit="debt / NAV",
                                    doc="the BDC leverage limit (asset coverage 150%); 0 = none")


def loan_price(xp: ModuleType, q_loan: Any, market_spread: Any, p: FundParams) -> Any:
    """(paths,) price per USD of face of a performing loan: ``q_L x max(1 - D x spread, floor)``."""
    return q_loan * xp.maximum(1.0 - p.spread_duration * xp.maximum(market_spread, 0.0), p.price_floor)


def heal(xp: ModuleType, q_loan: Any, p: FundParams) -> Any:
    """(paths,) the loan market's discount index after a month's healing."""
    return 1.0 - (1.0 - q_loan) * (1.0 - p.recovery)


def impact(xp: ModuleType, q_loan: Any, sold: Any, p: FundParams) -> Any:
    """(paths,) the index after ``sold`` (paths,) USD bn of loans sold: ``q x exp(-sold / depth)``."""
    return q_loan * xp.exp(-sold / p.depth)


def listed_discount(xp: ModuleType, market_spread: Any, p: FundParams) -> Any:
    """(paths,) listed BDC peers' discount to NAV: ``min(k x max(spread, 0), cap)``."""
    return xp.minimum(p.discount_per_spread * xp.maximum(market_spread, 0.0), p.discount_max)


def gated_peers(xp: ModuleType, fund: Any, nav: Any, gated: Any) -> Any:
    """(paths, agents) NAV-weighted share of the *other* alive funds gated; fund: (paths, agents) bool."""
    w = xp.where(fund, xp.maximum(nav, 0.0), 0.0)
    g = xp.where(gated, w, 0.0)
    tot, gtot = xp.sum(w, axis=1, keepdims=True), xp.sum(g, axis=1, keepdims=True)
    other = tot - w
    return xp.where(other > 0, (gtot - g) / xp.where(other > 0, other, 1.0), 0.0)


def requests(xp: ModuleType, fund: Any, nav: Any, last_return: Any, base: Any, sensitivity: Any,
             discount: Any, peers: Any, p: FundParams) -> Any:
    """(paths, agents) USD bn of new redemption requests this month (section 2 of the module doc)."""
    drive = xp.maximum(-last_return, 0.0) + p.discount_weight * discount[:, None] + p.gate_weight * peers
    rate = xp.maximum(per_agent(base) + per_agent(sensitivity) * drive, 0.0)
    return xp.where(fund, rate * xp.maximum(nav, 0.0), 0.0)


def tender_cap(nav: Any, gate: float, p: FundParams) -> Any:
    """(paths, agents) the most a fund pays at a tender: min(tender_cap, gate x months) x NAV."""
    return min(p.tender_cap, gate * p.tender_months) * ((nav + abs(nav)) * 0.5)  # max(NAV, 0), exactly


def subscriptions(xp: ModuleType, fund: Any, non_ai: Any, other_assets: Any, p: FundParams) -> Any:
    """(paths, agents) net LP subscriptions in a fund's non-AI cash flow: beyond the book's yield."""
    return xp.where(fund, xp.maximum(per_agent(non_ai) - p.book_yield / 12.0 * other_assets, 0.0), 0.0)


def raise_cash(xp: ModuleType, cash: Any, other_assets: Any, need: Any, haircut: Any) -> tuple[Any, Any]:
    """Sell loans at ``haircut`` (a float, or (paths, agents)) below book to cover ``need`` beyond cash.

    Returns (book value sold, cash available to pay = min(need, cash + proceeds)), (paths, agents).
    """
    short = xp.where(need > 0, xp.maximum(need - cash, 0.0), 0.0)
    sold = xp.minimum(short / (1.0 - haircut), other_assets)
    return sold, xp.minimum(need, cash + sold * (1.0 - haircut))


def deleverage_sales(
    xp: ModuleType, line_debt: Any, assets: Any, nav: Any, other_assets: Any, trigger: Any,
    leverage_cap: float, haircut: Any,
) -> tuple[Any, Any]:
    """Loans a fund must sell to get back under its NAV trigger and the leverage cap.

    line_debt, assets, nav, other_assets: (paths, agents); trigger: (paths, agents) the NAV-LTV
    limit of its lines (their limits weighted by size; anything where it has none); haircut: a
    float or (paths, agents), the discount to book at which it sells. Selling x at haircut h and
    repaying lines with the proceeds gives LTV (D - x(1-h)) / (A - x) <= L for
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


def fair_value_marks(xp: ModuleType, book: Book, s: State, is_fund: Any, price: Any, p: FundParams) -> Any:
    """(paths, agents) USD bn fair value less book of each alive fund's loans (section 6): its
    non-AI book at the loan price, each AI loan it holds at that price less the borrower's spread
    widening since month 0 times the duration, floored."""
    n = book.n_agents
    widen = xp.maximum(s.spread - s.spread_ref, 0.0)
    widen_c = xp.take(xp.concat([widen, xp.zeros_like(widen[:, :1])], axis=1), book.payer, axis=1)
    value_c = xp.maximum(price[:, None] - p.spread_duration * widen_c, p.price_floor)
    loan = s.c_alive & (book.kind == LOAN)[None, :] & (book.payee < n)[None, :]
    held, _ = to_payees(xp, book, s.alive, xp.where(loan, s.outstanding * (value_c - 1.0), 0.0))
    fund = is_fund[None, :] & s.alive
    return xp.where(fund, held + s.other_assets * (price[:, None] - 1.0), 0.0)


def remark(xp: ModuleType, book: Book, s: State, is_fund: Any, p: FundParams) -> State:
    """The state with each fund's fair-value mark brought to today's prices (equity moves with it)."""
    mark = fair_value_marks(xp, book, s, is_fund, loan_price(xp, s.loan_q, s.market_spread, p), p)
    return ledger.remark(xp, s, mark)


def fund_runs(
    xp: ModuleType, book: Book, s: State, is_fund: Any, base: Any, sensitivity: Any, non_ai: Any, gate: float,
    leverage_cap: float, haircut: float, p: FundParams,
) -> tuple[State, Any, Any, Any]:
    """One month of the fund-run channel (sections 1-6 of the module doc).

    is_fund: (agents,) bool; base, sensitivity, non_ai: (agents,) or (paths, agents) redemption
    parameters and non-AI cash flow; gate, leverage_cap (0 = none): the regime's; haircut: a
    forced seller's discount to the loan market's price. Returns (state, covenant breaches
    (paths, agents) bool, redemptions paid, net subscriptions (paths, agents) USD bn).
    """
    if s.month == 0:  # a Python int: AI loans are marked against their borrowers' month-0 spreads
        s = s.replace(spread_ref=s.spread + 0.0)
    fund = is_fund[None, :] & s.alive
    subs = subscriptions(xp, fund, non_ai, s.other_assets, p)
    # 1. the loan market heals; the month's price and a forced seller's discount to book
    q = heal(xp, s.loan_q, p)
    price = loan_price(xp, q, s.market_spread, p)
    h = (1.0 - price * (1.0 - haircut))[:, None] + xp.zeros_like(s.cash)
    # 2. requests join the queue
    disc = listed_discount(xp, s.market_spread, p)
    peers = gated_peers(xp, fund, s.equity, s.gated)
    new = requests(xp, fund, s.equity, s.last_return, base, sensitivity, disc, peers, p)
    queue = xp.where(fund, s.redeem_queue + new, 0.0)
    # 3. a quarterly tender, capped; paid from cash and loan sales
    tender = (s.month + 1) % p.tender_months == 0  # a Python bool
    if tender:
        cap = tender_cap(s.equity, gate, p)
        due = xp.minimum(queue, cap)
        gated = fund & (queue - due > p.gate_tolerance * xp.maximum(s.equity, 0.0))
    else:
        due, gated = xp.zeros_like(queue), s.gated & fund
    sold, paid = raise_cash(xp, s.cash, s.other_assets, due, h)
    s = ledger.pay_external(xp, ledger.sell_to_external(xp, s, "other_assets", sold, h), paid)
    gate_events = s.gate_events + xp.sum(xp.astype(gated, xp.float64), axis=1) if tender else s.gate_events
    s = s.replace(redemptions=s.redemptions + xp.sum(paid, axis=1), forced_sales=s.forced_sales + xp.sum(sold, axis=1),
                  redeem_queue=queue - paid, gated=gated, gate_events=gate_events)
    # 4. back-leverage lines: NAV loan-to-value triggers and the leverage cap (BDC limit or the regime's)
    line = s.c_alive & book.nav_line[None, :]
    line_out = xp.where(line, s.outstanding, 0.0)
    line_debt, _ = from_payers(xp, book, line_out)
    weighted, _ = from_payers(xp, book, line_out * book.ltv_max[None, :])
    safe = xp.where(line_debt > 0, line_debt, 1.0)
    trigger = xp.where(line_debt > 0, weighted / safe, 1.0)
    assets = balance_sheet(xp, book, s)["assets"]
    caps = [c for c in (leverage_cap, p.bdc_leverage_cap) if c > 0]
    x, fail = deleverage_sales(xp, line_debt, assets, s.equity, s.other_assets, trigger, min(caps) if caps else 0.0, h)
    fund = is_fund[None, :] & s.alive
    x = xp.where(fund, x, 0.0)
    repaid = xp.minimum(x * (1.0 - h), line_debt)
    share_c = xp.take(xp.concat([repaid / safe, xp.zeros_like(s.cash[:, :1])], axis=1), book.payer, axis=1)
    repaid_c = line_out * share_c
    received, to_ext = to_payees(xp, book, s.alive, repaid_c)
    s = ledger.repay(ledger.sell_to_external(xp, s, "other_assets", x, h), repaid, repaid_c, received, to_ext)
    # 5. the month's sales move the loan market; 6. marks at the new price
    s = s.replace(forced_sales=s.forced_sales + xp.sum(x, axis=1), loan_q=impact(xp, q, xp.sum(sold + x, axis=1), p))
    s = remark(xp, book, s, is_fund, p)
    return s, fail & fund, paid, subs
