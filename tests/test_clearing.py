"""Clearing vector: against a linear programme (Eisenberg-Noe), an enumeration of all default sets
(Rogers-Veraart), hand-worked networks, and batch, subset and namespace invariance."""

from __future__ import annotations

import itertools

import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from aisim.kernels.clearing import clearing_vector

ATOL = 1e-9


def random_network(seed: int, paths: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse random liabilities with some sinks (nodes that owe nothing) and external assets
    that leave a good share of nodes short, so that cascades of several rounds occur."""
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.3, 1.0)
    liab = rng.exponential(1.0, (paths, n, n)) * (rng.random((paths, n, n)) < density)
    liab[:, np.arange(n), np.arange(n)] = 0.0
    sinks = rng.random((paths, n)) < 0.15
    liab[sinks] = 0.0
    p_bar = liab.sum(-1)
    ext = rng.uniform(0.0, 1.2, (paths, n)) * p_bar * (rng.random((paths, n)) < 0.85)
    ext += rng.exponential(0.1, (paths, n)) * (rng.random((paths, n)) < 0.3)
    return liab, ext


def relative(liab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    liab = liab.copy()
    np.fill_diagonal(liab, 0.0)
    p_bar = liab.sum(1)
    pi = np.divide(liab, p_bar[:, None], out=np.zeros_like(liab), where=p_bar[:, None] > 0)
    return p_bar, pi


def en_by_lp(liab: np.ndarray, ext: np.ndarray) -> np.ndarray:
    """Eisenberg-Noe's greatest clearing vector as the unique optimum of
    max sum(p) s.t. 0 <= p <= p_bar, p - Pi^T p <= e: every feasible p lies below the greatest
    clearing vector, which is feasible, so it is the only maximiser."""
    p_bar, pi = relative(liab)
    n = len(ext)
    res = linprog(
        -np.ones(n),
        A_ub=np.eye(n) - pi.T,
        b_ub=ext,
        bounds=list(zip(np.zeros(n), p_bar, strict=True)),
        method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    assert res.status == 0, res.message
    return res.x


def rv_by_enumeration(liab: np.ndarray, ext: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Rogers-Veraart clearing vectors by brute force: for every candidate default set D, solve
    the linear system it implies and keep the solution if D is exactly its set of defaulters.
    Return the componentwise greatest, after checking that it is itself one of them."""
    p_bar, pi = relative(liab)
    n = len(ext)
    found = []
    for bits in itertools.product((0.0, 1.0), repeat=n):
        d = np.array(bits)
        system = np.eye(n) - beta * d[:, None] * pi.T * d[None, :]
        rhs = d * (alpha * ext + beta * pi.T @ ((1 - d) * p_bar)) + (1 - d) * p_bar
        p = np.linalg.solve(system, rhs)
        shortfall = p_bar - (ext + pi.T @ p)
        if np.array_equal(shortfall > 1e-12, d > 0):
            found.append(p)
    greatest = np.max(found, axis=0)
    assert any(np.allclose(greatest, p, rtol=0, atol=1e-12) for p in found)
    return greatest


def assert_en_clearing(liab: np.ndarray, ext: np.ndarray, pay: np.ndarray) -> None:
    p_bar, pi = relative(liab)
    np.testing.assert_allclose(pay, np.minimum(p_bar, ext + pi.T @ pay), rtol=0, atol=ATOL)


def assert_rv_clearing(liab, ext, pay, alpha, beta) -> None:
    p_bar, pi = relative(liab)
    received = pi.T @ pay
    default = pay < p_bar
    np.testing.assert_allclose(pay[default], (alpha * ext + beta * received)[default], atol=ATOL)
    assert np.all(p_bar[default] > (ext + received)[default])
    assert np.all(p_bar[~default] <= (ext + received)[~default] + ATOL)


# --- hand-worked networks -------------------------------------------------------------------

# Chain A -> B -> X (X: outside creditors, owes nothing). A owes B 10, B owes X 8;
# A holds 6 outside, B holds 3.
CHAIN_L = np.array([[0.0, 10.0, 0.0], [0.0, 0.0, 8.0], [0.0, 0.0, 0.0]])
CHAIN_E = np.array([6.0, 3.0, 0.0])

# Mutual debts: A owes B 10; B owes A 10 and X 10. A holds 2, B holds 5.
MUTUAL_L = np.array([[0.0, 10.0, 0.0], [10.0, 0.0, 10.0], [0.0, 0.0, 0.0]])
MUTUAL_E = np.array([2.0, 5.0, 0.0])


def test_chain_eisenberg_noe_by_hand():
    # A has 6 against 10 owed: defaults and pays all 6. B then has 6 + 3 = 9 >= 8: pays 8.
    pay = clearing_vector(CHAIN_L, CHAIN_E)
    np.testing.assert_allclose(pay, [6.0, 8.0, 0.0], rtol=0, atol=1e-12)
    assert_en_clearing(CHAIN_L, CHAIN_E, pay)


def test_chain_default_costs_topple_the_second_node():
    # alpha = beta = 1/2: A defaults and realises only 0.5 * 6 = 3. B now has 3 + 3 = 6 < 8,
    # defaults too (it survived under Eisenberg-Noe) and pays 0.5 * 3 + 0.5 * 3 = 3.
    pay = clearing_vector(CHAIN_L, CHAIN_E, alpha=0.5, beta=0.5)
    np.testing.assert_allclose(pay, [3.0, 3.0, 0.0], rtol=0, atol=1e-12)
    assert_rv_clearing(CHAIN_L, CHAIN_E, pay, 0.5, 0.5)


def test_mutual_debts_eisenberg_noe_by_hand():
    # Round 1, everyone pays in full: A has 2 + 10 >= 10, B has 5 + 10 < 20, so B defaults.
    # Round 2, D = {B}: p_B = 5 + p_A = 15; A now has 2 + 7.5 < 10 and defaults too.
    # Round 3, D = {A, B}: p_A = 2 + p_B / 2, p_B = 5 + p_A, so p_A = 9 and p_B = 14.
    pay = clearing_vector(MUTUAL_L, MUTUAL_E)
    np.testing.assert_allclose(pay, [9.0, 14.0, 0.0], rtol=0, atol=1e-12)
    assert_en_clearing(MUTUAL_L, MUTUAL_E, pay)


def test_mutual_debts_rogers_veraart_by_hand():
    # alpha = beta = 1/2. D = {B}: p_B = 2.5 + 5 = 7.5; A has 2 + 3.75 < 10 and defaults.
    # D = {A, B}: p_A = 1 + p_B / 4, p_B = 2.5 + p_A / 2, so p_A = 13/7 and p_B = 24/7.
    pay = clearing_vector(MUTUAL_L, MUTUAL_E, alpha=0.5, beta=0.5)
    np.testing.assert_allclose(pay, [13 / 7, 24 / 7, 0.0], rtol=0, atol=1e-12)
    assert_rv_clearing(MUTUAL_L, MUTUAL_E, pay, 0.5, 0.5)


def test_diagonal_is_ignored():
    with_self = MUTUAL_L + np.diag([5.0, 7.0, 3.0])
    np.testing.assert_array_equal(
        clearing_vector(with_self, MUTUAL_E), clearing_vector(MUTUAL_L, MUTUAL_E)
    )


def test_no_liabilities_pays_nothing():
    pay = clearing_vector(np.zeros((2, 4, 4)), np.ones((2, 4)))
    np.testing.assert_array_equal(pay, np.zeros((2, 4)))


@pytest.mark.parametrize("scale", [1.0, 0.1, 1e-3, 7.3e4])
def test_balanced_circle_without_outside_money_clears_in_full(scale):
    # A circulation (every node owed exactly what it owes) with no outside assets: paying in full
    # is clearing and the greatest. Rounding in Pi^T p must not make a node look short, which
    # would also leave a singular system for the closed cycle.
    rng = np.random.default_rng(7)
    n = 6
    liab = np.zeros((n, n))
    for _ in range(5):
        cycle = rng.permutation(n)[: rng.integers(2, n + 1)]
        weight = scale * rng.uniform(0.1, 1.0)
        for a, b in zip(cycle, np.roll(cycle, -1), strict=True):
            liab[a, b] += weight
    for alpha, beta in [(1.0, 1.0), (0.5, 0.7)]:
        pay = clearing_vector(liab, np.zeros(n), alpha=alpha, beta=beta)
        np.testing.assert_allclose(pay, liab.sum(1), rtol=1e-12)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="alpha and beta"):
        clearing_vector(CHAIN_L, CHAIN_E, alpha=1.5)
    with pytest.raises(ValueError, match="do not match"):
        clearing_vector(CHAIN_L, np.ones(4))


# --- against independent solutions ----------------------------------------------------------

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n=st.integers(2, 8), paths=st.integers(1, 4))
def test_eisenberg_noe_matches_linear_programme(seed, n, paths):
    liab, ext = random_network(seed, paths, n)
    pay = clearing_vector(liab, ext)
    assert pay.shape == (paths, n)
    for b in range(paths):
        np.testing.assert_allclose(pay[b], en_by_lp(liab[b], ext[b]), rtol=0, atol=ATOL)
        assert_en_clearing(liab[b], ext[b], pay[b])
        np.testing.assert_allclose(clearing_vector(liab[b], ext[b]), pay[b], rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    n=st.integers(2, 6),
    paths=st.integers(1, 3),
    alpha=st.floats(0.3, 1.0),
    beta=st.floats(0.3, 0.95),
)
def test_rogers_veraart_matches_enumeration(seed, n, paths, alpha, beta):
    liab, ext = random_network(seed, paths, n)
    pay = clearing_vector(liab, ext, alpha=alpha, beta=beta)
    en = clearing_vector(liab, ext)
    for b in range(paths):
        expected = rv_by_enumeration(liab[b], ext[b], alpha, beta)
        np.testing.assert_allclose(pay[b], expected, rtol=0, atol=ATOL)
        assert_rv_clearing(liab[b], ext[b], pay[b], alpha, beta)
    # Default costs only ever destroy value.
    assert np.all(pay <= en + ATOL)


# --- batching, subsets, broadcasting, namespaces --------------------------------------------


def test_subset_of_paths_equals_rows_of_full_run():
    liab, ext = random_network(11, 12, 7)
    full = clearing_vector(liab, ext, alpha=0.8, beta=0.6)
    rows = [1, 4, 5, 10]
    np.testing.assert_allclose(
        clearing_vector(liab[rows], ext[rows], alpha=0.8, beta=0.6), full[rows], rtol=0, atol=1e-13
    )


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 1.0), (0.7, 0.5)])
def test_a_paths_payments_do_not_depend_on_the_batch_bit_for_bit(alpha, beta):
    """With shortcuts the solve runs over the nodes that default on some path of the batch; a
    path's result is the same, exactly, alone, in any batch, and without shortcuts (all nodes)."""
    liab, ext = random_network(21, 16, 9)
    full = clearing_vector(liab, ext, alpha=alpha, beta=beta)
    for rows in ([0], [3], [2, 7], [15, 0, 8], list(range(16))[::-1]):
        np.testing.assert_array_equal(clearing_vector(liab[rows], ext[rows], alpha=alpha, beta=beta), full[rows])
    np.testing.assert_array_equal(clearing_vector(liab, ext, alpha=alpha, beta=beta, shortcuts=False), full)


def test_shared_network_broadcasts_over_paths():
    _, ext = random_network(3, 5, 3)
    ext = ext + 4.0 * np.random.default_rng(3).random((5, 3))
    shared = clearing_vector(MUTUAL_L, ext)
    stacked = clearing_vector(np.broadcast_to(MUTUAL_L, (5, 3, 3)), ext)
    np.testing.assert_array_equal(shared, stacked)


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 1.0), (0.6, 0.9)])
def test_array_api_strict_namespace(alpha, beta):
    liab, ext = random_network(5, 6, 5)
    got = clearing_vector(
        array_api_strict.asarray(liab), array_api_strict.asarray(ext), alpha=alpha, beta=beta
    )
    assert got.dtype == array_api_strict.float64
    np.testing.assert_allclose(
        np.asarray(got), clearing_vector(liab, ext, alpha=alpha, beta=beta), rtol=0, atol=1e-12
    )
    one = clearing_vector(
        array_api_strict.asarray(liab[0]), array_api_strict.asarray(ext[0]), alpha=alpha, beta=beta
    )
    assert one.shape == (5,)


def test_integer_inputs_give_float64():
    pay = clearing_vector(np.array([[0, 10, 0], [0, 0, 8], [0, 0, 0]]), np.array([6, 3, 0]))
    assert pay.dtype == np.float64
    np.testing.assert_allclose(pay, [6.0, 8.0, 0.0])
