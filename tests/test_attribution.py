"""Attribution of expected shortfall to institutions (aisim.attribution): Euler contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from aisim import attribution, results, tail
from aisim.runner import run
from tests.conftest import make_cfg


@settings(max_examples=100, deadline=None)
@given(st.integers(5, 400), st.sampled_from(tail.LEVELS), st.integers(0, 10_000))
def test_the_tail_weights_give_the_expected_shortfall_and_contributions_sum_to_it(n: int, level: float,
                                                                                  seed: int) -> None:
    rng = np.random.default_rng(seed)
    parts = rng.exponential(1.0, (n, 4)) * (rng.random((n, 4)) < 0.3)  # four agents' losses, many zeros (ties)
    losses = parts.sum(axis=1)
    w = attribution.tail_weights(losses, level)
    es = tail.var_es(losses, level)[1]
    assert abs(w @ losses - es) <= 1e-9 * max(1.0, es)
    kept = attribution.kept_paths(losses, share=1.0)
    point, lo, hi, used = attribution.contributions(losses, kept, parts[kept], level, seed)
    assert abs(point.sum() - es) <= 1e-9 * max(1.0, es)
    assert used > 0 and np.all(lo <= hi)


def test_an_agent_with_losses_only_off_the_tail_contributes_nothing() -> None:
    a = np.r_[np.zeros(190), np.full(10, 50.0)]  # the tail: a's ten bad paths
    b = np.r_[np.ones(190), np.zeros(10)]  # b loses a little on the calm paths only
    losses = a + b
    kept = attribution.kept_paths(losses)
    point, *_ = attribution.contributions(losses, kept, np.column_stack([a, b])[kept], 0.95, 0)
    assert point[1] == 0.0 and point[0] == pytest.approx(tail.var_es(losses, 0.95)[1])


@pytest.fixture(scope="module")
def severe(tmp_path_factory: pytest.TempPathFactory) -> results.Results:
    cfg = make_cfg("calibration=mini", "paths.n=120", "horizon=24", "scenario=severe", "backend=numpy",
                   "output.progress=false", "paths.chunk=50")
    out = tmp_path_factory.mktemp("attr") / "run"
    run(cfg, out, progress=False)
    return results.load(out)


def test_every_run_writes_attribution_summing_to_the_system_expected_shortfall(severe: results.Results) -> None:
    a = severe.attribution
    assert a is not None and list(a.columns) == list(attribution.COLUMNS)
    assert set(a["measure"]) == {"es95_loss_caused", "es99_loss_caused", "es95_loss_borne", "es99_loss_borne"}
    losses = severe.paths["credit_losses"].to_numpy()
    for m, sub in a.groupby("measure"):
        es = tail.var_es(losses, int(m[2:4]) / 100)[1]
        assert abs(sub["contribution"].sum() - es) <= 1e-9 * max(1.0, es), m
        assert (sub["ci_low"] <= sub["contribution"] + 1e-12).all() and (sub["contribution"] <= sub["ci_high"]
                                                                         + 1e-12).all()
    borne = a[a["measure"] == "es95_loss_borne"]
    assert "external" in set(borne["agent"])
    assert set(a[a["measure"] == "es95_loss_caused"]["agent"]) == set(severe.agents["name"])


def test_a_sharded_run_gets_its_attribution_when_merged(tmp_path, severe: results.Results) -> None:
    from aisim import merge

    base = ["calibration=mini", "paths.n=120", "horizon=24", "scenario=severe", "backend=numpy",
            "output.progress=false"]
    parts = []
    for k in (1, 2):
        out = tmp_path / f"s{k}"
        cfg = make_cfg(*base, f"paths.shard={k}/2")
        res = run(cfg, out, progress=False).results
        OmegaConf.save(cfg, out / "config.yaml")  # as the CLI's .hydra/config.yaml: aisim-merge reads it
        assert res.attribution is None  # a shard's tail is not the run's
        parts.append(out)
    merged = merge.merge_parts([merge.read_part(p)[0] for p in parts])
    got = merged.results.attribution.set_index(["agent", "measure"])["contribution"]
    want = severe.attribution.set_index(["agent", "measure"])["contribution"]
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), rtol=1e-12)
