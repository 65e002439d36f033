"""capex_headroom: capex borrowing stops at (1 - headroom) x max_leverage of debt / assets;
GPU collateral valued by vintage."""

import numpy as np

from aisim.kernels import collateral, headroom
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg


def test_borrowing_room_brings_leverage_exactly_to_the_target() -> None:
    debt = np.array([[10.0, 50.0, 0.0]])
    assets = np.array([[100.0, 60.0, 5.0]])
    lev = np.array([0.5, 0.5, 1.5])
    room = headroom.borrowing_room(np, debt, assets, lev, 0.2)
    target = 0.5 * 0.8
    assert np.isclose((debt[0, 0] + room[0, 0]) / (assets[0, 0] + room[0, 0]), target)
    assert room[0, 1] == 0.0  # already above the target: no new borrowing
    assert np.isinf(room[0, 2])  # a target of 1 or more never binds


def test_headroom_keeps_compute_providers_below_the_target_after_borrowing() -> None:
    """With the channel on, no compute provider that starts a month below the target ends its
    capex borrowing above it; with it off, some borrow past it."""
    def run(on: bool) -> float:
        cfg = make_cfg("calibration=ai_2025", "paths.n=8", "horizon=24", "backend=numpy",
                       f"channels.capex_headroom={str(on).lower()}", "headroom.headroom=0.2")
        m = AIFinanceModel(cfg, None, np.arange(8), np)
        compute = np.array([e.sector in ("hyperscaler", "neocloud") for e in m.world.entities])
        worst = [-np.inf]

        def obs(phase, before, after, ctx):
            if phase != "investment":
                return
            # leverage as the headroom rule sees it (contract-backed and JV debt left out)
            b0, b1 = m.balance(before), m.balance(after)
            d0, a0 = m.leverage_view(before, b0["debt"], b0["assets"])
            d1, a1 = m.leverage_view(after, b1["debt"], b1["assets"])
            target = np.asarray(m.params.max_leverage)[None, :] * 0.8
            below = (d0 <= target * a0) & compute[None, :] & before.alive
            excess = np.where(below, d1 / np.maximum(a1, 1e-12) - target, -np.inf)
            worst[0] = max(worst[0], float(excess.max()))

        m.observers.append(obs)
        for _ in range(24):
            m.step()
        return worst[0]

    assert run(True) <= 1e-9
    assert run(False) > 1e-3


def test_a_new_vintage_is_valued_at_its_own_purchase_index() -> None:
    """A book bought at index 1 then a purchase of equal size at index 0.5: at index 0.5 the old
    half is worth 0.5 of book, the new half 1, so the pool 0.75 per USD (x q, life, floor)."""
    gpu, u = np.array([[1.0]]), np.array([[1.0]])
    price = np.array([0.5])
    u2 = collateral.add_vintage(np, gpu, u, np.array([[1.0]]), price)
    vf = collateral.value_factor(np, price, np.ones(1), np.array([60.0]), 60.0, 0.0, u2)
    assert np.isclose(vf[0, 0], 0.75)
    # nothing held and nothing bought: the vintage is unchanged
    assert collateral.add_vintage(np, np.zeros((1, 1)), u, np.zeros((1, 1)), price)[0, 0] == 1.0
