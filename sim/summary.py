"""The terminal summary of a run: probabilities and expected losses with Monte Carlo errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aisim import tail
from aisim.schema import LENDER_SECTORS, SECTORS


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    n = len(x)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def tail_lines(p: Any, seed: int) -> list[str]:
    """VaR and ES at 95% and 99% of the credit losses of all creditors and of each lender sector,
    with their 95% bootstrap intervals over paths (aisim.tail), one line each."""
    lines = ["tail of credit losses (USD bn, 95% bootstrap interval over paths):"]
    for of in ("credit_losses", *(f"credit_losses_{x}" for x in LENDER_SECTORS)):
        if of not in p:
            continue
        whose = "all creditors" if of == "credit_losses" else of[len("credit_losses_"):]
        lines.append(f"  {whose:<16}" + ", ".join(
            f"{tail.label(name)} {v:.2f} [{lo:.2f}, {hi:.2f}]"
            for name, v, lo, hi in tail.tail_measures(p[of].to_numpy(dtype=float), seed, of)))
    return lines


def summary_table(res: Any, run_dir: Path | None = None) -> str:
    """A plain-text table. Default probability by sector is the share of paths on which at least
    one member of the sector defaults; standard errors are Monte Carlo errors of the means."""
    p, m = res.paths, res.manifest
    n = len(p)
    agents = res.agents
    lines = [
        f"aisim  calibration={m['calibration']} scenario={m['scenario']} regime={m['regime']}",
        f"       {n} paths x {m['horizon']} months, seed {m['seed']}, backend {m['backend']} "
        f"({m['device']}), {m['wall_s']:.1f} s, {m['agent_path_steps_per_s']:.3g} agent-path-months/s",
        "",
        f"{'sector':<16}{'agents':>7}{'P(default)':>13}{'+/- se':>10}   "
        f"{'credit losses as lender (USD bn)':>34}{'+/- se':>9}",
    ]
    for sector in SECTORS:
        k = int((agents["sector"] == sector).sum())
        if k == 0:
            continue
        pd_, se = _mean_se(p[f"defaults_{sector}"] > 0)
        loss, lse = _mean_se(p[f"credit_losses_{sector}"])
        lines.append(f"{sector:<16}{k:>7}{pd_:>13.4f}{se:>10.4f}   {loss:>34.3f}{lse:>9.3f}")
    ext, ese = _mean_se(p["credit_losses_external"])
    lines.append(f"{'external':<16}{'':>7}{'':>13}{'':>10}   {ext:>34.3f}{ese:>9.3f}")
    tot, tse = _mean_se(p["credit_losses"])
    sys_p, sys_se = _mean_se(p["systemic_event"])
    capex, cse = _mean_se(p["ai_capex"])
    lines += [
        "",
        f"expected credit losses, all creditors: {tot:.3f} +/- {tse:.3f} USD bn",
        *tail_lines(p, int(m["seed"])),
        f"P(systemic event): {sys_p:.4f} +/- {sys_se:.4f}   (any part: "
        + ", ".join(f"{k} {_mean_se(p[f'systemic_{k}'])[0]:.4f}" for k in ("bank", "fund", "loss")
                    if f"systemic_{k}" in p)
        + "; a bank below systemic.bank_ratio CET1 or defaulted, a fund's NAV down more than systemic.fund_nav_loss"
        " or defaulted, bank and fund losses incl. non-AI above systemic.loss_share of their equity)",
        f"cumulative AI capex: {capex:.1f} +/- {cse:.1f} USD bn",
        f"largest accounting identity residual: {m['max_identity_residual']:.2e} (relative)",
    ]
    if run_dir is not None:
        lines.append(f"results: {Path(run_dir).resolve()}  "
                     "(paths, timeseries, agents, agent_timeseries, tail, attribution .parquet; manifest.json)")
    return "\n".join(lines)
