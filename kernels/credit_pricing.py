"""Credit priced by credit quality: a structural distance to default, a grade and a spread.

Each month each agent's distance to default (DD) follows the Merton (1974) model as KMV applies
it (Crosbie and Bohn 2003, "Modeling default risk", Moody's KMV):

    DD = (ln(V / D) + (r - sigma^2 / 2) T) / (sigma sqrt(T)),   T = 1 year

* V (paths, agents) USD bn: the asset value, taken as BOOK total assets (cash, securities, GPUs
  and data centres at book, other assets, loans held, stakes at their marks). The model has no
  market value of the firm; book assets understate the asset value of firms valued far above
  book (Microsoft's ~636B of assets against ~3.5T of market value), so DDs of such firms are
  conservative. Lease and offtake commitments are not in V or D (they are contracts, not
  balance-sheet items, in the model).
* D (paths, agents) USD bn: the KMV default point, short-term debt + 0.5 x long-term
  liabilities. Short-term debt = loan principal due within 12 months on the loan's schedule
  (a bullet maturing within 12 months in full; a linear loan min(12, months left) / months
  left of it; a revolving capex facility min(12 / term, 1) of it); long-term liabilities =
  the rest of the loans + ``other_liab`` (the model does not split other liabilities into
  current and non-current: all of it is long-term, an ASSUMPTION).
* sigma (agents,) annual asset volatility, one per sector (:class:`CreditPricingParams`).
* r (paths,) the base rate (annual).

PD = N(-DD) is a grade's one-year default rate: each grade g of S&P's scale sits at the DD whose
N(-DD) equals the grade's average one-year default rate (credit-markets-2025.md), and its spread
is the ICE BofA option-adjusted spread of the grade. Between grades, the log spread is linear in
DD (piecewise linear interpolation through the grade anchors: continuous and monotone, so a
borrower's spread moves smoothly with its leverage instead of jumping at a grade boundary);
above the best anchor the spread is the AAA spread; below the CCC anchor the last segment is
extrapolated, capped at ``max_spread``.

Graded refinancing: at a maturing bullet that passes the refinancing tests the incumbent lender
rolls a share of the principal, logistic in the borrower's DD,

    roll = 1 / (1 + exp(-(DD - roll_dd_mid) / roll_dd_scale)),

and the rest falls due (other lenders may refinance it on the capex facilities, or the
borrower repays it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from types import ModuleType
from typing import Any

from .accounting import from_payers
from .params import param
from .state import BULLET, LINEAR, LOAN, REVOLVING, Book

GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")


def _vol(default: float, doc: str) -> Any:
    return param(default, gt=0.0, le=3.0, unit="annual", doc=doc)


@dataclass(frozen=True)
class CreditPricingParams:
    """Asset volatility by sector, the grade scale (one-year default rates and spreads), graded
    refinancing. docs/calibration.md gives the source of each value."""

    sigma_chipmaker: float = _vol(0.40, "asset volatility of chipmakers (equity vol ~45% x E/V ~0.95)")
    sigma_hyperscaler: float = _vol(0.28, "asset volatility of hyperscalers (equity vol ~24-50% x E/V ~0.85-0.99)")
    sigma_neocloud: float = _vol(0.55, "asset volatility of neoclouds (CoreWeave equity vol ~100% x E/V ~0.55)")
    sigma_ai_lab: float = _vol(0.60, "asset volatility of AI labs (no traded equity; as a neocloud, slightly above)")
    sigma_private_credit: float = _vol(0.10, "asset volatility of private-credit funds (BDC equity vol ~25% x "
                                             "E/V ~0.4)")
    sigma_bank: float = _vol(0.03, "asset volatility of banks (equity vol ~25% x E/V ~0.1)")
    sigma_spv: float = _vol(0.15, "asset volatility of data-centre SPVs (leased infrastructure)")
    pd_aaa: float = param(0.00005, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of AAA (S&P: 0.00%)")
    pd_aa: float = param(0.0002, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of AA")
    pd_a: float = param(0.0006, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of A")
    pd_bbb: float = param(0.0018, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of BBB")
    pd_bb: float = param(0.0072, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of BB")
    pd_b: float = param(0.0376, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of B")
    pd_ccc: float = param(0.2678, gt=0.0, lt=1.0, unit="share a year", doc="one-year default rate of CCC/C")
    spread_aaa: float = param(0.0035, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of AAA")
    spread_aa: float = param(0.0047, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of AA")
    spread_a: float = param(0.0068, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of A")
    spread_bbb: float = param(0.0101, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of BBB")
    spread_bb: float = param(0.0181, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of BB")
    spread_b: float = param(0.0309, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of B")
    spread_ccc: float = param(0.0950, gt=0.0, le=1.0, unit="annual", doc="option-adjusted spread of CCC and lower")
    max_spread: float = param(0.25, gt=0.0, le=2.0, unit="annual", doc="cap on the spread below the CCC anchor")
    roll_dd_mid: float = param(1.2, ge=-5.0, le=10.0, unit="DD",
                               doc="DD at which the incumbent rolls half a maturing bullet")
    roll_dd_scale: float = param(0.3, gt=0.0, le=10.0, unit="DD", doc="width of the logistic roll-over share in DD")


def grade_table(p: CreditPricingParams) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(DD anchors, log spreads) of the grades, best first: DD_g = -N^-1(PD_g). Host floats.

    Raises ValueError when the grades' default rates or spreads are not strictly ordered."""
    pds = [getattr(p, f"pd_{g.lower()}") for g in GRADES]
    spreads = [getattr(p, f"spread_{g.lower()}") for g in GRADES]
    if any(b <= a for a, b in zip(pds, pds[1:], strict=False)) or any(
            b <= a for a, b in zip(spreads, spreads[1:], strict=False)):
        raise ValueError("credit_pricing: the grades' pd_* and spread_* must rise strictly from AAA to CCC")
    if p.max_spread < p.spread_ccc:
        raise ValueError("credit_pricing.max_spread must be at least spread_ccc")
    n = NormalDist()
    return tuple(-n.inv_cdf(x) for x in pds), tuple(math.log(x) for x in spreads)


def sector_sigma(p: CreditPricingParams, sectors: list[str]) -> list[float]:
    """Asset volatility of each agent from its sector's ``sigma_<sector>``.

    A sector without a parameter is an error naming the key to add (no silent default)."""
    out = []
    for s in sectors:
        key = f"sigma_{s}"
        if not hasattr(p, key):
            raise ValueError(f"credit_pricing: no asset volatility for sector {s!r}; add credit_pricing.{key} "
                             f"to CreditPricingParams (kernels/credit_pricing.py)")
        out.append(float(getattr(p, key)))
    return out


def short_term_debt(xp: ModuleType, book: Book, c_alive: Any, outstanding: Any, maturity: Any) -> Any:
    """(paths, agents) USD bn of loan principal due within 12 months, by borrower."""
    live = c_alive & (book.kind == LOAN)[None, :]
    m = xp.astype(xp.maximum(maturity, 1), outstanding.dtype)
    bullet = xp.where(maturity <= 12, outstanding, 0.0)
    linear = outstanding * xp.minimum(12.0 / m, 1.0)
    term = xp.astype(xp.maximum(book.maturity, 1), outstanding.dtype)
    revolving = outstanding * xp.minimum(12.0 / term, 1.0)[None, :]
    due = xp.where((book.amort == BULLET)[None, :], bullet, 0.0)
    due = xp.where((book.amort == LINEAR)[None, :], linear, due)
    due = xp.where((book.amort == REVOLVING)[None, :], revolving, due)
    std, _ = from_payers(xp, book, xp.where(live, due, 0.0))
    return std


def distance_to_default(xp: ModuleType, assets: Any, short_debt: Any, long_liab: Any, sigma: Any,
                        base_rate: Any) -> Any:
    """(paths, agents) DD, T = 1 year. assets, short_debt, long_liab: (paths, agents) USD bn;
    sigma: (agents,) annual; base_rate: (paths,) annual. No debt: +inf; no assets: -inf."""
    d = short_debt + 0.5 * long_liab
    pos = (d > 0.0) & (assets > 0.0)
    ratio = xp.where(pos, assets, 1.0) / xp.where(pos, d, 1.0)
    dd = (xp.log(ratio) + (base_rate[:, None] - 0.5 * sigma[None, :] ** 2)) / sigma[None, :]
    no_assets = xp.full_like(dd, -math.inf)
    no_debt = xp.full_like(dd, math.inf)
    return xp.where(pos, dd, xp.where(d > 0.0, no_assets, no_debt))


def spread(xp: ModuleType, dd: Any, table: tuple[tuple[float, ...], tuple[float, ...]], max_spread: float) -> Any:
    """(paths, agents) annual credit spread of each DD: log spread piecewise linear in DD through
    the grade anchors, flat above AAA, the last segment extrapolated below CCC up to max_spread."""
    anchors, logs = table
    k = len(anchors)
    x = xp.minimum(dd, anchors[0])  # flat above the best grade (also catches +inf)
    out = xp.full(dd.shape, logs[0], dtype=xp.float64)
    for j in range(k - 1):
        hi, lo = anchors[j], anchors[j + 1]
        slope = (logs[j + 1] - logs[j]) / (lo - hi)
        seg = logs[j] + slope * (x - hi)
        last = j == k - 2  # extrapolate the last segment below the CCC anchor
        inside = (x < hi) if last else ((x < hi) & (x >= lo))
        out = xp.where(inside, seg, out)
    out = xp.where(dd == -math.inf, math.log(max_spread), out)
    return xp.minimum(xp.exp(out), max_spread)


def roll_share(xp: ModuleType, dd: Any, mid: float, scale: float) -> Any:
    """(paths, agents) share of a maturing bullet the incumbent lender rolls: logistic in DD."""
    z = xp.clip((dd - mid) / scale, -50.0, 50.0)
    return 1.0 / (1.0 + xp.exp(-z))


def grade_of(dd: float, table: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    """The grade whose DD anchor is nearest (for reports; host float)."""
    anchors = table[0]
    if dd >= anchors[0]:
        return GRADES[0]
    if dd <= anchors[-1]:
        return GRADES[-1]
    return GRADES[min(range(len(anchors)), key=lambda j: abs(anchors[j] - dd))]


#: grade index of a defaulted agent (after CCC in :data:`GRADES`)
DEFAULTED = len(GRADES)


def grade(xp: ModuleType, dd: Any, table: tuple[tuple[float, ...], tuple[float, ...]]) -> Any:
    """(paths, agents) int64 grade index into :data:`GRADES` (0 = AAA .. 6 = CCC) of each DD: the
    grade whose DD anchor is nearest (the rule of :func:`grade_of`, vectorised), so the boundary
    between two grades lies halfway between their anchors in DD. +inf is AAA, -inf CCC."""
    anchors = table[0]
    out = xp.zeros(dd.shape, dtype=xp.int64)
    for j in range(len(anchors) - 1):
        mid = 0.5 * (anchors[j] + anchors[j + 1])
        out = out + xp.astype(dd < mid, xp.int64)
    return out
