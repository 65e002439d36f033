"""Small fixture worlds for channel tests: the real composed config with a hand-made calibration."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from aisim.model import AIFinanceModel
from aisim.schema import ContractConfig, EntityConfig, validate
from tests.conftest import make_cfg

CALM = (
    "scenario.demand.vol=0", "scenario.rental_price.vol=0", "scenario.base_rate.vol=0",
    "scenario.demand.drift=0", "scenario.rental_price.drift=0",
)


def world_cfg(entities: list[dict], contracts: list[dict], *overrides: str, paths: int = 4,
              horizon: int = 12) -> DictConfig:
    """The real config, calm macro by default, with these entities and contracts."""
    cfg = make_cfg(f"paths.n={paths}", f"horizon={horizon}", "backend=numpy", "output.progress=false",
                   *CALM, "channels.bank_capital=false",  # fixture banks: static books
                   "channels.firm_shocks=false",  # costs as stated (tests/test_firm_shocks.py)
                   "channels.risk_appetite=false", *overrides)  # calm sentiment (tests/test_risk_appetite.py)
    cfg.calibration.name = "fixture"
    cfg.calibration.entities = [OmegaConf.structured(EntityConfig(**e)) for e in entities]
    cfg.calibration.contracts = [OmegaConf.structured(ContractConfig(**c)) for c in contracts]
    validate(cfg)
    return cfg


def run_model(cfg: DictConfig, months: int | None = None) -> tuple[AIFinanceModel, list[dict[str, Any]]]:
    """Run the model month by month; return it and a per-month snapshot of its state."""
    model = AIFinanceModel(cfg, None, np.arange(int(cfg.paths.n)), np)
    history = []
    for _ in range(months if months is not None else int(cfg.horizon)):
        model.step()
        ctx = {f.name: getattr(model.context, f.name) for f in fields(model.context)}
        history.append({k: np.array(v, copy=True) for k, v in vars(model.state).items() if k not in ("month", "index")}
                       | {"context": {k: np.array(v, copy=True) for k, v in ctx.items()
                                      if isinstance(v, np.ndarray)}})
    return model, history


def with_channel(cfg: DictConfig, channel: str, on: bool) -> DictConfig:
    out = cfg.copy()
    out.channels[channel] = on
    return out
