"""Shared fixtures: compose the real config with Hydra and shrink it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from aisim.config import register

CONF = Path(__file__).resolve().parents[1] / "conf"


def make_cfg(*overrides: str) -> DictConfig:
    """The real config composed from conf/, with overrides (Hydra syntax)."""
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def small_cfg() -> DictConfig:
    return make_cfg("paths.n=16", "horizon=12", "backend=numpy", "output.progress=false")
