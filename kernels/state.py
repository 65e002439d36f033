"""The state of a batch of Monte Carlo paths, and the fixed terms it evolves under.

Money is USD bn (float64), time is months. Axis 0 is always paths.

* :class:`Book` -- the contract topology and fixed terms, shared by all paths: (contracts,).
* :class:`AgentParams` -- behavioural parameters per agent: (agents,).
* :class:`State` -- everything that evolves: agent fields (paths, agents), contract fields
  (paths, contracts), macro fields (paths,).

Column ``n_agents`` in any per-party aggregation is the external sector (end users, outside
investors and bondholders, landlords, depositors), which closes the books.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

from .backend import namespace_of

# contract kinds (Book.kind)
LOAN, LEASE, OFFTAKE, BACKSTOP, EQUITY, RVG = range(6)
KIND_NAMES = ("loan", "lease", "offtake", "backstop", "equity", "rvg")
# loan amortisation (Book.amort)
BULLET, LINEAR, REVOLVING = range(3)
# default causes (State.default_cause)
NO_DEFAULT, ILLIQUIDITY, INSOLVENCY, COVENANT = range(4)
CAUSE_NAMES = ("none", "illiquidity", "insolvency", "covenant")
NEVER = 1 << 40  # a month that never comes


def per_agent(x: Any) -> Any:
    """A behavioural parameter as a (1, agents) or (paths, agents) array for broadcasting
    against (paths, agents) state: parameters are (agents,) unless a scenario loads them on an
    exogenous index, which makes them (paths, agents) (see :mod:`aisim.kernels.indices`)."""
    return x if x.ndim == 2 else x[None, :]


def replaceable(book: Book) -> Any:
    """(contracts,) bool: obligations a replacement counterparty can take over (lease, offtake,
    backstop, rvg) when contract contagion is switched off."""
    return (book.kind == LEASE) | (book.kind == OFFTAKE) | (book.kind == BACKSTOP) | (book.kind == RVG)


@dataclass(frozen=True)
class Book:
    """Contract topology and fixed terms, shared by every path. All arrays are (contracts,).

    payer, payee: int64 agent columns, ``n_agents`` meaning the external sector.
    amount: loans' starting principal, rvgs' guaranteed value (USD bn).
    monthly: leases' and offtakes' payment, backstops' monthly cap (USD bn / month).
    rate: fixed annual rate, or the spread over the base rate where ``floating``.
    maturity: months of life from ``start``; revolving facilities amortise 1/maturity a month.
    share: equity stakes' fraction of the investee. exit_month: offtakes end then (scenario).
    ltv_max: loans' loan-to-value covenant (GPU collateral, or NAV for lines to funds).
    risk_weight: a bank's risk weight on the loan (by the borrower's sector, from the regime).
    nav_line: loans from a bank to a private-credit fund against the whole fund (NAV lines).
    asset_line: loans from a bank to a private-credit fund's SPV against its AI loans (asset
    facilities, :mod:`aisim.kernels.asset_facilities`): revolving, non-recourse.
    pair: facility index of the loan's (payer, payee) pair, ``n_pairs`` when none.
    """

    n_agents: int
    kind: Any
    payer: Any
    payee: Any
    amount: Any
    monthly: Any
    rate: Any
    floating: Any
    maturity: Any
    amort: Any
    start: Any
    share: Any
    secured: Any
    refinance: Any
    exit_month: Any
    ltv_max: Any
    risk_weight: Any
    nav_line: Any
    asset_line: Any
    pair: Any
    n_pairs: int

    @property
    def n(self) -> int:
        return int(self.kind.shape[0])

    @cached_property
    def clearing_obligations(self) -> tuple[Any, Any]:
        """(2 contracts + agents,) payer and payee nodes of the clearing solve's obligations, the
        external sector node ``n_agents``: each contract to its payee, each contract to the
        external sector (where its payee has defaulted), each agent's costs to the external
        sector. Computed once per book, so every month's reductions use the same index arrays."""
        xp = namespace_of(self.payer)
        agents = xp.arange(self.n_agents, dtype=self.payer.dtype)
        ext = xp.full(self.payer.shape, self.n_agents, dtype=self.payer.dtype)
        return (xp.concat([self.payer, self.payer, agents]),
                xp.concat([self.payee, ext, xp.full(agents.shape, self.n_agents, dtype=self.payer.dtype)]))


@dataclass(frozen=True)
class AgentParams:
    """Behavioural parameters, (agents,) float64 unless stated. See sim.schema.EntityConfig."""

    sector: Any  # int64 sector code
    revenue: Any
    non_ai_cash_flow: Any
    opex: Any
    cost_share: Any
    capacity_yield: Any
    utilisation: Any
    gpu_life_months: Any
    capex: Any
    price_elasticity: Any
    chip_share: Any
    cash_buffer: Any
    equity_raise: Any
    payout: Any
    spread: Any
    max_leverage: Any
    lend_rate: Any
    redemption_base: Any
    redemption_sensitivity: Any
    is_bank: Any  # bool
    is_chipmaker: Any  # bool
    is_fund: Any  # bool: private-credit fund
    is_ai: Any  # bool: chipmaker, hyperscaler, neocloud or AI lab
    market_cap: Any = None  # equity_pricing: 2025 market capitalisation or round valuation, 0 if none

    def columns(self, cols: slice) -> AgentParams:
        """The parameters of a block of columns; (paths, agents) parameters keep their paths."""
        return AgentParams(**{f.name: (v[:, cols] if v.ndim == 2 else v[cols])
                              for f in fields(self) for v in (getattr(self, f.name),)})

    def replace(self, **changes: Any) -> AgentParams:
        return replace(self, **changes)


@dataclass(frozen=True)
class State:
    """Everything that evolves, for one chunk of paths.

    Agent fields (paths, agents), USD bn: cash, securities (liquid, at par), gpu (book value of
    GPUs and data centres), other_assets, other_liab, equity (tracked through the income
    statement, so that assets = liabilities + equity is a real check); alive (bool);
    default_month (int64, -1 if alive); default_cause (int64); capital_ratio (banks' equity
    over risk-weighted assets, +inf for non-banks); loss_caused (credit losses its default
    imposed, cumulative).
    Contract fields (paths, contracts): outstanding (loans: principal; equity stakes: the
    holder's mark), rate (annual, current), maturity (int64 months left), c_alive (bool).
    Macro fields (paths,): demand (AI demand index), price (GPU rental price index),
    base_rate (annual), exp_demand, exp_price (adaptive expectations), sentiment.
    Books of the external sector (paths,): ext_cash (net cash it has paid in, USD bn).
    Cumulative per path: capex_cum (USD bn), credit_loss (paths, agents + 1) by creditor.
    Channels: q (paths,) used-GPU market discount index; market_spread (paths,) annual spread
    add-on from losses; last_return (paths, agents) last month's equity return; leverage_ratio
    (paths, agents) banks' equity / assets; index (paths, indices) the scenario's own exogenous
    indices (:mod:`aisim.kernels.indices`); cumulative (paths,) USD bn: fire_sale_loss (GPU sale
    proceeds below pre-sale market value), stake_loss (stakes written off), redemptions (paid to
    LPs), forced_sales (loans sold by banks and funds, book value), credit_supply (new AI lending
    and refinancing from other lenders), default_costs (Rogers-Veraart costs of default).
    Credit pricing (:mod:`aisim.kernels.credit_pricing`): spread (paths, agents) each agent's
    annual credit spread from its distance to default (0 while the channel is off); margin
    (paths, contracts) each loan's fixed rate, or for a floating loan its margin over base rate +
    market spread + the borrower's spread now (the contract's ``rate`` while the channel is off).
    """

    month: int
    cash: Any
    securities: Any
    gpu: Any
    other_assets: Any
    other_liab: Any
    equity: Any
    alive: Any
    default_month: Any
    default_cause: Any
    capital_ratio: Any
    loss_caused: Any
    outstanding: Any
    rate: Any
    maturity: Any
    c_alive: Any
    demand: Any
    price: Any
    base_rate: Any
    exp_demand: Any
    exp_price: Any
    sentiment: Any
    ext_cash: Any
    capex_cum: Any
    credit_loss: Any
    q: Any
    market_spread: Any
    last_return: Any
    leverage_ratio: Any
    fire_sale_loss: Any
    stake_loss: Any
    redemptions: Any
    forced_sales: Any
    credit_supply: Any
    default_costs: Any
    index: Any = None  # (paths, indices) levels of the scenario's own exogenous indices
    spread: Any = None  # (paths, agents) annual credit spread from the distance to default (credit_pricing)
    margin: Any = None  # (paths, contracts) loans: fixed rate, or floating margin over base + market + spread
    # equity_pricing (aisim.kernels.equity_market): (paths, agents) market value, its premium over
    # book, its running peak, holders' remaining share of the pre-issue shares (dilution), expected
    # monthly log AI revenue growth, whether a growth was observed (bool), last month's AI revenue,
    # the month of the last covenant breach (int64); (paths,) sentiment and base rate last revalued at
    market_value: Any = None
    mv_premium: Any = None
    mv_peak: Any = None
    mv_dilution: Any = None
    mv_exp_growth: Any = None
    mv_growth_seen: Any = None
    mv_revenue_prev: Any = None
    mv_breach_month: Any = None
    mv_sentiment: Any = None
    mv_rate: Any = None
    # (paths, agents) purchase-price vintage of the GPU book: sum over vintages of book_v / price_v,
    # per USD of book (1 / the book-weighted harmonic-mean rental index at purchase); see
    # aisim.kernels.collateral.add_vintage
    gpu_vintage: Any = None
    lease_loss: Any = None  # (paths, agents + 1) lease_claims: lessors' rent lost net of claim recoveries, cumulative
    bank_nonai_loss: Any = None  # (paths,) cumulative losses of banks' non-AI books (bank_capital)
    bank_payouts: Any = None  # (paths,) cumulative banks' dividends and buybacks (bank_capital)
    tightness: Any = None  # (paths, 2) compute market tightness, neocloud and hyperscaler segments
    firm_shock: Any = None  # (paths, agents) firm_shocks: margin shock, share of monthly revenue
    appetite: Any = None  # (paths,) risk_appetite: log risk-appetite factor (0: normal)
    orders: Any = None  # (paths, agents) USD bn capex_commitments: GPUs ordered, not yet delivered
    # ratings (aisim.kernels.rating_triggers): (paths, agents) int64 grade index (credit_pricing.GRADES,
    # 7 = defaulted) from the month-end distance to default; month of the latest fall below investment grade
    grade: Any = None
    rating_fall: Any = None
    ccyb: Any = None  # (paths,) share of RWA: the countercyclical buffer in force (regulation.buffer_step)
    # fund_runs (aisim.kernels.funds): (paths, agents) fair value less book of funds' loans (USD bn),
    # borrowers' month-0 spreads, LP requests queued (USD bn), gated at the last tender (bool);
    # (paths,) the secondary loan market's fire-sale index, fund-tenders gated so far (count),
    # banks' credit losses on back-leverage lines (USD bn, cumulative)
    fv_mark: Any = None
    spread_ref: Any = None
    redeem_queue: Any = None
    gated: Any = None
    loan_q: Any = None
    gate_events: Any = None
    line_loss: Any = None
    facility_loss: Any = None  # (paths,) asset_facilities: banks' non-recourse write-offs (USD bn, cumulative)
    exp_growth: Any = None  # (paths,) demand_growth: expected monthly log growth of AI demand
    demand_seen: Any = None  # (paths,) demand_growth: the demand index last observed
    offtake_scale: Any = None  # (paths, agents) renegotiation: share of its original offtake payments a buyer owes

    def replace(self, **changes: Any) -> State:
        return replace(self, **changes)

    def take_paths(self, xp: Any, rows: Any) -> State:
        """The same state restricted to some paths (rows: int64 indices)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v if f.name == "month" or v is None else xp.take(v, rows, axis=0)
        return State(**out)


#: The behavioural parameters, in one place: the calibration's numeric entity fields that reach
#: the kernels (aisim.world builds them, scenarios may load them on indices).
BEHAVIOUR_FIELDS = tuple(f.name for f in fields(AgentParams) if f.name != "sector" and not f.name.startswith("is_"))

AGENT_FIELDS = (
    "cash", "securities", "gpu", "other_assets", "other_liab", "equity",
    "alive", "default_month", "default_cause",
)
CONTRACT_FIELDS = ("outstanding", "rate", "maturity", "c_alive")
