"""Committed capex (channel ``capex_commitments``): GPUs ordered ahead arrive over a mean lag and
must be paid; a firm that cannot fund them defaults, one without commitments buys fewer GPUs."""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels import capex_orders
from aisim.kernels.capex_orders import CapexOrderParams
from aisim.kernels.state import ILLIQUIDITY
from tests.worlds import run_model, with_channel, world_cfg


def test_a_constant_plan_keeps_the_book_at_its_steady_state() -> None:
    plan = np.array([[2.0, 0.0]])
    share, lead = np.array([0.8, 0.0]), 6.0
    book = capex_orders.initial_book(np.array([2.0, 0.0]), share, lead)[None, :]
    alive = np.ones((1, 2), dtype=bool)
    for _ in range(12):
        due = capex_orders.deliveries(np, book, alive, lead)
        assert due == pytest.approx(np.array([[1.6, 0.0]]))
        book = capex_orders.step_book(np, book, due, plan, plan, share, alive)
    assert book == pytest.approx(np.array([[9.6, 0.0]]))


def test_deliveries_run_off_geometrically_when_ordering_stops() -> None:
    book, alive = np.array([[6.0]]), np.ones((1, 1), dtype=bool)
    zero = np.zeros((1, 1))
    for t in range(1, 4):
        due = capex_orders.deliveries(np, book, alive, 3.0)
        book = capex_orders.step_book(np, book, due, zero, zero, np.array([1.0]), alive)
        assert book[0, 0] == pytest.approx(6.0 * (2.0 / 3.0) ** t)
    dead = capex_orders.deliveries(np, book, ~alive, 3.0)
    assert dead[0, 0] == 0.0


def test_new_orders_are_the_committed_share_of_what_is_both_planned_and_funded() -> None:
    book, due = np.array([[10.0, 10.0]]), np.array([[2.0, 2.0]])
    plan, capex = np.array([[5.0, 1.0]]), np.array([[3.0, 2.0]])
    out = capex_orders.step_book(np, book, due, plan, capex, np.array([0.5, 0.5]), np.ones((1, 2), dtype=bool))
    assert out == pytest.approx(np.array([[8.0 + 1.5, 8.0 + 0.5]]))


def test_unfunded_deliveries_are_paid_from_cash_then_securities_and_the_rest_is_unpaid() -> None:
    due = np.array([[5.0, 5.0, 5.0, 1.0]])
    capex = np.array([[1.0, 1.0, 1.0, 2.0]])
    cash = np.array([[5.0, 1.0, 1.0, 0.0]])
    sec = np.array([[0.0, 10.0, 1.0, 0.0]])
    c, s, u = capex_orders.pay_shortfall(np, due, capex, cash, sec)
    assert c == pytest.approx(np.array([[4.0, 1.0, 1.0, 0.0]]))
    assert s == pytest.approx(np.array([[0.0, 3.0, 1.0, 0.0]]))
    assert u == pytest.approx(np.array([[0.0, 0.0, 2.0, 0.0]]))


def test_a_sector_without_a_committed_share_is_named() -> None:
    with pytest.raises(ValueError, match="capex_orders.committed_quantum"):
        capex_orders.sector_shares(CapexOrderParams(), ["neocloud", "quantum"])


def _neocloud(*overrides: str, equity_raise: float = 0.0):
    # a neocloud with a large order book (capex 2 a month, 80% ordered 6 months ahead: 9.6) and no
    # outside money: no lender, no equity; it lives on 2 of cash, 1 of securities and rent of 0.3 a month
    ents = [dict(name="N", sector="neocloud", cash=2.0, securities=1.0, gpu=20.0, capacity_yield=0.02,
                 utilisation=0.75, opex=0.0, capex=2.0, cash_buffer=0.5, equity_raise=equity_raise,
                 gpu_life_months=120.0)]
    return world_cfg(ents, [], *overrides, paths=2, horizon=12)


def test_a_firm_that_cannot_fund_its_committed_deliveries_defaults_and_without_them_it_does_not() -> None:
    # demand collapses: the plan falls ~18% a month, but 9.6 of GPUs ordered arrive over the next months
    cfg = _neocloud("scenario.demand.drift=-0.2")
    on, h_on = run_model(with_channel(cfg, "capex_commitments", True))
    off, h_off = run_model(with_channel(cfg, "capex_commitments", False))
    n = on.world.column("N")
    assert off.state.alive[:, n].all(), "without commitments the firm just stops buying"
    due_total = sum(h["context"]["committed"][0, n] for h in h_on)
    assert sum(h["context"]["capex"][0, n] for h in h_off) < 0.6 * due_total
    assert not on.state.alive[:, n].any()
    assert (on.state.default_cause[:, n] == ILLIQUIDITY).all()
    # before it failed, it paid what arrived from its cash and then its securities
    first = int(on.state.default_month[0, n])
    paid = [h["context"]["capex"][0, n] for h in h_on[:first]]
    due = [h["context"]["committed"][0, n] for h in h_on[:first]]
    assert paid == pytest.approx(due)
    assert h_on[first - 1]["securities"][0, n] < 1.0


def test_with_equity_to_pay_for_them_the_deliveries_are_taken_and_the_firm_lives() -> None:
    cfg = _neocloud("scenario.demand.drift=-0.2", equity_raise=2.0)
    on, h_on = run_model(with_channel(cfg, "capex_commitments", True))
    n = on.world.column("N")
    assert on.state.alive[:, n].all()
    assert all((h["context"]["unpaid_orders"][:, n] == 0).all() for h in h_on)
    assert sum(h["context"]["capex"][0, n] for h in h_on) > 8.0
