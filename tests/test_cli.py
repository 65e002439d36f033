"""The command line: user mistakes end cleanly, runs are reproducible, sweeps run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from aisim import results

ROOT = Path(__file__).resolve().parents[1]


def aisim(tmp_path: Path, *args: str, timeout: float = 300, module: str = "aisim") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", module, *args, "output.progress=false"], cwd=tmp_path,
        capture_output=True, text=True, env=env, timeout=timeout,
    )


def result_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.name in results.FILES]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["paths.n=0"], "paths.n"),
        (["scenario=nope"], "scenario=nope: no such scenario option; valid: ai_winter"),
        (["horizon=abc"], "horizon=abc: Value 'abc'"),
        (["backend=cupy"], "backend=numpy"),
        (["calibration.contracts.0.payee=Nobody"], "Nobody"),
        (["start=2026-13"], "start"),
        # Hydra's own errors: one line and exit status 2 too
        (["foo=[1,"], "cannot parse the override 'foo=[1,'"),
        (["hydra/launcher=nope"], "hydra/launcher=nope: no such hydra/launcher option"),
        (["regime.capital_requirment=0.5"], "regime.capital_requirment: unknown key; did you mean capital_requirement"),
        (["scenario.offtake_exits={Microsoft: 3}"], "a new entry needs a leading +"),
        # the schema's
        (["+scenario.demand.drift_chnges={12: -0.5}"], "scenario.demand.drift_chnges: unknown key; did you mean "
                                                       "drift_changes"),
        (["scenario.demand.drift=nan"], "scenario.demand.drift=nan: must be a finite number"),
        (["paths.n=1000000000000"], "paths.n=1000000000000: the per-path results alone need"),
    ],
)
def test_user_mistakes_fail_with_one_clear_line_and_status_2(tmp_path: Path, args: list[str], needle: str) -> None:
    if args == ["backend=cupy"]:
        from aisim.kernels.backend import BackendError, resolve

        try:
            resolve("cupy")
            pytest.skip("a CUDA device is usable here, so backend=cupy is not a mistake")
        except BackendError:
            pass
    proc = aisim(tmp_path, *args, "horizon=2" if "horizon" not in args[0] else "paths.n=2", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("aisim: error: ")
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
    # five chunks, the last one short (450 = 4 x 100 + 50), against one: the plumbing of chunking
    # needs several chunks and a ragged end, not a thousand paths (runner.BLOCK is 1024 either way)
    a = aisim(tmp_path, "paths.n=450", "horizon=36", "paths.chunk=100", "backend=numpy", "hydra.run.dir=a")
    b = aisim(tmp_path, "paths.n=450", "horizon=36", "paths.chunk=450", "backend=numpy", "hydra.run.dir=b")
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


def lines(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.strip()]


def test_help_says_what_aisim_is_its_main_keys_and_where_the_docs_are(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "aisim", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "agent-based simulation of the AI industry's financing web" in out
    for key in ("paths.n=", "horizon=", "seed=", "backend=", "scenario:", "regime:", "docs/parameters.md",
                "README.md", "aisim-compare"):
        assert key in out, key
    assert "is powered by Hydra" not in out


def test_a_malformed_yaml_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "conf" / "scenario").mkdir(parents=True)
    bad = tmp_path / "conf" / "scenario" / "broken.yaml"
    bad.write_text("name: broken\ndemand:\n  drift: 0.01\n  vol: [0.1\nrental_price:\n  drift: 0.0\n")
    proc = aisim(tmp_path, f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "scenario=broken", "paths.n=2")
    assert proc.returncode == 2
    assert lines(proc.stderr) == [f"aisim: error: {bad}, line 5, column 13: malformed YAML: expected ',' or ']', "
                                  "but got ':'"]


def test_a_missing_mandatory_field_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "conf" / "calibration").mkdir(parents=True)
    (tmp_path / "conf" / "calibration" / "nameless.yaml").write_text(
        "name: nameless\nentities:\n  - {name: A, sector: bank, cash: 1.0}\n  - {sector: bank}\n")
    proc = aisim(tmp_path, f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "calibration=nameless", "paths.n=2")
    assert proc.returncode == 2
    assert lines(proc.stderr) == ["aisim: error: calibration.entities[1].name: a value is required (it is missing)"]


def test_an_unwritable_run_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    proc = aisim(tmp_path, "hydra.run.dir=afile/run", "paths.n=2", "horizon=2")
    assert proc.returncode == 2
    assert len(lines(proc.stderr)) == 1 and "afile/run" in proc.stderr and "Traceback" not in proc.stderr


def test_ctrl_c_stops_with_one_line_and_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aisim", "paths.n=3000", "horizon=240", "backend=numpy", "output.progress=false",
         "hydra.run.dir=run"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # a test suite started in the background by a non-interactive shell inherits SIGINT ignored, and
        # so would the run: give it the default disposition a terminal's Ctrl-C meets
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / ".hydra" / "config.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # well into the months
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGINT, err  # ended by SIGINT: a shell shows status 130
    # (a run this size may first print its work estimate, on a slow machine: that line is information)
    assert [x for x in lines(err) if not x.startswith("aisim: estimate:")] == [
        "aisim: interrupted (Ctrl-C); a run folder without manifest.json holds no complete results"]
    assert "Traceback" not in out + err
    assert not (tmp_path / "run" / "manifest.json").exists()
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_a_run_that_fails_its_quality_check_says_so_and_exits_3(tmp_path: Path) -> None:
    proc = aisim(tmp_path, "paths.n=5", "horizon=2", "backend=numpy", "output.residual_tolerance=1e-300",
                 "hydra.run.dir=out")
    assert proc.returncode == 3, proc.stderr
    assert lines(proc.stderr)[-1].startswith("aisim: error: the results in ")
    assert "exceeds output.residual_tolerance=1e-300" in proc.stderr
    m = results.load(tmp_path / "out").manifest
    assert m["quality"] == "failed" and m["quality_problems"]


def test_a_sweep_checks_every_job_before_launching_any(tmp_path: Path) -> None:
    proc = aisim(tmp_path, "-m", "paths.n=10,20,0", "horizon=2", "backend=numpy", "hydra.sweep.dir=sweep")
    assert proc.returncode == 2, proc.stderr
    assert lines(proc.stderr) == ["aisim: error: job 2 of 3 (paths.n=0 horizon=2 backend=numpy "
                                  "output.progress=False): paths.n=0: must be >= 1 (paths); no job was started"]
    assert result_files(tmp_path) == []


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_failing_job_does_not_take_down_the_others(tmp_path: Path, launcher: str) -> None:
    proc = aisim(tmp_path, "-m", "output.residual_tolerance=1e-300,1e-9", "seed=1,2", f"hydra/launcher={launcher}",
                 "paths.n=5", "horizon=2", "backend=auto", "hydra.sweep.dir=sweep")
    assert proc.returncode == 1, proc.stderr
    done = {p.parent.name: results.load(p.parent).manifest for p in (tmp_path / "sweep").glob("*/manifest.json")}
    assert sorted(done) == ["0", "1", "2", "3"]  # every job ran to the end
    assert [done[j]["quality"] for j in ("0", "1", "2", "3")] == ["failed", "failed", "ok", "ok"]
    err = lines(proc.stderr)
    tail = err[err.index(next(x for x in err if "jobs of the sweep failed" in x)):]
    assert tail[0].startswith("aisim: 2 of 4 jobs of the sweep failed")
    assert [x.split(" (")[0] for x in tail[1:]] == ["aisim: job 0", "aisim: job 1"]
    assert "Traceback" not in proc.stderr
    # the backend line (auto chose NumPy, where no GPU is usable) at most once per process
    per_process = 1 if launcher == "basic" else 4
    assert sum("auto chose" in x for x in err) <= per_process


def test_a_job_without_its_backend_does_not_kill_its_joblib_siblings(tmp_path: Path) -> None:
    """backend=cupy without a usable device fails in the job (on a GPU node it would run), and
    under joblib that failure used to kill the valid jobs beside it."""
    from aisim.kernels.backend import BackendError, resolve

    try:
        resolve("cupy")
        pytest.skip("a CUDA device is usable here, so backend=cupy does not fail")
    except BackendError:
        pass
    proc = aisim(tmp_path, "-m", "backend=cupy,numpy", "seed=1,2", "hydra/launcher=joblib", "paths.n=5", "horizon=2",
                 "hydra.sweep.dir=sweep")
    assert proc.returncode == 1, proc.stderr
    ok = sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/manifest.json"))
    assert ok == ["2", "3"]  # the two numpy jobs completed
    assert sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/failure.txt")) == ["0", "1"]
    assert "aisim: 2 of 4 jobs of the sweep failed" in proc.stderr and "Traceback" not in proc.stderr


def test_aisim_compare_reports_hydra_errors_in_one_line(tmp_path: Path) -> None:
    proc = aisim(tmp_path, "horizon=abc", module="aisim.compare")
    assert proc.returncode == 2
    assert lines(proc.stderr) == ["aisim-compare: error: horizon=abc: Value 'abc' of type 'str' could not be "
                                  "converted to Integer"]


def test_aisim_report_on_a_comparison_folder_says_what_it_is(tmp_path: Path) -> None:
    from aisim.report import ReportError, build_report
    from aisim.runner import run
    from tests.conftest import make_cfg

    run(make_cfg("calibration=mini", "paths.n=3", "horizon=2", "backend=numpy", "output.progress=false"),
        tmp_path / "cmp" / "runs" / "baseline" / "light_touch_2025")
    pd.DataFrame({"scenario": ["baseline"]}).to_parquet(tmp_path / "cmp" / "comparison.parquet")
    with pytest.raises(ReportError, match="is an aisim-compare folder, not a run") as exc:
        build_report(tmp_path / "cmp")
    assert f"aisim-report {tmp_path / 'cmp' / 'runs' / 'baseline' / 'light_touch_2025'}" in str(exc.value)
