"""Property tests over random small worlds, shocks, regimes and channel switches.

Hypothesis builds random calibrations -- 2 to 8 entities across the sectors, random balance
sheets and behaviour (funds with redemption parameters), random contracts of every kind between
them and ``external`` (secured loans with their own LTV covenants, bank NAV lines to funds) --
random scenarios (equity freezes, offtake exits, rate jumps), random regimes (capital and
leverage requirements, countercyclical buffers, risk weights, large-exposure and concentration
limits, fund caps, buffers and gates, SPV consolidation, GPU collateral rules) and random
clearing, collateral, covenant and market parameters, merged onto the real composed config.
Each world runs 12-24 months on a few paths, and every month:

* assets = liabilities + equity for every agent, and cash is conserved once the external
  sector is counted (:func:`aisim.kernels.accounting.identity_residual`), to 1e-9 relative;
* cash is never negative beyond rounding; securities and GPU books never negative;
* defaulted agents have empty balance sheets, stay dead, keep their default month and cause,
  and are party to no live contract except loans they held (the external sector's now) and,
  with contract contagion off, the obligations a replacement counterparty took over;
* ended contracts stay ended, with nothing outstanding; credit losses never decrease;
* the per-agent reference (tests/reference.py) agrees with the model on one path.

The identities run with every channel on and with random switches; the reference comparison
with random switches.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from aisim.kernels.accounting import identity_residual
from aisim.kernels.state import LOAN, replaceable
from aisim.model import AIFinanceModel
from aisim.schema import (
    COMPUTE_SECTORS,
    CONTRACT_KINDS,
    EXTERNAL,
    SECTORS,
    EntityConfig,
    validate,
)
from tests.conftest import make_cfg
from tests.reference import CHANNELS, ReferenceModel, compare

PATHS = 3
MAX_HORIZON = 24
TOL = 1e-9
CASH_TOL = 1e-12  # cash may end a settlement one rounding error below zero
# hypothesis likes extreme values: a due of ~1e-300 makes cash / due overflow to inf, which the
# kernels' min(..., 1) then handles correctly; the warning is noise here
QUIET = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
# more examples for a deeper search: AISIM_PROPERTY_EXAMPLES=500 pytest tests/test_properties.py
EXAMPLES = int(os.environ.get("AISIM_PROPERTY_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def _base_cfg() -> Any:
    return make_cfg("calibration=mini", f"paths.n={PATHS}", f"horizon={MAX_HORIZON}", "backend=numpy",
                    "output.progress=false")


def _money(hi: float) -> st.SearchStrategy[float]:
    """Zero a third of the time, else up to ``hi``."""
    pos = st.floats(0.01, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return st.one_of(st.just(0.0), pos, pos)


def _unit(lo: float = 0.0, hi: float = 1.0) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _or(default: float, lo: float, hi: float) -> st.SearchStrategy[float]:
    """The schema's default half of the time, else in [lo, hi]."""
    return st.one_of(st.just(default), _unit(lo, hi))


@st.composite
def entities(draw: Any, n: int) -> list[dict]:
    # most worlds have the core of the web -- a compute provider, a fund, a bank, a chipmaker -- so
    # that investment, new lending, back-leverage and chip sales happen; the rest are random
    core = [COMPUTE_SECTORS, ("private_credit",), ("bank",), ("chipmaker",)] if draw(st.integers(0, 3)) else []
    out = []
    for i in range(n):
        sector = draw(st.sampled_from(core[i] if i < len(core) else SECTORS))
        e = dict(
            name=f"E{i}", sector=sector,
            cash=draw(st.one_of(st.just(0.0), *[_unit(0.5, 60.0)] * 5)), securities=draw(_money(20.0)),
            gpu=draw(_money(40.0)), other_assets=draw(_money(40.0)),
            revenue=draw(_money(1.5)), non_ai_cash_flow=draw(_money(1.0)), opex=draw(_money(0.6)),
            cost_share=draw(_unit(0.0, 0.6)), capacity_yield=draw(_money(0.05)),
            utilisation=draw(_unit()), gpu_life_months=draw(st.floats(6.0, 120.0)),
            capex=draw(_money(1.5)), price_elasticity=draw(_unit(0.0, 2.0)), chip_share=draw(_unit()),
            cash_buffer=draw(_money(8.0)), equity_raise=draw(_money(1.5)), payout=draw(_unit(0.0, 0.3)),
            spread=draw(_unit(0.0, 0.1)), max_leverage=draw(_unit(0.2, 1.0)), lend_rate=draw(_unit(0.0, 0.3)),
        )
        if sector == "private_credit":  # semi-liquid funds: LP redemptions
            e["redemption_base"] = draw(_or(0.0, 0.0, 0.1))
            e["redemption_sensitivity"] = draw(_or(0.0, 0.0, 5.0))
        # other liabilities as a share of the other assets: now and then more than all of them
        gross = e["cash"] + e["securities"] + e["gpu"] + e["other_assets"]
        e["other_liabilities"] = draw(_unit(0.0, 1.1)) * gross
        out.append(e)
    return out


@st.composite
def contracts(draw: Any, ents: list[dict]) -> list[dict]:
    names = [e["name"] for e in ents]
    gross = {e["name"]: e["cash"] + e["securities"] + e["gpu"] + e["other_assets"] for e in ents}
    compute = [e["name"] for e in ents if e["sector"] in COMPUTE_SECTORS]
    parties = [*names, EXTERNAL]
    out: list[dict] = []
    for k in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from((*CONTRACT_KINDS, "loan")))  # loans twice as often
        # equity: investee -> holder, both entities; backstop and rvg pay an entity; backstops
        # mostly protect compute providers, the only sellers of spot capacity
        payer = draw(st.sampled_from(names if kind == "equity" else parties))
        allowed = names if kind in ("equity", "rvg") else parties
        if kind == "backstop":
            allowed = compute if compute and draw(st.booleans()) else names
        payees = [p for p in allowed if p != payer]
        if not payees:
            continue
        out.append(dict(
            name=f"C{k}", kind=kind, payer=payer, payee=draw(st.sampled_from(payees)),
            # loans: a share of the borrower's assets (outside lenders to external: any size)
            amount=draw(_unit(0.0, 0.8)) * gross.get(payer, 30.0), monthly=draw(_money(0.8)),
            rate=draw(_unit(0.0, 0.15)),
            floating=draw(st.booleans()), maturity=draw(st.integers(1, 30)),
            amortisation=draw(st.sampled_from(["bullet", "linear"])), start=draw(st.integers(0, 6)),
            share=draw(_unit(0.0, 0.6)) if kind == "equity" else 0.0, secured=draw(st.booleans()),
            refinance=draw(st.sampled_from([True, True, False])),
            ltv_max=draw(_or(0.0, 0.1, 1.5)),  # 0: covenants.ltv_max
        ))
    # bank back-leverage lines to funds, with a NAV trigger
    funds = [e["name"] for e in ents if e["sector"] == "private_credit"]
    banks = [e["name"] for e in ents if e["sector"] == "bank"]
    if funds and banks and draw(st.booleans()):
        fund = draw(st.sampled_from(funds))
        out.append(dict(
            name="NAV line", kind="loan", payer=fund, payee=draw(st.sampled_from(banks)),
            amount=draw(_unit(0.0, 0.8)) * gross[fund], rate=draw(_unit(0.0, 0.1)), floating=draw(st.booleans()),
            maturity=draw(st.integers(1, 30)), ltv_max=draw(_or(0.0, 0.1, 1.0)),
        ))
    # an investee's stakes add up to at most one (the schema rejects more)
    total: dict[str, float] = {}
    for c in out:
        if c["kind"] == "equity":
            total[c["payer"]] = total.get(c["payer"], 0.0) + c["share"]
    for c in out:
        if c["kind"] == "equity" and total[c["payer"]] > 1.0:
            c["share"] /= total[c["payer"]]
    return out


@st.composite
def regimes(draw: Any) -> dict:
    return {
        "capital_requirement": draw(_unit(0.0, 0.3)),
        "countercyclical_buffer": draw(_or(0.0, 0.0, 0.05)),
        "release_buffer_in_stress": draw(st.booleans()),
        "risk_weights": {
            "ai_loans": draw(_or(1.0, 0.0, 2.0)), "nbfi_loans": draw(_or(1.0, 0.0, 2.0)),
            "spv_loans": draw(_or(1.0, 0.0, 2.0)), "other_assets": draw(_or(1.0, 0.0, 1.5)),
            "securities": draw(_or(0.0, 0.0, 0.5)), "equity_stakes": draw(_or(2.5, 0.0, 4.0)),
        },
        "leverage_requirement": draw(_or(0.04, 0.0, 0.1)),
        "large_exposure_limit": draw(_or(0.25, 0.0, 1.0)),
        "ai_concentration_limit": draw(_or(0.0, 0.0, 2.0)),
        "deleveraging_speed": draw(_or(0.05, 0.0, 1.0)),
        "fund_leverage_cap": draw(_or(0.0, 0.1, 3.0)),
        "fund_liquidity_buffer": draw(_or(0.0, 0.0, 0.3)),
        "fund_redemption_gate": draw(_or(1.0, 0.0, 0.2)),
        "spv_consolidation": draw(st.booleans()),
        "gpu_haircut_floor": draw(_or(0.0, 0.0, 0.6)),
        "gpu_valuation_life_months": draw(_or(0.0, 6.0, 120.0)),
        "gpu_ltv_cap": draw(_or(0.0, 0.1, 1.5)),
    }


@st.composite
def worlds(draw: Any, switches: bool = False) -> dict:
    """A random calibration, scenario and regime, as overrides of the real composed config;
    with ``switches``, random channel switches too (else all on)."""
    n = draw(st.integers(2, 8))
    ents = draw(entities(n))
    horizon = draw(st.integers(12, MAX_HORIZON))
    names = [e["name"] for e in ents]
    scenario: dict[str, Any] = {
        "demand": {"drift": draw(_unit(-0.06, 0.04)), "vol": draw(_unit(0.0, 0.15))},
        "rental_price": {"drift": draw(_unit(-0.08, 0.03)), "vol": draw(_unit(0.0, 0.15))},
        "price_demand_beta": draw(_unit(0.0, 1.5)),
        "base_rate": {"vol": draw(_unit(0.0, 0.01))},
        "expectation_weight": draw(_unit(0.05, 1.0)),
        "sentiment": draw(_unit(0.0, 1.5)),
        "equity_freeze_sectors": draw(st.lists(st.sampled_from(SECTORS), max_size=3, unique=True)),
        "equity_freeze_from": draw(st.integers(0, 12)), "equity_freeze_months": draw(st.integers(0, 12)),
    }
    if draw(st.booleans()):
        scenario["base_rate"]["jumps"] = {draw(st.integers(0, horizon - 1)): draw(_unit(-0.02, 0.03))}
    if draw(st.booleans()):
        scenario["offtake_exits"] = {draw(st.sampled_from(names)): draw(st.integers(0, horizon - 1))}
    spec = {
        "horizon": horizon,
        "seed": draw(st.integers(0, 2**31 - 1)),
        "calibration": {"name": "random", "entities": ents, "contracts": draw(contracts(ents))},
        "scenario": scenario,
        "regime": draw(regimes()),
        "investment": {
            "refinance_term": draw(st.integers(1, 24)), "loan_term": draw(st.integers(1, 60)),
            "recovery_gpu": draw(_unit()), "recovery_other": draw(_unit()),
        },
        "clearing": {"alpha": draw(_or(1.0, 0.2, 1.0)), "beta": draw(_or(1.0, 0.2, 1.0))},
        "collateral": {"impact": draw(st.sampled_from(["exponential", "linear"])),
                       "depth": draw(_unit(5.0, 200.0)), "recovery": draw(_unit(0.0, 0.5)),
                       "valuation_life_months": draw(_unit(6.0, 120.0))},
        "covenants": {"ltv_max": draw(_unit(0.2, 1.5)), "cure_share": draw(_unit())},
        "market": {"spread_per_loss": draw(_unit(0.0, 2.0)), "sentiment_per_loss": draw(_unit(0.0, 10.0)),
                   "sentiment_per_default": draw(_unit(0.0, 0.5)), "recovery": draw(_unit()),
                   "loan_sale_haircut": draw(_unit(0.0, 0.5))},
    }
    if switches:
        spec["channels"] = {c: draw(st.booleans()) for c in CHANNELS}
    return spec


def build_cfg(spec: dict) -> Any:
    """Merge a random world onto the composed config: the schema types every key (entities and
    contracts become :class:`aisim.schema.EntityConfig` / :class:`ContractConfig`), then the
    model's own validation runs."""
    base = copy.deepcopy(_base_cfg())
    OmegaConf.set_struct(base, False)  # new keys of the scenario's dictionaries (exits, jumps)
    cfg = OmegaConf.unsafe_merge(base, spec)
    OmegaConf.set_struct(cfg, True)
    assert OmegaConf.get_type(cfg.calibration.entities[0]) is EntityConfig
    validate(cfg)
    return cfg


def _simulate(spec: dict, check_reference: bool) -> None:
    cfg = build_cfg(spec)
    model = AIFinanceModel(cfg, None, np.arange(PATHS), np)
    book = model.book
    loan = np.asarray(book.kind) == LOAN
    taken_over = np.asarray(replaceable(book)) & (not bool(cfg.channels.contract_contagion))
    payer, payee = np.asarray(book.payer), np.asarray(book.payee)
    ref = ReferenceModel(cfg, model.world) if check_reference else None
    ref_state = ref.initial_state() if ref is not None else None
    prev = model.state
    scale = np.maximum(1.0, np.abs(np.asarray(model.total_cash0)))[:, None]
    for t in range(int(cfg.horizon)):
        model.step()
        s = model.state
        bs_res, cash_res = identity_residual(np, book, s, model.total_cash0)
        assert np.all(bs_res <= TOL), f"month {t}: balance sheet residual {bs_res.max():.3e}"
        assert np.all(cash_res <= TOL), f"month {t}: cash conservation residual {cash_res.max():.3e}"
        assert np.all(s.cash >= -CASH_TOL * scale), f"month {t}: negative cash {s.cash.min():.3e}"
        assert np.all(s.securities >= 0.0) and np.all(s.gpu >= 0.0)
        assert np.all(s.other_assets >= 0.0), f"month {t}: negative other assets"
        # the dead
        dead = ~s.alive
        assert not np.any(s.alive & ~prev.alive), f"month {t}: an agent came back to life"
        for f in ("cash", "securities", "gpu", "other_assets", "other_liab", "equity"):
            assert np.all(np.where(dead, getattr(s, f), 0.0) == 0.0), f"month {t}: dead agent with {f}"
        assert np.all(np.where(dead, (s.default_month >= 0) & (s.default_month <= t), s.default_month == -1))
        assert np.all(np.where(dead, s.default_cause > 0, s.default_cause == 0))
        was_dead = ~prev.alive
        assert np.all(np.where(was_dead, s.default_month == prev.default_month, True))
        party_dead = np.concatenate([dead, np.zeros((PATHS, 1), dtype=bool)], axis=1)
        dead_payer = party_dead[:, payer]
        dead_payee = party_dead[:, payee]
        owed_by_dead = s.c_alive & dead_payer & ~taken_over[None, :]
        assert not np.any(owed_by_dead), f"month {t}: a live contract owed by the dead"
        assert not np.any(s.c_alive & dead_payee & ~loan[None, :]), f"month {t}: a live non-loan to the dead"
        # contracts
        assert not np.any(s.c_alive & ~prev.c_alive), f"month {t}: an ended contract came back"
        assert np.all(np.where(~s.c_alive, s.outstanding == 0.0, True)), f"month {t}: ended with outstanding"
        assert np.all(np.where(loan[None, :], s.outstanding >= 0.0, True))
        assert np.all(s.credit_loss >= prev.credit_loss - 1e-12), f"month {t}: credit losses fell"
        if ref is not None:
            ref_state, _ = ref.step(ref_state, 0)
            bad = compare(ref_state, s, 0, TOL)
            assert not bad, f"month {t}: reference differs: " + "; ".join(bad[:6])
        prev = s


@QUIET
@SETTINGS
@given(worlds())
def test_identities_and_invariants_hold_in_random_worlds(spec: dict) -> None:
    _simulate(spec, check_reference=False)


@QUIET
@SETTINGS
@given(worlds(switches=True))
def test_identities_and_invariants_hold_with_random_channel_switches(spec: dict) -> None:
    _simulate(spec, check_reference=False)


@QUIET
@settings(max_examples=EXAMPLES + 5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(switches=True))
def test_reference_agrees_in_random_worlds(spec: dict) -> None:
    _simulate(spec, check_reference=True)
