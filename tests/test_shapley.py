"""Shapley attribution to channels (aisim.shapley): the formula, efficiency, sampling, the CLI."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from aisim import shapley
from aisim.runner import run
from tests.conftest import make_cfg


def game(table: dict[frozenset, float], paths: int = 3) -> shapley.Value:
    """A game whose per-path value is the table's value times (1, 2, ..., paths)."""
    scale = np.arange(1.0, paths + 1)
    return lambda s: table[frozenset(s)] * scale


def test_a_two_channel_game_computed_by_hand() -> None:
    # v({}) = 0, v(A) = 1, v(B) = 2, v(AB) = 6: phi_A = (1 - 0)/2 + (6 - 2)/2 = 2.5, phi_B = 3.5
    v = game({frozenset(): 0.0, frozenset("A"): 1.0, frozenset("B"): 2.0, frozenset("AB"): 6.0})
    phi = shapley.exact(["A", "B"], v)
    assert np.allclose(phi[0], 2.5 * np.arange(1, 4), rtol=0, atol=1e-12)
    assert np.allclose(phi[1], 3.5 * np.arange(1, 4), rtol=0, atol=1e-12)


def random_game(n: int, seed: int) -> tuple[list[str], shapley.Value]:
    rng = np.random.default_rng(seed)
    players = [f"c{i}" for i in range(n)]
    vals: dict[frozenset, np.ndarray] = {}

    def v(s: frozenset) -> np.ndarray:
        s = frozenset(s)
        if s not in vals:
            vals[s] = rng.normal(size=50) * 10 + len(s) ** 2
        return vals[s]

    return players, v


def test_exact_and_sampled_values_sum_to_all_on_minus_all_off() -> None:
    players, v = random_game(4, 1)
    total = v(frozenset(players)) - v(frozenset())
    assert np.max(np.abs(shapley.exact(players, v).sum(axis=0) - total)) < 1e-9
    per_path, by_order = shapley.sampled(players, v, orders=5, seed=0)
    assert np.max(np.abs(per_path.sum(axis=0) - total)) < 1e-9
    assert np.max(np.abs(by_order.sum(axis=1) - total.mean())) < 1e-9


def test_sampled_permutations_converge_to_the_exact_value_within_their_interval() -> None:
    players, v = random_game(3, 2)
    exact = shapley.summarise(shapley.exact(players, v))
    per_path, by_order = shapley.sampled(players, v, orders=600, seed=3)
    for (e, _, _), (m, lo, hi) in zip(exact, shapley.summarise(per_path, by_order), strict=True):
        assert lo <= e <= hi and abs(m - e) < 0.5


def test_a_player_that_never_changes_anything_gets_zero() -> None:
    def v(s: frozenset) -> np.ndarray:
        return np.full(4, 3.0 * ("a" in s) + 1.0 * ("b" in s) + 2.0 * ("a" in s and "b" in s))

    phi = shapley.exact(["a", "b", "dummy"], v)
    assert np.all(phi[2] == 0.0)
    assert math.isclose(phi[0].mean() + phi[1].mean(), 6.0)


def test_on_the_model_the_channels_values_sum_to_the_all_on_minus_all_off_difference() -> None:
    base = ["calibration=mini", "paths.n=24", "horizon=12", "backend=numpy", "output.progress=false",
            "scenario=severe"]
    players = ["fire_sales", "covenants"]

    def v(s: frozenset) -> np.ndarray:
        cfg = make_cfg(*base, *(f"channels.{c}={'true' if c in s else 'false'}" for c in players))
        return run(cfg, None, progress=False).results.paths["credit_losses"].to_numpy(dtype=float)

    rows, method = shapley.attribute(players, v, exact_max_runs=64, orders=4, seed=0)
    assert method == "exact"
    total = float(np.mean(v(frozenset(players)) - v(frozenset())))
    assert abs(sum(r[0] for r in rows) - total) < 1e-9
    assert all(lo <= x <= hi for x, lo, hi in rows)


def test_aisim_compare_writes_the_shapley_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    out = tmp_path / "cmp"
    args = ["calibration=mini", "paths.n=16", "horizon=12", "backend=numpy", "compare.regimes=[light_touch_2025]",
            "compare.scenarios=[severe]", "compare.shapley=true", "compare.shapley_channels=[fire_sales,covenants]",
            "compare.shapley_exact_max_runs=2", "compare.shapley_permutations=3", f"hydra.run.dir={out}"]
    p = subprocess.run([sys.executable, "-m", "aisim.compare", *args], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "3 sampled permutations" in p.stdout
    sh = pd.read_parquet(out / "shapley.parquet")
    assert list(sh.columns) == ["scenario", "regime", "channel", "metric", "value", "ci_low", "ci_high"]
    assert list(sh["channel"]) == ["fire_sales", "covenants"] and set(sh["metric"]) == {"credit_losses"}
    assert (out / "shapley.png").stat().st_size > 0
    md = (out / "comparison.md").read_text()  # the compare's report shows the bars and the values
    assert "![Shapley values of the channels](shapley.png)" in md
    from aisim.compare import _fmt
    for ch, v, lo, hi in sh[["channel", "value", "ci_low", "ci_high"]].itertuples(index=False):
        assert f"| {ch} | {_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}] |" in md
    assert f"| **sum = all on minus all off** | {_fmt(sh['value'].sum())} |" in md
    bad = subprocess.run([sys.executable, "-m", "aisim.compare", *args[:-1], "compare.shapley_channels=[fire_sale]",
                          f"hydra.run.dir={tmp_path / 'bad'}"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "compare.shapley_channels: 'fire_sale' is not a channel" in bad.stderr
