"""NumPy against CuPy on the same paths: the backends agree within stated tolerances.

Tolerances: float64 fields agree to 1e-9 relative (cuSOLVER's solves sum in another order, and
transcendental functions may differ in the last ulp; segment sums do not: on CuPy they are the
sorted reduction of kernels/backend.py, the same additions in the same order); masks and counts
agree exactly on the mini calibration.
"""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels.backend import BackendError, resolve, to_numpy
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cupy_backend():
    try:
        return resolve("cupy")
    except BackendError as exc:
        pytest.skip(f"no usable CUDA device: {exc}")


@pytest.mark.parametrize("scenario_overrides", [(), ("scenario.demand.drift=-0.04",)])
def test_numpy_and_cupy_agree(cupy_backend, scenario_overrides) -> None:
    cfg = make_cfg("calibration=mini", "paths.n=256", "horizon=24", *scenario_overrides)
    idx = np.arange(256)
    gpu = AIFinanceModel(cfg, None, idx, cupy_backend.xp)
    cpu = AIFinanceModel(cfg, None, idx, np)
    for _ in range(24):
        gpu.step()
        cpu.step()
        for key, v in vars(cpu.state).items():
            if key == "month":
                continue
            g = to_numpy(getattr(gpu.state, key))
            if v.dtype == bool or v.dtype.kind in "iu":
                np.testing.assert_array_equal(g, v, err_msg=key)
            else:
                np.testing.assert_allclose(g, v, rtol=1e-9, atol=1e-9, err_msg=key)


def test_rng_is_bit_identical_on_cupy(cupy_backend) -> None:
    from aisim.kernels import rng

    cp = cupy_backend.xp
    u_gpu = to_numpy(rng.uniform(cp, 5, cp.arange(1000), 3, 1, 7))
    u_cpu = rng.uniform(np, 5, np.arange(1000), 3, 1, 7)
    np.testing.assert_array_equal(u_gpu, u_cpu)
