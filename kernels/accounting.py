"""Balance sheets from the state, and the accounting identities the model must keep.

Assets of agent i: cash + securities + gpu + other_assets + loans it holds + marks of its equity
stakes. Liabilities: other_liab + loans it owes. Equity is tracked separately through the income
statement, so ``assets - liabilities - equity`` is a genuine check, not a definition.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .backend import segment_sum
from .state import EQUITY, LOAN, Book, State


def with_external(xp: ModuleType, agent_values: Any, external: Any) -> Any:
    """Append the external sector as the last column: (paths, agents) -> (paths, agents + 1)."""
    return xp.concat([agent_values, external[:, None]], axis=1)


def party_alive(xp: ModuleType, alive: Any) -> Any:
    """(paths, agents + 1) alive mask where the external sector is always alive."""
    ones = xp.ones((alive.shape[0],), dtype=xp.bool)
    return with_external(xp, alive, ones)


def receiving(xp: ModuleType, book: Book, alive: Any) -> Any:
    """(paths, contracts) bool: the payee is an alive agent (flows to the dead go external)."""
    return xp.take(party_alive(xp, alive), book.payee, axis=1) & (book.payee < book.n_agents)


def route(xp: ModuleType, agg: Any, alive: Any, n: int) -> tuple[Any, Any]:
    """Split a (paths, agents + 1) aggregate into alive agents' part and the external sector's,
    which also takes what fell to defaulted agents."""
    agents = agg[:, :n]
    routed = xp.where(alive, agents, 0.0)
    return routed, agg[:, n] + xp.sum(agents - routed, axis=1)


def to_payees(xp: ModuleType, book: Book, alive: Any, values: Any) -> tuple[Any, Any]:
    """Route per-contract amounts to payees: returns (to agents (paths, agents), to external (paths,)).

    A contract whose payee has defaulted pays the external sector, which bought the estate's
    claims at resolution.
    """
    agg = segment_sum(xp, values, book.payee, book.n_agents + 1)
    return route(xp, agg, alive, book.n_agents)


def from_payers(xp: ModuleType, book: Book, values: Any, alive: Any = None) -> tuple[Any, Any]:
    """Aggregate per-contract amounts by payer: (paths, agents) and the external's (paths,).

    With ``alive`` given, amounts whose payer has defaulted are the external sector's: it took
    over those contracts (only when contract contagion is switched off do any stay live).
    """
    agg = segment_sum(xp, values, book.payer, book.n_agents + 1)
    if alive is not None:
        return route(xp, agg, alive, book.n_agents)
    return agg[:, : book.n_agents], agg[:, book.n_agents]


def contract_positions(xp: ModuleType, book: Book, state: State) -> tuple[Any, Any, Any]:
    """(loans held, loans owed, equity-stake marks) per agent, each (paths, agents) USD bn."""
    loan = (book.kind == LOAN)[None, :] & state.c_alive
    stake = (book.kind == EQUITY)[None, :] & state.c_alive
    zero = xp.zeros_like(state.outstanding)
    held, _ = to_payees(xp, book, state.alive, xp.where(loan, state.outstanding, zero))
    owed, _ = from_payers(xp, book, xp.where(loan, state.outstanding, zero))
    marks, _ = to_payees(xp, book, state.alive, xp.where(stake, state.outstanding, zero))
    return held, owed, marks


def balance_sheet(xp: ModuleType, book: Book, state: State, positions: tuple[Any, Any, Any] | None = None,
                  ) -> dict[str, Any]:
    """Assets, liabilities, equity and their parts per agent, each (paths, agents) USD bn.

    positions: :func:`contract_positions` of ``state`` when the caller already has them (they
    depend on its ``outstanding``, ``c_alive`` and ``alive`` only); computed when None."""
    held, owed, marks = contract_positions(xp, book, state) if positions is None else positions
    assets = state.cash + state.securities + state.gpu + state.other_assets + held + marks
    if state.fv_mark is not None:  # fund_runs: fair value less book of funds' loans (alive funds only)
        assets = assets + xp.where(state.alive, state.fv_mark, 0.0)
    liabilities = state.other_liab + owed
    return {
        "assets": assets,
        "liabilities": liabilities,
        "equity": state.equity,
        "loans_held": held,
        "debt": owed,
        "stakes": marks,
    }


def identity_residual(xp: ModuleType, book: Book, state: State, total_cash0: Any) -> tuple[Any, Any]:
    """Largest relative violations, per path: (balance sheet, cash conservation).

    Each violation is scaled by the size of the books it measures, so that it reads the same on
    a boom path, where balances grow by orders of magnitude, as on a calm one (rounding in
    float64 grows with the magnitudes added, not with the starting cash):

    * balance sheet: max over agents of |A - L - E| / max(1, |A| + |L| + |E|), A the sum of the
      asset items, L of the liability items, E the equity tracked through the income statement;
    * cash conservation: |sum of all agents' cash + the external sector's net cash - the
      starting total| / max(1, sum of |cash| + |external net cash| + |starting total|); the
      external sector's cash starts at zero and moves with every flow to or from it.

    NaN-aware: a NaN or infinite value in the books makes that path's residual NaN (never 0), so
    a broken path cannot pass for a balanced one. total_cash0: (paths,) USD bn. Returns two
    (paths,) float64 arrays.
    """
    bs = balance_sheet(xp, book, state)
    a, liab, e = bs["assets"], bs["liabilities"], bs["equity"]
    scale = xp.maximum(xp.abs(a) + xp.abs(liab) + xp.abs(e), 1.0)
    bs_res = _nan_aware(xp, xp.abs(a - liab - e) / scale)
    total = xp.sum(state.cash, axis=1) + state.ext_cash
    size = xp.sum(xp.abs(state.cash), axis=1) + xp.abs(state.ext_cash) + xp.abs(total_cash0)
    cash_res = _nan_aware(xp, (xp.abs(total - total_cash0) / xp.maximum(size, 1.0))[:, None])
    return bs_res, cash_res


def _nan_aware(xp: ModuleType, r: Any) -> Any:
    """Max over axis 1 of (paths, k) residuals, NaN where any entry is NaN or infinite."""
    bad = xp.any(~xp.isfinite(r), axis=1)
    return xp.where(bad, xp.nan, xp.max(xp.where(bad[:, None], 0.0, r), axis=1))
