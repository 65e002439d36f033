"""Contract-backed borrowing: the debt that a seller's take-or-pay offtakes support on their own.

A neocloud finances the GPUs for a signed customer contract in a ring-fenced borrower (CoreWeave's
delayed-draw term loans: "to fund the purchase ... of equipment ... to provide ... strategic
customers with services ordered by such customers", DDTL 2.0 8-K, Sep 2025), whose customer
payments go to a controlled account that pays operating costs and debt service before the parent
receives anything. Lenders size such debt on the contracted cash flow, not on the GPUs' resale
value: the present value of the cash flow available for debt service over the contract, divided by
a minimum loan-life coverage ratio (project finance's LLCR; debt sizing at a minimum contracted
cash-flow DSCR of about 1.2-1.35x).

Per seller i on each path, over its live offtakes c (contract alive, started or not,
not ended by a default or a scenario exit), with n_c months left, k_c months to its start and the
seller's borrowing rate y_i (annual):

    PV_i   = sum_c  m_c x a(n_c, y_i) x (1 + y_i / 12)^(-k_c),   a(n, y) = (1 - (1 + y/12)^-n) / (y/12)
    base_i = margin x PV_i / coverage

``margin`` is the cash flow available for debt service per USD of contracted revenue and
``coverage`` the lenders' minimum LLCR. The leverage tests (refinancing, new borrowing, capex
headroom) then see the debt the contracts carry, B_i = min(base_i, D_i), outside the corporate
test together with the assets it financed, as a ring-fenced borrower's debt is:

    (D, A)  ->  (D - B, A - min(B, A))

so that the rest of the firm must still pass ``debt <= max_leverage x assets``. A buyer's default
or exit takes its contract out of the base in the month it happens, so a firm whose anchor customer
leaves finds its debt back inside the corporate test (and may fail it). Only the sectors the
channel names borrow this way (neoclouds by default): hyperscalers and Oracle borrow unsecured at
the corporate level, and their project debt is the SPV and JV channels'.

Sources: CoreWeave 8-K (29 Sep 2025, DDTL 2.0 Fifth Amendment) and S-1 (Mar 2025); Yescombe,
*Principles of Project Finance* (2nd ed., 2014), ch. 12 (cover ratios, debt sizing); minimum
contracted cash-flow DSCR of 1.20x in US project credit agreements (Law Insider, "Debt Sizing
Parameters"). ``margin`` 0.6: CoreWeave's adjusted EBITDA margin of ~61% in Q3 2025 (company
release), an assumption for the other neoclouds.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .accounting import route
from .backend import derived_index, segment_sum, to_numpy
from .params import param
from .state import OFFTAKE, Book


@dataclass(frozen=True)
class ContractBaseParams:
    """Parameters of the contract-backed borrowing base (config node ``contract_base``)."""

    margin: float = param(0.6, ge=0.0, le=1.0, unit="share of contracted revenue",
                          doc="cash flow available for debt service per USD of contracted revenue")
    coverage: float = param(1.3, ge=1.0, le=5.0, unit="x",
                            doc="lenders' minimum loan-life coverage ratio on contracted cash flow")
    sectors: str = param("neocloud", choices=("neocloud", "compute"), unit="",
                         doc="who borrows against its offtakes: neoclouds, or all compute providers "
                             "(neoclouds and hyperscalers)")

    @property
    def sector_names(self) -> tuple[str, ...]:
        return ("neocloud",) if self.sectors == "neocloud" else ("neocloud", "hyperscaler")


def annuity(xp: ModuleType, months: Any, rate: Any) -> Any:
    """Present value of 1 a month for ``months`` months at annual ``rate`` (broadcast arrays);
    ``months`` where the rate is 0."""
    r = rate / 12.0
    safe = xp.where(xp.abs(r) > 1e-12, r, 1.0)
    return xp.where(xp.abs(r) > 1e-12, (1.0 - (1.0 + safe) ** (-months)) / safe, months)


def contracted_value(xp: ModuleType, book: Book, month: int, alive: Any, c_alive: Any, maturity: Any,
                     rate: Any, scale: Any = None) -> Any:
    """(paths, agents) USD bn: present value to each seller of its live offtakes' remaining payments.

    alive: (paths, agents) bool; c_alive: (paths, contracts) bool (a defaulted buyer's offtakes
    end at resolution; with contract contagion off the external sector takes them over and they
    stay live); maturity: (paths, contracts) int64 months left; rate: (paths, agents) annual rate
    each seller's contracts are discounted at; scale: None, or (paths, agents) each buyer's
    renegotiated share of its offtake payments (:mod:`aisim.kernels.renegotiation`).
    """
    # over the offtake columns only (fixed, found once per book): every other contract adds an
    # exact 0 to its payee's sum, so leaving them out changes no bit and saves the powers on them
    cols, payee = _offtakes(xp, book)
    live = (xp.take(c_alive, cols, axis=1) & (month < xp.take(book.exit_month, cols))[None, :]
            & (xp.take(maturity, cols, axis=1) > 0))
    seller = xp.minimum(payee, book.n_agents - 1)
    y = xp.take(rate, seller, axis=1)
    wait = xp.astype(xp.maximum(xp.take(book.start, cols) - month, 0), rate.dtype)[None, :]
    months = xp.astype(xp.take(maturity, cols, axis=1), rate.dtype)
    pv = xp.take(book.monthly, cols)[None, :] * annuity(xp, months, y) * (1.0 + y / 12.0) ** (-wait)
    if scale is not None:  # each offtake at its buyer's renegotiated share (external buyers: 1)
        buyer = xp.take(book.payer, cols)
        by_buyer = xp.take(scale, xp.minimum(buyer, book.n_agents - 1), axis=1)
        pv = pv * xp.where((buyer < book.n_agents)[None, :], by_buyer, 1.0)
    agg = segment_sum(xp, xp.where(live, pv, 0.0), payee, book.n_agents + 1)
    value, _ = route(xp, agg, alive, book.n_agents)  # as to_payees routes it
    return value


def _offtakes(xp: ModuleType, book: Book) -> tuple[Any, Any]:
    """((offtakes,) int64 columns of the book's offtakes, (offtakes,) int64 their payees), derived
    once per book (one host read of ``kind``) and cached while its payee array lives."""
    def build() -> tuple[Any, Any]:
        cols = xp.asarray(np.nonzero(to_numpy(book.kind) == OFFTAKE)[0], dtype=xp.int64)
        return cols, xp.take(book.payee, cols)

    return derived_index(book.payee, ("offtakes", id(book.kind)), build)


def base(xp: ModuleType, p: ContractBaseParams, value: Any, eligible: Any) -> Any:
    """(paths, agents) USD bn of debt the contracts support: ``margin x value / coverage`` for the
    eligible agents (eligible: (agents,) bool), 0 elsewhere."""
    return xp.where(eligible[None, :], p.margin * value / p.coverage, 0.0)


def carve_out(xp: ModuleType, debt: Any, assets: Any, supported: Any) -> tuple[Any, Any]:
    """(debt, assets) (paths, agents) of the corporate leverage test with the contract-backed debt
    ``B = min(supported, debt)`` and the assets it financed left out: ``(D - B, A - min(B, A))``."""
    b = xp.clip(supported, 0.0, xp.maximum(debt, 0.0))
    return debt - b, assets - xp.minimum(b, xp.maximum(assets, 0.0))
