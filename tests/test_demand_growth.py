"""Channel demand_growth: spot capex is planned on the demand expected when the capacity comes
into service, exp(L g) times the level rule (kernels/demand_growth.py)."""

from __future__ import annotations

import math

import numpy as np

from aisim.kernels import demand_growth
from tests.worlds import run_model, with_channel, world_cfg

# a cloud with plenty of cash, no offtakes: its capex is its spot plan
CLOUD = dict(name="Cloud", sector="neocloud", cash=500.0, gpu=10.0, capacity_yield=0.02, utilisation=0.5,
             gpu_life_months=60.0, capex=1.0, cash_buffer=1.0, price_elasticity=1.0)


def _cfg(drift: float, *extra: str):
    return world_cfg([CLOUD], [], f"scenario.demand.drift={drift}", "scenario.demand.vol=0.0",
                     "scenario.rental_price.vol=0.0", "scenario.rental_price.drift=0.0",
                     "demand_growth.lead_months=6", "channels.capex_commitments=false",
                     "channels.compute_market=false", *extra, horizon=12)


def test_a_growing_market_is_planned_for_at_the_growth_expected_over_the_lead() -> None:
    g = 0.03
    on, h_on = run_model(with_channel(_cfg(g), "demand_growth", True))
    off, h_off = run_model(with_channel(_cfg(g), "demand_growth", False))
    c = on.world.column("Cloud")
    ratio = h_on[0]["context"]["capex"][:, c] / h_off[0]["context"]["capex"][:, c]
    # no noise: realised log growth equals the trend, so g stays at it and the factor is exp(6 g)
    np.testing.assert_allclose(ratio, math.exp(6 * g), rtol=1e-12)
    np.testing.assert_allclose(h_on[11]["exp_growth"], g, rtol=1e-12)
    np.testing.assert_allclose(h_on[11]["context"]["capex"][:, c] / h_off[11]["context"]["capex"][:, c],
                               math.exp(6 * g), rtol=1e-12)


def test_a_slowdown_cuts_planned_capex_by_more_than_the_level_rule() -> None:
    # demand stops growing at month 3: expected growth decays towards 0, the plan's premium with it
    cfg = _cfg(0.03, "+scenario.demand.drift_changes={3:0.0}")
    on, h_on = run_model(with_channel(cfg, "demand_growth", True))
    off, h_off = run_model(with_channel(cfg, "demand_growth", False))
    c = on.world.column("Cloud")
    g = np.array([h["exp_growth"][0] for h in h_on])
    assert np.all(np.diff(g[3:]) < 0) and g[-1] > 0  # adaptive: falls towards 0, does not jump
    np.testing.assert_allclose(g[3], 0.03 * (1 - 0.2), rtol=1e-9)  # the baseline's weight w = 0.2
    prem = np.array([h_on[t]["context"]["capex"][0, c] / h_off[t]["context"]["capex"][0, c] for t in range(12)])
    np.testing.assert_allclose(prem, np.exp(6 * g), rtol=1e-12)
    assert prem[-1] < prem[2]
    # off: the state carries the month-0 trend untouched
    assert all(h["exp_growth"][0] == 0.03 for h in h_off)


def test_kernel_update_and_start() -> None:
    assert demand_growth.initial_growth(0.035, 0.04) == 0.035 - 0.0008
    g = demand_growth.update_growth(np, np.array([0.02]), np.array([1.1]), np.array([1.0]), 0.5)
    np.testing.assert_allclose(g, 0.02 + 0.5 * (math.log(1.1) - 0.02))
    np.testing.assert_allclose(demand_growth.growth_factor(np, np.array([0.01, -0.01]), 6.0)[:, 0],
                               np.exp([0.06, -0.06]))
