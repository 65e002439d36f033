"""agents.parquet's term structure of PDs (pd_1y, pd_3y, pd_5y with standard errors) and the shares of
default causes."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from aisim import results
from aisim.kernels.backend import to_numpy
from aisim.kernels.state import CAUSE_NAMES
from aisim.model import AIFinanceModel
from aisim.outputs import PD_TERMS
from aisim.runner import run
from tests.conftest import make_cfg

# the mini world under stress, so that agents default within the first year and later
STRESS = ("calibration=mini", "backend=numpy", "output.progress=false", "scenario=severe",
          "scenario.rental_price.drift=-0.1", "scenario.demand.drift=-0.05")


@functools.cache
def stressed(horizon: int, n: int = 48, *extra: str) -> results.Results:
    return run(make_cfg(*STRESS, f"paths.n={n}", f"horizon={horizon}", *extra), None, progress=False).results


def test_pd_terms_are_a_direct_count_and_nan_beyond_the_horizon() -> None:
    H, n = 24, 48
    ag = stressed(H, n).agents.set_index("name")
    cfg = make_cfg(*STRESS, f"paths.n={n}", f"horizon={H}")
    model = AIFinanceModel(cfg, None, np.arange(n), np)
    dead_by: dict[int, np.ndarray] = {}
    for t in range(H):
        model.step()
        if t + 1 in (12, 24):
            dead_by[t + 1] = ~to_numpy(model.state.alive)
    names = list(model.world.names)
    for T in PD_TERMS:
        if 12 * T > H:
            assert ag[f"pd_{T}y"].isna().all() and ag[f"pd_{T}y_se"].isna().all()
            continue
        direct = dead_by[12 * T].mean(axis=0)
        np.testing.assert_array_equal(ag.loc[names, f"pd_{T}y"].to_numpy(), direct)
        p = direct
        np.testing.assert_allclose(ag.loc[names, f"pd_{T}y_se"].to_numpy(), np.sqrt(p * (1 - p) / n), rtol=1e-12)
    assert (ag["pd_1y"] <= ag["pd"]).all()
    assert ag["pd_1y"].max() > 0, "the stress should make someone default in the first year"
    assert (ag["pd"] > ag["pd_1y"]).any(), "some defaults should come in the second year"


def test_the_pd_at_the_horizon_is_the_pd_and_terms_are_cumulative() -> None:
    ag = stressed(36).agents
    np.testing.assert_array_equal(ag["pd_3y"].to_numpy(), ag["pd"].to_numpy())
    assert (ag["pd_1y"] <= ag["pd_3y"]).all() and ag["pd_5y"].isna().all()


def test_cause_shares_sum_to_one_where_an_agent_defaults_and_are_nan_where_none() -> None:
    ag = stressed(24).agents
    cols = [f"cause_share_{c}" for c in CAUSE_NAMES[1:]]
    assert set(cols) <= set(ag.columns)
    hit = ag["pd"] > 0
    assert hit.any()
    np.testing.assert_allclose(ag.loc[hit, cols].sum(axis=1).to_numpy(), 1.0, rtol=1e-12)
    assert ag.loc[~hit, cols].isna().all().all()
    assert ((ag.loc[hit, cols] >= 0) & (ag.loc[hit, cols] <= 1)).all().all()


def test_pd_terms_are_the_same_for_any_chunk_size() -> None:
    a = stressed(24, 48, "paths.chunk=48").agents
    b = stressed(24, 48, "paths.chunk=7").agents
    cols = ["pd_1y", "pd_1y_se", "pd_3y"] + [c for c in a.columns if c.startswith("cause_share_")]
    pd.testing.assert_frame_equal(a[cols], b[cols])
