"""The command line: user mistakes end cleanly, runs are reproducible, sweeps run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from aisim import results

ROOT = Path(__file__).resolve().parents[1]


def aisim(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "aisim", *args, "output.progress=false"], cwd=tmp_path,
        capture_output=True, text=True, env=env, timeout=300,
    )


def result_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.name in results.FILES]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["paths.n=0"], "paths.n"),
        (["scenario=nope"], "scenario"),
        (["horizon=abc"], "horizon"),
        (["backend=cupy"], "backend=numpy"),
        (["calibration.contracts.0.payee=Nobody"], "Nobody"),
        (["start=2026-13"], "start"),
    ],
)
def test_user_mistakes_fail_with_one_clear_message(tmp_path: Path, args: list[str], needle: str) -> None:
    if args == ["backend=cupy"]:
        from aisim.kernels.backend import BackendError, resolve

        try:
            resolve("cupy")
            pytest.skip("a CUDA device is usable here, so backend=cupy is not a mistake")
        except BackendError:
            pass
    proc = aisim(tmp_path, *args, "horizon=2" if "horizon" not in args[0] else "paths.n=2")
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert result_files(tmp_path) == []


def test_run_prints_summary_and_writes_loadable_results(tmp_path: Path) -> None:
    proc = aisim(tmp_path, "paths.n=50", "horizon=6", "backend=numpy", "hydra.run.dir=out")
    assert proc.returncode == 0, proc.stderr
    assert "P(default)" in proc.stdout and "P(systemic event)" in proc.stdout
    res = results.load(tmp_path / "out")
    assert len(res.paths) == 50
    assert {"path", "defaults", "credit_losses", "systemic_event", "ai_capex"} <= set(res.paths.columns)
    assert {"month", "metric", "mean", "p05", "p50", "p95"} <= set(res.timeseries.columns)
    assert {"name", "sector", "pd", "cash_0", "total_assets_0", "total_debt_0", "equity_0"} <= set(res.agents.columns)
    for key in ("seed", "paths", "horizon", "backend", "config_hash", "version", "wall_s",
                "agent_path_steps_per_s", "max_identity_residual"):
        assert key in res.manifest
    assert res.manifest["max_identity_residual"] < 1e-9


def test_chunk_size_does_not_change_paths_parquet(tmp_path: Path) -> None:
    a = aisim(tmp_path, "paths.n=1000", "paths.chunk=100", "backend=numpy", "hydra.run.dir=a")
    b = aisim(tmp_path, "paths.n=1000", "paths.chunk=1000", "backend=numpy", "hydra.run.dir=b")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    pa = pd.read_parquet(tmp_path / "a" / "paths.parquet")
    pb = pd.read_parquet(tmp_path / "b" / "paths.parquet")
    pd.testing.assert_frame_equal(pa, pb, check_exact=True)
    assert (tmp_path / "a" / "paths.parquet").read_bytes() == (tmp_path / "b" / "paths.parquet").read_bytes()


def test_joblib_sweep_runs_every_job(tmp_path: Path) -> None:
    proc = aisim(tmp_path, "-m", "seed=1,2", "hydra/launcher=joblib", "paths.n=20", "horizon=3",
                 "backend=numpy", "hydra.sweep.dir=sweep")
    assert proc.returncode == 0, proc.stderr
    manifests = sorted((tmp_path / "sweep").glob("*/manifest.json"))
    assert len(manifests) == 2
    seeds = {results.load(m.parent).manifest["seed"] for m in manifests}
    assert seeds == {1, 2}
