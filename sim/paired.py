"""Paired statistics and number formatting shared by aisim-compare and the channel effects
(:mod:`aisim.compare`, :mod:`aisim.contributions`): a metric's per-path values, the paired and
unpaired differences with their 95% intervals, and how a table cell prints a number."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from aisim.schema import SECTORS, ConfigError

Z95 = 1.96  # two-sided 95% normal quantile


def metric_values(paths: pd.DataFrame, metric: str) -> np.ndarray:
    """(paths,) float values of ``metric`` on each path, in the order of the ``path`` column."""
    if metric == "first_default_month":  # -1 = no default on the path: not a month
        v = paths[metric].to_numpy(dtype=float)
        return np.where(v < 0, np.nan, v)
    if metric in paths.columns and metric != "path":
        return paths[metric].to_numpy(dtype=float)
    if metric == "pd_any":
        return (paths["defaults"].to_numpy() > 0).astype(float)
    if metric.startswith("pd_") and f"defaults_{metric[3:]}" in paths.columns:
        return (paths[f"defaults_{metric[3:]}"].to_numpy() > 0).astype(float)
    raise ConfigError(f"compare.metrics: {metric!r} is not a metric; valid: {', '.join(valid_metrics(paths.columns))}")


def valid_metrics(columns: Any) -> list[str]:
    cols = [c for c in columns if c != "path"]
    pds = ["pd_any"] + [f"pd_{c[len('defaults_'):]}" for c in cols if c.startswith("defaults_")
                        and c[len("defaults_"):] in SECTORS]
    return cols + pds


def paired_difference(x: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """Mean of the per-path differences ``x - ref`` and its 95% interval (mean +/- 1.96 sd/sqrt(n)).

    Paths where either value is NaN (a metric undefined on that path) are left out. Identical
    inputs give exactly (0, 0, 0).
    """
    x, ref = np.asarray(x, dtype=float), np.asarray(ref, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(ref))
    d = x[ok] - ref[ok]
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan
    diff = float(d.mean())
    if n < 2:
        return diff, math.nan, math.nan
    hw = Z95 * float(d.std(ddof=1)) / math.sqrt(n)
    return diff, diff - hw, diff + hw


def unpaired_difference(x: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """The difference of means with the 95% interval of two independent samples, for contrast:
    ``mean(x) - mean(ref) +/- 1.96 sqrt(var(x)/n + var(ref)/m)``."""
    x = np.asarray(x, dtype=float)
    ref = np.asarray(ref, dtype=float)
    x, ref = x[~np.isnan(x)], ref[~np.isnan(ref)]
    diff = float(x.mean() - ref.mean())
    hw = Z95 * math.sqrt(x.var(ddof=1) / x.size + ref.var(ddof=1) / ref.size)
    return diff, diff - hw, diff + hw


def check_metrics(metrics: list[str], columns: Any) -> None:
    valid = valid_metrics(columns)
    for m in metrics:
        if m not in valid:
            raise ConfigError(f"compare.metrics: {m!r} is not a metric; valid: {', '.join(valid)}")


def fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4f}" if a >= 1e-3 else f"{v:.2e}"


def signed(v: float) -> str:
    s = fmt(v)
    return s if s.startswith("-") or s in ("0", "n/a") else "+" + s
