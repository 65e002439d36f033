"""The kernels use only the array API standard plus kernels.backend: a month of the mini
calibration runs with array-api-strict as the namespace and matches NumPy."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np

from aisim.kernels.backend import to_numpy
from aisim.kernels.state import State
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg


def _fields(state: State) -> dict[str, np.ndarray]:
    return {k: to_numpy(v) for k, v in vars(state).items() if k != "month"}


def test_month_runs_under_array_api_strict_and_matches_numpy() -> None:
    cfg = make_cfg("calibration=mini", "paths.n=6", "horizon=3", "backend=numpy", "scenario.demand.drift=-0.05")
    idx = np.arange(6)
    strict = AIFinanceModel(cfg, None, idx, xps)
    ref = AIFinanceModel(cfg, None, idx, np)
    for _ in range(3):
        strict.step()
        ref.step()
    a, b = _fields(strict.state), _fields(ref.state)
    for key in b:
        np.testing.assert_allclose(np.asarray(a[key], dtype=float), np.asarray(b[key], dtype=float),
                                   rtol=1e-12, atol=1e-12, err_msg=key)
