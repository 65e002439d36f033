"""The GPU compute market (channel ``compute_market``): price and utilisation clear against
installed capacity; a buyer's exit throws its capacity back on the market."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from aisim.kernels import accounting, compute_market
from aisim.kernels.state import OFFTAKE
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

SEG = np.array([0, 0, 1, -1])  # two neoclouds, a hyperscaler, a non-seller
PT = np.array([1.0, 0.2])


def _terms(demand: float, supply: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    tau = compute_market.tightness(np, np.array([demand]), 1.0, np.array([10.0, 50.0]),
                                   np.array([list(supply)]))
    return compute_market.terms(np, tau, SEG, PT, np.array([1.0]), np.full((1, 4), 0.85), 0.5, 0.95)


def test_over_building_lowers_price_and_utilisation() -> None:
    p0, u0 = _terms(1.0, (10.0, 50.0))
    p1, u1 = _terms(1.0, (20.0, 100.0))  # twice the capacity, same demand
    assert np.allclose(p0[0, :3], 1.0) and np.allclose(u0[0, :3], 0.85)
    assert (p1[0, :3] < p0[0, :3]).all() and (u1[0, :3] < u0[0, :3]).all()
    assert p1[0, 3] == p0[0, 3] == 1.0  # a non-seller sees the trend


def test_demand_fall_lowers_price_and_utilisation() -> None:
    p0, u0 = _terms(1.0, (10.0, 50.0))
    p1, u1 = _terms(0.6, (10.0, 50.0))
    assert (p1[0, :3] < p0[0, :3]).all() and (u1[0, :3] < u0[0, :3]).all()


def test_neocloud_spot_falls_more_than_hyperscaler_list_in_a_glut() -> None:
    p, _ = _terms(1.0, (15.0, 75.0))  # both segments 50% over-supplied
    assert p[0, 0] < p[0, 2] < 1.0
    assert np.isclose(np.log(p[0, 0]) / np.log(p[0, 2]), PT[0] / PT[1])


def test_utilisation_is_capped() -> None:
    _, u = _terms(5.0, (10.0, 50.0))
    assert np.allclose(u[0, :3], 0.95)


# ------------------------------------------------------------------ on the 2025 calibration
N, H = 16, 24


@functools.cache
def _run(*overrides: str) -> tuple[AIFinanceModel, np.ndarray]:
    """(model after H months, revenue (months, paths, agents) incl. offtake and backstop receipts)."""
    cfg = make_cfg(f"paths.n={N}", f"horizon={H}", "backend=numpy", "output.progress=false", *overrides)
    m = AIFinanceModel(cfg, None, np.arange(N), np)
    rev = []
    for _ in range(H):
        m.step()
        contracted, _ = accounting.to_payees(np, m.book, m.state.alive, m.context.dues.payment)
        rev.append(m.context.ai_revenue + contracted)
    return m, np.array(rev)


def _anchor_cut(*ch: str) -> tuple[float, float]:
    """(cut in CoreWeave's revenue over months 6-11 when Microsoft exits at 6, Microsoft's share of
    CoreWeave's baseline revenue over those months)."""
    mb, rb = _run(*ch)
    _, ra = _run("scenario=anchor_exit", *ch)
    cw, ms = mb.world.names.index("CoreWeave"), mb.world.names.index("Microsoft")
    c = mb.world.contracts
    pay = c["monthly"][(c["kind"] == OFFTAKE) & (c["payer"] == ms) & (c["payee"] == cw)].sum()
    base = rb[6:12, :, cw].sum(axis=0).mean()
    return 1.0 - ra[6:12, :, cw].sum(axis=0).mean() / base, 6 * pay / base


def test_anchor_exit_cuts_revenue_close_to_the_customers_share() -> None:
    cut, share = _anchor_cut()
    assert 0.5 * share < cut <= share + 0.05, (cut, share)
    cut_off, _ = _anchor_cut("channels.compute_market=false")
    assert cut_off < 0.25 * share  # without the market the capacity is resold at full terms


def _neocloud(m: AIFinanceModel, rev: np.ndarray) -> tuple[float, float]:
    cols = [i for i, s in enumerate(m.world.sectors) if s == "neocloud"]
    defaults = float(np.mean(~m.state.alive[:, cols]))
    return float(rev[:, :, cols].sum(axis=(0, 2)).mean()), defaults


@pytest.mark.parametrize("scenario", ["gpu_glut", "ai_winter"])
def test_stress_scenarios_hurt_neoclouds(scenario: str) -> None:
    """gpu_glut (rents fall faster) and ai_winter (demand stalls from month 12) cut neocloud
    revenue and raise their default rate against the baseline."""
    rb, db = _neocloud(*_run())
    rs, ds = _neocloud(*_run(f"scenario={scenario}"))
    assert rs < rb
    assert ds >= db


def test_capex_plans_follow_the_revenue_a_gpu_earns_at_the_cleared_terms() -> None:
    tau = np.array([[0.5, 0.5], [1.0, 1.0], [1.5, 1.5]])
    u0 = np.array([[0.85, 0.85, 0.85, 0.0]])
    el = np.array([[1.0, 1.0, 1.0, 1.0]])
    f = compute_market.capex_factor(np, tau, SEG, PT, u0, 0.5, 0.95, el)
    assert np.allclose(f[1], 1.0)  # at tau = 1 plans are the trend's
    assert f[0, 0] == pytest.approx(0.5 * 0.5 ** 0.5)  # neocloud: price tau^1 x utilisation tau^0.5
    assert f[0, 2] == pytest.approx(0.5 ** 0.2 * 0.5 ** 0.5)  # hyperscaler: list price moves less
    assert f[2, 0] == pytest.approx(1.5 * 0.95 / 0.85)  # utilisation capped when tight
    assert np.allclose(f[:, 3], 1.0)  # not a seller
    el0 = np.zeros((1, 4))
    assert np.allclose(compute_market.capex_factor(np, tau, SEG, PT, u0, 0.5, 0.95, el0), 1.0)
