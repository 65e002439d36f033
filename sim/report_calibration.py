"""Command line: ``python -m aisim.report_calibration [overrides]`` -- the calibration report.

Prints every calibration target beside the model's value, its band and its source -- at the start
(from the calibration file), over 2026-2028 under the configured scenario, and each rated firm's
default probability at 1, 3 and 5 years against its rating's band (from ``paths.n`` simulated
paths of 60 months whatever ``horizon`` says) -- and writes
``calibration_report.md`` and ``calibration_report.parquet`` into the Hydra run directory.

Examples::

    python -m aisim.report_calibration calibration=ai_2025
    python -m aisim.report_calibration calibration=ai_2025 paths.n=200 seed=3

Exit status 0 when every banded target is met, 1 when some are not, 2 on a configuration error.

The targets themselves are computed in :mod:`aisim.targets`; this module puts them in one table
(:func:`calibration_report`), formats it (:func:`report_markdown`) and writes the files.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import hydra
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from aisim import results as results_io
from aisim.config import CONFIG_PATH, register
from aisim.kernels.backend import BackendError, resolve
from aisim.longtail import with_long_tail, world_of
from aisim.results import write_table
from aisim.schema import ConfigError, validate
from aisim.targets import dynamic_targets, start_targets

MAX_REPORT_PATHS = 20_000  # the dynamic targets need means, not tails


def calibration_report(cfg: Any, n_paths: int = 200, xp: ModuleType = np) -> pd.DataFrame:
    """The report table: start targets and 2026-2028 targets from ``n_paths`` paths.

    Columns: group (start or period), target_name, model, p05, p95 (none for a probability), se (the
    Monte Carlo standard error of the model's mean), ci_low, ci_high (a probability's 95% Monte
    Carlo interval, :attr:`aisim.targets.Target.interval`), target (the public figure),
    low, high (the band), unit, ok (None where there is no band), source.
    """
    validate(cfg)
    cfg = with_long_tail(cfg)
    world = world_of(cfg)
    targets = start_targets(cfg, world) + dynamic_targets(cfg, world, int(n_paths), xp)
    rows = [dict(group=t.group, target_name=t.name, model=t.model, p05=t.p05, p95=t.p95, se=t.se,
                 ci_low=t.interval[0], ci_high=t.interval[1], target=t.target,
                 low=t.low, high=t.high, unit=t.unit, ok=t.ok, source=t.source) for t in targets]
    return pd.DataFrame(rows)


def _fmt(v: float, unit: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if unit in ("share", "probability"):
        return f"{100 * v:.1f}%"
    if unit in ("flag",):
        return "yes" if v >= 0.5 else "no"
    if unit == "month":
        return f"{v:.0f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"


def report_markdown(df: pd.DataFrame, header: str = "") -> str:
    """A Markdown table of the report (one row per target)."""
    lines = [header] if header else []
    lines += ["| period | target | model | p05-p95 (probabilities: +/- se) | public figure | band | ok | source |",
              "|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        band = f"{_fmt(r.low, r.unit)} to {_fmt(r.high, r.unit)}"
        if r.unit == "probability":  # a yes/no outcome: its Monte Carlo error, not quantiles of 0s and 1s
            spread = "" if math.isnan(r.se) else f"+/- {_fmt(r.se, r.unit)}"
            lo, hi = getattr(r, "ci_low", math.nan), getattr(r, "ci_high", math.nan)
            if spread and not math.isnan(lo):
                spread += f" (95%: {_fmt(lo, r.unit)} to {_fmt(hi, r.unit)})"
        else:
            spread = "" if math.isnan(r.p05) else f"{_fmt(r.p05, r.unit)} to {_fmt(r.p95, r.unit)}"
        ok = {True: "yes", False: "**NO**", None: ""}[r.ok]
        lines.append(f"| {r.group} | {r.target_name} | {_fmt(r.model, r.unit)} | {spread} | {r.target} | {band} | {ok} "
                     f"| {r.source} |")
    return "\n".join(lines)


def _write_text(path: Path, text: str) -> None:
    """Atomically, readable as the umask allows (not mkstemp's 0600)."""
    results_io._atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))  # noqa: SLF001


def report(cfg: Any, run_dir: Path | None) -> tuple[str, bool]:
    """Build the report for ``cfg``; write it into ``run_dir`` when given.

    Returns (the Markdown text, whether every banded target is met).
    """
    backend = resolve(str(cfg.backend))
    n = min(int(cfg.paths.n), MAX_REPORT_PATHS)
    df = calibration_report(cfg, n_paths=n, xp=backend.xp)
    header = (
        f"# Calibration report: {cfg.calibration.name}\n\n"
        f"scenario `{cfg.scenario.name}`, start {cfg.start}, seed {cfg.seed}, {n} paths, backend {backend.name}. "
        "Start targets come from the calibration file at demand and rental-price index 1; "
        "dynamic targets are means over the paths (p05-p95 beside them; for a probability its Monte Carlo "
        "standard error). Bands: docs/calibration.md.\n"
    )
    if str(cfg.start) != "2026-01":
        header += f"\nNote: the dynamic targets are for 2026-2028 but this run starts {cfg.start}.\n"
    text = report_markdown(df, header)
    banded = df[df["ok"].notna()]
    ok = bool(banded["ok"].astype(bool).all())
    n_bad = int((~banded["ok"].astype(bool)).sum())
    text += f"\n\n{len(banded) - n_bad} of {len(banded)} banded targets met.\n"
    if run_dir is not None:
        write_table(df, Path(run_dir) / "calibration_report.parquet")
        _write_text(Path(run_dir) / "calibration_report.md", text)
    return text, ok


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        text, ok = report(cfg, run_dir)
    except (ConfigError, BackendError) as exc:
        print(f"aisim report_calibration: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(text)
    print(f"written: {run_dir.resolve() / 'calibration_report.md'} (and .parquet)")
    if not ok:
        sys.exit(1)


def main(argv: Any = None) -> None:
    """Entry point (``python -m aisim.report_calibration``)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    register()
    _main()


if __name__ == "__main__":
    main()
