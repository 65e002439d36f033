"""Lease claims in a lessee's bankruptcy, capped as 11 U.S.C. 502(b)(6) caps them.

When a lessee defaults, its leases end (the estate rejects them) and each lessor has an
unsecured claim for the rent it loses. US bankruptcy law caps a lessor's claim for damages from
the termination of a lease of real property at (11 U.S.C. 502(b)(6)(A)) "the rent reserved by
such lease, without acceleration, for the greater of one year, or 15 percent, not to exceed three
years, of the remaining term of such lease" (plus unpaid rent due, which the monthly settlement
already handles). With a constant monthly rent ``m`` and ``T`` months left (the contract's
``maturity``: the whole term for a lease that has not started), the allowed claim is

    claim = m x min(T, min(max(floor_months, term_share x T), cap_months))

(floor 12 months, 15%, cap 36 months by the statute). The claim ranks with the estate's other
unsecured claims and recovers the estate's unsecured rate ``R`` (:mod:`aisim.kernels.resolution`);
the lessor receives ``R x claim`` in cash (a gain: future rent was never on its balance sheet)
and takes the loss on the rest of the rent it would have received,

    lessor loss = m x T - R x claim          (nominal, undiscounted rent),

which is recorded (``State.lease_loss``, by lessor, the external sector last) but not written
off its equity a second time: the lost revenue shows in its income from the month after.
Data-centre leases are leases of real property; GPU leases would be personal property, to
which the cap does not apply (a simplification: every lease here is capped).

Shapes: monthly (contracts,), months_left (paths, contracts); returns (paths, contracts) USD bn.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class LeaseClaimParams:
    """The 502(b)(6) cap (``lease_claims.*``)."""

    floor_months: float = param(12.0, ge=0.0, le=600.0, unit="months",
                                doc="least rent a rejected lease's claim covers (one year, 11 U.S.C. 502(b)(6))")
    term_share: float = param(0.15, ge=0.0, le=1.0, unit="share",
                              doc="share of the remaining term's rent the claim covers when above the floor (15%)")
    cap_months: float = param(36.0, ge=0.0, le=600.0, unit="months",
                              doc="most rent a rejected lease's claim covers (three years)")


def allowed_months(xp: ModuleType, months_left: Any, p: LeaseClaimParams) -> Any:
    """Months of rent the claim covers: min(T, min(max(floor, share x T), cap))."""
    t = xp.astype(xp.maximum(months_left, 0), xp.float64)
    return xp.minimum(t, xp.minimum(xp.maximum(p.floor_months + 0.0 * t, p.term_share * t), p.cap_months))


def claims(xp: ModuleType, monthly: Any, months_left: Any, ending: Any, p: LeaseClaimParams) -> tuple[Any, Any]:
    """(allowed claim, rent lost) per contract, zero where ``ending`` ((paths, contracts) bool,
    leases of a defaulting lessee that end) is false."""
    t = xp.astype(xp.maximum(months_left, 0), xp.float64)
    zero = xp.zeros_like(t)
    m = monthly[None, :] + zero
    return (xp.where(ending, m * allowed_months(xp, months_left, p), zero), xp.where(ending, m * t, zero))
