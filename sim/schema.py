"""Structured-config schema: the types, defaults and ranges of every config group.

Hydra composes YAML files onto these dataclasses, so a wrong type or an unknown key fails at
composition with the key named. :func:`validate` then checks the ranges and cross-references
that types cannot express, before any work starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, make_dataclass
from typing import Any

from omegaconf import MISSING

from aisim import channels as channel_registry
from aisim import sectors as sector_registry
from aisim.shards import shard_range

SECTORS = sector_registry.NAMES  # declared once, with their traits, in aisim.sectors
COMPUTE_SECTORS = sector_registry.names_with("compute")
LENDER_SECTORS = sector_registry.names_with("lender")
CONTRACT_KINDS = ("loan", "lease", "offtake", "backstop", "equity", "rvg")
AMORTISATIONS = ("bullet", "linear")
EXTERNAL = "external"


class ConfigError(ValueError):
    """A user mistake in the configuration; the message names the key and what is valid."""


# --------------------------------------------------------------------------- calibration
@dataclass
class EntityConfig:
    """One named agent: its starting balance sheet (USD bn) and behavioural parameters.

    Monthly flows are USD bn per month; rates are annual fractions.
    """

    name: str = MISSING
    sector: str = MISSING
    # starting balance sheet, USD bn
    cash: float = 0.0
    securities: float = 0.0
    gpu: float = 0.0  # book value of GPUs and data-centre equipment
    other_assets: float = 0.0
    other_liabilities: float = 0.0
    # operations, USD bn per month
    revenue: float = 0.0  # AI end-user revenue at demand index 1 (AI labs)
    non_ai_cash_flow: float = 0.0  # net operating cash flow of the non-AI business
    opex: float = 0.0  # fixed operating cost
    cost_share: float = 0.0  # variable cost, share of revenue (COGS, power, compute resale)
    capacity_yield: float = 0.0  # spot revenue per USD bn of GPU book at rental index 1
    utilisation: float = 0.8  # share of uncommitted capacity sold at demand index 1
    gpu_life_months: float = 72.0  # accounting depreciation life
    # investment and financing
    capex: float = 0.0  # planned GPU capex per month at expected demand and price index 1
    price_elasticity: float = 1.0  # capex response to the expected rental price index
    chip_share: float = 0.0  # chipmakers: share of the others' GPU capex received
    cash_buffer: float = 0.0  # cash kept back before borrowing or paying out
    equity_raise: float = 0.0  # most equity raised from outside investors per month
    payout: float = 0.0  # share of cash above 2x the buffer paid out per month
    spread: float = 0.03  # credit spread on new floating borrowing, annual
    max_leverage: float = 0.8  # refinancing test: debt / total assets at most this
    lend_rate: float = 0.0  # lenders: share of spare cash lent to new AI borrowing per month
    # private-credit funds (semi-liquid vehicles): LP redemptions, monthly shares of NAV
    redemption_base: float = 0.0  # redemption requests in a calm month
    redemption_sensitivity: float = 0.0  # extra requests per unit of last month's loss rate
    # notes: every number should be traceable
    sources: dict[str, str] = field(default_factory=dict)
    assumptions: dict[str, str] = field(default_factory=dict)


@dataclass
class ContractConfig:
    """One contract (an edge of the financing web) between two agents or an agent and `external`.

    ``payer`` pays ``payee``: loan borrower -> lender, lease lessee -> lessor, offtake buyer ->
    seller, backstop writer -> beneficiary, equity investee -> holder, rvg guarantor -> SPV.
    """

    name: str = MISSING
    kind: str = MISSING
    payer: str = MISSING
    payee: str = MISSING
    amount: float = 0.0  # loans: outstanding principal; rvg: guaranteed residual value, USD bn
    monthly: float = 0.0  # leases, offtakes: payment per month; backstops: monthly cap, USD bn
    rate: float = 0.0  # loans: fixed annual rate, or the spread when floating
    floating: bool = False  # loans: rate = base rate + `rate`
    maturity: int = 0  # months from start until the contract ends (loans: final maturity)
    amortisation: str = "bullet"  # loans: bullet | linear
    start: int = 0  # month (from the run's start) when payments begin
    share: float = 0.0  # equity stakes: fraction of the investee held
    secured: bool = False  # loans: secured on the borrower's GPUs
    refinance: bool = True  # loans: lender rolls the bullet at maturity if the tests pass
    # loans: loan-to-value covenant. Secured loans: debt / GPU collateral value; lines to
    # private-credit funds: debt / NAV (the back-leverage trigger). 0 = covenants.ltv_max.
    ltv_max: float = 0.0
    source: str = ""
    assumption: str = ""


@dataclass
class LongTailConfig:
    neoclouds: int = 0
    private_credit: int = 0
    banks: int = 0


@dataclass
class CalibrationConfig:
    name: str = MISSING
    description: str = ""
    entities: list[EntityConfig] = field(default_factory=list)
    contracts: list[ContractConfig] = field(default_factory=list)
    long_tail: LongTailConfig = field(default_factory=LongTailConfig)


# --------------------------------------------------------------------------- scenario
@dataclass
class ProcessConfig:
    """A log-normal monthly process: x_t = x_{t-1} * exp(drift_t - vol^2/2 + vol * z_t)."""

    start: float = 1.0
    drift: float = 0.0  # monthly log drift
    vol: float = 0.0  # monthly log volatility
    # piecewise changes of the drift: {month: new monthly drift}, month counted from the start
    drift_changes: dict[int, float] = field(default_factory=dict)


@dataclass
class RateConfig:
    """Base rate, annual: mean-reverting with normal shocks, floored at zero."""

    start: float = 0.04
    mean: float = 0.035
    speed: float = 0.05  # monthly mean reversion
    vol: float = 0.001  # monthly
    jumps: dict[int, float] = field(default_factory=dict)  # {month: level shift}


@dataclass
class LoadingConfig:
    """theta_i,t = theta_i x index_t ^ elasticity for the agents of ``sectors`` and ``agents``."""

    parameter: str = MISSING  # a behavioural parameter of EntityConfig (aisim.scenario.LOADABLE)
    index: str = MISSING  # a name in scenario.indices
    elasticity: float = 1.0
    sectors: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)


@dataclass
class ScenarioConfig:
    name: str = MISSING
    description: str = ""
    demand: ProcessConfig = field(default_factory=lambda: ProcessConfig(drift=0.02, vol=0.04))
    rental_price: ProcessConfig = field(
        default_factory=lambda: ProcessConfig(drift=-0.015, vol=0.04)
    )
    price_demand_beta: float = 0.5  # loading of price shocks on demand shocks
    base_rate: RateConfig = field(default_factory=RateConfig)
    expectation_weight: float = 0.2  # adaptive expectations: weight on the newest observation
    sentiment: float = 1.0  # equity-market sentiment (scales equity raises)
    # {agent name: month}: that agent's offtakes as buyer are not renewed from that month
    offtake_exits: dict[str, int] = field(default_factory=dict)
    # sectors that cannot raise equity from outside investors in months [from, from + months)
    equity_freeze_sectors: list[str] = field(default_factory=list)
    equity_freeze_from: int = 0
    equity_freeze_months: int = 0
    # the scenario's own exogenous indices, {name: process} (aisim.kernels.indices), and the
    # loadings of agents' behavioural parameters on them: a new shock in YAML alone
    indices: dict[str, ProcessConfig] = field(default_factory=dict)
    loadings: list[LoadingConfig] = field(default_factory=list)


# --------------------------------------------------------------------------- regime
@dataclass
class RiskWeights:
    ai_loans: float = 1.0  # bank loans to AI companies (chipmakers, hyperscalers, neoclouds, labs)
    nbfi_loans: float = 1.0  # bank loans to private-credit funds (back-leverage lines)
    spv_loans: float = 1.0  # bank loans to data-centre SPVs
    other_assets: float = 1.0  # the rest of the loan book
    securities: float = 0.0
    equity_stakes: float = 2.5


@dataclass
class RegimeConfig:
    """Regulatory parameters. Bank ratios are shares of RWA or of total exposure."""

    name: str = MISSING
    description: str = ""
    # banks
    capital_requirement: float = 0.105  # CET1 minimum + conservation buffer + G-SIB surcharge
    countercyclical_buffer: float = 0.0  # added to the requirement in calm months
    release_buffer_in_stress: bool = False  # the countercyclical buffer drops to 0 in stress
    risk_weights: RiskWeights = field(default_factory=RiskWeights)
    leverage_requirement: float = 0.03  # Tier 1 / total exposure
    large_exposure_limit: float = 0.25  # exposure to one counterparty / Tier 1
    ai_concentration_limit: float = 0.0  # AI-sector exposure / Tier 1; 0 = no limit
    deleveraging_speed: float = 0.05  # share of the RWA gap a bank sheds a month
    # private-credit funds
    fund_leverage_cap: float = 0.0  # debt / NAV; 0 = no cap
    fund_liquidity_buffer: float = 0.0  # cash kept as a share of NAV
    fund_redemption_gate: float = 1.0  # most of NAV paid out to redeeming LPs a month
    # SPVs: consolidate SPV debt and residual-value guarantees into the sponsor's leverage
    spv_consolidation: bool = False
    # GPU collateral
    gpu_haircut_floor: float = 0.0  # collateral counted at most (1 - floor) of market value
    gpu_valuation_life_months: float = 0.0  # economic life for valuing collateral; 0 = scenario's
    gpu_ltv_cap: float = 0.0  # most new GPU-secured lending per collateral value; 0 = no cap


# --------------------------------------------------------------------------- run
@dataclass
class PathsConfig:
    n: int = 1000
    chunk: Any = "auto"  # int >= 1, or "auto"
    shard: str | None = None  # I/N: only shard I of N of the paths; A:B: only paths A..B-1 (sim/shards.py)


@dataclass
class InvestmentConfig:
    loan_term: int = 60  # months over which new capex loans amortise
    refinance_term: int = 36  # months a refinanced bullet loan runs on
    recovery_gpu: float = 0.75  # share of the GPUs' collateral (market) value recovered in liquidation
    recovery_other: float = 0.7  # share of other assets recovered in liquidation


# The contagion channels' switches and parameter nodes are declared with the channels
# (aisim.channels; parameters in their kernel modules): these are their config nodes.
ChannelsConfig = channel_registry.switches_node()
CHANNEL_PARAM_NODES = dict(channel_registry.param_nodes())
for _node in (ChannelsConfig, *CHANNEL_PARAM_NODES.values()):
    _node.__module__ = __name__  # picklable by reference (sweeps send configs to workers)
    globals()[_node.__name__] = _node
ClearingConfig = CHANNEL_PARAM_NODES["clearing"]
CollateralConfig = CHANNEL_PARAM_NODES["collateral"]
CovenantConfig = CHANNEL_PARAM_NODES["covenants"]
MarketConfig = CHANNEL_PARAM_NODES["market"]


@dataclass
class SystemicConfig:
    """A path has a systemic event if a bank defaults, or if credit losses of banks and
    private-credit funds exceed ``loss_share`` of their combined starting equity."""

    loss_share: float = 0.1


@dataclass
class OutputConfig:
    quantile_paths: int = 10000  # time-series quantiles use the first this-many paths
    progress: bool = True


Config = make_dataclass("Config", [
    ("seed", int, field(default=0)),
    ("paths", PathsConfig, field(default_factory=PathsConfig)),
    ("horizon", int, field(default=36)),
    ("start", str, field(default="2026-01")),
    ("backend", str, field(default="auto")),
    ("report", bool, field(default=False)),  # also write report.html with figures into the run directory
    ("calibration", CalibrationConfig, field(default=MISSING)),
    ("scenario", ScenarioConfig, field(default=MISSING)),
    ("regime", RegimeConfig, field(default=MISSING)),
    ("investment", InvestmentConfig, field(default_factory=InvestmentConfig)),
    ("channels", ChannelsConfig, field(default_factory=ChannelsConfig)),
    # one node per parameter dataclass the channels declare (clearing, collateral, covenants, market)
    *((key, node, field(default_factory=node)) for key, node in CHANNEL_PARAM_NODES.items()),
    ("systemic", SystemicConfig, field(default_factory=SystemicConfig)),
    ("output", OutputConfig, field(default_factory=OutputConfig)),
], module=__name__)
Config.__doc__ = "The whole configuration of a run: the root of the structured-config schema."


# --------------------------------------------------------------------------- validation
_NONNEG_ENTITY = (
    "cash securities gpu other_assets other_liabilities revenue non_ai_cash_flow opex capex "
    "cash_buffer equity_raise capacity_yield chip_share redemption_sensitivity"
).split()
_UNIT_ENTITY = "cost_share utilisation payout lend_rate max_leverage redemption_base".split()


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def validate(cfg: Any) -> None:
    """Check ranges and cross-references; raise :class:`ConfigError` naming the first bad key."""
    _check(cfg.paths.n >= 1, f"paths.n={cfg.paths.n}: the number of paths must be at least 1")
    chunk = cfg.paths.chunk
    if chunk != "auto":
        ok = isinstance(chunk, int) and not isinstance(chunk, bool) and chunk >= 1
        _check(ok, f"paths.chunk={chunk!r}: use a whole number of paths >= 1, or 'auto'")
    try:
        shard_range(getattr(cfg.paths, "shard", None), int(cfg.paths.n))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _check(cfg.horizon >= 1, f"horizon={cfg.horizon}: the horizon must be at least 1 month")
    _check(
        bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(cfg.start))),
        f"start={cfg.start!r}: use a month as YYYY-MM, for example 2026-01",
    )
    _check(
        cfg.backend in ("auto", "numpy", "cupy"),
        f"backend={cfg.backend!r}: use one of auto, numpy, cupy",
    )
    _check(cfg.seed >= 0, f"seed={cfg.seed}: the seed must be a non-negative integer")
    _check(cfg.output.quantile_paths >= 1, "output.quantile_paths must be at least 1")

    cal = cfg.calibration
    names: set[str] = set()
    _check(len(cal.entities) > 0, f"calibration {cal.name!r} has no entities")
    for k, e in enumerate(cal.entities):
        where = f"calibration.entities[{k}] ({e.name})"
        _check(e.name not in names, f"{where}: the name {e.name!r} is used twice")
        _check(e.name != EXTERNAL, f"{where}: {EXTERNAL!r} is reserved for the outside sector")
        names.add(e.name)
        _check(e.sector in SECTORS, f"{where}.sector={e.sector!r}: use one of {', '.join(SECTORS)}")
        for key in _NONNEG_ENTITY:
            _check(getattr(e, key) >= 0, f"{where}.{key}={getattr(e, key)}: must be >= 0")
        for key in _UNIT_ENTITY:
            v = getattr(e, key)
            _check(0.0 <= v <= 1.0, f"{where}.{key}={v}: must be in [0, 1]")
        _check(e.gpu_life_months >= 1, f"{where}.gpu_life_months must be at least 1")
    valid_parties = sorted(names) + [EXTERNAL]
    cnames: set[str] = set()
    for k, c in enumerate(cal.contracts):
        where = f"calibration.contracts[{k}] ({c.name})"
        _check(c.name not in cnames, f"{where}: the contract name {c.name!r} is used twice")
        cnames.add(c.name)
        _check(c.kind in CONTRACT_KINDS, f"{where}.kind={c.kind!r}: use one of {', '.join(CONTRACT_KINDS)}")
        for party in ("payer", "payee"):
            v = getattr(c, party)
            _check(
                v in names or v == EXTERNAL,
                f"{where}.{party}={v!r} is not an entity of calibration {cal.name!r}; "
                f"valid: {', '.join(valid_parties)}",
            )
        _check(c.payer != c.payee, f"{where}: payer and payee are both {c.payer!r}")
        for key in ("amount", "monthly", "rate", "share", "ltv_max"):
            _check(getattr(c, key) >= 0, f"{where}.{key}={getattr(c, key)}: must be >= 0")
        _check(c.share <= 1, f"{where}.share={c.share}: must be in [0, 1]")
        _check(c.start >= 0, f"{where}.start={c.start}: must be >= 0")
        _check(
            c.amortisation in AMORTISATIONS,
            f"{where}.amortisation={c.amortisation!r}: use one of {', '.join(AMORTISATIONS)}",
        )
        if c.kind != "equity":
            _check(c.maturity >= 1, f"{where}.maturity={c.maturity}: must be at least 1 month")
        if c.kind in ("equity", "backstop", "rvg"):
            _check(c.payee != EXTERNAL, f"{where}: a {c.kind} needs an entity as payee, not {EXTERNAL!r}")
        if c.kind == "equity":
            _check(c.payer != EXTERNAL, f"{where}: an equity stake needs an entity as payer (the investee)")
    held: dict[str, float] = {}
    for c in cal.contracts:
        if c.kind == "equity":
            held[c.payer] = held.get(c.payer, 0.0) + c.share
    for investee, total in held.items():
        _check(total <= 1.0 + 1e-12,
               f"calibration.contracts: equity stakes in {investee!r} add up to {total:.4g} of its shares; "
               "they can add up to at most 1")
    lt = cal.long_tail
    for key in ("neoclouds", "private_credit", "banks"):
        _check(getattr(lt, key) >= 0, f"calibration.long_tail.{key} must be >= 0")

    sc = cfg.scenario
    for proc in ("demand", "rental_price"):
        p = getattr(sc, proc)
        _check(p.start > 0, f"scenario.{proc}.start={p.start}: must be > 0")
        _check(p.vol >= 0, f"scenario.{proc}.vol={p.vol}: must be >= 0")
    _check(sc.base_rate.vol >= 0, "scenario.base_rate.vol must be >= 0")
    _check(0 < sc.expectation_weight <= 1, "scenario.expectation_weight must be in (0, 1]")
    _check(sc.sentiment >= 0, "scenario.sentiment must be >= 0")
    for who in sc.offtake_exits:
        _check(who in names, f"scenario.offtake_exits: {who!r} is not an entity; valid: {', '.join(sorted(names))}")

    for name, proc in sc.indices.items():
        _check(proc.start > 0, f"scenario.indices.{name}.start={proc.start}: must be > 0")
        _check(proc.vol >= 0, f"scenario.indices.{name}.vol={proc.vol}: must be >= 0")
    from aisim.scenario import LOADABLE

    for k, ld in enumerate(sc.loadings):
        where = f"scenario.loadings[{k}]"
        _check(ld.parameter in LOADABLE,
               f"{where}.parameter={ld.parameter!r}: not a behavioural parameter; valid: {', '.join(LOADABLE)}")
        _check(ld.index in sc.indices, f"{where}.index={ld.index!r}: not in scenario.indices; "
               f"declared: {', '.join(sc.indices) or 'none'}")
        for s_ in ld.sectors:
            _check(s_ in SECTORS, f"{where}.sectors: {s_!r} is not a sector; valid: {', '.join(SECTORS)}")
        for a in ld.agents:
            _check(a in names, f"{where}.agents: {a!r} is not an entity; valid: {', '.join(sorted(names))}")
        _check(bool(ld.sectors or ld.agents), f"{where}: name the sectors or agents it applies to")

    for s_ in sc.equity_freeze_sectors:
        _check(s_ in SECTORS, f"scenario.equity_freeze_sectors: {s_!r} is not a sector; valid: {', '.join(SECTORS)}")
    _check(sc.equity_freeze_from >= 0 and sc.equity_freeze_months >= 0,
           "scenario.equity_freeze_from and equity_freeze_months must be >= 0")

    rg = cfg.regime
    for key in ("capital_requirement", "countercyclical_buffer", "leverage_requirement",
                "fund_liquidity_buffer", "fund_redemption_gate", "gpu_haircut_floor", "deleveraging_speed"):
        _check(0 <= getattr(rg, key) <= 1, f"regime.{key}={getattr(rg, key)}: must be in [0, 1]")
    for key in ("large_exposure_limit", "ai_concentration_limit", "fund_leverage_cap",
                "gpu_valuation_life_months", "gpu_ltv_cap"):
        _check(getattr(rg, key) >= 0, f"regime.{key}={getattr(rg, key)}: must be >= 0")
    for key in ("ai_loans", "nbfi_loans", "spv_loans", "other_assets", "securities", "equity_stakes"):
        _check(getattr(rg.risk_weights, key) >= 0, f"regime.risk_weights.{key} must be >= 0")

    _check(0 < cfg.clearing.alpha <= 1 and 0 < cfg.clearing.beta <= 1,
           "clearing.alpha and clearing.beta must be in (0, 1]")
    col = cfg.collateral
    _check(col.valuation_life_months >= 1, "collateral.valuation_life_months must be at least 1")
    _check(col.depth > 0, "collateral.depth must be > 0 (USD bn)")
    _check(col.impact in ("exponential", "linear"), f"collateral.impact={col.impact!r}: use exponential or linear")
    _check(0 <= col.recovery <= 1, "collateral.recovery must be in [0, 1]")
    _check(cfg.covenants.ltv_max > 0, "covenants.ltv_max must be > 0")
    _check(0 <= cfg.covenants.cure_share <= 1, "covenants.cure_share must be in [0, 1]")
    for key in ("spread_per_loss", "sentiment_per_loss", "sentiment_per_default"):
        _check(getattr(cfg.market, key) >= 0, f"market.{key} must be >= 0")
    _check(0 <= cfg.market.recovery <= 1, "market.recovery must be in [0, 1]")
    _check(0 <= cfg.market.loan_sale_haircut < 1, "market.loan_sale_haircut must be in [0, 1)")

    inv = cfg.investment
    _check(inv.loan_term >= 1, "investment.loan_term must be at least 1 month")
    _check(inv.refinance_term >= 1, "investment.refinance_term must be at least 1 month")
    for key in ("recovery_gpu", "recovery_other"):
        _check(0 <= getattr(inv, key) <= 1, f"investment.{key} must be in [0, 1]")
    _check(cfg.systemic.loss_share >= 0, "systemic.loss_share must be >= 0")
