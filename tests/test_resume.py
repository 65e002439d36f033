"""Run folders: complete results are reused, stale or partial ones moved aside, a folder is
claimed by one run at a time, and a killed sweep rerun does only the missing jobs. Each case
is a way results and config used to get mixed up (issue 14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from aisim import results

SMALL = ["calibration=mini", "backend=numpy", "output.progress=false"]


def cli(cwd: Path, module: str, *args: str, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    cmd = [sys.executable, "-m", module, *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def mtimes(d: Path) -> dict[str, int]:
    return {n: (d / n).stat().st_mtime_ns for n in results.RESULT_FILES if (d / n).exists()}


def wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}: {err[-2000:]}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def test_complete_results_are_reused_and_stale_ones_moved_aside(tmp_path: Path) -> None:
    args = [*SMALL, "paths.n=40", "horizon=6", "hydra.run.dir=out"]
    first = cli(tmp_path, "aisim", *args)
    assert first.returncode == 0, first.stderr
    before = mtimes(tmp_path / "out")
    again = cli(tmp_path, "aisim", *args, "paths.chunk=7")  # the chunk size changes no result
    assert again.returncode == 0, again.stderr
    assert "already holds complete results" in again.stderr and "nothing recomputed" in again.stderr
    assert "P(default)" in again.stdout
    assert mtimes(tmp_path / "out") == before
    # another config into the same folder: the old results are moved aside, not mixed in
    other = cli(tmp_path, "aisim", *args, "seed=5")
    assert other.returncode == 0, other.stderr
    assert "moved the results" in other.stderr
    assert results.load(tmp_path / "out").manifest["seed"] == 5
    stale = list((tmp_path / "out" / ".stale").glob("*/manifest.json"))
    assert len(stale) == 1 and json.loads(stale[0].read_text())["seed"] == 0


def test_partial_results_are_recomputed(tmp_path: Path) -> None:
    args = [*SMALL, "paths.n=30", "horizon=4", "hydra.run.dir=out"]
    assert cli(tmp_path, "aisim", *args).returncode == 0
    (tmp_path / "out" / "agents.parquet").unlink()  # as if the run had died while writing
    proc = cli(tmp_path, "aisim", *args)
    assert proc.returncode == 0, proc.stderr
    assert "already holds" not in proc.stderr and "moved the results" in proc.stderr
    assert len(results.load(tmp_path / "out").agents) > 0


def test_tables_of_another_run_beside_a_manifest_are_refused(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 2)):
        assert cli(tmp_path, "aisim", *SMALL, "paths.n=20", "horizon=3", f"seed={seed}", f"hydra.run.dir={name}"
                   ).returncode == 0
    (tmp_path / "a" / "paths.parquet").write_bytes((tmp_path / "b" / "paths.parquet").read_bytes())
    with pytest.raises(results.ResultsError, match="paths.parquet"):
        results.load(tmp_path / "a")
    rep = cli(tmp_path, "aisim.report", "a")
    assert rep.returncode == 2 and "paths.parquet" in rep.stderr and "Traceback" not in rep.stderr


def test_report_refuses_results_under_the_config_of_a_failed_rerun(tmp_path: Path) -> None:
    assert cli(tmp_path, "aisim", *SMALL, "paths.n=20", "horizon=3", "hydra.run.dir=out").returncode == 0
    # a rerun into the folder that stops at once (a mistake) leaves Hydra's new .hydra/config.yaml
    bad = cli(tmp_path, "aisim", *SMALL, "paths.n=20", "horizon=3", "seed=-1", "hydra.run.dir=out")
    assert bad.returncode == 2
    rep = cli(tmp_path, "aisim.report", "out")
    assert rep.returncode == 2, rep.stdout
    assert "config" in rep.stderr and "hash" in rep.stderr and "Traceback" not in rep.stderr
    assert not (tmp_path / "out" / "report.html").exists()


def test_a_killed_rerun_leaves_no_old_results_under_the_new_config(tmp_path: Path) -> None:
    assert cli(tmp_path, "aisim", *SMALL, "paths.n=20", "horizon=3", "hydra.run.dir=out").returncode == 0
    cfg = tmp_path / "out" / ".hydra" / "config.yaml"
    proc = cli(tmp_path, "aisim", *SMALL, "paths.n=3000", "horizon=36", "hydra.run.dir=out", wait=False)
    wait_for(lambda: "'n': 3000" in cfg.read_text(), proc, "Hydra wrote the new config")
    time.sleep(1.0)
    kill(proc)
    rep = cli(tmp_path, "aisim.report", "out")
    assert rep.returncode == 2 and "Traceback" not in rep.stderr, rep.stdout
    assert not (tmp_path / "out" / "report.html").exists()


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path: Path) -> None:
    a = cli(tmp_path, "aisim", *SMALL, "paths.n=20000", "horizon=60", "hydra.run.dir=out", wait=False)
    lock = tmp_path / "out" / results.LOCK
    try:
        wait_for(lock.exists, a, "the first run claimed its folder")
        b = cli(tmp_path, "aisim", *SMALL, "paths.n=20", "horizon=3", "hydra.run.dir=out")
        assert a.poll() is None, "the first run ended before the second one started"
    finally:
        kill(a)
    assert b.returncode == 2, b.stdout
    line = b.stderr.strip()
    assert len(line.splitlines()) == 1 and "in use by another run" in line and f"pid {a.pid}" in line, line
    assert not (tmp_path / "out" / "manifest.json").exists()
    # the first run was killed and left its lock: a later run sees that its process is gone
    assert lock.exists()
    c = cli(tmp_path, "aisim", *SMALL, "paths.n=20", "horizon=3", "hydra.run.dir=out")
    assert c.returncode == 0, c.stderr
    assert results.load(tmp_path / "out").manifest["paths"] == 20 and not lock.exists()


def test_a_killed_sweep_rerun_does_only_the_missing_jobs(tmp_path: Path) -> None:
    regimes = "light_touch_2025,basel3_endgame,nbfi_oversight,macroprudential"
    args = ["-m", f"regime={regimes}", "scenario=baseline", *SMALL, "paths.n=600", "horizon=24",
            "hydra.sweep.dir=sweep"]
    proc = cli(tmp_path, "aisim", *args, wait=False)
    sweep = tmp_path / "sweep"
    wait_for(lambda: len(list(sweep.glob("*/manifest.json"))) >= 2, proc, "two jobs finished")
    kill(proc)
    done = sorted(m.parent for m in sweep.glob("*/manifest.json"))
    assert 2 <= len(done) < 4
    before = {d.name: mtimes(d) for d in done}
    # the comparison names what is missing
    cmp = cli(tmp_path, "aisim.compare", "compare.from_multirun=sweep", "hydra.run.dir=cmp")
    assert cmp.returncode == 2 and "incomplete jobs" in cmp.stderr and "Traceback" not in cmp.stderr
    missing = {str(i) for i in range(4)} - {d.name for d in done}
    for job in missing:
        assert f"/{job} (" in cmp.stderr or f"job {job} (" in cmp.stderr, cmp.stderr
    # the same command again finishes the sweep; finished jobs are not touched
    again = cli(tmp_path, "aisim", *args)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("already holds complete results") == len(done)
    assert {d.name: mtimes(sweep / d.name) for d in done} == before
    assert len(list(sweep.glob("*/manifest.json"))) == 4
    cmp = cli(tmp_path, "aisim.compare", "compare.from_multirun=sweep", "hydra.run.dir=cmp")
    assert cmp.returncode == 0, cmp.stderr
    t = pd.read_parquet(tmp_path / "cmp" / "comparison.parquet")
    assert set(t["regime"]) == set(regimes.split(","))


def test_an_interrupted_comparison_into_a_fixed_folder_never_mixes_run_sizes(tmp_path: Path) -> None:
    pair = ["compare.regimes=[light_touch_2025,macroprudential]", "compare.scenarios=[baseline]", "horizon=12",
            *SMALL, "hydra.run.dir=fixed"]
    first = cli(tmp_path, "aisim.compare", *pair, "paths.n=32")
    assert first.returncode == 0, first.stderr
    fixed = tmp_path / "fixed"
    first_run = fixed / "runs" / "baseline" / "light_touch_2025" / "manifest.json"
    proc = cli(tmp_path, "aisim.compare", *pair, "paths.n=1500", wait=False)
    wait_for(lambda: first_run.is_file() and json.loads(first_run.read_text())["paths"] == 1500, proc,
             "the first pair of the rerun finished")
    kill(proc)
    assert not (fixed / "comparison.parquet").exists()  # no table of the old size beside runs of the new
    sizes = {json.loads(m.read_text())["paths"] for m in (fixed / "runs").glob("*/*/manifest.json")}
    assert sizes == {1500}
    again = cli(tmp_path, "aisim.compare", *pair, "paths.n=1500")
    assert again.returncode == 0, again.stderr
    assert "already complete, reused" in again.stdout
    assert {json.loads(m.read_text())["paths"] for m in (fixed / "runs").glob("*/*/manifest.json")} == {1500}
    assert (fixed / "comparison.parquet").is_file()
