"""Shapley attribution of a metric to the contagion channels (issue 12, item 3).

The game: the players are channels N (a subset of :data:`aisim.channels.NAMES`); the value of
a coalition S is the metric's mean over paths of a run with the channels in S on and the other
channels of N off, every run on the same seed and paths. The Shapley value of channel i
(Shapley 1953) is

    phi_i = sum_{S subset of N \\ {i}} |S|! (n - |S| - 1)! / n!  [v(S + i) - v(S)],

and by efficiency sum_i phi_i = v(N) - v({}): the all-on minus all-off difference, exactly.

Because v is a mean over paths and the Shapley value is linear in v, phi_i is the mean over
paths of the per-path Shapley values phi_{i,p} (the same formula on path p's metric). Every
coalition runs on the same random numbers, so the per-path values are paired and the interval
is ``mean +/- 1.96 sd_p(phi_{i,p}) / sqrt(n)``.

Exact where affordable (2^n runs); otherwise sampled permutations (Castro, Gomez and Tejada
2009): for M uniformly drawn orders of N, phi_i is estimated by the mean of i's marginal
contribution when it joins the channels before it. Each order's contributions telescope to
v(N) - v({}), so efficiency still holds exactly. The interval adds the permutation variance to
the paths' one: ``var = var_p(g_{i,p}) / n + var_m(d_{i,m}) / M`` with g the per-path estimate
and d_{i,m} order m's mean contribution. Orders are drawn from a stream of their own keyed by the
seed only, so every regime and scenario is attributed on the same orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np

Z95 = 1.96
STREAM = 0x5A41  # the permutation sampler's stream
Coalition = frozenset[str]
Value = Callable[[Coalition], np.ndarray]  # coalition -> (paths,) per-path metric


def exact(players: Sequence[str], value: Value) -> np.ndarray:
    """(players, paths) per-path Shapley values, over all 2^n coalitions."""
    n = len(players)
    cache: dict[Coalition, np.ndarray] = {}

    def v(s: Coalition) -> np.ndarray:
        if s not in cache:
            cache[s] = np.asarray(value(s), dtype=float)
        return cache[s]

    phi = np.zeros((n, v(frozenset()).shape[0]))
    for i, p in enumerate(players):
        others = [q for q in players if q != p]
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for rest in combinations(others, size):
                s = frozenset(rest)
                phi[i] += w * (v(s | {p}) - v(s))
    return phi


def sampled(players: Sequence[str], value: Value, orders: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-path estimates (players, paths) from ``orders`` random orders, and each order's mean
    contribution (orders, players)."""
    n = len(players)
    cache: dict[Coalition, np.ndarray] = {}

    def v(s: Coalition) -> np.ndarray:
        if s not in cache:
            cache[s] = np.asarray(value(s), dtype=float)
        return cache[s]

    rng = np.random.default_rng([int(seed), STREAM, n])
    contrib = np.zeros((orders, n, v(frozenset()).shape[0]))
    for m in range(orders):
        s: Coalition = frozenset()
        for k in rng.permutation(n):
            joined = s | {players[k]}
            contrib[m, k] = v(joined) - v(s)
            s = joined
    return contrib.mean(axis=0), contrib.mean(axis=2)


def summarise(per_path: np.ndarray, by_order: np.ndarray | None = None) -> list[tuple[float, float, float]]:
    """(value, ci_low, ci_high) of each player from per-path Shapley values (players, paths)."""
    n = per_path.shape[1]
    out = []
    for i in range(per_path.shape[0]):
        mean = float(per_path[i].mean())
        var = float(per_path[i].var(ddof=1)) / n if n > 1 else math.nan
        if by_order is not None and by_order.shape[0] > 1:
            var += float(by_order[:, i].var(ddof=1)) / by_order.shape[0]
        hw = Z95 * math.sqrt(var) if not math.isnan(var) else math.nan
        out.append((mean, mean - hw, mean + hw))
    return out


def attribute(players: Sequence[str], value: Value, *, exact_max_runs: int, orders: int,
              seed: int) -> tuple[list[tuple[float, float, float]], str]:
    """Shapley values with intervals, exact when 2^n runs fit in ``exact_max_runs``, otherwise
    by ``orders`` sampled permutations. Returns the rows and the method used."""
    if 2 ** len(players) <= exact_max_runs:
        return summarise(exact(players, value)), "exact"
    per_path, by_order = sampled(players, value, orders, seed)
    return summarise(per_path, by_order), f"{orders} sampled permutations"
