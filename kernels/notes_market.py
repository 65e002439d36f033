"""New notes: unsecured notes and convertibles sold to outside bondholders, as debt with coupons.

Without it a compute provider's outside capital is either a loan from a modelled lender (a capex
facility, subject to the refinancing test and the leverage headroom) or new equity; with
``channels.equity_pricing`` on the equity is priced and limited, and the high-yield notes and
convertibles through which neoclouds actually fund much of their capex have no market: CoreWeave
(debt / assets ~0.46 at the start, above its 0.4 borrowing test) cannot borrow at all, its
priced equity (~0.67B a month) covers less than half of its committed GPU deliveries (~1.7B a
month) and it runs out of cash within four months on every path. In 2025 CoreWeave sold 2.0B of
9.25% 2030 notes (May), 1.75B of 9.0% 2031 notes (Jul) and a 2.25B 1.75% convertible (Dec), and
Nebius 3.75B of convertibles (Jun, Sep), beside far smaller equity (CoreWeave's 1.5B IPO,
Nebius's 1B).

Each issuer (a compute provider with a market value from the calibration, ``market_cap > 0``)
has one notes contract with the external sector (bondholders): a loan, floating at the issuer's
spread like its capex facilities (``credit_pricing`` reprices it), unsecured, amortising
``out / term`` a month (``term`` = ``investment.notes_term``: a stream of 5-6 year notes retiring
evenly). In the investment phase, after spare cash, facility loans and new equity, the issuer
sells notes for what of its capex is still unfunded, at most

    cap_t = note_share_s / 3 x MV_t    while its equity window is open (drawdown of market value
                                       below ``equity_market.close_drawdown`` and no covenant
                                       breach in the last ``equity_market.breach_months``),
                                       and the scenario does not close the market to its sector,
            0                          otherwise,

USD bn a month, MV_t its market value (:mod:`aisim.kernels.equity_market`). High-yield and
convertible buyers price the same market value and distress as equity buyers (convertibles are
sized on market capitalisation, and the window for both shuts in distress: Baker and Wurgler
2000; Eckbo, Masulis and Norli 2007 on convertible issuance). The proceeds pay for GPUs at
once: the issuer's GPUs and its notes rise by the same amount, and bondholders (the external
sector) pay it, so assets = liabilities + equity and cash (with the external sector) hold.
In default the notes are unsecured claims of the external sector, as the calibrated notes are.

Refinancing: before settlement, an issuer whose bullet owed to bondholders matures this month and
will not be rolled (it fails its refinancing test, or the loan is not rolled at all) sells new
notes for it, at most a quarter's capacity ``note_share_s x MV_t`` (one deal, as Nebius's 1B and
2.75B converts were each ~5-15% of its value), on the same window; the cash raised pays the
bullet in settlement, so debt is unchanged and the maturity is pushed out (convertibles are
routinely refinanced by new convertibles). Cash: bondholders pay the issuer.

with ``note_share_s`` by the issuer's sector (``notes.note_share_neocloud``,
``notes.note_share_hyperscaler``): high-yield neoclouds sell notes worth a far larger share of
their value than investment-grade hyperscalers (2025: ~12-19% a year against ~1%).

Units: USD bn, (paths, agents); note_share_s a share of market value a quarter.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class NotesParams:
    """Capacity and term of new unsecured notes and convertibles sold to bondholders."""

    note_share_neocloud: float = param(0.04, ge=0.0, le=1.0, unit="share of market value a quarter",
                                       doc="new notes and convertibles bondholders take from a neocloud a quarter")
    note_share_hyperscaler: float = param(0.0025, ge=0.0, le=1.0, unit="share of market value a quarter",
                                          doc="new bonds bondholders take from a hyperscaler a quarter")
    leverage_margin: float = param(0.1, ge=0.0, le=1.0, unit="debt / assets",
                                   doc="notes are sold while debt / assets after them is at most max_leverage + this")


def capacity(xp: ModuleType, note_share: Any, market_value: Any, window_open: Any) -> Any:
    """(paths, agents) USD bn of new notes bondholders take this month: note_share / 3 x MV where
    the window is open (window_open (paths, agents) bool), else 0. note_share: a float or (agents,)."""
    return xp.where(window_open, xp.maximum(note_share / 3.0 * market_value, 0.0), 0.0)


def sector_shares(p: NotesParams, sectors: list[str]) -> list[float]:
    """Each agent's note share a quarter by its sector (0 outside hyperscalers and neoclouds)."""
    return [p.note_share_neocloud if s == "neocloud" else p.note_share_hyperscaler if s == "hyperscaler" else 0.0
            for s in sectors]


def leverage_room(xp: ModuleType, debt: Any, assets: Any, ceiling: Any) -> Any:
    """(paths, agents) USD bn of notes (spent on GPUs: debt and assets rise together) that keep
    debt / assets at most ``ceiling`` (agents,) or (paths, agents): max(0, (c A - D) / (1 - c)),
    unbounded where c >= 1."""
    c = ceiling + xp.zeros_like(debt)
    below = c < 1.0
    room = xp.maximum((c * assets - debt) / xp.where(below, 1.0 - c, 1.0), 0.0)
    return xp.where(below, room, xp.inf)


def issue(xp: ModuleType, alive: Any, plan: Any, funded: Any, room: Any, issuer: Any) -> Any:
    """(paths, agents) USD bn of notes sold: what of the capex ``plan`` the ``funded`` part
    (spare cash, loans, equity) leaves, within ``room``, for alive issuers (issuer (agents,) bool)
    with a plan."""
    want = xp.maximum(plan - funded, 0.0)
    ok = alive & (plan > 0) & issuer[None, :]
    return xp.where(ok, xp.minimum(want, xp.maximum(room, 0.0)), 0.0)


def post(xp: ModuleType, outstanding: Any, is_notes: Any, payer: Any, notes: Any) -> Any:
    """(paths, contracts) outstanding with each issuer's ``notes`` (paths, agents) added to its
    notes contract: is_notes (contracts,) bool marks the notes contracts, payer (contracts,) their
    issuers (any valid agent column elsewhere)."""
    return outstanding + xp.where(is_notes[None, :], xp.take(notes, payer, axis=1), 0.0)


def refinance(xp: ModuleType, alive: Any, owed: Any, room: Any, issuer: Any) -> Any:
    """(paths, agents) USD bn of new notes sold to pay maturing bullets owed to bondholders that
    will not roll (``owed``), within ``room``, for alive issuers."""
    return xp.where(alive & issuer[None, :], xp.minimum(xp.maximum(owed, 0.0), xp.maximum(room, 0.0)), 0.0)

