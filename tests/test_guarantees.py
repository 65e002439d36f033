"""kernels/guarantees.py: an SPV's campus marked to the compute market and consolidated into the
sponsor of its residual-value guarantee; the countercyclical buffer's build-up and release."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from aisim.kernels import guarantees, regulation
from aisim.kernels.state import LOAN, RVG


def test_mark_is_one_at_or_above_the_purchase_rent_and_falls_with_rent_share() -> None:
    price = np.array([1.2, 0.5, 0.0])
    q = np.array([1.0, 1.0, 1.0])
    v = guarantees.mark(np, price, q, np.ones((3, 2)), 0.5)
    np.testing.assert_allclose(v[:, 0], [1.0, 0.75, 0.5])
    assert (guarantees.mark(np, price, q, np.ones((3, 2)), 0.0) == 1.0).all()


def test_consolidation_adds_the_spv_at_its_mark_only_to_its_guarantor() -> None:
    # agent 0 sponsor, 1 SPV, 2 an unrelated firm; a guarantee 0 -> 1 and the SPV's notes 1 -> external (3)
    book = SimpleNamespace(kind=np.array([RVG, LOAN]), payer=np.array([0, 1]), payee=np.array([1, 3]), n_agents=3)
    debt = np.array([[10.0, 27.0, 5.0]])
    assets = np.array([[100.0, 30.0, 20.0]])
    gpu = np.array([[0.0, 28.0, 10.0]])
    value = np.array([[0.6, 0.6, 0.6]])
    c_alive = np.array([[True, True]])
    d, a, put = guarantees.consolidate(np, book, c_alive, debt, assets, gpu, value)
    np.testing.assert_allclose(d, [[37.0, 27.0, 5.0]])
    np.testing.assert_allclose(a, [[100.0 + 30.0 - 0.4 * 28.0, 30.0, 20.0]])
    np.testing.assert_allclose(put, [[27.0 - (30.0 - 0.4 * 28.0), 0.0, 0.0]])
    d2, a2, put2 = guarantees.consolidate(np, book, np.array([[False, True]]), debt, assets, gpu, value)
    assert (d2 == debt).all() and (a2 == assets).all() and (put2 == 0).all()  # an expired guarantee: nothing


def test_buffer_builds_linearly_to_its_level_and_is_released_at_once() -> None:
    level = np.array([regulation.buffer_start(0.025, 12.0)] * 2)
    assert (level == 0).all() and regulation.buffer_start(0.025, 0.0) == 0.025
    for _ in range(11):
        level = regulation.buffer_step(np, level, 0.025, 12.0, True, np.array([False, False]))
    np.testing.assert_allclose(level, 0.025 * 11 / 12)
    level = regulation.buffer_step(np, level, 0.025, 12.0, True, np.array([False, True]))
    np.testing.assert_allclose(level, [0.025, 0.0])
    level = regulation.buffer_step(np, level, 0.025, 12.0, True, np.array([False, False]))
    np.testing.assert_allclose(level, [0.025, 0.025 / 12])  # rebuilt from 0 after the release
    kept = regulation.buffer_step(np, np.array([0.025]), 0.025, 12.0, False, np.array([True]))
    assert kept[0] == 0.025  # no release without the regime's release rule
    req = regulation.requirement_in_force(np, 0.12, np.array([0.025, 0.025]), True, np.array([False, True]))
    np.testing.assert_allclose(req, [0.145, 0.12])
