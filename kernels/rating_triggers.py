"""Rating-migration triggers: what a downgrade below investment grade sets off.

Ratings are derived monthly from credit metrics: each agent's grade is the S&P letter grade
whose distance-to-default anchor is nearest its Merton/KMV DD (:func:`aisim.kernels.credit_pricing.grade`,
the same DD and grade table that price its credit). :func:`migrate` records, per agent, the month
of its latest fall from investment grade (grade index <= ``threshold``, default 3 = BBB: BBB- and
better) to below it; an upgrade back to investment grade clears it. A *fallen angel* is an agent
with such a fall on record. Agents rated below investment grade from the start are not fallen
angels: their financing was arranged on their rating.

With the channel on, a fallen angel:

* **loses its rating-conditional financing** (:func:`conditional_need`): the share
  ``conditional_share`` of its new borrowing that rested on an investment-grade rating (committed
  facilities and data-centre financings with rating conditions) is cancelled,
  ``need' = need x (1 - conditional_share)``. In February 2026 a tenant's sub-investment-grade
  rating reportedly sank a 4bn data-centre financing.
* **pays a forced-selling premium** (:func:`fallen_premium`): holders limited to investment grade
  (insurers' and funds' IG mandates) sell its bonds together, a temporary price pressure that
  reverses (Ellul, Jotikasthira and Lundblad 2011, JFE 101(3), "Regulatory pressure and fire
  sales in the corporate bond market"): its spread carries

      premium = fallen_premium x exp(-(t - t_fall) / premium_decay_months)

  on top of its DD spread, in floating rates and in the pricing of its roll-overs.

* **sinks its landlords' rating-conditional financing** (:func:`tenant_flags`,
  :func:`conditional_rolls`): a data-centre SPV whose tenant (the lessee of a live lease to it)
  is a fallen angel has ``conditional_share`` of each maturing loan its lender would have rolled
  fall due instead, ``rolled' = rolled x (1 - conditional_share)``; other lenders may refinance
  the rest on their facilities, or the SPV pays it from cash, or it defaults. This is the
  February 2026 case: a data-centre financing sunk by its tenant's sub-investment-grade rating.

Not built: collateral calls on rating-triggered agreements (the model's collateralised
contracts have LTV covenants, not rating triggers).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .backend import segment_sum
from .params import param
from .state import LEASE, LOAN, Book

NO_FALL = -1  # rating_fall of an agent with no fall from investment grade on record


@dataclass(frozen=True)
class RatingTriggerParams:
    """Rating-migration triggers (config node ``rating_triggers``). docs/calibration.md gives
    the source of each value."""

    threshold: int = param(3, ge=0, le=5, unit="grade index",
                           doc="worst investment grade (0 AAA, 1 AA, 2 A, 3 BBB, 4 BB, 5 B): below it is a fall")
    conditional_share: float = param(0.5, ge=0.0, le=1.0, unit="share",
                                     doc="share of a fallen angel's new borrowing conditional on its rating, cancelled")
    fallen_premium: float = param(0.01, ge=0.0, le=0.5, unit="annual",
                                  doc="spread premium of a fallen angel in the month of its fall (IG holders sell)")
    premium_decay_months: float = param(6.0, gt=0.0, le=600.0, unit="months",
                                        doc="e-folding time of the fallen-angel premium")


def migrate(xp: ModuleType, prev_grade: Any, grade: Any, fall: Any, alive: Any, month: int,
            threshold: int) -> Any:
    """(paths, agents) int64 month of each agent's latest fall from investment grade, NO_FALL if none.

    prev_grade, grade: (paths, agents) int64 grade indices last month and now; fall: (paths,
    agents) the record so far; alive: (paths, agents) bool. A live agent whose grade crosses
    from <= threshold to > threshold falls this month; one back at <= threshold is cleared."""
    fell = alive & (prev_grade <= threshold) & (grade > threshold)
    out = xp.where(fell, month, fall)
    return xp.where(grade <= threshold, NO_FALL, out)


def fallen(xp: ModuleType, fall: Any, alive: Any) -> Any:
    """(paths, agents) bool: live fallen angels."""
    return alive & (fall >= 0)


def conditional_need(xp: ModuleType, need: Any, fall: Any, alive: Any, share: float) -> Any:
    """(paths, agents) USD bn new borrowing sought after a fallen angel's rating-conditional
    financing is cancelled: need x (1 - share) for fallen angels, need otherwise."""
    return xp.where(fallen(xp, fall, alive), need * (1.0 - share), need)


def fallen_premium(xp: ModuleType, fall: Any, alive: Any, month: int, premium: float, decay: float) -> Any:
    """(paths, agents) annual spread premium of fallen angels: premium x exp(-(month - fall) / decay)."""
    age = xp.astype(xp.maximum(month - fall, 0), xp.float64)
    return xp.where(fallen(xp, fall, alive), premium * xp.exp(-age / decay), 0.0)


def tenant_flags(xp: ModuleType, book: Book, c_alive: Any, fallen_angel: Any, landlord: Any) -> Any:
    """(paths, agents) bool: landlords (``landlord`` (agents,) bool, the SPVs) with a live lease
    from a fallen angel (``fallen_angel`` (paths, agents) bool)."""
    n = book.n_agents
    ext = xp.zeros((fallen_angel.shape[0], 1), dtype=xp.bool)
    tenant = xp.take(xp.concat([fallen_angel, ext], axis=1), book.payer, axis=1)
    lease = c_alive & (book.kind == LEASE)[None, :] & tenant
    count = segment_sum(xp, xp.astype(lease, xp.float64), book.payee, n + 1)[:, :n]
    return (count > 0) & landlord[None, :]


def conditional_rolls(xp: ModuleType, book: Book, principal: Any, outstanding: Any, refinanced: Any,
                      flagged: Any, share: float) -> Any:
    """(paths, contracts) principal due this month once the rating-conditional share of flagged
    borrowers' roll-overs is cancelled: for a refinanced loan of a flagged borrower (``flagged``
    (paths, agents) bool), due = outstanding - (outstanding - due) x (1 - share)."""
    ext = xp.zeros((flagged.shape[0], 1), dtype=xp.bool)
    mine = xp.take(xp.concat([flagged, ext], axis=1), book.payer, axis=1) & (book.kind == LOAN)[None, :]
    cut = outstanding - (outstanding - principal) * (1.0 - share)
    return xp.where(refinanced & mine, cut, principal)
