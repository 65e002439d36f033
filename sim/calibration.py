"""Calibration tools: the synthetic long tail, and the calibration report (targets vs model).

* :func:`with_long_tail` adds ``calibration.long_tail`` counts of extra neoclouds, private-credit
  funds and banks to a config. Their sizes are drawn from log-normal distributions fitted to the
  named members of each sector and truncated below the smallest of them (the named ones are the
  largest; the tail is the rest of the distribution). Their other balance-sheet items and
  behaviour follow the named members' median ratios to size. Each extra agent is wired to the
  named network: an extra neocloud borrows from a random lender and sells part of its capacity
  to a random hyperscaler; an extra fund gets a back-leverage line from a random bank; an extra
  bank writes a back-leverage line to a random fund. The draws come from
  ``numpy.random.default_rng([seed, LONG_TAIL_STREAM])``: the world is a pure function of the
  seed, the same for every path, chunk and backend.
* :func:`start_targets` checks the starting web against the public figures (from the world's
  arrays, at demand and rental-price index 1), :func:`dynamic_targets` runs the model on a modest
  number of paths and reads the state month by month for the 2026-2028 targets, and
  :func:`calibration_report` puts both in one table. ``python -m aisim.report_calibration`` prints
  it and writes ``calibration_report.md`` and ``calibration_report.parquet``.

Targets, sources and bands are documented in docs/calibration.md; figures come from
``../shared/calibration/figures-2025.md``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from statistics import NormalDist
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from aisim.kernels import contracts as kcontracts
from aisim.kernels.backend import to_numpy
from aisim.kernels.state import BACKSTOP, BULLET, EQUITY, LEASE, LINEAR, LOAN, OFFTAKE, RVG
from aisim.schema import (
    COMPUTE_SECTORS,
    EXTERNAL,
    LENDER_SECTORS,
    Config,
    ContractConfig,
    EntityConfig,
    LongTailConfig,
    validate,
)
from aisim.world import World, build_world
from omegaconf import DictConfig, OmegaConf

#: Fixed stream constant of the long tail's random numbers ("LTAI"); the macro paths use
#: kernels.rng's counter-based streams, so the two never overlap.
LONG_TAIL_STREAM = 0x4C544149
#: Most debt / assets of a synthetic fund after the extra banks' lines.
MAX_FUND_LEVERAGE = 0.3
#: Share of a synthetic neocloud's capacity sold forward to a random hyperscaler.
TAIL_OFFTAKE_SHARE = 0.3

# ===================================================================================== long tail


def _num(e: dict, key: str, default: float = 0.0) -> float:
    v = e.get(key, default)
    return float(default if v is None else v)


def _lognormal_fit(sizes: np.ndarray, default_sigma: float = 1.0) -> tuple[float, float]:
    """(mu, sigma) of log sizes; sigma falls back to ``default_sigma`` with fewer than 2 sizes."""
    logs = np.log(sizes[sizes > 0])
    if logs.size == 0:
        return 0.0, default_sigma
    sigma = float(np.std(logs, ddof=1)) if logs.size >= 2 else default_sigma
    return float(np.mean(logs)), max(sigma, 0.1)


def _truncated_lognormal(rng: np.random.Generator, n: int, mu: float, sigma: float, upper: float) -> np.ndarray:
    """n draws of a log-normal(mu, sigma) conditioned to lie below ``upper`` (by inverse CDF)."""
    nd = NormalDist()
    p_upper = max(nd.cdf((math.log(upper) - mu) / sigma), 1e-9)
    u = rng.uniform(0.0, 1.0, size=n) * p_upper
    z = np.array([nd.inv_cdf(min(max(float(x), 1e-12), 1 - 1e-12)) for x in u])
    return np.exp(mu + sigma * z) if n else np.zeros(0)


class _Book:
    """The starting calibration as plain dicts, with the sums the long tail is fitted to."""

    def __init__(self, calibration: dict) -> None:
        self.entities = [dict(e) for e in calibration["entities"]]
        self.contracts = [dict(c) for c in calibration["contracts"]]
        self.by_name = {e["name"]: e for e in self.entities}

    def members(self, sector: str) -> list[dict]:
        return [e for e in self.entities if e["sector"] == sector]

    def loans(self, *, payer: set[str] | None = None, payee: set[str] | None = None) -> float:
        return sum(float(c.get("amount", 0.0)) for c in self.contracts if c["kind"] == "loan"
                   and (payer is None or c["payer"] in payer) and (payee is None or c["payee"] in payee))

    def assets(self, e: dict) -> float:
        """Total assets: balance-sheet items plus the loans it holds."""
        own = sum(_num(e, k) for k in ("cash", "securities", "gpu", "other_assets"))
        return own + self.loans(payee={e["name"]})

    def fund_loan(self, lender: str, amount: float) -> float:
        """Book a new loan of ``amount`` in ``lender``'s existing assets (its other assets first,
        then its cash above the buffer), so that its total assets and equity stay as calibrated.
        Returns the amount it could fund."""
        e = self.by_name[lender]
        take = min(amount, _num(e, "other_assets"))
        e["other_assets"] = _num(e, "other_assets") - take
        rest = min(amount - take, max(_num(e, "cash") - _num(e, "cash_buffer"), 0.0))
        e["cash"] = _num(e, "cash") - rest
        return take + rest

    def add(self, e: dict) -> None:
        self.entities.append(e)
        self.by_name[e["name"]] = e


def _ratio(members: list[dict], key: str, size: np.ndarray) -> float:
    """Median over ``members`` of ``key`` / size."""
    return float(np.median(np.array([_num(e, key) for e in members]) / size))


def _median(members: list[dict], key: str, default: float) -> float:
    return float(np.median([_num(e, key, default) for e in members]))


def build_long_tail(calibration: dict, seed: int) -> tuple[list[dict], list[dict]]:
    """The calibration's entities and contracts with ``calibration['long_tail']`` added.

    calibration: a plain dict (``OmegaConf.to_container``). Returns (entities, contracts) as
    lists of dicts in the schema's format: the named ones (whose total assets and equity are
    unchanged: a named lender's loans to the tail come out of its other assets) followed by the
    synthetic ones. A sector without named members has no long tail.
    """
    lt = calibration.get("long_tail") or {}
    counts = {k: int(lt.get(k, 0)) for k in ("neoclouds", "private_credit", "banks")}
    book = _Book(calibration)
    if sum(counts.values()) == 0:
        return book.entities, book.contracts
    rng = np.random.default_rng([int(seed), LONG_TAIL_STREAM])
    note = f"synthetic long tail (seed {int(seed)}, stream {LONG_TAIL_STREAM:#x}); docs/calibration.md"
    n_named = len(book.contracts)
    named_banks, named_funds = book.members("bank"), book.members("private_credit")
    hyperscalers = [e["name"] for e in book.members("hyperscaler") if _num(e, "capacity_yield") > 0]

    def loan(name: str, payer: str, payee: str, amount: float, **terms: Any) -> None:
        amount = book.fund_loan(payee, amount)
        if amount > 1e-9:
            book.contracts.append(dict(name=name, kind="loan", payer=payer, payee=payee, amount=amount, **terms))

    # ---- banks: size = total assets; CET1, RWA, spare cash and income as the named banks' medians
    tail_banks: list[str] = []
    if named_banks and counts["banks"]:
        size = np.array([book.assets(e) for e in named_banks])
        mu, sigma = _lognormal_fit(size)
        equity = np.array([book.assets(e) - _num(e, "other_liabilities") for e in named_banks])
        rwa = np.array([_num(e, "other_assets") + book.loans(payee={e["name"]}) for e in named_banks])
        spare = np.array([_num(e, "cash") - _num(e, "cash_buffer") for e in named_banks])
        r_eq, r_rwa, r_spare = (float(np.median(x / size)) for x in (equity, rwa, spare))
        r_inc = _ratio(named_banks, "non_ai_cash_flow", size)
        for i, a in enumerate(_truncated_lognormal(rng, counts["banks"], mu, sigma, float(size.min()))):
            name = f"Bank LT{i + 1:03d}"
            cash = (1.0 - r_rwa) * a
            book.add(dict(
                name=name, sector="bank", cash=cash, other_assets=r_rwa * a, other_liabilities=(1.0 - r_eq) * a,
                non_ai_cash_flow=r_inc * a, cash_buffer=max(cash - r_spare * a, 0.0),
                lend_rate=_median(named_banks, "lend_rate", 0.05), spread=_median(named_banks, "spread", 0.01),
                max_leverage=_median(named_banks, "max_leverage", 0.95),
                assumptions={"size": f"total assets {a:.1f}B; " + note,
                             "ratios": "named banks' medians: CET1, RWA and spare cash per asset, retained income"},
            ))
            tail_banks.append(name)
    all_banks = [e["name"] for e in named_banks] + tail_banks

    # ---- funds: size = total assets; dry powder, buffer, income and back-leverage as the medians
    tail_funds: list[str] = []
    if named_funds and counts["private_credit"]:
        size = np.array([book.assets(e) for e in named_funds])
        mu, sigma = _lognormal_fit(size)
        r_cash, r_buf, r_inc = (_ratio(named_funds, k, size) for k in ("cash", "cash_buffer", "non_ai_cash_flow"))
        r_bl = float(np.median(np.array([book.loans(payer={e["name"]}) for e in named_funds]) / size))
        same = {k: _median(named_funds, k, d) for k, d in (
            ("lend_rate", 0.2), ("payout", 0.1), ("redemption_base", 0.0), ("redemption_sensitivity", 0.0),
            ("spread", 0.03), ("max_leverage", 0.6))}
        for i, a in enumerate(_truncated_lognormal(rng, counts["private_credit"], mu, sigma, float(size.min()))):
            name = f"Fund LT{i + 1:03d}"
            book.add(dict(
                name=name, sector="private_credit", cash=r_cash * a, other_assets=(1.0 - r_cash) * a,
                non_ai_cash_flow=r_inc * a, cash_buffer=r_buf * a, **same,
                assumptions={"size": f"total assets {a:.2f}B; " + note,
                             "ratios": "named funds' medians: dry powder, buffer, income, back-leverage per asset"},
            ))
            tail_funds.append(name)
            if all_banks and r_bl > 0:
                bank = all_banks[int(rng.integers(len(all_banks)))]
                loan(f"{name} back-leverage ({bank})", name, bank, r_bl * a, rate=0.02, floating=True,
                     maturity=int(rng.integers(24, 49)),
                     assumption="bank line to a synthetic fund, sized by the named funds' median; " + note)
        # every extra bank also writes a line to a random extra fund, sized by the named banks'
        # lines per asset, the fund's debt capped at MAX_FUND_LEVERAGE of its assets; the
        # proceeds are the fund's cash
        if named_banks:
            bank_size = np.array([book.assets(e) for e in named_banks])
            r_lines = book.loans(payer={e["name"] for e in named_funds}, payee={e["name"] for e in named_banks})
            r_lines /= float(bank_size.sum())
            for bank in tail_banks:
                f = book.by_name[tail_funds[int(rng.integers(len(tail_funds)))]]
                size_f = _num(f, "cash") + _num(f, "other_assets")
                room = (MAX_FUND_LEVERAGE * size_f - book.loans(payer={f["name"]})) / (1.0 - MAX_FUND_LEVERAGE)
                amount = min(r_lines * book.assets(book.by_name[bank]), max(room, 0.0))
                if amount > 1e-9:
                    f["cash"] = _num(f, "cash") + amount
                    loan(f"{f['name']} back-leverage ({bank})", f["name"], bank, amount, rate=0.02, floating=True,
                         maturity=int(rng.integers(24, 49)),
                         assumption="line from a synthetic bank, sized by the named banks' lines per asset; " + note)
    lenders = [e["name"] for e in book.entities if e["sector"] in LENDER_SECTORS and _num(e, "lend_rate") > 0]

    # ---- neoclouds: size = GPU book; the rest as the named neoclouds' median ratios to it
    named_neo = book.members("neocloud")
    if named_neo and counts["neoclouds"]:
        size = np.array([_num(e, "gpu") for e in named_neo])
        mu, sigma = _lognormal_fit(size)
        keys = ("cash", "other_assets", "other_liabilities", "opex", "capex", "cash_buffer", "equity_raise")
        ratios = {k: _ratio(named_neo, k, size) for k in keys}
        r_debt = float(np.median(np.array([book.loans(payer={e["name"]}) for e in named_neo]) / size))
        same = {k: _median(named_neo, k, d) for k, d in (
            ("cost_share", 0.2), ("capacity_yield", 0.035), ("utilisation", 0.85), ("gpu_life_months", 72.0),
            ("price_elasticity", 1.0), ("spread", 0.07), ("max_leverage", 0.8))}
        for i, g in enumerate(_truncated_lognormal(rng, counts["neoclouds"], mu, sigma, float(size.min()))):
            name = f"Neocloud LT{i + 1:03d}"
            book.add(dict(
                name=name, sector="neocloud", gpu=float(g), **{k: ratios[k] * g for k in keys}, **same,
                assumptions={"size": f"GPU book {g:.2f}B; " + note,
                             "ratios": "named neoclouds' median ratios to GPU book and median behaviour"},
            ))
            if lenders and r_debt > 0:
                lender = lenders[int(rng.integers(len(lenders)))]
                loan(f"{name} GPU loan ({lender})", name, lender, r_debt * g, rate=same["spread"], floating=True,
                     maturity=int(rng.integers(24, 61)), amortisation="linear", secured=True,
                     assumption="GPU-backed loan sized by the named neoclouds' median debt per GPU book; " + note)
            if hyperscalers:
                buyer = hyperscalers[int(rng.integers(len(hyperscalers)))]
                book.contracts.append(dict(
                    name=f"{buyer}-{name} offtake", kind="offtake", payer=buyer, payee=name,
                    monthly=TAIL_OFFTAKE_SHARE * g * same["capacity_yield"], maturity=int(rng.integers(24, 61)),
                    assumption=f"{TAIL_OFFTAKE_SHARE:.0%} of its capacity sold to a random hyperscaler; " + note,
                ))
    seen = {c["name"] for c in book.contracts[:n_named]}
    for c in book.contracts[n_named:]:  # two lines between the same fund and bank get distinct names
        base, k = c["name"], 1
        while c["name"] in seen:
            k += 1
            c["name"] = f"{base} #{k}"
        seen.add(c["name"])
    return [_plain(e) for e in book.entities], [_plain(c) for c in book.contracts]


def _plain(d: dict) -> dict:
    """NumPy scalars to Python numbers (OmegaConf and json accept only primitive types)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


class ExpandedCalibration:
    """A calibration with its long tail: plain :class:`aisim.schema.EntityConfig` and
    :class:`ContractConfig` records behind one opaque config value.

    OmegaConf builds one node per value, which takes seconds for a few hundred agents and again
    whenever the config is converted; this object is stored whole (OmegaConf's
    ``allow_objects``) and read by attribute like the calibration node it replaces. ``str()`` is
    a canonical JSON dump, so ``sim.runner.config_hash`` still reflects every value.
    """

    def __init__(self, name: str, description: str, entities: list[EntityConfig],
                 contracts: list[ContractConfig], long_tail: LongTailConfig) -> None:
        self.name = name
        self.description = description
        self.entities = tuple(entities)
        self.contracts = tuple(contracts)
        self.long_tail = long_tail

    def __str__(self) -> str:
        return json.dumps(dict(name=self.name, description=self.description, long_tail=asdict(self.long_tail),
                               entities=[asdict(e) for e in self.entities],
                               contracts=[asdict(c) for c in self.contracts]), sort_keys=True, default=str)

    __repr__ = __str__


#: The run config with every group typed ``Any``: it holds an :class:`ExpandedCalibration`
#: where :class:`aisim.schema.Config` has a CalibrationConfig (the other groups keep their types).
LongTailRunConfig = make_dataclass(
    "LongTailRunConfig", [(f.name, Any, field(default=None)) for f in fields(Config)], module=__name__,
)


def with_long_tail(cfg: Any) -> Any:
    """``cfg`` with the long tail of ``calibration.long_tail`` added; ``cfg`` itself when the
    counts are 0 or the tail is already there.

    The result is a new, validated structured config (:data:`LongTailRunConfig`) whose
    ``calibration`` is an :class:`ExpandedCalibration`. The world is a pure function of
    ``cfg.seed`` (``numpy.random.default_rng([seed, LONG_TAIL_STREAM])``).
    """
    lt = cfg.calibration.long_tail
    off = int(lt.neoclouds) + int(lt.private_credit) + int(lt.banks) == 0
    if off or isinstance(cfg.calibration, ExpandedCalibration):
        return cfg
    obj = OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg
    cal = asdict(obj.calibration)
    entities, contracts = build_long_tail(cal, int(obj.seed))
    expanded = ExpandedCalibration(
        cal["name"], cal["description"], [EntityConfig(**e) for e in entities],
        [ContractConfig(**c) for c in contracts], LongTailConfig(**cal["long_tail"]),
    )
    groups = {f.name: expanded if f.name == "calibration" else getattr(obj, f.name) for f in fields(Config)}
    new = OmegaConf.structured(LongTailRunConfig(**groups), flags={"allow_objects": True})
    validate(new)
    return new


# ===================================================================================== targets

YEARS = (2026, 2027, 2028)


@dataclass
class Target:
    """One calibration target: the model's value beside the public figure and its band."""

    group: str  # "start" or the period, e.g. "2026", "2026-28"
    name: str
    model: float
    target: str  # the public figure as text
    low: float  # band the model should fall in (inclusive); nan = no band
    high: float
    unit: str
    source: str
    p05: float = float("nan")  # dynamic targets: 5% and 95% quantiles across paths
    p95: float = float("nan")

    @property
    def ok(self) -> bool | None:
        if math.isnan(self.model):
            return None
        if math.isnan(self.low) and math.isnan(self.high):
            return None
        lo = -math.inf if math.isnan(self.low) else self.low
        hi = math.inf if math.isnan(self.high) else self.high
        return bool(lo <= self.model <= hi)


NAN = float("nan")


def _col(world: World, name: str) -> int | None:
    return world.names.index(name) if name in world.names else None


def _cidx(world: World, *, kind: int | None = None, payer: int | None = None, payee: int | None = None) -> np.ndarray:
    c = world.contracts
    m = np.arange(world.n_contracts) < world.n_calibrated
    if kind is not None:
        m &= c["kind"] == kind
    if payer is not None:
        m &= c["payer"] == payer
    if payee is not None:
        m &= c["payee"] == payee
    return np.flatnonzero(m)


def principal_schedule(world: World, rows: np.ndarray, months: int) -> np.ndarray:
    """(months,) scheduled principal of the loans ``rows``, by month from the start, with bullets
    paid at maturity (no refinancing) and linear loans in equal instalments; the last entry holds
    everything due at or after ``months - 1``."""
    c = world.contracts
    out = np.zeros(months)
    for k in rows:
        a, mat, start = float(c["amount"][k]), int(c["maturity"][k]), int(c["start"][k])
        if c["amort"][k] == LINEAR:
            for m in range(start, start + mat):
                out[min(m, months - 1)] += a / mat
        elif c["amort"][k] == BULLET:
            out[min(start + mat - 1, months - 1)] += a
    return out


def contract_value(world: World, rows: np.ndarray) -> float:
    """Total payments over the life of fixed-payment contracts (monthly x maturity), USD bn."""
    c = world.contracts
    return float(sum(float(c["monthly"][k]) * int(c["maturity"][k]) for k in rows))


def start_revenue(world: World, col: int, base_rate: float = 0.0) -> dict[str, float]:
    """Revenue of a compute provider in the first month at demand and rental index 1, by source.

    Returns {"spot": ..., "backstop": ..., <payer name>: offtake payment, "total": ...} in USD bn a
    month, from the same formulas as :mod:`aisim.kernels.operations` and :mod:`aisim.kernels.contracts`.
    """
    c, p, b = world.contracts, world.params, world.balance
    live = (c["start"] == 0) & (np.arange(world.n_contracts) < world.n_calibrated)
    offt = np.flatnonzero(live & (c["kind"] == OFFTAKE) & (c["payee"] == col))
    y = float(p["capacity_yield"][col])
    committed = sum(float(c["monthly"][k]) for k in offt) / y if y > 0 else 0.0
    spare = max(float(b["gpu"][col]) - committed, 0.0)
    util = min(1.0, float(p["utilisation"][col]))
    gross = spare * y
    out: dict[str, float] = {"spot": gross * util}
    unsold = gross * (1 - util)
    bs = np.flatnonzero(live & (c["kind"] == BACKSTOP) & (c["payee"] == col))
    out["backstop"] = float(sum(min(float(c["monthly"][k]), unsold) for k in bs))
    for k in offt:
        who = world.names[int(c["payer"][k])] if c["payer"][k] < world.n_agents else EXTERNAL
        out[who] = out.get(who, 0.0) + float(c["monthly"][k])
    out["total"] = sum(out.values())
    return out


def start_targets(cfg: Any, world: World) -> list[Target]:
    """Targets on the starting web: exact functions of the calibration file."""
    T: list[Target] = []
    c, p, b = world.contracts, world.params, world.balance
    base = float(cfg.scenario.base_rate.start)

    hs = world.blocks["hyperscaler"]
    if hs.stop > hs.start:
        T.append(Target("start", "hyperscaler capex, annualised", 12 * float(p["capex"][hs].sum()),
                        ">400B/yr (big four ~380B + Oracle, 2025)", 400.0, NAN, "USD bn/yr",
                        "company guidance, Oct 2025 (figures-2025.md, Hyperscalers)"))
    cw = _col(world, "CoreWeave")
    if cw is not None:
        loans = _cidx(world, kind=LOAN, payer=cw)
        T.append(Target("start", "CoreWeave total debt", float(c["amount"][loans].sum()), "~14B (30 Sep 2025)",
                        13.0, 15.0, "USD bn", "Bloomberg; 10-Q debt note + 2031 notes + 2.25B convertible"))
        sched = principal_schedule(world, loans, 48)
        yearly = [sched[0:12].sum(), sched[12:24].sum(), sched[24:36].sum(), sched[36:].sum()]
        later_new = sum(float(c["amount"][k]) for k in loans if "2031" in world.contract_names[k])
        for label, v, tgt in zip(("2026", "2027", "2028"), yearly[:3], (4.22, 2.83, 1.01), strict=True):
            T.append(Target("start", f"CoreWeave principal due {label}", float(v), f"{tgt}B", tgt - 0.05, tgt + 0.05,
                            "USD bn", "10-Q debt note, 30 Jun 2025 (H2 2025 dues taken as paid)"))
        T.append(Target("start", "CoreWeave principal due later (Jun 2025 facilities)", float(yearly[3] - later_new),
                        "2.12B", 2.07, 2.17, "USD bn", "10-Q debt note, 30 Jun 2025"))
        rev = start_revenue(world, cw, base)
        T.append(Target("start", "CoreWeave revenue, annualised", 12 * rev["total"],
                        "Q4 2025 run-rate ~6.0-6.4B (2025 guidance 5.05-5.15B less 3.55B in Q1-Q3)",
                        6.0, 6.4, "USD bn/yr", "Q3 release; 2025 guidance"))
        if "Microsoft" in rev:
            T.append(Target("start", "Microsoft share of CoreWeave revenue", rev["Microsoft"] / rev["total"],
                            "~67% (2025)", 0.65, 0.69, "share", "S-1; 10-Q"))
        for buyer, tgt, src in (("OpenAI", 22.4, "11.9 + 4.0 + 6.5B (corrected from 220B)"),
                                ("Meta", 14.2, "through Dec 2031 (corrected from 140B)")):
            j = _col(world, buyer)
            if j is not None:
                v = contract_value(world, _cidx(world, kind=OFFTAKE, payer=j, payee=cw))
                T.append(Target("start", f"{buyer}-CoreWeave contract value", v, f"{tgt}B", tgt - 0.05, tgt + 0.05,
                                "USD bn", src))
        nv = _col(world, "Nvidia")
        if nv is not None:
            v = contract_value(world, _cidx(world, kind=BACKSTOP, payer=nv, payee=cw))
            T.append(Target("start", "Nvidia-CoreWeave backstop value", v, "6.3B through 2032", 6.25, 6.35, "USD bn",
                            "Sep 2025 (corrected from 60B)"))
            st = _cidx(world, kind=EQUITY, payer=cw, payee=nv)
            T.append(Target("start", "Nvidia stake in CoreWeave", float(c["share"][st].sum()), "~6-7%", 0.06, 0.07,
                            "share", "filings via press"))
        back = contract_value(world, np.concatenate([_cidx(world, kind=OFFTAKE, payee=cw),
                                                     _cidx(world, kind=BACKSTOP, payee=cw)]))
        T.append(Target("start", "CoreWeave backlog (offtakes + backstop)", back, "55.6B (Q3 2025 RPO)", 52.0, 59.0,
                        "USD bn", "Q3 release"))
        leases = _cidx(world, kind=LEASE, payer=cw)
        T.append(Target("start", "CoreWeave lease obligations", contract_value(world, leases), "~39.1B (Q3 2025)",
                        38.0, 40.0, "USD bn", "10-Q"))
        rate = np.where(c["floating"][loans], base + c["rate"][loans], c["rate"][loans])
        T.append(Target("start", "CoreWeave interest, per quarter", 3 * float((c["amount"][loans] * rate).sum()) / 12,
                        "0.311B (Q3 2025)", 0.28, 0.36, "USD bn/qtr", "10-Q"))
        T.append(Target("start", "CoreWeave planned capex, annualised", 12 * float(p["capex"][cw]),
                        "2026 'more than double' 2025's 12-14B", 24.0, 32.0, "USD bn/yr", "Q3 call, Nov 2025"))
    oa = _col(world, "OpenAI")
    if oa is not None:
        T.append(Target("start", "OpenAI revenue, annualised", 12 * float(p["revenue"][oa]), ">20B at end-2025",
                        20.0, 22.0, "USD bn/yr", "company; The Information"))
        for seller, tgt, lo, hi in (("Oracle", "~300B from 2027", 295, 305), ("Microsoft", "~250B", 245, 255),
                                    ("Amazon", "38B (AWS)", 37.5, 38.5), ("CoreWeave", "22.4B", 22.35, 22.45)):
            j = _col(world, seller)
            if j is not None:
                v = contract_value(world, _cidx(world, kind=OFFTAKE, payer=oa, payee=j))
                T.append(Target("start", f"OpenAI commitment to {seller}", v, tgt, lo, hi, "USD bn",
                                "CNBC; WSJ (figures-2025.md, AI labs)"))
        tot = contract_value(world, _cidx(world, kind=OFFTAKE, payer=oa))
        T.append(Target("start", "OpenAI compute commitments modelled", tot,
                        "~1.4T over ~8 years incl. chip deals not modelled as offtakes", 550.0, 1400.0, "USD bn",
                        "CNBC"))
        orc = _col(world, "Oracle")
        rows = _cidx(world, kind=OFFTAKE, payer=oa, payee=orc) if orc is not None else np.zeros(0, np.int64)
        if rows.size:
            first = min(int(c["start"][k]) for k in rows)
            T.append(Target("start", "OpenAI-Oracle first payment month", float(first), "2027 (month 12)", 12, 12,
                            "month", "WSJ"))
    orc = _col(world, "Oracle")
    if orc is not None:
        loans = _cidx(world, kind=LOAN, payer=orc)
        ext = [k for k in loans if c["payee"][k] == world.n_agents]
        banks = [k for k in loans if c["payee"][k] < world.n_agents and world.sectors[int(c["payee"][k])] == "bank"]
        T.append(Target("start", "Oracle bonds and notes", float(c["amount"][ext].sum()), "~101-105B", 101, 105,
                        "USD bn", "results; Reuters"))
        T.append(Target("start", "Oracle bank construction loan", float(c["amount"][banks].sum()), "38B", 37.9, 38.1,
                        "USD bn", "Reuters"))
    hy = _col(world, "Hyperion SPV")
    if hy is not None:
        notes = _cidx(world, kind=LOAN, payer=hy)
        T.append(Target("start", "Hyperion SPV notes", float(c["amount"][notes].sum()), "27.3B due 2049 at ~6.58%",
                        27.25, 27.35, "USD bn", "FT; IFR"))
        pim = _col(world, "Pimco")
        if pim is not None:
            T.append(Target("start", "Hyperion notes held by Pimco",
                            float(c["amount"][_cidx(world, kind=LOAN, payer=hy, payee=pim)].sum()), "~18B", 17.5,
                            18.5, "USD bn", "FT"))
        bo = _col(world, "Blue Owl")
        if bo is not None:
            T.append(Target("start", "Blue Owl equity share in Hyperion",
                            float(c["share"][_cidx(world, kind=EQUITY, payer=hy, payee=bo)].sum()), "80%", 0.8, 0.8,
                            "share", "FT"))
        mt = _col(world, "Meta")
        if mt is not None:
            has = bool(_cidx(world, kind=RVG, payer=mt, payee=hy).size)
            T.append(Target("start", "Meta residual-value guarantee on Hyperion", float(has), "yes", 1, 1, "flag",
                            "FT"))
    nv = _col(world, "Nvidia")
    if nv is not None:
        T.append(Target("start", "Nvidia cash and securities", float(b["cash"][nv] + b["securities"][nv]),
                        "60.6B (Oct 2025)", 60.5, 60.7, "USD bn", "Q3 FY26 release"))
    bk = [i for i, s in enumerate(world.sectors) if s == "bank"]
    pc = [i for i, s in enumerate(world.sectors) if s == "private_credit"]
    if bk and pc:
        lines = _cidx(world, kind=LOAN)
        lines = [k for k in lines if int(c["payer"][k]) in pc and int(c["payee"][k]) in bk]
        T.append(Target("start", "bank lines to the modelled private-credit funds",
                        float(c["amount"][lines].sum()) if lines else 0.0,
                        "~220B system-wide (possibly >2x); the named funds' share", 50.0, 450.0, "USD bn", "FSB"))
        ratios = []
        for i in bk:
            rw = float(b["other_assets"][i]) + float(c["amount"][_cidx(world, kind=LOAN, payee=i)].sum())
            eq = (float(b["cash"][i] + b["securities"][i] + b["other_assets"][i])
                  + float(c["amount"][_cidx(world, kind=LOAN, payee=i)].sum()) - float(b["other_liabilities"][i]))
            ratios.append(eq / rw)
        T.append(Target("start", "bank CET1 ratios (min over named banks)", float(min(ratios)),
                        "13-15% reported (2025)", 0.12, 0.16, "share", "2025 reports (unverified)"))
    return T


# ===================================================================================== dynamic


def simulate_series(
    cfg: Any, world: World, n_paths: int, xp: ModuleType = np, months: int = 36,
) -> dict[str, np.ndarray]:
    """Run the model on ``n_paths`` paths for ``months`` months; monthly series (months, paths).

    Series (USD bn a month unless stated): ``capex_<sector>``; new capex financing ``lend_bank``,
    ``lend_private_credit`` (Pimco excluded), ``lend_bonds`` (Pimco, the bond-market proxy),
    ``equity_capex`` (equity raised for capex) and ``equity_buffer`` (equity compute providers
    raise to restore their cash); CoreWeave's ``cw_revenue`` (spot + offtakes + backstop draws),
    ``cw_revenue_microsoft``, ``cw_capex``, ``cw_debt`` (outstanding, end of month); OpenAI's
    ``oa_revenue`` and ``oa_burn`` (cash used before equity raises); ``alive`` (months, paths,
    agents) bool. The model runs unchanged (``model.step()``); the investment and financing
    phases are observed by wrapping the model's phase methods. Paths run in chunks sized as the
    runner sizes them, and the horizon is ``months`` whatever ``cfg.horizon`` says.
    """
    from aisim.model import AIFinanceModel
    from aisim.runner import chunk_size, release

    if int(cfg.horizon) != months:
        cfg = cfg.copy()
        cfg.horizon = months
    chunk = min(chunk_size(cfg, world), n_paths)
    parts = []
    for a in range(0, n_paths, chunk):
        model = AIFinanceModel(cfg, world, np.arange(a, min(a + chunk, n_paths), dtype=np.int64), xp)
        parts.append(_simulate_chunk(model, world, months))
        release(model)  # free the chunk now (see aisim.runner.release)
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def _simulate_chunk(model: Any, world: World, months: int) -> dict[str, np.ndarray]:
    n_cal = world.n_calibrated
    c = world.contracts
    sectors = np.array(world.sectors)
    compute = [i for i, s in enumerate(world.sectors) if s in COMPUTE_SECTORS]
    fac_sector = sectors[world.facility_lender] if world.facility_lender.size else np.zeros(0, dtype=str)
    pimco = _col(world, "Pimco")
    is_bond = world.facility_lender == pimco if pimco is not None else np.zeros(fac_sector.shape, dtype=bool)
    cw, oa, ms = _col(world, "CoreWeave"), _col(world, "OpenAI"), _col(world, "Microsoft")
    rec: dict[str, list[np.ndarray]] = {}
    box: dict[str, Any] = {}

    def put(key: str, v: Any) -> None:
        rec.setdefault(key, []).append(np.array(to_numpy(v), dtype=float if key != "alive" else bool))

    def wrap(phase: str) -> None:
        orig = getattr(model, f"phase_{phase}")

        def observed() -> None:
            box[f"before_{phase}"] = model.state
            orig()
            box[f"after_{phase}"] = model.state

        setattr(model, f"phase_{phase}", observed)

    for ph in ("investment", "financing"):
        wrap(ph)
    settle = model.phase_settlement

    def observed_settlement() -> None:
        # what offtakes and backstops owe this month (they do not depend on refinancing)
        st = model.state
        ok = model.xp.ones(st.outstanding.shape, dtype=model.xp.bool)
        box["payments_due"] = to_numpy(kcontracts.scheduled_dues(
            model.xp, model.book, st, model.scratch["unsold"], st.gpu, ok).payment)
        settle()

    model.phase_settlement = observed_settlement
    if cw is not None:
        cw_in = np.flatnonzero(((c["kind"] == OFFTAKE) | (c["kind"] == BACKSTOP)) & (c["payee"] == cw))
        cw_ms = cw_in[c["payer"][cw_in] == ms] if ms is not None else cw_in[:0]
        cw_debt = np.flatnonzero((c["kind"] == LOAN) & (c["payer"] == cw))
    for _ in range(months):
        cash0 = to_numpy(model.state.cash).copy()
        model.step()
        s, sc = model.state, model.scratch
        capex = to_numpy(sc["capex"])
        for sector in COMPUTE_SECTORS:
            put(f"capex_{sector}", capex[:, world.blocks[sector]].sum(axis=1))
        new = (to_numpy(box["after_investment"].outstanding)[:, n_cal:]
               - to_numpy(box["before_investment"].outstanding)[:, n_cal:])
        new = np.maximum(new, 0.0)
        put("lend_bank", new[:, fac_sector == "bank"].sum(axis=1))
        put("lend_private_credit", new[:, (fac_sector == "private_credit") & ~is_bond].sum(axis=1))
        put("lend_bonds", new[:, is_bond].sum(axis=1))
        d_fin = to_numpy(box["after_financing"].cash) - to_numpy(box["before_financing"].cash)
        put("equity_capex", to_numpy(sc["raised"])[:, compute].sum(axis=1))
        put("equity_buffer", np.maximum(d_fin[:, compute], 0.0).sum(axis=1))
        alive = to_numpy(s.alive)
        put("alive", alive)
        # paid = due, except by payers that could not pay in full (they default this month)
        short = np.concatenate([to_numpy(sc["illiquid"]), np.zeros((alive.shape[0], 1), dtype=bool)], axis=1)
        paid = box["payments_due"] * ~short[:, c["payer"]]
        ai_rev = to_numpy(sc["ai_revenue"])
        if cw is not None:
            put("cw_revenue", ai_rev[:, cw] + paid[:, cw_in].sum(axis=1))
            put("cw_revenue_microsoft", paid[:, cw_ms].sum(axis=1))
            put("cw_capex", capex[:, cw])
            live = to_numpy(s.c_alive)[:, cw_debt]
            put("cw_debt", (to_numpy(s.outstanding)[:, cw_debt] * live).sum(axis=1))
        if oa is not None:
            put("oa_revenue", ai_rev[:, oa])
            burn = -((to_numpy(s.cash)[:, oa] - cash0[:, oa]) - d_fin[:, oa])
            put("oa_burn", np.where(alive[:, oa], burn, 0.0))
    return {k: np.stack(v) for k, v in rec.items()}


def _annual(x: np.ndarray, year: int) -> np.ndarray:
    """(paths,) sum over the months of ``year`` (2026 = months 0-11); nan if not simulated."""
    k = year - YEARS[0]
    if x.shape[0] < 12 * (k + 1):
        return np.full(x.shape[1], np.nan)
    return x[12 * k: 12 * (k + 1)].sum(axis=0)


def _dyn(group: str, name: str, v: Any, target: str, low: float, high: float, unit: str, source: str) -> Target:
    v = np.asarray(v, dtype=float)
    if v.size == 0 or bool(np.all(np.isnan(v))):
        return Target(group, name, NAN, target, low, high, unit, source)
    return Target(group, name, float(np.nanmean(v)), target, low, high, unit, source,
                  p05=float(np.nanquantile(v, 0.05)), p95=float(np.nanquantile(v, 0.95)))


#: External financing of data-centre capex in 2025 (not simulated), USD bn: hyperscaler bonds
#: 121B (BofA) + AI data-centre project finance 125B (UBS) + data-centre ABS 13.3B (BofA);
#: overlaps between them are ignored.
EXTERNAL_FINANCING_2025 = 121.0 + 125.0 + 13.3
#: AI capex of the modelled compute providers in 2025 (not simulated), USD bn: hyperscalers
#: ~410B (">400B", company guidance) + CoreWeave ~13B (12-14B) + the other neoclouds ~10B
#: (assumption).
AI_CAPEX_2025 = 410.0 + 13.0 + 10.0
#: Bands of the dynamic targets (docs/calibration.md explains each).
BANDS = {
    "hyperscaler capex": (400.0, 1200.0),
    "AI capex 2025-28": (1450.0, 5800.0),
    "CoreWeave revenue": {2026: (8.0, 16.0), 2027: (10.0, 30.0), 2028: (10.0, 40.0)},
    "CoreWeave capex 2026": (20.0, 45.0),
    "CoreWeave debt": (14.0, 90.0),
    "Microsoft share": {2026: (0.25, 0.60), 2028: (0.10, 0.45)},
    "CoreWeave PD": (0.01, 0.55),
    "OpenAI revenue": {2026: (20.0, 40.0), 2027: (25.0, 70.0), 2028: (30.0, 110.0)},
    "OpenAI burn": (50.0, 200.0),
    "private-credit share": (0.27, 0.80),
    "external financing": (750.0, 3000.0),
    "hyperscaler PD": (0.0, 0.01),
    "bank PD": (0.0, 0.01),
}


def dynamic_targets(cfg: Any, world: World, n_paths: int = 200, xp: ModuleType = np) -> list[Target]:
    """Targets over 2026-2028 from ``n_paths`` simulated paths (means, with p05-p95)."""
    S = simulate_series(cfg, world, n_paths, xp, months=36)
    T: list[Target] = []
    B = BANDS
    hs = S["capex_hyperscaler"]
    for y in YEARS:
        T.append(_dyn(str(y), "hyperscaler capex", _annual(hs, y), ">400B/yr", *B["hyperscaler capex"], "USD bn/yr",
                      "company guidance (>400B in 2025); Morgan Stanley 2.9T over 2025-28"))
    ai = hs + S["capex_neocloud"]
    T.append(_dyn("2025-28", "AI capex of the modelled compute providers",
                  AI_CAPEX_2025 + sum(_annual(ai, y) for y in YEARS), "2.9T data-centre capex 2025-28 (global)",
                  *B["AI capex 2025-28"], "USD bn",
                  f"Morgan Stanley; model 2026-28 + {AI_CAPEX_2025:.0f}B for 2025 (guidance)"))
    alive_end = S["alive"][-1]
    if "cw_revenue" in S:
        for y in YEARS:
            T.append(_dyn(str(y), "CoreWeave revenue", _annual(S["cw_revenue"], y),
                          "backlog 55.6B converting; 2025 5.1B", *B["CoreWeave revenue"][y], "USD bn/yr",
                          "Q3 release; conversion assumed (docs/calibration.md)"))
        T.append(_dyn("2026", "CoreWeave capex", _annual(S["cw_capex"], 2026), "'more than double' 12-14B",
                      *B["CoreWeave capex 2026"], "USD bn/yr", "Q3 call, Nov 2025"))
        for y in YEARS:
            k = 12 * (y - YEARS[0]) + 11
            T.append(_dyn(str(y), "CoreWeave debt at year end (if alive)",
                          np.where(S["alive"][k][:, world.column("CoreWeave")], S["cw_debt"][k], np.nan),
                          "~14B at Sep 2025, growing with capex", *B["CoreWeave debt"], "USD bn",
                          "Bloomberg; band assumed (docs/calibration.md)"))
        for y in (2026, 2028):
            r, m = _annual(S["cw_revenue"], y), _annual(S["cw_revenue_microsoft"], y)
            share = np.where(r > 0, m / np.where(r > 0, r, 1.0), np.nan)
            T.append(_dyn(str(y), "Microsoft share of CoreWeave revenue", share,
                          "67% (2025), falling as OpenAI and Meta ramp; no customer above ~35% of backlog",
                          *B["Microsoft share"][y], "share", "S-1; 10-Q; Q3 release"))
        dead = ~alive_end[:, world.column("CoreWeave")]
        T.append(_dyn("2026-28", "CoreWeave default probability", dead,
                      "5y CDS 368-643bp (Oct-Dec 2025): ~25% risk-neutral over 3 years", *B["CoreWeave PD"],
                      "probability", "Bloomberg CDS; band assumed"))
    if "oa_revenue" in S:
        for y in YEARS:
            T.append(_dyn(str(y), "OpenAI revenue", _annual(S["oa_revenue"], y),
                          "13B (2025), >20B run-rate at end-2025", *B["OpenAI revenue"][y], "USD bn/yr",
                          "company; The Information; growth assumed"))
        T.append(_dyn("2026-28", "OpenAI cash burn", sum(_annual(S["oa_burn"], y) for y in YEARS),
                      "~115B through 2029 (2025: 8.5B)", *B["OpenAI burn"], "USD bn",
                      "The Information; split over years assumed"))
        T.append(_dyn("2026-28", "OpenAI default probability", ~alive_end[:, world.column("OpenAI")],
                      "no public figure (unrated)", NAN, NAN, "probability", "model outcome, shown for reference"))
    loans = {k: sum(_annual(S[f"lend_{k}"], y) for y in YEARS) for k in ("bank", "private_credit", "bonds")}
    equity = sum(_annual(S["equity_capex"] + S["equity_buffer"], y) for y in YEARS)
    ext = loans["bank"] + loans["private_credit"] + loans["bonds"] + equity
    safe = np.where(ext > 0, ext, 1.0)
    T.append(_dyn("2026-28", "private-credit share of external capex financing",
                  np.where(ext > 0, loans["private_credit"] / safe, np.nan), "~53% (0.8T of the 1.5T gap)",
                  *B["private-credit share"], "share", "Morgan Stanley, Jul 2025"))
    for key, label, figure, src in (
        ("bank", "bank loans", "AI data-centre project finance 125B in 2025", "UBS; shown for reference"),
        ("bonds", "bond/ABS investors (Pimco)", "corporate bonds 0.2T + ABS 0.15T of 1.5T (23%)",
         "Morgan Stanley; shown for reference"),
    ):
        T.append(_dyn("2026-28", f"{label} share of external capex financing",
                      np.where(ext > 0, loans[key] / safe, np.nan), figure, NAN, NAN, "share", src))
    T.append(_dyn("2026-28", "equity share of external capex financing", np.where(ext > 0, equity / safe, np.nan),
                  "PE/sovereign 0.35T of 1.5T (23%)", NAN, NAN, "share", "Morgan Stanley; shown for reference"))
    T.append(_dyn("2025-28", "external financing of AI capex", EXTERNAL_FINANCING_2025 + ext, "1.5T gap 2025-28",
                  *B["external financing"], "USD bn",
                  f"Morgan Stanley; model 2026-28 + {EXTERNAL_FINANCING_2025:.0f}B for 2025 (BofA, UBS)"))
    for sector, label in (("hyperscaler", "hyperscaler PD"), ("bank", "bank PD")):
        cols = world.blocks[sector]
        if cols.stop > cols.start:
            T.append(_dyn("2026-28", f"P(a {sector} defaults)", (~alive_end[:, cols]).any(axis=1), "investment grade",
                          *B[label], "probability", "ratings (figures-2025.md); band assumed"))
    return T


def world_of(cfg: Any) -> World:
    """The world of ``cfg`` (long tail included), built as :func:`aisim.runner.run` builds it."""
    cfg = with_long_tail(cfg)
    return build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                       regime=cfg.regime, covenants=cfg.covenants)


def calibration_report(cfg: Any, n_paths: int = 200, xp: ModuleType = np) -> pd.DataFrame:
    """The report table: start targets and 2026-2028 targets from ``n_paths`` paths.

    Columns: group (start or period), target_name, model, p05, p95, target (the public figure),
    low, high (the band), unit, ok (None where there is no band), source.
    """
    validate(cfg)
    cfg = with_long_tail(cfg)
    world = world_of(cfg)
    targets = start_targets(cfg, world) + dynamic_targets(cfg, world, int(n_paths), xp)
    rows = [dict(group=t.group, target_name=t.name, model=t.model, p05=t.p05, p95=t.p95, target=t.target,
                 low=t.low, high=t.high, unit=t.unit, ok=t.ok, source=t.source) for t in targets]
    return pd.DataFrame(rows)


def _fmt(v: float, unit: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if unit in ("share", "probability"):
        return f"{100 * v:.1f}%"
    if unit in ("flag",):
        return "yes" if v >= 0.5 else "no"
    if unit == "month":
        return f"{v:.0f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"


def report_markdown(df: pd.DataFrame, header: str = "") -> str:
    """A Markdown table of the report (one row per target)."""
    lines = [header] if header else []
    lines += ["| period | target | model | p05-p95 | public figure | band | ok | source |",
              "|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        band = f"{_fmt(r.low, r.unit)} to {_fmt(r.high, r.unit)}"
        spread = "" if math.isnan(r.p05) else f"{_fmt(r.p05, r.unit)} to {_fmt(r.p95, r.unit)}"
        ok = {True: "yes", False: "**NO**", None: ""}[r.ok]
        lines.append(f"| {r.group} | {r.target_name} | {_fmt(r.model, r.unit)} | {spread} | {r.target} | {band} | {ok} "
                     f"| {r.source} |")
    return "\n".join(lines)
