"""A scenario's own exogenous indices, and agents' behavioural parameters loaded on them.

Open scenario vocabulary: besides AI demand, the GPU rental price and the base rate
(:mod:`aisim.kernels.macro`), a scenario may declare any number of named indices -- a power
price, a chip-supply index, a tariff -- each a log-normal monthly process like demand,

    x_{k,t} = x_{k,t-1} exp(mu_{k,t} - sigma_k^2 / 2 + sigma_k z_{k,t}),    x_{k,-1} = start_k,

with its drift changing over time as the scenario says, and its shocks ``z_k`` drawn from a
counter-based stream keyed by the index's name (:func:`aisim.kernels.rng.named_stream`), so
indices never shift each other's draws or the built-in ones and common random numbers across
regimes hold.

A loading makes a behavioural parameter of some agents move with an index, with a constant
elasticity:

    theta_{i,t} = theta_i x_{k,t}^{e}      for the agents i the loading selects,

so a 30% rise of a power-price index with ``e = 1`` raises neoclouds' ``opex`` by 30%. Loaded
parameters are (paths, agents) arrays; the others stay (agents,) (see
:func:`aisim.kernels.state.per_agent`). Several loadings on one parameter multiply.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .state import AgentParams


@dataclass(frozen=True)
class Loading:
    """parameter: a field of :class:`~aisim.kernels.state.AgentParams`; index: its column in the
    state's index array; elasticity: e; agents: (agents,) bool, whom it applies to."""

    parameter: str
    index: int
    elasticity: float
    agents: Any


def step(xp: ModuleType, level: Any, drift: Any, vol: Any, z: Any) -> Any:
    """(paths, indices) levels after one month. drift, vol: (indices,) monthly log drift and
    volatility this month; z: (paths, indices) standard normal draws."""
    return level * xp.exp(drift[None, :] - 0.5 * vol[None, :] ** 2 + vol[None, :] * z)


def load(xp: ModuleType, base: AgentParams, index: Any, loadings: tuple[Loading, ...]) -> AgentParams:
    """The parameters with each loading applied: (paths, agents) where loaded. index: (paths, indices)."""
    if not loadings:
        return base
    changed: dict[str, Any] = {}
    for ld in loadings:
        current = changed.get(ld.parameter, getattr(base, ld.parameter))
        current = current if current.ndim == 2 else current[None, :]
        factor = xp.where(ld.agents[None, :], index[:, ld.index : ld.index + 1] ** ld.elasticity, 1.0)
        changed[ld.parameter] = current * factor
    return base.replace(**changed)
