"""The financial sector transmits: banks' capital falls in stress (channel ``bank_capital``).

Shrunken but real configs: the ai_2025 calibration, few paths, the default horizon.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from aisim.kernels import bank_capital
from aisim.kernels.bank_capital import BankCapitalParams
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

PATHS = 6


@functools.cache
def _run(scenario: str, *overrides: str) -> AIFinanceModel:
    cfg = make_cfg(f"paths.n={PATHS}", f"scenario={scenario}", "backend=numpy", "output.progress=false", *overrides)
    m = AIFinanceModel(cfg, None, np.arange(PATHS), np)
    for _ in range(int(cfg.horizon)):
        m.step()
    return m


def _banks(m: AIFinanceModel) -> list[int]:
    return [j for j, e in enumerate(m.world.entities) if e.sector == "bank"]


def test_excess_loss_rate_is_zero_at_the_reference_and_dfast_sized_in_severe() -> None:
    p = BankCapitalParams()
    calm = bank_capital.excess_loss_rate(np, np.array([1.0, 1.2]), np.array([0.0375, 0.03]), p)
    assert np.all(calm == 0.0)
    severe = bank_capital.excess_loss_rate(np, np.array([0.7]), np.array([0.0575]), p)[0]
    # DFAST severely adverse: ~6-7% of loans over nine quarters, ~0.6%/yr of it normal
    nine_quarters = (severe + p.base_loss) * 2.25
    assert 0.04 < nine_quarters < 0.08
    deep = bank_capital.excess_loss_rate(np, np.array([0.0]), np.array([0.2]), p)[0]
    assert deep == p.loss_cap


@pytest.mark.parametrize(("ratio", "share"), [(0.11, 1.0), (0.105, 1.0), (0.10, 0.6), (0.085, 0.4),
                                              (0.07, 0.2), (0.06, 0.0), (0.03, 0.0)])
def test_conservation_buffer_restricts_payouts_by_quartile(ratio: float, share: float) -> None:
    # requirement 10.5%, minimum 4.5%: a 6pp buffer zone in quarters of 1.5pp
    got = bank_capital.payout_share(np, np.array([[ratio]]), np.array([0.105]), 0.045)[0, 0]
    assert got == share


def test_in_severe_bank_capital_ends_below_its_baseline_path() -> None:
    base, severe = _run("baseline"), _run("severe")
    banks = _banks(base)
    eq_base = np.asarray(base.state.equity)[:, banks].sum(axis=1)
    eq_severe = np.asarray(severe.state.equity)[:, banks].sum(axis=1)
    assert eq_severe.mean() < eq_base.mean()
    jpm = [e.name for e in base.world.entities].index("JPMorgan")
    cet1_base = np.asarray(base.state.capital_ratio)[:, jpm].mean()
    cet1_severe = np.asarray(severe.state.capital_ratio)[:, jpm].mean()
    assert cet1_severe < cet1_base
    # the non-AI book lost more, and paid out less, in severe
    assert np.mean(severe.state.bank_nonai_loss) > np.mean(base.state.bank_nonai_loss)
    assert np.mean(severe.state.bank_payouts) < np.mean(base.state.bank_payouts)


def test_without_the_channel_severe_leaves_bank_capital_rising() -> None:
    # the defect the channel fixes: a static book and retained earnings raise CET1 even in severe
    off = _run("severe", "channels.bank_capital=false")
    on = _run("severe")
    jpm = [e.name for e in off.world.entities].index("JPMorgan")
    start = float(np.asarray(off.initial_equity)[jpm])
    assert np.asarray(off.state.equity)[:, jpm].mean() > start
    assert np.asarray(on.state.equity)[:, jpm].mean() < np.asarray(off.state.equity)[:, jpm].mean()


@pytest.mark.parametrize("scenario", ["baseline", "severe"])
def test_bank_capital_changes_results(scenario: str) -> None:
    on, off = _run(scenario), _run(scenario, "channels.bank_capital=false")
    assert not np.array_equal(np.asarray(on.state.equity), np.asarray(off.state.equity))
    assert float(np.mean(off.state.bank_nonai_loss)) == 0.0


@pytest.mark.parametrize(("requirement", "share"), [(0.105, 1.0), (0.25, 0.6)])
def test_bank_book_flows_by_hand(requirement: float, share: float) -> None:
    from tests.worlds import run_model, world_cfg

    bank = dict(name="K", sector="bank", cash=100.0, other_assets=500.0, other_liabilities=500.0,
                non_ai_cash_flow=1.0)
    cfg = world_cfg([bank], [], "channels.bank_capital=true", "scenario.base_rate.start=0.04",
                    "scenario.base_rate.mean=0.04", "banks.reference_rate=0.0", "scenario.sentiment=1.0",
                    f"regime.capital_requirement={requirement}", "regime.deleveraging_speed=0", horizon=1)
    m, _ = run_model(cfg)
    growth = 500.0 * 0.03 / 12.0
    income = 1.0 + 1.0 * 0.8 / 0.2  # retained net income, grossed up to before payouts
    loss = (500.0 + growth) * (0.5 * 0.04) / 12.0  # rate_loss x (base rate - reference) / 12
    earnings = income - loss
    paid = 0.8 * earnings * share  # CET1 ~20%: above 10.5%; in the top quarter of a 4.5-25% zone
    s = m.state
    assert s.other_assets[0, 0] == pytest.approx(500.0 + growth - loss, rel=1e-12)
    assert s.other_liab[0, 0] == pytest.approx(500.0 + growth, rel=1e-12)
    assert s.equity[0, 0] == pytest.approx(100.0 + earnings - paid, rel=1e-12)
    assert s.cash[0, 0] == pytest.approx(100.0 + income - paid, rel=1e-12)
    assert s.ext_cash[0] == pytest.approx(paid - income, rel=1e-12)
    assert s.bank_nonai_loss[0] == pytest.approx(loss, rel=1e-12)
    assert s.bank_payouts[0] == pytest.approx(paid, rel=1e-12)


def _paths_table(scenario: str, *overrides: str, paths: int = 4):
    from aisim.kernels.backend import to_numpy
    from aisim.outputs import PathTracker

    cfg = make_cfg(f"paths.n={paths}", f"scenario={scenario}", "backend=numpy", "output.progress=false", *overrides)
    m = AIFinanceModel(cfg, None, np.arange(paths), np)
    tracker = PathTracker(m)
    for _ in range(int(cfg.horizon)):
        m.step()
        tracker.update({k: to_numpy(v) for k, v in m.metrics.items()})
    return tracker.table(np.arange(paths))


def test_systemic_event_fires_under_a_deep_stress_and_not_in_the_baseline() -> None:
    # over three years of the baseline nothing is systemic (over the five-year default horizon the
    # baseline's own sentiment decline makes banks' non-AI losses large enough to fire: see the report)
    calm = _paths_table("baseline", "horizon=36")
    assert not calm["systemic_event"].any()
    assert not (calm["systemic_bank"] | calm["systemic_fund"] | calm["systemic_loss"]).any()
    # severe with equity markets near shut: the banks' non-AI books lose at the cap and the AI web's
    # losses reach banks and funds
    deep = _paths_table("severe", "scenario.sentiment=0.3", "horizon=36")
    assert deep["systemic_event"].all()
    assert deep["systemic_loss"].any() or deep["systemic_bank"].any()
    assert (deep["systemic_event"] == (deep["systemic_bank"] | deep["systemic_fund"] | deep["systemic_loss"])).all()
    assert (deep["bank_nonai_loss"] > calm["bank_nonai_loss"]).all()
