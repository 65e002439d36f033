"""The cluster path against a real Slurm: a single-node Slurm started on this machine by the
project's own script (scripts/slurm-local.sh: Debian's slurmd, slurmctld and munge, installed
when missing), a sweep of regimes x shards through hydra/launcher=submitit_slurm, merged and
compared with the direct run. The daemons are stopped by their pid files, also on failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
SMALL = ["calibration=mini", "paths.n=60", "horizon=6", "backend=numpy", "output.progress=false"]
REGIMES = "light_touch_2025,macroprudential"


@pytest.fixture(scope="module")
def slurm() -> Iterator[dict[str, str]]:
    """SLURM_CONF of a running single-node Slurm; skips, with the reason, where it cannot be installed."""
    inst = subprocess.run(["bash", str(SCRIPT), "install"], capture_output=True, text=True, timeout=600)
    if inst.returncode == 3:
        pytest.skip(inst.stderr.strip().splitlines()[-1])
    assert inst.returncode == 0, inst.stderr[-3000:]
    # not under pytest's 0700 temp folders: the munge user must reach its socket
    d = Path(tempfile.mkdtemp(prefix="aisim-slurm-"))
    try:
        start = subprocess.run(["bash", str(SCRIPT), "start", str(d)], capture_output=True, text=True, timeout=120)
        assert start.returncode == 0, start.stdout + start.stderr
        yield {"SLURM_CONF": str(d / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(d)], capture_output=True, text=True, timeout=60)
        for pidfile in (d / "slurmd.pid", d / "slurmctld.pid", d / "munge" / "munged.pid"):
            if pidfile.is_file():
                pid = int(pidfile.read_text().strip() or 0)
                assert pid and not _alive(pid), f"{pidfile}: process {pid} still runs"
        shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"} | env
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=e, timeout=600)


def test_sharded_sweep_on_slurm_merges_and_compares_like_the_direct_run(slurm: dict[str, str], tmp_path: Path) -> None:
    sweep = cli(tmp_path, slurm, "-m", "aisim", "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
                "hydra.launcher.timeout_min=10", f"regime={REGIMES}", "scenario=baseline", "paths.shard=1/2,2/2",
                *SMALL, "hydra.sweep.dir=sweep")
    assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
    jobs = sorted(p.parent for p in (tmp_path / "sweep").glob("*/manifest.json"))
    assert len(jobs) == 4
    # each job ran as a task of a Slurm array job: submitit's log of it names the Slurm job
    logs = sorted((tmp_path / "sweep" / ".submitit").rglob("*_log.out"))
    assert len(logs) == 4, logs
    for log in logs:
        text = log.read_text()
        assert "JobEnvironment(job_id=" in text and "aisim  calibration=mini" in text, text[-2000:]

    merged = cli(tmp_path, slurm, "-m", "aisim.merge", "sweep", "--out", "merged")
    assert merged.returncode == 0, merged.stderr
    from_mr = cli(tmp_path, slurm, "-m", "aisim.compare", "compare.from_multirun=sweep", "hydra.run.dir=from_mr")
    assert from_mr.returncode == 0, from_mr.stderr
    direct = cli(tmp_path, slurm, "-m", "aisim.compare", f"compare.regimes=[{REGIMES}]", "compare.scenarios=[baseline]",
                 *SMALL, "hydra.run.dir=direct")
    assert direct.returncode == 0, direct.stderr

    a = pd.read_parquet(tmp_path / "from_mr" / "comparison.parquet")
    b = pd.read_parquet(tmp_path / "direct" / "comparison.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the merged shards are the direct runs, byte for byte
    for regime in REGIMES.split(","):
        [out] = [p for p in (tmp_path / "merged").iterdir() if f"regime={regime}" in p.name]
        for table in ("paths.parquet", "agents.parquet", "timeseries.parquet"):
            assert (out / table).read_bytes() == (tmp_path / "direct" / "runs" / "baseline" / regime / table
                                                  ).read_bytes(), (regime, table)
