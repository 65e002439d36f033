"""Run one configuration: validate, pick the backend, simulate chunks of paths, write results.

:func:`run` is the plain function behind the CLI; tests call it directly with a composed config.
Paths are simulated in chunks; per-path outcomes are kept (a few numbers each), time series
are aggregated on the fly (exact means over all paths, quantiles over the first
``output.quantile_paths`` paths), so memory does not grow with ``paths.n``.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aisim import estimate, quality
from aisim import results as results_io
from aisim.calibration import with_long_tail
from aisim.kernels.accounting import balance_sheet
from aisim.kernels.backend import Backend, resolve, to_numpy
from aisim.kernels.debtrank import systemic_importance
from aisim.kernels.state import CAUSE_NAMES, EQUITY, LOAN
from aisim.model import AIFinanceModel
from aisim.schema import LENDER_SECTORS, SECTORS, validate
from aisim.world import World, build_world
from omegaconf import OmegaConf

AUTO_CHUNK_BYTES = 256 * 2**20  # working memory for one chunk when paths.chunk=auto
MAX_AUTO_CHUNK = 20_000


def chunk_size(cfg: Any, world: World) -> int:
    """Paths per chunk: the configured number, or for ``auto`` what fits the memory budget."""
    n = int(cfg.paths.n)
    if cfg.paths.chunk != "auto":
        return min(int(cfg.paths.chunk), n)
    # ~40 live (paths, agents|contracts) float64 arrays during a month, measured loosely
    per_path = 40 * 8 * (2 * world.n_agents + world.n_contracts + 16)
    return max(1, min(n, MAX_AUTO_CHUNK, AUTO_CHUNK_BYTES // per_path))


def config_hash(cfg: Any) -> str:
    """SHA-256 of the resolved config (without Hydra's own settings), first 16 hex digits."""
    d = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(d, dict):
        d.pop("hydra", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
            text=True, timeout=5, check=False,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("aisim")
    except Exception:  # not installed (running from a source tree)
        return "0+unknown"


class TimeseriesRecorder:
    """Per month and metric: exact sums over all paths, raw values of the first ``keep`` paths."""

    def __init__(self, horizon: int, keep: int) -> None:
        self.horizon = horizon
        self.keep = keep
        self.sums: dict[str, np.ndarray] = {}
        self.count = np.zeros(horizon)
        self.kept: dict[str, list[list[np.ndarray]]] = {}

    def add(self, month: int, path_index: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        rows = path_index < self.keep
        for name, v in metrics.items():
            if name not in self.sums:
                self.sums[name] = np.zeros(self.horizon)
                self.kept[name] = [[] for _ in range(self.horizon)]
            self.sums[name][month] += float(np.sum(v))
            if rows.any():
                self.kept[name][month].append(v[rows])
        self.count[month] += len(path_index)

    def table(self, start: str) -> pd.DataFrame:
        months = pd.period_range(start=start, periods=self.horizon, freq="M").astype(str)
        out = []
        for name in self.sums:
            for t in range(self.horizon):
                kept = np.concatenate(self.kept[name][t]) if self.kept[name][t] else np.array([np.nan])
                q = np.quantile(kept, [0.05, 0.5, 0.95])
                out.append((t, months[t], name, self.sums[name][t] / self.count[t], *q))
        return pd.DataFrame(out, columns=["month", "date", "metric", "mean", "p05", "p50", "p95"])


@dataclass
class RunResult:
    results: results_io.Results
    run_dir: Path | None
    backend: Backend


def run(cfg: Any, run_dir: str | Path | None = None, *, progress: Any = None) -> RunResult:
    """Simulate ``cfg`` and, when ``run_dir`` is given, write the result files there.

    Raises :class:`aisim.schema.ConfigError` (or :class:`aisim.kernels.backend.BackendError`) for user
    mistakes before any work starts.
    """
    validate(cfg)
    cfg = with_long_tail(cfg)  # the synthetic long tail (sim.calibration); cfg itself when off
    backend = resolve(str(cfg.backend))
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                        regime=cfg.regime, covenants=cfg.covenants)
    xp = backend.xp
    n, H = int(cfg.paths.n), int(cfg.horizon)
    chunk = chunk_size(cfg, world)
    estimate.preflight(cfg, world, chunk, backend)  # refuses a chunk that cannot fit; one line for a large run
    recorder = TimeseriesRecorder(H, int(cfg.output.quantile_paths))
    t0 = time.perf_counter()
    path_parts: list[pd.DataFrame] = []
    agent_acc: dict[str, np.ndarray] = {}
    initial: dict[str, np.ndarray] | None = None
    max_residual = 0.0
    n_chunks = math.ceil(n / chunk)
    bar = _progress(progress, cfg, n_chunks * H)
    for k in range(n_chunks):
        idx = np.arange(k * chunk, min(n, (k + 1) * chunk), dtype=np.int64)
        model = AIFinanceModel(cfg, world, idx, xp)
        if initial is None:
            initial = _initial_sheet(model)
        tracker = _PathTracker(model)
        for t in range(H):
            model.step()
            m = {key: to_numpy(v) for key, v in model.metrics.items()}
            max_residual = quality.worst(max_residual, m.pop("identity_residual"))  # NaN-sticky
            recorder.add(t, idx, m)
            tracker.update(m)
            if bar is not None:
                bar.update(1)
        path_parts.append(tracker.table(idx))
        _accumulate_agents(agent_acc, model)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    paths_df = pd.concat(path_parts, ignore_index=True)
    assert initial is not None
    agents_df = _agents_table(world, initial, agent_acc, n)
    manifest = {
        "seed": int(cfg.seed), "paths": n, "horizon": H, "chunk": chunk, "start": str(cfg.start),
        "backend": backend.name, "device": backend.device, "backend_note": backend.reason,
        "calibration": str(cfg.calibration.name), "scenario": str(cfg.scenario.name),
        "regime": str(cfg.regime.name), "config_hash": config_hash(cfg),
        "version": package_version(), "git_revision": git_revision(), "wall_s": wall,
        "agents": world.n_agents, "contracts": world.n_contracts,
        "agent_path_steps_per_s": world.n_agents * n * H / wall if wall > 0 else None,
        "max_identity_residual": max_residual,
    }
    res = results_io.Results(paths=paths_df, timeseries=recorder.table(str(cfg.start)),
                             agents=agents_df, manifest=manifest)
    quality.mark(res, float(cfg.output.residual_tolerance))  # manifest: quality ok | failed, and why
    if run_dir is not None:
        results_io.write(Path(run_dir), res)
    return RunResult(results=res, run_dir=Path(run_dir) if run_dir is not None else None, backend=backend)


def _progress(progress: Any, cfg: Any, total: int) -> Any:
    if progress is False or (progress is None and not cfg.output.progress):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="aisim", unit="month", leave=False, dynamic_ncols=True)


class _PathTracker:
    """Per-path running aggregates of one chunk over the months."""

    def __init__(self, model: AIFinanceModel) -> None:
        self.model = model
        P = model.n_paths
        self.min_capital = np.full(P, np.inf)
        self.min_leverage = np.full(P, np.inf)
        self.min_price = np.full(P, float(model.cfg.scenario.rental_price.start))
        self.first_default = np.full(P, -1, dtype=np.int64)

    def update(self, m: dict[str, np.ndarray]) -> None:
        if "bank_capital_ratio_min" in m:
            self.min_capital = np.minimum(self.min_capital, m["bank_capital_ratio_min"])
            self.min_leverage = np.minimum(self.min_leverage, m["bank_leverage_ratio_min"])
        self.min_price = np.minimum(self.min_price, m["gpu_collateral_index"])
        month = self.model.state.month - 1
        self.first_default = np.where((self.first_default < 0) & (m["defaults"] > 0), month, self.first_default)

    def table(self, idx: np.ndarray) -> pd.DataFrame:
        model, w = self.model, self.model.world
        s = model.state
        dead = ~to_numpy(s.alive)
        cause = to_numpy(s.default_cause)
        loss = to_numpy(s.credit_loss)
        cfg = model.cfg
        cols: dict[str, Any] = {"path": idx, "defaults": dead.sum(axis=1)}
        for sector in SECTORS:
            b = w.blocks[sector]
            cols[f"defaults_{sector}"] = dead[:, b].sum(axis=1)
        for code, name in enumerate(CAUSE_NAMES[1:], start=1):
            cols[f"defaults_{name}"] = (dead & (cause == code)).sum(axis=1)
        cols["credit_losses"] = loss.sum(axis=1)
        for sector in SECTORS:
            b = w.blocks[sector]
            cols[f"credit_losses_{sector}"] = loss[:, b].sum(axis=1)
        cols["credit_losses_external"] = loss[:, -1]
        lender_cols = np.concatenate([np.arange(w.blocks[x].start, w.blocks[x].stop) for x in LENDER_SECTORS])
        eq0 = model.initial_equity
        lender_equity = float(eq0[lender_cols].sum()) if lender_cols.size else 0.0
        lender_loss = loss[:, lender_cols].sum(axis=1) if lender_cols.size else np.zeros(len(idx))
        bank_default = cols["defaults_bank"] > 0
        cols["systemic_event"] = bank_default | (lender_loss > cfg.systemic.loss_share * max(lender_equity, 0.0))
        cols["ai_capex"] = to_numpy(s.capex_cum)
        for key in ("fire_sale_loss", "stake_loss", "default_costs", "forced_sales", "redemptions",
                    "credit_supply"):
            cols[key] = to_numpy(getattr(s, key))
        cols["min_bank_capital_ratio"] = np.where(np.isinf(self.min_capital), np.nan, self.min_capital)
        cols["min_bank_leverage_ratio"] = np.where(np.isinf(self.min_leverage), np.nan, self.min_leverage)
        start_price = float(cfg.scenario.rental_price.start)
        cols["gpu_price_drawdown"] = 1.0 - self.min_price / start_price
        cols["first_default_month"] = self.first_default
        cols["final_demand"] = to_numpy(s.demand)
        cols["final_rental_price"] = to_numpy(s.price)
        return pd.DataFrame(cols)


def exposure_matrix(world: World, outstanding: np.ndarray) -> np.ndarray:
    """(agents, agents) USD bn: [i, j] = what agent i stands to lose if agent j fails -- the
    loans it holds to j and its equity stake in j -- from one path's contract positions."""
    c = world.contracts
    n = world.n_agents
    held = ((c["kind"] == LOAN) | (c["kind"] == EQUITY)) & (c["payer"] < n) & (c["payee"] < n)
    exp = np.zeros((n, n))
    np.add.at(exp, (c["payee"][held], c["payer"][held]), outstanding[held])
    return exp


def _initial_sheet(model: AIFinanceModel) -> dict[str, np.ndarray]:
    bs = balance_sheet(model.xp, model.book, model.state)
    s = model.state
    out = {k: to_numpy(v)[0] for k, v in bs.items()}
    # DebtRank of each agent's own default (Bardoscia et al. 2015) on the starting network
    exposures = exposure_matrix(model.world, to_numpy(s.outstanding)[0])
    out["systemic_importance"] = systemic_importance(exposures, out["equity"], xp=np)
    out["cash"] = to_numpy(s.cash)[0]
    out["securities"] = to_numpy(s.securities)[0]
    out["gpu"] = to_numpy(s.gpu)[0]
    out["capital_ratio"] = to_numpy(s.capital_ratio)[0]
    return out


def _accumulate_agents(acc: dict[str, np.ndarray], model: AIFinanceModel) -> None:
    s = model.state
    dead = ~to_numpy(s.alive)
    month = to_numpy(s.default_month)
    parts = {
        "defaults": dead.sum(axis=0).astype(float),
        "default_month_sum": np.where(dead, month, 0).sum(axis=0).astype(float),
        "loss_caused_sum": to_numpy(s.loss_caused).sum(axis=0),
        "equity_end_sum": to_numpy(s.equity).sum(axis=0),
    }
    for k, v in parts.items():
        acc[k] = acc.get(k, 0.0) + v


def _agents_table(world: World, initial: dict[str, np.ndarray], acc: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    d = acc["defaults"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_month = np.where(d > 0, acc["default_month_sum"] / np.maximum(d, 1), np.nan)
    cap = initial["capital_ratio"]
    return pd.DataFrame({
        "name": world.names,
        "sector": world.sectors,
        "pd": d / n,
        "pd_se": np.sqrt((d / n) * (1 - d / n) / n),
        "mean_default_month": mean_month,
        "expected_loss_caused": acc["loss_caused_sum"] / n,
        "equity_end_mean": acc["equity_end_sum"] / n,
        "cash_0": initial["cash"],
        "securities_0": initial["securities"],
        "gpu_0": initial["gpu"],
        "loans_held_0": initial["loans_held"],
        "stakes_0": initial["stakes"],
        "total_assets_0": initial["assets"],
        "total_debt_0": initial["debt"],
        "total_liabilities_0": initial["liabilities"],
        "equity_0": initial["equity"],
        "capital_ratio_0": np.where(np.isfinite(cap), cap, np.nan),
        "systemic_importance": initial["systemic_importance"],
    })
