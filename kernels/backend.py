"""Array backends: choose NumPy or CuPy, and the few operations that differ between them.

Kernels are written against the array API standard. The operations the standard lacks, and
that aisim needs on the hot path, live here with one implementation per backend:

* :func:`segment_sum` -- scatter-add of per-contract values onto agents (the sparse
  incidence product ``values @ incidence``).

Any other namespace (for example ``array_api_strict`` in tests) gets a generic dense
fallback, so code that only a GPU could reject is caught on a CPU-only machine.
"""

from __future__ import annotations

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


_OFFSETS: dict[tuple[int, int, int], tuple[Any, Any]] = {}
_OFFSETS_MAX = 64


def _flat_offsets(xp: ModuleType, index: Any, paths: int, n: int) -> Any:
    """Flattened bin numbers ``path * n + index[c]``, cached: the same book is aggregated many
    times a month. The cache keeps a reference to ``index``, so its id cannot be reused."""
    key = (id(index), paths, n)
    hit = _OFFSETS.get(key)
    if hit is not None and hit[0] is index:
        return hit[1]
    flat = ((xp.arange(paths, dtype=xp.int64) * n)[:, None] + index[None, :]).reshape(-1)
    if len(_OFFSETS) >= _OFFSETS_MAX:
        _OFFSETS.pop(next(iter(_OFFSETS)))
    _OFFSETS[key] = (index, flat)
    return flat


def segment_sum(xp: ModuleType, values: Any, index: Any, n: int) -> Any:
    """Sum columns of ``values`` into ``n`` bins: ``out[p, k] = sum(values[p, c] for index[c] == k)``.

    values: (paths, contracts) float64; index: (contracts,) int64 in [0, n); returns (paths, n).
    This is the product of ``values`` with the (contracts, n) incidence matrix. The summation
    order within a bin follows contract order on every backend and every chunk size, so results
    do not depend on how paths are chunked.
    """
    paths = values.shape[0]
    if values.shape[1] == 0:
        return xp.zeros((paths, n), dtype=values.dtype)
    if _is(xp, "numpy") or _is(xp, "cupy"):
        offsets = _flat_offsets(xp, index, paths, n)
        lib = np if _is(xp, "numpy") else __import__("cupy")
        flat = lib.bincount(offsets, weights=values.reshape(-1), minlength=paths * n)
        return flat.reshape(paths, n)
    # Generic array-API fallback: a dense one-hot incidence matrix.
    onehot = xp.astype(index[:, None] == xp.arange(n, dtype=index.dtype)[None, :], values.dtype)
    return values @ onehot


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any backend to a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):  # CuPy
        return x.get()
    return np.asarray(x)
