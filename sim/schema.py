"""Structured-config schema: the types, defaults, ranges and units of every config key.

Hydra composes YAML files onto these dataclasses, so a wrong type fails at composition with the
key named. Every field is declared with :func:`aisim.kernels.params.param`, which attaches its
valid range, unit and a one-line meaning. :func:`validate` then walks the composed config
against the schema, before any work starts:

* a key the schema does not know (added with ``+``, or through a YAML file) is refused with the
  nearest valid keys; dictionary-valued keys such as ``scenario.demand.drift_changes`` stay open
  for their entries, whose keys and values are typed;
* every value with a spec is checked against it, every float is finite (the spec of a
  dictionary- or list-valued key applies to each entry), and a mandatory value left out is named;
* the cross-references a field spec cannot express (entity names, contract parties, stakes
  adding up to at most 1, event months) are checked explicitly.

Each problem is a :class:`ConfigError` with one line naming the full key. The walk is driven by
field metadata only, so a new node declared with ``param()`` is validated without code here.
``python -m aisim.schema docs/parameters.md`` writes the table of every key from the specs.
"""

from __future__ import annotations

import difflib
import re
import sys
import types
import typing
from dataclasses import MISSING as DC_MISSING
from dataclasses import dataclass, fields, is_dataclass, make_dataclass
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aisim import channels as channel_registry
from aisim import sectors as sector_registry
from aisim.kernels.params import Spec, param, spec_of
from aisim.scenario import LOADABLE
from aisim.shards import shard_range

SECTORS = sector_registry.NAMES  # declared once, with their traits, in aisim.sectors
COMPUTE_SECTORS = sector_registry.names_with("compute")
LENDER_SECTORS = sector_registry.names_with("lender")
CONTRACT_KINDS = ("loan", "lease", "offtake", "backstop", "equity", "rvg")
AMORTISATIONS = ("bullet", "linear")
FACILITIES = ("", "asset")  # a bank loan to a private-credit fund: a NAV line (""), or an asset facility
EXTERNAL = "external"

#: The longest horizon, months. Monthly drifts, volatilities and sizes are bounded so that every
#: path of every valid configuration stays finite in float64 over this many months.
HORIZON_MAX = 240
#: Largest stock (balance-sheet item, contract amount), USD bn: about ten times world GDP.
STOCK_MAX = 1e6
#: Largest monthly flow, USD bn per month.
FLOW_MAX = 1e5


class ConfigError(ValueError):
    """A user mistake in the configuration; the message names the key and what is valid."""


def _money(default: float, doc: str, *, flow: bool = False) -> Any:
    return param(default, ge=0.0, le=FLOW_MAX if flow else STOCK_MAX,
                 unit="USD bn / month" if flow else "USD bn", doc=doc)


def _share(default: float, doc: str, unit: str = "share") -> Any:
    return param(default, ge=0.0, le=1.0, unit=unit, doc=doc)


def _months(default: int, doc: str, lo: int = 0, hi: int = HORIZON_MAX) -> Any:
    return param(default, ge=lo, le=hi, unit="months", doc=doc)


def _text(default: str, doc: str) -> Any:
    return param(default, doc=doc)


def _flag(default: bool, doc: str) -> Any:
    return param(default, doc=doc)


def _notes(doc: str) -> Any:
    return param(default_factory=dict, doc=doc)


# --------------------------------------------------------------------------- calibration
@dataclass
class _EntityIdentity:
    name: str = _text(MISSING, "the agent's name, unique in the calibration (not `external`)")
    sector: str = param(MISSING, choices=SECTORS, doc="the agent's sector")


@dataclass
class EntityBalance:
    """An agent's starting balance sheet, USD bn (:data:`ENTITY_BALANCE_FIELDS`)."""

    cash: float = _money(0.0, "cash at the start")
    securities: float = _money(0.0, "liquid securities at par")
    gpu: float = _money(0.0, "book value of GPUs and data-centre equipment")
    other_assets: float = _money(0.0, "other assets (banks: the rest of the loan book)")
    other_liabilities: float = _money(0.0, "liabilities other than the calibrated contracts")


@dataclass
class EntityBehaviour:
    """An agent's behavioural parameters (:data:`ENTITY_PARAM_FIELDS`): monthly flows are USD bn
    per month, rates annual fractions."""

    revenue: float = _money(0.0, "AI end-user revenue at demand index 1 (AI labs)", flow=True)
    non_ai_cash_flow: float = _money(0.0, "net operating cash flow of the non-AI business", flow=True)
    opex: float = _money(0.0, "fixed operating cost", flow=True)
    cost_share: float = _share(0.0, "variable cost as a share of revenue (COGS, power, compute resale)")
    capacity_yield: float = param(0.0, ge=0.0, le=1.0, unit="USD bn / month per USD bn of GPU book",
                                  doc="spot revenue per unit of GPU book at rental index 1")
    utilisation: float = _share(0.8, "share of uncommitted capacity sold at demand index 1")
    gpu_life_months: float = param(72.0, ge=1.0, le=1200.0, unit="months", doc="accounting depreciation life of GPUs")
    capex: float = _money(0.0, "planned GPU capex at expected demand and price index 1", flow=True)
    price_elasticity: float = param(1.0, ge=0.0, le=3.0, unit="",
                                    doc="capex response to the expected rental price index (exponent)")
    chip_share: float = _share(0.0, "chipmakers: share of the others' GPU capex received")
    cash_buffer: float = _money(0.0, "cash kept back before borrowing or paying out")
    equity_raise: float = _money(0.0, "most equity raised from outside investors", flow=True)
    payout: float = _share(0.0, "share of cash above twice the buffer paid out", unit="share / month")
    spread: float = _share(0.03, "credit spread on new floating borrowing", unit="annual fraction")
    max_leverage: float = _share(0.8, "refinancing test: debt / total assets at most this")
    lend_rate: float = _share(0.0, "lenders: share of spare cash lent to new AI borrowing", unit="share / month")
    redemption_base: float = _share(0.0, "private-credit funds: LP redemption requests in a calm month",
                                    unit="share of NAV / month")
    redemption_sensitivity: float = param(0.0, ge=0.0, le=100.0, unit="share of NAV per unit of loss rate",
                                          doc="funds: extra redemption requests per unit of last month's loss rate")
    market_cap: float = _money(0.0, "2025 market capitalisation or latest round valuation (0: none; equity_pricing)")


@dataclass
class _EntityNotes:
    sources: dict[str, str] = _notes("where each number comes from: {key: source}")
    assumptions: dict[str, str] = _notes("what is assumed: {key: assumption}")


@dataclass
class EntityConfig(_EntityNotes, EntityBehaviour, EntityBalance, _EntityIdentity):
    """One named agent: name and sector, starting balance sheet (:class:`EntityBalance`),
    behavioural parameters (:class:`EntityBehaviour`) and notes. Fields in that order."""


#: The starting balance-sheet fields of an entity, in declaration order (one declaration:
#: :class:`EntityBalance`). ``aisim.world.BALANCE_FIELDS`` can be this tuple.
ENTITY_BALANCE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EntityBalance))
#: The behavioural parameters of an entity, in declaration order (:class:`EntityBehaviour`):
#: ``aisim.world.PARAM_FIELDS``, the float fields of ``aisim.kernels.state.AgentParams`` and the
#: reference's parameter list can all be derived from this tuple.
ENTITY_PARAM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EntityBehaviour))


@dataclass
class ContractConfig:
    """One contract (an edge of the financing web) between two agents or an agent and `external`.

    ``payer`` pays ``payee``: loan borrower -> lender, lease lessee -> lessor, offtake buyer ->
    seller, backstop writer -> beneficiary, equity investee -> holder, rvg guarantor -> SPV.
    """

    name: str = _text(MISSING, "the contract's name, unique in the calibration")
    kind: str = param(MISSING, choices=CONTRACT_KINDS, doc="what the contract is")
    payer: str = _text(MISSING, "the paying party: an entity's name or `external`")
    payee: str = _text(MISSING, "the receiving party: an entity's name or `external`")
    amount: float = _money(0.0, "loans: outstanding principal; rvg: guaranteed residual value")
    monthly: float = _money(0.0, "leases, offtakes: payment per month; backstops: monthly cap", flow=True)
    rate: float = _share(0.0, "loans: fixed rate, or the spread over the base rate when floating",
                         unit="annual fraction")
    floating: bool = _flag(False, "loans: rate = base rate + `rate`")
    maturity: int = _months(0, "months from the start until the contract ends (at least 1 unless equity)",
                            hi=5 * HORIZON_MAX)
    amortisation: str = param("bullet", choices=AMORTISATIONS, doc="loans: how principal is repaid")
    start: int = _months(0, "month (from the run's start) when payments begin", hi=5 * HORIZON_MAX)
    share: float = _share(0.0, "equity stakes: fraction of the investee held")
    secured: bool = _flag(False, "loans: secured on the borrower's GPUs")
    refinance: bool = _flag(True, "loans: the lender rolls the bullet at maturity if the tests pass")
    ltv_max: float = param(0.0, ge=0.0, le=10.0, unit="ratio",
                           doc="loans: loan-to-value covenant (GPU collateral, or NAV for fund lines); "
                               "0 = covenants.ltv_max")
    facility: str = param("", choices=FACILITIES,
                          doc="loans from a bank to a private-credit fund: empty, a NAV line on the whole fund; "
                              "`asset`, an asset-based SPV facility, revolving against a borrowing base of the fund's "
                              "AI loans, non-recourse (channel asset_facilities)")
    source: str = _text("", "where the terms come from")
    assumption: str = _text("", "what is assumed")


@dataclass
class LongTailConfig:
    """Synthetic members added to the named ones (aisim.calibration.with_long_tail)."""

    neoclouds: int = param(0, ge=0, le=10_000, unit="agents", doc="extra synthetic neoclouds")
    private_credit: int = param(0, ge=0, le=10_000, unit="agents", doc="extra synthetic private-credit funds")
    banks: int = param(0, ge=0, le=10_000, unit="agents", doc="extra synthetic banks")


@dataclass
class CalibrationConfig:
    name: str = _text(MISSING, "the calibration's name")
    description: str = _text("", "one line on what it represents")
    entities: list[EntityConfig] = param(default_factory=list, doc="the named agents")
    contracts: list[ContractConfig] = param(default_factory=list, doc="the calibrated contracts")
    long_tail: LongTailConfig = param(default_factory=LongTailConfig, doc="synthetic long tail")


# --------------------------------------------------------------------------- scenario
DRIFT_MAX = 0.2  # monthly log drift: a factor of about 11 a year
VOL_MAX = 0.5  # monthly log volatility


@dataclass
class ProcessConfig:
    """A log-normal monthly process: x_t = x_{t-1} * exp(drift_t - vol^2/2 + vol * z_t)."""

    start: float = param(1.0, gt=0.0, le=1000.0, unit="index", doc="level at the start")
    drift: float = param(0.0, ge=-DRIFT_MAX, le=DRIFT_MAX, unit="log / month", doc="monthly log drift")
    vol: float = param(0.0, ge=0.0, le=VOL_MAX, unit="log / month", doc="monthly log volatility")
    drift_changes: dict[int, float] = param(
        default_factory=dict, ge=-DRIFT_MAX, le=DRIFT_MAX, unit="log / month",
        doc=f"piecewise changes of the drift: {{month: new drift}}, months in [0, {HORIZON_MAX}] from the start")


@dataclass
class RateConfig:
    """Base rate, annual: mean-reverting with normal shocks, floored at zero."""

    start: float = param(0.04, ge=0.0, le=0.5, unit="annual fraction", doc="level at the start")
    mean: float = param(0.035, ge=0.0, le=0.5, unit="annual fraction", doc="level it reverts to")
    speed: float = param(0.05, ge=0.0, le=1.0, unit="share / month",
                         doc="monthly mean reversion (share of the gap closed a month)")
    vol: float = param(0.001, ge=0.0, le=0.05, unit="annual fraction / month", doc="monthly volatility")
    jumps: dict[int, float] = param(
        default_factory=dict, ge=-0.5, le=0.5, unit="annual fraction",
        doc=f"level shifts: {{month: shift}}, months in [0, {HORIZON_MAX}]")


@dataclass
class LoadingConfig:
    """theta_i,t = theta_i x index_t ^ elasticity for the agents of ``sectors`` and ``agents``."""

    parameter: str = _text(MISSING, "a behavioural parameter of EntityConfig (aisim.scenario.LOADABLE)")
    index: str = _text(MISSING, "a name in scenario.indices")
    elasticity: float = param(1.0, ge=-10.0, le=10.0, unit="", doc="elasticity of the parameter to the index")
    sectors: list[str] = param(default_factory=list, choices=SECTORS, doc="sectors whose members it applies to")
    agents: list[str] = param(default_factory=list, doc="named agents it applies to")


@dataclass
class ScenarioConfig:
    name: str = _text(MISSING, "the scenario's name")
    description: str = _text("", "one line on what it represents")
    demand: ProcessConfig = param(default_factory=lambda: ProcessConfig(drift=0.02, vol=0.04),
                                  doc="AI demand index")
    rental_price: ProcessConfig = param(default_factory=lambda: ProcessConfig(drift=-0.015, vol=0.04),
                                        doc="GPU rental price index")
    price_demand_beta: float = param(0.5, ge=-10.0, le=10.0, unit="", doc="loading of price shocks on demand shocks")
    base_rate: RateConfig = param(default_factory=RateConfig, doc="base rate")
    expectation_weight: float = param(0.2, gt=0.0, le=1.0, unit="share",
                                      doc="adaptive expectations: weight on the newest observation")
    sentiment: float = param(1.0, ge=0.0, le=10.0, unit="index",
                             doc="equity-market sentiment (scales equity raises); the calm level")
    offtake_exits: dict[str, int] = param(
        default_factory=dict, ge=0, le=HORIZON_MAX, unit="months",
        doc="{agent name: month}: that agent's offtakes as buyer are not renewed from that month")
    equity_freeze_sectors: list[str] = param(
        default_factory=list, choices=SECTORS,
        doc="sectors that cannot raise outside equity in months [from, from + months)")
    equity_freeze_from: int = _months(0, "first month of the equity freeze")
    equity_freeze_months: int = _months(0, "length of the equity freeze")
    indices: dict[str, ProcessConfig] = param(
        default_factory=dict, doc="the scenario's own exogenous indices, {name: process} (aisim.kernels.indices)")
    loadings: list[LoadingConfig] = param(
        default_factory=list, doc="behavioural parameters loaded on the indices: parameter x index ^ elasticity")


# --------------------------------------------------------------------------- regime
def _weight(default: float, doc: str) -> Any:
    return param(default, ge=0.0, le=12.5, unit="risk weight", doc=doc)


@dataclass
class RiskWeights:
    ai_loans: float = _weight(1.0, "bank loans to AI companies (chipmakers, hyperscalers, neoclouds, labs)")
    nbfi_loans: float = _weight(1.0, "bank loans to private-credit funds (back-leverage lines)")
    spv_loans: float = _weight(1.0, "bank loans to data-centre SPVs")
    other_assets: float = _weight(1.0, "the rest of the loan book")
    securities: float = _weight(0.0, "securities")
    equity_stakes: float = _weight(2.5, "equity stakes")


@dataclass
class RegimeConfig:
    """Regulatory parameters. Bank ratios are shares of RWA or of total exposure."""

    name: str = _text(MISSING, "the regime's name")
    description: str = _text("", "one line on what it represents")
    # banks
    capital_requirement: float = _share(0.105, "CET1 minimum + conservation buffer + G-SIB surcharge",
                                        unit="share of RWA")
    countercyclical_buffer: float = _share(0.0, "added to the requirement in calm months", unit="share of RWA")
    release_buffer_in_stress: bool = _flag(False, "the countercyclical buffer drops to 0 in stress")
    buffer_build_months: float = param(12.0, ge=0.0, le=600.0, unit="months",
                                       doc="months over which the countercyclical buffer builds (linearly, in "
                                       "calm months) from 0 to its level; 0 = in force from the start")
    risk_weights: RiskWeights = param(default_factory=RiskWeights, doc="risk weights")
    leverage_requirement: float = _share(0.03, "Tier 1 / total exposure at least this")
    large_exposure_limit: float = param(0.25, ge=0.0, le=10.0, unit="share of Tier 1",
                                        doc="exposure to one counterparty / Tier 1 at most this")
    ai_concentration_limit: float = param(0.0, ge=0.0, le=100.0, unit="share of Tier 1",
                                          doc="AI-sector exposure / Tier 1 at most this; 0 = no limit")
    deleveraging_speed: float = _share(0.05, "share of the RWA gap a bank sheds a month", unit="share / month")
    # private-credit funds
    fund_leverage_cap: float = param(0.0, ge=0.0, le=100.0, unit="ratio",
                                     doc="fund debt / NAV at most this; 0 = no cap")
    fund_liquidity_buffer: float = _share(0.0, "cash a fund keeps as a share of NAV")
    fund_redemption_gate: float = _share(1.0, "most of NAV paid out to redeeming LPs a month",
                                         unit="share of NAV / month")
    spv_consolidation: bool = _flag(False, "SPV debt and residual-value guarantees count in the sponsor's leverage")
    # GPU collateral
    gpu_haircut_floor: float = _share(0.0, "collateral counted at most (1 - floor) of market value")
    gpu_valuation_life_months: float = param(
        0.0, ge=0.0, le=1200.0, unit="months",
        doc="economic life for valuing collateral: 0 = collateral.valuation_life_months, else at least 1")
    gpu_ltv_cap: float = param(0.0, ge=0.0, le=10.0, unit="ratio",
                               doc="most new GPU-secured lending per collateral value; 0 = no cap")
    # ratings
    rating_based_weights: bool = _flag(False, "banks' loans to rated (AI) borrowers weighted by the borrower's "
                                              "grade (BCBS CRE20 20/50/75/100/150%), not the flat ai_loans weight")


# --------------------------------------------------------------------------- run
@dataclass
class PathsConfig:
    n: int = param(1000, ge=1, unit="paths", doc="Monte Carlo paths")
    chunk: Any = param("auto", doc="paths per chunk: a whole number >= 1, or auto (sized to memory)")
    shard: str | None = param(None, doc="I/N: only shard I of N of the paths; A:B: only paths A..B-1 (aisim.shards)")


@dataclass
class InvestmentConfig:
    loan_term: int = _months(60, "months over which new capex loans amortise", lo=1, hi=600)
    refinance_term: int = _months(36, "months a refinanced bullet loan runs on", lo=1, hi=600)
    recovery_gpu: float = _share(0.75, "share of the GPUs' collateral (market) value recovered in liquidation")
    recovery_other: float = _share(0.7, "share of other assets recovered in liquidation")
    notes_term: int = _months(60, "months over which new notes (note_issuance) amortise, outstanding / term a month",
                              lo=1, hi=600)


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
    """A path has a systemic event if (bank) a bank defaults or its CET1 ratio falls below
    ``bank_ratio`` in some month, (fund) a private-credit fund defaults or its NAV falls more than
    ``fund_nav_loss`` below its start, or (loss) losses of banks and funds -- credit losses plus
    banks' non-AI losses beyond normal -- exceed ``loss_share`` of their combined starting equity."""

    loss_share: float = param(0.1, ge=0.0, le=10.0, unit="share of lenders' equity",
                              doc="lender losses above this share of their starting equity are a systemic event")
    fund_nav_loss: float = param(0.2, ge=0.0, le=1.0, unit="share of starting NAV",
                                 doc="a fund NAV fall beyond this is a systemic event")
    bank_ratio: float = param(0.07, ge=0.0, le=1.0, unit="CET1 / RWA",
                              doc="a bank below this CET1 ratio is a systemic event, the same under every regime "
                                  "(Basel III minimum 4.5% + conservation buffer 2.5%)")


@dataclass
class OutputConfig:
    quantile_paths: int = param(10000, ge=1, le=10_000_000, unit="paths",
                                doc="time-series quantiles use the first this-many paths")
    agent_quantile_paths: int = param(
        200, ge=1, le=1_000_000, unit="paths",
        doc="agent_timeseries.parquet's quantiles use the first this-many paths (their values are held in "
            "memory: paths x months x 6 x agents x 8 bytes)")
    progress: bool = _flag(True, "show a progress bar")
    residual_tolerance: float = param(
        1e-9, gt=0.0, le=1.0, unit="relative",
        doc="largest accounting identity residual accepted; a run above it fails its quality check")


Config = make_dataclass("Config", [
    ("seed", int, param(0, ge=0, le=2**64 - 1, unit="", doc="random seed: the 64-bit key of every draw")),
    ("paths", PathsConfig, param(default_factory=PathsConfig, doc="Monte Carlo paths")),
    ("horizon", int, _months(60, "months simulated", lo=1)),
    ("start", str, _text("2026-01", "first simulated month, YYYY-MM")),
    ("backend", str, param("auto", choices=("auto", "numpy", "cupy"), doc="array backend")),
    ("report", bool, _flag(False, "also write report.html with figures into the run directory")),
    ("calibration", CalibrationConfig, param(MISSING, doc="the agents and contracts (conf/calibration/)")),
    ("scenario", ScenarioConfig, param(MISSING, doc="the macro paths (conf/scenario/)")),
    ("regime", RegimeConfig, param(MISSING, doc="the regulatory regime (conf/regime/)")),
    ("investment", InvestmentConfig, param(default_factory=InvestmentConfig, doc="new lending and recoveries")),
    ("channels", ChannelsConfig, param(default_factory=ChannelsConfig, doc="contagion channels (aisim.channels)")),
    # one node per parameter dataclass the channels declare (clearing, collateral, covenants, market)
    *((key, node, param(default_factory=node, doc=f"parameters of the channels reading {key}"))
      for key, node in CHANNEL_PARAM_NODES.items()),
    ("systemic", SystemicConfig, param(default_factory=SystemicConfig, doc="systemic events")),
    ("output", OutputConfig, param(default_factory=OutputConfig, doc="outputs")),
], module=__name__)
Config.__doc__ = "The whole configuration of a run: the root of the structured-config schema."


# --------------------------------------------------------------------------- the generic walk
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """Resolved type hints of a schema dataclass (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _strip_optional(hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else Any
    return hint


def _plain(value: Any) -> Any:
    """The config as plain dicts, lists and scalars (mandatory values left out stay ``???``)."""
    if isinstance(value, DictConfig) and value._get_parent() is None and "hydra" in value:
        # Hydra's own node is not ours to check, and resolving it needs a running job
        value = OmegaConf.masked_copy(value, [k for k in value if k != "hydra"])
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True, throw_on_missing=False)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if hasattr(value, "__dict__") and not isinstance(value, type):  # an opaque record (ExpandedCalibration)
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return value


def _key(prefix: str, name: Any) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def nearest(name: str, valid: list[str]) -> str:
    """' did you mean x? valid: a, b, c' -- the nearest valid keys (difflib) and the valid ones."""
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ";"
    listed = ", ".join(valid) if len(valid) <= 24 else ", ".join(valid[:24]) + ", ..."
    return f"{hint} valid keys here: {listed}"


def _unknown(key: str, name: Any, valid: list[str]) -> str:
    return f"{key}: unknown key{nearest(str(name), valid)}"


def _scalar_problem(key: str, value: Any, hint: Any, spec: Spec | None) -> str | None:
    """One value against its spec; a float without a spec must still be finite."""
    if isinstance(value, str) and value == "???":
        return f"{key}: a value is required (it is missing)"
    s = spec or Spec()
    if spec is None and not (isinstance(value, float) or hint is float):
        return None
    if s.choices is not None and isinstance(value, list | dict):
        return None  # containers are walked entry by entry
    why = s.problem(value)
    if why is None:
        return None
    return f"{key}={_show(value)}: {why}" + (f" ({s.unit})" if s.unit else "")


def problems(value: Any, cls: type, prefix: str = "") -> typing.Iterator[str]:
    """One-line messages for every problem of ``value`` (plain dicts, see :func:`_plain`)
    against the schema dataclass ``cls``, in declaration order."""
    if not isinstance(value, dict):
        if isinstance(value, str) and value == "???":
            yield f"{prefix}: a value is required (it is missing)"
        else:
            yield f"{prefix}={_show(value)}: expected a {cls.__name__} node"
        return
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    for k in value:
        if k not in hints and not (prefix == "" and k == "hydra"):
            yield _unknown(_key(prefix, k), k, names)
    for f in fields(cls):
        if f.name not in value:
            continue
        yield from _field_problems(value[f.name], _hints(cls)[f.name], spec_of(f), _key(prefix, f.name))


def _field_problems(value: Any, hint: Any, spec: Spec | None, key: str) -> typing.Iterator[str]:
    hint = _strip_optional(hint)
    if value is None:
        return
    origin = typing.get_origin(hint)
    if is_dataclass(hint) and isinstance(hint, type):
        yield from problems(value, hint, key)
    elif origin in (list, tuple) and isinstance(value, list):
        (elem,) = typing.get_args(hint)[:1] or (Any,)
        for i, v in enumerate(value):
            yield from _field_problems(v, elem, spec, f"{key}[{i}]")
    elif origin is dict and isinstance(value, dict):
        _, elem = typing.get_args(hint) or (Any, Any)
        for k, v in value.items():
            yield from _field_problems(v, elem, spec, f"{key}[{_show(k)}]")
    else:
        why = _scalar_problem(key, value, hint, spec)
        if why is not None:
            yield why


def schema_of(cfg: Any) -> type:
    """The schema dataclass of a composed config: its structured type when it is one of
    :class:`Config`'s subclasses (aisim-compare's adds the ``compare`` node), else Config."""
    t = OmegaConf.get_type(cfg) if isinstance(cfg, DictConfig) else type(cfg)
    return t if isinstance(t, type) and issubclass(t, Config) else Config


def validate(cfg: Any) -> None:
    """Check keys, values and cross-references; raise :class:`ConfigError` naming the first bad key."""
    try:
        tree = _plain(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(config_error_line(exc)) from None
    for why in problems(tree, schema_of(cfg)):
        raise ConfigError(why)
    _cross_checks(tree)


def config_error_line(exc: BaseException) -> str:
    """One line from an OmegaConf error: the full key and the first line of its message."""
    key = getattr(exc, "full_key", None)
    msg = str(getattr(exc, "msg", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{key}: {msg}" if key and not msg.startswith(str(key)) else msg


# --------------------------------------------------------------------------- cross-references
def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _months_in_range(key: str, months: Any) -> None:
    for m in months:
        _check(isinstance(m, int) and 0 <= m <= HORIZON_MAX,
               f"{key}: month {m} is outside [0, {HORIZON_MAX}] (months from the start)")


def _cross_checks(c: dict[str, Any]) -> None:
    """What a field spec cannot express: formats, names, parties, sums, event months."""
    chunk = c["paths"]["chunk"]
    if chunk != "auto":
        ok = isinstance(chunk, int) and not isinstance(chunk, bool) and chunk >= 1
        _check(ok, f"paths.chunk={chunk!r}: use a whole number of paths >= 1, or auto")
    _check(bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(c["start"]))),
           f"start={c['start']!r}: use a month as YYYY-MM, for example 2026-01")
    try:
        shard_range(c["paths"].get("shard"), int(c["paths"]["n"]))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    cal = c["calibration"]
    names: list[str] = []
    _check(len(cal["entities"]) > 0, f"calibration {cal['name']!r} has no entities (calibration.entities)")
    for k, e in enumerate(cal["entities"]):
        where = f"calibration.entities[{k}] ({e['name']})"
        _check(e["name"] not in names, f"{where}: the name {e['name']!r} is used twice")
        _check(e["name"] != EXTERNAL, f"{where}.name: {EXTERNAL!r} is reserved for the outside sector")
        names.append(e["name"])
    valid_parties = sorted(names) + [EXTERNAL]
    sector_of = {e["name"]: e["sector"] for e in cal["entities"]}
    cnames: set[str] = set()
    held: dict[str, float] = {}
    for k, x in enumerate(cal["contracts"]):
        where = f"calibration.contracts[{k}] ({x['name']})"
        _check(x["name"] not in cnames, f"{where}: the contract name {x['name']!r} is used twice")
        cnames.add(x["name"])
        for party in ("payer", "payee"):
            v = x[party]
            _check(v in names or v == EXTERNAL,
                   f"{where}.{party}={v!r} is not an entity of calibration {cal['name']!r}; "
                   f"valid: {', '.join(valid_parties)}")
        _check(x["payer"] != x["payee"], f"{where}: payer and payee are both {x['payer']!r}")
        if x.get("facility", ""):  # an asset facility: a bank's loan to a private-credit fund
            ok = (x["kind"] == "loan" and sector_of.get(x["payer"]) == "private_credit"
                  and sector_of.get(x["payee"]) == "bank")
            _check(ok, f"{where}.facility={x['facility']!r}: an asset facility is a loan from a bank (payee) to a "
                       f"private-credit fund (payer), not a {x['kind']} from {x['payee']!r} to {x['payer']!r}")
        if x["kind"] != "equity":
            _check(x["maturity"] >= 1, f"{where}.maturity={x['maturity']}: must be at least 1 month")
        if x["kind"] in ("equity", "backstop", "rvg"):
            _check(x["payee"] != EXTERNAL, f"{where}.payee: a {x['kind']} needs an entity as payee, not {EXTERNAL!r}")
        if x["kind"] == "equity":
            _check(x["payer"] != EXTERNAL, f"{where}.payer: an equity stake needs an entity as payer (the investee)")
            held[x["payer"]] = held.get(x["payer"], 0.0) + x["share"]
    for investee, total in held.items():
        _check(total <= 1.0 + 1e-12,
               f"calibration.contracts: equity stakes in {investee!r} add up to {total:.4g} of its shares; "
               "they can add up to at most 1")

    _long_tail_checks(cal)

    sc = c["scenario"]
    for proc in ("demand", "rental_price"):
        _months_in_range(f"scenario.{proc}.drift_changes", sc[proc]["drift_changes"])
    _months_in_range("scenario.base_rate.jumps", sc["base_rate"]["jumps"])
    for who in sc["offtake_exits"]:
        _check(who in names, f"scenario.offtake_exits: {who!r} is not an entity; valid: {', '.join(sorted(names))}")
    life = c["regime"]["gpu_valuation_life_months"]
    _check(life == 0 or life >= 1,
           f"regime.gpu_valuation_life_months={life}: use 0 (collateral.valuation_life_months) or at least 1 month")

    for k, ld in enumerate(sc.get("loadings") or []):
        where = f"scenario.loadings[{k}]"
        _check(ld["parameter"] in LOADABLE,
               f"{where}.parameter={ld['parameter']!r}: not a behavioural parameter; valid: {', '.join(LOADABLE)}")
        _check(ld["index"] in sc["indices"], f"{where}.index={ld['index']!r}: not in scenario.indices; "
               f"declared: {', '.join(sc['indices']) or 'none'}")
        for s_ in ld["sectors"]:
            _check(s_ in SECTORS, f"{where}.sectors: {s_!r} is not a sector; valid: {', '.join(SECTORS)}")
        for a in ld["agents"]:
            _check(a in names, f"{where}.agents: {a!r} is not an entity; valid: {', '.join(sorted(names))}")
        _check(bool(ld["sectors"] or ld["agents"]), f"{where}: name the sectors or agents it applies to")
    for name, proc in (sc.get("indices") or {}).items():
        _months_in_range(f"scenario.indices.{name}.drift_changes", proc["drift_changes"])


#: What each part of the long tail is fitted to (aisim.longtail): tail key -> (sector, what, size measure).
LONG_TAIL_SIZED_BY = {
    "neoclouds": (("neocloud", "its GPU book (gpu)", "gpu"),),
    "private_credit": (("private_credit", "its total assets", "assets"), ("bank", "its total assets", "assets")),
    "banks": (("bank", "its total assets", "assets"),),
}


def long_tail_size(e: dict[str, Any], contracts: list[dict[str, Any]], measure: str) -> float:
    """A named member's size as the long tail is fitted to it: its GPU book (``gpu``), or its
    total assets (``assets``: balance-sheet items plus the loans it holds)."""
    if measure == "gpu":
        return float(e.get("gpu") or 0.0)
    own = sum(float(e.get(k) or 0.0) for k in ("cash", "securities", "gpu", "other_assets"))
    held = (float(c.get("amount") or 0.0) for c in contracts if c["kind"] == "loan" and c["payee"] == e["name"])
    return own + sum(held)


def _long_tail_checks(cal: dict[str, Any]) -> None:
    """Each named member a requested long tail is fitted to has a positive size (the fit takes
    logs of the sizes; :data:`LONG_TAIL_SIZED_BY` says which size)."""
    lt = cal["long_tail"]
    for key, rules in LONG_TAIL_SIZED_BY.items():
        if lt[key] <= 0:
            continue
        for sector, what, measure in rules:
            for k, e in enumerate(cal["entities"]):
                _check(e["sector"] != sector or long_tail_size(e, cal["contracts"], measure) > 0,
                       f"calibration.long_tail.{key}={lt[key]}: the long tail is fitted to the named {sector} "
                       f"members' sizes, and calibration.entities[{k}] ({e['name']}) has none ({what} is 0); "
                       f"give it one or set calibration.long_tail.{key}=0")


# --------------------------------------------------------------------------- docs
def _default_text(f: Any) -> str:
    if f.default is not DC_MISSING:
        d = f.default
    elif f.default_factory is not DC_MISSING:
        d = f.default_factory()
    else:
        return "required"
    if d == MISSING:
        return "required"
    if isinstance(d, float) and (abs(d) >= 1e5 or 0 < abs(d) < 1e-3):
        return f"`{d:g}`"
    return f"`{d!r}`" if isinstance(d, str) else f"`{d}`"


def _rows(cls: type, prefix: str) -> typing.Iterator[str]:
    for f in fields(cls):
        hint = _strip_optional(_hints(cls)[f.name])
        key = _key(prefix, f.name)
        spec = spec_of(f) or Spec()
        if is_dataclass(hint):
            yield from _rows(hint, key)
            continue
        origin = typing.get_origin(hint)
        if origin is list and is_dataclass(typing.get_args(hint)[0]):
            yield from _rows(typing.get_args(hint)[0], f"{key}[]")
            continue
        tname = getattr(hint, "__name__", None) if origin is None else str(hint).replace("typing.", "")
        tname = "int or auto" if hint is Any else tname
        valid = spec.text() if (hint in (int, float) or origin is dict or spec.choices is not None) else (
            "true or false" if hint is bool else "text")
        if origin is dict:
            valid = "text entries" if typing.get_args(hint)[1] is str else f"entries {valid}"
        elif origin is list and spec.choices is not None:
            valid = f"each {valid}"
        if key == "paths.chunk":
            valid = ">= 1, or auto"
        yield (f"| `{key}` | {tname} | {_default_text(f)} | {valid} | {spec.unit} | {spec.doc} |")


def parameters_markdown() -> str:
    """The docs table of every config key: type, default, valid range, unit and meaning."""
    head = [
        "# Configuration keys",
        "",
        "Generated from the field specs in `sim/schema.py` by `python -m aisim.schema docs/parameters.md`;",
        "`tests/test_inputs.py` checks that this file matches the code. Every key is checked before a run",
        "starts (`aisim.schema.validate`): an unknown key, a value outside its range, a NaN or an infinite",
        "number is refused with one line naming the key. Floats must be finite everywhere. Keys of",
        "dictionaries (`drift_changes`, `jumps`, `offtake_exits`) are months from the start of the run in",
        f"[0, {HORIZON_MAX}] (or agent names); a month at or after `horizon` has no effect in that run.",
        "`calibration.entities[]` and `calibration.contracts[]` are the fields of each list entry.",
        "",
        "| key | type | default | valid | unit | meaning |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + list(_rows(Config, ""))) + "\n"


if __name__ == "__main__":  # python -m aisim.schema [FILE]: write (or print) the docs table
    # the table from the imported module: run as __main__ its classes would be named __main__.X
    from aisim.schema import parameters_markdown as _table

    text = _table()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
