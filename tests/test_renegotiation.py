"""Renegotiation of a distressed buyer's offtakes (channel ``renegotiation``): the cut makes the
month payable, is permanent, stops at the sellers' floor, and sellers' capacity follows it."""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels import operations, renegotiation
from tests.worlds import run_model, with_channel, world_cfg


def test_the_cut_is_what_makes_the_month_payable() -> None:
    # owed 1.0 (0.8 of it offtakes), costs 0.1, cash 0.3, receipts 0.4: short 0.4 of the 0.8
    one = np.ones((1, 1))
    new = renegotiation.cut(np, one, one > 0, 1.0 * one, 0.1 * one, 0.3 * one, 0.4 * one, 0.8 * one, 0.4)
    assert new == pytest.approx(0.5)
    paid_offtakes = 0.8 * new / 1.0
    assert (1.0 - 0.8) + paid_offtakes + 0.1 == pytest.approx(0.3 + 0.4)  # pays exactly what it has


def test_a_second_cut_compounds_and_the_floor_binds() -> None:
    s = np.array([[0.5, 0.5]])
    alive = np.ones_like(s, dtype=bool)
    # short 0.1 of 0.5 still owed -> 0.5 x 0.8; short 0.45 of 0.5 -> 0.05, below the floor
    new = renegotiation.cut(np, s, alive, np.array([[0.5, 0.5]]), np.zeros_like(s), np.array([[0.4, 0.05]]),
                            np.zeros_like(s), np.array([[0.5, 0.5]]), 0.4)
    assert new == pytest.approx(np.array([[0.4, 0.4]]))
    new = renegotiation.cut(np, s, alive, np.array([[0.5, 0.5]]), np.zeros_like(s), np.array([[0.45, 0.0]]),
                            np.zeros_like(s), np.array([[0.5, 0.5]]), 0.2)
    assert new == pytest.approx(np.array([[0.45, 0.2]]))


@pytest.mark.parametrize(("alive", "owed", "offtake"), [(False, 1.0, 1.0), (True, 0.5, 1.0), (True, 1.0, 0.0)])
def test_no_cut_for_the_dead_the_solvent_or_a_buyer_without_offtakes(alive: bool, owed: float, offtake: float) -> None:
    one = np.ones((1, 1))
    new = renegotiation.cut(np, 0.9 * one, np.full((1, 1), alive), owed * one, 0 * one, 0.5 * one, 0 * one,
                            offtake * one, 0.4)
    assert new == pytest.approx(0.9)


def _lab_world(income: float):
    """A lab paying a healthy neocloud 1.0 a month on a 36-month offtake, from ``income`` a month
    of its own and 0.5 of cash: short from the second month when ``income`` < 1."""
    ents = [dict(name="L", sector="ai_lab", cash=0.5, non_ai_cash_flow=income),
            dict(name="N", sector="neocloud", cash=20.0, gpu=40.0, capacity_yield=0.02, utilisation=0.8,
                 gpu_life_months=120.0)]
    con = [dict(name="L offtake", kind="offtake", payer="L", payee="N", monthly=1.0, maturity=36)]
    return world_cfg(ents, con, paths=2, horizon=12)


def test_a_short_buyer_survives_on_cuts_that_stop_once_it_can_pay() -> None:
    cfg = _lab_world(0.6)
    off, _ = run_model(with_channel(cfg, "renegotiation", False))
    on, hist = run_model(with_channel(cfg, "renegotiation", True))
    lab, seller = on.world.column("L"), on.world.column("N")
    assert (~off.state.alive[:, lab]).all(), "without the channel the lab cannot pay"
    assert on.state.alive[:, lab].all()
    scale = np.array([h["offtake_scale"][:, lab] for h in hist])
    assert (np.diff(scale, axis=0) <= 1e-15).all() and (scale >= 0.4).all()  # permanent, above the floor
    cut = np.flatnonzero(scale[:, 0] < 1.0)[0]
    assert hist[cut]["cash"][:, lab] == pytest.approx(0.0, abs=1e-9)  # the cut is what the month needed
    assert scale[-1] == pytest.approx(scale[-2])  # once income covers the payment, no further cut
    assert scale[-1] == pytest.approx(0.6, rel=0.05)  # about the lab's own income, 0.6 of the payment
    # the seller's committed capacity falls with the cut: what the buyer gave up is spot again
    committed = operations.committed_capacity(np, on.book, on.state.alive, on.state.c_alive, on.params,
                                              on.offtake_monthly(on.state))
    full = operations.committed_capacity(np, on.book, on.state.alive, on.state.c_alive, on.params)
    assert committed[:, seller] == pytest.approx(scale[-1] * full[:, seller])


def test_no_cut_goes_below_the_floor_and_a_buyer_short_even_there_defaults() -> None:
    # income 0.1: a first cut to 0.6 pays month 0 out of the cash; in month 1 the lab would need
    # 0.1, below the floor of 0.4, and defaults on what the floor leaves unpaid
    cfg = _lab_world(0.1)
    off, _ = run_model(with_channel(cfg, "renegotiation", False))
    on, hist = run_model(with_channel(cfg, "renegotiation", True))
    lab = on.world.column("L")
    assert (off.state.default_month[:, lab] == 0).all() and (on.state.default_month[:, lab] == 1).all()
    assert hist[0]["offtake_scale"][:, lab] == pytest.approx(0.6)
    assert hist[1]["offtake_scale"][:, lab] == pytest.approx(0.4)


def test_off_it_leaves_the_scale_at_one() -> None:
    model, hist = run_model(with_channel(_lab_world(0.6), "renegotiation", False))
    assert all((h["offtake_scale"] == 1.0).all() for h in hist)
    assert model.offtake_scale(model.state) is None
