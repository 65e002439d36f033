"""Tail measures of losses over Monte Carlo paths, with bootstrap intervals (issue 12, item 1).

For a loss L observed on n equally likely paths (sorted ``L_(1) <= ... <= L_(n)``):

* Value at risk at level a: the a-quantile, ``VaR_a = L_(ceil(a n))`` (the lower quantile
  ``inf{l: F_n(l) >= a}``, the Basel convention for a loss distribution).
* Expected shortfall: the mean of the worst ``(1 - a)`` of the probability mass,
  ``ES_a = (1/(1-a)) [ sum_{i > k} L_(i) / n + (k/n - a) L_(k) ]`` with ``k = ceil(a n)``
  (Acerbi and Tasche 2002, "On the coherence of expected shortfall", eq. for the empirical
  case): the atom at VaR is counted only as far as it lies in the tail. So ``ES_a >= VaR_a``
  always, ES is coherent (subadditive), and with ties it does not jump with n.

Intervals: a nonparametric bootstrap over paths (Efron and Tibshirani 1993, ch. 13: percentile
interval), B resamples of n paths drawn with replacement. The resample indices depend only on
(seed, n, B), never on the regime or scenario, so the same resamples serve every run of a
comparison: for a difference between regimes each resample takes the *same* paths from both
(a paired bootstrap), and the common random numbers of the paths carry over into the interval.
A regime against a copy of itself gives a difference of exactly 0 with interval [0, 0].

Every run writes these measures for the credit losses of all creditors and of each lender
sector into ``tail.parquet`` (:func:`tail_table`), beside the per-path losses they come from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

LEVELS = (0.95, 0.99)
MEASURES = ("var", "es")
BOOTSTRAP = 1000  # resamples: percentile intervals at 95% need ~1,000 (Efron and Tibshirani 1993, 19.3)
STREAM = 0x7A11  # the bootstrap's own random stream, apart from the model's


def metric_name(measure: str, level: float, of: str = "credit_losses") -> str:
    """``var95_credit_losses``, ``es99_credit_losses_bank``, ..."""
    return f"{measure}{round(level * 100):d}_{of}"


def label(metric: str) -> str:
    """``var95_credit_losses`` -> ``VaR95``; ``es99_...`` -> ``ES99``."""
    head = metric.split("_", 1)[0]
    return "VaR" + head[3:] if head.startswith("var") else "ES" + head[2:]


def _var_es(sorted_l: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES along the last axis of already sorted losses (... , n)."""
    n = sorted_l.shape[-1]
    k = min(max(math.ceil(level * n - 1e-9), 1), n)  # 1-based index of the VaR order statistic
    var = sorted_l[..., k - 1]
    tail = sorted_l[..., k:].sum(axis=-1) / n + (k / n - level) * var
    return var, tail / (1.0 - level)


def var_es(losses: np.ndarray, level: float) -> tuple[float, float]:
    """(VaR, ES) at ``level`` of the losses on each path (NaN paths left out)."""
    x = np.asarray(losses, dtype=float)
    x = np.sort(x[~np.isnan(x)])
    if x.size == 0:
        return math.nan, math.nan
    v, e = _var_es(x, level)
    return float(v), float(e)


BLOCK_CELLS = 1 << 18  # resample indices held at once (2 MiB), whatever the number of paths


def block_rows(n: int, b: int = BOOTSTRAP) -> int:
    """Resamples per block: the memory of the bootstrap is bounded by BLOCK_CELLS, not by n x B."""
    return max(1, min(b, BLOCK_CELLS // max(int(n), 1)))


def resample_blocks(n: int, seed: int, b: int = BOOTSTRAP) -> Iterator[np.ndarray]:
    """The bootstrap's resamples in blocks of (rows, n) int64 path positions, each block from its
    own stream keyed by (seed, n, block): a function of (seed, n, b) only."""
    rows = block_rows(n, b)
    for k, start in enumerate(range(0, b, rows)):
        size = min(rows, b - start)
        yield np.random.default_rng([int(seed), STREAM, int(n), k]).integers(0, n, size=(size, n))


def resamples(n: int, seed: int, b: int = BOOTSTRAP) -> np.ndarray:
    """(b, n) int64 path positions of all resamples at once (for small n; see resample_blocks)."""
    return np.concatenate(list(resample_blocks(n, seed, b)), axis=0)


def _boot_var_es(xs: tuple[np.ndarray, ...], seed: int, b: int) -> list[dict[float, np.ndarray]]:
    """For each loss vector in xs: {level: (2, b) bootstrap draws of VaR and ES}, block by block
    on the same resamples."""
    n = xs[0].size
    out: list[dict[float, list]] = [{lv: [] for lv in LEVELS} for _ in xs]
    for idx in resample_blocks(n, seed, b):
        for x, acc in zip(xs, out, strict=True):
            srt = np.sort(x[idx], axis=-1)
            for lv in LEVELS:
                acc[lv].append(np.stack(_var_es(srt, lv)))
    return [{lv: np.concatenate(v, axis=1) for lv, v in acc.items()} for acc in out]


def interval(draws: np.ndarray, coverage: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap draws."""
    lo, hi = np.quantile(draws, [(1 - coverage) / 2, (1 + coverage) / 2])
    return float(lo), float(hi)


def tail_measures(losses: np.ndarray, seed: int, of: str = "credit_losses",
                  b: int = BOOTSTRAP) -> list[tuple[str, float, float, float]]:
    """(metric, value, ci_low, ci_high) of VaR and ES at each of :data:`LEVELS`."""
    x = np.asarray(losses, dtype=float)
    (draws_of,) = _boot_var_es((x,), seed, b)
    out = []
    for level in LEVELS:
        point = var_es(x, level)
        boot = draws_of[level]
        for measure, value, draws in zip(MEASURES, point, boot, strict=True):
            out.append((metric_name(measure, level, of), value, *interval(draws)))
    return out


def paired_tail_difference(x: np.ndarray, ref: np.ndarray, seed: int, of: str = "credit_losses",
                           b: int = BOOTSTRAP) -> list[tuple[str, float, float, float, float]]:
    """(metric, value of x, difference x - ref, ci_low, ci_high) of each tail measure, the
    interval from a paired bootstrap: each resample takes the same paths from x and ref.

    x, ref: (paths,) losses of two runs on the same paths (same seed, same path numbers)."""
    x, ref = np.asarray(x, dtype=float), np.asarray(ref, dtype=float)
    if x.shape != ref.shape:
        raise ValueError(f"a paired difference needs the same paths: {x.shape} against {ref.shape}")
    dx, d0 = _boot_var_es((x, ref), seed, b)
    out = []
    for level in LEVELS:
        px, p0 = var_es(x, level), var_es(ref, level)
        bx, b0 = dx[level], d0[level]
        for k, measure in enumerate(MEASURES):
            d = bx[k] - b0[k]
            lo, hi = interval(d)
            out.append((metric_name(measure, level, of), px[k], px[k] - p0[k], lo, hi))
    return out


#: Columns of tail.parquet.
TAIL_COLUMNS = ("losses_of", "metric", "value", "ci_low", "ci_high")


def tail_table(paths: pd.DataFrame, seed: int, lender_sectors: tuple[str, ...]) -> pd.DataFrame:
    """tail.parquet: VaR and ES at 95% and 99% with 95% bootstrap intervals of ``credit_losses``
    (``losses_of`` = "all") and of ``credit_losses_<sector>`` for each lender sector in ``paths``.
    USD bn."""
    rows = []
    for of in ("credit_losses", *(f"credit_losses_{x}" for x in lender_sectors)):
        if of not in paths:
            continue
        whose = "all" if of == "credit_losses" else of[len("credit_losses_"):]
        x = paths[of].to_numpy(dtype=float)
        rows += [(whose, name, v, lo, hi) for name, v, lo, hi in tail_measures(x, seed, of)]
    return pd.DataFrame(rows, columns=list(TAIL_COLUMNS))
