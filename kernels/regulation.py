"""Bank capital: equity over risk-weighted assets, with risk weights from the regime.

RWA = w_ai x loans to the AI web + w_other x other assets + w_sec x securities
      + w_eq x equity stakes (Basel III standardised approach, CRE20, in spirit: a risk weight
per exposure class). Non-banks get +inf so that no capital test binds on them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def capital_ratio(
    xp: ModuleType, is_bank: Any, equity: Any, loans_held: Any, other_assets: Any,
    securities: Any, stakes: Any, w_ai: float, w_other: float, w_sec: float, w_eq: float,
) -> Any:
    """(paths, agents) capital ratio for banks, +inf for other agents and for zero RWA.

    is_bank: (agents,) bool; the rest (paths, agents) USD bn.
    """
    rwa = w_ai * loans_held + w_other * other_assets + w_sec * securities + w_eq * stakes
    safe = xp.where(rwa > 0, rwa, 1.0)
    ratio = xp.where(rwa > 0, equity / safe, xp.inf)
    return xp.where(is_bank[None, :], ratio, xp.inf)
