"""kernels.backend.segment_sum: bincount on NumPy, a sorted fixed-order reduction elsewhere.

The sorted reduction is the code a GPU runs (CuPy's own ``bincount`` adds with atomics, in no
fixed order, and synchronises with the host twice per call). It uses only array-API operations,
so it is tested here on NumPy and array-api-strict arrays, against NumPy's bincount.
"""

from __future__ import annotations

import gc

import array_api_strict as xps
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisim.kernels import backend
from aisim.kernels.backend import SEGMENT_CHUNK, segment_plan, segment_sum, segment_sum_sorted


def bincount(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """The obvious reference: NumPy's bincount, path by path."""
    return np.stack([np.bincount(index, weights=row, minlength=n) for row in values]) if len(values) else \
        np.zeros((0, n))


def book_like(rng: np.random.Generator, agents: int, contracts: int) -> np.ndarray:
    """A payer/payee-like index over agents + 1 columns (the last one external), some agents
    with nothing, the external column and one agent with many contracts."""
    n = agents + 1
    weights = rng.random(n) * (rng.random(n) > 0.3)
    weights[-1] += 2.0  # the external sector is party to many contracts
    weights[0] += 1.0
    return rng.choice(n, size=contracts, p=weights / weights.sum())


@pytest.mark.parametrize(("agents", "contracts", "paths"), [(8, 27, 5), (28, 265, 7), (3, 400, 4), (50, 2000, 3),
                                                            (1, 1, 2), (200, 30, 3)])
def test_sorted_matches_bincount(agents, contracts, paths) -> None:
    rng = np.random.default_rng(agents * 1000 + contracts)
    index = book_like(rng, agents, contracts)
    n = agents + 1
    values = rng.normal(size=(paths, contracts)) * rng.lognormal(0.0, 3.0, size=contracts)
    values[:, rng.random(contracts) < 0.2] = 0.0
    ref = bincount(values, index, n)
    out = segment_sum_sorted(np, values, index, n)
    assert out.shape == (paths, n) and out.dtype == values.dtype
    counts = np.bincount(index, minlength=n)
    assert (counts == 0).any() or agents < 3  # empty bins are covered
    short = counts <= SEGMENT_CHUNK
    # bins of at most SEGMENT_CHUNK elements are summed in bincount's order: the same bits
    np.testing.assert_array_equal(out[:, short], ref[:, short])
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12 * np.abs(values).sum())
    assert (out[:, counts == 0] == 0.0).all()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_sorted_matches_bincount_property(data) -> None:
    n = data.draw(st.integers(1, 12), label="bins")
    c = data.draw(st.integers(1, 80), label="elements")
    chunk = data.draw(st.integers(2, 6), label="chunk")
    index = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=c, max_size=c)), dtype=np.int64)
    values = np.array(data.draw(st.lists(st.floats(-1e3, 1e3), min_size=2 * c, max_size=2 * c))).reshape(2, c)
    out = segment_sum_sorted(np, values, index, n, chunk=chunk)
    np.testing.assert_allclose(out, bincount(values, index, n), rtol=1e-12, atol=1e-9)
    # a finer chunking only regroups the additions; exact for bins no longer than the chunk
    counts = np.bincount(index, minlength=n)
    short = counts <= chunk
    np.testing.assert_array_equal(out[:, short], bincount(values, index, n)[:, short])


def test_sorted_through_array_api_strict() -> None:
    """segment_sum on a non-NumPy namespace takes the sorted path, in array-API operations."""
    rng = np.random.default_rng(3)
    index = book_like(rng, 28, 265)
    values = rng.normal(size=(6, 265))
    strict = segment_sum(xps, xps.asarray(values), xps.asarray(index), 29)
    assert isinstance(strict, type(xps.asarray(0.0)))
    np.testing.assert_array_equal(np.asarray(strict), segment_sum_sorted(np, values, index, 29))
    np.testing.assert_allclose(np.asarray(strict), bincount(values, index, 29), rtol=1e-12, atol=1e-12)
    # several levels (bins longer than the chunk) under array-api-strict too
    long = rng.integers(0, 3, 300)
    strict = segment_sum_sorted(xps, xps.asarray(values[:, :1].repeat(300, axis=1)), xps.asarray(long), 3, chunk=4)
    np.testing.assert_allclose(np.asarray(strict), bincount(values[:, :1].repeat(300, axis=1), long, 3), rtol=1e-12)
    assert len(segment_plan(xps, xps.asarray(long), 3, chunk=4).levels) >= 3


def test_sorted_is_deterministic_and_path_independent() -> None:
    rng = np.random.default_rng(4)
    index = rng.integers(0, 5, 500)  # bins of ~100 elements: several chunks each
    values = rng.normal(size=(9, 500)) * 1e6
    a = segment_sum_sorted(np, values, index, 5)
    b = segment_sum_sorted(np, values.copy(), index.copy(), 5)  # a new plan for an equal index
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(segment_sum_sorted(np, values, index, 5), a)  # the cached plan
    # each path's sums are its own: a subset of paths gives the same rows, bit for bit
    np.testing.assert_array_equal(segment_sum_sorted(np, values[3:5], index, 5), a[3:5])
    np.testing.assert_array_equal(segment_sum_sorted(np, values[7:8], index, 5), a[7:8])


def test_numpy_keeps_bincount_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    index = rng.integers(0, 40, 3000)  # long bins, where the sorted path would round differently
    values = rng.normal(size=(4, 3000))
    flat = np.bincount(((np.arange(4) * 40)[:, None] + index[None, :]).reshape(-1), weights=values.reshape(-1),
                       minlength=160).reshape(4, 40)
    np.testing.assert_array_equal(segment_sum(np, values, index, 40), flat)


def test_edge_cases() -> None:
    index = np.array([2, 2, 0])
    np.testing.assert_array_equal(segment_sum_sorted(np, np.zeros((3, 0)), index[:0], 4), np.zeros((3, 4)))
    np.testing.assert_array_equal(segment_sum_sorted(np, np.ones((0, 3)), index, 4), np.zeros((0, 4)))
    out = segment_sum_sorted(np, np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, -0.0]]), index, 4)
    np.testing.assert_array_equal(out, [[2.0, 0.0, np.nan, 0.0], [-0.0, 0.0, np.inf, 0.0]])
    assert not np.signbit(out[1, 0])  # 0.0 + (-0.0), as bincount gives
    with pytest.raises(ValueError, match="out of range"):
        segment_sum_sorted(np, np.ones((1, 3)), np.array([0, 4, 1]), 4)


def test_plans_are_cached_per_index_and_freed_with_it() -> None:
    """One plan per index array (the GPU reads the index once); the cache holds no dead index,
    so a finished chunk's book does not keep its offsets or plans alive."""
    index = np.array([1, 0, 1, 3])
    p = segment_plan(np, index, 4)
    assert segment_plan(np, index, 4) is p
    assert segment_plan(np, index.copy(), 4) is not p
    backend._flat_offsets(np, index, 1000, 4)
    keys = [k for k in backend._CACHE if k[0] == id(index)]
    assert len(keys) == 2
    del index, p
    gc.collect()
    assert not [k for k in backend._CACHE if k in keys]


@pytest.mark.gpu
def test_cupy_takes_the_sorted_path_bit_for_bit() -> None:
    """On CuPy, segment_sum is the sorted reduction: the same additions in the same order as on
    NumPy (IEEE additions round alike on both), so the same bits, run after run."""
    try:
        cp = backend.resolve("cupy").xp
    except backend.BackendError as exc:
        pytest.skip(f"no usable CUDA device: {exc}")
    rng = np.random.default_rng(6)
    index = book_like(rng, 28, 2000)
    values = rng.normal(size=(64, 2000))
    d_index, d_values = cp.asarray(index), cp.asarray(values)
    first = backend.to_numpy(segment_sum(cp, d_values, d_index, 29))
    np.testing.assert_array_equal(first, segment_sum_sorted(np, values, index, 29))
    np.testing.assert_array_equal(backend.to_numpy(segment_sum(cp, d_values, d_index, 29)), first)
