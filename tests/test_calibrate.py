"""aisim-calibrate: fitting parameters to targets, checked by running what it writes and by
recovering planted parameter values from the model's own outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from aisim.calibrate import FitAppConfig, check, measure
from aisim.config import register
from aisim.runner import run
from aisim.schema import ConfigError
from tests.conftest import CONF

SMALL = ["calibration=mini", "paths.n=40", "horizon=24", "backend=numpy"]
FULL = ["calibration=mini", "paths.n=40", "horizon=60", "backend=numpy"]  # the shipped targets need 5 years
PARAMS = ("fit.params=[{key:firm_shocks.vol_neocloud,lo:0.0,hi:0.2},"
          "{key:calibration.entities.CoreWeave.equity_raise,lo:0.0,hi:5.0}]")


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=600)


def fit_cfg(*overrides: str) -> DictConfig:
    """conf/calibrate.yaml composed as aisim-calibrate composes it."""
    register(FitAppConfig)
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="calibrate", overrides=list(overrides))
    finally:
        register()  # the plain schema again, for the tests that follow


def write_targets(path: Path, targets: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"targets": targets}, sort_keys=False))
    return path


# ----------------------------------------------------------------- (a) the shipped targets on mini
@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("calibrate") / "run"
    p = cli("aisim.calibrate", *FULL, "fit.budget=12", "fit.interval=none", "output.progress=false",
            PARAMS, f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads((out / "fit.json").read_text())


def test_a_small_fit_lowers_the_loss_and_writes_what_the_issue_names(fitted: tuple[Path, dict]) -> None:
    out, res = fitted
    assert set(res) >= {"loss_initial", "loss_final", "params", "targets", "evaluations", "seed"}
    assert res["loss_final"] < res["loss_initial"], (res["loss_initial"], res["loss_final"])
    assert res["params"] != res["start"]
    for row in res["targets"].values():
        assert set(row) >= {"model", "target", "error", "standard_error", "weight"}
    assert 2 <= res["evaluations"] <= 12 and res["simulated"] == res["evaluations"]  # distinct points, budget 12
    assert "pd_5y CoreWeave" in res["targets"] and "pd_1y Microsoft" in res["targets"]  # rating_pds expanded
    assert (out / "fit.png").stat().st_size > 0 and "| target |" in (out / "fit_report.md").read_text()
    lines = (out / "evaluations.jsonl").read_text().splitlines()
    assert len(lines) == res["simulated"]


def test_the_fitted_calibration_runs_and_reproduces_the_fit(fitted: tuple[Path, dict], tmp_path: Path) -> None:
    out, res = fitted
    p = cli("aisim", *FULL, "calibration=mini_fitted", f"hydra.searchpath=[file://{out}/conf]",
            f"hydra.run.dir={tmp_path}", "output.progress=false")
    assert p.returncode == 0, p.stderr[-3000:]
    used = yaml.safe_load((tmp_path / ".hydra" / "config.yaml").read_text())
    assert used["calibration"]["name"] == "mini_fitted"
    assert used["firm_shocks"]["vol_neocloud"] == pytest.approx(res["params"]["firm_shocks.vol_neocloud"])
    cw = next(e for e in used["calibration"]["entities"] if e["name"] == "CoreWeave")
    assert cw["equity_raise"] == pytest.approx(res["params"]["calibration.entities.CoreWeave.equity_raise"])
    ag = pd.read_parquet(tmp_path / "agents.parquet").set_index("name")
    # the same seed and paths as the fit's candidates: the same PDs, exactly
    assert ag.loc["CoreWeave", "pd_1y"] == res["targets"]["pd_1y CoreWeave"]["model"]


def test_a_rerun_into_the_same_folder_replays_instead_of_simulating(fitted: tuple[Path, dict]) -> None:
    out, res = fitted
    p = cli("aisim.calibrate", *FULL, "fit.budget=12", "fit.interval=none", "output.progress=false",
            PARAMS, f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    again = json.loads((out / "fit.json").read_text())
    assert again["simulated"] == 0 and again["replayed"] == res["evaluations"]
    assert again["params"] == res["params"] and again["loss_final"] == res["loss_final"]


def test_fit_resume_replays_an_earlier_folder_into_a_new_one(fitted: tuple[Path, dict], tmp_path: Path) -> None:
    out, res = fitted
    new = tmp_path / "again"
    p = cli("aisim.calibrate", *FULL, "fit.budget=12", "fit.interval=none", "output.progress=false", PARAMS,
            f"fit.resume={out}", f"hydra.run.dir={new}")
    assert p.returncode == 0, p.stderr[-3000:]
    again = json.loads((new / "fit.json").read_text())
    assert again["simulated"] == 0 and again["params"] == res["params"]
    assert len((new / "evaluations.jsonl").read_text().splitlines()) == res["evaluations"]  # resumable from here


# ----------------------------------------------------------------- (b) planted parameters
PLANTED = {"calibration.entities.Blue Owl.redemption_base": 0.012, "scenario.rental_price.drift": -0.02}


def test_planted_parameters_are_recovered_within_their_intervals(tmp_path: Path) -> None:
    # the model's own outputs at the planted values, on another seed than the fit's
    gen = [*SMALL, "seed=7", "output.progress=false", "calibration.entities.5.redemption_base=0.012",
           "scenario.rental_price.drift=-0.02"]
    register()
    c = fit_cfg(*gen)
    assert c.calibration.entities[5].name == "Blue Owl"
    res = run(c, None, progress=False).results
    specs = []
    from aisim.calibrate import TargetSpec

    for name, m, args in (("redemptions", "redemption_rate", {}),
                          ("rental price m11", "timeseries", {"metric": "rental_price", "month": 11}),
                          ("rental price m23", "timeseries", {"metric": "rental_price", "month": 23})):
        v, se = measure(TargetSpec(name, m, args, 0.0, None, 1.0, 1.0, "x"), res, {}, int(c.paths.n))
        specs.append({"name": name, "measure": m, **args, "value": v, "tolerance": max(se, 1e-5),
                      "source": "the model itself at planted values (test)"})
    targets = write_targets(tmp_path / "planted.yaml", specs)
    out = tmp_path / "fit"
    p = cli("aisim.calibrate", *SMALL, "seed=0", "fit.budget=40", "output.progress=false", f"fit.targets={targets}",
            "fit.params=[{key:'calibration.entities.Blue Owl.redemption_base',lo:0.0,hi:0.03},"
            "{key:scenario.rental_price.drift,lo:-0.03,hi:0.01}]", "fit.regimes=[light_touch_2025,macroprudential]",
            f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    fit = json.loads((out / "fit.json").read_text())
    assert fit["loss_final"] < fit["loss_initial"]
    for key, planted in PLANTED.items():
        lo, hi = fit["intervals"][key]
        b = fit["bounds"][key]
        assert lo <= planted <= hi, (key, planted, fit["params"][key], (lo, hi))
        assert hi - lo < 0.5 * (b[1] - b[0]), (key, lo, hi)  # an interval that says something
        assert abs(fit["start"][key] - planted) > hi - lo  # the fit started outside it
    # a fitted scenario key cannot live in the calibration file (scenario composes after it): an override
    assert fit["run_overrides"] == [f"scenario.rental_price.drift={fit['params']['scenario.rental_price.drift']!r}"]
    text = (out / "conf" / "calibration" / "mini_fitted.yaml").read_text()
    assert "scenario.rental_price.drift=" in text and "\nscenario:" not in text
    # the headline regime differences at the fitted values and at each interval's ends (one at a time)
    sens = fit["regime_sensitivity"]
    assert sens["against"] == "light_touch_2025" and len(sens["points"]) == 5
    lo, hi = sens["difference_range"]["macroprudential"]["credit_losses"]
    assert lo <= sens["points"]["fitted"]["difference"]["macroprudential"]["credit_losses"] <= hi
    assert "Headline regime differences" in (out / "fit_report.md").read_text()


# ----------------------------------------------------------------- (c) bad input, before any work
@pytest.mark.parametrize("override,expect", [
    ("fit.params=[{key:firm_shocks.vol_neoclod,lo:0.0,hi:0.2}]", "firm_shocks.vol_neoclod"),
    ("fit.params=[{key:collateral.depth,lo:50.0,hi:5.0}]", "fit.params.collateral.depth"),
    ("fit.params=[{key:collateral.depth,lo:5.0,hi:5.0}]", "lo must be below hi"),
    ("fit.params=[{key:market.sentiment_per_loss,lo:-1.0,hi:10.0}]", "market.sentiment_per_loss"),
    ("fit.params=[{key:'calibration.entities.Blue Ow.redemption_base',lo:0.0,hi:0.1}]", "no entity"),
    ("fit.params=[{key:collateral.depth,hi:5.0}]", "fit.params[0].lo"),
    ("fit.budget=0", "fit.budget"),
    ("fit.method=bfgs", "fit.method"),
])
def test_bad_parameters_are_one_clear_line(override: str, expect: str) -> None:
    with pytest.raises(ConfigError) as exc:
        check(fit_cfg(*SMALL, override))
    assert expect in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


@pytest.mark.parametrize("entry,expect", [
    ({"name": "x", "measure": "pd", "agent": "CoreWeave", "years": 1, "value": 0.1, "source": "s"}, "tolerance"),
    ({"name": "x", "measure": "pdd", "value": 0.1, "tolerance": 0.1, "source": "s"}, "measure='pdd'"),
    ({"name": "x", "measure": "pd", "agent": "Oracle", "years": 1, "value": 0.1, "tolerance": 0.1, "source": "s"},
     "agent='Oracle'"),
    ({"name": "x", "measure": "pd", "agent": "CoreWeave", "years": 5, "value": 0.1, "tolerance": 0.1, "source": "s"},
     "years=5"),
    ({"name": "x", "measure": "paths_mean", "column": "ai_capex", "band": [2, 1], "tolerance": 1, "source": "s"},
     "band"),
    ({"name": "x", "measure": "paths_mean", "column": "ai_capex", "value": 1, "tolerance": 1}, "'source'"),
])
def test_bad_targets_are_one_clear_line(tmp_path: Path, entry: dict, expect: str) -> None:
    t = write_targets(tmp_path / "t.yaml", [entry])
    with pytest.raises(ConfigError) as exc:
        check(fit_cfg(*SMALL, f"fit.targets={t}"))
    assert expect in str(exc.value) and "targets[0]" in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_an_unknown_regime_is_one_line_before_simulating(tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = cli("aisim.calibrate", *FULL, "fit.regimes=[light_touch_2025,nope]", f"hydra.run.dir={out}")
    assert p.returncode == 2, p.stderr
    want = ("aisim-calibrate: error: fit.regimes: 'nope' is not a regime on the search path; valid: basel3_endgame, "
            "gpu_collateral_rules, light_touch_2025, macroprudential, nbfi_oversight, spv_transparency")
    assert p.stderr.strip().splitlines() == [want], p.stderr
    assert not (out / "evaluations.jsonl").exists()


def test_the_command_refuses_before_simulating(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("targets: [ {name: x\n")
    out = tmp_path / "run"
    p = cli("aisim.calibrate", *SMALL, f"fit.targets={tmp_path / 't.yaml'}", f"hydra.run.dir={out}")
    assert p.returncode == 2, p.stderr
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith("aisim-calibrate: error: fit.targets:") and "not YAML" in line, p.stderr
    assert not (out / "evaluations.jsonl").exists()
