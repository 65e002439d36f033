"""Market risk appetite (channel ``risk_appetite``): a common, persistent factor with risk-off jumps
moves sentiment and the market credit spread, on keyed streams (common random numbers hold)."""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels import risk_appetite, rng
from aisim.kernels.risk_appetite import RiskAppetiteParams
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

N = 20_000


def _factor(months: int, p: RiskAppetiteParams) -> np.ndarray:
    idx, a = np.arange(N, dtype=np.int64), np.zeros(N)
    for t in range(months):
        z = rng.normal(np, 3, idx, t, rng.STREAMS["appetite"], 1)[:, 0]
        u = rng.uniform(np, 3, idx, t, rng.STREAMS["appetite_jump"], 1)[:, 0]
        a = risk_appetite.step(np, a, z, u, p)
    return a


def test_without_jumps_the_factor_has_the_stated_persistence_and_volatility() -> None:
    a = _factor(60, RiskAppetiteParams(persistence=0.8, vol=0.2, jump_prob=0.0))
    assert a.std() == pytest.approx(0.2 * np.sqrt(1 - 0.8 ** 120), rel=0.03)
    assert abs(a.mean()) < 3 * 0.2 / np.sqrt(N)


def test_risk_off_jumps_arrive_at_their_rate() -> None:
    a = _factor(1, RiskAppetiteParams(vol=0.0, jump_prob=0.05, jump_size=-0.5))
    assert set(np.unique(a)) == {-0.5, 0.0}
    assert (a < 0).mean() == pytest.approx(0.05, abs=0.005)


def test_sentiment_moves_by_the_change_and_the_spread_by_beta_below_normal() -> None:
    p = RiskAppetiteParams(spread_beta=0.02)
    s, sp = risk_appetite.apply(np, np.array([0.9, 0.9, 1.0]), np.array([0.01, 0.0, 0.003]),
                                np.array([0.0, -0.5, 0.2]), np.array([-0.5, -0.1, -0.3]), p)
    assert s == pytest.approx([0.9 * np.exp(-0.5), 0.9 * np.exp(0.4), np.exp(-0.5)])
    assert sp == pytest.approx([0.01 + 0.01, 0.0, 0.003 + 0.006])


def _run(*overrides: str, months: int = 24) -> tuple[AIFinanceModel, list[np.ndarray], list[np.ndarray]]:
    cfg = make_cfg("calibration=mini", "paths.n=8", f"horizon={months}", "backend=numpy", "output.progress=false",
                   *overrides)
    m = AIFinanceModel(cfg, None, np.arange(8), np)
    sent, app = [], []
    for _ in range(months):
        m.step()
        sent.append(np.array(m.state.sentiment))
        app.append(np.array(m.state.appetite))
    return m, sent, app


def test_with_market_feedback_off_sentiment_is_the_scenarios_times_exp_of_the_factor() -> None:
    m, sent, app = _run("channels.market_feedback=false", "scenario.sentiment=0.9")
    for s, a in zip(sent, app, strict=True):
        assert s == pytest.approx(0.9 * np.exp(a), rel=1e-12)
    assert np.std(np.array(app)) > 0.01
    p = m.p.risk_appetite
    assert m.state.market_spread == pytest.approx(p.spread_beta * np.maximum(-app[-1], 0.0), abs=1e-15)


def test_the_factor_is_the_same_under_every_regime_and_absent_when_off() -> None:
    _, _, a1 = _run(months=12)
    _, _, a2 = _run("regime=macroprudential", months=12)
    for x, y in zip(a1, a2, strict=True):
        assert np.array_equal(x, y)
    _, sent, app = _run("channels.risk_appetite=false", "channels.market_feedback=false", months=6)
    assert all((a == 0).all() for a in app) and all((s == 1.0).all() for s in sent)
