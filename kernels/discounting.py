"""Rates in valuations: GPU collateral is worth the present value of its rents.

A GPU's collateral value (:func:`aisim.kernels.collateral.value_factor`) is the rent it earns
over its economic life L (months). Priced as a level annuity of that rent discounted at the
lender's yield y = base rate + market spread + ``premium`` (annual), its value moves with

    a(y, L) = (1 - (1 + y/12)^-L) / (y/12)          (a(0, L) = L)

The calibrated collateral value is taken as the value at the scenario's starting yield y0, so
the month's value factor is multiplied by

    f = a(y, L) / a(y0, L)                          (paths,)

(f = 1 at the start; +200bp on a 60-month life at y0 ~ 9% gives f ~ 0.955, i.e. a duration of
about 2.3 years). The standard present-value identity (e.g. Brealey, Myers and Allen,
"Principles of Corporate Finance", ch. 2-3); the GPU's rent is taken as flat, its decline is
in the rental index. Shapes: base_rate, market_spread (paths,); returns (paths,).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class DiscountingParams:
    """The yield at which GPU rents are discounted in collateral values."""

    premium: float = param(0.05, ge=0.0, le=1.0, unit="annual",
                           doc="yield over the base rate (and market spread) at which GPU rents are discounted")


def annuity(xp: ModuleType, y: Any, months: float) -> Any:
    """(paths,) present value of 1 a month for ``months`` months at annual yield ``y`` (paths,)."""
    m = y / 12.0
    safe = xp.where(m > 1e-12, m, 1.0)
    return xp.where(m > 1e-12, (1.0 - (1.0 + safe) ** (-months)) / safe, months + 0.0 * m)


def collateral_factor(xp: ModuleType, base_rate: Any, market_spread: Any, start_rate: float, months: float,
                      premium: float) -> Any:
    """(paths,) a(y, L) / a(y0, L) with y = base + market spread + premium, y0 = start + premium."""
    y0 = xp.asarray([start_rate + premium], dtype=xp.float64)
    return annuity(xp, base_rate + market_spread + premium, months) / annuity(xp, y0, months)
