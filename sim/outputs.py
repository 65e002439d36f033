"""The run's outputs, each declared once: per-month metrics and per-path outcomes.

A per-month metric is one :class:`MonthMetric` in :data:`MONTH_METRICS`: a name, a line of doc
and a function of the model, the end-of-month state and the month's context returning (paths,)
values; ``timeseries.parquet`` aggregates it over paths. A per-path outcome is one
:class:`PathOutcome` in :data:`PATH_OUTCOMES`: a function of the final state (and the running
aggregates of :class:`PathTracker`) giving one value per path in ``paths.parquet``. Families
(one column per sector or default cause) expand from the sector registry, so a new sector shows
up in every table by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aisim import sectors
from aisim.kernels import accounting
from aisim.kernels.backend import to_numpy
from aisim.kernels.state import CAUSE_NAMES


@dataclass(frozen=True)
class MonthMetric:
    """fn(model, state, context) -> (paths,) array (or None where it does not apply)."""

    name: str
    doc: str
    fn: Callable[..., Any]


@dataclass(frozen=True)
class PathOutcome:
    """fn(model, final state as NumPy arrays, tracker) -> (paths,) array (or None)."""

    name: str
    doc: str
    fn: Callable[..., Any]


def _sum(m: Any, x: Any) -> Any:
    return m.xp.sum(x, axis=1)


def _sector_equity() -> Iterator[MonthMetric]:
    for sec in sectors.NAMES:
        def fn(m: Any, s: Any, ctx: Any, sec: str = sec) -> Any:
            cols = m.world.blocks[sec]
            return _sum(m, s.equity[:, cols]) if cols.stop > cols.start else None
        yield MonthMetric(f"equity_{sec}", f"book equity of the {sec} sector, USD bn", fn)


def _bank_min(field: str) -> Callable[..., Any]:
    def fn(m: Any, s: Any, ctx: Any) -> Any:
        banks = m.bank_block
        if banks is None:
            return None
        low = m.xp.min(getattr(s, field)[:, banks], axis=1)
        # no bank with risk-weighted assets (or assets): the ratio is undefined, not infinite
        return m.xp.where(m.xp.isinf(low), m.xp.nan, low)
    return fn


# --- systemic event: its parts, measured monthly (bank_capital)
def _banks_below(m: Any, s: Any, ctx: Any) -> Any:
    """Banks below the systemic floor ``systemic.bank_ratio`` this month, or defaulted.

    The floor is the same under every regime: measured against each regime's own requirement, a
    regime that raises it would count banks that start between the two as an event on every
    path (macroprudential's 14.5% against CET1 ratios of 13-15% did), and regimes could not be
    compared on it."""
    banks = m.bank_block
    if banks is None:
        return None
    xp = m.xp
    below = (~s.alive[:, banks]) | (s.capital_ratio[:, banks] < m.cfg.systemic.bank_ratio)
    return _sum(m, xp.astype(below, xp.float64))


def _fund_nav_min(m: Any, s: Any, ctx: Any) -> Any:
    """Lowest NAV of a private-credit fund as a share of its starting NAV (0 once defaulted)."""
    funds = m.world.trait_block("fund")
    if funds is None:
        return None
    xp = m.xp
    eq0 = m.initial_equity[funds]
    start = xp.asarray(np.where(eq0 > 0, eq0, 1.0))
    ratio = xp.where(s.alive[:, funds], xp.maximum(s.equity[:, funds], 0.0) / start[None, :], 0.0)
    ratio = xp.where(xp.asarray(eq0 > 0)[None, :], ratio, xp.inf)
    low = xp.min(ratio, axis=1)
    return xp.where(xp.isinf(low), xp.nan, low)  # undefined where no fund starts with positive NAV


def _financial_losses(m: Any, s: Any, ctx: Any) -> Any:
    """Cumulative losses of banks and funds: credit losses on their AI-web claims plus banks'
    non-AI book losses beyond normal (bank_capital)."""
    cols = _lender_cols(m)
    xp = m.xp
    loss = xp.sum(xp.take(s.credit_loss, xp.asarray(cols), axis=1), axis=1) if cols.size else xp.zeros_like(s.demand)
    return loss + s.bank_nonai_loss if s.bank_nonai_loss is not None else loss


def _lender_cols(m: Any) -> np.ndarray:
    w = m.world
    blocks = [np.arange(w.blocks[x].start, w.blocks[x].stop) for x in sectors.names_with("lender")]
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64)


def _identity(m: Any, s: Any, ctx: Any) -> Any:
    bs_res, cash_res = accounting.identity_residual(m.xp, m.book, s, m.total_cash0)
    return m.xp.maximum(bs_res, cash_res)


MONTH_METRICS: tuple[MonthMetric, ...] = (
    MonthMetric("demand", "AI demand index", lambda m, s, ctx: s.demand),
    MonthMetric("rental_price", "GPU rental price index", lambda m, s, ctx: s.price),
    MonthMetric("base_rate", "base rate, annual", lambda m, s, ctx: s.base_rate),
    MonthMetric("gpu_collateral_index", "rental price x fire-sale discount index", lambda m, s, ctx: s.price * s.q),
    MonthMetric("market_spread", "spread add-on from losses, annual", lambda m, s, ctx: s.market_spread),
    MonthMetric("sentiment", "equity-market sentiment", lambda m, s, ctx: s.sentiment),
    MonthMetric("defaults", "agents defaulted so far", lambda m, s, ctx: _sum(m, m.xp.astype(~s.alive, m.xp.float64))),
    MonthMetric("credit_losses", "cumulative credit losses, USD bn", lambda m, s, ctx: _sum(m, s.credit_loss)),
    MonthMetric("ai_capex", "GPU capex this month, USD bn", lambda m, s, ctx: _sum(m, ctx.capex)),
    MonthMetric("credit_supply", "cumulative new AI lending and refinancing, USD bn",
                lambda m, s, ctx: s.credit_supply),
    MonthMetric("redemptions", "cumulative LP redemptions paid, USD bn", lambda m, s, ctx: s.redemptions),
    MonthMetric("fire_sale_loss", "cumulative GPU fire-sale discount, USD bn", lambda m, s, ctx: s.fire_sale_loss),
    MonthMetric("forced_sales", "cumulative loans sold in a hurry, USD bn", lambda m, s, ctx: s.forced_sales),
    MonthMetric("identity_residual", "largest relative accounting-identity residual", _identity),
    *_sector_equity(),
    MonthMetric("banks_below_floor", "banks below the systemic CET1 floor (systemic.bank_ratio) or defaulted",
                _banks_below),
    MonthMetric("fund_nav_ratio_min", "lowest fund NAV over its starting NAV (0: defaulted)", _fund_nav_min),
    MonthMetric("financial_losses", "cumulative bank and fund losses incl. banks' non-AI losses, USD bn",
                _financial_losses),
    MonthMetric("bank_capital_ratio_min", "lowest bank capital ratio (NaN: no bank has risk-weighted assets)",
                _bank_min("capital_ratio")),
    MonthMetric("bank_leverage_ratio_min", "lowest bank leverage ratio (NaN: no bank has assets)",
                _bank_min("leverage_ratio")),
    MonthMetric("fallen_angels", "live agents downgraded below investment grade and not upgraded back "
                "(rating_triggers.threshold)", lambda m, s, ctx: _sum(m, m.xp.astype(s.alive & (s.rating_fall >= 0),
                                                                                    m.xp.float64))),
    MonthMetric("funds_gated", "funds gated at their last tender (fund_runs)",
                lambda m, s, ctx: _sum(m, m.xp.astype(s.gated, m.xp.float64)) if s.gated is not None else None),
    MonthMetric("redemption_queue", "LP redemption requests queued, not yet paid, USD bn (fund_runs)",
                lambda m, s, ctx: _sum(m, s.redeem_queue) if s.redeem_queue is not None else None),
    MonthMetric("loan_market_index", "secondary loan market's fire-sale index (fund_runs)",
                lambda m, s, ctx: s.loan_q),
)


def month_metrics(m: Any, s: Any, ctx: Any) -> dict[str, Any]:
    """The month's metrics, (paths,) arrays on the model's backend, by name."""
    out = {}
    for metric in MONTH_METRICS:
        v = metric.fn(m, s, ctx)
        if v is not None:
            out[metric.name] = v
    return out


# --------------------------------------------------------------------------- per-agent month values
@dataclass(frozen=True)
class AgentMetric:
    """fn(model, end-of-month state, month context) -> (paths, agents) array: one series per agent
    in ``agent_timeseries.parquet``; unit as written there."""

    name: str
    unit: str
    doc: str
    fn: Callable[..., Any]


def _ran(m: Any, s: Any, ctx: Any) -> Any:
    """(paths, agents) bool: alive at the month's start (alive now, or defaulted this month)."""
    return s.alive | ctx.new_defaults if ctx.new_defaults is not None else s.alive


def _flow(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A flow of the month: 0 for an agent that had defaulted before it."""
    return lambda m, s, ctx: m.xp.where(_ran(m, s, ctx), fn(m, s, ctx), 0.0)


def _revenue(m: Any, s: Any, ctx: Any) -> Any:
    """AI revenue from outside + GPU sales + non-loan contract payments received, as paid."""
    xp, dues = m.xp, ctx.dues
    rev = ctx.ai_revenue + (ctx.gpu_sales if ctx.gpu_sales is not None else 0.0)
    if dues is None or ctx.paid is None:
        return rev
    total = dues.total
    # the non-loan part (offtake, lease, backstop, guarantee) of what each contract paid
    payment = xp.where(total > 0, ctx.paid * (dues.payment / xp.where(total > 0, total, 1.0)), 0.0)
    received, _ = accounting.to_payees(xp, m.book, _ran(m, s, ctx), payment)
    return rev + received


def _debt(m: Any, s: Any, ctx: Any) -> Any:
    return accounting.contract_positions(m.xp, m.book, s)[1]


def _spread(m: Any, s: Any, ctx: Any) -> Any:
    """The state's spread in basis points; a defaulted agent's (whose emptied books give a
    meaningless distance to default) is the largest spread, credit_pricing.max_spread."""
    dead = float(m.cfg.credit_pricing.max_spread) if m.cfg.channels.credit_pricing else 0.0
    return m.xp.where(s.alive, s.spread, dead) * 1e4


AGENT_METRICS: tuple[AgentMetric, ...] = (
    AgentMetric("revenue", "USD bn / month",
                "AI revenue from outside (end users and spot capacity), GPU sales (chipmakers) and the offtake, lease, "
                "backstop and residual-value payments received, as paid; not non-AI revenue, securities income or "
                "interest; 0 after default", _flow(_revenue)),
    AgentMetric("capex", "USD bn / month", "GPU capex done this month (the investment phase's capex); 0 after default",
                _flow(lambda m, s, ctx: ctx.capex)),
    AgentMetric("debt", "USD bn", "loans and bonds owed at the month's end (balance-sheet debt; leases not included)",
                _debt),
    AgentMetric("equity", "USD bn", "book equity at the month's end", lambda m, s, ctx: s.equity),
    AgentMetric("cash", "USD bn", "cash at the month's end", lambda m, s, ctx: s.cash),
    AgentMetric("spread", "bp", "own annual credit spread from the distance to default (credit_pricing; 0 while off); "
                "after default credit_pricing.max_spread, where a defaulted name's debt trades", _spread),
    AgentMetric("grade", "grade index", "month-end rating from the distance to default: 0 AAA, 1 AA, 2 A, 3 BBB, "
                "4 BB, 5 B, 6 CCC, 7 defaulted (aisim.kernels.credit_pricing.grade)", lambda m, s, ctx: s.grade),
)
AGENT_METRIC_NAMES = tuple(a.name for a in AGENT_METRICS)


def agent_month(m: Any, s: Any, ctx: Any) -> Any:
    """(paths, len(AGENT_METRICS) * agents) float64 on the model's backend: the month's value of each
    :data:`AGENT_METRICS` for each agent, metric-major (column ``k * agents + i``: metric k, agent i)."""
    xp = m.xp
    return xp.concat([xp.astype(a.fn(m, s, ctx), xp.float64) for a in AGENT_METRICS], axis=1)


class PathTracker:
    """Per-path running aggregates of one chunk over the months, from the month metrics."""

    def __init__(self, model: Any) -> None:
        self.model = model
        P = model.n_paths
        self.min_capital = np.full(P, np.inf)
        self.min_leverage = np.full(P, np.inf)
        self.min_price = np.full(P, float(model.cfg.scenario.rental_price.start))
        self.first_default = np.full(P, -1, dtype=np.int64)
        self.max_banks_below = np.zeros(P)  # systemic event's parts
        self.min_fund_nav = np.full(P, np.inf)
        self.financial_losses = np.zeros(P)

    def update(self, m: dict[str, np.ndarray]) -> None:
        if "bank_capital_ratio_min" in m:
            # fmin: a month in which the ratio was undefined (NaN) does not hide the others
            self.min_capital = np.fmin(self.min_capital, m["bank_capital_ratio_min"])
            self.min_leverage = np.fmin(self.min_leverage, m["bank_leverage_ratio_min"])
        self.min_price = np.minimum(self.min_price, m["gpu_collateral_index"])
        if "banks_below_floor" in m:
            self.max_banks_below = np.maximum(self.max_banks_below, to_numpy(m["banks_below_floor"]))
        if "fund_nav_ratio_min" in m:
            self.min_fund_nav = np.fmin(self.min_fund_nav, to_numpy(m["fund_nav_ratio_min"]))
        self.financial_losses = to_numpy(m["financial_losses"])
        month = self.model.state.month - 1
        self.first_default = np.where((self.first_default < 0) & (m["defaults"] > 0), month, self.first_default)

    def table(self, idx: np.ndarray) -> pd.DataFrame:
        """One row per path of the chunk (``idx``: their global numbers), :data:`PATH_OUTCOMES` in order."""
        final = _Final(self.model)
        cols: dict[str, Any] = {"path": idx}
        for outcome in PATH_OUTCOMES:
            v = outcome.fn(self.model, final, self)
            if v is not None:
                cols[outcome.name] = v
        return pd.DataFrame(cols)


class _Final:
    """The final state's fields as NumPy arrays, converted once on first use."""

    def __init__(self, model: Any) -> None:
        self._s = model.state
        self._cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = to_numpy(getattr(self._s, name))
        return self._cache[name]


def _dead(f: _Final) -> np.ndarray:
    return ~f.alive


def _by_sector(kind: str) -> Iterator[PathOutcome]:
    for sec in sectors.NAMES:
        if kind == "defaults":
            def fn(m: Any, f: _Final, t: PathTracker, sec: str = sec) -> Any:
                return _dead(f)[:, m.world.blocks[sec]].sum(axis=1)
            yield PathOutcome(f"defaults_{sec}", f"{sec} members defaulted", fn)
        else:
            def fn(m: Any, f: _Final, t: PathTracker, sec: str = sec) -> Any:
                return f.credit_loss[:, m.world.blocks[sec]].sum(axis=1)
            yield PathOutcome(f"credit_losses_{sec}", f"credit losses of {sec} creditors, USD bn", fn)


def _by_cause() -> Iterator[PathOutcome]:
    for code, name in enumerate(CAUSE_NAMES[1:], start=1):
        def fn(m: Any, f: _Final, t: PathTracker, code: int = code) -> Any:
            return (_dead(f) & (f.default_cause == code)).sum(axis=1)
        yield PathOutcome(f"defaults_{name}", f"defaults caused by {name}", fn)


def _systemic_bank(m: Any, f: _Final, t: PathTracker) -> Any:
    """A bank defaulted or fell below its capital requirement in some month."""
    return t.max_banks_below > 0


def _systemic_fund(m: Any, f: _Final, t: PathTracker) -> Any:
    """A fund defaulted or its NAV fell more than systemic.fund_nav_loss below its start."""
    return t.min_fund_nav < 1.0 - m.cfg.systemic.fund_nav_loss


def _systemic_loss(m: Any, f: _Final, t: PathTracker) -> Any:
    """Banks' and funds' losses (AI credit losses and banks' non-AI losses beyond normal) above
    systemic.loss_share of their starting equity."""
    cols = _lender_cols(m)
    lender_equity = float(m.initial_equity[cols].sum()) if cols.size else 0.0
    return t.financial_losses > m.cfg.systemic.loss_share * max(lender_equity, 0.0)


def _systemic(m: Any, f: _Final, t: PathTracker) -> Any:
    return _systemic_bank(m, f, t) | _systemic_fund(m, f, t) | _systemic_loss(m, f, t)


def _cumulative(field: str, doc: str) -> PathOutcome:
    return PathOutcome(field, doc, lambda m, f, t: getattr(f, field))


PATH_OUTCOMES: tuple[PathOutcome, ...] = (
    PathOutcome("defaults", "agents defaulted", lambda m, f, t: _dead(f).sum(axis=1)),
    *_by_sector("defaults"),
    *_by_cause(),
    PathOutcome("credit_losses", "credit losses of all creditors, USD bn", lambda m, f, t: f.credit_loss.sum(axis=1)),
    *_by_sector("credit_losses"),
    PathOutcome("credit_losses_external", "credit losses of outside creditors, USD bn",
                lambda m, f, t: f.credit_loss[:, -1]),
    PathOutcome("systemic_event", "any of the three parts below (docs/economics.md)", _systemic),
    PathOutcome("systemic_bank", "a bank defaulted or fell below systemic.bank_ratio", _systemic_bank),
    PathOutcome("systemic_fund", "a fund defaulted or lost more than systemic.fund_nav_loss of its NAV",
                _systemic_fund),
    PathOutcome("systemic_loss", "bank and fund losses (incl. non-AI) above systemic.loss_share of their equity",
                _systemic_loss),
    _cumulative("bank_nonai_loss", "banks' non-AI book losses beyond normal, USD bn"),
    _cumulative("bank_payouts", "banks' dividends and buybacks (bank_capital), USD bn"),
    PathOutcome("ai_capex", "cumulative AI capex, USD bn", lambda m, f, t: f.capex_cum),
    _cumulative("fire_sale_loss", "GPU sale proceeds below pre-sale market value, USD bn"),
    _cumulative("stake_loss", "equity stakes written off, USD bn"),
    _cumulative("default_costs", "Rogers-Veraart costs of default, USD bn"),
    _cumulative("forced_sales", "loans sold by banks and funds, USD bn"),
    _cumulative("redemptions", "paid to redeeming LPs, USD bn"),
    _cumulative("credit_supply", "new AI lending and refinancing from other lenders, USD bn"),
    _cumulative("gate_events", "fund tenders gated: requests left above the tender cap (fund_runs), count"),
    _cumulative("line_loss", "lenders' credit losses on back-leverage lines to funds (NAV lines and asset "
                "facilities), USD bn"),
    _cumulative("facility_loss", "of which banks' non-recourse write-offs on asset facilities (asset_facilities), "
                "USD bn"),
    PathOutcome("min_fund_nav_ratio", "lowest fund NAV over its starting NAV over the run (0: a fund defaulted; "
                "1: no fund)", lambda m, f, t: np.where(np.isinf(t.min_fund_nav), 1.0, t.min_fund_nav)),
    PathOutcome("min_bank_capital_ratio", "lowest bank capital ratio over the run",
                lambda m, f, t: np.where(np.isinf(t.min_capital), np.nan, t.min_capital)),
    PathOutcome("min_bank_leverage_ratio", "lowest bank leverage ratio over the run",
                lambda m, f, t: np.where(np.isinf(t.min_leverage), np.nan, t.min_leverage)),
    PathOutcome("gpu_price_drawdown", "largest fall of the GPU collateral index from its start",
                lambda m, f, t: 1.0 - t.min_price / float(m.cfg.scenario.rental_price.start)),
    PathOutcome("first_default_month", "month of the first default, -1 if none", lambda m, f, t: t.first_default),
    PathOutcome("final_demand", "AI demand index at the end", lambda m, f, t: f.demand),
    PathOutcome("final_rental_price", "GPU rental price index at the end", lambda m, f, t: f.price),
)


#: Terms (years) of the cumulative PDs in agents.parquet: pd_1y, pd_3y, pd_5y (each with _se).
PD_TERMS = (1, 3, 5)


def pd_columns() -> tuple[str, ...]:
    """agents.parquet's term-structure columns (NaN where the horizon is shorter than the term)."""
    return tuple(c for T in PD_TERMS for c in (f"pd_{T}y", f"pd_{T}y_se"))


def cause_share_columns() -> tuple[str, ...]:
    """agents.parquet's share of each default cause in the agent's defaults (NaN: no default)."""
    return tuple(f"cause_share_{c}" for c in CAUSE_NAMES[1:])
