"""Firm-specific operating shocks: a persistent margin shock per firm, correlated within its
sector, with rare adverse jumps (delivery delays, lost customers, cost overruns).

Without them every firm of a sector sees the same demand, prices and rates, so firms of a sector
default together or not at all (Nebius, Lambda and Crusoe had identical PDs), and a firm that
is liquid today cannot fail within a year: a structural model driven by diffusions alone gives
near-zero short-horizon default probabilities, which is why the credit literature adds jumps
(Zhou 2001) or imperfect information about the firm (Duffie and Lando 2001).

The state is a margin shock ``x`` per firm, a share of its operating revenue (positive: better
than planned). Each month

    x_t = rho x_{t-1} + vol sqrt(1 - rho^2) (sqrt(w) z_sector + sqrt(1 - w) z_firm) + J 1{u < lambda}

with ``z_sector`` one standard normal per sector and month (shared by the firms of the sector),
``z_firm`` one per firm, ``u`` uniform per firm (counter-based streams keyed by the agent's column
or the sector's position in :data:`aisim.sectors.NAMES`, so common random numbers across regimes
hold). Without jumps ``x`` is an AR(1) that starts at 0 and whose standard deviation tends to
``vol`` (it is ``vol sqrt(1 - rho^(2t))`` after t months); ``w`` is the within-sector share of the shock's
variance (Basel IRB asset correlations of corporates run 0.12-0.24, BCBS CRE31.5). A jump of size
``J < 0`` (share of a month's revenue) decays at the same ``rho``: its whole cost is about
``J / (1 - rho)`` months of revenue.

The shock moves operating costs, not revenue, so contracted revenue stays contractual and the
external sector is the counterparty of the gain or loss:

    costs' = max(costs - x * revenue, 0)

revenue: the month's AI revenue from outside plus contract payments received (the base the
cost share applies to), USD bn a month. Cash is conserved: what a firm loses the external
sector receives as costs, and the reverse.

Units: x a share of monthly revenue; vol, J shares; lambda a monthly probability; rho monthly.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import by_sector, param


def _vol(v: float, doc: str) -> float:
    return param(v, ge=0.0, le=1.0, unit="share of revenue", doc=doc)


def _prob(v: float, doc: str) -> float:
    return param(v, ge=0.0, le=1.0, unit="probability a month", doc=doc)


def _jump(v: float, doc: str) -> float:
    return param(v, ge=-1.0, le=0.0, unit="share of a month's revenue", doc=doc)


@dataclass(frozen=True)
class FirmShockParams:
    """Persistence, within-sector correlation, and each sector's volatility and adverse jumps.
    docs/calibration.md gives what each value rests on."""

    persistence: float = param(0.9, ge=0.0, lt=1.0, unit="monthly AR(1) coefficient",
                               doc="persistence of a firm's margin shock (0.9: half-life 6.6 months)")
    sector_weight: float = param(0.2, ge=0.0, le=1.0, unit="share of variance",
                                 doc="share of the shock's variance common to the firms of a sector")
    vol_chipmaker: float = _vol(0.04, "stationary sd of chipmakers' margin shock")
    vol_hyperscaler: float = _vol(0.02, "stationary sd of hyperscalers' margin shock")
    vol_neocloud: float = _vol(0.05, "stationary sd of neoclouds' margin shock")
    vol_ai_lab: float = _vol(0.08, "stationary sd of AI labs' margin shock")
    vol_private_credit: float = _vol(0.0, "private-credit funds: their risk is their loans'")
    vol_bank: float = _vol(0.0, "banks: their risk is their books'")
    vol_spv: float = _vol(0.0, "SPVs: revenue is contracted rent")
    jump_prob_chipmaker: float = _prob(0.005, "monthly probability of an adverse event at a chipmaker")
    jump_prob_hyperscaler: float = _prob(0.002, "monthly probability of an adverse event at a hyperscaler")
    jump_prob_neocloud: float = _prob(0.01, "monthly probability of an adverse event at a neocloud")
    jump_prob_ai_lab: float = _prob(0.01, "monthly probability of an adverse event at an AI lab")
    jump_prob_private_credit: float = _prob(0.0, "private-credit funds: none")
    jump_prob_bank: float = _prob(0.0, "banks: none")
    jump_prob_spv: float = _prob(0.0, "SPVs: none")
    jump_size_chipmaker: float = _jump(-0.15, "margin lost in the month of a chipmaker's adverse event")
    jump_size_hyperscaler: float = _jump(-0.05, "margin lost in the month of a hyperscaler's adverse event")
    jump_size_neocloud: float = _jump(-0.15, "margin lost in the month of a neocloud's adverse event")
    jump_size_ai_lab: float = _jump(-0.2, "margin lost in the month of an AI lab's adverse event")
    jump_size_private_credit: float = _jump(0.0, "private-credit funds: none")
    jump_size_bank: float = _jump(0.0, "banks: none")
    jump_size_spv: float = _jump(0.0, "SPVs: none")


def sector_terms(p: FirmShockParams, sectors: list[str]) -> tuple[list[float], list[float], list[float]]:
    """(vol, jump probability, jump size) of each agent from its sector's parameters.

    A sector without them is an error naming the keys to add (no silent default)."""
    where = "FirmShockParams (kernels/firm_shocks.py)"
    vol, prob, size = (by_sector(p, stem, sectors, "firm_shocks", where) for stem in ("vol", "jump_prob", "jump_size"))
    return vol, prob, size


def step(xp: ModuleType, x: Any, z_firm: Any, z_sector: Any, u: Any, vol: Any, jump_prob: Any, jump_size: Any,
         persistence: float, sector_weight: float) -> Any:
    """The month's margin shocks, (paths, agents) shares of revenue.

    x: last month's shocks (paths, agents); z_firm, z_sector: standard normals (paths, agents),
    z_sector already the draw of each agent's sector; u: uniforms (paths, agents); vol,
    jump_prob, jump_size: (agents,) from :func:`sector_terms`.
    """
    rho, w = persistence, sector_weight
    z = (w ** 0.5) * z_sector + ((1.0 - w) ** 0.5) * z_firm
    jump = xp.where(u < jump_prob[None, :], jump_size[None, :], 0.0)
    return rho * x + vol[None, :] * ((1.0 - rho * rho) ** 0.5) * z + jump


def shocked_costs(xp: ModuleType, costs: Any, x: Any, revenue: Any) -> Any:
    """Operating costs after the margin shock: max(costs - x * revenue, 0), (paths, agents) USD bn."""
    return xp.maximum(costs - x * revenue, 0.0)
