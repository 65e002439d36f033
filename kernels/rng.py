"""Counter-based random numbers: Philox4x32-10 written in array code.

Every draw is a pure function of ``(seed, path, month, stream, column)``: the 128-bit counter is
``(path, month, stream, column)`` and the 64-bit key is the seed. A path therefore sees the same
numbers whatever the chunk size, the shard, the number of workers or the backend, which also
makes regime comparisons on one seed paired by construction (common random numbers).

Reference: J. K. Salmon, M. A. Moraes, R. O. Dror and D. E. Shaw (2011), "Parallel random
numbers: as easy as 1, 2, 3", SC'11 -- Philox4x32 with 10 rounds and its published constants.

All arithmetic is on uint64 arrays holding 32-bit words, so that the 32x32 -> 64-bit products the
rounds need are exact on every array-API backend.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

_M0 = 0xD2511F53
_M1 = 0xCD9E8D57
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK = 0xFFFFFFFF
ROUNDS = 10

# Named streams: one per kind of draw, so adding a draw never shifts another.
STREAMS = {
    "demand": 1,
    "price": 2,
    "rate": 3,
    "utilisation": 4,
    "idiosyncratic": 5,
    "sector": 6,
    "firm_jump": 7,
    "appetite": 8,
    "appetite_jump": 9,
    "valuation": 10,
    "valuation_sector": 11,
}


def named_stream(name: str) -> int:
    """The stream of a draw named by the user (a scenario's index): a stable function of the
    name alone, above the built-in streams, so adding or reordering indices shifts no draw and
    common random numbers across regimes hold."""
    import zlib

    return 1 << 20 | zlib.crc32(name.encode()) & 0xFFFFF


def philox4x32(xp: ModuleType, c0: Any, c1: Any, c2: Any, c3: Any, k0: int, k1: int) -> tuple:
    """Philox4x32-10 block function.

    c0..c3: uint64 arrays (broadcastable) holding 32-bit counter words; k0, k1: 32-bit key words.
    Returns four uint64 arrays of 32-bit output words, shaped like the broadcast counter.
    """
    mask = xp.asarray(_MASK, dtype=xp.uint64)
    k0a = xp.asarray(k0 & _MASK, dtype=xp.uint64)
    k1a = xp.asarray(k1 & _MASK, dtype=xp.uint64)
    m0 = xp.asarray(_M0, dtype=xp.uint64)
    m1 = xp.asarray(_M1, dtype=xp.uint64)
    w0 = xp.asarray(_W0, dtype=xp.uint64)
    w1 = xp.asarray(_W1, dtype=xp.uint64)
    shift = xp.asarray(32, dtype=xp.uint64)
    for _ in range(ROUNDS):
        p0 = m0 * c0
        p1 = m1 * c2
        hi0, lo0 = p0 >> shift, p0 & mask
        hi1, lo1 = p1 >> shift, p1 & mask
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0a, lo1, hi0 ^ c3 ^ k1a, lo0
        k0a = (k0a + w0) & mask
        k1a = (k1a + w1) & mask
    return c0, c1, c2, c3


def _counters(xp: ModuleType, path_index: Any, month: int, stream: int, n: int) -> tuple:
    paths = xp.astype(path_index, xp.uint64)[:, None]
    cols = xp.arange(n, dtype=xp.uint64)[None, :]
    zero = xp.zeros((paths.shape[0], n), dtype=xp.uint64)
    c0 = zero + (paths & xp.asarray(_MASK, dtype=xp.uint64))
    c1 = zero + xp.asarray(((month & 0xFFFF) << 16) | (stream & 0xFFFF), dtype=xp.uint64)
    c2 = zero + cols
    c3 = zero + (paths >> xp.asarray(32, dtype=xp.uint64))
    return c0, c1, c2, c3


def _to_unit(xp: ModuleType, hi: Any, lo: Any) -> Any:
    """53 random bits from two words -> float64 strictly inside (0, 1)."""
    bits = ((hi << xp.asarray(21, dtype=xp.uint64)) ^ (lo >> xp.asarray(11, dtype=xp.uint64)))
    bits = bits & xp.asarray((1 << 53) - 1, dtype=xp.uint64)
    return (xp.astype(bits, xp.float64) + 0.5) * (2.0**-53)


def uniform(xp: ModuleType, seed: int, path_index: Any, month: int, stream: int, n: int) -> Any:
    """Uniform draws in (0, 1).

    path_index: (paths,) int64 global path numbers; month: int >= 0; stream: int (see STREAMS);
    n: number of columns. Returns (paths, n) float64.
    """
    k0, k1 = seed & _MASK, (seed >> 32) & _MASK
    x0, x1, _, _ = philox4x32(xp, *_counters(xp, path_index, month, stream, n), k0, k1)
    return _to_unit(xp, x0, x1)


def normal(xp: ModuleType, seed: int, path_index: Any, month: int, stream: int, n: int) -> Any:
    """Standard normal draws by Box-Muller on two 53-bit uniforms from one Philox block.

    Same signature and shape as :func:`uniform`; returns (paths, n) float64.
    """
    k0, k1 = seed & _MASK, (seed >> 32) & _MASK
    x0, x1, x2, x3 = philox4x32(xp, *_counters(xp, path_index, month, stream, n), k0, k1)
    u1 = _to_unit(xp, x0, x1)
    u2 = _to_unit(xp, x2, x3)
    return xp.sqrt(-2.0 * xp.log(u1)) * xp.cos((2.0 * math.pi) * u2)
