"""Firm-specific operating shocks (channel ``firm_shocks``): a persistent margin shock per firm,
correlated within its sector, with adverse jumps; firms of a sector no longer share one fate."""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels import firm_shocks, rng
from aisim.kernels.firm_shocks import FirmShockParams
from tests.worlds import run_model, with_channel, world_cfg

N = 20_000  # kernel paths


def _simulate(months: int, vol: float, w: float, rho: float, prob: float = 0.0, size: float = 0.0) -> np.ndarray:
    """Two firms of one sector and one of another, months of the kernel alone: (paths, 3)."""
    idx = np.arange(N, dtype=np.int64)
    x = np.zeros((N, 3))
    pos = np.array([0, 0, 1])
    v, p, j = np.full(3, vol), np.full(3, prob), np.full(3, size)
    for t in range(months):
        zf = rng.normal(np, 5, idx, t, rng.STREAMS["idiosyncratic"], 3)
        zs = rng.normal(np, 5, idx, t, rng.STREAMS["sector"], 2)[:, pos]
        u = rng.uniform(np, 5, idx, t, rng.STREAMS["firm_jump"], 3)
        x = firm_shocks.step(np, x, zf, zs, u, v, p, j, rho, w)
    return x


def test_the_shock_has_the_stated_volatility_and_within_sector_correlation() -> None:
    x = _simulate(60, vol=0.05, w=0.3, rho=0.8)
    sd = 0.05 * np.sqrt(1 - 0.8 ** 120)
    assert x.std(axis=0) == pytest.approx([sd] * 3, rel=0.03)
    assert abs(x.mean()) < 3 * sd / np.sqrt(N)
    same, other = np.corrcoef(x[:, 0], x[:, 1])[0, 1], np.corrcoef(x[:, 0], x[:, 2])[0, 1]
    assert same == pytest.approx(0.3, abs=0.03)
    assert abs(other) < 0.03


def test_jumps_arrive_at_their_rate_and_decay_at_the_persistence() -> None:
    x = _simulate(1, vol=0.0, w=0.0, rho=0.9, prob=0.1, size=-0.2)
    assert set(np.unique(x)) == {-0.2, 0.0}
    assert (x == -0.2).mean() == pytest.approx(0.1, abs=0.01)
    x2 = firm_shocks.step(np, x, np.zeros_like(x), np.zeros_like(x), np.ones_like(x), np.zeros(3), np.zeros(3),
                          np.zeros(3), 0.9, 0.0)
    assert np.allclose(x2, 0.9 * x)


def test_costs_move_by_the_shock_times_revenue_and_stay_non_negative() -> None:
    costs = np.array([[1.0, 1.0, 0.1]])
    x = np.array([[-0.2, 0.1, 0.5]])
    rev = np.array([[2.0, 2.0, 2.0]])
    assert np.allclose(firm_shocks.shocked_costs(np, costs, x, rev), [[1.4, 0.8, 0.0]])


def test_a_sector_without_parameters_is_named() -> None:
    with pytest.raises(ValueError, match="firm_shocks.vol_quantum"):
        firm_shocks.sector_terms(FirmShockParams(), ["neocloud", "quantum"])


def _twins():
    # two neoclouds alike in every balance-sheet item and contract, near break-even: spot revenue
    # 20 x 0.02 x 0.8 = 0.32 a month against opex 0.3, a lease of 0.05 and little cash
    ents = [dict(name=n, sector="neocloud", cash=0.3, gpu=20.0, capacity_yield=0.02, utilisation=0.8, opex=0.3,
                 gpu_life_months=120.0) for n in ("A", "B")]
    con = [dict(name=f"{n} lease", kind="lease", payer=n, payee="external", monthly=0.05, maturity=36)
           for n in ("A", "B")]
    return world_cfg(ents, con, "firm_shocks.vol_neocloud=0.2", "firm_shocks.jump_prob_neocloud=0.05",
                     "firm_shocks.jump_size_neocloud=-0.5", paths=64, horizon=24)


def test_without_firm_shocks_twins_share_one_fate_and_with_them_they_do_not() -> None:
    cfg = _twins()
    off, h_off = run_model(with_channel(cfg, "firm_shocks", False))
    on, h_on = run_model(with_channel(cfg, "firm_shocks", True))
    a, b = off.world.column("A"), off.world.column("B")
    assert np.array_equal(off.state.default_month[:, a], off.state.default_month[:, b])
    assert np.array_equal(h_off[-1]["equity"][:, a], h_off[-1]["equity"][:, b])
    assert not np.array_equal(on.state.default_month[:, a], on.state.default_month[:, b])
    assert (~on.state.alive).any(), "the shocks should break some firm"


def test_the_shocks_are_the_same_under_every_regime() -> None:
    # common random numbers: the draws depend on (seed, path, month, agent), not on the state
    cfg = with_channel(_twins(), "firm_shocks", True)
    tight = cfg.copy()
    tight.regime.capital_requirement = 0.2
    _, h1 = run_model(cfg, months=6)
    _, h2 = run_model(tight, months=6)
    for m1, m2 in zip(h1, h2, strict=True):
        assert np.array_equal(m1["firm_shock"], m2["firm_shock"])
