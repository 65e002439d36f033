"""Capex that follows contracted backlog: compute providers build the capacity their signed
offtakes need before the offtakes start.

Without it a compute provider's capex plan follows expected spot demand alone
(:func:`aisim.kernels.investment.planned_capex`), and an offtake is paid whatever capacity its
seller owns: Oracle could earn OpenAI's ~300B contract (4.5 GW from 2027) without building
anything for it. In the market the seller builds first -- Oracle raised its FY26 capex to ~50B
"to meet contracted demand" (RPO 523B, Nov 2025), CoreWeave's capex follows its backlog (55.6B
RPO, Q3 2025) -- and the capacity then sells at spot if the buyer leaves (stranded capacity,
:mod:`aisim.kernels.compute_market`).

Rule, for every compute provider i (one rule for all sectors that sell capacity). The capacity
its live offtakes need at month tau is their payments over its yield (the capacity measure of
:func:`aisim.kernels.operations.committed_capacity`),

    K_i(tau) = sum_{c sold by i, live at tau} m_c / y_i                     (USD bn of GPU book)

with c live at tau when it has not ended (its counterparties alive, ``start_c <= tau <
max(start_c, t) + months left_c``, before any scenario exit). The provider closes the gap
between the capacity its order book will need H months ahead and its GPU book ``G_i`` by a
share 1/H a month (partial adjustment),

    backlog_i(t) = max(K_i(t + H) - G_i(t), 0) / H                          (USD bn / month)

This is the flexible accelerator for a firm whose output is sold forward (Chenery 1952; Koyck
1954; Jorgenson 1963): the capital stock moves towards the stock the order book requires, over
about the time it takes to build (time to build, Kydland and Prescott 1982; an AI data centre's
18-24 months, the GPUs in the last months of it). A contract that ends (its buyer defaulted or
left) leaves K at once: what was built is spot capacity, resold through the compute market.

The plan is the spot part plus the backlog part,

    plan_i(t) = spot_share_i x spot plan_i(t) + backlog_i(t),
    spot_share_i = max(capex_i - backlog_i(0), 0) / capex_i

The calibrated ``capex`` is the provider's guided spending at the start, which already pays for
the build of its signed backlog; ``spot_share`` keeps the part of it the month-0 backlog does not
explain on the spot rule (expected demand and price, the compute market's response), so that
month 0's plan is the guidance (or the backlog's need where that is larger) and the contract
build is not counted twice. The backlog part does not respond to the spot price: the
contracted revenue does not.

Delivery. Take-or-pay binds the buyer to pay for capacity made available; capacity the seller
has not built cannot be taken, so each offtake pays its monthly amount times the share of its
seller's committed capacity the seller's GPU book covers,

    paid_c = m_c x min(1, G_i / K_i(t))                                     (seller i of c)

(1 where K_i = 0). A seller that cannot fund the build for its backlog loses the revenue of the
capacity it lacks (and has no spot capacity: all of it is committed).

Shapes: monthly, start, exit (contracts,); c_alive, maturity (paths, contracts); gpu (paths,
agents); yield (1 or paths, agents); returns (paths, agents) USD bn. H in whole months.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .accounting import to_payees
from .params import param
from .state import OFFTAKE, Book


@dataclass(frozen=True)
class BacklogCapexParams:
    """Build horizon of contracted capacity (``backlog_capex.*``)."""

    build_months: int = param(12, ge=1, le=120, unit="months",
                              doc="H: how far ahead a seller builds for its offtakes; it closes the gap by 1/H a month")


def requirement_at(xp: ModuleType, book: Book, alive: Any, c_alive: Any, maturity: Any, month: int, tau: int,
                   capacity_yield: Any, monthly: Any = None) -> Any:
    """(paths, agents) K(tau): capacity (USD bn of book) the offtakes live at month ``tau`` need,
    seen at ``month`` (months left ``maturity`` (paths, contracts) count down once started);
    monthly: (1 or paths, contracts) the payments (renegotiated), the book's when None."""
    begin = xp.maximum(book.start, month)[None, :]
    end = xp.minimum(begin + maturity, book.exit_month[None, :])
    live = c_alive & (book.kind == OFFTAKE)[None, :] & (book.start <= tau)[None, :] & (tau < end)
    pay, _ = to_payees(xp, book, alive, xp.where(live, book.monthly[None, :] if monthly is None else monthly, 0.0))
    ok = capacity_yield > 0
    return xp.where(ok, pay / xp.where(ok, capacity_yield, 1.0), 0.0)


def backlog_capex(xp: ModuleType, gpu: Any, ahead: Any, build_months: float) -> Any:
    """(paths, agents) USD bn / month: max(K(t + H) - G, 0) / H."""
    return xp.maximum(ahead - gpu, 0.0) / build_months


def delivered_share(xp: ModuleType, gpu: Any, committed: Any) -> Any:
    """(paths, agents) share of its live offtakes' capacity each seller can deliver:
    min(1, G / K), 1 where K = 0."""
    ok = committed > 0
    return xp.where(ok, xp.minimum(gpu / xp.where(ok, committed, 1.0), 1.0), 1.0)


def spot_share(capex: Any, backlog0: Any) -> Any:
    """(agents,) share of the calibrated capex left on the spot rule: max(capex - backlog(0), 0) /
    capex; 1 where capex is 0 (nothing to split)."""
    import numpy as np  # host-side, once per run

    capex = np.asarray(capex, dtype=float)
    b0 = np.asarray(backlog0, dtype=float)
    return np.where(capex > 0, np.maximum(capex - b0, 0.0) / np.where(capex > 0, capex, 1.0), 1.0)
