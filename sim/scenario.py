"""A scenario turned into the month-by-month schedule the model reads (converted once per run).

The built-in processes (AI demand, the GPU rental price, the base rate; :mod:`aisim.kernels.macro`)
become one :class:`~aisim.kernels.macro.MacroParams` per month; equity-market closures a mask per
month; the scenario's own indices (``scenario.indices``) and the loadings of entity parameters on
them (``scenario.loadings``) the arrays of :mod:`aisim.kernels.indices`. A new shock is then YAML
only, for example a power price that raises neoclouds' operating costs::

    indices:
      power_price: {start: 1.0, drift: 0.0, vol: 0.03, drift_changes: {6: 0.04, 18: 0.0}}
    loadings:
      - {parameter: opex, index: power_price, elasticity: 1.0, sectors: [neocloud]}
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from aisim.kernels import indices, rng
from aisim.kernels.macro import MacroParams
from aisim.kernels.state import BEHAVIOUR_FIELDS, AgentParams

LOADABLE = BEHAVIOUR_FIELDS  # any behavioural parameter can load on an index


def piecewise(base: float, changes: dict, horizon: int) -> list[float]:
    """The monthly value of a drift that starts at ``base`` and changes as ``changes`` says
    ({month: new value}), for months 0 .. horizon - 1."""
    out, cur = [], float(base)
    changes = {int(k): v for k, v in changes.items()}
    for t in range(horizon):
        cur = float(changes[t]) if t in changes else cur
        out.append(cur)
    return out


@dataclass(frozen=True)
class Schedule:
    """What the scenario says for each month. Lists are indexed by month."""

    macro: list[MacroParams]
    raise_open: list[Any]  # (agents,) bool: sectors whose equity market is open that month
    index_names: tuple[str, ...]
    index_start: Any  # (indices,)
    index_drift: list[Any]  # per month (indices,)
    index_vol: Any  # (indices,)
    index_streams: tuple[int, ...]
    loadings: tuple[indices.Loading, ...]
    xp: ModuleType

    @classmethod
    def from_config(cls, sc: Any, horizon: int, world: Any, xp: ModuleType) -> Schedule:
        demand = piecewise(sc.demand.drift, sc.demand.drift_changes, horizon)
        price = piecewise(sc.rental_price.drift, sc.rental_price.drift_changes, horizon)
        jumps = {int(k): float(v) for k, v in sc.base_rate.jumps.items()}
        macro = [MacroParams(
            demand_drift=demand[t], demand_vol=float(sc.demand.vol), price_drift=price[t],
            price_vol=float(sc.rental_price.vol), price_beta=float(sc.price_demand_beta),
            rate_mean=float(sc.base_rate.mean), rate_speed=float(sc.base_rate.speed),
            rate_vol=float(sc.base_rate.vol), rate_jump=jumps.get(t, 0.0),
            expectation_weight=float(sc.expectation_weight),
        ) for t in range(horizon)]
        frozen = np.array([s in set(sc.equity_freeze_sectors) for s in world.sectors], dtype=bool)
        lo, hi = int(sc.equity_freeze_from), int(sc.equity_freeze_from) + int(sc.equity_freeze_months)
        raise_open = [xp.asarray(~(frozen & (lo <= t < hi))) for t in range(horizon)]

        names = tuple(sc.indices)
        procs = [sc.indices[k] for k in names]
        drifts = [piecewise(p.drift, p.drift_changes, horizon) for p in procs]
        index_drift = [xp.asarray(np.array([d[t] for d in drifts], dtype=np.float64)) for t in range(horizon)]
        loadings = []
        for ld in sc.loadings:
            agents = np.array([(s in ld.sectors) or (n in ld.agents) for s, n in zip(world.sectors, world.names,
                                                                                     strict=True)], dtype=bool)
            loadings.append(indices.Loading(parameter=ld.parameter, index=names.index(ld.index),
                                            elasticity=float(ld.elasticity), agents=xp.asarray(agents)))
        return cls(
            macro=macro, raise_open=raise_open, index_names=names,
            index_start=xp.asarray(np.array([float(p.start) for p in procs], dtype=np.float64)),
            index_drift=index_drift, index_vol=xp.asarray(np.array([float(p.vol) for p in procs], dtype=np.float64)),
            index_streams=tuple(rng.named_stream(n) for n in names), loadings=tuple(loadings), xp=xp,
        )

    def initial_indices(self, n_paths: int) -> Any:
        """(paths, indices) starting levels."""
        return self.xp.broadcast_to(self.index_start[None, :], (n_paths, len(self.index_names))) * 1.0

    def step_indices(self, level: Any, month: int, draw: Any) -> Any:
        """(paths, indices) levels this month; ``draw(stream)`` gives (paths,) normal draws."""
        if not self.index_names:
            return level
        z = self.xp.stack([draw(stream) for stream in self.index_streams], axis=1)
        return indices.step(self.xp, level, self.index_drift[month], self.index_vol, z)

    def loaded_params(self, base: AgentParams, level: Any) -> AgentParams:
        """The agents' parameters this month, with the scenario's loadings applied."""
        return indices.load(self.xp, base, level, self.loadings)
