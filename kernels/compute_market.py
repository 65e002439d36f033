"""The GPU compute market: rental price and utilisation clear against installed capacity.

Channel ``compute_market``. Without it the rental price index is exogenous (:mod:`aisim.kernels.macro`)
and utilisation rises with demand alone, so over-building and a buyer's exit cost a seller almost
nothing. With it, each spot segment g (0 = neocloud spot, 1 = hyperscaler list) clears every month:

* supply ``S_g`` (paths,) USD bn of GPU book: the capacity of the segment's live sellers not sold
  forward on live offtakes (``gpu - committed``, :func:`aisim.kernels.operations.committed_capacity`);
  capacity an exiting or defaulted buyer gave up is back in ``S_g``;
* tightness ``tau_g = (D / D0) x S_g0 / S_g``: spot demand grows with the AI demand index ``D``
  from its month-0 level, which the month-0 spot supply ``S_g0`` served (tau = 1 at the start);
* price: ``P_i = P x tau_g^(1/epsilon_g)`` (isoelastic inverse demand; ``P`` the trend index,
  ``1/epsilon_g`` the segment's pass-through);
* utilisation: ``u_i = min(cap, u0_i x tau_g^eta)`` (u0_i the seller's calibrated utilisation,
  ~0.85).

Spot revenue is ``spare x yield x P_i x u_i`` (:func:`aisim.kernels.operations.spot_market_at`);
offtakes pay their contract price whatever the spot price (take-or-pay), so the value of an
offtake to its seller is its payment less what the same capacity would fetch at spot.

Sources: 2025 neocloud H100 rents -22%, H200 -29% year to date while hyperscaler list prices moved
far less (RBC; FT; figures-2025.md, GPU economics): neocloud spot passes tightness through about
five times as strongly as hyperscaler list (pass-through 1.0 vs 0.2, assumption on that ratio).
Isoelastic partial-equilibrium clearing: e.g. Hamilton (2009) for a commodity with inelastic
short-run supply; the unit pass-through is an ASSUMPTION. Shapes: (paths,) for segments' macro,
(paths, agents) for per-seller terms; money USD bn / month.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param

SEGMENTS = ("neocloud", "hyperscaler")  # segment g of a seller by its sector; -1 = sells no capacity


@dataclass(frozen=True)
class ComputeMarketParams:
    """Pass-through of tightness to price by segment, and the utilisation response."""

    neocloud_pass_through: float = param(1.0, ge=0.0, le=5.0, unit="1",
                                         doc="1/epsilon: elasticity of neocloud spot price to tightness")
    hyperscaler_pass_through: float = param(0.2, ge=0.0, le=5.0, unit="1",
                                            doc="1/epsilon: elasticity of hyperscaler list price to tightness")
    utilisation_elasticity: float = param(0.5, ge=0.0, le=5.0, unit="1",
                                          doc="eta: elasticity of utilisation to tightness")
    utilisation_cap: float = param(0.95, gt=0.0, le=1.0, unit="share", doc="utilisation never exceeds this")


def segment_supply(xp: ModuleType, spare: Any, alive: Any, segment: Any) -> Any:
    """(paths, 2) USD bn: live sellers' uncommitted capacity summed per segment.

    spare: (paths, agents) USD bn; alive: (paths, agents) bool; segment: (agents,) int (-1: none).
    """
    cols = [xp.sum(xp.where(alive & (segment == g)[None, :], spare, 0.0), axis=1) for g in range(len(SEGMENTS))]
    return xp.stack(cols, axis=1)


def tightness(xp: ModuleType, demand: Any, demand0: float, supply0: Any, supply: Any) -> Any:
    """(paths, 2): tau_g = (D / D0) x S_g0 / S_g; 1 where a segment has no supply at all.

    demand: (paths,); supply0: (2,) month-0 supply; supply: (paths, 2).
    """
    ok = (supply > 0) & (supply0 > 0)[None, :]
    tau = (demand[:, None] / demand0) * supply0[None, :] / xp.where(ok, supply, 1.0)
    return xp.where(ok, tau, 1.0)


def terms(
    xp: ModuleType, tau: Any, segment: Any, pass_through: Any, price: Any, u0: Any, eta: float, cap: float,
) -> tuple[Any, Any]:
    """(price, utilisation) each seller gets, (paths, agents).

    tau: (paths, 2); segment: (agents,) int; pass_through: (2,); price: (paths,) trend index;
    u0: (1 or paths, agents) calibrated utilisation. P_i = P x tau_g^(1/eps_g);
    u_i = min(cap, u0_i x tau_g^eta), 0 at least.
    """
    g = xp.maximum(segment, 0)
    tau_i = xp.where((segment >= 0)[None, :], xp.take(tau, g, axis=1), 1.0)
    pt = xp.take(pass_through, g)
    p_i = price[:, None] * tau_i ** pt[None, :]
    u_i = xp.clip(u0 * tau_i ** eta, 0.0, cap)
    return p_i, u_i


def capex_factor(
    xp: ModuleType, tau: Any, segment: Any, pass_through: Any, u0: Any, eta: float, cap: float, elasticity: Any,
) -> Any:
    """(paths, agents) factor on each seller's planned capex: the spot revenue a unit of capacity
    earns at the cleared terms relative to the trend terms, to the power of its price elasticity.

    factor_i = (tau_g^(1/eps_g) x u_i(tau_g) / u_i(1))^elasticity_i, u_i(tau) = min(cap, u0_i tau^eta);
    1 for non-sellers and where u0_i = 0. tau: (paths, 2); segment: (agents,) int; pass_through:
    (2,); u0: (1 or paths, agents); elasticity: (1, agents). An over-built segment (tau < 1) earns
    less per GPU and so plans less (the investment side of the market clearing).
    """
    price, util = terms(xp, tau, segment, pass_through, xp.ones((tau.shape[0],), dtype=tau.dtype), u0, eta, cap)
    u1 = xp.clip(u0, 0.0, cap)  # the utilisation terms() gives at tau = 1
    ok = u1 > 0
    ratio = xp.where(ok, util / xp.where(ok, u1, 1.0), 1.0)
    return xp.where((segment >= 0)[None, :], (price * ratio) ** elasticity, 1.0)
