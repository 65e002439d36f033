"""Channel backlog_capex: capex follows contracted backlog, and an offtake pays for the capacity
its seller can deliver (kernels/backlog_capex.py)."""

from __future__ import annotations

import numpy as np

from aisim.kernels import backlog_capex
from tests.worlds import run_model, with_channel, world_cfg

# The seller owns 10 of GPU book; its offtake needs 0.4 / 0.02 = 20 of capacity from month 6.
CLOUD = dict(name="Cloud", sector="neocloud", cash=50.0, gpu=10.0, capacity_yield=0.02, utilisation=0.0,
             gpu_life_months=1000.0, capex=0.1, cash_buffer=1.0)
LAB = dict(name="Lab", sector="ai_lab", cash=100.0)


def _cfg(start: int, *extra: str):
    con = [dict(name="offtake", kind="offtake", payer="Lab", payee="Cloud", monthly=0.4, maturity=24, start=start)]
    return world_cfg([CLOUD, LAB], con, "backlog_capex.build_months=12", "channels.capex_commitments=false",
                     "channels.compute_market=false", *extra, horizon=6)


def test_a_seller_builds_the_capacity_its_signed_offtake_will_need() -> None:
    on, h_on = run_model(with_channel(_cfg(6), "backlog_capex", True))
    off, h_off = run_model(with_channel(_cfg(6), "backlog_capex", False))
    cloud = on.world.column("Cloud")
    # month 0: the gap (20 - the book after the month's depreciation) closes by 1/12; the
    # calibrated 0.1 is explained by the backlog (0.83 > 0.1), so nothing is left on the spot rule
    np.testing.assert_allclose(h_on[0]["context"]["capex"][:, cloud], (20.0 - 10.0 * (1 - 1 / 1000)) / 12.0,
                               rtol=1e-12)
    np.testing.assert_allclose(h_off[0]["context"]["capex"][:, cloud], 0.1, rtol=1e-12)
    assert (h_on[5]["gpu"][:, cloud] > h_off[5]["gpu"][:, cloud] + 3.0).all()


def test_an_offtake_pays_for_the_capacity_its_seller_can_deliver() -> None:
    # running from month 0 on about half the capacity it needs: about half the payment
    on, h_on = run_model(with_channel(_cfg(0), "backlog_capex", True), months=1)
    off, h_off = run_model(with_channel(_cfg(0), "backlog_capex", False), months=1)
    lab, cloud = on.world.column("Lab"), on.world.column("Cloud")
    paid_on = 100.0 - h_on[0]["cash"][:, lab]
    paid_off = 100.0 - h_off[0]["cash"][:, lab]
    np.testing.assert_allclose(paid_off, 0.4, rtol=1e-12)
    gpu = h_on[0]["gpu"][:, cloud]  # the book after the month's capex, which settlement sees
    assert (gpu < 11.0).all()
    np.testing.assert_allclose(paid_on, 0.4 * gpu / 20.0, rtol=1e-12)


def test_requirement_counts_offtakes_live_at_the_month_asked_about() -> None:
    cfg = _cfg(6)
    m, _ = run_model(with_channel(cfg, "backlog_capex", True), months=0)
    s = m.state
    y = np.asarray(m.params.capacity_yield)[None, :]
    at = [backlog_capex.requirement_at(np, m.book, s.alive, s.c_alive, s.maturity, 0, t, y)[0, m.world.column("Cloud")]
          for t in (5, 6, 29, 30)]
    np.testing.assert_allclose(at, [0.0, 20.0, 20.0, 0.0])
    np.testing.assert_allclose(backlog_capex.delivered_share(np, np.array([5.0, 5.0]), np.array([10.0, 0.0])),
                               [0.5, 1.0])
