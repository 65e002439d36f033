"""The synthetic long tail: many small neoclouds, private-credit funds and banks beside the named ones.

:func:`with_long_tail` adds ``calibration.long_tail`` counts of extra neoclouds, private-credit
funds and banks to a config; :func:`world_of` builds the world of a config with its tail, as
:func:`aisim.runner.run` does. Every run goes through here (the tail is off by default).

The extra agents' sizes are drawn from log-normal distributions fitted to the named members of
each sector and truncated below the smallest of them (the named ones are the largest; the tail
is the rest of the distribution). Their other balance-sheet items and behaviour follow the named
members' median ratios to size. Each extra agent is wired to the named network: an extra
neocloud borrows from a random lender and sells part of its capacity to a random hyperscaler; an
extra fund gets a back-leverage line from a random bank; an extra bank writes a back-leverage
line to a random fund. The draws come from ``numpy.random.default_rng([seed, LONG_TAIL_STREAM])``:
the world is a pure function of the seed, the same for every path, chunk and backend.

Sizes, ratios and wiring are documented in docs/calibration.md ("The synthetic long tail").
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, field, fields, make_dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from aisim.schema import LENDER_SECTORS, Config, ContractConfig, EntityConfig, LongTailConfig, long_tail_size, validate
from aisim.world import World, build_world, jv_terms, syndicate_size

#: Fixed stream constant of the long tail's random numbers ("LTAI"); the macro paths use
#: kernels.rng's counter-based streams, so the two never overlap.
LONG_TAIL_STREAM = 0x4C544149
#: Most debt / assets of a synthetic fund after the extra banks' lines.
MAX_FUND_LEVERAGE = 0.3
#: Share of a synthetic neocloud's capacity sold forward to a random hyperscaler.
TAIL_OFFTAKE_SHARE = 0.3


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
        return long_tail_size(e, self.contracts, "assets")

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
        size = np.array([long_tail_size(e, book.contracts, "gpu") for e in named_neo])
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
    a canonical JSON dump, so ``aisim.runner.config_hash`` still reflects every value.
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
    # the used-GPU market absorbs the tail's GPUs too: its depth scales with the GPU book it holds
    named_gpu = sum(_num(e, "gpu") for e in cal["entities"])
    total_gpu = sum(_num(e, "gpu") for e in entities)
    if named_gpu > 0 and total_gpu > named_gpu:
        groups["collateral"] = replace(obj.collateral, depth=obj.collateral.depth * depth_scale(named_gpu, total_gpu))
    new = OmegaConf.structured(LongTailRunConfig(**groups), flags={"allow_objects": True})
    validate(new)
    return new


def depth_scale(named_gpu: float, total_gpu: float) -> float:
    """Factor on ``collateral.depth`` with a long tail: (GPU book with the tail) / (named GPU book),
    both USD bn at month 0, so a fire sale of a given share of the GPU stock moves the used-GPU
    price as much with the tail as without (docs/calibration.md, "The synthetic long tail")."""
    return total_gpu / named_gpu if named_gpu > 0 else 1.0


def world_of(cfg: Any) -> World:
    """The world of ``cfg`` (long tail included), built as :func:`aisim.runner.run` builds it."""
    cfg = with_long_tail(cfg)
    return build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                       regime=cfg.regime, covenants=cfg.covenants, syndicate=syndicate_size(cfg), jv=jv_terms(cfg))
