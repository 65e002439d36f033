"""aisim-reverse: the mildest shock meeting a target, checked by running what it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from aisim.reverse import ReverseConfig, measure, plan_parameters
from tests.conftest import make_cfg

SMALL = ["calibration=mini", "paths.n=40", "horizon=24", "backend=numpy"]
TARGET = ["reverse.metric=pd_neocloud", "reverse.level=0.5", "reverse.directions=joint", "reverse.tolerance=0.01"]


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=600)


def test_the_default_parameters_are_what_severe_shocks() -> None:
    plain = lambda s: OmegaConf.to_container(make_cfg(f"scenario={s}").scenario, resolve=True)  # noqa: E731
    params = plan_parameters(plain("baseline"), plain("severe"), OmegaConf.structured(ReverseConfig))
    keys = {k: (x0, x1) for k, x0, x1, _ in params}
    assert set(keys) == {"demand.drift_changes.12", "rental_price.drift", "base_rate.mean", "base_rate.jumps.0",
                         "sentiment"}
    assert keys["demand.drift_changes.12"] == (0.035, 0.0)  # no change = the baseline's own drift
    assert keys["base_rate.jumps.0"] == (0.0, 0.02)


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reverse") / "run"
    p = cli("aisim.reverse", *SMALL, *TARGET, f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads((out / "reverse.json").read_text())


def run_scenario(tmp: Path, conf: Path, name: str) -> pd.DataFrame:
    p = cli("aisim", *SMALL, f"scenario={name}", f"hydra.searchpath=[file://{conf}]", f"hydra.run.dir={tmp}",
            "output.progress=false")
    assert p.returncode == 0, p.stderr[-3000:]
    return pd.read_parquet(tmp / "paths.parquet")


def test_the_scenario_found_meets_the_target_and_one_20pc_closer_does_not(found: tuple[Path, dict],
                                                                             tmp_path: Path) -> None:
    out, res = found
    assert set(res) >= {"target", "level", "parameters", "distance", "achieved", "achieved_se", "evaluations"}
    assert res["parameters"] is not None and res["distance"] > 0
    paths = run_scenario(tmp_path / "a", out / "conf", "reverse_found")
    value, se = measure(paths, "pd_neocloud", 0)
    assert value >= 0.5 - se, (value, se)
    assert value == pytest.approx(res["achieved"], abs=1e-12)  # the same random numbers as in the search

    closer = OmegaConf.load(out / "conf" / "scenario" / "reverse_found.yaml")
    for key, v in res["parameters"].items():
        x0 = res["start"][key]
        node, parts = closer, key.split(".")
        for part in parts[:-1]:
            node = node[part]
        last = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
        node[last] = x0 + 0.8 * (v - x0)
    closer.name = "closer"
    conf = tmp_path / "conf"
    (conf / "scenario").mkdir(parents=True)
    OmegaConf.save(closer, conf / "scenario" / "closer.yaml")
    value, _ = measure(run_scenario(tmp_path / "b", conf, "closer"), "pd_neocloud", 0)
    assert value < 0.5, value
    assert (out / "reverse.png").stat().st_size > 0


def test_measure_reads_means_probabilities_and_tails() -> None:
    df = pd.DataFrame({"path": np.arange(100), "credit_losses": np.arange(100.0), "defaults": np.r_[np.zeros(90),
                                                                                                   np.ones(10)]})
    assert measure(df, "pd_any", 0)[0] == pytest.approx(0.1)
    assert measure(df, "es95_credit_losses", 0)[0] == pytest.approx(np.arange(95, 100).mean())


@pytest.mark.parametrize(("override", "says"), [
    ("reverse.metric=nope", "reverse.metric=nope: not a metric"),
    ("reverse.parameters=[demand.drfit]", "reverse.parameters: 'demand.drfit' is not a numeric key"),
    ("reverse.directions=diagonal", "reverse.directions=diagonal: valid: joint, each, both"),
])
def test_a_bad_reverse_key_is_one_line_and_exit_2(override: str, says: str, tmp_path: Path) -> None:
    p = cli("aisim.reverse", *SMALL, override, f"hydra.run.dir={tmp_path / 'r'}")
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and says in lines[0], p.stderr


def test_regimes_are_compared_by_the_distance_of_the_breaking_shock(tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = cli("aisim.reverse", *SMALL, *TARGET, "reverse.regimes=[light_touch_2025,macroprudential]",
            f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((out / "reverse.json").read_text())
    by = res["by_regime"]
    assert list(by) == ["light_touch_2025", "macroprudential"]
    assert res["regime"] == "light_touch_2025" and res["distance"] == by["light_touch_2025"]["distance"]
    for r, o in by.items():
        assert o["distance"] > 0 and o["achieved"] >= 0.5, (r, o)
    assert by["macroprudential"]["distance"] != by["light_touch_2025"]["distance"]  # each searched under its regime
    for r, o in by.items():
        assert f"regime {r}: distance {o['distance']:.3f}" in p.stdout
