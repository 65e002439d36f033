"""Capital priced into loans: a bank charges for the equity a loan ties up.

A bank funds a loan of risk weight ``w`` with ``w x k`` of equity (``k`` its capital requirement,
the countercyclical buffer included) and the rest with debt. Equity costs more than debt, so the
loan's rate carries the add-on

    charge = w x k x (cost of equity - cost of debt)        (annual, per USD lent)

-- the loan-pricing equation behind the BCBS Macroeconomic Assessment Group's and LEI's estimates
(BCBS 2010, "An assessment of the long-term economic impact of stronger capital and liquidity
requirements") and Kashyap, Stein and Hanson (2010), who find 25-45bp of loan rate per 10pp of
capital, i.e. an effective premium of 2.5-4.5% once the cheaper debt of a safer bank is netted;
Baker and Wurgler (2015, AER P&P, "Do strict capital requirements raise the cost of capital?")
put the premium higher (60-90bp per 10pp). ``equity_premium`` is that difference.

Where it applies (all (paths, contracts), loans held by banks only; non-banks hold no regulatory
capital):

* **New lending** on revolving loans (the capex facilities, and calibrated revolvers), whose
  rate is reset monthly: rate + charge at this month's weight and requirement (a
  performance-pricing grid: the margin follows the borrower's rating through its risk weight;
  Asquith, Beatty and Weber 2005).
* **Roll-overs**: a refinanced loan's margin is repriced at the borrower's spread (credit_pricing)
  plus the charge; with credit_pricing off roll-overs keep their contract rate and only facilities
  carry the charge.

The weight ``w`` is the one the bank's RWA use: the regime's flat weight by the borrower's risk
class, or, where the regime sets ``rating_based_weights``, the Basel standardised corporate weight
of the borrower's grade (:func:`aisim.kernels.regulation.rated_loan_weights`, BCBS CRE20). So
tighter rules -- a higher requirement, heavier weights, a downgrade under rating-based weights --
raise the cost of bank credit, which reaches capex through debt service and cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class CapitalPricingParams:
    """Capital priced into bank loans (config node ``capital_pricing``)."""

    equity_premium: float = param(0.04, ge=0.0, le=0.5, unit="annual",
                                  doc="banks' cost of equity less cost of debt, per USD of equity a loan uses")


def charge(xp: ModuleType, weight: Any, bank_held: Any, req: Any, equity_premium: float) -> Any:
    """(paths, contracts) annual rate add-on: weight x req x equity_premium on loans held by banks.

    weight: (paths, contracts) or (contracts,) risk weights; bank_held: (contracts,) bool loans
    whose payee is a bank; req: (paths,) capital requirement."""
    w = weight if weight.ndim == 2 else weight[None, :]
    return xp.where(bank_held[None, :], w * req[:, None] * equity_premium, 0.0)
