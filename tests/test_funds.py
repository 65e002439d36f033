"""Private-credit vehicles as they are (channel ``fund_runs``, aisim.kernels.funds): fair-value
NAV, subscriptions apart from returns, queued redemptions paid at capped quarterly tenders, gates,
NAV-LTV triggers and the BDC limit, the secondary loan market.

Kernel checks on small arrays, then shrunken but real configs: the ai_2025 calibration, the
default horizon, few paths.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest

from aisim.compare import paired_difference
from aisim.kernels import funds
from aisim.kernels.funds import FundParams
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

PATHS = 60
P = FundParams()


def test_tender_pays_at_most_the_cap_and_the_regime_gate() -> None:
    nav = np.array([[100.0, -5.0]])
    assert funds.tender_cap(nav, 1.0, P)[0, 0] == pytest.approx(5.0)  # 5% a quarter, no regulatory gate
    assert funds.tender_cap(nav, 0.01, P)[0, 0] == pytest.approx(3.0)  # a 1%-a-month rule binds: 3% a quarter
    assert funds.tender_cap(nav, 1.0, P)[0, 1] == 0.0  # nothing out of a negative NAV


def test_requests_respond_to_losses_the_peer_discount_and_other_funds_gating() -> None:
    fund = np.ones((1, 3), dtype=bool)
    nav = np.full((1, 3), 100.0)
    base, sens = np.zeros(3), np.array([2.0, 2.0, 0.0])

    def req(ret: float, disc: float, peers: float) -> np.ndarray:
        return funds.requests(np, fund, nav, np.full((1, 3), ret), base, sens, np.array([disc]),
                              np.full((1, 3), peers), P)[0]

    calm = req(0.01, 0.0, 0.0)
    assert np.all(calm == 0.0)  # a good month draws no requests (inflows are not modelled as returns)
    assert req(-0.01, 0.0, 0.0)[0] == pytest.approx(2.0)  # 2% of NAV per 1% lost
    assert req(0.0, 0.2, 0.0)[0] == pytest.approx(100 * 2.0 * P.discount_weight * 0.2)
    assert req(0.0, 0.0, 1.0)[0] == pytest.approx(100 * 2.0 * P.gate_weight)
    assert req(-0.05, 0.5, 1.0)[2] == 0.0  # a closed-end fund (sensitivity 0) takes no requests


def test_gated_peers_is_the_nav_weighted_share_of_the_other_funds() -> None:
    fund = np.array([[True, True, True, False]])
    nav = np.array([[1.0, 2.0, 3.0, 50.0]])
    gated = np.array([[True, False, False, True]])
    share = funds.gated_peers(np, fund, nav, gated)[0]
    assert share[:3] == pytest.approx([0.0, 1.0 / 4.0, 1.0 / 3.0])


def test_loan_market_prices_spreads_floors_impact_and_healing() -> None:
    price = funds.loan_price(np, np.array([1.0, 1.0, 0.9]), np.array([0.02, 1.0, 0.0]), P)
    assert price == pytest.approx([1.0 - 3.0 * 0.02, P.price_floor, 0.9])
    q = funds.impact(np, np.array([1.0]), np.array([60.0]), P)
    assert q[0] == pytest.approx(np.exp(-60.0 / P.depth)) and q[0] < 1.0
    healed = funds.heal(np, q, P)
    assert q[0] < healed[0] < 1.0


@functools.cache
def _run(scenario: str, *overrides: str, thin: bool = False) -> dict:
    cfg = make_cfg(f"paths.n={PATHS}", f"scenario={scenario}", "backend=numpy", "output.progress=false", *overrides)
    if thin:  # Blue Owl as a thin vehicle: 25B of bank lines on little NAV, beyond the BDC limit
        cfg = copy.deepcopy(cfg)
        for e in cfg.calibration.entities:
            if e.name == "Blue Owl":
                e.cash, e.other_assets, e.non_ai_cash_flow = 6.0, 10.0, 0.0
    m = AIFinanceModel(cfg, None, np.arange(PATHS), np)
    fund = np.asarray(m.params.is_fund)
    out = {"min_return": np.zeros(PATHS), "min_mark": np.zeros(PATHS), "max_queue": np.zeros(PATHS),
           "mark_before_default": np.zeros(PATHS)}
    for _ in range(int(cfg.horizon)):
        m.step()
        s = m.state
        alive = np.asarray(s.alive)[:, fund]
        ret = np.where(alive, np.asarray(s.last_return)[:, fund], 0.0).min(axis=1)
        mark = np.where(alive, np.asarray(s.fv_mark)[:, fund], 0.0).min(axis=1)
        out["min_return"] = np.minimum(out["min_return"], ret)
        out["min_mark"] = np.minimum(out["min_mark"], mark)
        out["max_queue"] = np.maximum(out["max_queue"], np.asarray(s.redeem_queue).sum(axis=1))
        no_fund_default = alive.all(axis=1)
        out["mark_before_default"] = np.minimum(out["mark_before_default"], np.where(no_fund_default, mark, 0.0))
    s = m.state
    out.update(gates=np.asarray(s.gate_events), redemptions=np.asarray(s.redemptions),
               line_loss=np.asarray(s.line_loss), credit_losses=np.asarray(s.credit_loss).sum(axis=1),
               fund_equity=np.asarray(s.equity)[:, fund].sum(axis=1), model=m)
    return out


def test_in_severe_funds_face_redemptions_queue_them_and_gate() -> None:
    r = _run("severe")
    assert (r["redemptions"] > 0).any()
    assert (r["max_queue"] > 0).any()  # unmet requests are queued, not dropped
    assert (r["gates"] > 0).mean() > 0.5  # at least one fund gates on most severe paths


def test_in_the_baseline_funds_do_not_gate_on_most_paths() -> None:
    assert (_run("baseline")["gates"] > 0).mean() < 0.5


def test_nav_falls_before_defaults_do() -> None:
    r = _run("severe")
    # marks below book while every fund is still alive, and negative monthly returns net of flows
    assert (r["mark_before_default"] < 0).any()
    assert (r["min_return"] < 0).any()
    base = _run("baseline")
    assert r["min_mark"].mean() < base["min_mark"].mean()  # deeper marks in stress


def test_switching_fund_runs_off_changes_results_in_severe() -> None:
    on, off = _run("severe"), _run("severe", "channels.fund_runs=false")
    assert (off["redemptions"] == 0).all() and (off["gates"] == 0).all()
    assert not np.allclose(on["fund_equity"], off["fund_equity"], rtol=1e-6)


def test_nbfi_oversight_differs_from_light_touch_with_a_paired_interval_excluding_zero() -> None:
    """In the baseline or in severe, on redemptions paid or funds' equity (its gate and leverage cap
    act on the funds first)."""
    found = {}
    for scenario in ("baseline", "severe"):
        light, nbfi = _run(scenario, "regime=light_touch_2025"), _run(scenario, "regime=nbfi_oversight")
        for metric in ("redemptions", "fund_equity"):
            found[(scenario, metric)] = paired_difference(nbfi[metric], light[metric])
    assert any(hi < 0 or lo > 0 for _, lo, hi in found.values()), found


def test_a_fund_beyond_its_limits_defaults_on_its_lines_and_banks_lose() -> None:
    r = _run("severe", thin=True)
    m = r["model"]
    blue_owl = [e.name for e in m.world.entities].index("Blue Owl")
    assert not np.asarray(m.state.alive)[:, blue_owl].any()
    assert (r["line_loss"] > 0).all()
    banks = np.asarray(m.params.is_bank)
    assert np.asarray(m.state.credit_loss)[:, :-1][:, banks].sum(axis=1).min() >= r["line_loss"].min() - 1e-9
