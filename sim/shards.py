"""Which paths a run computes: ``paths.shard`` as ``I/N`` (shard I of N) or a range ``A:B``.

Shard I of N (1 <= I <= N) of a run with ``paths.n = n`` is the path range
``[floor((I-1) n / N), floor(I n / N))``: fixed by I, N and n alone, so the N shards of a run
tile its paths whatever machine runs them. ``A:B`` names the range directly (``0 <= A < B <=
paths.n``); that is how an existing run is extended by the paths it lacks (README: "Extend").
"""

from __future__ import annotations

import re
from typing import Any

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_RANGE = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


def is_set(shard: Any) -> bool:
    return shard is not None and str(shard).strip() != ""


def shard_range(shard: Any, n: int) -> tuple[int, int]:
    """The half-open path range ``(lo, hi)`` that ``paths.shard=shard`` selects of ``n`` paths.

    Raises ValueError with a message naming ``paths.shard`` and what is valid.
    """
    if not is_set(shard):
        return 0, n
    text = str(shard)
    m = _SHARD.fullmatch(text)
    if m:
        i, k = int(m.group(1)), int(m.group(2))
        if not 1 <= i <= k:
            raise ValueError(f"paths.shard={text!r}: shard I of N needs 1 <= I <= N, e.g. 1/{max(k, 2)}")
        if k > n:
            raise ValueError(f"paths.shard={text!r}: {k} shards need at least {k} paths (paths.n={n})")
        return (i - 1) * n // k, i * n // k
    m = _RANGE.fullmatch(text)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if not 0 <= a < b <= n:
            raise ValueError(f"paths.shard={text!r}: a path range A:B needs 0 <= A < B <= paths.n={n}")
        return a, b
    raise ValueError(f"paths.shard={text!r}: use I/N (shard I of N, 1 <= I <= N, e.g. 2/3) or a path range A:B "
                     "(0 <= A < B <= paths.n), or leave it empty for all paths")


def shard_of(shard: Any) -> tuple[int, int] | None:
    """(I, N) for ``I/N``, None for a range or no shard."""
    m = _SHARD.fullmatch(str(shard)) if is_set(shard) else None
    return (int(m.group(1)), int(m.group(2))) if m else None
