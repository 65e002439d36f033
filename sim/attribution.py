"""Attribution of the system's expected shortfall to institutions (issue 12, item 2).

The system's loss on path p is L_p = sum_i L_{i,p}, and it splits two ways, both exactly:

* ``loss_caused``: L_{i,p} = the credit losses agent i's default inflicted on its creditors
  (``State.loss_caused``; zero unless i defaulted). Who *makes* the tail: the measure of
  systemic importance a supervisor designates on (the losses a failure imposes on others,
  as in the G-SIB and DebtRank views).
* ``loss_borne``: L_{j,p} = the credit losses creditor j took (``State.credit_loss``, the external
  sector included). Who *takes* the tail: where capital is needed.

Euler allocation of expected shortfall (Tasche 1999; McNeil, Frey and Embrechts 2015, 8.5):
ES is positively homogeneous, so the contributions ``C_i = E[L_i | L in the tail]`` sum to ES. On
n paths with the tail weights of :mod:`aisim.tail`'s estimator (w_p = 1/((1-a) n) on paths ranked
above the VaR path, ``(k/n - a)/(1-a)`` on it, 0 below; ties ranked by path number),

    ES_a = sum_p w_p L_p,    C_i = sum_p w_p L_{i,p},    sum_i C_i = ES_a  (exactly).

Intervals: the bootstrap over paths of :mod:`aisim.tail` (the same resamples), each resample
with its own tail weights.

Agent-level losses per path are (paths x agents); rather than keep them for every path, the paths
that can enter a tail -- the worst ``KEEP_SHARE`` of the run's paths, twice the largest tail
(5%) -- are simulated again after the run. Random numbers are a pure function of (seed, path,
month, stream), so they reproduce exactly; :func:`tail_losses` checks that they do. A bootstrap
resample whose tail would need a path outside the kept set is left out (with 1,000 paths this
does not happen). The simulation is the runner's (:func:`aisim.runner.attribution_of`); this
module is the arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aisim import tail

KEEP_SHARE = 0.10
COLUMNS = ("agent", "sector", "measure", "contribution", "ci_low", "ci_high")
MEASURES = ("loss_caused", "loss_borne")
EXTERNAL = "external"


def tail_weights(losses: np.ndarray, level: float) -> np.ndarray:
    """(n,) the weights w_p with ``sum_p w_p L_p = ES_level`` of :func:`aisim.tail.var_es`."""
    x = np.asarray(losses, dtype=float)
    n = x.size
    order = np.lexsort((np.arange(n), x))  # by loss, ties by position
    k = min(max(math.ceil(level * n - 1e-9), 1), n)
    w = np.zeros(n)
    w[order[k:]] = 1.0 / ((1.0 - level) * n)
    w[order[k - 1]] = (k / n - level) / (1.0 - level)
    return w


def kept_paths(losses: np.ndarray, share: float = KEEP_SHARE) -> np.ndarray:
    """Positions of the worst ``share`` of paths (at least one), worst last."""
    n = losses.size
    m = max(1, min(n, math.ceil(share * n)))
    return np.lexsort((np.arange(n), losses))[n - m:]


def contributions(losses: np.ndarray, kept: np.ndarray, by_agent: np.ndarray, level: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Euler contributions to ES_level: (point (agents,), ci_low, ci_high, resamples used).

    losses: (n,) the system's loss per path; kept: positions of the paths in ``by_agent``
    (kept, agents) whose rows split those losses."""
    n = losses.size
    row = np.full(n, -1)
    row[kept] = np.arange(kept.size)
    w = tail_weights(losses, level)
    if np.any((w > 0) & (row < 0)):
        raise ValueError("attribution: a tail path was not kept")
    point = w[kept] @ by_agent
    draws = []
    for idx in (i for block in tail.resample_blocks(n, seed) for i in block):
        wb = tail_weights(losses[idx], level)
        used = wb > 0
        rows = row[idx[used]]
        if np.any(rows < 0):
            continue
        draws.append(wb[used] @ by_agent[rows])
    if not draws:
        nan = np.full(by_agent.shape[1], np.nan)
        return point, nan, nan, 0
    d = np.array(draws)
    lo, hi = np.quantile(d, [0.025, 0.975], axis=0)
    return point, lo, hi, len(draws)


def attribution_table(losses: np.ndarray, kept: np.ndarray, split: dict[str, np.ndarray], names: list[str],
                      sectors: list[str], seed: int) -> pd.DataFrame:
    """The table of ``attribution.parquet``: a row per agent (and the external sector for
    ``loss_borne``) and measure (``es95_loss_caused``, ...), contributions summing to the ES."""
    rows = []
    for level in tail.LEVELS:
        for m in MEASURES:
            by_agent = split[m]
            who = list(names) + ([EXTERNAL] if by_agent.shape[1] == len(names) + 1 else [])
            sect = list(sectors) + ([EXTERNAL] if len(who) > len(names) else [])
            point, lo, hi, _ = contributions(losses, kept, by_agent, level, seed)
            name = f"es{round(level * 100):d}_{m}"
            rows += [(a, s, name, float(p), float(lo_), float(hi_))
                     for a, s, p, lo_, hi_ in zip(who, sect, point, lo, hi, strict=True)]
    return pd.DataFrame(rows, columns=list(COLUMNS))
