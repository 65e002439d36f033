"""Marking equity stakes to the investee's book equity, monthly.

A stake of share s in investee j is worth ``s x max(E_j, 0)``, with E_j the investee's equity
after this month's settlement and resolution. Circular holdings (Nvidia in CoreWeave, CoreWeave
paying Nvidia) are marked on each investee's equity including its own stakes at last month's
marks: a one-month lag that keeps the mark explicit instead of solving a fixed point. The
revaluation goes through the holder's equity (fair-value changes).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .accounting import to_payees
from .state import EQUITY, Book


def mark_stakes(xp: ModuleType, book: Book, alive: Any, c_alive: Any, outstanding: Any, equity: Any) -> tuple[Any, Any]:
    """Return (new outstanding (paths, contracts), revaluation per holder (paths, agents))."""
    stake = (book.kind == EQUITY)[None, :] & c_alive
    investee = xp.take(xp.maximum(equity, 0.0), xp.minimum(book.payer, book.n_agents - 1), axis=1)
    mark = xp.where(stake, book.share[None, :] * investee, outstanding)
    reval, _ = to_payees(xp, book, alive, xp.where(stake, mark - outstanding, 0.0))
    return mark, reval
