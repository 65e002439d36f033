"""Capex planned on the demand expected when the capacity comes into service: compute providers
extrapolate the expected growth of AI demand over the time to build.

Without it a compute provider's spot capex plan follows the *level* of expected demand
(:func:`aisim.kernels.investment.planned_capex`, adaptive expectations of the level): a firm
whose market grows ~50% a year plans today for today's demand, although what it orders now
serves customers only months later, and its plan stays at the 2025 guidance while demand has
already grown. The hyperscalers' 2026 capex guidance (~620B for the top five, CreditSights,
Jan 2026; ~750B on the Feb 2026 calls) was +50-75% on 2025, set against backlogs of unmet
demand (Microsoft RPO ~392B, AWS ~200B, Google Cloud ~155B, Oracle 523B, end-2025) -- planned
on growth, not on the level.

Rule (one for every compute provider). The expected monthly log growth of AI demand ``g`` is
formed adaptively, as the level is (Cagan 1956; Nerlove 1958), with the scenario's expectation
weight w,

    g_t = g_{t-1} + w (ln D_t - ln D_{t-1} - g_{t-1}),     g_0 = mu_0 - sigma^2 / 2

(mu_0, sigma: the scenario's month-0 monthly drift and volatility of demand, the trend firms see
at the start), and the spot plan is scaled by the growth expected over the lead L from order to
service (time to build, Kydland and Prescott 1982; an expectations-augmented accelerator,
e.g. Chirinko 1993, JEL 31(4), on the accelerator's expected-output term):

    plan_i(t) = spot plan_i(t) x exp(L g_t)

The calibrated ``capex`` is the spending rate whose capacity serves the demand at the start
(the 2025 guided spending, ordered about L months before it came into service); a firm that
expects no growth plans exactly the level rule. When demand growth slows (ai_winter) g falls and
the plan falls by more than the level does -- the accelerator's response to a slowdown.

Shapes: g (paths,), monthly log growth; demand (paths,) index; plan (paths, agents) USD bn / month;
L months.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class DemandGrowthParams:
    """Lead from order to service over which expected demand growth is extrapolated (``demand_growth.*``)."""

    lead_months: float = param(6.0, ge=0.0, le=36.0, unit="months",
                               doc="L: months from a capex order to the capacity's service; plans scale by exp(L g)")


def initial_growth(drift: float, vol: float) -> float:
    """g_0: the expected monthly log growth of demand at the start, mu_0 - sigma^2 / 2."""
    return float(drift) - 0.5 * float(vol) ** 2


def update_growth(xp: ModuleType, g: Any, demand: Any, demand_prev: Any, weight: float) -> Any:
    """(paths,) g_t = g_{t-1} + w (ln(D_t / D_{t-1}) - g_{t-1}); demand indices (paths,) > 0."""
    return g + weight * (xp.log(demand / demand_prev) - g)


def growth_factor(xp: ModuleType, g: Any, lead_months: float) -> Any:
    """(paths, 1) exp(L g): the factor on each compute provider's spot plan."""
    return xp.exp(lead_months * g)[:, None]
