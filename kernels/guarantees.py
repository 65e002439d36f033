"""SPV residual-value guarantees valued monthly: what lenders to the sponsor see under SPV
transparency.

Channel ``spv_marks``. It acts only under a regime with ``spv_consolidation`` (the
``spv_transparency`` and ``macroprudential`` regimes); under light_touch_2025 SPV debt stays off
the sponsor's books and this channel does nothing.

A residual-value guarantee (Meta's on the Hyperion vehicle) makes the sponsor bear the shortfall
of the SPV's asset value below the SPV's debt: economically a put written by the sponsor on the
data centre, struck at the debt. Consolidating the SPV at book leaves that put at its value on the
day the book was written. Here the SPV's real assets are marked each month to the compute market
before they are consolidated, so the sponsor's consolidated equity falls by the put's intrinsic
value as rents fall, inside the horizon and not only at the guarantee's exit:

    mark_t    = 1 - w (1 - min(1, P_t q_t u_s))                          (paths,) per SPV s
    D_i^c     = D_i + sum_{s guaranteed by i} D_s
    A_i^c     = A_i + sum_{s guaranteed by i} (A_s - (1 - mark_t) G_s)
    put_i     = sum_{s guaranteed by i} max(0, D_s - (A_s - (1 - mark_t) G_s))

with P_t the rental price index, q_t the used-GPU discount index (fire sales), u_s the SPV's
vintage factor (:func:`aisim.kernels.collateral.add_vintage`: its rent relative to its purchase),
G_s its real-asset (GPU / data-centre) book, D_s, A_s its debt and total assets at book, and w
(``spv_marks.rent_share``) the share of a campus's value that moves with compute rents (the rest:
land, shell, grid connection). The consolidated (D^c, A^c) enter every test a lender to the
sponsor applies: the refinancing test (debt / assets at most ``max_leverage``), the capex
borrowing headroom and, with ``credit_pricing`` on, the sponsor's Merton distance to default and
so its spread (the SPV's notes are long-term: they add to the default point at one half, as other
long-term liabilities do; the put's exposure lowers the asset value).

Why: accounting for guarantees puts the guarantor's obligation on its balance sheet at fair value
(FASB ASC 460-10-30, "Guarantees": a guarantor recognises a liability for the fair value of the
obligation undertaken; IFRS 10 consolidates a vehicle whose variable returns the sponsor bears),
and rating agencies add guarantees and off-balance-sheet debt to a sponsor's leverage (S&P,
"Corporate Methodology: Ratios and Adjustments", 2013, guarantees and debt-like obligations;
Moody's, "Financial Statement Adjustments in the Analysis of Non-Financial Corporations", 2018).
The put view of a guarantee: Merton (1977), "An analytic derivation of the cost of deposit
insurance and loan guarantees", JBF 1(1), 3-11.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .accounting import from_payers
from .params import param
from .state import RVG, Book


@dataclass(frozen=True)
class SpvMarkParams:
    """How an SPV's real assets are marked before they are consolidated into their guarantor."""

    rent_share: float = param(0.5, ge=0.0, le=1.0, unit="share",
                              doc="share of an SPV campus's value that moves with the compute rental index "
                              "(the rest: land, shell, power)")


def mark(xp: ModuleType, price: Any, q: Any, vintage: Any, rent_share: float) -> Any:
    """(paths, agents) value of each agent's real assets per USD of book:
    ``1 - w (1 - min(1, P q u))``. price, q: (paths,); vintage: (paths, agents)."""
    rel = xp.minimum((price * q)[:, None] * vintage, 1.0)
    return 1.0 - rent_share * (1.0 - rel)


def consolidate(
    xp: ModuleType, book: Book, c_alive: Any, debt: Any, assets: Any, gpu: Any, value: Any,
) -> tuple[Any, Any, Any]:
    """(debt, assets, put) (paths, agents): each SPV's debt, and its assets with its real-asset
    book ``gpu`` marked at ``value`` per USD (:func:`mark`), added to the sponsor that guarantees
    its residual value (a live ``rvg`` contract, payer = sponsor, payee = SPV); ``put`` the
    intrinsic value of the sponsor's guarantees, sum of max(0, SPV debt - SPV marked assets)."""
    rvg = c_alive & (book.kind == RVG)[None, :]
    col = xp.minimum(book.payee, book.n_agents - 1)
    marked = assets - (1.0 - value) * gpu
    spv_debt = xp.take(debt, col, axis=1)
    spv_assets = xp.take(marked, col, axis=1)
    add_debt, _ = from_payers(xp, book, xp.where(rvg, spv_debt, 0.0))
    add_assets, _ = from_payers(xp, book, xp.where(rvg, spv_assets, 0.0))
    put, _ = from_payers(xp, book, xp.where(rvg, xp.maximum(spv_debt - spv_assets, 0.0), 0.0))
    return debt + add_debt, assets + add_assets, put
