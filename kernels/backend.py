"""Array backends: choose NumPy or CuPy, and the few operations that differ between them.

Kernels are written against the array API standard. The operations the standard lacks, and
that aisim needs on the hot path, live here with one implementation per backend:

* :func:`segment_sum` -- scatter-add of per-contract values onto agents (the sparse
  incidence product ``values @ incidence``): ``bincount`` on NumPy; on every other namespace
  (CuPy, and ``array_api_strict`` in tests) a sorted reduction in a fixed order that uses only
  array-API operations, so the code a GPU runs is the code tests run on a CPU-only machine.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("auto", "numpy", "cupy")


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


@dataclass(frozen=True)
class Backend:
    """A resolved backend: its name, array namespace and a human description of the device."""

    name: str
    xp: ModuleType
    device: str
    reason: str = ""


def _probe_cupy() -> tuple[ModuleType | None, str]:
    """Return (cupy, device description) when a CUDA device is really usable, else (None, why)."""
    try:
        import cupy as cp  # noqa: PLC0415 -- optional dependency, probed lazily
    except Exception as exc:  # ImportError, or a broken CUDA install raising anything
        return None, f"CuPy is not installed ({type(exc).__name__}: {exc}); install aisim[gpu]"
    try:
        if not cp.cuda.is_available():
            return None, "CuPy is installed but reports no usable CUDA device"
        # An allocation plus a compiled kernel launch: is_available() alone is not enough.
        if int((cp.arange(4) * 2).sum().item()) != 12:
            return None, "CuPy's test kernel returned a wrong result"
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return cp, f"CUDA device {cp.cuda.Device().id}: {name}"
    except Exception as exc:  # CUDARuntimeError, NVRTC errors, missing libraries
        return None, f"CuPy cannot use a CUDA device ({type(exc).__name__}: {exc})"


def resolve(name: str) -> Backend:
    """Resolve ``auto|numpy|cupy`` to a usable :class:`Backend`.

    ``auto`` takes CuPy only when an allocation and a kernel launch succeed, else NumPy, and
    says why in ``reason``. ``cupy`` without a usable device raises :class:`BackendError`.
    """
    if name not in BACKENDS:
        raise BackendError(f"backend={name!r} is not valid; use one of {', '.join(BACKENDS)}")
    if name == "numpy":
        return Backend("numpy", np, "CPU (NumPy)")
    cp, info = _probe_cupy()
    if cp is not None:
        try:  # the array-API face of CuPy, where installed (the gpu extra brings it)
            from array_api_compat import cupy as compat  # noqa: PLC0415

            return Backend("cupy", compat, info)
        except ImportError:
            return Backend("cupy", cp, info)
    if name == "cupy":
        raise BackendError(f"backend=cupy cannot be used: {info}. Run with backend=numpy instead.")
    return Backend("numpy", np, "CPU (NumPy)", reason=f"auto chose NumPy: {info}")


def namespace_of(x: Any) -> ModuleType:
    """The array namespace of ``x`` (NumPy for Python scalars and lists)."""
    if hasattr(x, "__array_namespace__"):
        ns = x.__array_namespace__()
        # numpy.ndarray.__array_namespace__ returns numpy itself in NumPy >= 2.
        return ns
    return np


def _is(xp: ModuleType, name: str) -> bool:
    """Whether ``xp`` is that library, directly or through array-api-compat's wrapper."""
    parts = getattr(xp, "__name__", "").split(".")
    return parts[0] == name or (parts[0] == "array_api_compat" and parts[-1] == name)


# Caches keyed by the identity of an index array. An entry lives as long as its index does (a
# weak reference evicts it), so a finished chunk's book takes its cached offsets and plans with
# it; namespaces whose arrays take no weak reference keep a strong one, in a bounded cache.
_CACHE: dict[tuple, tuple[Any, Any]] = {}
_STRONG_MAX = 64


def _cached(index: Any, key: tuple, build: Any) -> Any:
    full = (id(index), *key)
    hit = _CACHE.get(full)
    if hit is not None:
        ref = hit[0]
        if (ref() if isinstance(ref, weakref.ref) else ref) is index:
            return hit[1]
    value = build()
    try:
        ref = weakref.ref(index, lambda _, k=full: _CACHE.pop(k, None))
    except TypeError:  # no weak references: hold the index itself, and bound the cache
        strong = [k for k, v in _CACHE.items() if not isinstance(v[0], weakref.ref)]
        if len(strong) >= _STRONG_MAX:
            _CACHE.pop(strong[0])
        ref = index
    _CACHE[full] = (ref, value)
    return value


def derived_index(index: Any, key: tuple, build: Any) -> Any:
    """An index array derived from ``index`` by ``build()``, cached while ``index`` lives under
    ``key``: a kernel that derives one from a book's fixed arrays each month gets the same array
    back, so :func:`segment_plan` reads it on the host once, not every month."""
    return _cached(index, ("derived", *key), build)


def _flat_offsets(xp: ModuleType, index: Any, paths: int, n: int) -> Any:
    """Flattened bin numbers ``path * n + index[c]``, cached: the same book is aggregated many
    times a month."""
    return _cached(index, ("offsets", paths, n),
                   lambda: ((xp.arange(paths, dtype=xp.int64) * n)[:, None] + index[None, :]).reshape(-1))


#: Longest run of elements a sorted segment sum adds one after the other; longer segments are
#: summed in chunks of this many, then the chunks' sums (again in order, in chunks).
SEGMENT_CHUNK = 32


@dataclass(frozen=True)
class _Level:
    """One pass of a sorted segment sum: ``sizes[k]`` outputs receive input ``cols[k]`` at slot k.

    Outputs are ordered by how many inputs they take (most first), so the outputs still
    receiving at slot k are the first ``sizes[k]``: each pass adds one (paths, sizes[k]) gather
    per slot and every input is read exactly once.
    """

    cols: tuple[Any, ...]  # per slot: (sizes[k],) int64 input columns
    sizes: tuple[int, ...]  # non-increasing; sizes[0] is the number of outputs


@dataclass(frozen=True)
class SegmentPlan:
    """A fixed-order reduction of (paths, elements) columns into ``n`` bins, built on the host.

    levels: the passes, each reducing its input to one column per chunk (of at most
    :data:`SEGMENT_CHUNK` consecutive elements of one bin); gather: (n,) int64, the column of the
    last pass's output holding each bin's sum, or one past the last for an empty bin.
    """

    n: int
    levels: tuple[_Level, ...]
    gather: Any


def segment_plan(xp: ModuleType, index: Any, n: int, chunk: int = SEGMENT_CHUNK) -> SegmentPlan:
    """The :class:`SegmentPlan` of ``index`` ((elements,) int64 in [0, n)) for namespace ``xp``.

    Built once per index array on the host -- reading ``index`` there is the one host
    synchronisation, on a GPU -- and cached while the array lives. An index array made afresh
    for every call (``payer * N + payee`` inside a kernel, say) is read again every call: keep
    such arrays with the book.
    """
    return _cached(index, ("plan", n, chunk), lambda: _build_plan(xp, to_numpy(index), n, chunk))


def _build_plan(xp: ModuleType, index: np.ndarray, n: int, chunk: int) -> SegmentPlan:
    if chunk < 2:
        raise ValueError(f"chunk must be at least 2, got {chunk}")
    seg = np.asarray(index, dtype=np.int64).reshape(-1)
    if seg.size == 0:
        return SegmentPlan(n=n, levels=(), gather=xp.asarray(np.zeros(n, dtype=np.int64)))
    if seg.min() < 0 or seg.max() >= n:
        raise ValueError(f"segment index out of range [0, {n}): min {seg.min()}, max {seg.max()}")
    n_seg = n
    levels = []
    while True:
        order = np.argsort(seg, kind="stable")  # by bin; within a bin, in element order
        counts = np.bincount(seg, minlength=n_seg)
        starts = np.cumsum(counts) - counts
        n_chunks = -(-counts // chunk)
        chunk_seg = np.repeat(np.arange(n_seg), n_chunks)
        first = np.cumsum(n_chunks) - n_chunks
        j = np.arange(chunk_seg.size) - first[chunk_seg]  # chunk number within its bin
        c_start = starts[chunk_seg] + j * chunk
        c_len = np.minimum(chunk, counts[chunk_seg] - j * chunk)
        pos = np.argsort(-c_len, kind="stable")  # output column p is chunk pos[p]
        lens = c_len[pos]
        sizes = tuple(int(np.count_nonzero(lens > k)) for k in range(int(lens[0])))
        cols = tuple(xp.asarray(order[c_start[pos[:m]] + k]) for k, m in enumerate(sizes))
        levels.append(_Level(cols=cols, sizes=sizes))
        seg = chunk_seg[pos]  # the next pass's input columns, by bin
        if n_chunks.max() <= 1:
            break
    gather = np.full(n, seg.size, dtype=np.int64)
    gather[seg] = np.arange(seg.size)
    return SegmentPlan(n=n, levels=tuple(levels), gather=xp.asarray(gather))


def segment_sum_sorted(xp: ModuleType, values: Any, index: Any, n: int, chunk: int = SEGMENT_CHUNK) -> Any:
    """:func:`segment_sum` by a sorted reduction in a fixed order, in array-API operations only.

    No atomics and no host synchronisation (after the first call for an ``index`` array, which
    builds its :func:`segment_plan`): ``take``, ``+``, slicing and ``concat``. Within a bin the
    elements are added one after the other in element order, starting from zero -- the order of
    ``numpy.bincount``, so a bin of at most :data:`SEGMENT_CHUNK` elements gets exactly
    bincount's result -- and a longer bin adds its chunks' sums the same way. Each output is a
    fixed sequence of additions of its own path's values: the result does not depend on the
    backend's scheduling or on the other paths of the chunk.
    """
    paths = values.shape[0]
    if values.shape[1] == 0:
        return xp.zeros((paths, n), dtype=values.dtype)
    plan = segment_plan(xp, index, n, chunk)
    zero = xp.zeros((paths, 1), dtype=values.dtype)
    x = values
    for level in plan.levels:
        acc = zero + xp.take(x, level.cols[0], axis=1)
        done = []
        for cols, m in zip(level.cols[1:], level.sizes[1:], strict=True):
            if m < acc.shape[1]:
                done.append(acc[:, m:])
                acc = acc[:, :m]
            acc = acc + xp.take(x, cols, axis=1)
        x = xp.concat([acc, *reversed(done)], axis=1) if done else acc
    return xp.take(xp.concat([x, zero], axis=1), plan.gather, axis=1)


def segment_sum(xp: ModuleType, values: Any, index: Any, n: int) -> Any:
    """Sum columns of ``values`` into ``n`` bins: ``out[p, k] = sum(values[p, c] for index[c] == k)``.

    values: (paths, contracts) float64; index: (contracts,) int64 in [0, n); returns (paths, n).
    This is the product of ``values`` with the (contracts, n) incidence matrix. Deterministic on
    every backend: the summation order within a bin follows contract order, whatever the chunk
    size. NumPy uses ``bincount`` (sequential, in element order). Every other namespace (CuPy,
    array-api-strict) uses :func:`segment_sum_sorted`: CuPy's ``bincount`` adds with atomics, in
    no fixed order, and synchronises with the host twice per call.
    """
    paths = values.shape[0]
    if values.shape[1] == 0:
        return xp.zeros((paths, n), dtype=values.dtype)
    if _is(xp, "numpy"):
        offsets = _flat_offsets(xp, index, paths, n)
        flat = np.bincount(offsets, weights=values.reshape(-1), minlength=paths * n)
        return flat.reshape(paths, n)
    return segment_sum_sorted(xp, values, index, n)


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any backend to a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):  # CuPy
        return x.get()
    return np.asarray(x)
