"""Quality checks of a finished run: the accounting identities held, and no undocumented NaN.

A run whose largest identity residual (:func:`aisim.kernels.accounting.identity_residual`)
exceeds ``output.residual_tolerance``, is NaN, or whose result tables hold a NaN in a column
where none is documented (:data:`NAN_ALLOWED`) fails its quality check: :func:`mark` records it
in the manifest (``quality: failed`` and ``quality_problems``), the CLI says so in one line and
exits with status 3. The result files are still written, marked, so the run can be inspected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from aisim.outputs import cause_share_columns, pd_columns

#: Columns where NaN is documented (README, result files), by table.
NAN_ALLOWED: dict[str, frozenset[str]] = {
    # no bank in the calibration: no capital ratio to take the minimum of
    "paths": frozenset({"min_bank_capital_ratio", "min_bank_leverage_ratio"}),
    # an agent that never defaults has no mean default month; non-banks have no capital ratio
    # pd_<T>y (+ _se) beyond the horizon; cause_share_<cause> of an agent that never defaults
    "agents": frozenset({"mean_default_month", "capital_ratio_0", *pd_columns(), *cause_share_columns()}),
    # quantiles of a metric no kept path recorded in that month
    "timeseries": frozenset({"p05", "p50", "p95"}),
}
#: timeseries.parquet metrics whose every column may be NaN: a capital or leverage ratio is
#: undefined where no bank has risk-weighted assets (all risk weights 0) or assets; a fund NAV
#: ratio is undefined where no fund starts with a positive NAV
NAN_METRICS: frozenset[str] = frozenset({"bank_capital_ratio_min", "bank_leverage_ratio_min", "fund_nav_ratio_min"})


def worst(so_far: float, residuals: Any) -> float:
    """The running maximum of residuals, NaN-sticky: once a NaN is seen the result stays NaN
    (Python's ``max`` and NumPy's ``fmax`` would drop it)."""
    r = np.asarray(residuals, dtype=float)
    if math.isnan(so_far) or r.size and bool(np.isnan(r).any()):
        return math.nan
    return max(so_far, float(r.max())) if r.size else so_far


def problems(results: Any, tolerance: float) -> list[str]:
    """Why the run's results cannot be trusted, one short sentence each; [] when they can."""
    out: list[str] = []
    residual = float(results.manifest.get("max_identity_residual", math.nan))
    if math.isnan(residual):
        out.append("the accounting identity residual is NaN: some balance or flow became NaN or infinite")
    elif residual > tolerance:
        out.append(f"the largest accounting identity residual {residual:.3g} exceeds output.residual_tolerance="
                   f"{tolerance:g}")
    for table in ("paths", "agents", "timeseries"):
        df = getattr(results, table)
        if table == "timeseries" and "metric" in df.columns:
            df = df[~df["metric"].isin(NAN_METRICS)]
        for col in df.columns:
            if col in NAN_ALLOWED[table] or not pd.api.types.is_numeric_dtype(df[col].dtype):
                continue
            bad = int(np.count_nonzero(~np.isfinite(df[col].to_numpy(dtype=float))))
            if bad:
                out.append(f"{table}.parquet column {col} holds {bad} NaN or infinite value(s)")
    return out


def mark(results: Any, tolerance: float) -> list[str]:
    """Check ``results`` and record the verdict in its manifest; return the problems."""
    found = problems(results, tolerance)
    results.manifest["residual_tolerance"] = tolerance
    results.manifest["quality"] = "failed" if found else "ok"
    results.manifest["quality_problems"] = found
    return found
