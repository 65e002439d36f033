"""The contagion channels, each declared once: switch, parameters, hooks into the month.

A :class:`Channel` names its switch (``channels.<name>``, on or off by default), the frozen
parameter dataclass of its kernel module and the config key it is read from, and the hook
points of the month where it acts. The month (:mod:`aisim.model`) is a fixed sequence of core
steps; at each hook point it folds a value through the hooks of the channels that are on, in
registry order, and through the ``off`` hooks of the channels that are off (where "off" has a
behaviour of its own, such as payment by the monotone iteration when clearing is off). A
switched-off channel's ``on`` hooks never run.

The config node ``channels`` (its switches), the validation of the parameter nodes (their
fields' specs, :mod:`aisim.kernels.params`), the docs table of switches and the reference
tests' on/off parametrisation all follow from :data:`CHANNELS`.

Hook points (the arguments after the model ``m``; each returns the first, updated; the points
taking ``(s, ctx)`` return both):

====================  =======================================================================
``macro``             ``(s, ctx)``: after the macro step (e.g. the GPU market heals)
``collateral``        ``(value_factor, s)``: (paths, agents) collateral value per USD of GPU book
``spot_terms``        ``(terms, s, committed)``: None, or (price, utilisation) (paths, agents) at
                      which compute providers sell spare capacity this month
``lender_tests``      ``(ok, s)``: (paths, agents) bool lenders able to lend and roll this month
``leverage_view``     ``((debt, assets), s)``: (paths, agents) debt and assets the leverage tests
                      (refinancing, new borrowing, capex headroom) compare
``borrower_tests``    ``(ok, s, bs)``: borrowers that pass the refinancing test; ``bs`` their
                      balance sheets
``lender_buffer``     ``(buffer, s, cols)``: cash a lender block keeps back before lending
``credit_offer``      ``(offer, s)``: (paths, agents) new AI lending each lender offers
``allocation``        ``(amount, s)``: (paths, facilities) new lending after allocation
``capex_plan``        ``(plan, s)``: (paths, agents) capex each compute provider plans this month
``capex_need``        ``(need, s)``: (paths, agents) new capex borrowing each agent seeks
``financing``         ``(s, ctx)``: after equity raises and payouts
``dues``              ``(dues, s)``: the month's :class:`~aisim.kernels.contracts.Dues` before
                      refused bullets are refinanced and settlement
``refinance_need``    ``(need, s, dues)``: (paths, agents) refused bullet principal other lenders
                      refinance pro rata
``renegotiation``     ``((s, dues), costs, contracted)``: the state and dues after distressed
                      buyers' offtakes are cut, before settlement; ``costs`` and ``contracted``
                      (paths, agents) each agent's operating costs and contracted revenue due
``costs``             ``(costs, s, revenue)``: (paths, agents) operating costs owed to the external
                      sector; ``revenue`` the AI and contracted revenue they are a share of
``settle_options``    ``(options, s)``: keyword options of the settlement kernel
``after_settlement``  ``(s, ctx)``: after contract flows cleared (margin calls)
``liquidation``       ``((q, price, discount), s, new, value_per_book)``: what estates' GPUs fetch
``resolve_options``   ``(options, s)``: keyword options of the resolution kernel
``after_resolution``  ``(s, ctx)``: after the month's defaults are wound up (``ctx.resolution_start``
                      the state before), before banks' ratios are measured
``bank_book``         ``(s, ctx)``: before banks' ratios are measured (their non-AI books)
``regulation``        ``(s, rwa)``: after capital ratios are measured (deleveraging)
``feedback``          ``(s, ctx)``: after the month's losses are known
``raise_room``        ``(room, s)``: (paths, agents) new equity each agent could raise this month
``notes``             ``(notes, s, plan, funded, new_debt, new_equity)``: None, or (paths, agents)
                      new notes sold to bondholders for the capex ``plan`` that ``funded`` (cash,
                      loans, equity) leaves; ``new_debt``, ``new_equity`` this month's loans and equity
====================  =======================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, make_dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from aisim import sectors
from aisim.kernels import accounting as accounting_kernel
from aisim.kernels import (
    asset_facilities,
    backlog_capex,
    bank_capital,
    capex_orders,
    capital_pricing,
    collateral,
    compute_market,
    contract_base,
    covenants,
    credit_pricing,
    demand_growth,
    discounting,
    equity_market,
    feedback,
    firm_shocks,
    funds,
    ledger,
    marking,
    notes_market,
    operations,
    rating_triggers,
    refinancing,
    regulation,
    renegotiation,
    risk_appetite,
    rng,
    rollover,
)
from aisim.kernels import contracts as contracts_kernel
from aisim.kernels.asset_facilities import AssetFacilityParams
from aisim.kernels.backlog_capex import BacklogCapexParams
from aisim.kernels.bank_capital import BankCapitalParams
from aisim.kernels.capex_orders import CapexOrderParams
from aisim.kernels.capital_pricing import CapitalPricingParams
from aisim.kernels.clearing import ClearingParams
from aisim.kernels.collateral import CollateralParams
from aisim.kernels.compute_market import ComputeMarketParams
from aisim.kernels.contract_base import ContractBaseParams
from aisim.kernels.covenants import CovenantParams
from aisim.kernels.credit_pricing import CreditPricingParams
from aisim.kernels.demand_growth import DemandGrowthParams
from aisim.kernels.discounting import DiscountingParams
from aisim.kernels.equity_market import EquityMarketParams
from aisim.kernels.feedback import MarketParams
from aisim.kernels.firm_shocks import FirmShockParams
from aisim.kernels.funds import FundParams
from aisim.kernels.guarantees import SpvMarkParams
from aisim.kernels.headroom import HeadroomParams
from aisim.kernels.jv_debt import JvParams
from aisim.kernels.lease_claims import LeaseClaimParams
from aisim.kernels.notes_market import NotesParams
from aisim.kernels.params import by_sector, config_node, param
from aisim.kernels.rating_triggers import RatingTriggerParams
from aisim.kernels.renegotiation import RenegotiationParams
from aisim.kernels.risk_appetite import RiskAppetiteParams
from aisim.kernels.state import BULLET, LOAN, NEVER, OFFTAKE, REVOLVING, per_agent
from aisim.kernels.syndicates import SyndicateParams

Hook = Callable[..., Any]
HOOK_POINTS = (  # one a line, in the order of the month
    "macro",
    "collateral",
    "spot_terms",
    "lender_tests",
    "leverage_view",
    "borrower_tests",
    "lender_buffer",
    "credit_offer",
    "allocation",
    "capex_plan",
    "orders",
    "capex_need",
    "after_investment",
    "financing",
    "dues",
    "refinance_need",
    "renegotiation",
    "costs",
    "settle_options",
    "after_settlement",
    "liquidation",
    "resolve_options",
    "after_resolution",
    "bank_book",
    "regulation",
    "feedback",
    "raise_room",
    "notes",
)


@dataclass(frozen=True)
class Channel:
    """One contagion channel.

    name: the switch ``channels.<name>``. default: on or off unless the config says otherwise.
    doc, off_doc: what happens when it is on, and off (docs table). cite: the paper or rule
    its kernel implements.
    kernel: the kernel module holding its economics. params: its frozen parameter dataclass
    and key: the config node it is read from (several channels may share a node). on / off:
    hook point -> function, run when the channel is on / off.
    """

    name: str
    doc: str
    kernel: str
    off_doc: str = "none"
    cite: str = ""
    default: bool = True
    params: type | None = None
    key: str | None = None
    on: Mapping[str, Hook] = field(default_factory=dict)
    off: Mapping[str, Hook] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for point in (*self.on, *self.off):
            if point not in HOOK_POINTS:
                raise ValueError(f"channel {self.name}: unknown hook point {point!r}; known: {', '.join(HOOK_POINTS)}")


# --------------------------------------------------------------------------- hooks
# Thin glue: each reads what it needs from the model ``m`` (namespace, book, parameters) and
# calls its kernel. The economics is in the kernel modules.

def _clearing_on(m: Any, options: dict, s: Any) -> dict:
    p = m.p.clearing
    return {**options, "greatest": True, "alpha": p.alpha, "beta": p.beta}


def _fire_sales_heal(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    return s.replace(q=collateral.heal(m.xp, s.q, m.p.collateral.recovery)), ctx


def _fire_sales_price(m: Any, _: Any, s: Any, new: Any, value_per_book: Any) -> tuple[Any, Any, Any]:
    c = m.p.collateral
    return collateral.liquidation(m.xp, s.q, s.gpu, new, value_per_book, m.p.investment.recovery_gpu, c.depth,
                                  c.impact)


def _at_market(m: Any, _: Any, s: Any, new: Any, value_per_book: Any) -> tuple[Any, Any, Any]:
    return s.q, m.p.investment.recovery_gpu * value_per_book, m.xp.zeros_like(s.q)


def _margin_calls(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    s, breach = covenants.meet_margin_calls(m.xp, m.book, s, ctx.illiquid, m.collateral_value(s),
                                            m.p.covenants.cure_share)
    return s, ctx.replace(breach=ctx.breach | breach)


def _contagion(value: bool) -> Hook:
    def options(m: Any, opts: dict, s: Any) -> dict:
        return {**opts, "contagion": value}
    return options


def _mark_stakes(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    mark, reval = marking.mark_stakes(m.xp, m.book, s.alive, s.c_alive, s.outstanding, s.equity)
    return ledger.revalue_contracts(s, mark, reval), ctx


def _bank_lender_tests(m: Any, ok: Any, s: Any) -> Any:
    ok = refinancing.lender_ok(m.xp, m.params, s.alive, s.capital_ratio, m.requirement(s))
    lev_ok = s.leverage_ratio >= m.p.regime.leverage_requirement
    return ok & (~m.params.is_bank[None, :] | lev_ok)


def _concentration_limit(m: Any, offer: Any, s: Any) -> Any:
    limit = m.p.regime.ai_concentration_limit
    if not limit > 0:  # a config constant, not an array value
        return offer
    room = regulation.concentration_room(m.xp, m.book, m.params.is_ai, s.alive, s.c_alive, s.outstanding,
                                         s.equity, limit)
    return m.xp.where(m.params.is_bank[None, :], m.xp.minimum(offer, room), offer)


def _large_exposures(m: Any, amount: Any, s: Any) -> Any:
    xp = m.xp
    room = regulation.exposure_room(xp, m.book, s.c_alive, s.outstanding, m.book.pair, m.book.n_pairs,
                                    m.facility_lender, s.equity, m.p.regime.large_exposure_limit)
    return xp.where(m.facility_lender_is_bank[None, :], xp.minimum(amount, room), amount)


def _deleveraging(m: Any, s: Any, rwa: Any) -> Any:
    xp, rg = m.xp, m.p.regime
    sell = regulation.deleveraging(xp, m.params.is_bank, s.alive, s.equity, rwa, s.other_assets, m.requirement(s),
                                   rg.risk_weights.other_assets, rg.deleveraging_speed)
    return m.sell_loans_and_remeasure(s, sell)


def _fund_leverage_cap(m: Any, ok: Any, s: Any, bs: dict) -> Any:
    cap = m.p.regime.fund_leverage_cap
    if not cap > 0:  # a config constant
        return ok
    return ok & (~m.params.is_fund[None, :] | (bs["debt"] <= cap * m.xp.maximum(s.equity, 0.0)))


def _fund_liquidity_buffer(m: Any, buffer: Any, s: Any, cols: slice) -> Any:
    fund = m.params.is_fund[cols]
    if s.redeem_queue is not None:  # cash owed to queued redemption requests is not lent (funds.py)
        buffer = m.xp.where(fund[None, :], m.xp.maximum(buffer, s.redeem_queue[:, cols]), buffer)
    share = m.p.regime.fund_liquidity_buffer
    if not share > 0:  # a config constant
        return buffer
    nav = m.xp.maximum(s.equity[:, cols], 0.0)
    return m.xp.where(fund[None, :], m.xp.maximum(buffer, share * nav), buffer)


def _fund_runs(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    rg, p = m.p.regime, m.params
    s, breach, paid, subs = funds.fund_runs(m.xp, m.book, s, p.is_fund, p.redemption_base, p.redemption_sensitivity,
                                            p.non_ai_cash_flow, rg.fund_redemption_gate, rg.fund_leverage_cap,
                                            m.p.market.loan_sale_haircut, m.p.funds)
    return s, ctx.replace(funding_flows=ctx.funding_flows - paid + subs, breach=breach)


def _asset_facilities(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    p = m.params
    s = asset_facilities.step(m.xp, m.book, ctx.resolution_start, s, p.is_fund, p.cash_buffer, m.lender_tests(s),
                              m.p.asset_facilities)
    return s, ctx


def _fund_marks(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    return funds.remark(m.xp, m.book, s, m.params.is_fund, m.p.funds), ctx


def _market_feedback(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, mk = m.xp, m.p.market
    losses = xp.sum(s.credit_loss, axis=1) - ctx.loss_start
    loans = ctx.loans_start
    rate = losses / xp.where(loans > 0, loans, 1.0)
    ai_new = xp.sum(xp.astype(ctx.new_defaults & m.params.is_ai[None, :], xp.float64), axis=1)
    spread, sentiment = feedback.update(xp, s.market_spread, s.sentiment, m.p.scenario.sentiment, rate, ai_new, mk)
    return s.replace(market_spread=spread, sentiment=sentiment), ctx


# --------------------------------------------------------------------------- credit pricing
# Distance to default -> spread each month; floating loans reset, repriced roll-overs; graded
# refinancing (aisim.kernels.credit_pricing). The DD spread and the market_feedback channel's
# market-wide spread add: floating and new loans pay base + market_spread + spread + margin.

def _credit_terms(m: Any) -> tuple[Any, Any]:
    """(agents,) asset volatility by sector and the grade table, once per model."""
    cached = getattr(m, "_credit_terms_cache", None)
    if cached is None:
        p = m.p.credit_pricing
        sigma = m.xp.asarray(credit_pricing.sector_sigma(p, list(m.world.sectors)), dtype=m.xp.float64)
        cached = (sigma, credit_pricing.grade_table(p))
        m._credit_terms_cache = cached
    return cached


def _credit_dd(m: Any, s: Any) -> Any:
    xp, book = m.xp, m.book
    bs = m.balance(s)
    std = credit_pricing.short_term_debt(xp, book, s.c_alive, s.outstanding, s.maturity)
    sigma, _ = _credit_terms(m)
    debt, assets = bs["debt"], bs["assets"]
    if m.cfg.channels.spv_marks:  # lenders price the sponsor on its consolidated, marked balance sheet
        debt, assets = m.consolidated(s, debt, assets)
    return credit_pricing.distance_to_default(xp, assets, std, debt - std + s.other_liab, sigma, s.base_rate)


def _of_payer(xp: Any, book: Any, x: Any, external: float) -> Any:
    """(paths, contracts) the payer's value of a (paths, agents) array (``external`` for the external sector)."""
    ext = xp.full((x.shape[0], 1), external, dtype=x.dtype)
    return xp.take(xp.concat([x, ext], axis=1), book.payer, axis=1)


def _credit_rates(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, book = m.xp, m.book
    _, table = _credit_terms(m)
    spread = credit_pricing.spread(xp, _credit_dd(m, s), table, m.p.credit_pricing.max_spread)
    own = _of_payer(xp, book, spread, 0.0)
    margin = s.margin
    floating = book.floating[None, :]
    if s.month == 0:  # a Python int: calibrated floating margins are over the borrower's month-0 spread
        loan = (book.kind == LOAN)[None, :]
        # an asset facility keeps its calibrated spread (the filings'), over the fund's month-0 spread
        facility = loan & ((book.amort == REVOLVING) & ~book.asset_line)[None, :]
        margin = xp.where(loan & floating & ~facility, book.rate[None, :] - own, xp.where(facility, 0.0, margin))
    rate = xp.where(floating, (s.base_rate + s.market_spread)[:, None] + own + margin, margin)
    rate = xp.where((book.kind == LOAN)[None, :], rate, s.rate)
    return s.replace(spread=spread, margin=margin, rate=rate), ctx


def _graded_rolls(m: Any, dues: Any, s: Any) -> Any:
    xp, book, p = m.xp, m.book, m.p.credit_pricing
    share = _of_payer(xp, book, credit_pricing.roll_share(xp, _credit_dd(m, s), p.roll_dd_mid, p.roll_dd_scale), 1.0)
    principal = xp.where(dues.refinanced, (1.0 - share) * s.outstanding, dues.principal)
    return replace(dues, principal=principal)


def _reprice_rolls(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, book = m.xp, m.book
    own = _of_payer(xp, book, s.spread, 0.0)
    fixed = (s.base_rate + s.market_spread)[:, None] + own
    new = xp.where(book.floating[None, :], 0.0, fixed)
    return s.replace(margin=xp.where(ctx.dues.refinanced, new, s.margin)), ctx
# --------------------------------------------------------------------------- equity_pricing glue
def equity_pricing_marks(m: Any, s: Any) -> Any:
    """Month 0, before equity is measured: with equity_pricing on, stakes in firms with a
    market_cap start at share x their starting market value (others keep their book marks)."""
    if not m.cfg.channels.equity_pricing:
        return s
    xp = m.xp
    cap = m.base_params.market_cap
    mv = equity_market.initial(xp, m.p.equity_market, cap, xp.zeros_like(s.cash), s.sentiment)
    quoted = xp.take(per_agent(cap) > 0, xp.minimum(m.book.payer, m.book.n_agents - 1), axis=1)
    mark = equity_market.stake_marks(xp, m.book, s.c_alive & quoted, s.outstanding, mv, xp.ones_like(mv))
    return s.replace(outstanding=mark)


def equity_pricing_start(m: Any, s: Any) -> Any:
    """Month 0, after equity is measured: the equity market's starting fields (on or off)."""
    xp = m.xp
    mv = equity_market.initial(xp, m.p.equity_market, m.base_params.market_cap, s.equity, s.sentiment)
    return s.replace(
        market_value=mv, mv_premium=mv - s.equity, mv_peak=mv, mv_dilution=xp.ones_like(mv),
        mv_exp_growth=xp.zeros_like(mv), mv_growth_seen=xp.zeros_like(s.alive), mv_revenue_prev=xp.zeros_like(mv),
        mv_breach_month=xp.full(s.alive.shape, -NEVER, dtype=xp.int64), mv_sentiment=s.sentiment,
        mv_rate=s.base_rate,
    )


def _equity_room(m: Any, room: Any, s: Any) -> Any:
    cap = equity_market.capacity(m.xp, m.p.equity_market, s.alive, s.market_value, s.mv_peak, s.sentiment,
                                 s.mv_breach_month, s.month)
    return m.xp.minimum(room, cap)


def _news_terms(m: Any) -> tuple[Any, Any] | None:
    """(news vol (agents,), sector position (agents,) int), once per model; None if no sector has news."""
    cached = getattr(m, "_news_terms_cache", False)
    if cached is False:
        xp, p = m.xp, m.p.equity_market
        vol = by_sector(p, "news_vol", list(m.world.sectors), "equity_market", "EquityMarketParams")
        pos = [sectors.NAMES.index(x) for x in m.world.sectors]
        cached = None if not any(vol) else (xp.asarray(vol, dtype=xp.float64), xp.asarray(pos, dtype=xp.int64))
        m._news_terms_cache = cached
    return cached


def _valuation_news(m: Any, s: Any) -> Any:
    """(paths, agents) log valuation news of the month (:func:`aisim.kernels.equity_market.news`), or 0."""
    terms = _news_terms(m)
    if terms is None:
        return 0.0
    xp, t = m.xp, s.month
    vol, pos = terms
    n = s.alive.shape[1]
    z_firm = rng.normal(xp, m.seed, m.path_index, t, rng.STREAMS["valuation"], n)
    z_sec = xp.take(rng.normal(xp, m.seed, m.path_index, t, rng.STREAMS["valuation_sector"], len(sectors.NAMES)),
                    pos, axis=1)
    return equity_market.news(xp, z_firm, z_sec, vol, m.p.equity_market.news_sector_weight)


def _equity_revalue(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp = m.xp
    if m.cfg.channels.contract_contagion:  # stakes follow market value where stakes are marked at all
        mark, reval = equity_market.mark_to_market(xp, m.book, s.alive, s.c_alive, s.outstanding, s.market_value,
                                                   s.mv_dilution)
        s = ledger.revalue_contracts(s, mark, reval)
    v = equity_market.Valuation(
        market_value=s.market_value, premium=s.mv_premium, peak=s.mv_peak, dilution=s.mv_dilution,
        exp_growth=s.mv_exp_growth, growth_seen=s.mv_growth_seen, revenue_prev=s.mv_revenue_prev,
        breach_month=s.mv_breach_month, sentiment_prev=s.mv_sentiment, rate_prev=s.mv_rate,
    )
    v = equity_market.update(xp, m.p.equity_market, v, s.alive, s.equity, ctx.ai_revenue, ctx.issued, s.sentiment,
                             s.base_rate, ctx.breach, s.month, _valuation_news(m, s))
    s = s.replace(market_value=v.market_value, mv_premium=v.premium, mv_peak=v.peak, mv_dilution=v.dilution,
                  mv_exp_growth=v.exp_growth, mv_growth_seen=v.growth_seen, mv_revenue_prev=v.revenue_prev,
                  mv_breach_month=v.breach_month, mv_sentiment=v.sentiment_prev, mv_rate=v.rate_prev)
    return s, ctx


# --------------------------------------------------------------------------- note_issuance
def _notes_issuers(m: Any) -> Any:
    """(agents,) bool: agents with a notes contract, once per model."""
    cached = getattr(m, "_notes_issuers_cache", None)
    if cached is None:
        mask = np.zeros(m.world.n_agents, dtype=bool)
        mask[m.world.contracts["payer"][m.world.notes]] = True
        cached = m.xp.asarray(mask)
        m._notes_issuers_cache = cached
    return cached


def _note_shares(m: Any) -> Any:
    """(agents,) each agent's note share a quarter by sector, once per model."""
    cached = getattr(m, "_note_shares_cache", None)
    if cached is None:
        cached = m.xp.asarray(notes_market.sector_shares(m.p.notes, list(m.world.sectors)), dtype=m.xp.float64)
        m._note_shares_cache = cached
    return cached


def _issue_notes(m: Any, notes: Any, s: Any, plan: Any, funded: Any, new_debt: Any, new_equity: Any) -> Any:
    xp, p = m.xp, m.p.notes
    open_ = equity_market.window_open(xp, m.p.equity_market, s.alive, s.market_value, s.mv_peak, s.mv_breach_month,
                                      s.month) & m.schedule.raise_open[s.month][None, :]
    room = notes_market.capacity(xp, _note_shares(m)[None, :], s.market_value, open_)
    bs = m.balance(s)  # before this month's loans, which are spent on GPUs: both sides rise by them
    ceiling = per_agent(m.params.max_leverage) + p.leverage_margin
    room = xp.minimum(room, notes_market.leverage_room(xp, bs["debt"] + new_debt, bs["assets"] + new_debt + new_equity,
                                                       ceiling))
    return notes_market.issue(xp, s.alive, plan, funded, room, _notes_issuers(m))


def _refinance_notes(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    """Before settlement: an issuer whose maturing bullet owed to bondholders will not be rolled
    (it fails its refinancing test, or the loan does not roll) sells new notes for it, up to a
    quarter's capacity, while its window is open; the cash pays the bullet in settlement."""
    xp, book = m.xp, m.book
    n = m.world.n_agents
    b_ok = m.roll_borrowers(s)  # graded refinancing: the capacity-cut part of a roll is paid down, not refinanced
    ok_payer = xp.take(xp.concat([b_ok, xp.ones_like(b_ok[:, :1])], axis=1), book.payer, axis=1)
    due = (contracts_kernel.active_mask(xp, book, s) & ((book.kind == LOAN) & (book.amort == BULLET)
                                                        & (book.payee == n))[None, :]
           & (s.maturity == 1) & ~(ok_payer & book.refinance[None, :]))
    owed, _ = accounting_kernel.from_payers(xp, book, xp.where(due, s.outstanding, 0.0))
    open_ = equity_market.window_open(xp, m.p.equity_market, s.alive, s.market_value, s.mv_peak, s.mv_breach_month,
                                      s.month) & m.schedule.raise_open[s.month][None, :]
    room = 3.0 * notes_market.capacity(xp, _note_shares(m)[None, :], s.market_value, open_)  # one quarter's deal
    x = notes_market.refinance(xp, s.alive, owed, room, _notes_issuers(m))
    return ledger.refinance_notes(xp, s, m.notes_mask, m.notes_payer, x), ctx


# --------------------------------------------------------------------------- rate discounting
def _discounted_collateral(m: Any, vf: Any, s: Any) -> Any:
    life = m.p.regime.gpu_valuation_life_months or m.p.collateral.valuation_life_months
    f = discounting.collateral_factor(m.xp, s.base_rate, s.market_spread, m.p.scenario.base_rate.start, life,
                                      m.p.discounting.premium)
    return vf * f[:, None]
# --- bank_capital: banks' non-AI books and buffer-restricted payouts
def _bank_book(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, p, bp = m.xp, m.params, m.p.banks
    growth, income, loss = bank_capital.book_month(xp, p.is_bank, s.alive, s.other_assets, p.non_ai_cash_flow,
                                                   s.sentiment, s.base_rate, bp)
    s = ledger.write_down(ledger.receive_external(xp, ledger.grow_book(s, growth), income), "other_assets", loss)
    s, _ = m._ratios_rwa(s)
    earnings = s.equity - ctx.equity_start - ctx.funding_flows
    paid = bank_capital.distributions(xp, p.is_bank, s.alive, earnings, s.capital_ratio, m.requirement(s),
                                      s.cash, bp)
    s = ledger.pay_external(xp, s, paid)
    s = s.replace(bank_nonai_loss=s.bank_nonai_loss + xp.sum(loss, axis=1),
                  bank_payouts=s.bank_payouts + xp.sum(paid, axis=1))
    return s, ctx.replace(funding_flows=ctx.funding_flows - paid)


# --------------------------------------------------------------------------- contract_base
def _contract_eligible(m: Any) -> Any:
    cached = getattr(m, "_contract_eligible_cache", None)
    if cached is None:
        names = set(m.p.contract_base.sector_names)
        cached = m.xp.asarray(np.array([x in names for x in m.world.sectors], dtype=bool))
        m._contract_eligible_cache = cached
    return cached


def _contract_carve_out(m: Any, view: tuple[Any, Any], s: Any) -> tuple[Any, Any]:
    xp, p = m.xp, m.p.contract_base
    debt, assets = view
    # the seller's borrowing rate: its distance-to-default spread, or its calibrated spread without credit pricing
    spread = s.spread if m.cfg.channels.credit_pricing else per_agent(m.params.spread) + xp.zeros_like(debt)
    rate = s.base_rate[:, None] + s.market_spread[:, None] + spread
    value = contract_base.contracted_value(xp, m.book, s.month, s.alive, s.c_alive, s.maturity, rate,
                                           m.offtake_scale(s))
    return contract_base.carve_out(xp, debt, assets, contract_base.base(xp, p, value, _contract_eligible(m)))


# capex_headroom: capex borrowing within a margin below the refinancing test
def _capex_headroom(m: Any, need: Any, s: Any) -> Any:
    from aisim.kernels import headroom

    bs = m.balance(s)
    debt, assets = m.leverage_view(s, bs["debt"], bs["assets"])  # the same debt and assets as the refinancing test
    room = headroom.borrowing_room(m.xp, debt, assets, m.params.max_leverage, m.p.headroom.headroom)
    return m.xp.minimum(need, room)
def _lease_claims_on(m: Any, options: dict, s: Any) -> dict:
    return {**options, "lease_claims": m.p.lease_claims}


# --------------------------------------------------------------------------- compute market
def _market_constants(m: Any) -> tuple[Any, Any, Any]:
    """(segment (agents,) int, month-0 supply (2,), pass-through (2,)), once per model, from the
    world on the host (no device sync): month-0 spot supply is the calibrated GPU book less the
    capacity committed to offtakes live in month 0."""
    import numpy as np

    cached = getattr(m, "_compute_market", None)
    if cached is not None:
        return cached
    w, xp, cm = m.world, m.xp, m.p.compute_market
    seg = np.array([compute_market.SEGMENTS.index(x) if x in compute_market.SEGMENTS else -1
                    for x in w.sectors], dtype=np.int64)
    c = w.contracts
    live0 = (c["kind"] == OFFTAKE) & (c["start"] <= 0) & (c["exit_month"] > 0) & (c["maturity"] > 0)
    pay = np.zeros(w.n_agents + 1)
    np.add.at(pay, c["payee"][live0], c["monthly"][live0])
    cy = w.params["capacity_yield"]
    committed = np.where(cy > 0, pay[:w.n_agents] / np.where(cy > 0, cy, 1.0), 0.0)
    spare = np.maximum(w.balance["gpu"] - committed, 0.0)
    s0 = np.array([spare[seg == g].sum() for g in range(len(compute_market.SEGMENTS))])
    out = (xp.asarray(seg), xp.asarray(s0), xp.asarray(np.array([cm.neocloud_pass_through,
                                                                   cm.hyperscaler_pass_through])))
    m._compute_market = out
    return out


def _market_clear(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp = m.xp
    seg, s0, _ = _market_constants(m)
    active = contracts_kernel.active_mask(xp, m.book, s)
    committed = operations.committed_capacity(xp, m.book, s.alive, active, m.params, m.offtake_monthly(s))
    supply = compute_market.segment_supply(xp, xp.maximum(s.gpu - committed, 0.0), s.alive, seg)
    tau = compute_market.tightness(xp, s.demand, float(m.p.scenario.demand.start), s0, supply)
    return s.replace(tightness=tau), ctx


def _market_plan(m: Any, plan: Any, s: Any) -> Any:
    seg, _, pt = _market_constants(m)
    cm = m.p.compute_market
    f = compute_market.capex_factor(m.xp, s.tightness, seg, pt, per_agent(m.params.utilisation),
                                    cm.utilisation_elasticity, cm.utilisation_cap, per_agent(m.params.price_elasticity))
    return plan * f


def _market_terms(m: Any, _: Any, s: Any, committed: Any) -> Any:
    seg, _, pt = _market_constants(m)
    cm = m.p.compute_market
    return compute_market.terms(m.xp, s.tightness, seg, pt, s.price, per_agent(m.params.utilisation),
                                cm.utilisation_elasticity, cm.utilisation_cap)


# --------------------------------------------------------------------------- firm shocks
def _firm_terms(m: Any) -> tuple[Any, Any, Any, Any]:
    """(vol, jump probability, jump size (agents,), sector position (agents,) int), once per model."""
    cached = getattr(m, "_firm_terms_cache", None)
    if cached is None:
        xp = m.xp
        vol, prob, size = firm_shocks.sector_terms(m.p.firm_shocks, list(m.world.sectors))
        pos = [sectors.NAMES.index(x) for x in m.world.sectors]
        cached = tuple(xp.asarray(v, dtype=xp.float64) for v in (vol, prob, size)) + (xp.asarray(pos, dtype=xp.int64),)
        m._firm_terms_cache = cached
    return cached


def _firm_shocks_step(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, p, t = m.xp, m.p.firm_shocks, s.month
    vol, prob, size, pos = _firm_terms(m)
    n = s.alive.shape[1]
    z_firm = rng.normal(xp, m.seed, m.path_index, t, rng.STREAMS["idiosyncratic"], n)
    z_sec = xp.take(rng.normal(xp, m.seed, m.path_index, t, rng.STREAMS["sector"], len(sectors.NAMES)), pos, axis=1)
    u = rng.uniform(xp, m.seed, m.path_index, t, rng.STREAMS["firm_jump"], n)
    x = firm_shocks.step(xp, s.firm_shock, z_firm, z_sec, u, vol, prob, size, p.persistence, p.sector_weight)
    return s.replace(firm_shock=x), ctx


def _firm_shocks_costs(m: Any, costs: Any, s: Any, revenue: Any) -> Any:
    return firm_shocks.shocked_costs(m.xp, costs, s.firm_shock, revenue)


# --------------------------------------------------------------------------- committed capex
def _order_shares(m: Any) -> Any:
    """(agents,) each agent's committed share of planned capex, once per model."""
    cached = getattr(m, "_order_shares_cache", None)
    if cached is None:
        cached = m.xp.asarray(capex_orders.sector_shares(m.p.capex_orders, list(m.world.sectors)),
                              dtype=m.xp.float64)
        m._order_shares_cache = cached
    return cached


def capex_orders_start(m: Any, s: Any) -> Any:
    """Month 0: the order book at its steady state for the calibrated capex (zero when the channel is off)."""
    xp = m.xp
    if not m.cfg.channels.capex_commitments:
        return s.replace(orders=xp.zeros_like(s.cash))
    capex = per_agent(m.base_params.capex)[0, :]
    book = capex_orders.initial_book(capex, _order_shares(m), m.p.capex_orders.lead_months)
    return s.replace(orders=xp.broadcast_to(book[None, :], s.cash.shape) + 0.0)


def _take_deliveries(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    due = capex_orders.deliveries(m.xp, s.orders, s.alive, m.p.capex_orders.lead_months)
    return s, ctx.replace(wanted=ctx.plan, plan=m.xp.maximum(ctx.plan, due), committed=due)


def _place_orders(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    book = capex_orders.step_book(m.xp, s.orders, ctx.committed, ctx.wanted, ctx.financed, _order_shares(m), s.alive)
    return s.replace(orders=book), ctx


# --------------------------------------------------------------------------- risk appetite
def _risk_appetite(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, p, t = m.xp, m.p.risk_appetite, s.month
    z = rng.normal(xp, m.seed, m.path_index, t, rng.STREAMS["appetite"], 1)[:, 0]
    u = rng.uniform(xp, m.seed, m.path_index, t, rng.STREAMS["appetite_jump"], 1)[:, 0]
    a = risk_appetite.step(xp, s.appetite, z, u, p)
    sentiment, spread = risk_appetite.apply(xp, s.sentiment, s.market_spread, s.appetite, a, p)
    return s.replace(appetite=a, sentiment=sentiment, market_spread=spread), ctx


# --------------------------------------------------------------------------- demand growth
def demand_growth_start(m: Any, s: Any) -> Any:
    """Month 0: expected monthly log growth of demand at the scenario's month-0 trend, and the
    demand level last seen (set whether or not the channel is on; only the channel updates them)."""
    xp, d = m.xp, m.p.scenario.demand
    g0 = demand_growth.initial_growth(m.schedule.macro[0].demand_drift, d.vol)
    return s.replace(exp_growth=xp.full(s.demand.shape, g0, dtype=xp.float64), demand_seen=s.demand + 0.0)


def _demand_growth_step(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    w = float(m.p.scenario.expectation_weight)
    g = demand_growth.update_growth(m.xp, s.exp_growth, s.demand, s.demand_seen, w)
    return s.replace(exp_growth=g, demand_seen=s.demand), ctx


def _demand_growth_plan(m: Any, plan: Any, s: Any) -> Any:
    return plan * demand_growth.growth_factor(m.xp, s.exp_growth, m.p.demand_growth.lead_months)


# --------------------------------------------------------------------------- backlog capex
def _backlog_spot_share(m: Any) -> Any:
    """(agents,) share of each provider's calibrated capex left on the spot rule, from the world's
    month-0 book and balance sheets (every party alive), once per model."""
    cached = getattr(m, "_backlog_share_cache", None)
    if cached is None:
        import numpy as np

        w, H = m.world, int(m.p.backlog_capex.build_months)
        c = w.contracts
        mat = np.where(c["amort"] == REVOLVING, NEVER, c["maturity"]).astype(np.int64)[None, :]
        y = np.asarray(w.params["capacity_yield"])[None, :]
        kh = backlog_capex.requirement_at(np, w.book(np), np.ones((1, w.n_agents), dtype=bool),
                                          np.ones((1, w.n_contracts), dtype=bool), mat, 0, H, y)
        b0 = backlog_capex.backlog_capex(np, w.balance["gpu"][None, :], kh, H)[0]
        b0 = np.where(np.asarray(w.trait_mask(np, "compute")), b0, 0.0)
        cached = m.xp.asarray(backlog_capex.spot_share(w.params["capex"], b0), dtype=m.xp.float64)
        m._backlog_share_cache = cached
    return cached


def _backlog_plan(m: Any, plan: Any, s: Any) -> Any:
    xp, H = m.xp, int(m.p.backlog_capex.build_months)
    ahead = backlog_capex.requirement_at(xp, m.book, s.alive, s.c_alive, s.maturity, s.month, s.month + H,
                                         per_agent(m.params.capacity_yield), m.offtake_monthly(s))
    build = xp.where(s.alive & _compute_mask(m)[None, :], backlog_capex.backlog_capex(xp, s.gpu, ahead, H), 0.0)
    return plan * _backlog_spot_share(m)[None, :] + build


def _backlog_delivery(m: Any, dues: Any, s: Any) -> Any:
    xp, book = m.xp, m.book
    committed = operations.committed_capacity(xp, book, s.alive, dues.active, m.params, m.offtake_monthly(s))
    share = backlog_capex.delivered_share(xp, s.gpu, committed)
    of_seller = xp.take(share, xp.minimum(book.payee, book.n_agents - 1), axis=1)
    offtake = dues.active & (book.kind == OFFTAKE)[None, :]
    return replace(dues, payment=xp.where(offtake, dues.payment * of_seller, dues.payment))


def _compute_mask(m: Any) -> Any:
    cached = getattr(m, "_compute_mask_cache", None)
    if cached is None:
        cached = m.world.trait_mask(m.xp, "compute")
        m._compute_mask_cache = cached
    return cached


# --------------------------------------------------------------------------- ratings, rating triggers
# Ratings are core state (the model calls these every month, whichever channels are on): each
# agent's grade from its month-end distance to default, through credit_pricing's grade table.

def ratings_grade(m: Any, s: Any) -> Any:
    """(paths, agents) int64 grade index of each agent now; defaulted agents credit_pricing.DEFAULTED."""
    _, table = _credit_terms(m)
    return m.xp.where(s.alive, credit_pricing.grade(m.xp, _credit_dd(m, s), table), credit_pricing.DEFAULTED)


def ratings_migrate(m: Any, s: Any) -> Any:
    """Month end: the new grades and the record of falls below investment grade."""
    g = ratings_grade(m, s)
    fall = rating_triggers.migrate(m.xp, s.grade, g, s.rating_fall, s.alive, s.month, m.p.rating_triggers.threshold)
    return s.replace(grade=g, rating_fall=fall)


def loan_risk_weights(m: Any, s: Any) -> Any:
    """(paths, contracts) banks' loan risk weights by the borrower's grade where the regime says
    so (``regime.rating_based_weights``; rated borrowers: the AI sectors), else None (the flat
    ``book.risk_weight``)."""
    if not m.p.regime.rating_based_weights:  # a config constant
        return None
    return regulation.rated_loan_weights(m.xp, m.book, m.params.is_ai, s.grade)


def _fallen_need(m: Any, need: Any, s: Any) -> Any:
    return rating_triggers.conditional_need(m.xp, need, s.rating_fall, s.alive, m.p.rating_triggers.conditional_share)


def _fallen_premium(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    xp, book, p = m.xp, m.book, m.p.rating_triggers
    prem = rating_triggers.fallen_premium(xp, s.rating_fall, s.alive, s.month, p.fallen_premium,
                                          p.premium_decay_months)
    floating = ((book.kind == LOAN) & book.floating)[None, :]
    s = s.replace(rate=xp.where(floating, s.rate + _of_payer(xp, book, prem, 0.0), s.rate))
    if m.cfg.channels.credit_pricing:  # roll-overs are priced at the spread, premium included
        s = s.replace(spread=s.spread + prem)
    return s, ctx


def _spv_mask(m: Any) -> Any:
    """(agents,) bool: data-centre SPVs (landlords whose financing rests on their tenant), once per model."""
    cached = getattr(m, "_spv_mask_cache", None)
    if cached is None:
        cached = m.xp.asarray([x == "spv" for x in m.world.sectors], dtype=m.xp.bool)
        m._spv_mask_cache = cached
    return cached


def _tenant_conditional_rolls(m: Any, dues: Any, s: Any) -> Any:
    xp = m.xp
    flagged = rating_triggers.tenant_flags(xp, m.book, s.c_alive, rating_triggers.fallen(xp, s.rating_fall, s.alive),
                                           _spv_mask(m))
    principal = rating_triggers.conditional_rolls(xp, m.book, dues.principal, s.outstanding, dues.refinanced,
                                                  flagged, m.p.rating_triggers.conditional_share)
    return replace(dues, principal=principal)


# --------------------------------------------------------------------------- capital pricing
def _bank_held(m: Any) -> Any:
    """(contracts,) bool: loans held by a bank, once per model."""
    cached = getattr(m, "_bank_held_cache", None)
    if cached is None:
        xp, book = m.xp, m.book
        is_bank = xp.concat([m.base_params.is_bank, xp.zeros((1,), dtype=xp.bool)])
        cached = (book.kind == LOAN) & xp.take(is_bank, book.payee)
        m._bank_held_cache = cached
    return cached


def _capital_charge(m: Any, s: Any) -> Any:
    w = loan_risk_weights(m, s)
    return capital_pricing.charge(m.xp, m.book.risk_weight if w is None else w, _bank_held(m), m.requirement(s),
                                  m.p.capital_pricing.equity_premium)


def _capital_price_facilities(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    book = m.book
    facility = ((book.kind == LOAN) & (book.amort == REVOLVING))[None, :]
    return s.replace(rate=m.xp.where(facility, s.rate + _capital_charge(m, s), s.rate)), ctx


def _capital_price_rolls(m: Any, s: Any, ctx: Any) -> tuple[Any, Any]:
    if not m.cfg.channels.credit_pricing:  # roll-overs keep their contract rate
        return s, ctx
    return s.replace(margin=m.xp.where(ctx.dues.refinanced, s.margin + _capital_charge(m, s), s.margin)), ctx


# --------------------------------------------------------------------------- graded refinancing
def _roll_capacity(m: Any, s: Any, dues: Any) -> Any:
    """(paths, agents) USD bn each borrower may roll this month, in the refinancing test's view."""
    bs = m.balance(s)
    debt, assets = m.leverage_view(s, bs["debt"], bs["assets"])
    due = rollover.maturing(m.xp, m.book, dues, s.maturity)
    return rollover.capacity(m.xp, m.book, m.params.max_leverage, debt, assets, s.outstanding, due)


def _graded_capacity_rolls(m: Any, dues: Any, s: Any) -> Any:
    return rollover.cap_rolls(m.xp, m.book, dues, s.outstanding, _roll_capacity(m, s, dues))


def _graded_capacity_need(m: Any, need: Any, s: Any, dues: Any) -> Any:
    return m.xp.minimum(need, dues.roll_room)  # the capacity the capped rolls left (no second balance sheet)


def _renegotiate(m: Any, sd: tuple[Any, Any], costs: Any, contracted: Any) -> tuple[Any, Any]:
    xp, book = m.xp, m.book
    s, dues = sd
    owed, _ = accounting_kernel.from_payers(xp, book, dues.total)
    offtake = xp.where((book.kind == OFFTAKE)[None, :], dues.payment, 0.0)
    on_offtakes, _ = accounting_kernel.from_payers(xp, book, offtake)
    new = renegotiation.cut(xp, s.offtake_scale, s.alive, owed, costs, s.cash + s.securities, contracted,
                            on_offtakes, m.p.renegotiation.floor)
    dues = replace(dues, payment=renegotiation.reprice(xp, book, dues.payment, s.offtake_scale, new))
    return s.replace(offtake_scale=new), dues


# --------------------------------------------------------------------------- the registry
CHANNELS: tuple[Channel, ...] = (
    Channel(
        "clearing",
        "greatest clearing vector with Rogers-Veraart default costs: a payer in default realises `clearing.alpha` "
        "of what it holds and `clearing.beta` of its receipts (0.97: the direct costs of bankruptcy; 1: Eisenberg-Noe)",
        off_doc="each agent pays from what it holds plus receipts from those that pay, iterated upward "
        "(always feasible, can leave circular obligations unpaid); default costs nothing",
        kernel="aisim.kernels.clearing", cite="Eisenberg and Noe (2001); Rogers and Veraart (2013)",
        params=ClearingParams, key="clearing", on={"settle_options": _clearing_on},
    ),
    Channel(
        "fire_sales", "defaulted agents' GPUs move the used-GPU price index by `exp(-sold/depth)` (or linearly) "
        "and the estate sells at the average impacted price; the discount heals", off_doc="no price impact",
        kernel="aisim.kernels.collateral", cite="Cont and Schaanning (2017); Greenwood, Landier and Thesmar (2015)",
        params=CollateralParams, key="collateral",
        on={"macro": _fire_sales_heal, "liquidation": _fire_sales_price}, off={"liquidation": _at_market},
    ),
    Channel(
        "covenants", "secured loans' LTV covenants (`covenants.ltv_max` or the contract's `ltv_max`) force "
        "repayment of `cure_share` of the excess, or default",
        kernel="aisim.kernels.covenants", params=CovenantParams, key="covenants",
        on={"after_settlement": _margin_calls},
    ),
    Channel(
        "contract_contagion", "a defaulted buyer's offtakes, leases, backstops and guarantees end; stakes are "
        "marked monthly", off_doc="a replacement counterparty (the external sector) takes over those "
        "obligations; stakes stay at their starting marks",
        kernel="aisim.kernels.resolution",
        on={"resolve_options": _contagion(True), "feedback": _mark_stakes}, off={"resolve_options": _contagion(False)},
    ),
    Channel(
        "bank_regulation", "capital, leverage, large-exposure and concentration limits gate lending and "
        "refinancing; deleveraging", off_doc="banks lend while alive",
        kernel="aisim.kernels.regulation", cite="BCBS CRE20, LEV30, LEX20, RBC30",
        on={"lender_tests": _bank_lender_tests, "credit_offer": _concentration_limit,
            "allocation": _large_exposures, "regulation": _deleveraging},
    ),
    Channel(
        "fund_runs", "funds' loans at fair value (loan-market price, borrowers' spread widening); LP requests "
        "respond to returns net of subscriptions, listed peers' discount and other funds' gates, queue and are paid "
        "at quarterly tenders capped at `funds.tender_cap` of NAV (gated above it); leverage within the BDC limit "
        "and NAV-LTV triggers on bank lines (margin calls, default); forced loan sales move a secondary loan "
        "market that heals; liquidity buffers", off_doc="loans at book, no redemptions, no NAV triggers",
        kernel="aisim.kernels.funds", cite="Chevalier and Ellison (1997); Chen, Goldstein and Jiang (2010); "
        "Goldstein, Jiang and Ng (2017); SEC Rule 23c-3; SBCAA 2018; Cont and Schaanning (2017)",
        params=FundParams, key="funds",
        on={"borrower_tests": _fund_leverage_cap, "lender_buffer": _fund_liquidity_buffer, "financing": _fund_runs,
            "feedback": _fund_marks},
    ),
    Channel(
        "market_feedback", "spreads and sentiment respond to losses and AI defaults", off_doc="constant",
        kernel="aisim.kernels.feedback", cite="Brunnermeier and Pedersen (2009), reduced form",
        params=MarketParams, key="market", on={"feedback": _market_feedback},
    ),
    Channel(
        "credit_pricing", "each borrower's spread from its Merton/KMV distance to default (book assets, "
        "default point short-term debt + 0.5 x long-term liabilities, sector asset volatility) through the "
        "grade scale; floating loans reset monthly to base + market spread + spread + margin; new loans and "
        "roll-overs priced at the current spread; the incumbent rolls a share of a maturing bullet logistic "
        "in DD", off_doc="fixed contract spreads; floating = base + market spread + contract spread; "
        "a bullet rolls whole or not at all",
        kernel="aisim.kernels.credit_pricing", cite="Merton (1974); Crosbie and Bohn (2003, Moody's KMV)",
        params=CreditPricingParams, key="credit_pricing",
        on={"macro": _credit_rates, "dues": _graded_rolls, "after_settlement": _reprice_rolls},
    ),
    Channel(
        "equity_pricing", "each agent has a market value (book equity plus a premium moved by revenue growth "
        "against expectations, sentiment and rates); new equity is at most `issue_share` of it a quarter, "
        "narrowing with the drawdown from its peak and shut at `close_drawdown` or after a covenant breach; "
        "issuance dilutes stakes, which are marked to market value",
        off_doc="equity up to `equity_raise` x sentiment a month whatever the firm's value; stakes marked to book",
        kernel="aisim.kernels.equity_market",
        cite="Dechow, Sloan and Soliman (2004); Eckbo, Masulis and Norli (2007); Baker and Wurgler (2000)",
        params=EquityMarketParams, key="equity_market", default=False,
        on={"raise_room": _equity_room, "feedback": _equity_revalue},
    ),
    Channel(
        "jv_debt", "the JV/SPV part (`jv.debt_share`) of a hyperscaler's outside capital (`equity_raise` x "
        "sentiment) is debt lent by the private-credit funds from what they still offer after the capex "
        "facilities (pro rata over (sponsor, fund) JV loans): long-dated bullets floating at the sponsor's spread "
        "+ `jv.premium`, serviced by the sponsor, left out of its leverage tests (off balance sheet) unless "
        "`regime.spv_consolidation`; the rest is PE/sovereign equity",
        off_doc="all outside capital of a hyperscaler is equity",
        kernel="aisim.kernels.jv_debt", cite="Meta Hyperion/Beignet (Oct 2025); Morgan Stanley (Jul 2025)",
        params=JvParams, key="jv", default=True,
    ),
    Channel(
        "note_issuance", "compute providers with a market value sell unsecured notes and convertibles to "
        "bondholders (debt with coupons, floating at their spread, amortising over `investment.notes_term`) for "
        "the capex cash, loans and equity leave unfunded: at most `notes.note_share_<sector>` of market value a "
        "quarter, while the equity window is open (drawdown, covenant breach) and the scenario does not close the "
        "market; a maturing bullet owed to bondholders that will not roll is refinanced with new notes, up to a "
        "quarter's capacity",
        off_doc="no new notes: outside capital is facility loans or equity",
        kernel="aisim.kernels.notes_market", cite="Baker and Wurgler (2000); Eckbo, Masulis and Norli (2007)",
        params=NotesParams, key="notes", default=False, on={"notes": _issue_notes, "financing": _refinance_notes},
    ),
    Channel(
        "rate_discounting", "GPU collateral values move with the present value of their rents: x a(y, L) / "
        "a(y0, L), an annuity over the valuation life at y = base rate + market spread + `discounting.premium`",
        off_doc="collateral values ignore rates", kernel="aisim.kernels.discounting",
        cite="present value of an annuity", params=DiscountingParams, key="discounting",
        on={"collateral": _discounted_collateral},
    ),
    Channel(
        "capex_headroom", "compute providers borrow for capex only up to debt/assets = "
        "(1 - `headroom.headroom`) x `max_leverage`; the rest is equity-funded or not spent",
        off_doc="capex is borrowed up to the refinancing test itself", kernel="aisim.kernels.headroom",
        cite="Graham and Harvey (2001)", params=HeadroomParams, key="headroom",
        on={"capex_need": _capex_headroom},
    ),
    Channel(
        "relationship_lending", "each borrower's capex facilities go to a syndicate of at most `syndicate.size` "
        "lenders: its relationship lenders (calibrated loans) first, then the largest; contracts grow "
        "linearly in agents", off_doc="a facility from every lender to every borrower (agents squared)",
        kernel="aisim.kernels.syndicates",
        cite="Sufi (2007); Bharath, Dahiya, Saunders and Srinivasan (2011)",
        params=SyndicateParams, key="syndicate", default=True,
    ),
    Channel(
        "lease_claims", "a defaulting lessee's lessors claim the rent of its rejected leases, capped as "
        "11 U.S.C. 502(b)(6) caps it (greater of 1 year or 15% of the remaining term, at most 3 years), "
        "ranked with unsecured claims; they lose the rest", off_doc="leases end with no claim",
        kernel="aisim.kernels.lease_claims", cite="11 U.S.C. 502(b)(6)",
        params=LeaseClaimParams, key="lease_claims", on={"resolve_options": _lease_claims_on},
    ),
    Channel(
        "bank_capital", "banks' non-AI book grows (`banks.book_growth`) and loses beyond normal as sentiment "
        "falls and rates rise; payouts are `banks.payout_ratio` of earnings, cut by the conservation buffer",
        off_doc="static non-AI book, no losses on it; net income retained as calibrated",
        kernel="aisim.kernels.bank_capital", cite="Fed DFAST severely adverse loss rates; BCBS RBC30.4; 12 CFR 217.11",
        params=BankCapitalParams, key="banks", on={"bank_book": _bank_book},
    ),
    Channel(
        "compute_market", "spot rental price and utilisation clear against installed capacity: tightness "
        "`tau = (D/D0) S0/S` per segment (neocloud spot, hyperscaler list), price x tau^(1/epsilon), "
        "utilisation min(cap, u0 tau^eta); capacity an offtake buyer gives up is resold into it; sellers' capex "
        "plans scale with the revenue per GPU at the cleared terms",
        off_doc="exogenous rental price index; utilisation = min(1, u0 x demand)",
        kernel="aisim.kernels.compute_market", cite="isoelastic clearing; RBC/FT 2025 rental price moves",
        params=ComputeMarketParams, key="compute_market",
        on={"macro": _market_clear, "spot_terms": _market_terms, "capex_plan": _market_plan},
    ),
    Channel(
        "firm_shocks", "each firm's operating costs move by a persistent margin shock, a share of its "
        "revenue: AR(1) (`firm_shocks.persistence`), correlated within its sector (`sector_weight`), with "
        "rare adverse jumps (delivery delays, lost customers, cost overruns) by sector",
        off_doc="firms of a sector differ only by their balance sheets and contracts",
        kernel="aisim.kernels.firm_shocks", cite="Zhou (2001); Duffie and Lando (2001); BCBS CRE31.5",
        params=FirmShockParams, key="firm_shocks",
        on={"macro": _firm_shocks_step, "costs": _firm_shocks_costs},
    ),
    Channel(
        "capex_commitments", "compute providers order a share of planned capex ahead (`capex_orders.committed_*`, "
        "delivered over a mean lag of `lead_months`); deliveries due must be paid, from cash and liquid securities "
        "if funding falls short, or the firm defaults (illiquidity)",
        off_doc="capex is discretionary month by month: a firm short of funding buys fewer GPUs",
        kernel="aisim.kernels.capex_orders", cite="Kydland and Prescott (1982), time to build",
        params=CapexOrderParams, key="capex_orders", on={"orders": _take_deliveries, "after_investment": _place_orders},
    ),
    Channel(
        "risk_appetite", "a common, persistent risk-appetite factor (AR(1) `risk_appetite.persistence`, "
        "`vol`, risk-off jumps `jump_prob`, `jump_size`) moves sentiment by exp(change) and the market credit "
        "spread by `spread_beta` per log point below normal",
        off_doc="sentiment and the market spread move only with the model's own losses and defaults",
        kernel="aisim.kernels.risk_appetite",
        cite="Baker and Wurgler (2000, 2006); Gilchrist and Zakrajsek (2012)",
        params=RiskAppetiteParams, key="risk_appetite", on={"macro": _risk_appetite},
    ),
    Channel(
        "demand_growth", "compute providers plan spot capex on the demand expected when the capacity comes into "
        "service: the spot plan is scaled by exp(L g), g the adaptively expected monthly log growth of AI demand "
        "(the scenario's expectation weight; g_0 its month-0 trend), L `demand_growth.lead_months`",
        off_doc="spot capex plans follow the expected level of demand only (plans for today's demand)",
        kernel="aisim.kernels.demand_growth", cite="Cagan (1956); Kydland and Prescott (1982); Chirinko (1993)",
        default=False, params=DemandGrowthParams, key="demand_growth",
        on={"macro": _demand_growth_step, "capex_plan": _demand_growth_plan},
    ),
    Channel(
        "backlog_capex", "compute providers' capex plans follow contracted backlog plus expected spot demand: "
        "the gap between the capacity their offtakes will need H months ahead (`backlog_capex.build_months`) "
        "and their GPU book closes by 1/H a month; the part of the calibrated capex the month-0 backlog "
        "explains is not counted again on the spot rule; an offtake pays for the capacity its seller can deliver",
        off_doc="capex plans follow expected spot demand only; offtakes are paid whatever capacity the seller owns",
        kernel="aisim.kernels.backlog_capex", cite="Chenery (1952); Koyck (1954); Kydland and Prescott (1982)",
        default=False, params=BacklogCapexParams, key="backlog_capex",
        on={"capex_plan": _backlog_plan, "dues": _backlog_delivery},
    ),
    Channel(
        "rating_triggers", "a borrower downgraded below investment grade (`rating_triggers.threshold`; grades "
        "from the month-end distance to default) loses `conditional_share` of its new borrowing (rating-"
        "conditional financing) and pays a fallen-angel premium `fallen_premium` x exp(-months since the fall / "
        "`premium_decay_months`) in floating rates and roll-overs (IG-mandated holders sell); SPVs it leases "
        "from have `conditional_share` of their roll-overs cancelled",
        off_doc="a downgrade changes only the DD spread", kernel="aisim.kernels.rating_triggers",
        cite="Ellul, Jotikasthira and Lundblad (2011)", params=RatingTriggerParams, key="rating_triggers",
        on={"macro": _fallen_premium, "capex_need": _fallen_need, "dues": _tenant_conditional_rolls},
    ),
    Channel(
        "capital_pricing", "banks charge for the capital a loan uses: risk weight x capital requirement x "
        "`capital_pricing.equity_premium` on their revolving loans (capex facilities, revolvers; monthly) "
        "and roll-overs",
        off_doc="bank loans priced as bonds (no capital charge)", kernel="aisim.kernels.capital_pricing",
        cite="BCBS (2010) MAG/LEI; Kashyap, Stein and Hanson (2010); Baker and Wurgler (2015)",
        params=CapitalPricingParams, key="capital_pricing",
        on={"macro": _capital_price_facilities, "after_settlement": _capital_price_rolls},
    ),
)

CHANNELS = CHANNELS + (
    Channel(
        "spv_marks", "under a regime with `spv_consolidation`, each SPV's real assets are marked monthly to the "
        "compute market (`1 - spv_marks.rent_share x (1 - min(1, P q u))`) before its debt and assets are "
        "consolidated into the guarantor of its residual value (the guarantee as a put on the campus, struck at "
        "the SPV's debt), in the refinancing and capex-headroom tests and in the sponsor's distance to default "
        "(its spread)", off_doc="SPVs consolidated at book, in the refinancing and headroom tests only",
        kernel="aisim.kernels.guarantees", cite="FASB ASC 460; Merton (1977); S&P and Moody's debt adjustments",
        params=SpvMarkParams, key="spv_marks",
    ),
)

CHANNELS = CHANNELS + (
    Channel(
        "contract_base", "a seller in `contract_base.sectors` borrows against its live offtakes: the debt "
        "`margin` x PV(remaining contracted payments at its borrowing rate) / `coverage` (project finance's "
        "minimum loan-life coverage) supports is left out of its leverage tests with the assets it financed, "
        "as a ring-fenced contract borrower's is; a buyer's default or exit takes its contract out",
        off_doc="all debt counts in one corporate leverage test; contracts back none of it",
        kernel="aisim.kernels.contract_base",
        cite="CoreWeave DDTL 2.0 8-K (Sep 2025); Yescombe (2014) ch. 12, LLCR debt sizing",
        params=ContractBaseParams, key="contract_base", default=False, on={"leverage_view": _contract_carve_out},
    ),
    Channel(
        "asset_facilities", "banks lend to private-credit funds' SPVs against a borrowing base of "
        "`asset_facilities.advance_rate` x the fund's AI loans (book), revolving and non-recourse: each month after "
        "the defaults the pool's recoveries repay the facility first, the bank writes off what the facility "
        "exceeds of the pool left (a credit loss, in `line_loss`), the fund cures a borrowing-base deficiency from "
        "cash above its buffer or draws up to the base from a bank that passes its lender tests",
        off_doc="asset facilities stay at their calibrated amount: no draws, cures, sweeps or write-offs",
        kernel="aisim.kernels.asset_facilities",
        cite="BDC 10-Q SPV credit facilities (SEC EDGAR: Scotiabank SOFR + 1.975%, Ally Bank SOFR + 2.75%)",
        params=AssetFacilityParams, key="asset_facilities", on={"after_resolution": _asset_facilities},
    ),
)

CHANNELS = CHANNELS + (
    Channel(
        "graded_refinancing", "a maturing bullet is rolled up to the borrower's leverage capacity "
        "`max_leverage x assets - (debt - maturing principal)` (the refinancing test's view), pro rata over its "
        "maturing bullets; the borrower pays the rest down (amend-and-extend); other lenders refinance refused "
        "bullets only within the capacity left; dead or failed lenders and dead borrowers roll nothing",
        off_doc="a bullet rolls in full if the borrower passes debt <= max_leverage x assets, else falls due whole",
        kernel="aisim.kernels.rollover", cite="amend-and-extend (Herr, Bernasek and Corcoran 2009, Mondaq)",
        default=False, on={"dues": _graded_capacity_rolls, "refinance_need": _graded_capacity_need},
    ),
)

CHANNELS = CHANNELS + (
    Channel(
        "renegotiation", "a buyer that cannot pay this month's dues (contracts and costs beyond its cash, "
        "securities and contract receipts) has its offtakes cut pro rata to what makes the month payable, "
        "permanently, down to `renegotiation.floor` of the original payments (the sellers' recovery in its "
        "default); sellers' committed capacity, backlog and contract base fall with the cut",
        off_doc="offtakes are paid in full or the buyer defaults",
        kernel="aisim.kernels.renegotiation",
        cite="Masten and Crocker (1985); Hart and Moore (1988); DOE/EIA (1980s take-or-pay renegotiations)",
        default=False, params=RenegotiationParams, key="renegotiation", on={"renegotiation": _renegotiate},
    ),
)

BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}
NAMES: tuple[str, ...] = tuple(c.name for c in CHANNELS)


@cache
def switches_node() -> type:
    """The config node ``channels``: one bool per channel, its default from the registry."""
    node = make_dataclass("ChannelsConfig", [(c.name, bool, param(c.default, doc=c.doc)) for c in CHANNELS])
    node.__doc__ = "Contagion channels, each switchable. Declared in aisim.channels; see docs/economics.md."
    node.__module__ = __name__
    return node


@cache
def param_nodes() -> tuple[tuple[str, type], ...]:
    """(config key, config node) of each parameter node the channels read, once per key (the
    same classes on every call; :mod:`aisim.schema` puts them in its ``Config``)."""
    seen: dict[str, type] = {}
    for c in CHANNELS:
        if c.key is not None and c.key not in seen:
            seen[c.key] = config_node(c.params)
    return tuple(seen.items())


def hooks(switches: Any) -> dict[str, list[Hook]]:
    """Hook point -> the functions to run there, in registry order, for the given switches."""
    out: dict[str, list[Hook]] = {p: [] for p in HOOK_POINTS}
    for c in CHANNELS:
        for point, fn in (c.on if getattr(switches, c.name) else c.off).items():
            out[point].append(fn)
    return out


def docs_table() -> str:
    """The markdown table of switches in docs/economics.md (tests/test_docs.py checks it)."""
    rows = ["| switch | default | on | off | kernel | parameters |", "|---|---|---|---|---|---|"]
    for c in CHANNELS:
        rows.append(f"| `channels.{c.name}` | {'on' if c.default else 'off'} | {c.doc} | {c.off_doc} | "
                    f"`{c.kernel}` | {f'`{c.key}.*`' if c.key else ''} |")
    return "\n".join(rows)


DOCS_START = "<!-- channels table: generated from aisim.channels.docs_table() -->\n"
DOCS_END = "\n<!-- end of channels table -->"


def write_docs_table(path: str) -> None:
    """Rewrite the channels table between its markers in ``path`` (docs/economics.md)."""
    from pathlib import Path

    text = Path(path).read_text()
    i, j = text.index(DOCS_START) + len(DOCS_START), text.index(DOCS_END)
    Path(path).write_text(text[:i] + docs_table() + text[j:])


if __name__ == "__main__":  # python -m aisim.channels docs/economics.md
    import sys

    write_docs_table(sys.argv[1] if len(sys.argv) > 1 else "docs/economics.md")
