"""Differential DebtRank: hand-worked cascades, a slow per-node reference, the fixed-point
characterisation, batch and namespace invariance, and systemic importance."""

from __future__ import annotations

import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisim.kernels.debtrank import debtrank, systemic_importance

# Node 0 is exposed to nodes 1 and 2, node 1 to node 2: A[i, j] = what i loses if j fails.
TRI_A = np.array([[0.0, 4.0, 3.0], [0.0, 0.0, 6.0], [0.0, 0.0, 0.0]])
TRI_E = np.array([10.0, 8.0, 5.0])


def reference(exposures: np.ndarray, equity: np.ndarray, h0: np.ndarray, tol=1e-15, rounds=100000):
    """The recurrence of Bardoscia et al. (2015) written out node by node for one path."""
    n = len(equity)
    h_prev = [1.0 if equity[i] <= 0 else 0.0 for i in range(n)]
    h = [1.0 if equity[i] <= 0 else min(1.0, max(0.0, h0[i])) for i in range(n)]
    for _ in range(rounds):
        delta = [h[j] - h_prev[j] for j in range(n)]
        if max(delta) <= tol:
            break
        new = []
        for i in range(n):
            if equity[i] <= 0:
                new.append(1.0)
                continue
            inc = sum(exposures[i][j] / equity[i] * delta[j] for j in range(n) if j != i)
            new.append(min(1.0, h[i] + inc))
        h_prev, h = h, new
    return np.array(h)


def random_system(seed: int, paths: int, n: int):
    rng = np.random.default_rng(seed)
    exposures = rng.exponential(1.0, (paths, n, n)) * (rng.random((paths, n, n)) < 0.5)
    exposures[:, np.arange(n), np.arange(n)] = 0.0
    # Leverage from mild (the stable, uncapped regime) to high (caps and defaults).
    leverage = rng.uniform(0.2, 3.0, (paths, 1))
    equity = exposures.sum(-1) / leverage + rng.uniform(0.1, 1.0, (paths, n))
    h0 = rng.uniform(0.0, 1.0, (paths, n)) * (rng.random((paths, n)) < 0.4)
    return exposures, equity, h0


def test_chain_cascade_by_hand():
    # Lambda = A / E: Lambda_01 = 4/10 = 0.4, Lambda_02 = 3/10 = 0.3, Lambda_12 = 6/8 = 0.75.
    # t=0: h = (0, 0, 1), node 2 fails; its increment 1 is passed on.
    # t=1: h_0 = 0.3 * 1 = 0.3, h_1 = 0.75 * 1 = 0.75; increments (0.3, 0.75, 0).
    # t=2: h_0 = 0.3 + 0.4 * 0.75 = 0.6; nobody is exposed to node 0, so it stops.
    h = debtrank(TRI_A, TRI_E, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(h, [0.6, 0.75, 1.0], rtol=0, atol=1e-15)


def test_cap_at_one_passes_on_only_the_absorbed_increment():
    # Node 1 with equity 2: Lambda_12 = 3. Shock h(0) = (0, 0.8, 1).
    # t=1: h_0 = 0.4 * 0.8 + 0.3 * 1 = 0.62; h_1 = min(1, 0.8 + 3 * 1) = 1, an increment of 0.2
    #      only (not 3); h_2 = 1.
    # t=2: h_0 = 0.62 + 0.4 * 0.2 = 0.70.
    equity = np.array([10.0, 2.0, 5.0])
    h = debtrank(TRI_A, equity, np.array([0.0, 0.8, 1.0]))
    np.testing.assert_allclose(h, [0.7, 1.0, 1.0], rtol=0, atol=1e-15)
    # Equity 5 at node 0: Lambda_01 = 0.8, Lambda_02 = 0.6, so 0.6 + 0.8 caps it at 1 too.
    h = debtrank(TRI_A, np.array([5.0, 2.0, 5.0]), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_array_equal(h, [1.0, 1.0, 1.0])


def test_cycle_passes_on_every_increment():
    # Add a cycle: node 2 loses 2 if node 0 fails, Lambda_20 = 2/5 = 0.4. Shock h_2(0) = 0.5.
    # Every increment goes round the cycle again (the 2012 DebtRank would stop after each node
    # had passed on its distress once), so no node caps and the rounds converge geometrically to
    # the fixed point h = h(0) + Lambda h:
    #   h_1 = 0.75 h_2,  h_0 = 0.4 h_1 + 0.3 h_2 = 0.6 h_2,  h_2 = 0.5 + 0.4 h_0 = 0.5 + 0.24 h_2
    #   => h_2 = 0.5 / 0.76 = 25/38, h_1 = 75/152, h_0 = 15/38.
    exposures = TRI_A.copy()
    exposures[2, 0] = 2.0
    h = debtrank(exposures, TRI_E, np.array([0.0, 0.0, 0.5]))
    np.testing.assert_allclose(h, [15 / 38, 75 / 152, 25 / 38], rtol=0, atol=1e-14)


def test_zero_shock_gives_zero():
    exposures, equity, _ = random_system(1, 4, 6)
    h = debtrank(exposures, equity, np.zeros((4, 6)))
    np.testing.assert_array_equal(h, np.zeros((4, 6)))


def test_broke_node_stays_at_one_and_is_not_news():
    equity = np.array([10.0, 0.0, 5.0])
    np.testing.assert_array_equal(debtrank(TRI_A, equity, np.zeros(3)), [0.0, 1.0, 0.0])
    # A shock at node 2 reaches node 0 directly only: 0.3 * 1.
    h = debtrank(TRI_A, equity, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(h, [0.3, 1.0, 1.0], rtol=0, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8), paths=st.integers(1, 4))
def test_matches_reference_and_is_a_fixed_point(seed, n, paths):
    exposures, equity, h0 = random_system(seed, paths, n)
    h = debtrank(exposures, equity, h0, max_iter=100000)
    assert h.shape == (paths, n)
    assert np.all((h >= h0) & (h <= 1.0))
    for b in range(paths):
        np.testing.assert_allclose(
            h[b], reference(exposures[b], equity[b], h0[b]), rtol=0, atol=1e-12
        )
        np.testing.assert_allclose(
            debtrank(exposures[b], equity[b], h0[b], max_iter=100000), h[b], rtol=0, atol=1e-12
        )
        lev = exposures[b] / equity[b][:, None]
        np.testing.assert_allclose(h[b], np.minimum(1.0, h0[b] + lev @ h[b]), rtol=0, atol=1e-11)


def test_subset_of_paths_equals_rows_of_full_run():
    exposures, equity, h0 = random_system(2, 10, 6)
    full = debtrank(exposures, equity, h0)
    rows = [0, 3, 7]
    np.testing.assert_array_equal(debtrank(exposures[rows], equity[rows], h0[rows]), full[rows])


def test_array_api_strict_namespace():
    exposures, equity, h0 = random_system(4, 5, 6)
    xp = array_api_strict
    got = debtrank(xp.asarray(exposures), xp.asarray(equity), xp.asarray(h0))
    np.testing.assert_allclose(np.asarray(got), debtrank(exposures, equity, h0), atol=1e-14)
    got = systemic_importance(xp.asarray(exposures), xp.asarray(equity))
    np.testing.assert_allclose(
        np.asarray(got), systemic_importance(exposures, equity), rtol=0, atol=1e-14
    )


def test_systemic_importance_by_hand():
    # Weights are equity shares E / 23. Default of node 2: h = (0.6, 0.75, 1) (see the chain
    # cascade), R_2 = (0.6 * 10 + 0.75 * 8) / 23 = 12/23. Default of node 1: h_0 = 0.4,
    # R_1 = 4/23. Nobody is exposed to node 0: R_0 = 0.
    np.testing.assert_allclose(
        systemic_importance(TRI_A, TRI_E), [0.0, 4 / 23, 12 / 23], rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("custom_weights", [False, True])
def test_systemic_importance_matches_indicator_shocks(custom_weights):
    paths, n = 3, 5
    exposures, equity, _ = random_system(9, paths, n)
    equity[1, 2] = -1.0  # already broke: scores 0 and carries no weight
    if custom_weights:
        weights = np.random.default_rng(9).random((paths, n))
    else:
        weights = np.maximum(equity, 0.0) / np.maximum(equity, 0.0).sum(-1, keepdims=True)
    got = systemic_importance(exposures, equity, weights if custom_weights else None)
    assert got.shape == (paths, n)
    for k in range(n):
        shock = np.zeros((paths, n))
        shock[:, k] = 1.0
        start = np.where(equity <= 0, 1.0, shock)
        h = debtrank(exposures, equity, shock)
        np.testing.assert_allclose(got[:, k], (weights * (h - start)).sum(-1), rtol=0, atol=1e-14)
    assert got[1, 2] == 0.0
