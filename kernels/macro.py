"""Macro state: AI demand index, GPU rental price index, base rate, and expectations of them.

Demand and the rental price are log-normal processes with monthly drift and volatility; price
shocks load on demand shocks (``beta``), so a demand slump also softens rental prices. The base
rate is a discretised Ornstein-Uhlenbeck process floored at zero. Compute providers form
adaptive expectations (Cagan 1956; Nerlove 1958): e_t = e_{t-1} + w (x_t - e_{t-1}).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class MacroParams:
    """Scenario processes for one month. Drifts and vols are monthly, the rate annual."""

    demand_drift: float
    demand_vol: float
    price_drift: float
    price_vol: float
    price_beta: float
    rate_mean: float
    rate_speed: float
    rate_vol: float
    rate_jump: float
    expectation_weight: float


def step_macro(
    xp: ModuleType, demand: Any, price: Any, base_rate: Any, exp_demand: Any, exp_price: Any,
    p: MacroParams, z_demand: Any, z_price: Any, z_rate: Any,
) -> tuple[Any, Any, Any, Any, Any]:
    """Advance the macro state by one month.

    All arrays (paths,): demand and price are indices (1 = start of run), base_rate is an
    annual fraction; z_* are independent standard normal draws (paths,).
    Returns (demand, price, base_rate, exp_demand, exp_price), each (paths,).
    """
    d = demand * xp.exp(p.demand_drift - 0.5 * p.demand_vol**2 + p.demand_vol * z_demand)
    # price shock = idiosyncratic + beta x demand shock, scaled to keep the stated price vol
    zp = (z_price + p.price_beta * z_demand) / (1.0 + p.price_beta**2) ** 0.5
    pr = price * xp.exp(p.price_drift - 0.5 * p.price_vol**2 + p.price_vol * zp)
    r = base_rate + p.rate_speed * (p.rate_mean - base_rate) + p.rate_vol * z_rate + p.rate_jump
    r = xp.maximum(r, 0.0)
    w = p.expectation_weight
    return d, pr, r, exp_demand + w * (d - exp_demand), exp_price + w * (pr - exp_price)
