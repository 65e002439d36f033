"""Bank regulation: capital and leverage ratios, large-exposure and concentration limits,
and deleveraging when capital runs short.

* Capital ratio = equity / RWA, RWA = sum over exposures of risk weight x amount, with weights
  by exposure class from the regime (Basel III standardised approach, BCBS CRE20): loans to AI
  companies, to non-bank financials (private-credit funds), to SPVs; other assets; securities;
  equity stakes.
* Leverage ratio = equity / total assets (Basel LEV30 exposure measure, on balance sheet only).
* Requirement = capital requirement + countercyclical buffer (BCBS RBC30), the buffer released
  to zero in stress where the regime says so.
* Large exposures: a bank's exposure to one counterparty at most ``limit`` x Tier 1 (BCBS
  LEX20, 25%); an optional AI-sector concentration limit caps its AI exposure the same way.
* A bank below its capital or leverage requirement stops new lending and refinancing; a bank
  below its capital requirement also sheds assets: it sells ``speed`` of the gap between its RWA
  and what its equity supports, out of its other assets, at a haircut (Greenwood, Landier and
  Thesmar 2015's deleveraging rule, in spirit: banks target their ratio).
Non-banks get +inf ratios so no bank test binds on them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .accounting import to_payees
from .backend import segment_sum
from .state import LOAN, Book, State


def risk_weighted_assets(xp: ModuleType, book: Book, state: State, stakes: Any, weights: Any,
                         loan_weights: Any = None) -> Any:
    """(paths, agents) RWA, USD bn: loans held at their book risk weights (``book.risk_weight``,
    by the borrower's risk class; or ``loan_weights`` (paths, contracts) where given, e.g. by
    rating, :func:`rated_loan_weights`), other assets, securities and equity stakes (``stakes``,
    (paths, agents) marks) at ``weights.other_assets``, ``weights.securities`` and
    ``weights.equity_stakes`` (the regime's risk weights)."""
    loan = state.c_alive & (book.kind == LOAN)[None, :]
    w = book.risk_weight[None, :] if loan_weights is None else loan_weights
    weighted, _ = to_payees(xp, book, state.alive, xp.where(loan, state.outstanding * w, 0.0))
    return (weighted + weights.other_assets * state.other_assets + weights.securities * state.securities
            + weights.equity_stakes * stakes)


def capital_ratio(xp: ModuleType, is_bank: Any, alive: Any, equity: Any, rwa: Any) -> Any:
    """(paths, agents): banks' equity / RWA (+inf for zero RWA, 0 once defaulted); +inf otherwise."""
    safe = xp.where(rwa > 0, rwa, 1.0)
    ratio = xp.where(rwa > 0, equity / safe, xp.inf)
    ratio = xp.where(alive, ratio, 0.0)
    return xp.where(is_bank[None, :], ratio, xp.inf)


def leverage_ratio(xp: ModuleType, is_bank: Any, alive: Any, equity: Any, assets: Any) -> Any:
    """(paths, agents): banks' equity / total assets; +inf for non-banks."""
    safe = xp.where(assets > 0, assets, 1.0)
    ratio = xp.where(assets > 0, equity / safe, xp.inf)
    ratio = xp.where(alive, ratio, 0.0)
    return xp.where(is_bank[None, :], ratio, xp.inf)


def requirement(xp: ModuleType, base: float, ccyb: float, release: bool, stress: Any) -> Any:
    """(paths,) capital requirement: base + countercyclical buffer, released in stress."""
    buffer = xp.where(stress, 0.0, ccyb) if release else ccyb + xp.zeros_like(xp.astype(stress, xp.float64))
    return base + buffer


def deleveraging(
    xp: ModuleType, is_bank: Any, alive: Any, equity: Any, rwa: Any, other_assets: Any, req: Any,
    w_other: float, speed: float,
) -> Any:
    """(paths, agents) USD bn of other assets each bank below its requirement sells this month."""
    target = xp.maximum(equity, 0.0) / xp.maximum(req[:, None], 1e-12)
    gap = xp.maximum(rwa - target, 0.0)
    sell = xp.minimum(speed * gap / max(w_other, 1e-12), other_assets)
    return xp.where(alive & is_bank[None, :], sell, 0.0)


def exposure_room(
    xp: ModuleType, book: Book, c_alive: Any, outstanding: Any, pair: Any, n_pairs: int,
    lender: Any, equity: Any, limit: float,
) -> Any:
    """(paths, facilities) room under the large-exposure limit for each (borrower, lender) pair.

    pair: (contracts,) int64 facility index of each loan's (payer, payee) pair, ``n_pairs`` for
    loans outside any pair; lender: (facilities,) lender column. Room = limit x lender equity -
    current exposure to that borrower, floored at 0.
    """
    loan = c_alive & (book.kind == LOAN)[None, :]
    exposure = segment_sum(xp, xp.where(loan, outstanding, 0.0), pair, n_pairs + 1)[:, :n_pairs]
    cap = limit * xp.maximum(xp.take(equity, lender, axis=1), 0.0)
    return xp.maximum(cap - exposure, 0.0)


def concentration_room(
    xp: ModuleType, book: Book, is_ai: Any, alive: Any, c_alive: Any, outstanding: Any, equity: Any,
    limit: float,
) -> Any:
    """(paths, agents) USD bn more each lender may lend to AI companies under an AI-sector
    concentration limit: ``limit`` x its equity less the AI loans it holds, floored at 0.

    is_ai: (agents,) bool. Applies to banks only (the caller masks)."""
    ai = c_alive & ((book.kind == LOAN) & (book.payer < book.n_agents))[None, :]
    is_ai_payer = xp.take(xp.concat([is_ai, xp.zeros((1,), dtype=xp.bool)]), book.payer)
    held_ai, _ = to_payees(xp, book, alive, xp.where(ai & is_ai_payer[None, :], outstanding, 0.0))
    return xp.maximum(limit * xp.maximum(equity, 0.0) - held_ai, 0.0)


#: Basel standardised risk weights of corporate exposures by letter grade (BCBS CRE20.42: AAA to
#: AA- 20%, A+ to A- 50%, BBB+ to BBB- 75%, BB+ to BB- 100%, below BB- 150%), by grade index of
#: aisim.kernels.credit_pricing.GRADES (AAA, AA, A, BBB, BB, B, CCC), then defaulted (150%).
CRE20_WEIGHTS = (0.2, 0.2, 0.5, 0.75, 1.0, 1.5, 1.5, 1.5)


def rated_loan_weights(xp: ModuleType, book: Book, rated: Any, grade: Any) -> Any:
    """(paths, contracts) risk weights of loans when weights follow the borrower's rating: loans
    to rated borrowers (``rated`` (agents,) bool) at the CRE20 weight of the borrower's grade
    (``grade`` (paths, agents) int64), other contracts at their flat ``book.risk_weight``."""
    table = xp.asarray(CRE20_WEIGHTS, dtype=xp.float64)
    n = book.n_agents
    payer = xp.minimum(book.payer, n - 1)
    g = xp.take(grade, payer, axis=1)
    w = xp.take(table, xp.reshape(g, (-1,)))
    w = xp.reshape(w, g.shape)
    is_rated = (book.kind == LOAN) & (book.payer < n) & xp.take(rated, payer)
    return xp.where(is_rated[None, :], w, book.risk_weight[None, :])


def buffer_start(ccyb: float, build_months: float) -> float:
    """The countercyclical buffer in force at month 0: 0 when it builds over ``build_months`` > 0
    (a new buffer is announced, not in force), else the regime's level."""
    return 0.0 if build_months > 0 else ccyb


def buffer_step(xp: ModuleType, level: Any, ccyb: float, build_months: float, release: bool, stress: Any) -> Any:
    """(paths,) the countercyclical buffer in force next month.

    Released to 0 at once in stress where the regime releases it; otherwise it builds towards
    ``ccyb`` by ``ccyb / build_months`` a month (at once for ``build_months`` = 0):

        b_{t+1} = 0                                   if release and stress_t
        b_{t+1} = min(ccyb, b_t + ccyb / build_months) otherwise

    BCBS (2010), "Guidance for national authorities operating the countercyclical capital buffer",
    and Basel III RBC30.13-30.14: a decision to raise the buffer is pre-announced by up to 12 months;
    a release takes effect immediately. So a buffer is built in calm months and rebuilt after a
    release, not imposed at once.
    """
    step = ccyb / build_months if build_months > 0 else ccyb
    built = xp.minimum(level + step, ccyb)
    return xp.where(stress, 0.0, built) if release else built


def requirement_in_force(xp: ModuleType, base: float, level: Any, release: bool, stress: Any) -> Any:
    """(paths,) capital requirement: base + the buffer in force, 0 while released in stress."""
    return base + (xp.where(stress, 0.0, level) if release else level)
