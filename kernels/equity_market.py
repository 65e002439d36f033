"""A priced equity market: each agent's market value, its issuance capacity, dilution of stakes.

Market value (paths, agents), USD bn, is book equity plus a premium (franchise value, the
market's price of growth beyond the book):

    MV_t = max(E_t + P_t, 0)           (0 once the agent has defaulted)
    P_t  = P_{t-1} x exp( (r_t + erp) / 12                       cost of equity: the no-news return
                          + growth_beta x clip(g_t - g^e_{t-1}, +-max_surprise)   revenue growth against expectations
                          + sentiment_beta x ln(S_t / S_{t-1})   sentiment (the multiple)
                          - duration x (r_t - r_{t-1})           discount-rate effect (equity duration)
                          + n_t )                                firm-specific valuation news

with E_t book equity after the month (losses, raises and payouts move market value one for one,
as cash does), g_t = ln(R_t / R_{t-1}) the monthly log growth of the agent's AI revenue from
outside (spot sales and AI labs' end-user revenue: the market-dependent part; contracted backlog
is disclosed and priced already, and its loss -- an exit or a defaulted buyer -- reaches E_t),
and g^e its adaptive expectation, g^e_t = g^e_{t-1} + speed x (g_t - g^e_{t-1}), started at the
first observed growth. A loss-making growth firm (an AI lab burning cash by plan) therefore loses
value only through the book (which the premium's accretion offsets on the plan) and through
revenue growth below expectations, not because it makes losses.

Valuation news is what the market learns about a firm beyond the modelled common factors (its
customers, its execution, its technology), a mean-one lognormal factor with its sector's volatility
sigma_s, part of it shared by the sector's firms:

    n_t = sigma_s / sqrt(12) x (sqrt(w) z_sector + sqrt(1 - w) z_firm) - sigma_s^2 / 24

(z standard normals, counter-based streams keyed by the agent's column and the sector's position;
the last term makes E[exp(n_t)] = 1, so news adds risk and no drift). As in Merton (1974) the
firm's value is a diffusion whose volatility the equity market reveals; without news the model's
common factors give the hyperscalers their observed equity volatility (~25-35%) but a neocloud a
fifth of its own (the sd of log market value after 12 months 0.17 for CoreWeave against an implied
volatility of ~87%, Schaeffer's SVI, Dec 2025), so no neocloud's funding window could shut within a
year, the short-horizon default risk that structural models lack without uncertainty about the
firm's value (Zhou 2001; Duffie and Lando 2001).

At the start MV_0 = market_cap x (S_0 / 1)^sentiment_beta for quoted or privately priced firms
(the calibration's 2025 market capitalisations and round valuations, at sentiment 1), and
max(E_0, 0) x ``market_to_book`` otherwise; P_0 = MV_0 - E_0.

Issuance capacity (paths, agents), USD bn a month (seasoned offerings, at-the-market
programmes, private rounds):

    cap_t = issue_share / 3 x MV       while drawdown < close_drawdown and no covenant breach
                                       in the last breach_months, else 0
    drawdown = 1 - MV / peak MV,

and the month's equity room is min(the calibrated ceiling equity_raise x S, cap_t); sentiment
reaches cap_t through the market value (the multiple), and the ceiling, not twice over: the window
narrows as value falls and shuts at ``close_drawdown`` or after a breach.
Dilution: new shares are sold at market value, so holders' share of an investee falls by the
factor (MV - issued) / MV each month it issues; stakes (Nvidia's in CoreWeave) are marked to
share x dilution x the investee's market value (last month's, the one-month lag of
:mod:`aisim.kernels.marking`).

Sources: Merton (1974), "On the pricing of corporate debt", JF 29(2); Zhou (2001), "The term
structure of credit spreads with jump risk", JBF 25; Duffie and Lando (2001), Econometrica 69(3);
equity duration of 15-20 years (Dechow, Sloan and Soliman 2004, "Implied equity
duration", Review of Accounting Studies 9); SEO sizes of ~10-20% of pre-issue market value and
negative announcement returns (Eckbo, Masulis and Norli 2007, Handbook of Corporate Finance,
ch. 6); at-the-market programmes sold over time, limited by trading volume (Billett, Floros
and Garfinkel 2019, JFQA 54(3)); issuance falls after price drops and in low sentiment (Baker
and Wurgler 2000, JF 55(5)); CoreWeave's 2.25B convertible in Dec 2025 at a ~57% drawdown from
its June peak, Nebius's 1B equity with 2.75B converts in Sep 2025 (company releases). The
coefficients are assumptions in docs/calibration.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .accounting import to_payees
from .params import param
from .state import EQUITY, Book, per_agent


def _news(v: float, doc: str) -> float:
    return param(v, ge=0.0, le=2.0, unit="annual log volatility", doc=doc)


@dataclass(frozen=True)
class EquityMarketParams:
    """Market value of each agent and its equity issuance window."""

    equity_premium: float = param(0.05, ge=0.0, le=0.3, unit="annual fraction",
                                  doc="equity risk premium over the base rate: the premium's no-news accretion")
    growth_beta: float = param(1.0, ge=0.0, le=20.0, unit="log value per log revenue growth surprise",
                               doc="market value premium's response to revenue growth against expectations")
    max_surprise: float = param(0.1, ge=0.0, le=1.0, unit="log growth a month",
                                doc="revenue growth surprise counted at most this, either way, a month")
    growth_speed: float = param(1.0 / 6.0, gt=0.0, le=1.0, unit="share a month",
                                doc="adaptive update of expected revenue growth")
    sentiment_beta: float = param(1.0, ge=0.0, le=5.0, unit="elasticity",
                                  doc="premium's elasticity to sentiment (and MV_0 to the scenario's sentiment)")
    duration: float = param(15.0, ge=0.0, le=60.0, unit="years",
                            doc="equity duration: premium's log change per unit change of the base rate")
    market_to_book: float = param(1.0, ge=0.0, le=100.0, unit="",
                                  doc="starting market-to-book of agents without a market_cap")
    issue_share: float = param(0.05, ge=0.0, le=1.0, unit="share of market value a quarter",
                               doc="equity outside investors take a quarter at sentiment 1, undrawn")
    close_drawdown: float = param(0.8, gt=0.0, le=1.0, unit="share",
                                  doc="drawdown of market value from its peak at which the window shuts")
    breach_months: int = param(6, ge=0, le=120, unit="months", doc="window shut after a covenant breach")
    news_sector_weight: float = param(0.5, ge=0.0, le=1.0, unit="share of variance",
                                      doc="share of valuation news common to the firms of a sector")
    news_vol_chipmaker: float = _news(0.4, "chipmakers' valuation news (Nvidia's implied vol ~45-50%)")
    news_vol_hyperscaler: float = _news(0.0, "hyperscalers: the common factors give their ~25-35% already")
    news_vol_neocloud: float = _news(0.5, "neoclouds' valuation news (CoreWeave's implied vol ~87%, Dec 2025)")
    news_vol_ai_lab: float = _news(0.0, "AI labs: no traded equity; rounds repriced rarely")
    news_vol_private_credit: float = _news(0.0, "private-credit funds: their value is their NAV's")
    news_vol_bank: float = _news(0.0, "banks: their value is their books'")
    news_vol_spv: float = _news(0.0, "SPVs: no traded equity")


def initial(xp: ModuleType, p: EquityMarketParams, market_cap: Any, equity: Any, sentiment: Any) -> Any:
    """(paths, agents) starting market value: market_cap x S^beta where given, else
    max(E, 0) x market_to_book. market_cap (agents,) or (paths, agents); sentiment (paths,)."""
    cap = per_agent(market_cap)
    quoted = cap * xp.maximum(sentiment, 1e-6)[:, None] ** p.sentiment_beta
    return xp.where(cap > 0, quoted, xp.maximum(equity, 0.0) * p.market_to_book)


def stake_marks(xp: ModuleType, book: Book, c_alive: Any, outstanding: Any, value: Any, dilution: Any) -> Any:
    """(paths, contracts): live stakes at share x the investee's dilution x ``value``; others unchanged."""
    stake = (book.kind == EQUITY)[None, :] & c_alive
    investee = xp.minimum(book.payer, book.n_agents - 1)
    per_share = xp.take(value * dilution, investee, axis=1)
    return xp.where(stake, book.share[None, :] * per_share, outstanding)


def mark_to_market(xp: ModuleType, book: Book, alive: Any, c_alive: Any, outstanding: Any, value: Any,
                   dilution: Any) -> tuple[Any, Any]:
    """(new outstanding (paths, contracts), revaluation per holder (paths, agents))."""
    mark = stake_marks(xp, book, c_alive, outstanding, value, dilution)
    reval, _ = to_payees(xp, book, alive, mark - outstanding)
    return mark, reval


@dataclass(frozen=True)
class Valuation:
    """The equity market's state after a month, (paths, agents) unless stated."""

    market_value: Any
    premium: Any
    peak: Any
    dilution: Any
    exp_growth: Any
    growth_seen: Any  # bool
    revenue_prev: Any
    breach_month: Any  # int64
    sentiment_prev: Any  # (paths,)
    rate_prev: Any  # (paths,)


def news(xp: ModuleType, z_firm: Any, z_sector: Any, vol: Any, sector_weight: float) -> Any:
    """(paths, agents) log valuation news n_t of the month (module docstring).

    z_firm, z_sector: standard normals (paths, agents), z_sector already the draw of each agent's
    sector; vol: (agents,) annual log volatility of each agent's sector (``news_vol_<sector>``)."""
    w = sector_weight
    z = (w ** 0.5) * z_sector + ((1.0 - w) ** 0.5) * z_firm
    return vol[None, :] * (12.0 ** -0.5) * z - (vol * vol / 24.0)[None, :]


def update(xp: ModuleType, p: EquityMarketParams, v: Valuation, alive: Any, equity: Any, revenue: Any,
           issued: Any, sentiment: Any, base_rate: Any, breach: Any, month: int, news: Any = 0.0) -> Valuation:
    """The month's revaluation (module docstring). revenue, issued: (paths, agents) USD bn a
    month (AI revenue from outside, new equity issued); sentiment, base_rate: (paths,) now;
    breach: (paths, agents) bool covenant breaches this month; news: (paths, agents) log valuation
    news from :func:`news` (0: none)."""
    valid = (v.revenue_prev > 0) & (revenue > 0)
    g = xp.log(xp.where(valid, revenue, 1.0) / xp.where(valid, v.revenue_prev, 1.0))
    surprise = xp.clip(xp.where(valid & v.growth_seen, g - v.exp_growth, 0.0), -p.max_surprise, p.max_surprise)
    exp_growth = xp.where(valid, xp.where(v.growth_seen, v.exp_growth + p.growth_speed * (g - v.exp_growth), g),
                          v.exp_growth)
    s_now = xp.maximum(sentiment, 1e-6)
    s_log = xp.log(s_now / xp.maximum(v.sentiment_prev, 1e-6))
    macro = (base_rate + p.equity_premium) / 12.0 + p.sentiment_beta * s_log - p.duration * (base_rate - v.rate_prev)
    premium = v.premium * xp.exp(macro[:, None] + p.growth_beta * surprise + news)
    mv = xp.where(alive, xp.maximum(equity + premium, 0.0), 0.0)
    pre = xp.maximum(mv - xp.maximum(issued, 0.0), 0.0)
    factor = xp.where(mv > 0, xp.minimum(pre / xp.where(mv > 0, mv, 1.0), 1.0), 1.0)
    return Valuation(
        market_value=mv, premium=xp.where(alive, premium, 0.0), peak=xp.maximum(v.peak, mv),
        dilution=v.dilution * factor, exp_growth=exp_growth, growth_seen=v.growth_seen | valid,
        revenue_prev=revenue, breach_month=xp.where(breach, month, v.breach_month),
        sentiment_prev=sentiment, rate_prev=base_rate,
    )


def capacity(xp: ModuleType, p: EquityMarketParams, alive: Any, market_value: Any, peak: Any, sentiment: Any,
             breach_month: Any, month: int) -> Any:
    """(paths, agents) USD bn of new equity the market takes this month (module docstring)."""
    drawdown = xp.where(peak > 0, 1.0 - market_value / xp.where(peak > 0, peak, 1.0), 1.0)
    open_ = alive & (drawdown < p.close_drawdown) & (month - breach_month > p.breach_months)
    cap = (p.issue_share / 3.0) * market_value
    return xp.where(open_, xp.maximum(cap, 0.0), 0.0)


def window_open(xp: ModuleType, p: EquityMarketParams, alive: Any, market_value: Any, peak: Any, breach_month: Any,
                month: int) -> Any:
    """(paths, agents) bool: the issuance window of :func:`capacity` is open (drawdown below
    ``close_drawdown``, no covenant breach in the last ``breach_months``); new notes use it too."""
    drawdown = xp.where(peak > 0, 1.0 - market_value / xp.where(peak > 0, peak, 1.0), 1.0)
    return alive & (drawdown < p.close_drawdown) & (month - breach_month > p.breach_months)

