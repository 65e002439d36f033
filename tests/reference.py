"""A slow, obvious reference implementation of one month of aisim, for one path.

Plain Python floats, lists and loops: agent by agent, contract by contract, following the rules of
docs/economics.md and the kernels' docstrings, in the phase order of :data:`aisim.model.PHASES`
(macro, operations, investment, financing, settlement, resolution, regulation, feedback; "record"
only measures). Every contagion channel is here, and each switch of ``cfg.channels`` is honoured
on and off:

* ``clearing``: the greatest clearing vector (Eisenberg-Noe; Rogers-Veraart with ``alpha``,
  ``beta`` < 1) by the fictitious-default algorithm, each round's linear system solved by a small
  Gaussian elimination written out below; off: the monotone lower iteration;
* ``fire_sales``: the used-GPU market's discount index, its price impact and its healing;
* ``covenants``: loan-to-value margin calls on secured loans;
* ``contract_contagion``: with it off, a defaulted payer's leases, offtakes, backstops and
  guarantees pass to the external sector and stakes keep their starting marks;
* ``bank_regulation``: risk-weighted capital and leverage tests, large-exposure room per
  facility, the AI concentration limit, deleveraging sales;
* ``fund_runs``: redemptions, gates, liquidity buffers, NAV triggers and leverage caps;
* ``market_feedback``: the market spread and sentiment;
* ``relationship_lending``: each borrower's capex facilities from at most ``syndicate.size``
  lenders (relationship lenders first, then the largest); off: from every lender;
* ``lease_claims``: a defaulting lessee's lessors claim the rent of the leases that end, capped
  as 11 U.S.C. 502(b)(6) caps it, pro rata with the unsecured; off: no claim.
* ``backlog_capex``: a compute provider adds to its plan 1/H of the gap between the capacity its
  offtakes live H months ahead need and its GPU book, and keeps on the spot rule only the part of
  its calibrated capex the month-0 gap does not explain; an offtake pays for the share of its
  seller's committed capacity the seller's book covers.
* ratings (always): each agent's grade, the grade anchor nearest its DD, at the month's end
  before banks' books; the month of its latest fall below investment grade; with
  ``regime.rating_based_weights`` banks weight loans to AI companies by the CRE20 weight of the
  borrower's grade;
* ``rating_triggers``: a fallen angel's new borrowing cut by the conditional share, its floating
  rates (and spread) raised by the decaying fallen-angel premium, the roll-overs of SPVs it
  leases from cut by the conditional share;
* ``capital_pricing``: banks' revolving loans carry weight x requirement x equity premium each
  month, and their roll-overs the same on top of the repriced margin (credit pricing on).
* ``demand_growth``: a compute provider's spot plan is multiplied by exp(L g), g the expected
  monthly log growth of demand (adaptive, with the scenario's expectation weight, from its month-0
  trend mu - sigma^2 / 2), L the lead from order to service.

It is written from those rules, not by calling the kernels: the only shared code is the
counter-based random number generator (:func:`aisim.kernels.rng.normal`), whose draws are the common
input of both implementations. The agents and contracts are rebuilt here from the calibration in
``cfg`` (sector order, capex facilities, risk weights, covenant limits, NAV lines); the
:class:`aisim.world.World` the model runs on is only checked against them, so that both index agents
and contracts the same way.

Usage::

    ref = ReferenceModel(cfg, world)
    s = ref.initial_state()                    # or from_model_state(model.state, path)
    for _ in range(cfg.horizon):
        s, events = ref.step(s, path)

``events`` lists what happened in the month (refinancings, backstop draws, defaults, recoveries,
fire sales, margin calls, redemptions, clearing rounds, banks below requirement, ...), so that
tests can check that a run covers the mechanisms they mean to compare.

The reference follows the documented economics; where the model departed from them,
tests/test_reference.py keeps the minimal reproduction as a regression test (all fixed): an
agent's obligations to itself need no clearing; the GPU LTV cap binds on GPU-secured (neocloud)
borrowing only; a clearing shortfall counts from 1e-12 x max(owed, 1) whatever the other paths
do; a used-GPU market at q = 0 sells at 0. It takes the world's facility list as given (and
checks it against the documented rule), so that agents and contracts are indexed alike.

Money is USD bn, time is months, rates are annual fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from statistics import NormalDist
from typing import Any

import numpy as np

from aisim.kernels import rng

SECTOR_ORDER = ("chipmaker", "hyperscaler", "neocloud", "ai_lab", "private_credit", "bank", "spv")
KINDS = ("loan", "lease", "offtake", "backstop", "equity", "rvg")  # the book's kind codes
AMORTS = ("bullet", "linear", "revolving")  # the book's amortisation codes
COMPUTE = ("hyperscaler", "neocloud")  # sell capacity, invest in GPUs
LENDERS = ("private_credit", "bank")  # offer new lending
AI = ("chipmaker", "hyperscaler", "neocloud", "ai_lab")  # AI companies (risk weights, feedback)
REPLACEABLE = ("lease", "offtake", "backstop", "rvg")  # taken over when contagion is off
CHANNELS = ("clearing", "fire_sales", "covenants", "contract_contagion", "bank_regulation", "fund_runs",
            "market_feedback", "credit_pricing", "equity_pricing", "rate_discounting", "capex_headroom",
            "relationship_lending", "lease_claims")
CHANNELS += ("bank_capital",)
CHANNELS += ("compute_market",)
CHANNELS += ("spv_marks",)
CHANNELS += ("firm_shocks",)
CHANNELS += ("capex_commitments", "risk_appetite")
CHANNELS += ("backlog_capex",)
CHANNELS += ("rating_triggers", "capital_pricing")
CHANNELS += ("graded_refinancing",)
CHANNELS += ("renegotiation",)
# ratings: Basel standardised corporate weights (BCBS CRE20.42) by letter grade AAA, AA, A, BBB, BB,
# B, CCC, then defaulted; a defaulted agent's grade is 7
CRE20 = {0: 0.2, 1: 0.2, 2: 0.5, 3: 0.75, 4: 1.0, 5: 1.5, 6: 1.5, 7: 1.5}
DEFAULTED_GRADE = 7
CHANNELS += ("note_issuance",)
CHANNELS += ("demand_growth",)
CHANNELS += ("asset_facilities",)
CHANNELS += ("jv_debt",)
CHANNELS += ("contract_base",)
EXTERNAL = "external"

NEVER = 1 << 40  # a month that never comes
MAX_ROUNDS = 32  # settlement: rounds of the monotone payment-ratio iteration (clearing off)
ILLIQUIDITY_TOL = 1e-12  # settlement: paid share below 1 - this is illiquid
CLEARING_TOL = 1e-12  # clearing: a shortfall above this x max(owed, 1) is a default
SOLVENCY_TOL = 1e-9  # resolution: equity below -this x max(assets, 1) is insolvent
STRESS_SENTIMENT = 0.8  # sentiment below this x the calm level releases the countercyclical buffer
NO_DEFAULT, ILLIQUIDITY, INSOLVENCY, COVENANT = 0, 1, 2, 3
INF = math.inf

PARAMS = (
    "revenue", "non_ai_cash_flow", "opex", "cost_share", "capacity_yield", "utilisation",
    "gpu_life_months", "capex", "price_elasticity", "chip_share", "cash_buffer", "equity_raise",
    "payout", "spread", "max_leverage", "lend_rate", "redemption_base", "redemption_sensitivity",
    "market_cap",
)
BALANCE = ("cash", "securities", "gpu", "other_assets", "other_liabilities")


@dataclass
class Agent:
    name: str
    sector: str
    p: dict[str, float]  # behavioural parameters this month (the scenario's loadings applied)
    balance: dict[str, float]  # starting balance sheet
    base_p: dict[str, float] = field(default_factory=dict)  # as calibrated

    def __post_init__(self) -> None:
        self.base_p = dict(self.p)

    @property
    def is_bank(self) -> bool:
        return self.sector == "bank"

    @property
    def is_fund(self) -> bool:
        return self.sector == "private_credit"


@dataclass
class Contract:
    name: str
    kind: str
    payer: int  # agent column, n = the external sector
    payee: int
    amount: float
    monthly: float
    rate: float
    floating: bool
    maturity: int
    amort: str
    start: int
    share: float
    secured: bool
    refinance: bool
    exit_month: int
    ltv_max: float  # the loan's covenant (GPU LTV; NAV LTV for lines to funds)
    risk_weight: float  # a bank's risk weight on the loan, by the borrower's sector
    nav_line: bool  # a loan from a bank to a private-credit fund against the whole fund (a NAV line)
    facility: bool = False  # a revolving capex facility (made by the world, not calibrated)
    asset_line: bool = False  # a bank's asset-based SPV facility to a fund (``facility: asset``): revolving
    jv: bool = False  # a JV/SPV loan from a fund to a hyperscaler sponsor (jv_debt), off its balance sheet


@dataclass
class RefState:
    """One path's state in plain Python values; the same fields as :class:`aisim.kernels.state.State`."""

    month: int
    cash: list[float]
    securities: list[float]
    gpu: list[float]
    other_assets: list[float]
    other_liab: list[float]
    equity: list[float]
    alive: list[bool]
    default_month: list[int]
    default_cause: list[int]
    capital_ratio: list[float]
    loss_caused: list[float]
    outstanding: list[float]
    rate: list[float]
    maturity: list[int]
    c_alive: list[bool]
    demand: float
    price: float
    base_rate: float
    exp_demand: float
    exp_price: float
    sentiment: float
    ext_cash: float
    capex_cum: float
    credit_loss: list[float]  # by creditor, the external sector last
    q: float  # the used-GPU market's discount index
    market_spread: float
    last_return: list[float]
    leverage_ratio: list[float]
    fire_sale_loss: float
    stake_loss: float
    redemptions: float
    forced_sales: float
    credit_supply: float
    default_costs: float
    index: list[float] = field(default_factory=list)  # the scenario's own indices, in declared order
    spread: list[float] = field(default_factory=list)  # credit pricing: each agent's spread from its DD
    margin: list[float] = field(default_factory=list)  # credit pricing: loans' fixed rate or floating margin
    # equity_pricing: per agent market value, premium over book, peak, dilution, expected growth,
    # growth seen, last AI revenue, last breach month; sentiment and base rate at the last revaluation
    market_value: list[float] = field(default_factory=list)
    mv_premium: list[float] = field(default_factory=list)
    mv_peak: list[float] = field(default_factory=list)
    mv_dilution: list[float] = field(default_factory=list)
    mv_exp_growth: list[float] = field(default_factory=list)
    mv_growth_seen: list[bool] = field(default_factory=list)
    mv_revenue_prev: list[float] = field(default_factory=list)
    mv_breach_month: list[int] = field(default_factory=list)
    mv_sentiment: float = 0.0
    mv_rate: float = 0.0
    # per agent: sum over GPU vintages of book / rental index at purchase, per USD of book
    gpu_vintage: list[float] = field(default_factory=list)
    lease_loss: list[float] = field(default_factory=list)  # lessors' rent lost net of claim recoveries
    bank_nonai_loss: float = 0.0  # cumulative losses of banks' non-AI books (bank_capital)
    bank_payouts: float = 0.0  # cumulative banks' payouts (bank_capital)
    tightness: list[float] = field(default_factory=lambda: [1.0, 1.0])  # compute market, by segment
    firm_shock: list[float] = field(default_factory=list)  # firm_shocks: margin shock, share of revenue
    appetite: float = 0.0  # risk_appetite: log risk-appetite factor
    orders: list[float] = field(default_factory=list)  # capex_commitments: GPUs ordered, not yet delivered
    grade: list[int] = field(default_factory=list)  # ratings: grade index from the month-end DD, 7 defaulted
    rating_fall: list[int] = field(default_factory=list)  # ratings: month of the latest fall below IG, -1 none
    ccyb: float = 0.0  # the countercyclical buffer in force, share of RWA
    # fund_runs: per agent fair value less book of a fund's loans, borrowers' month-0 spreads, LP
    # requests queued, gated at the last tender; the loan market's index, gated tenders, line losses
    fv_mark: list[float] = field(default_factory=list)
    spread_ref: list[float] = field(default_factory=list)
    redeem_queue: list[float] = field(default_factory=list)
    gated: list[bool] = field(default_factory=list)
    loan_q: float = 1.0
    gate_events: float = 0.0
    line_loss: float = 0.0
    facility_loss: float = 0.0  # asset_facilities: banks' non-recourse write-offs on asset facilities
    exp_growth: float = 0.0  # demand_growth: expected monthly log growth of demand
    demand_seen: float = 1.0  # demand_growth: the demand index last observed
    offtake_scale: list[float] = field(default_factory=list)  # renegotiation: each buyer's share still owed

    def copy(self) -> RefState:
        return RefState(**{f.name: _copy(getattr(self, f.name)) for f in fields(self)})


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, list) else v


@dataclass
class Events:
    """What happened in one month of one path (for coverage checks in tests)."""

    refinanced: list[int] = field(default_factory=list)  # contracts rolled over
    refused: list[int] = field(default_factory=list)  # maturing bullets not rolled by their lender
    refinanced_by_others: float = 0.0  # lent on the facilities to repay refused bullets
    self_loans: list[tuple[int, float]] = field(default_factory=list)  # (agent, lent to itself > 0)
    backstop_draws: list[tuple[int, float]] = field(default_factory=list)  # (contract, amount > 0)
    defaults: list[tuple[int, int]] = field(default_factory=list)  # (agent, cause)
    recovery: list[tuple[int, float]] = field(default_factory=list)  # (defaulted agent, unsecured R)
    secured_recovery: list[tuple[int, float]] = field(default_factory=list)  # (agent, r_s) with secured debt
    settlement_rounds: int = 0  # rounds of the monotone iteration (clearing off)
    clearing_solves: int = 0  # linear solves of the fictitious-default algorithm (clearing on)
    clearing_defaults: list[int] = field(default_factory=list)  # agents paying less than they owe
    resolution_rounds: int = 0  # rounds of resolution that found new defaults
    new_loans: float = 0.0  # lent on the facilities for capex
    jv_loans: float = 0.0  # lent on the JV contracts (jv_debt)
    ltv_capped: list[int] = field(default_factory=list)  # borrowers whose need the GPU LTV cap cut
    exposure_capped: list[int] = field(default_factory=list)  # facilities cut by large-exposure room
    concentration_capped: list[int] = field(default_factory=list)  # banks whose offer the AI limit cut
    redemptions: list[tuple[int, float]] = field(default_factory=list)  # (fund, paid > 0)
    nav_sales: list[tuple[int, float]] = field(default_factory=list)  # (fund, loans sold > 0)
    nav_breaches: list[int] = field(default_factory=list)  # funds that cannot restore their trigger
    margin_calls: list[tuple[int, float, bool]] = field(default_factory=list)  # (agent, call, met)
    fire_sales: list[tuple[float, float, float]] = field(default_factory=list)  # (book sold, q before, after)
    default_costs: float = 0.0
    banks_below: list[int] = field(default_factory=list)  # banks below their capital requirement
    deleveraging: list[tuple[int, float]] = field(default_factory=list)  # (bank, other assets sold > 0)
    equity_frozen: list[int] = field(default_factory=list)  # agents whose equity market was closed
    # asset_facilities: (fund, amount > 0) swept from recoveries, written off by banks, cured; (contract, drawn > 0)
    facility_sweeps: list[tuple[int, float]] = field(default_factory=list)
    facility_write_offs: list[tuple[int, float]] = field(default_factory=list)
    facility_cures: list[tuple[int, float]] = field(default_factory=list)
    facility_draws: list[tuple[int, float]] = field(default_factory=list)
    renegotiations: list[tuple[int, float]] = field(default_factory=list)  # (buyer, its new scale)


def _items(node: Any) -> list[tuple[Any, Any]]:
    return list(node.items()) if node is not None else []


def from_model_state(state: Any, path: int) -> RefState:
    """One row (path) of a model's :class:`aisim.kernels.state.State` as a :class:`RefState`."""
    out: dict[str, Any] = {}
    for f in fields(RefState):
        v = getattr(state, f.name)
        if f.name == "month":
            out[f.name] = int(v)
            continue
        row = np.asarray(v)[path]
        out[f.name] = row.item() if row.ndim == 0 else row.tolist()
    return RefState(**out)


def solve_linear(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a x = b, by Gaussian elimination with partial pivoting (a small dense system)."""
    n = len(b)
    m = [list(map(float, a[i])) + [float(b[i])] for i in range(n)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if m[piv][col] == 0.0:
            raise ZeroDivisionError("singular clearing system")
        m[col], m[piv] = m[piv], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f != 0.0:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def greatest_clearing_vector(
    liabilities: dict[int, dict[Any, float]], outside: dict[int, float], alpha: float, beta: float,
) -> tuple[dict[int, float], set[int], int]:
    """The greatest clearing vector of a small network, by the fictitious-default algorithm.

    liabilities: {node: {creditor: amount}}; a creditor that is not itself a node (the outside
    world) owes nothing. outside: {node: e}, what each node holds outside the network.
    A node pays its creditors in proportion to what it owes them. Start with everyone paying in
    full; a node defaults when what it owes exceeds its value (outside assets plus what it
    receives); defaulters pay ``alpha e + beta x receipts``, found by solving the linear system
    of the defaulters, with everyone else paying in full; repeat until no new default.
    Returns ({node: payment}, the default set, the number of linear solves).
    """
    nodes = sorted(liabilities)
    pbar = {i: sum(liabilities[i].values()) for i in nodes}
    rel = {i: {j: v / pbar[i] for j, v in liabilities[i].items() if j in liabilities}
           for i in nodes if pbar[i] > 0}

    def receipts(p: dict[int, float], i: int) -> float:
        return sum(rel[j].get(i, 0.0) * p[j] for j in rel)

    p = dict(pbar)
    default: set[int] = set()
    solves = 0
    for _ in range(len(nodes) + 1):
        new = set(default)
        for i in nodes:
            if pbar[i] - (outside[i] + receipts(p, i)) > CLEARING_TOL * max(pbar[i], 1.0):
                new.add(i)
        if new == default:
            break
        default = new
        d = sorted(default)
        # defaulter i: p_i - beta sum_{j in D} rel_ji p_j = alpha e_i + beta sum_{j not in D} rel_ji pbar_j
        a = [[(1.0 if i == j else 0.0) - beta * rel.get(j, {}).get(i, 0.0) for j in d] for i in d]
        b = [alpha * outside[i] + beta * sum(rel[j].get(i, 0.0) * pbar[j] for j in rel if j not in default)
             for i in d]
        x = solve_linear(a, b)
        solves += 1
        p = dict(pbar)
        for i, v in zip(d, x, strict=True):
            p[i] = min(max(v, 0.0), pbar[i])
    return p, default, solves


class ReferenceModel:
    """The rules of one month, written out per agent and per contract.

    cfg: the composed config; world: the :class:`aisim.world.World` the model runs on, checked to
    order agents and contracts as the reference does (pass None to skip the check).
    """

    def __init__(self, cfg: Any, world: Any = None) -> None:
        self.seed = int(cfg.seed)
        self.horizon = int(cfg.horizon)
        self.ch = {c: bool(getattr(cfg.channels, c)) for c in CHANNELS}
        sc = cfg.scenario
        self.sc = {
            "demand_drift": float(sc.demand.drift), "demand_vol": float(sc.demand.vol),
            "demand_changes": {int(k): float(v) for k, v in _items(sc.demand.drift_changes)},
            "price_drift": float(sc.rental_price.drift), "price_vol": float(sc.rental_price.vol),
            "price_changes": {int(k): float(v) for k, v in _items(sc.rental_price.drift_changes)},
            "beta": float(sc.price_demand_beta), "rate_mean": float(sc.base_rate.mean),
            "rate_speed": float(sc.base_rate.speed), "rate_vol": float(sc.base_rate.vol),
            "rate_jumps": {int(k): float(v) for k, v in _items(sc.base_rate.jumps)},
            "w": float(sc.expectation_weight),
            "demand0": float(sc.demand.start), "price0": float(sc.rental_price.start),
            "rate0": float(sc.base_rate.start), "sentiment": float(sc.sentiment),
            "freeze": {str(x) for x in sc.equity_freeze_sectors},
            "freeze_from": int(sc.equity_freeze_from), "freeze_months": int(sc.equity_freeze_months),
        }
        # the scenario's own indices and the loadings of parameters on them
        self.indices = [{"name": str(k), "start": float(v.start), "drift": float(v.drift), "vol": float(v.vol),
                         "changes": {int(m): float(d) for m, d in _items(v.drift_changes)}}
                        for k, v in _items(getattr(sc, "indices", None))]
        names = [ix["name"] for ix in self.indices]
        self.loadings = [{"parameter": str(ld.parameter), "index": names.index(str(ld.index)),
                          "elasticity": float(ld.elasticity), "sectors": {str(x) for x in ld.sectors},
                          "agents": {str(x) for x in ld.agents}} for ld in (getattr(sc, "loadings", None) or [])]
        rg = cfg.regime
        rw = rg.risk_weights
        self.rg = {
            "capital": float(rg.capital_requirement), "ccyb": float(rg.countercyclical_buffer),
            "release": bool(rg.release_buffer_in_stress), "leverage": float(rg.leverage_requirement),
            "build": float(rg.buffer_build_months),
            "large_exposure": float(rg.large_exposure_limit), "ai_limit": float(rg.ai_concentration_limit),
            "speed": float(rg.deleveraging_speed), "fund_cap": float(rg.fund_leverage_cap),
            "fund_buffer": float(rg.fund_liquidity_buffer), "gate": float(rg.fund_redemption_gate),
            "spv_consolidation": bool(rg.spv_consolidation), "haircut_floor": float(rg.gpu_haircut_floor),
            "valuation_life": float(rg.gpu_valuation_life_months), "ltv_cap": float(rg.gpu_ltv_cap),
            "w_ai": float(rw.ai_loans), "w_nbfi": float(rw.nbfi_loans), "w_spv": float(rw.spv_loans),
            "w_other": float(rw.other_assets), "w_sec": float(rw.securities), "w_eq": float(rw.equity_stakes),
            "rating_weights": bool(rg.rating_based_weights),
        }
        rt = cfg.rating_triggers  # ratings and rating_triggers
        self.rt = {"threshold": int(rt.threshold), "share": float(rt.conditional_share),
                   "premium": float(rt.fallen_premium), "decay": float(rt.premium_decay_months)}
        self.equity_premium = float(cfg.capital_pricing.equity_premium)  # capital_pricing
        inv = cfg.investment
        self.loan_term = int(inv.loan_term)
        self.refinance_term = int(inv.refinance_term)
        self.recovery_gpu = float(inv.recovery_gpu)
        self.recovery_other = float(inv.recovery_other)
        self.alpha, self.beta = float(cfg.clearing.alpha), float(cfg.clearing.beta)
        col = cfg.collateral
        self.valuation_life = self.rg["valuation_life"] or float(col.valuation_life_months)
        self.depth, self.impact, self.heal = float(col.depth), str(col.impact), float(col.recovery)
        self.vintage_share = float(col.vintage_share)
        self.ltv_default = float(cfg.covenants.ltv_max)
        self.cure_share = float(cfg.covenants.cure_share)
        em = cfg.equity_market
        self.em = {k: float(getattr(em, k)) for k in ("equity_premium", "growth_beta", "max_surprise", "growth_speed",
                                                       "sentiment_beta", "duration", "market_to_book", "issue_share",
                                                       "close_drawdown")}
        self.em["breach_months"] = int(em.breach_months)
        self.news = {"w": float(em.news_sector_weight),
                     "vol": {sec: float(getattr(em, f"news_vol_{sec}")) for sec in SECTOR_ORDER}}
        self.headroom = float(cfg.headroom.headroom)
        self.spv_rent_share = float(cfg.spv_marks.rent_share)
        self.notes_share = {"neocloud": float(cfg.notes.note_share_neocloud),
                            "hyperscaler": float(cfg.notes.note_share_hyperscaler)}
        self.notes_margin = float(cfg.notes.leverage_margin)
        self.notes_term = int(inv.notes_term)
        self.reneg_floor = float(cfg.renegotiation.floor)  # renegotiation
        cbp = cfg.contract_base  # contract_base
        self.contract_base = {"margin": float(cbp.margin), "coverage": float(cbp.coverage),
                              "sectors": ("neocloud",) if cbp.sectors == "neocloud" else ("neocloud", "hyperscaler")}
        jv = cfg.jv  # jv_debt
        self.jv = {"share": float(jv.debt_share), "premium": float(jv.premium), "term": int(jv.term_months)}
        mk = cfg.market
        self.mk = {k: float(getattr(mk, k)) for k in ("spread_per_loss", "sentiment_per_loss",
                                                        "sentiment_per_default", "recovery", "loan_sale_haircut")}
        self.premium = float(cfg.discounting.premium)
        cp = cfg.credit_pricing
        self.cp = {k: float(getattr(cp, k)) for k in ("max_spread", "roll_dd_mid", "roll_dd_scale")}
        grades = ("aaa", "aa", "a", "bbb", "bb", "b", "ccc")
        # each grade's DD: the z with N(-z) = its one-year default rate; its log spread
        self.cp_dd = [-NormalDist().inv_cdf(float(getattr(cp, f"pd_{g}"))) for g in grades]
        self.cp_log = [math.log(float(getattr(cp, f"spread_{g}"))) for g in grades]
        keys = list(cp.keys()) if hasattr(cp, "keys") else [f.name for f in fields(cp)]
        self.cp_sigma_of = {k[len("sigma_"):]: float(getattr(cp, k)) for k in keys if k.startswith("sigma_")}
        self.syndicate_size = int(cfg.syndicate.size)  # relationship_lending
        lc = cfg.lease_claims  # lease_claims: the 502(b)(6) cap
        self.lease_cap = {k: float(getattr(lc, k)) for k in ("floor_months", "term_share", "cap_months")}
        bk = cfg.banks  # bank_capital
        self.bk = {k: float(getattr(bk, k)) for k in ("book_growth", "base_loss", "sentiment_elasticity",
                                                        "reference_sentiment", "rate_loss", "reference_rate",
                                                        "loss_cap", "payout_ratio", "minimum")}
        self._build(cfg.calibration, {str(k): int(v) for k, v in _items(sc.offtake_exits)})
        fs = cfg.firm_shocks  # firm_shocks: persistence, sector weight, and each sector's terms
        self.fs = {"rho": float(fs.persistence), "w": float(fs.sector_weight),
                   "of": {sec: tuple(float(getattr(fs, f"{k}_{sec}")) for k in ("vol", "jump_prob", "jump_size"))
                          for sec in SECTOR_ORDER}}
        co = cfg.capex_orders  # capex_commitments: delivery lag and each sector's committed share
        self.co = {"lead": float(co.lead_months), "share": {sec: float(getattr(co, f"committed_{sec}"))
                                                            for sec in SECTOR_ORDER}}
        fd = cfg.funds  # fund_runs
        self.fd = {k: float(getattr(fd, k)) for k in ("tender_cap", "gate_tolerance", "discount_per_spread",
                                                       "discount_max", "discount_weight", "gate_weight", "book_yield",
                                                       "spread_duration", "price_floor", "depth", "recovery",
                                                       "bdc_leverage_cap")}
        self.fd["tender_months"] = int(fd.tender_months)
        ra = cfg.risk_appetite  # risk_appetite
        self.ra = {k: float(getattr(ra, k)) for k in ("persistence", "vol", "jump_prob", "jump_size", "spread_beta")}
        cm = cfg.compute_market  # compute market: segments' pass-through, utilisation response
        self.cm = {"pt": {"neocloud": float(cm.neocloud_pass_through),
                          "hyperscaler": float(cm.hyperscaler_pass_through)},
                   "eta": float(cm.utilisation_elasticity), "cap": float(cm.utilisation_cap)}
        self.backlog_h = int(cfg.backlog_capex.build_months)  # backlog_capex
        self.advance_rate = float(cfg.asset_facilities.advance_rate)  # asset_facilities
        self.backlog_share = [self._backlog_spot_share(i) for i in range(self.n)]
        self.growth_lead = float(cfg.demand_growth.lead_months)  # demand_growth
        if world is not None:
            self._check_world(world)

    # ------------------------------------------------------------------ agents and contracts
    def _build(self, cal: Any, exits: dict[str, int]) -> None:
        """Agents in sector order (stable), the calibrated contracts, then one revolving capex
        facility per (borrower, lender) pair: borrowers are compute providers that invest and
        every agent that owes a calibrated loan; lenders are agents with a lend rate, never paired
        with themselves. Neoclouds' facilities are secured on their
        GPUs; everyone else borrows unsecured."""
        ents = sorted(cal.entities, key=lambda e: SECTOR_ORDER.index(str(e.sector)))
        self.agents = [Agent(name=str(e.name), sector=str(e.sector), p={k: float(getattr(e, k)) for k in PARAMS},
                             balance={k: float(getattr(e, k)) for k in BALANCE}) for e in ents]
        n = self.n = len(self.agents)
        col = {a.name: i for i, a in enumerate(self.agents)}

        def party(name: str) -> int:
            return n if name == EXTERNAL else col[name]

        def terms(payer: int, payee: int) -> tuple[float, bool]:
            payer_sector = self.agents[payer].sector if payer < n else EXTERNAL
            payee_sector = self.agents[payee].sector if payee < n else EXTERNAL
            w = (self.rg["w_nbfi"] if payer_sector == "private_credit" else self.rg["w_spv"]
                 if payer_sector == "spv" else self.rg["w_ai"] if payer_sector in AI else self.rg["w_other"])
            return w, payer_sector == "private_credit" and payee_sector == "bank"

        self.contracts: list[Contract] = []
        for c in cal.contracts:
            kind, payer, payee = str(c.kind), party(str(c.payer)), party(str(c.payee))
            w, nav = terms(payer, payee)
            asset = str(c.facility) == "asset"  # an asset facility revolves whatever its amortisation says
            self.contracts.append(Contract(
                name=str(c.name), kind=kind, payer=payer, payee=payee, amount=float(c.amount),
                monthly=float(c.monthly), rate=float(c.rate), floating=bool(c.floating),
                maturity=NEVER if kind == "equity" else int(c.maturity), asset_line=asset,
                amort="revolving" if asset else "bullet" if str(c.amortisation) == "bullet" else "linear",
                start=int(c.start),
                share=float(c.share), secured=bool(c.secured), refinance=bool(c.refinance),
                exit_month=exits.get(str(c.payer), NEVER) if kind == "offtake" else NEVER,
                ltv_max=float(c.ltv_max) if float(c.ltv_max) > 0 else self.ltv_default,
                risk_weight=w, nav_line=kind == "loan" and nav and not asset,
            ))
        # note_issuance: a notes contract with bondholders for each compute provider with capex and a market_cap
        self.notes: dict[int, int] = {}  # issuer -> its notes contract
        for i, a in enumerate(self.agents):
            if a.sector in COMPUTE and a.p["capex"] > 0 and a.p["market_cap"] > 0:
                w, nav = terms(i, n)
                self.notes[i] = len(self.contracts)
                self.contracts.append(Contract(
                    name=f"notes {a.name}", kind="loan", payer=i, payee=n, amount=0.0, monthly=0.0,
                    rate=a.p["spread"], floating=True, maturity=self.notes_term, amort="revolving", start=0,
                    share=0.0, secured=False, refinance=False, exit_month=NEVER, ltv_max=self.ltv_default,
                    risk_weight=w, nav_line=nav,
                ))
        # jv_debt: a JV loan from each lending private-credit fund to each hyperscaler with capex and outside capital
        self.jv_loans: list[tuple[int, int, int]] = []  # (contract, sponsor, fund)
        if self.ch["jv_debt"]:
            for h, a in enumerate(self.agents):
                if a.sector != "hyperscaler" or a.p["capex"] <= 0 or a.p["equity_raise"] <= 0:
                    continue
                for f, b in enumerate(self.agents):
                    if b.sector != "private_credit" or b.p["lend_rate"] <= 0:
                        continue
                    w, nav = terms(h, f)
                    self.jv_loans.append((len(self.contracts), h, f))
                    self.contracts.append(Contract(
                        name=f"jv debt {a.name} <- {b.name}", kind="loan", payer=h, payee=f, amount=0.0, monthly=0.0,
                        rate=a.p["spread"] + self.jv["premium"], floating=True, maturity=self.jv["term"],
                        amort="bullet", start=0, share=0.0, secured=False, refinance=False, exit_month=NEVER,
                        ltv_max=self.ltv_default, risk_weight=w, nav_line=nav, jv=True,
                    ))
        self.jv_sponsors = sorted({h for _, h, _ in self.jv_loans})
        self.n_calibrated = len(self.contracts)
        investors = {i for i, a in enumerate(self.agents) if a.sector in COMPUTE and a.p["capex"] > 0}
        debtors = {c.payer for c in self.contracts if c.kind == "loan" and c.payer < n}
        lenders = [i for i, a in enumerate(self.agents) if a.p["lend_rate"] > 0]
        self.facilities: list[tuple[int, int, int]] = []  # (contract, borrower, lender)
        for b in sorted(investors | debtors):
            for lnd in self._syndicate(b, lenders):
                w, nav = terms(b, lnd)
                self.facilities.append((len(self.contracts), b, lnd))
                self.contracts.append(Contract(
                    name=f"capex facility {self.agents[b].name} <- {self.agents[lnd].name}", kind="loan",
                    payer=b, payee=lnd, amount=0.0, monthly=0.0, rate=self.agents[b].p["spread"], floating=True,
                    maturity=self.loan_term, amort="revolving", start=0, share=0.0,
                    secured=self.agents[b].sector == "neocloud", refinance=False, exit_month=NEVER,
                    ltv_max=self.ltv_default, risk_weight=w, nav_line=nav, facility=True,
                ))
        self.f_borrowers = sorted({b for _, b, _ in self.facilities})
        self.f_lenders = sorted({lnd for _, _, lnd in self.facilities})

    def _syndicate(self, b: int, lenders: list[int]) -> list[int]:
        """Relationship lending: with the channel on, the (at most) ``syndicate.size`` lenders of
        borrower b -- those holding a calibrated loan to b first, then by total assets at the start
        (balance sheet plus calibrated loans held), largest first, then by column -- in column
        order; with it off every lender. Never b itself."""
        others = [lnd for lnd in lenders if lnd != b]
        if not self.ch["relationship_lending"]:
            return others
        calibrated = self.contracts[:self.n_calibrated]
        ranked = []
        for lnd in others:
            a = self.agents[lnd]
            size = sum(a.balance[k] for k in ("cash", "securities", "gpu", "other_assets"))
            size += sum(c.amount for c in calibrated if c.kind == "loan" and c.payee == lnd)
            related = any(c.kind == "loan" and not c.jv and c.payer == b and c.payee == lnd for c in calibrated)
            ranked.append((0 if related else 1, -size, lnd))
        ranked.sort()
        return sorted(lnd for _, _, lnd in ranked[:self.syndicate_size])

    def _check_world(self, world: Any) -> None:
        """The world orders agents and contracts as the reference does, on the same terms."""
        names = [a.name for a in self.agents]
        if list(world.names) != names:
            raise AssertionError(f"agent order differs: world {list(world.names)}, reference {names}")
        cnames = [c.name for c in self.contracts]
        if list(world.contract_names) != cnames:
            raise AssertionError(f"contracts differ: world {list(world.contract_names)}, reference {cnames}")
        w = world.contracts
        for k, c in enumerate(self.contracts):
            mine = (KINDS.index(c.kind), c.payer, c.payee, AMORTS.index(c.amort), c.secured, c.nav_line,
                    c.ltv_max, c.risk_weight, c.exit_month, c.asset_line)
            theirs = (int(w["kind"][k]), int(w["payer"][k]), int(w["payee"][k]), int(w["amort"][k]),
                      bool(w["secured"][k]), bool(w["nav_line"][k]), float(w["ltv_max"][k]),
                      float(w["risk_weight"][k]), int(w["exit_month"][k]), bool(w["asset_line"][k]))
            if mine != theirs:
                raise AssertionError(
                    f"contract {c.name}: world (kind, payer, payee, amort, secured, nav_line, ltv_max, "
                    f"risk_weight, exit, asset_line) = {theirs}, reference {mine}; build the world with "
                    "regime=cfg.regime, covenants=cfg.covenants")

    # ------------------------------------------------------------------ small helpers
    def _live_agent(self, s: RefState, j: int) -> bool:
        """j is an alive agent (not the external sector, not defaulted)."""
        return j < self.n and s.alive[j]

    def balance_sheet(self, s: RefState) -> dict[str, list[float]]:
        """Assets, liabilities, loans held, debt and stake marks per agent (loans and stakes held
        by a defaulted agent are the external sector's)."""
        n = self.n
        held, owed, marks = [0.0] * n, [0.0] * n, [0.0] * n
        for k, c in enumerate(self.contracts):
            if not s.c_alive[k]:
                continue
            if c.kind == "loan":
                if self._live_agent(s, c.payee):
                    held[c.payee] += s.outstanding[k]
                if c.payer < n:
                    owed[c.payer] += s.outstanding[k]
            elif c.kind == "equity" and self._live_agent(s, c.payee):
                marks[c.payee] += s.outstanding[k]
        assets = [s.cash[i] + s.securities[i] + s.gpu[i] + s.other_assets[i] + held[i] + marks[i] for i in range(n)]
        if s.fv_mark:  # fund_runs: fair value less book of alive funds' loans
            assets = [assets[i] + (s.fv_mark[i] if s.alive[i] else 0.0) for i in range(n)]
        liabilities = [s.other_liab[i] + owed[i] for i in range(n)]
        return {"assets": assets, "liabilities": liabilities, "loans_held": held, "debt": owed, "stakes": marks}

    def rwa(self, s: RefState) -> list[float]:
        """Risk-weighted assets per agent: loans held by the borrower's risk weight, other
        assets, securities and stakes by the regime's weights."""
        n = self.n
        loans = [0.0] * n
        for k, c in enumerate(self.contracts):
            if c.kind == "loan" and s.c_alive[k] and self._live_agent(s, c.payee):
                loans[c.payee] += s.outstanding[k] * self.loan_weight(s, k)
        marks = self.balance_sheet(s)["stakes"]
        rg = self.rg
        return [loans[i] + rg["w_other"] * s.other_assets[i] + rg["w_sec"] * s.securities[i] + rg["w_eq"] * marks[i]
                for i in range(n)]

    def loan_weight(self, s: RefState, k: int) -> float:
        """A bank's risk weight on loan k: the CRE20 weight of the borrower's grade where the regime
        weights by rating and the borrower is an AI company (rated), else the flat weight of its
        risk class."""
        c = self.contracts[k]
        if self.rg["rating_weights"] and c.payer < self.n and self.agents[c.payer].sector in AI:
            return CRE20[s.grade[c.payer]]
        return c.risk_weight

    def ratios(self, s: RefState) -> tuple[list[float], list[float]]:
        """Banks' capital ratio (equity / RWA) and leverage ratio (equity / assets): +inf when the
        denominator is 0, 0 once defaulted; +inf for non-banks."""
        rwa = self.rwa(s)
        assets = self.balance_sheet(s)["assets"]
        cap, lev = [], []
        for i, a in enumerate(self.agents):
            if not a.is_bank:
                cap.append(INF)
                lev.append(INF)
            elif not s.alive[i]:
                cap.append(0.0)
                lev.append(0.0)
            else:
                cap.append(s.equity[i] / rwa[i] if rwa[i] > 0 else INF)
                lev.append(s.equity[i] / assets[i] if assets[i] > 0 else INF)
        return cap, lev

    def requirement(self, s: RefState) -> float:
        """Banks' capital requirement: the minimum plus the countercyclical buffer, which the
        regime may release while sentiment is below 0.8 x its calm level."""
        stress = s.sentiment < STRESS_SENTIMENT * self.sc["sentiment"]
        buffer = 0.0 if (self.rg["release"] and stress) else s.ccyb
        return self.rg["capital"] + buffer

    def _build_buffer(self, s: RefState) -> None:
        """Next month's buffer in force: 0 after a stress month where the regime releases it, else
        one build_months-th of the regime's buffer more, at most the buffer (all of it when
        build_months is 0)."""
        stress = s.sentiment < STRESS_SENTIMENT * self.sc["sentiment"]
        if self.rg["release"] and stress:
            s.ccyb = 0.0
        elif self.rg["build"] > 0:
            s.ccyb = min(s.ccyb + self.rg["ccyb"] / self.rg["build"], self.rg["ccyb"])
        else:
            s.ccyb = self.rg["ccyb"]

    def value_factor(self, s: RefState, i: int) -> float:
        """Collateral value per USD of agent i's GPU book: the rent of each vintage relative to its
        purchase (rental index now x the book's vintage u) x discount index x min(1, valuation
        life / accounting life) x (1 - haircut floor)."""
        life = min(self.valuation_life / self.agents[i].p["gpu_life_months"], 1.0)
        v = s.price * s.gpu_vintage[i] * s.q * life * (1.0 - self.rg["haircut_floor"])
        return v * self._rate_factor(s)

    def _rate_factor(self, s: RefState) -> float:
        """Rate discounting: GPU rents over the valuation life valued at this month's yield
        against the starting one (1 when the channel is off)."""
        if not self.ch["rate_discounting"]:
            return 1.0
        return self._annuity(s.base_rate + s.market_spread + self.premium) / self._annuity(
            self.sc["rate0"] + self.premium)

    def _annuity(self, y: float) -> float:
        """Value of 1 a month over the valuation life at annual yield y."""
        n = self.valuation_life
        if y / 12.0 <= 1e-12:
            return n
        return (1.0 - (1.0 + y / 12.0) ** (-n)) / (y / 12.0)

    def borrower_tests(self, s: RefState, leverage: bool = True) -> list[bool]:
        """Alive, equity > 0, debt <= max leverage x assets (SPV debt and assets consolidated into
        the guarantor of its residual value under spv_consolidation; without this part when
        ``leverage`` is False); funds also within the regime's leverage cap on debt / NAV when fund
        runs are on."""
        bs = self.balance_sheet(s)
        debt, assets = self.leverage_view(s, bs)
        out = []
        for i, a in enumerate(self.agents):
            ok = s.alive[i] and s.equity[i] > 0.0 and (not leverage or debt[i] <= a.p["max_leverage"] * assets[i])
            if self.ch["fund_runs"] and self.rg["fund_cap"] > 0 and a.is_fund:
                ok = ok and bs["debt"][i] <= self.rg["fund_cap"] * max(s.equity[i], 0.0)
            out.append(ok)
        return out

    def leverage_view(self, s: RefState, bs: dict) -> tuple[list[float], list[float]]:
        """Debt and assets of the leverage tests: the sponsor view, less (jv_debt, unless
        spv_consolidation) each sponsor's live JV debt J and min(J, assets) of the assets it financed."""
        debt, assets = self.sponsor_view(s, bs)
        if self.ch["jv_debt"] and not self.rg["spv_consolidation"]:
            for i in self.jv_sponsors:
                j = sum(s.outstanding[k] for k, h, _ in self.jv_loans if h == i and s.c_alive[k])
                debt[i] -= j
                assets[i] -= min(j, max(assets[i], 0.0))
        if self.ch["contract_base"]:
            for i, b in enumerate(self.contract_supported(s)):
                carved = min(max(b, 0.0), max(debt[i], 0.0))
                debt[i] -= carved
                assets[i] -= min(carved, max(assets[i], 0.0))
        return debt, assets

    def _pay(self, s: RefState | None, c: Contract) -> float:
        """A lease's or offtake's monthly payment now: an offtake at its buyer's renegotiated share
        (renegotiation; s None: month 0, nothing renegotiated)."""
        if s is None or not self.ch["renegotiation"] or c.kind != "offtake" or c.payer >= self.n:
            return c.monthly
        return c.monthly * s.offtake_scale[c.payer]

    def contract_supported(self, s: RefState) -> list[float]:
        """contract_base: per agent, margin x the present value of its live offtakes' remaining
        payments (discounted monthly at base + market spread + its spread) / coverage, for sellers
        in the eligible sectors."""
        cb = self.contract_base
        out = [0.0] * self.n
        for k, c in enumerate(self.contracts):
            if c.kind != "offtake" or c.payee >= self.n or not s.c_alive[k] or s.month >= c.exit_month:
                continue
            if s.maturity[k] <= 0 or self.agents[c.payee].sector not in cb["sectors"]:
                continue
            own = s.spread[c.payee] if self.ch["credit_pricing"] else self.agents[c.payee].p["spread"]
            y = (s.base_rate + s.market_spread + own) / 12.0
            n_left = s.maturity[k]
            pv = sum(self._pay(s, c) / (1.0 + y) ** j for j in range(1, n_left + 1))
            pv /= (1.0 + y) ** max(c.start - s.month, 0)
            out[c.payee] += pv
        return [cb["margin"] * v / cb["coverage"] for v in out]

    def sponsor_view(self, s: RefState, bs: dict) -> tuple[list[float], list[float]]:
        """Debt and assets per agent as its lenders see them. Under spv_consolidation each SPV is
        added to the sponsor of its residual-value guarantee: its debt, and its assets with its GPU /
        campus book marked down by rent_share x (1 - min(1, price x q x vintage)) when spv_marks is
        on (at book when off)."""
        debt, assets = list(bs["debt"]), list(bs["assets"])
        if not self.rg["spv_consolidation"]:
            return debt, assets
        for k, c in enumerate(self.contracts):
            if c.kind != "rvg" or not s.c_alive[k] or c.payer >= self.n:
                continue
            spv = c.payee
            spv_assets = bs["assets"][spv]
            if self.ch["spv_marks"]:
                rent = min(s.price * s.q * s.gpu_vintage[spv], 1.0)
                spv_assets -= self.spv_rent_share * (1.0 - rent) * s.gpu[spv]
            debt[c.payer] += bs["debt"][spv]
            assets[c.payer] += spv_assets
        return debt, assets

    def lender_tests(self, s: RefState) -> list[bool]:
        """Alive; banks also at or above their capital and leverage requirements (bank regulation on)."""
        if not self.ch["bank_regulation"]:
            return list(s.alive)
        req = self.requirement(s)
        return [s.alive[i] and (not a.is_bank or (s.capital_ratio[i] >= req
                                                  and s.leverage_ratio[i] >= self.rg["leverage"]))
                for i, a in enumerate(self.agents)]

    def _lend(self, s: RefState, need: list[float], healthy: list[bool], ev: Events) -> tuple[list[float], ...]:
        """New lending over the facilities: lenders offer lend_rate x cash above their buffer
        (banks within the AI concentration limit), facility (b, l) lends need_b x offer_l /
        max(total need, total offer), banks' facilities cut to their large-exposure room.
        Returns (amount per facility, borrowed per agent, lent per agent)."""
        n = self.n
        rg = self.rg
        offer = [0.0] * n
        for i, a in enumerate(self.agents):
            if a.sector not in LENDERS or not healthy[i]:
                continue
            buffer = a.p["cash_buffer"]
            if a.is_fund and self.ch["fund_runs"] and s.redeem_queue:  # cash kept for queued requests
                buffer = max(buffer, s.redeem_queue[i])
            if a.is_fund and self.ch["fund_runs"] and rg["fund_buffer"] > 0:
                buffer = max(buffer, rg["fund_buffer"] * max(s.equity[i], 0.0))
            offer[i] = a.p["lend_rate"] * max(s.cash[i] - buffer, 0.0)
        if self.ch["bank_regulation"] and rg["ai_limit"] > 0:
            held_ai = [0.0] * n
            for k, c in enumerate(self.contracts):
                if (c.kind == "loan" and s.c_alive[k] and c.payer < n and self.agents[c.payer].sector in AI
                        and self._live_agent(s, c.payee)):
                    held_ai[c.payee] += s.outstanding[k]
            for i, a in enumerate(self.agents):
                if a.is_bank:
                    room = max(rg["ai_limit"] * max(s.equity[i], 0.0) - held_ai[i], 0.0)
                    if room < offer[i]:
                        ev.concentration_capped.append(i)
                    offer[i] = min(offer[i], room)
        self.last_offer = list(offer)  # jv_debt: the funds lend what the facilities leave of it
        total_need = sum(need[b] for b in self.f_borrowers)
        total_offer = sum(offer[lnd] for lnd in self.f_lenders)
        denom = max(total_need, total_offer)
        amounts, borrowed, lent = [], [0.0] * n, [0.0] * n
        for k, b, lnd in self.facilities:
            amount = need[b] * offer[lnd] / denom if denom > 0 else 0.0
            if self.ch["bank_regulation"] and self.agents[lnd].is_bank:
                exposure = sum(s.outstanding[j] for j, c in enumerate(self.contracts)
                               if c.kind == "loan" and s.c_alive[j] and c.payer == b and c.payee == lnd)
                room = max(rg["large_exposure"] * max(s.equity[lnd], 0.0) - exposure, 0.0)
                if room < amount:
                    ev.exposure_capped.append(k)
                amount = min(amount, room)
            amounts.append(amount)
            borrowed[b] += amount
            lent[lnd] += amount
            if b == lnd and amount > 0:
                ev.self_loans.append((b, amount))
        return amounts, borrowed, lent

    def _active(self, s: RefState, k: int) -> bool:
        c = self.contracts[k]
        return s.c_alive[k] and c.start <= s.month < c.exit_month and s.maturity[k] > 0

    # ------------------------------------------------------------------ set-up
    def initial_state(self) -> RefState:
        """Month 0: the calibrated balance sheets, stake marks, equity as assets - liabilities."""
        n = self.n
        bal = [a.balance for a in self.agents]
        # stake marks: share x the investee's book equity before its own stakes
        pre = []
        for i in range(n):
            e = bal[i]["cash"] + bal[i]["securities"] + bal[i]["gpu"] + bal[i]["other_assets"]
            for c in self.contracts:
                if c.kind == "loan" and c.payee == i:
                    e += c.amount
                if c.kind == "loan" and c.payer == i:
                    e -= c.amount
            pre.append(e - bal[i]["other_liabilities"])
        outstanding, rate, maturity = [], [], []
        r0 = self.sc["rate0"]
        for c in self.contracts:
            if c.kind == "loan":
                outstanding.append(c.amount)
            elif c.kind == "equity":
                outstanding.append(c.share * max(pre[c.payer], 0.0))
            else:
                outstanding.append(0.0)
            rate.append(r0 + c.rate if c.floating else c.rate)
            maturity.append(NEVER if c.amort == "revolving" else c.maturity)
        s = RefState(
            month=0, cash=[b["cash"] for b in bal], securities=[b["securities"] for b in bal],
            gpu=[b["gpu"] for b in bal], other_assets=[b["other_assets"] for b in bal],
            other_liab=[b["other_liabilities"] for b in bal], equity=[0.0] * n, alive=[True] * n,
            default_month=[-1] * n, default_cause=[0] * n, capital_ratio=[INF] * n, loss_caused=[0.0] * n,
            outstanding=outstanding, rate=rate, maturity=maturity, c_alive=[True] * len(self.contracts),
            demand=self.sc["demand0"], price=self.sc["price0"], base_rate=r0,
            exp_demand=self.sc["demand0"], exp_price=self.sc["price0"], sentiment=self.sc["sentiment"],
            ext_cash=0.0, capex_cum=0.0, credit_loss=[0.0] * (n + 1), q=1.0, market_spread=0.0,
            last_return=[0.0] * n, leverage_ratio=[INF] * n, fire_sale_loss=0.0, stake_loss=0.0,
            redemptions=0.0, forced_sales=0.0, credit_supply=0.0, default_costs=0.0,
            index=[ix["start"] for ix in self.indices],
        )
        s.spread = [0.0] * n  # credit_pricing
        s.margin = [c.rate for c in self.contracts]
        if self.ch["equity_pricing"]:  # stakes in quoted or priced firms start at share x market value
            for k, c in enumerate(self.contracts):
                if c.kind == "equity" and self.agents[c.payer].p["market_cap"] > 0:
                    s.outstanding[k] = c.share * self._quoted_value(c.payer, s.sentiment)
        s.gpu_vintage = [self.sc["price0"] ** -self.vintage_share] * n  # all bought at the starting index
        s.lease_loss = [0.0] * (n + 1)  # lease_claims
        s.firm_shock = [0.0] * n  # firm_shocks
        s.appetite = 0.0  # risk_appetite
        s.offtake_scale = [1.0] * n  # renegotiation
        s.ccyb = 0.0 if self.rg["build"] > 0 else self.rg["ccyb"]  # a new buffer is announced, then built
        s.fv_mark, s.spread_ref, s.redeem_queue, s.gated = [0.0] * n, [0.0] * n, [0.0] * n, [False] * n  # fund_runs
        # demand_growth: firms start expecting the scenario's month-0 trend of log demand, mu - sigma^2 / 2
        s.exp_growth = self._drift_at(self.sc["demand_drift"], self.sc["demand_changes"], 0) - 0.5 * self.sc[
            "demand_vol"] ** 2
        s.demand_seen = s.demand
        # capex_commitments: the order book starts at its steady state L x committed share x capex
        s.orders = [a.base_p["capex"] * self.co["share"][a.sector] * self.co["lead"]
                    if self.ch["capex_commitments"] else 0.0 for a in self.agents]
        bs = self.balance_sheet(s)
        s.equity = [bs["assets"][i] - bs["liabilities"][i] for i in range(n)]
        s.grade = [self._grade(s, i) for i in range(n)]  # ratings at month 0, no fall on record
        s.rating_fall = [-1] * n
        s.capital_ratio, s.leverage_ratio = self.ratios(s)
        self._start_market(s)
        return s

    # ------------------------------------------------------------------ ratings
    def _grade(self, s: RefState, i: int) -> int:
        """Agent i's grade: the grade whose DD anchor is nearest its DD (ties to the better grade);
        +inf is AAA, -inf CCC; a defaulted agent 7."""
        if not s.alive[i]:
            return DEFAULTED_GRADE
        dd = self._distance_to_default(s, i)
        if dd == -INF:
            return len(self.cp_dd) - 1
        best = 0
        for j, anchor in enumerate(self.cp_dd):
            if abs(dd - anchor) < abs(dd - self.cp_dd[best]):
                best = j
        return best

    def _rate(self, s: RefState) -> None:
        """Month end: each agent's grade; a live agent crossing from investment grade (index <=
        threshold) to below it falls this month; one at investment grade has no fall on record."""
        thr = self.rt["threshold"]
        new = [self._grade(s, i) for i in range(self.n)]
        for i in range(self.n):
            if s.alive[i] and s.grade[i] <= thr < new[i]:
                s.rating_fall[i] = s.month
            if new[i] <= thr:
                s.rating_fall[i] = -1
        s.grade = new

    def _capital_charge(self, s: RefState, k: int) -> float:
        """capital_pricing: a bank-held loan's add-on, risk weight x requirement x equity premium."""
        c = self.contracts[k]
        if c.kind != "loan" or c.payee >= self.n or not self.agents[c.payee].is_bank:
            return 0.0
        return self.loan_weight(s, k) * self.requirement(s) * self.equity_premium

    # ------------------------------------------------------------------ equity_pricing
    def _quoted_value(self, i: int, sentiment: float) -> float:
        """A firm's starting market value from its market_cap (at sentiment 1)."""
        return self.agents[i].p["market_cap"] * max(sentiment, 1e-6) ** self.em["sentiment_beta"]

    def _start_market(self, s: RefState) -> None:
        """Starting market values (quoted: market_cap at the sentiment; else book x market_to_book)."""
        for i, a in enumerate(self.agents):
            if a.p["market_cap"] > 0:
                mv = self._quoted_value(i, s.sentiment)
            else:
                mv = max(s.equity[i], 0.0) * self.em["market_to_book"]
            s.market_value.append(mv)
            s.mv_premium.append(mv - s.equity[i])
            s.mv_peak.append(mv)
            s.mv_dilution.append(1.0)
            s.mv_exp_growth.append(0.0)
            s.mv_growth_seen.append(False)
            s.mv_revenue_prev.append(0.0)
            s.mv_breach_month.append(-NEVER)
        s.mv_sentiment = s.sentiment
        s.mv_rate = s.base_rate

    def _issue_capacity(self, s: RefState, i: int) -> float:
        """New equity the market takes from agent i this month."""
        em = self.em
        if not s.alive[i] or s.month - s.mv_breach_month[i] <= em["breach_months"]:
            return 0.0
        peak = s.mv_peak[i]
        drawdown = 1.0 - s.market_value[i] / peak if peak > 0 else 1.0
        if drawdown >= em["close_drawdown"]:
            return 0.0
        return max(em["issue_share"] / 3.0 * s.market_value[i], 0.0)

    def _revalue(self, s: RefState, scratch: dict, path: int) -> None:
        """Stakes to market value (with contract contagion), then each agent's market value: its
        premium x exp(no-news return + growth surprise + sentiment - duration x rate change + news),
        news = vol / sqrt(12) x (sqrt(w) z_sector + sqrt(1 - w) z_firm) - vol^2 / 24."""
        em = self.em
        idx = np.array([path], dtype=np.int64)
        zf = rng.normal(np, self.seed, idx, s.month, rng.STREAMS["valuation"], self.n)[0]
        zs = rng.normal(np, self.seed, idx, s.month, rng.STREAMS["valuation_sector"], len(SECTOR_ORDER))[0]
        if self.ch["contract_contagion"]:
            mv = list(s.market_value)
            dil = list(s.mv_dilution)
            for k, c in enumerate(self.contracts):
                if c.kind != "equity" or not s.c_alive[k]:
                    continue
                mark = c.share * dil[c.payer] * mv[c.payer]
                if self._live_agent(s, c.payee):
                    s.equity[c.payee] += mark - s.outstanding[k]
                s.outstanding[k] = mark
        s_now = max(s.sentiment, 1e-6)
        log_s = math.log(s_now / max(s.mv_sentiment, 1e-6))
        macro = (s.base_rate + em["equity_premium"]) / 12.0 + em["sentiment_beta"] * log_s \
            - em["duration"] * (s.base_rate - s.mv_rate)
        for i in range(self.n):
            rev, prev = scratch["ai_revenue"][i], s.mv_revenue_prev[i]
            surprise = 0.0
            if rev > 0 and prev > 0:
                g = math.log(rev / prev)
                if s.mv_growth_seen[i]:
                    surprise = min(max(g - s.mv_exp_growth[i], -em["max_surprise"]), em["max_surprise"])
                    s.mv_exp_growth[i] += em["growth_speed"] * (g - s.mv_exp_growth[i])
                else:
                    s.mv_exp_growth[i] = g
                    s.mv_growth_seen[i] = True
            s.mv_revenue_prev[i] = rev
            vol, w = self.news["vol"][self.agents[i].sector], self.news["w"]
            z = math.sqrt(w) * float(zs[SECTOR_ORDER.index(self.agents[i].sector)]) + math.sqrt(1.0 - w) * float(zf[i])
            news = vol / math.sqrt(12.0) * z - vol * vol / 24.0
            premium = s.mv_premium[i] * math.exp(macro + em["growth_beta"] * surprise + news)
            if s.alive[i]:
                mv = max(s.equity[i] + premium, 0.0)
                s.mv_premium[i] = premium
            else:
                mv = 0.0
                s.mv_premium[i] = 0.0
            issued = max(scratch["issued"][i], 0.0)
            if mv > 0:
                s.mv_dilution[i] *= min(max(mv - issued, 0.0) / mv, 1.0)
            s.market_value[i] = mv
            s.mv_peak[i] = max(s.mv_peak[i], mv)
            if scratch["breach"][i]:
                s.mv_breach_month[i] = s.month
        s.mv_sentiment = s.sentiment
        s.mv_rate = s.base_rate

    # ------------------------------------------------------------------ the month
    def step(self, state: RefState, path: int) -> tuple[RefState, Events]:
        """One month for one path (global path number ``path``, which keys the draws)."""
        s = state.copy()
        ev = Events()
        scratch: dict[str, Any] = {}
        self._macro(s, path, scratch)
        self._operations(s, scratch)
        self._investment(s, scratch, ev)
        self._financing(s, scratch, ev)
        self._settlement(s, scratch, ev)
        before = s.copy()
        self._resolution(s, scratch, ev)
        if self.ch["asset_facilities"]:
            self._asset_facilities(s, before, ev)
        self._rate(s)
        if self.ch["bank_capital"]:
            self._bank_book(s, scratch)
        self._regulation(s, ev)
        self._feedback(s, scratch, path)
        s.month += 1
        return s, ev

    def _draw(self, path: int, month: int, stream: str) -> float:
        z = rng.normal(np, self.seed, np.array([path], dtype=np.int64), month, rng.STREAMS[stream], 1)
        return float(z[0, 0])

    def _drift_at(self, base: float, changes: dict[int, float], t: int) -> float:
        """The drift in force in month t: the latest change at or before t (within the horizon)."""
        past = [m for m in changes if 0 <= m <= t and m < self.horizon]
        return changes[max(past)] if past else base

    def _macro(self, s: RefState, path: int, scratch: dict) -> None:
        """Log-normal demand and rental price (price shocks load on demand shocks), an OU base
        rate floored at zero with scheduled jumps, adaptive expectations; loans' current rates
        (floating: base + market spread + spread); the used-GPU discount heals."""
        t, sc = s.month, self.sc
        scratch["equity_start"] = list(s.equity)
        scratch["loss_start"] = sum(s.credit_loss)
        scratch["loans_start"] = sum(s.outstanding[k] for k, c in enumerate(self.contracts)
                                     if c.kind == "loan" and s.c_alive[k])
        zd, zp, zr = (self._draw(path, t, k) for k in ("demand", "price", "rate"))
        dd = self._drift_at(sc["demand_drift"], sc["demand_changes"], t)
        pd = self._drift_at(sc["price_drift"], sc["price_changes"], t)
        dv, pv, beta = sc["demand_vol"], sc["price_vol"], sc["beta"]
        demand = s.demand * math.exp(dd - 0.5 * dv * dv + dv * zd)
        z_price = (zp + beta * zd) / math.sqrt(1.0 + beta * beta)  # keeps the stated price vol
        price = s.price * math.exp(pd - 0.5 * pv * pv + pv * z_price)
        r = s.base_rate + sc["rate_speed"] * (sc["rate_mean"] - s.base_rate) + sc["rate_vol"] * zr
        r = max(r + sc["rate_jumps"].get(t, 0.0), 0.0)
        w = sc["w"]
        s.exp_demand = s.exp_demand + w * (demand - s.exp_demand)
        s.exp_price = s.exp_price + w * (price - s.exp_price)
        if self.ch["demand_growth"]:  # adaptive expectation of the growth rate, as of the level
            s.exp_growth += w * (math.log(demand / s.demand_seen) - s.exp_growth)
            s.demand_seen = demand
        s.demand, s.price, s.base_rate = demand, price, r
        # the scenario's own indices (log-normal, each with its named stream), then the agents'
        # parameters this month: each loading multiplies its parameter by index ** elasticity
        for k, ix in enumerate(self.indices):
            z = float(rng.normal(np, self.seed, np.array([path], dtype=np.int64), t, rng.named_stream(ix["name"]),
                                 1)[0, 0])
            mu, v = self._drift_at(ix["drift"], ix["changes"], t), ix["vol"]
            s.index[k] = s.index[k] * math.exp(mu - 0.5 * v * v + v * z)
        for a in self.agents:
            a.p = dict(a.base_p)
            for ld in self.loadings:
                if a.sector in ld["sectors"] or a.name in ld["agents"]:
                    a.p[ld["parameter"]] = a.p[ld["parameter"]] * s.index[ld["index"]] ** ld["elasticity"]
        for k, c in enumerate(self.contracts):
            if c.kind == "loan":
                s.rate[k] = (r + s.market_spread) + c.rate if c.floating else c.rate
        if self.ch["fire_sales"]:
            s.q = s.q + self.heal * (1.0 - s.q)
        if self.ch["credit_pricing"]:
            self._credit_pricing(s)
        if self.ch["compute_market"]:
            self._clear_compute_market(s)
        if self.ch["firm_shocks"]:
            self._firm_shocks(s, path)
        if self.ch["risk_appetite"]:
            self._risk_appetite(s, path)
        if self.ch["rating_triggers"]:  # fallen angels: premium x exp(-months since the fall / decay)
            for i in range(self.n):
                if s.alive[i] and s.rating_fall[i] >= 0:
                    prem = self.rt["premium"] * math.exp(-max(s.month - s.rating_fall[i], 0) / self.rt["decay"])
                    if self.ch["credit_pricing"]:
                        s.spread[i] += prem
                    for k, c in enumerate(self.contracts):
                        if c.kind == "loan" and c.floating and c.payer == i:
                            s.rate[k] += prem
        if self.ch["capital_pricing"]:  # bank-held capex facilities carry the capital charge
            for k, c in enumerate(self.contracts):
                if c.kind == "loan" and c.amort == "revolving":
                    s.rate[k] += self._capital_charge(s, k)

    def _risk_appetite(self, s: RefState, path: int) -> None:
        """a' = rho a + vol sqrt(1 - rho^2) z + jump size if u < jump prob; sentiment x exp(a' - a);
        market spread + beta (max(-a', 0) - max(-a, 0)), floored at 0."""
        idx, ra = np.array([path], dtype=np.int64), self.ra
        z = float(rng.normal(np, self.seed, idx, s.month, rng.STREAMS["appetite"], 1)[0, 0])
        u = float(rng.uniform(np, self.seed, idx, s.month, rng.STREAMS["appetite_jump"], 1)[0, 0])
        rho = ra["persistence"]
        a = rho * s.appetite + ra["vol"] * math.sqrt(1.0 - rho * rho) * z + (ra["jump_size"] if u < ra["jump_prob"]
                                                                             else 0.0)
        s.sentiment *= math.exp(a - s.appetite)
        s.market_spread = max(s.market_spread + ra["spread_beta"] * (max(-a, 0.0) - max(-s.appetite, 0.0)), 0.0)
        s.appetite = a

    def _firm_shocks(self, s: RefState, path: int) -> None:
        """x' = rho x + vol sqrt(1 - rho^2) (sqrt(w) z_sector + sqrt(1 - w) z_firm) + jump size if u < jump prob;
        z_sector drawn once per sector (column: the sector's place in the registry)."""
        t, n, idx = s.month, len(self.agents), np.array([path], dtype=np.int64)
        zf = rng.normal(np, self.seed, idx, t, rng.STREAMS["idiosyncratic"], n)[0]
        zs = rng.normal(np, self.seed, idx, t, rng.STREAMS["sector"], len(SECTOR_ORDER))[0]
        u = rng.uniform(np, self.seed, idx, t, rng.STREAMS["firm_jump"], n)[0]
        rho, w = self.fs["rho"], self.fs["w"]
        for i, a in enumerate(self.agents):
            vol, prob, size = self.fs["of"][a.sector]
            z = math.sqrt(w) * float(zs[SECTOR_ORDER.index(a.sector)]) + math.sqrt(1.0 - w) * float(zf[i])
            s.firm_shock[i] = rho * s.firm_shock[i] + vol * math.sqrt(1.0 - rho * rho) * z + (
                size if float(u[i]) < prob else 0.0)

    # ------------------------------------------------------------------ credit pricing
    def _distance_to_default(self, s: RefState, i: int) -> float:
        """Merton/KMV DD of agent i: book assets against short-term debt + half the long-term
        liabilities, its sector's asset volatility, one year."""
        a = self.agents[i]
        if a.sector not in self.cp_sigma_of:
            raise ValueError(f"no asset volatility for sector {a.sector}")
        sigma = self.cp_sigma_of[a.sector]
        bs = self.balance_sheet(s)
        short = 0.0
        for k, c in enumerate(self.contracts):
            if c.kind != "loan" or c.payer != i or not s.c_alive[k]:
                continue
            out, left = s.outstanding[k], max(s.maturity[k], 1)
            if c.amort == "bullet":
                short += out if s.maturity[k] <= 12 else 0.0
            elif c.amort == "linear":
                short += out * min(12.0 / left, 1.0)
            else:
                short += out * min(12.0 / max(c.maturity, 1), 1.0)
        debt, assets = bs["debt"], bs["assets"]
        if self.ch["spv_marks"]:  # lenders price a sponsor on its consolidated, marked balance sheet
            debt, assets = self.sponsor_view(s, bs)
        long = debt[i] - short + s.other_liab[i]
        point = short + 0.5 * long
        value = assets[i]
        if point <= 0.0:
            return INF
        if value <= 0.0:
            return -INF
        return (math.log(value / point) + (s.base_rate - 0.5 * sigma * sigma)) / sigma

    def _spread_of(self, dd: float) -> float:
        """Grade anchors (DD, log spread), log-linear between them, flat above AAA, the B-CCC line
        continued below CCC, at most max_spread."""
        d, lg, cap = self.cp_dd, self.cp_log, self.cp["max_spread"]
        if dd == -INF:
            return cap
        if dd >= d[0]:
            return min(math.exp(lg[0]), cap)
        j = 0
        while j < len(d) - 2 and dd < d[j + 1]:
            j += 1
        w = (d[j] - dd) / (d[j] - d[j + 1])
        return min(math.exp(lg[j] + w * (lg[j + 1] - lg[j])), cap)

    def _roll_share(self, dd: float) -> float:
        z = (dd - self.cp["roll_dd_mid"]) / self.cp["roll_dd_scale"]
        z = min(max(z, -50.0), 50.0)
        return 1.0 / (1.0 + math.exp(-z))

    def _credit_pricing(self, s: RefState) -> None:
        """Each agent's spread from its DD; floating loans pay base + market spread + the
        borrower's spread + margin (month 0: calibrated margins are over the month-0 spread;
        capex facilities have margin 0), fixed loans their margin."""
        s.spread = [self._spread_of(self._distance_to_default(s, i)) for i in range(self.n)]
        for k, c in enumerate(self.contracts):
            if c.kind != "loan":
                continue
            own = s.spread[c.payer] if c.payer < self.n else 0.0
            if s.month == 0 and c.floating:
                # a revolving loan (a capex facility, a notes contract) is priced at the current spread alone
                # an asset facility keeps its calibrated spread over the fund's month-0 spread
                revolving = (c.facility or c.amort == "revolving") and not c.asset_line
                s.margin[k] = 0.0 if revolving else c.rate - own
            if c.floating:
                s.rate[k] = ((s.base_rate + s.market_spread) + own) + s.margin[k]
            else:
                s.rate[k] = s.margin[k]

    def _spare_capacity(self, s: RefState | None, i: int, month: int) -> float:
        """Seller i's GPU book not sold forward on live offtakes (s None: the calibrated month 0)."""
        pay = 0.0
        for k, c in enumerate(self.contracts):
            if c.kind != "offtake" or c.payee != i:
                continue
            if s is None:
                live = c.start <= 0 < c.exit_month and c.maturity > 0
            else:
                live = self._active(s, k) and self._live_agent(s, c.payee)
            if live:
                pay += self._pay(s, c)
        a = self.agents[i]
        cy = a.base_p["capacity_yield"] if s is None else a.p["capacity_yield"]
        gpu = a.balance["gpu"] if s is None else s.gpu[i]
        return max(gpu - (pay / cy if cy > 0 else 0.0), 0.0)

    def _backlog_need(self, s: RefState | None, i: int) -> float:
        """Capacity (USD bn of book) seller i's offtakes live H months ahead need: each offtake
        c it sells, not ended, with start <= t + H < (max(start, t) + months left), before an exit,
        pays m_c, needing m_c / yield (s None: the calibrated month 0, everyone alive)."""
        t = 0 if s is None else s.month
        tau = t + self.backlog_h
        a = self.agents[i]
        if s is not None and not s.alive[i]:
            return 0.0
        cy = a.base_p["capacity_yield"] if s is None else a.p["capacity_yield"]
        if cy <= 0:
            return 0.0
        pay = 0.0
        for k, c in enumerate(self.contracts):
            if c.kind != "offtake" or c.payee != i:
                continue
            left = c.maturity if s is None else s.maturity[k]
            if s is not None and not s.c_alive[k]:
                continue
            if c.start <= tau < min(max(c.start, t) + left, c.exit_month):
                pay += self._pay(s, c)
        return pay / cy

    def _backlog_spot_share(self, i: int) -> float:
        """Share of i's calibrated capex left on the spot rule: the part the month-0 backlog gap
        (K(H) - G_0) / H does not explain, over capex."""
        a = self.agents[i]
        capex = a.base_p["capex"]
        if capex <= 0:
            return 1.0
        gap = (max(self._backlog_need(None, i) - a.balance["gpu"], 0.0) / self.backlog_h
               if a.sector in COMPUTE else 0.0)
        return max(capex - gap, 0.0) / capex

    def _clear_compute_market(self, s: RefState) -> None:
        """Tightness per segment: (D / D0) x (month-0 spare capacity) / (spare capacity of live
        sellers now); 1 for a segment with no supply."""
        for g, seg in enumerate(("neocloud", "hyperscaler")):
            s0 = sum(self._spare_capacity(None, i, 0) for i, a in enumerate(self.agents) if a.sector == seg)
            now = sum(self._spare_capacity(s, i, s.month) for i, a in enumerate(self.agents)
                      if a.sector == seg and s.alive[i])
            s.tightness[g] = (s.demand / self.sc["demand0"]) * s0 / now if s0 > 0 and now > 0 else 1.0

    def _operations(self, s: RefState, scratch: dict) -> None:
        """Revenue from outside (AI revenue x demand, compute providers' spot sales of capacity
        not sold forward, non-AI cash flow, securities income at the base rate), depreciation
        at 1/life a month. Remembers AI revenue and the value of unsold capacity."""
        n = self.n
        committed_pay = [0.0] * n  # capacity sold forward: live offtakes' payments per seller
        for k, c in enumerate(self.contracts):
            if c.kind == "offtake" and self._active(s, k) and self._live_agent(s, c.payee):
                committed_pay[c.payee] += self._pay(s, c)
        ai, unsold = [0.0] * n, [0.0] * n
        for i, a in enumerate(self.agents):
            if not s.alive[i]:
                continue
            p = a.p
            spot = 0.0
            if a.sector in COMPUTE:
                cy = p["capacity_yield"]
                committed = committed_pay[i] / cy if cy > 0 else 0.0
                spare = max(s.gpu[i] - committed, 0.0)
                util = min(max(p["utilisation"] * s.demand, 0.0), 1.0)
                price = s.price
                if self.ch["compute_market"]:  # cleared terms: price x tau^(1/eps), min(cap, u0 tau^eta)
                    tau = s.tightness[0 if a.sector == "neocloud" else 1]
                    price = s.price * tau ** self.cm["pt"][a.sector]
                    util = min(max(p["utilisation"] * tau ** self.cm["eta"], 0.0), self.cm["cap"])
                gross = spare * cy * price
                spot = gross * util
                unsold[i] = gross * (1.0 - util)
            ai[i] = p["revenue"] * s.demand + spot
        for i, a in enumerate(self.agents):
            non_ai = a.p["non_ai_cash_flow"] if s.alive[i] else 0.0
            income = ai[i] + non_ai + s.securities[i] * (s.base_rate / 12.0)
            dep = s.gpu[i] / a.p["gpu_life_months"]
            s.cash[i] += income
            s.equity[i] += income - dep
            s.gpu[i] -= dep
            s.ext_cash -= income
        scratch["ai_revenue"] = ai
        scratch["unsold"] = unsold

    def _capex_outside(self, s: RefState, i: int, plan: list, internal: list, borrowed: list, due: list,
                       room: float, jv: float) -> float:
        """Outside capital for capex, liquidity first: deliveries due, then the cash buffer, then
        discretionary capex (jv: JV debt already lent for it)."""
        gap = max(self.agents[i].p["cash_buffer"] - s.cash[i], 0.0)
        left = room - gap if room > gap else 0.0
        if self.ch["capex_commitments"]:
            left = max(left, min(room, due[i] - internal[i] - borrowed[i] - jv))
        return max(min(plan[i] - internal[i] - borrowed[i] - jv, left), 0.0)

    def _raise_room(self, s: RefState, i: int, ev: Events | None = None) -> float:
        """Equity outside investors take this month: equity_raise x sentiment, none while the
        scenario freezes the agent's sector."""
        a = self.agents[i]
        sc = self.sc
        if a.sector in sc["freeze"] and sc["freeze_from"] <= s.month < sc["freeze_from"] + sc["freeze_months"]:
            if ev is not None and a.p["equity_raise"] > 0:
                ev.equity_frozen.append(i)
            return 0.0
        room = a.p["equity_raise"] * s.sentiment
        if self.ch["equity_pricing"]:
            room = min(room, self._issue_capacity(s, i))
        return room

    def _notes(self, s: RefState, i: int, gap: float, debt: float, assets: float, leverage: bool = True) -> float:
        """New notes issuer i sells this month: the capex gap, at most its sector's note share / 3 of its market
        value while its equity window is open and the scenario does not freeze its sector, and no
        more than keeps (debt + notes) / (assets + notes) <= max_leverage + leverage_margin."""
        a, sc, em = self.agents[i], self.sc, self.em
        if not s.alive[i] or gap <= 0:
            return 0.0
        if a.sector in sc["freeze"] and sc["freeze_from"] <= s.month < sc["freeze_from"] + sc["freeze_months"]:
            return 0.0
        if s.month - s.mv_breach_month[i] <= em["breach_months"]:
            return 0.0
        peak = s.mv_peak[i]
        if (1.0 - s.market_value[i] / peak if peak > 0 else 1.0) >= em["close_drawdown"]:
            return 0.0
        room = max(self.notes_share.get(a.sector, 0.0) / 3.0 * s.market_value[i], 0.0)
        c = a.p["max_leverage"] + self.notes_margin
        if leverage and c < 1.0:  # (D + x) / (A + x) = c at x = (c A - D) / (1 - c)
            room = min(room, max((c * assets - debt) / (1.0 - c), 0.0))
        return min(gap, room)

    def _investment(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Compute providers' planned capex, paid from spare cash, then new loans on the capex
        facilities (within the regime's GPU LTV cap), then new equity; the capex is the
        chipmakers' revenue."""
        n = self.n
        plan, internal = [0.0] * n, [0.0] * n
        due, wanted, unpaid = [0.0] * n, [0.0] * n, [0.0] * n  # capex_commitments
        for i, a in enumerate(self.agents):
            if a.sector in COMPUTE and s.alive[i]:
                level = s.exp_demand * max(s.exp_price, 1e-12) ** a.p["price_elasticity"]
                plan[i] = a.p["capex"] * level
                if self.ch["compute_market"]:  # spot revenue per GPU at the cleared terms vs the trend's
                    tau = s.tightness[0 if a.sector == "neocloud" else 1]
                    u0, cap = a.p["utilisation"], self.cm["cap"]
                    u1 = min(max(u0, 0.0), cap)
                    util = min(max(u0 * tau ** self.cm["eta"], 0.0), cap) / u1 if u1 > 0 else 1.0
                    plan[i] *= (tau ** self.cm["pt"][a.sector] * util) ** a.p["price_elasticity"]
                if self.ch["demand_growth"]:  # plan for the demand expected L months on, at growth g
                    plan[i] *= math.exp(self.growth_lead * s.exp_growth)
            if self.ch["backlog_capex"] and a.sector in COMPUTE and s.alive[i]:
                # the spot part of the plan, plus 1/H of the gap to what the backlog needs H months ahead
                plan[i] = (plan[i] * self.backlog_share[i]
                           + max(self._backlog_need(s, i) - s.gpu[i], 0.0) / self.backlog_h)
            if self.ch["capex_commitments"]:  # ordered GPUs arrive (B / L): the month's capex is at least that
                due[i] = s.orders[i] / self.co["lead"] if s.alive[i] else 0.0
                wanted[i] = plan[i]
                plan[i] = max(plan[i], due[i])
            internal[i] = min(plan[i], max(s.cash[i] - a.p["cash_buffer"], 0.0))
        b_ok = self.borrower_tests(s)
        need = [plan[i] - internal[i] if b_ok[i] else 0.0 for i in range(n)]
        if self.ch["capex_headroom"]:  # borrow only up to (1 - headroom) x max_leverage of debt / assets
            debt, assets = self.leverage_view(s, self.balance_sheet(s))
            for i, a in enumerate(self.agents):
                target = a.p["max_leverage"] * (1.0 - self.headroom)
                if target < 1.0:
                    # (D + b) / (A + b) = target at b = (target A - D) / (1 - target)
                    need[i] = min(need[i], max((target * assets[i] - debt[i]) / (1.0 - target), 0.0))
        if self.ch["rating_triggers"]:  # a fallen angel's rating-conditional financing is cancelled
            for i in range(n):
                if s.alive[i] and s.rating_fall[i] >= 0:
                    need[i] *= 1.0 - self.rt["share"]
        cap = self.rg["ltv_cap"]
        if cap > 0:  # new GPU-secured lending at most cap x the collateral value after the purchase
            sec_debt = [0.0] * n
            for k, c in enumerate(self.contracts):
                if c.kind == "loan" and c.secured and s.c_alive[k] and c.payer < n:
                    sec_debt[c.payer] += s.outstanding[k]
            # the cap is on GPU-secured lending: borrowers whose facilities are secured (neoclouds)
            for i in sorted({b for k, b, _ in self.facilities if self.contracts[k].secured}):
                # the planned purchase is valued at P / P^share (today's index is its purchase index)
                life = min(self.valuation_life / self.agents[i].p["gpu_life_months"], 1.0)
                new_value = (plan[i] * s.price ** (1.0 - self.vintage_share) * s.q * life
                             * (1.0 - self.rg["haircut_floor"]) * self._rate_factor(s))
                room = max(cap * (s.gpu[i] * self.value_factor(s, i) + new_value) - sec_debt[i], 0.0)
                if room < need[i]:
                    ev.ltv_capped.append(i)
                need[i] = min(need[i], room)
        amounts, borrowed, lent = self._lend(s, need, self.lender_tests(s), ev)
        for (k, _, _), amount in zip(self.facilities, amounts, strict=True):
            s.outstanding[k] += amount
            ev.new_loans += amount
        raised, capex, room_left = [0.0] * n, [0.0] * n, [0.0] * n
        rooms = [self._raise_room(s, i, ev) for i in range(n)]
        bs_notes = self.balance_sheet(s) if self.ch["note_issuance"] else None  # this month's loans in debt
        jv_in = [0.0] * n  # jv_debt: each sponsor's new JV debt
        if self.jv_loans:
            share = self.jv["share"]
            want = [0.0] * n
            for i in self.jv_sponsors:
                if s.alive[i] and plan[i] > 0:  # the outside capital it would raise for capex, liquidity first
                    want[i] = share * self._capex_outside(s, i, plan, internal, borrowed, due, rooms[i], 0.0)
            funds = sorted({f for _, _, f in self.jv_loans})
            supply = {f: max(self.last_offer[f] - lent[f], 0.0) for f in funds}
            denom = max(sum(want[i] for i in self.jv_sponsors), sum(supply.values()))
            for k, h, f in self.jv_loans:
                amount = want[h] * supply[f] / denom if denom > 0 else 0.0
                s.outstanding[k] += amount
                s.cash[f] -= amount
                s.credit_supply += amount
                jv_in[h] += amount
                ev.jv_loans += amount
            for i in self.jv_sponsors:
                rooms[i] = (1.0 - share) * rooms[i]
        for i in range(n):
            room = rooms[i]
            if s.alive[i] and plan[i] > 0:
                raised[i] = self._capex_outside(s, i, plan, internal, borrowed, due, room, jv_in[i])
            borrowed[i] += jv_in[i]
            if bs_notes is not None and i in self.notes:
                notes = self._notes(s, i, plan[i] - internal[i] - borrowed[i] - raised[i], bs_notes["debt"][i],
                                    bs_notes["assets"][i] + borrowed[i] + raised[i])
                s.outstanding[self.notes[i]] += notes
                s.ext_cash -= notes
                borrowed[i] += notes
            capex[i] = internal[i] + borrowed[i] + raised[i]
            room_left[i] = room - raised[i]
            if self.ch["capex_commitments"]:
                # deliveries the financing left unpaid: the rest of the cash, then securities sold at par;
                # what is still unpaid is a payment default; then new orders, c x min(plan, financed capex)
                financed = capex[i]  # from spare cash, new loans and new equity: what new orders rest on
                short = max(due[i] - capex[i], 0.0)
                from_cash = min(short, max(s.cash[i] - internal[i], 0.0))
                from_sec = min(short - from_cash, max(s.securities[i], 0.0))
                unpaid[i] = max(short - from_cash - from_sec, 0.0)
                s.securities[i] -= from_sec
                s.cash[i] += from_sec
                s.ext_cash -= from_sec
                internal[i] += from_cash + from_sec
                capex[i] += from_cash + from_sec
                share = self.co["share"][self.agents[i].sector]
                s.orders[i] = s.orders[i] - due[i] + share * min(wanted[i], financed) if s.alive[i] else 0.0
        total = sum(capex)
        # the capex is the chipmakers' revenue, by chip share among the alive ones
        weights = [a.p["chip_share"] if (s.alive[i] and a.sector == "chipmaker") else 0.0
                   for i, a in enumerate(self.agents)]
        wsum = sum(weights)
        for i, a in enumerate(self.agents):
            chip = weights[i] * (total / wsum) if wsum > 0 else 0.0
            cogs = chip * a.p["cost_share"]
            s.cash[i] += -internal[i] - lent[i] + chip - cogs  # borrowed and raised cash is spent
            s.equity[i] += raised[i] + chip - cogs
            if s.gpu[i] + capex[i] > 0:  # the purchase enters the book's vintage at today's index
                s.gpu_vintage[i] = ((s.gpu[i] * s.gpu_vintage[i] + capex[i] * s.price ** -self.vintage_share)
                                    / (s.gpu[i] + capex[i]))
            s.gpu[i] += capex[i]
            s.ext_cash += cogs - raised[i]
        if wsum <= 0:
            s.ext_cash += total  # no chipmaker alive: the GPUs are bought from outside
        s.capex_cum += total
        s.credit_supply += sum(amounts)
        scratch["raised"] = raised
        scratch["room"] = room_left
        scratch["capex"] = capex
        scratch["unpaid_orders"] = unpaid

    def _financing(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Equity raises to restore the cash buffer (within what is left of the month's room),
        payouts of a share of the cash above twice the buffer; then the funds' runs."""
        n = self.n
        flows = list(scratch["raised"])
        issued = list(scratch["raised"])  # new shares sold this month (equity_pricing dilution)
        scratch["issued"] = issued
        for i, a in enumerate(self.agents):
            if not s.alive[i]:
                continue
            p = a.p
            gap = max(p["cash_buffer"] - s.cash[i], 0.0)
            raised = min(gap, max(scratch["room"][i], 0.0))
            issued[i] += raised
            paid = p["payout"] * max(s.cash[i] + raised - 2.0 * p["cash_buffer"], 0.0)
            s.cash[i] += raised - paid
            s.equity[i] += raised - paid
            s.ext_cash += paid - raised
            flows[i] += raised - paid
        scratch["funding_flows"] = flows
        scratch["breach"] = [False] * n
        if self.ch["fund_runs"]:
            self._fund_runs(s, scratch, ev)
        if self.ch["note_issuance"]:
            self._refinance_notes(s)

    def _refinance_notes(self, s: RefState) -> None:
        """Each issuer's bullets owed to bondholders maturing this month that will not roll (it
        fails its test, or the loan does not roll) are paid with new notes sold now, at most a
        quarter's capacity (note share x market value) while the window is open."""
        n = self.n
        b_ok = self.borrower_tests(s, leverage=not self.ch["graded_refinancing"])
        owed = [0.0] * n
        for k, c in enumerate(self.contracts):
            if (c.kind == "loan" and c.amort == "bullet" and c.payee == n and c.payer < n and self._active(s, k)
                    and s.maturity[k] == 1 and not (c.refinance and b_ok[c.payer])):
                owed[c.payer] += s.outstanding[k]
        for i, k in self.notes.items():
            if owed[i] <= 0:
                continue
            room = 3.0 * self._notes(s, i, float("inf"), 0.0, 1.0, leverage=False)
            x = min(owed[i], room)
            s.outstanding[k] += x
            s.cash[i] += x
            s.ext_cash -= x

    def _fund_price(self, s: RefState) -> float:
        """A performing loan's price per USD of face: the loan market's index x max(1 - D x spread, floor)."""
        fd = self.fd
        return s.loan_q * max(1.0 - fd["spread_duration"] * max(s.market_spread, 0.0), fd["price_floor"])

    def _fund_marks(self, s: RefState) -> None:
        """Each alive fund's loans at fair value: its other assets at the loan price, each AI loan
        it holds at that price less duration x its borrower's spread widening since month 0
        (floored); equity moves with the change of the mark."""
        fd, n = self.fd, self.n
        price = self._fund_price(s)
        mark = [0.0] * n
        for i, a in enumerate(self.agents):
            if a.is_fund and s.alive[i]:
                mark[i] = s.other_assets[i] * (price - 1.0)
        for k, c in enumerate(self.contracts):
            if c.kind != "loan" or not s.c_alive[k] or not self._live_agent(s, c.payee):
                continue
            if not self.agents[c.payee].is_fund:
                continue
            widen = max(s.spread[c.payer] - s.spread_ref[c.payer], 0.0) if c.payer < n else 0.0
            value = max(price - fd["spread_duration"] * widen, fd["price_floor"])
            mark[c.payee] += s.outstanding[k] * (value - 1.0)
        for i in range(n):
            old = s.fv_mark[i] if s.alive[i] else 0.0
            s.equity[i] += mark[i] - old
            s.fv_mark[i] = mark[i]

    def _fund_runs(self, s: RefState, scratch: dict, ev: Events) -> None:
        """The loan market heals; LP requests (base + sensitivity x (last loss + w_d x listed peers'
        discount + w_g x share of other funds' NAV gated)) join each fund's queue; at a quarterly
        tender the fund pays up to min(tender cap, gate x months) x NAV from cash and loan sales at
        price x (1 - haircut), and is gated if more than the tolerance stays queued; lines brought
        under their NAV trigger and the leverage cap (the BDC limit or the regime's) by selling
        loans and repaying them; the month's sales move the loan market; marks at the new price.
        Net subscriptions (non-AI cash flow beyond the book's yield) are flows, not returns."""
        h0, rg, fd, n = self.mk["loan_sale_haircut"], self.rg, self.fd, self.n
        if s.month == 0:
            s.spread_ref = list(s.spread)
        for i, a in enumerate(self.agents):
            if a.is_fund and s.alive[i]:
                subs = max(a.p["non_ai_cash_flow"] - fd["book_yield"] / 12.0 * s.other_assets[i], 0.0)
                scratch["funding_flows"][i] += subs
        q = 1.0 - (1.0 - s.loan_q) * (1.0 - fd["recovery"])
        s.loan_q = q
        price = self._fund_price(s)
        h = 1.0 - price * (1.0 - h0)
        discount = min(fd["discount_per_spread"] * max(s.market_spread, 0.0), fd["discount_max"])
        funds = [i for i, a in enumerate(self.agents) if a.is_fund and s.alive[i]]
        nav = {i: max(s.equity[i], 0.0) for i in funds}
        tender = (s.month + 1) % fd["tender_months"] == 0
        sold_total = 0.0
        gated_before = list(s.gated)
        for i in range(n):
            if i not in nav:
                s.redeem_queue[i] = 0.0
                s.gated[i] = False
                continue
            others = sum(nav[j] for j in funds if j != i)
            peers = sum(nav[j] for j in funds if j != i and gated_before[j]) / others if others > 0 else 0.0
            p = self.agents[i].p
            rate = p["redemption_base"] + p["redemption_sensitivity"] * (
                max(-s.last_return[i], 0.0) + fd["discount_weight"] * discount + fd["gate_weight"] * peers)
            s.redeem_queue[i] += max(rate, 0.0) * nav[i]
            due = 0.0
            if tender:
                cap = min(fd["tender_cap"], rg["gate"] * fd["tender_months"]) * nav[i]
                due = min(s.redeem_queue[i], cap)
                s.gated[i] = s.redeem_queue[i] - due > fd["gate_tolerance"] * nav[i]
                if s.gated[i]:
                    s.gate_events += 1.0
            short = max(due - s.cash[i], 0.0)
            sold = min(short / (1.0 - h), s.other_assets[i])
            paid = min(due, s.cash[i] + sold * (1.0 - h))
            s.cash[i] += sold * (1.0 - h) - paid
            s.other_assets[i] -= sold
            s.equity[i] -= sold * h + paid
            s.ext_cash += paid - sold * (1.0 - h)
            s.redemptions += paid
            s.forced_sales += sold
            s.redeem_queue[i] -= paid
            sold_total += sold
            scratch["funding_flows"][i] -= paid
            if paid > 0:
                ev.redemptions.append((i, paid))
        caps = [c for c in (rg["fund_cap"], fd["bdc_leverage_cap"]) if c > 0]
        cap_lev = min(caps) if caps else 0.0
        assets = self.balance_sheet(s)["assets"]
        for i, a in enumerate(self.agents):
            if not (a.is_fund and s.alive[i]):
                continue
            lines = [k for k, c in enumerate(self.contracts) if c.nav_line and s.c_alive[k] and c.payer == i]
            debt = sum(s.outstanding[k] for k in lines)
            if debt <= 0:
                continue
            trigger = sum(s.outstanding[k] * self.contracts[k].ltv_max for k in lines) / debt
            nav_i = max(s.equity[i], 0.0)
            # selling x and repaying lines: (D - x(1-h)) / (A - x) <= L, and (D - x(1-h)) / NAV <= cap
            need = 0.0
            if debt > trigger * assets[i]:
                need = (debt - trigger * assets[i]) / ((1.0 - h) - trigger) if (1.0 - h) - trigger > 0 else INF
            if cap_lev > 0 and debt > cap_lev * nav_i:
                need = max(need, (debt - cap_lev * nav_i) / (1.0 - h))
            x = min(need, s.other_assets[i])
            if need > s.other_assets[i] * (1.0 + 1e-12) + 1e-12:
                scratch["breach"][i] = True
                ev.nav_breaches.append(i)
            if x <= 0:
                continue
            repay = min(x * (1.0 - h), debt)
            s.cash[i] += x * (1.0 - h) - repay
            s.other_assets[i] -= x
            s.equity[i] -= x * h
            s.ext_cash -= x * (1.0 - h)
            s.forced_sales += x
            sold_total += x
            ev.nav_sales.append((i, x))
            for k in lines:
                part = s.outstanding[k] * (repay / debt)
                s.outstanding[k] -= part
                if self._live_agent(s, self.contracts[k].payee):
                    s.cash[self.contracts[k].payee] += part
                else:
                    s.ext_cash += part
        s.loan_q = q * math.exp(-sold_total / fd["depth"])
        self._fund_marks(s)

    def _settlement(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Refinancing decisions; refused bullets refinanced by the facilities' lenders; contract
        dues and operating costs paid in one equal-priority settlement (each agent pays the same
        share of everything it owes: the greatest clearing vector, or the monotone lower iteration
        with clearing off); maturities; margin calls on secured loans."""
        n, C = self.n, len(self.contracts)
        capacity_rolls = self.ch["graded_refinancing"]
        b_ok, l_ok = self.borrower_tests(s, leverage=not capacity_rolls), self.lender_tests(s)
        graded = self.ch["credit_pricing"]
        if capacity_rolls:  # each borrower may roll max(L x A - (D - maturing bullets), 0)
            debt, assets = self.leverage_view(s, self.balance_sheet(s))
            cap = [self.agents[i].p["max_leverage"] * assets[i] - debt[i] for i in range(n)]
            for k, c in enumerate(self.contracts):
                if (c.kind == "loan" and c.amort == "bullet" and c.payer < n and self._active(s, k)
                        and s.maturity[k] == 1):
                    cap[c.payer] += s.outstanding[k]
            cap = [max(x, 0.0) for x in cap]
        dd = [self._distance_to_default(s, i) for i in range(n)] if graded else []
        # rating_triggers: SPVs with a live lease from a fallen angel
        tenant_fallen = [False] * n
        for k, c in enumerate(self.contracts):
            if (c.kind == "lease" and s.c_alive[k] and c.payer < n and c.payee < n and s.alive[c.payer]
                    and s.rating_fall[c.payer] >= 0 and self.agents[c.payee].sector == "spv"):
                tenant_fallen[c.payee] = True
        # --- what each contract owes this month
        interest, principal, payment = [0.0] * C, [0.0] * C, [0.0] * C
        refinanced = [False] * C
        active = [self._active(s, k) for k in range(C)]
        need = [0.0] * n
        delivered = [1.0] * n  # backlog_capex: share of its live offtakes' capacity each seller's book covers
        if self.ch["backlog_capex"]:
            for i, a in enumerate(self.agents):
                cy = a.p["capacity_yield"]
                if not s.alive[i] or cy <= 0:
                    continue
                sold = sum(self._pay(s, c) for k, c in enumerate(self.contracts)
                           if c.kind == "offtake" and c.payee == i and active[k]) / cy
                if sold > 0:
                    delivered[i] = min(s.gpu[i] / sold, 1.0)
        for k, c in enumerate(self.contracts):
            if not active[k]:
                continue
            out = s.outstanding[k]
            last = s.maturity[k] == 1
            if c.kind == "loan":
                interest[k] = out * s.rate[k] / 12.0
                if c.amort == "bullet" and last:
                    borrower_passes = c.payer >= n or b_ok[c.payer]
                    lender_passes = c.payee >= n or (l_ok[c.payee] and s.alive[c.payee])
                    if c.refinance and borrower_passes and lender_passes:
                        refinanced[k] = True
                        ev.refinanced.append(k)
                        if graded:  # the incumbent rolls a share; the rest is due
                            roll = self._roll_share(dd[c.payer]) if c.payer < n else 1.0
                            principal[k] = (1.0 - roll) * out
                        if self.ch["rating_triggers"] and c.payer < n and tenant_fallen[c.payer]:
                            # an SPV whose tenant fell below investment grade: the rating-conditional
                            # share of what would have been rolled falls due
                            principal[k] = out - (out - principal[k]) * (1.0 - self.rt["share"])
                        if principal[k] > 0 and c.payer < n and b_ok[c.payer]:
                            need[c.payer] += principal[k]
                    else:
                        principal[k] = out
                        if c.refinance:
                            ev.refused.append(k)
                        if out > 0 and c.payer < n and b_ok[c.payer]:
                            need[c.payer] += out  # other lenders refinance it, pro rata
                elif c.amort == "linear":
                    principal[k] = out / max(s.maturity[k], 1)
                elif c.amort == "revolving":
                    principal[k] = out / max(c.maturity, 1)
            elif c.kind in ("lease", "offtake"):
                payment[k] = self._pay(s, c)
                if c.kind == "offtake" and self.ch["backlog_capex"]:
                    payment[k] *= delivered[c.payee] if c.payee < n else 1.0
            elif c.kind == "backstop":
                payment[k] = min(c.monthly, scratch["unsold"][c.payee])
                if payment[k] > 0:
                    ev.backstop_draws.append((k, payment[k]))
            elif c.kind == "rvg" and last:
                payment[k] = max(c.amount - s.gpu[c.payee], 0.0)
        if capacity_rolls:  # the incumbents roll at most the capacity, pro rata; the rest is paid down
            rolled = [0.0] * n
            for k, c in enumerate(self.contracts):
                if refinanced[k] and c.payer < n:
                    rolled[c.payer] += s.outstanding[k] - principal[k]
            for k, c in enumerate(self.contracts):
                if refinanced[k] and c.payer < n and rolled[c.payer] > cap[c.payer]:
                    share = cap[c.payer] / rolled[c.payer]
                    principal[k] = s.outstanding[k] - (s.outstanding[k] - principal[k]) * share
                    if share <= 0.0:
                        refinanced[k] = False
                        ev.refinanced.remove(k)
            left = [max(cap[i] - min(rolled[i], cap[i]), 0.0) for i in range(n)]
            need = [min(need[i], left[i]) for i in range(n)]
        if any(x > 0 for x in need):
            amounts, borrowed, lent = self._lend(s, need, l_ok, ev)
            for (k, _, _), amount in zip(self.facilities, amounts, strict=True):
                s.outstanding[k] += amount
            for i in range(n):
                s.cash[i] += borrowed[i] - lent[i]
            s.credit_supply += sum(amounts)
            ev.refinanced_by_others += sum(amounts)
        def contracted_and_costs() -> tuple[list[float], list[float]]:
            """Contracted revenue due to each agent; operating costs: fixed opex + cost share of AI
            and contracted revenue."""
            contracted = [0.0] * n
            for k, c in enumerate(self.contracts):
                if self._live_agent(s, c.payee):
                    contracted[c.payee] += payment[k]
            costs = [0.0] * n
            for i, a in enumerate(self.agents):
                if s.alive[i]:
                    revenue = scratch["ai_revenue"][i] + contracted[i]
                    costs[i] = a.p["opex"] + a.p["cost_share"] * revenue
                    if self.ch["firm_shocks"]:  # the margin shock moves costs by x x revenue, floored at 0
                        costs[i] = max(costs[i] - s.firm_shock[i] * revenue, 0.0)
            return contracted, costs

        contracted, costs = contracted_and_costs()
        if self.ch["renegotiation"]:  # a buyer short this month has its offtakes cut, down to the floor
            owed, on_offtakes = [0.0] * (n + 1), [0.0] * (n + 1)
            for k, c in enumerate(self.contracts):
                if active[k]:
                    owed[c.payer] += interest[k] + principal[k] + payment[k]
                    if c.kind == "offtake":
                        on_offtakes[c.payer] += payment[k]
            for i in range(n):
                short = owed[i] + costs[i] - (s.cash[i] + s.securities[i] + contracted[i])
                if s.alive[i] and short > 0 and on_offtakes[i] > 0:
                    old = s.offtake_scale[i]
                    s.offtake_scale[i] = max(old * (1.0 - short / on_offtakes[i]), self.reneg_floor)
                    ev.renegotiations.append((i, s.offtake_scale[i]))
                    for k, c in enumerate(self.contracts):
                        if c.kind == "offtake" and c.payer == i:
                            payment[k] *= s.offtake_scale[i] / old
            contracted, costs = contracted_and_costs()
        due_c = [interest[k] + principal[k] + payment[k] for k in range(C)]
        # --- payment ratios: a dead payer's obligations are the external sector's, paid in full
        owed = [0.0] * n
        for k, c in enumerate(self.contracts):
            if self._live_agent(s, c.payer):
                owed[c.payer] += due_c[k]
        due = [owed[i] + costs[i] if s.alive[i] else 0.0 for i in range(n)]
        liquid = [s.cash[i] + s.securities[i] for i in range(n)]
        outside = list(liquid)  # what each agent holds outside the network, for clearing
        if self.ch["clearing"]:
            ratio = self._clearing_ratios(s, due_c, costs, outside, ev)
        else:
            ratio = self._monotone_ratios(s, due_c, due, liquid, ev)
        # --- pay
        paid_out, paid_in, net_in = [0.0] * n, [0.0] * n, [0.0] * n
        income_out, income_in = [0.0] * n, [0.0] * n
        ext_out = ext_in = 0.0
        for k, c in enumerate(self.contracts):
            payer_live = self._live_agent(s, c.payer)
            r = ratio[c.payer] if payer_live else 1.0
            paid = due_c[k] * r
            principal_paid = principal[k] * r
            income = paid - principal_paid  # interest and payments move equity; principal does not
            if payer_live:
                paid_out[c.payer] += paid
                income_out[c.payer] += income
            else:
                ext_out += paid
            if self._live_agent(s, c.payee):
                paid_in[c.payee] += paid
                income_in[c.payee] += income
                if payer_live and c.payer != c.payee:
                    net_in[c.payee] += paid
            else:
                ext_in += paid
            s.outstanding[k] -= principal_paid
        sold_total = costs_total = dc_total = 0.0
        cost_of_default = self.ch["clearing"] and (self.alpha < 1.0 or self.beta < 1.0)
        illiquid = [False] * n
        for i in range(n):
            costs_paid = costs[i] * ratio[i]
            outflow = paid_out[i] + costs_paid
            sold = min(s.securities[i], max(outflow - s.cash[i] - paid_in[i], 0.0))
            s.cash[i] = s.cash[i] + sold + paid_in[i] - outflow
            s.securities[i] -= sold
            illiquid[i] = s.alive[i] and ratio[i] < 1.0 - ILLIQUIDITY_TOL
            dc = 0.0
            if cost_of_default and illiquid[i]:
                # Rogers-Veraart: a defaulter passes on alpha of its outside assets and beta of
                # what it receives from the network; the rest of what it had is lost to default
                kept = (1.0 - self.alpha) * outside[i] + (1.0 - self.beta) * net_in[i]
                dc = max(min(kept, s.cash[i] + s.securities[i]), 0.0)
                from_sec = max(dc - s.cash[i], 0.0)
                s.cash[i] -= dc - from_sec
                s.securities[i] -= from_sec
                sold += from_sec
            s.equity[i] += income_in[i] - income_out[i] - costs_paid - dc
            sold_total += sold
            costs_total += costs_paid
            dc_total += dc
        s.ext_cash -= sold_total + ext_out - ext_in - costs_total - dc_total
        s.default_costs += dc_total
        ev.default_costs += dc_total
        # --- maturities: count down active contracts; refinanced bullets run on
        for k, c in enumerate(self.contracts):
            if refinanced[k]:
                s.maturity[k] = self.refinance_term
            elif active[k] and c.amort != "revolving":
                s.maturity[k] -= 1
            if s.maturity[k] <= 0 and (c.kind not in ("loan", "equity") or s.outstanding[k] == 0.0):
                s.c_alive[k] = False
        if self.ch["capex_commitments"]:  # an ordered delivery it could not pay is a payment default
            illiquid = [illiquid[i] or (s.alive[i] and scratch["unpaid_orders"][i] > 1e-12) for i in range(n)]
        if self.ch["covenants"]:
            self._margin_calls(s, illiquid, scratch, ev)
        if graded:  # the rolled share is repriced at the borrower's spread now
            for k, c in enumerate(self.contracts):
                if refinanced[k]:
                    own = s.spread[c.payer] if c.payer < n else 0.0
                    s.margin[k] = 0.0 if c.floating else (s.base_rate + s.market_spread) + own
                    if self.ch["capital_pricing"]:  # plus the bank's capital charge
                        s.margin[k] += self._capital_charge(s, k)
        scratch["illiquid"] = illiquid

    def _monotone_ratios(self, s: RefState, due_c: list[float], due: list[float], liquid: list[float],
                         ev: Events) -> list[float]:
        """Clearing off: start from what each agent can pay from its own cash and securities,
        then add receipts from the others at their current ratios, until nothing changes."""
        n = self.n

        def ratio_of(i: int, extra: float) -> float:
            return min((liquid[i] + extra) / due[i], 1.0) if due[i] > 0 else 1.0

        ratio = [ratio_of(i, 0.0) for i in range(n)]
        rounds = 0
        for _ in range(MAX_ROUNDS):
            rounds += 1
            received = [0.0] * n
            for k, c in enumerate(self.contracts):
                if self._live_agent(s, c.payee):
                    r = ratio[c.payer] if self._live_agent(s, c.payer) else 1.0
                    received[c.payee] += due_c[k] * r
            new = [ratio_of(i, received[i]) for i in range(n)]
            if new == ratio:
                break
            ratio = new
        ev.settlement_rounds = rounds
        return ratio

    def _clearing_ratios(self, s: RefState, due_c: list[float], costs: list[float], outside: list[float],
                         ev: Events) -> list[float]:
        """Clearing on: the share each agent pays at the greatest clearing vector of the month's
        obligations between the alive agents, the external sector a creditor that owes nothing;
        what the external sector pays (its own contracts and those it took over) is certain and
        counts as the payee's outside assets. An agent's obligations to itself (a facility where
        it is both borrower and lender) are paid to itself and need no clearing."""
        n = self.n
        live = [i for i in range(n) if s.alive[i]]
        liab: dict[int, dict[Any, float]] = {i: {} for i in live}
        for k, c in enumerate(self.contracts):
            payer_live, payee_live = self._live_agent(s, c.payer), self._live_agent(s, c.payee)
            if payee_live and not payer_live:
                outside[c.payee] += due_c[k]
            elif payer_live and c.payer != c.payee:
                to = c.payee if payee_live else EXTERNAL
                liab[c.payer][to] = liab[c.payer].get(to, 0.0) + due_c[k]
        for i in live:
            liab[i][EXTERNAL] = liab[i].get(EXTERNAL, 0.0) + costs[i]
        p, default, solves = greatest_clearing_vector(liab, {i: outside[i] for i in live}, self.alpha, self.beta)
        ev.clearing_solves += solves
        ev.clearing_defaults.extend(sorted(default))
        ratio = [1.0] * n
        for i in live:
            pbar = sum(liab[i].values())
            if i in default and pbar > 0:
                ratio[i] = min(p[i] / pbar, 1.0)
        return ratio

    def _margin_calls(self, s: RefState, illiquid: list[bool], scratch: dict, ev: Events) -> None:
        """Secured loans whose borrower's secured debt exceeds the loan's LTV limit x its GPU
        collateral value: the borrower repays cure_share of the excess on each, from cash and
        securities, or breaches (and defaults in resolution)."""
        n = self.n
        value = [s.gpu[i] * self.value_factor(s, i) for i in range(n)]
        secured = [k for k, c in enumerate(self.contracts) if c.kind == "loan" and c.secured and s.c_alive[k]]
        debt = [0.0] * n
        for k in secured:
            if self.contracts[k].payer < n:
                debt[self.contracts[k].payer] += s.outstanding[k]
        calls: dict[int, float] = {}
        call = [0.0] * n
        for k in secured:
            c = self.contracts[k]
            i = c.payer
            if i >= n or not s.alive[i] or illiquid[i] or not debt[i] > c.ltv_max * value[i]:
                continue
            calls[k] = self.cure_share * s.outstanding[k] * (1.0 - c.ltv_max * value[i] / debt[i])
            call[i] += calls[k]
        # all calls fall due together: each borrower meets its own from the cash and securities it
        # holds before anyone's repayments arrive
        met = [call[i] > 0 and s.cash[i] + s.securities[i] >= call[i] for i in range(n)]
        received = [0.0] * n
        for i in range(n):
            if call[i] <= 0:
                continue
            ev.margin_calls.append((i, call[i], met[i]))
            if not met[i]:
                scratch["breach"][i] = True
                continue
            sold = min(s.securities[i], max(call[i] - s.cash[i], 0.0))
            s.cash[i] += sold - call[i]
            s.securities[i] -= sold
            s.ext_cash -= sold
            for k, amount in calls.items():
                c = self.contracts[k]
                if c.payer != i:
                    continue
                s.outstanding[k] -= amount
                if self._live_agent(s, c.payee):
                    received[c.payee] += amount
                else:
                    s.ext_cash += amount
        for i in range(n):
            s.cash[i] += received[i]

    def _resolution(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Rounds of defaults: the illiquid and those in breach (first round only) and the
        insolvent are wound up together, until a round finds no new default."""
        n = self.n
        illiquid, breach = list(scratch["illiquid"]), list(scratch["breach"])
        month_new = [False] * n
        for _ in range(n + 1):
            assets = self.balance_sheet(s)["assets"]
            insolvent = [s.alive[i] and s.equity[i] < -SOLVENCY_TOL * max(assets[i], 1.0) for i in range(n)]
            new = [s.alive[i] and (illiquid[i] or breach[i] or insolvent[i]) for i in range(n)]
            if not any(new):
                break
            cause = [ILLIQUIDITY if illiquid[i] else COVENANT if breach[i] else INSOLVENCY if insolvent[i]
                     else NO_DEFAULT for i in range(n)]
            self._wind_up(s, new, cause, ev)
            ev.resolution_rounds += 1
            month_new = [month_new[i] or new[i] for i in range(n)]
            illiquid, breach = [False] * n, [False] * n
        scratch["new_defaults"] = month_new

    def _gpu_sale(self, s: RefState, new: list[bool], ev: Events) -> list[float]:
        """USD recovered per USD of GPU book of each agent, and the market's move: the estates'
        GPUs sell at recovery_gpu x their collateral value at the average impacted price."""
        n = self.n
        f = self._rate_factor(s)
        life = [min(self.valuation_life / a.p["gpu_life_months"], 1.0) * (1.0 - self.rg["haircut_floor"]) * f
                for a in self.agents]
        q = s.q
        if not self.ch["fire_sales"]:
            return [self.recovery_gpu * s.price * s.gpu_vintage[i] * q * life[i] for i in range(n)]
        sold = sum(s.gpu[i] for i in range(n) if new[i])
        x = sold / self.depth
        if self.impact == "exponential":
            q_after = q * math.exp(-x)
            avg = q * ((1.0 - math.exp(-x)) / x if x > 1e-12 else 1.0 - 0.5 * x)
        else:
            q_after = q * max(1.0 - x, 0.0)
            avg = q * (0.5 / x if x > 1.0 else 1.0 - 0.5 * x)
        s.fire_sale_loss += sum(s.gpu[i] * self.recovery_gpu * s.price * s.gpu_vintage[i] * life[i] * (q - avg)
                                for i in range(n) if new[i])
        s.q = q_after
        if sold > 0:
            ev.fire_sales.append((sold, q, q_after))
        return [self.recovery_gpu * s.price * s.gpu_vintage[i] * avg * life[i] for i in range(n)]

    def _wind_up(self, s: RefState, new: list[bool], cause: list[int], ev: Events) -> None:
        """Liquidate the agents in ``new`` together: one round of resolution."""
        n = self.n
        is_new = [new[i] if i < n else False for i in range(n + 1)]  # the external never defaults
        after = [s.alive[i] and not new[i] for i in range(n)]
        unit = self._gpu_sale(s, new, ev)
        # 1. the external sector buys the estates' assets: GPUs at their (impacted) market value,
        # securities at par, other assets at recovery_other, loans and stakes held at face / mark
        held = [0.0] * n
        for k, c in enumerate(self.contracts):
            if s.c_alive[k] and c.kind in ("loan", "equity") and is_new[c.payee]:
                held[c.payee] += s.outstanding[k]
        gpu_proceeds, other_proceeds = [0.0] * n, [0.0] * n
        for i in range(n):
            if new[i]:
                gpu_proceeds[i] = s.gpu[i] * unit[i]
                other_proceeds[i] = s.securities[i] + self.recovery_other * s.other_assets[i] + held[i]
        # 2. secured lenders first from the GPU proceeds, pro rata; then everyone else pro rata
        debt, secured = [0.0] * n, [0.0] * n
        for k, c in enumerate(self.contracts):
            if s.c_alive[k] and c.kind == "loan" and is_new[c.payer]:
                debt[c.payer] += s.outstanding[k]
                if c.secured:
                    secured[c.payer] += s.outstanding[k]
        # lease claims: each lease of a defaulting lessee that ends (is not taken over) gives its
        # lessor an unsecured claim for min(T, min(max(12, 15% T), 36)) months of rent
        lease_claim = [0.0] * len(self.contracts)
        rejected = [False] * len(self.contracts)
        claims = [0.0] * n
        if self.ch["lease_claims"]:
            for k, c in enumerate(self.contracts):
                if c.kind != "lease" or not s.c_alive[k] or not is_new[c.payer]:
                    continue
                taken_over = not self.ch["contract_contagion"] and not is_new[c.payee]
                if taken_over:
                    continue
                t = float(max(s.maturity[k], 0))
                months = min(t, min(max(self.lease_cap["floor_months"], self.lease_cap["term_share"] * t),
                                    self.lease_cap["cap_months"]))
                lease_claim[k] = c.monthly * months
                rejected[k] = True
                claims[c.payer] += lease_claim[k]
        r_s, rec, surplus, other = [1.0] * n, [1.0] * n, [0.0] * n, [0.0] * n
        for i in range(n):
            if not new[i]:
                continue
            if secured[i] > 0:
                r_s[i] = min(gpu_proceeds[i] / secured[i], 1.0)
                ev.secured_recovery.append((i, r_s[i]))
            pool = s.cash[i] + other_proceeds[i] + gpu_proceeds[i] - r_s[i] * secured[i]
            other[i] = s.other_liab[i]
            unsecured = (debt[i] - secured[i]) + (1.0 - r_s[i]) * secured[i] + other[i] + claims[i]
            rec[i] = min(pool / unsecured, 1.0) if unsecured > 0 else 1.0
            surplus[i] = max(pool - unsecured, 0.0)
            ev.defaults.append((i, cause[i]))
            ev.recovery.append((i, rec[i]))
        # 3. creditors recover their share of each loan; stake holders share any surplus, their
        # stakes written off; what goes to a defaulted (or now defaulting) party is the external's
        cash_in, stake_in, loss_in = [0.0] * n, [0.0] * n, [0.0] * n
        lease_in = [0.0] * n  # lease claims recovered (a gain: the rent was never on the books)
        rec_ext = loss_ext = surplus_ext = stake_ext = lease_ext = 0.0
        shares, recovered_by = [0.0] * n, [0.0] * n
        for k, c in enumerate(self.contracts):
            if not s.c_alive[k] or not is_new[c.payer]:
                continue
            to_agent = c.payee < n and after[c.payee]
            if c.kind == "loan":
                i, owed = c.payer, s.outstanding[k]
                recovered = owed * (r_s[i] + (1.0 - r_s[i]) * rec[i]) if c.secured else owed * rec[i]
                recovered_by[i] += recovered
                if c.nav_line or c.asset_line:  # what a line's lender loses on a fund's default
                    s.line_loss += owed - recovered
                if to_agent:
                    cash_in[c.payee] += recovered
                    loss_in[c.payee] += owed - recovered
                else:
                    rec_ext += recovered
                    loss_ext += owed - recovered
            elif c.kind == "lease" and rejected[k]:
                got = lease_claim[k] * rec[c.payer]
                lost = c.monthly * float(max(s.maturity[k], 0)) - got
                if to_agent:
                    cash_in[c.payee] += got
                    lease_in[c.payee] += got
                    s.lease_loss[c.payee] += lost
                else:
                    lease_ext += got
                    s.lease_loss[n] += lost
            elif c.kind == "equity":
                shares[c.payer] += c.share
                part = surplus[c.payer] * c.share
                if to_agent:
                    cash_in[c.payee] += part
                    stake_in[c.payee] += part - s.outstanding[k]
                else:
                    surplus_ext += part
                    stake_ext += part - s.outstanding[k]
        ext_received = rec_ext + surplus_ext + lease_ext
        ext_paid = other_lost = 0.0
        for i in range(n):
            if new[i]:
                ext_received += other[i] * rec[i] + surplus[i] * (1.0 - min(shares[i], 1.0))
                other_lost += other[i] * (1.0 - rec[i])
                ext_paid += gpu_proceeds[i] + other_proceeds[i]
                s.loss_caused[i] += debt[i] - recovered_by[i] + other[i] * (1.0 - rec[i])
        s.stake_loss += -sum(min(x, 0.0) for x in stake_in) - min(stake_ext, 0.0)
        # 4. contracts of the defaulted end, except loans they held (the external's now) and,
        # without contract contagion, the obligations a replacement counterparty takes over
        for k, c in enumerate(self.contracts):
            if not (is_new[c.payer] or is_new[c.payee]):
                continue
            keep = c.kind == "loan" and s.c_alive[k] and is_new[c.payee] and not is_new[c.payer]
            if not self.ch["contract_contagion"] and c.kind in REPLACEABLE and s.c_alive[k]:
                keep = keep or (is_new[c.payer] and not is_new[c.payee])
            if not keep:
                s.outstanding[k] = 0.0
                s.c_alive[k] = False
        # 5. books: creditors and holders; the defaulted emptied
        for i in range(n):
            s.credit_loss[i] += loss_in[i]
            if new[i]:
                s.cash[i] = s.securities[i] = s.gpu[i] = 0.0
                s.other_assets[i] = s.other_liab[i] = s.equity[i] = 0.0
                s.alive[i] = False
                s.default_month[i] = s.month
                s.default_cause[i] = cause[i]
            else:
                s.cash[i] += cash_in[i]
                s.equity[i] += stake_in[i] - loss_in[i] + lease_in[i]
        s.credit_loss[n] += loss_ext + other_lost
        s.ext_cash += ext_received - ext_paid

    def _asset_facilities(self, s: RefState, before: RefState, ev: Events) -> None:
        """Asset facilities, fund by fund, after the month's defaults: the pool (book value of the
        alive loans an alive fund holds from agents), the facility it owes, the recoveries its
        defaulted pool loans paid (their principal before resolution less the losses booked on
        them); the recoveries repay the facility first; the bank writes off what the facility
        exceeds of the pool left (the fund's liability falls by as much); then against the base
        advance_rate x pool the fund cures a deficiency from cash above its buffer or draws up to
        it, split evenly over its facilities whose bank passes the lender tests, each bank lending
        at most its cash above its buffer (pro rata). Sweep, write-off and cure are split over a
        fund's facilities pro rata to their outstanding; what a dead bank is owed is the external's."""
        n = self.n
        lines_of: dict[int, list[int]] = {}
        for k, c in enumerate(self.contracts):
            if c.asset_line and s.c_alive[k] and c.payer < n and s.alive[c.payer]:
                lines_of.setdefault(c.payer, []).append(k)
        funds = [i for i, a in enumerate(self.agents) if a.is_fund and s.alive[i]]
        pool, recovered = {}, {}
        for f in funds:
            pool[f] = sum(s.outstanding[k] for k, c in enumerate(self.contracts)
                          if c.kind == "loan" and c.payee == f and c.payer < n and s.c_alive[k])
            face = sum(before.outstanding[k] for k, c in enumerate(self.contracts)
                       if c.kind == "loan" and c.payee == f and c.payer < n and before.c_alive[k] and not s.c_alive[k])
            recovered[f] = max(face - (s.credit_loss[f] - before.credit_loss[f]), 0.0)

        def pay(k: int, amount: float) -> None:  # the fund repays ``amount`` of facility k
            c = self.contracts[k]
            s.outstanding[k] -= amount
            s.cash[c.payer] -= amount
            if self._live_agent(s, c.payee):
                s.cash[c.payee] += amount
            else:
                s.ext_cash -= amount

        def pro_rata(f: int, amount: float) -> list[tuple[int, float]]:
            ks = lines_of.get(f, [])
            total = sum(s.outstanding[k] for k in ks)
            return [(k, s.outstanding[k] * (amount / total) if total > 0 else 0.0) for k in ks]

        wants = {}
        for f in funds:
            facility = sum(s.outstanding[k] for k in lines_of.get(f, []))
            sweep = min(recovered[f], facility)
            for k, x in pro_rata(f, sweep):
                pay(k, x)
            write_off = max(facility - sweep - pool[f], 0.0)
            for k, x in pro_rata(f, write_off):
                c = self.contracts[k]
                s.outstanding[k] -= x
                if self._live_agent(s, c.payee):
                    s.equity[c.payee] -= x
                    s.credit_loss[c.payee] += x
                else:
                    s.credit_loss[n] += x
            s.equity[f] += write_off
            s.loss_caused[f] += write_off
            for what, x in ((ev.facility_sweeps, sweep), (ev.facility_write_offs, write_off)):
                if x > 0:
                    what.append((f, x))
            s.line_loss += write_off
            s.facility_loss += write_off
            left = facility - sweep - write_off
            base = self.advance_rate * pool[f]
            buffer = self.agents[f].p["cash_buffer"]
            cure = min(max(left - base, 0.0), max(s.cash[f] - buffer, 0.0))  # s.cash: after the sweep
            for k, x in pro_rata(f, cure):
                pay(k, x)
            if cure > 0:
                ev.facility_cures.append((f, cure))
            wants[f] = max(base - left, 0.0)
        ok = self.lender_tests(s)
        asked: dict[int, list[tuple[int, float]]] = {}  # bank -> (facility, amount asked)
        for f in funds:
            healthy = [k for k in lines_of.get(f, []) if self._live_agent(s, self.contracts[k].payee)
                       and ok[self.contracts[k].payee]]
            for k in healthy:
                asked.setdefault(self.contracts[k].payee, []).append((k, wants[f] / len(healthy)))
        spare = {b: max(s.cash[b] - self.agents[b].p["cash_buffer"], 0.0) for b in asked}
        for b, rows in asked.items():
            total = sum(x for _, x in rows)
            scale = min(spare[b] / total, 1.0) if total > 0 else 0.0
            for k, x in rows:
                drawn = x * scale
                if drawn > 0:
                    ev.facility_draws.append((k, drawn))
                s.outstanding[k] += drawn
                s.cash[self.contracts[k].payer] += drawn
                s.cash[b] -= drawn

    def _bank_book(self, s: RefState, scratch: dict) -> None:
        """Bank capital channel, bank by bank: the non-AI book grows at book_growth/12 (deposit
        funded); net income is grossed up to before payouts; losses beyond normal at
        min(base_loss x max((s_ref/s)^k - 1, 0) + rate_loss x max(r - r_ref, 0), cap)/12 of the
        grown book; then payout_ratio x positive earnings x the conservation buffer's share
        (1 above the requirement, 0.6 / 0.4 / 0.2 / 0 by quarter of the buffer below it)."""
        bk = self.bk
        sent = max(s.sentiment, 1e-3)
        load = max((bk["reference_sentiment"] / sent) ** bk["sentiment_elasticity"] - 1.0, 0.0)
        excess = min(bk["base_loss"] * load + bk["rate_loss"] * max(s.base_rate - bk["reference_rate"], 0.0),
                     bk["loss_cap"])
        for i, a in enumerate(self.agents):
            if not (a.is_bank and s.alive[i]):
                continue
            growth = s.other_assets[i] * (bk["book_growth"] / 12.0)
            s.other_assets[i] += growth
            s.other_liab[i] += growth
            income = a.p["non_ai_cash_flow"] * (bk["payout_ratio"] / (1.0 - bk["payout_ratio"]))
            s.cash[i] += income
            s.equity[i] += income
            s.ext_cash -= income
            loss = max(s.other_assets[i], 0.0) * (excess / 12.0)
            s.other_assets[i] -= loss
            s.equity[i] -= loss
            s.bank_nonai_loss += loss
        req = self.requirement(s)
        cap, _ = self.ratios(s)
        width = max(req - bk["minimum"], 1e-12)
        for i, a in enumerate(self.agents):
            if not (a.is_bank and s.alive[i]):
                continue
            left = cap[i] - bk["minimum"]
            if left >= width:
                share = 1.0
            elif left > 0.75 * width:
                share = 0.6
            elif left > 0.5 * width:
                share = 0.4
            elif left > 0.25 * width:
                share = 0.2
            else:
                share = 0.0
            earnings = s.equity[i] - scratch["equity_start"][i] - scratch["funding_flows"][i]
            paid = min(bk["payout_ratio"] * max(earnings, 0.0) * share, max(s.cash[i], 0.0))
            s.cash[i] -= paid
            s.equity[i] -= paid
            s.ext_cash += paid
            s.bank_payouts += paid
            scratch["funding_flows"][i] -= paid

    def _regulation(self, s: RefState, ev: Events) -> None:
        """Banks' capital and leverage ratios; with bank regulation on, a bank below its
        requirement sells speed x (RWA - equity / requirement) / w_other of its other assets at the
        loan-sale haircut, and its ratios are measured again."""
        s.capital_ratio, s.leverage_ratio = self.ratios(s)
        if not self.ch["bank_regulation"]:
            self._build_buffer(s)
            return
        req = self.requirement(s)
        rwa = self.rwa(s)
        h = self.mk["loan_sale_haircut"]
        for i, a in enumerate(self.agents):
            if not (a.is_bank and s.alive[i]):
                continue
            if s.capital_ratio[i] < req:
                ev.banks_below.append(i)
            gap = max(rwa[i] - max(s.equity[i], 0.0) / max(req, 1e-12), 0.0)
            sell = min(self.rg["speed"] * gap / max(self.rg["w_other"], 1e-12), s.other_assets[i])
            if sell > 0:
                s.cash[i] += sell * (1.0 - h)
                s.other_assets[i] -= sell
                s.equity[i] -= sell * h
                s.ext_cash -= sell * (1.0 - h)
                s.forced_sales += sell
                ev.deleveraging.append((i, sell))
        s.capital_ratio, s.leverage_ratio = self.ratios(s)
        self._build_buffer(s)

    def _feedback(self, s: RefState, scratch: dict, path: int) -> None:
        """Stakes marked to share x max(investee equity, 0), all at once (contract contagion on);
        the market spread and sentiment respond to the month's loss rate and AI defaults (market
        feedback on); each agent's return for next month's redemptions."""
        if self.ch["contract_contagion"]:
            equity = list(s.equity)
            for k, c in enumerate(self.contracts):
                if c.kind != "equity" or not s.c_alive[k]:
                    continue
                mark = c.share * max(equity[c.payer], 0.0)
                if self._live_agent(s, c.payee):
                    s.equity[c.payee] += mark - s.outstanding[k]
                s.outstanding[k] = mark
        if self.ch["fund_runs"]:
            self._fund_marks(s)
        if self.ch["market_feedback"]:
            mk = self.mk
            losses = sum(s.credit_loss) - scratch["loss_start"]
            loans = scratch["loans_start"]
            rate = losses / loans if loans > 0 else losses
            ai_new = sum(1 for i, a in enumerate(self.agents) if scratch["new_defaults"][i] and a.sector in AI)
            s.market_spread = (1.0 - mk["recovery"]) * s.market_spread + mk["spread_per_loss"] * rate
            m = s.sentiment + mk["recovery"] * (self.sc["sentiment"] - s.sentiment)
            s.sentiment = max(m - mk["sentiment_per_loss"] * rate - mk["sentiment_per_default"] * ai_new, 0.0)
        if self.ch["equity_pricing"]:
            self._revalue(s, scratch, path)
        start = scratch["equity_start"]
        for i in range(self.n):
            ok = s.alive[i] and start[i] > 0
            s.last_return[i] = (s.equity[i] - start[i] - scratch["funding_flows"][i]) / start[i] if ok else 0.0


# ---------------------------------------------------------------------- comparison helpers
def compare(ref: RefState, model_state: Any, path: int, rel: float = 1e-9) -> list[str]:
    """Fields where the reference and a model's row differ beyond ``rel`` x max(1, |x|).

    Returns human-readable mismatch descriptions (empty when they agree).
    """
    bad = []
    for f in fields(RefState):
        name = f.name
        mine = getattr(ref, name)
        theirs = getattr(model_state, name)
        if name == "month":
            if int(mine) != int(theirs):
                bad.append(f"month: reference {mine} model {theirs}")
            continue
        row = np.asarray(theirs)[path]
        vals = [row.item()] if row.ndim == 0 else row.tolist()
        mine_l = mine if isinstance(mine, list) else [mine]
        for j, (a, b) in enumerate(zip(mine_l, vals, strict=True)):
            if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, int) and isinstance(b, int):
                ok = a == b
            elif math.isnan(a) or math.isnan(b):
                ok = False
            elif math.isinf(a) or math.isinf(b):
                ok = a == b
            else:
                ok = abs(a - b) <= rel * max(1.0, abs(a), abs(b))
            if not ok:
                bad.append(f"{name}[{j}]: reference {a!r} model {b!r}")
    return bad
