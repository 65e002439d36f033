"""aisim-compare and aisim-report: paired statistics, the direct comparison, the same table from a
multirun's job folders, regimes kept in a user's own folder, clean errors, self-contained reports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aisim import results
from aisim.compare import COLUMNS, paired_difference, unpaired_difference
from tests.conftest import CONF

SMALL = ["calibration=mini", "paths.n=64", "horizon=12", "backend=numpy", "output.progress=false"]
PAIR = ["compare.regimes=[light_touch_2025,my_light_touch,tight_capital]", "compare.scenarios=[baseline,severe]"]


def cli(cwd: Path, module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=timeout)


# --------------------------------------------------------------------------- statistics
def test_paired_difference_of_identical_samples_is_exactly_zero() -> None:
    x = np.random.default_rng(1).normal(size=100)
    assert paired_difference(x, x.copy()) == (0.0, 0.0, 0.0)


def test_paired_difference_is_the_mean_and_its_normal_interval() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(size=400)
    x = ref + 0.1 + 0.01 * rng.normal(size=400)
    diff, lo, hi = paired_difference(x, ref)
    d = x - ref
    assert diff == pytest.approx(d.mean())
    assert hi - diff == pytest.approx(1.96 * d.std(ddof=1) / 20)
    assert diff - lo == pytest.approx(hi - diff)
    _, ulo, uhi = unpaired_difference(x, ref)
    assert hi - lo < (uhi - ulo) / 10  # common noise cancels in the paired difference


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A user folder with two regimes of their own, one direct comparison and one multirun of the
    same regimes and scenarios on the same seed and paths, and the comparison of its job folders."""
    root = tmp_path_factory.mktemp("compare")
    myconf = root / "myconf" / "regime"
    myconf.mkdir(parents=True)
    # a copy of a shipped regime under another name, and a regime of the user's own
    (myconf / "my_light_touch.yaml").write_text((CONF / "regime" / "light_touch_2025.yaml").read_text())
    (myconf / "tight_capital.yaml").write_text(
        "# tight_capital -- light_touch_2025 with a 30% capital requirement\n"
        "defaults:\n  - light_touch_2025\n  - _self_\nname: tight_capital\ncapital_requirement: 0.3\n")
    search = f"hydra.searchpath=[file://{root / 'myconf'}]"
    direct = cli(root, "aisim.compare", *SMALL, *PAIR, search, "hydra.run.dir=direct")
    assert direct.returncode == 0, direct.stderr
    sweep = cli(root, "aisim", "-m", "regime=light_touch_2025,my_light_touch,tight_capital",
                "scenario=baseline,severe", *SMALL, search, "hydra.sweep.dir=sweep")
    assert sweep.returncode == 0, sweep.stderr
    from_mr = cli(root, "aisim.compare", "compare.from_multirun=sweep", "hydra.run.dir=from_multirun")
    assert from_mr.returncode == 0, from_mr.stderr
    return {"root": root, "direct": root / "direct", "sweep": root / "sweep", "from_multirun": root / "from_multirun",
            "search": Path(search)}


def test_direct_comparison_writes_table_markdown_and_figures(work: dict[str, Path]) -> None:
    d = work["direct"]
    t = pd.read_parquet(d / "comparison.parquet")
    assert tuple(t.columns) == COLUMNS
    assert list(dict.fromkeys(t["scenario"])) == ["baseline", "severe"]
    assert list(dict.fromkeys(t["regime"])) == ["light_touch_2025", "my_light_touch", "tight_capital"]
    assert {"credit_losses", "systemic_event", "ai_capex", "pd_neocloud", "pd_bank"} <= set(t["metric"])
    md = (d / "comparison.md").read_text()
    assert "## Scenario `baseline`" in md and "light_touch_2025 (reference)" in md and "| ai_capex |" in md
    for fig in ("frontier.png", "pd_by_sector.png"):
        assert (d / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results.load(d / "runs" / "severe" / "tight_capital").manifest["regime"] == "tight_capital"


def test_a_regime_compared_with_itself_or_its_copy_differs_by_exactly_zero(work: dict[str, Path]) -> None:
    t = pd.read_parquet(work["direct"] / "comparison.parquet")
    for regime in ("light_touch_2025", "my_light_touch"):  # the reference itself, and a copy in the user's folder
        rows = t[t["regime"] == regime]
        assert len(rows) == 2 * len(set(t["metric"]))
        assert (rows["diff"] == 0.0).all() and (rows["ci_low"] == 0.0).all() and (rows["ci_high"] == 0.0).all()


def test_paired_intervals_are_narrower_than_unpaired_ones(work: dict[str, Path]) -> None:
    t = pd.read_parquet(work["direct"] / "comparison.parquet")
    runs = work["direct"] / "runs" / "baseline"
    ref = pd.read_parquet(runs / "light_touch_2025" / "paths.parquet")["ai_capex"]
    tight = pd.read_parquet(runs / "tight_capital" / "paths.parquet")["ai_capex"]
    row = t.query("scenario == 'baseline' and regime == 'tight_capital' and metric == 'ai_capex'").iloc[0]
    diff, ulo, uhi = unpaired_difference(tight, ref)
    assert row["diff"] == pytest.approx(diff)
    assert row["diff"] < 0  # a 30% capital requirement stops the bank lending to AI: less capex
    assert row["ci_high"] - row["ci_low"] < (uhi - ulo) / 5
    assert row["ci_low"] <= row["diff"] <= row["ci_high"]


def test_the_comparison_reports_each_sectors_capital_path(work: dict[str, Path]) -> None:
    from aisim.compare import CAPITAL_COLUMNS

    for which in ("direct", "from_multirun"):
        d = work[which]
        cap = pd.read_parquet(d / "capital_paths.parquet")
        assert tuple(cap.columns) == CAPITAL_COLUMNS
        assert (d / "capital_paths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "## Capital paths by sector" in (d / "comparison.md").read_text()
        assert {"bank", "neocloud", "private_credit"} <= set(cap["sector"])
        # each (scenario, regime, sector) has one row a month, the mean the run's own timeseries
        assert set(cap.groupby(["scenario", "regime", "sector"]).size()) == {cap["month"].nunique()}
        if which == "direct":
            ts = pd.read_parquet(d / "runs" / "severe" / "tight_capital" / "timeseries.parquet")
            own = ts[ts["metric"] == "equity_bank"].set_index("month")["mean"]
            mine = cap.query("scenario == 'severe' and regime == 'tight_capital' and sector == 'bank'")
            np.testing.assert_allclose(mine["mean"].to_numpy(), own.reindex(mine["month"]).to_numpy())
        ref = cap[cap["regime"] == "light_touch_2025"]
        assert (ref["diff"] == 0.0).all()
    # the severe scenario costs the banks capital against the baseline (the path is not flat)
    cap = pd.read_parquet(work["direct"] / "capital_paths.parquet")
    end = cap[(cap["regime"] == "light_touch_2025") & (cap["sector"] == "bank")].groupby("scenario")["mean"].last()
    assert end["severe"] < end["baseline"]


def test_the_multirun_job_folders_give_the_same_table(work: dict[str, Path]) -> None:
    direct = pd.read_parquet(work["direct"] / "comparison.parquet")
    from_mr = pd.read_parquet(work["from_multirun"] / "comparison.parquet")
    pd.testing.assert_frame_equal(direct, from_mr, check_exact=True)
    # and the runs are the same runs: same composed config, same per-path results
    for job in sorted(p for p in work["sweep"].iterdir() if (p / "manifest.json").is_file()):
        m = results.load(job).manifest
        mine = results.load(work["direct"] / "runs" / m["scenario"] / _choice(job, "regime"))
        assert mine.manifest["config_hash"] == m["config_hash"]
        pd.testing.assert_frame_equal(mine.paths, pd.read_parquet(job / "paths.parquet"), check_exact=True)


def _choice(job: Path, group: str) -> str:
    text = (job / ".hydra" / "hydra.yaml").read_text()
    return re.search(rf"^\s+{group}: (\S+)$", text, re.M).group(1)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["compare.regimes=[light_touch_2025,nope]"], ["'nope'", "light_touch_2025", "macroprudential", "my_bad"]),
        (["compare.scenarios=[baseline,nope]"], ["'nope'", "baseline", "severe", "gpu_glut"]),
        (["compare.regimes=[light_touch_2025,my_bad]"], ["my_bad", "'foo'", "capital_requirement", "gpu_ltv_cap"]),
        (["regime=basel3_endgame"], ["compare.regimes", "light_touch_2025"]),
        (["compare.metrics=[credit_losses,nope]", "compare.regimes=[light_touch_2025]", "compare.scenarios=[baseline]"],
         ["'nope'", "ai_capex", "pd_bank"]),
        (["compare.from_multirun=nowhere"], ["nowhere"]),
    ],
)
def test_user_mistakes_fail_before_work_with_one_line(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    (tmp_path / "myconf" / "regime").mkdir(parents=True)
    (tmp_path / "myconf" / "regime" / "my_bad.yaml").write_text(
        "defaults:\n  - light_touch_2025\n  - _self_\nname: my_bad\nfoo: 1\n")
    proc = cli(tmp_path, "aisim.compare", *SMALL, *args, f"hydra.searchpath=[file://{tmp_path / 'myconf'}]",
               "hydra.run.dir=out")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(err.splitlines()) == 1 and err.startswith("aisim-compare: error:"), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "out" / "comparison.parquet").exists()
    assert not (tmp_path / "out" / "runs").exists()


# --------------------------------------------------------------------------- reports
@pytest.mark.parametrize("which", ["sweep", "direct"])
def test_report_is_written_and_self_contained(work: dict[str, Path], which: str) -> None:
    # a job folder of `aisim -m` (.hydra/config.yaml) and a run kept by aisim-compare (config.yaml)
    run_dir = work["sweep"] / "0" if which == "sweep" else work["direct"] / "runs" / "severe" / "tight_capital"
    proc = cli(work["root"], "aisim.report", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    html = (run_dir / "report.html").read_text()
    # equity, banks and macro, PD by agent, loss tail, ES99 attribution, network
    assert html.count('src="data:image/png;base64,') == 6
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert "<script" not in html and "<link" not in html
    assert "P(systemic event)" in html and "CoreWeave" in html and "Contract network" in html


def test_report_on_a_folder_without_results_fails_with_one_line(tmp_path: Path) -> None:
    proc = cli(tmp_path, "aisim.report", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("aisim-report: error:") and "manifest.json" not in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("experiment", ["regime_comparison", "coreweave_stress", "channel_contributions"])
def test_compare_experiments_compose(tmp_path: Path, experiment: str) -> None:
    proc = cli(tmp_path, "aisim.compare", f"+experiment={experiment}", "--cfg", "job", "-p", "compare")
    assert proc.returncode == 0, proc.stderr
    assert "light_touch_2025" in proc.stdout and "severe" in proc.stdout


def test_compare_yaml_lists_the_default_metrics() -> None:
    from omegaconf import OmegaConf

    from aisim.compare import DEFAULT_METRICS

    assert list(OmegaConf.load(CONF / "compare.yaml").compare.metrics) == list(DEFAULT_METRICS)
