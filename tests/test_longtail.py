"""The long tail's used-GPU market: its depth scales with the GPU book the tail adds."""

from __future__ import annotations

import pytest

from aisim.longtail import with_long_tail
from tests.conftest import make_cfg

BASE = ("calibration=ai_2025", "horizon=12", "backend=numpy", "output.progress=false")


def _gpu(entities) -> float:
    return sum(float(e.gpu or 0.0) for e in entities)


def test_depth_scales_with_the_tails_gpu_book() -> None:
    plain = make_cfg(*BASE)
    named = _gpu(plain.calibration.entities)
    for counts in ((80, 10, 10), (300, 20, 20)):
        cfg = make_cfg(*BASE, f"calibration.long_tail.neoclouds={counts[0]}",
                       f"calibration.long_tail.private_credit={counts[1]}", f"calibration.long_tail.banks={counts[2]}")
        tail = with_long_tail(cfg)
        total = _gpu(tail.calibration.entities)
        assert total > named
        assert tail.collateral.depth == pytest.approx(plain.collateral.depth * total / named, rel=1e-12)
    # without a tail, and with a tail of lenders only (no GPUs added), the depth is the calibrated one
    assert with_long_tail(plain).collateral.depth == plain.collateral.depth
    lenders = with_long_tail(make_cfg(*BASE, "calibration.long_tail.banks=5"))
    assert lenders.collateral.depth == plain.collateral.depth
