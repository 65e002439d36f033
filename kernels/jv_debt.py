"""JV/SPV debt: the data-centre joint ventures' debt is private credit lent to the sponsor's
project, not outside equity.

A hyperscaler that wants more capex than its spare cash and its capex facilities give raises
outside capital, up to ``equity_raise x sentiment`` a month (:mod:`aisim.kernels.funding`). Most
of that money is, in the market, the debt of off-balance-sheet joint ventures and SPVs that own
the data centres and lease them to the sponsor: Meta's Hyperion vehicle (Beignet Investor LLC,
Oct 2025) is 27.3B of A+ notes at ~6.58% due 2049 (Pimco ~18B) and 2.5B of equity (Blue Owl
80%, Meta 20%), off Meta's balance sheet, serviced by Meta's lease and backed by its
residual-value guarantee; Morgan Stanley's 1.5T financing gap 2025-28 is private credit 0.8T
and PE/sovereign equity 0.35T beside corporate bonds 0.2T and ABS 0.15T (Jul 2025). The model
cannot create a new SPV agent each month, so the JV's debt is booked as a loan from the
private-credit funds to the sponsor, flagged off balance sheet.

Each month, in the investment phase, after spare cash and the capex facilities, for each
sponsor ``h`` (a hyperscaler with a JV contract) and private-credit fund ``f`` (all USD bn):

* outside capital wanted: ``O_h`` = what it would raise for capex from ``room_h = equity_raise_h
  x sentiment`` (zero while the scenario closes the market), liquidity first
  (:func:`aisim.kernels.funding.capex_equity`: deliveries due, then the cash buffer, then
  discretionary capex, ``plan_h - internal_h - facility loans_h``);
* the JV debt wanted ``J*_h = delta x O_h`` (``delta`` = ``jv.debt_share``);
* each fund's remaining supply ``S_f = max(offer_f - lent_f, 0)``: its offer this month
  (``lend_rate x cash above its buffer``, the same offer the capex facilities draw on) less what it
  lent on them;
* pro-rata allocation over the (sponsor, fund) JV contracts as the capex facilities are
  (:func:`aisim.kernels.investment.allocate_loans`): ``J_hf = J*_h S_f / max(sum J*, sum S)``;
* the equity part (PE/sovereign) ``E_h``: the same liquidity-first rule on the need left,
  ``plan_h - internal_h - loans_h - J_h``, within ``(1 - delta) room_h``: equity investors take
  at most their share of the room, so a JV
  debt the funds cannot lend is not replaced by equity beyond it; what room is left for the
  financing phase's buffer raises is ``(1 - delta) room_h - E_h``.

The JV loan (sponsor h <- fund f) is a long-dated bullet (``jv.term_months``, Hyperion's notes
run 24 years), floating at base + the sponsor's spread + ``jv.premium`` (the Hyperion notes paid
about one percentage point over Meta's own bonds: 6.58%, ~225bp over Treasuries; floating,
as most private-credit loans are, where Hyperion's notes are fixed: with
``channels.credit_pricing`` the margin over the sponsor's month-0 spread is kept and the
sponsor's spread moves it, like any calibrated floating loan); interest is paid by the sponsor in settlement (its lease
payments to the JV stand for the JV's debt service) and in default the fund is an unsecured
creditor of the sponsor (the lease claim and the residual-value guarantee are on the sponsor).

Off balance sheet: the sponsor's leverage tests (the refinancing/borrowing test and the capex
headroom) see neither the JV's debt nor the assets it financed (book value taken as equal to
the debt outstanding): ``D' = D - J``, ``A' = A - min(J, A)`` with ``J`` the live JV debt of the
sponsor. Under ``regime.spv_consolidation`` the JV debt is consolidated, as the Hyperion SPV's
debt is: the tests see ``D`` and ``A``. The sponsor's solvency and its credit spread (distance to
default) always count the debt: rating agencies and lenders price the lease obligation.

Units: USD bn; (paths, agents) unless stated.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .backend import segment_sum
from .params import param


@dataclass(frozen=True)
class JvParams:
    """The split and terms of the hyperscalers' JV/SPV data-centre debt."""

    debt_share: float = param(0.7, ge=0.0, le=1.0, unit="share of outside capital",
                              doc="share of a hyperscaler's outside capital that is JV/SPV debt lent by private "
                                  "credit (the rest is PE/sovereign equity)")
    premium: float = param(0.01, ge=0.0, le=0.1, unit="annual rate",
                           doc="JV debt's spread over the sponsor's own spread")
    term_months: int = param(288, ge=1, unit="months", doc="maturity of a JV loan (a long-dated bullet)")


def split(xp: ModuleType, sponsor: Any, outside: Any, debt_share: float) -> Any:
    """(paths, agents) USD bn of JV debt wanted: ``debt_share x outside`` for sponsors
    (sponsor (agents,) bool), zero elsewhere."""
    return xp.where(sponsor[None, :], debt_share * xp.maximum(outside, 0.0), 0.0)


def remaining_supply(xp: ModuleType, is_fund: Any, offer: Any, lent: Any) -> Any:
    """(paths, agents) USD bn funds (is_fund (agents,) bool) still offer after the month's capex
    facilities: ``max(offer - lent, 0)``, zero for other agents."""
    return xp.where(is_fund[None, :], xp.maximum(offer - lent, 0.0), 0.0)


def equity_room(xp: ModuleType, sponsor: Any, room: Any, debt_share: float) -> Any:
    """(paths, agents) USD bn of outside equity: ``(1 - debt_share) x room`` for sponsors, ``room``
    elsewhere."""
    return xp.where(sponsor[None, :], (1.0 - debt_share) * room, room)


def post(xp: ModuleType, outstanding: Any, contract: Any, amount: Any) -> Any:
    """(paths, contracts) outstanding with ``amount`` (paths, jv contracts) added at the JV
    contracts' columns ``contract`` (jv contracts,) int64."""
    n_c = outstanding.shape[1]
    return outstanding + segment_sum(xp, amount, contract, n_c)


def off_balance(xp: ModuleType, debt: Any, assets: Any, jv: Any) -> tuple[Any, Any]:
    """(debt, assets) (paths, agents) without the JV debt ``jv`` (paths, agents) and the assets it
    financed: ``(D - J, A - min(J, A))``."""
    return debt - jv, assets - xp.minimum(jv, xp.maximum(assets, 0.0))
