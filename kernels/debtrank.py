"""Distress propagation by differential DebtRank.

Channel ``debtrank``. A node's distress ``h_i`` in ``[0, 1]`` is the fraction of its equity
lost (``h_i = 1``: default). A loss of equity at a debtor ``j`` devalues its creditors' claims on
it in proportion, so creditor ``i`` loses ``A_ij`` times ``j``'s new distress, and that loss, as
a fraction of ``i``'s own equity, is ``i``'s new distress. This is the linear DebtRank of

    Bardoscia, M., Battiston, S., Caccioli, F. and Caldarelli, G. (2015), "DebtRank: A
    microscopic foundation for shock propagation", PLoS ONE 10(6): e0130406,

in its differential form: every increment of distress is passed on, not only the first as in
the original DebtRank of Battiston, Puliga, Kaushik, Tasca and Caldarelli (2012), "DebtRank:
Too central to fail?", Scientific Reports 2: 541, whose "inactive" state underestimates losses
on networks with cycles.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .backend import namespace_of

# Distress is a fraction of equity in [0, 1], so an absolute tolerance on its increments is a
# tolerance relative to equity: 1e-15 is a few ulps of a node at full distress.
DEFAULT_TOL = 1e-15


def default_max_iter(n: int) -> int:
    """Round limit for ``n`` nodes: ``1000 + 50 n``.

    Each round either caps a node at 1 (at most ``n`` times) or, between caps, shrinks the
    increments by the spectral radius ``rho`` of the leverage matrix among uncapped nodes, so
    reaching 1e-15 from 1 takes about ``35 / -ln(rho)`` rounds: 1000 covers ``rho`` up to 0.965.
    Closer to criticality the result is still a lower bound, short by at most the last
    increment times ``rho / (1 - rho)``; pass a larger ``max_iter`` there.
    """
    return 1000 + 50 * n


def _float_dtype(xp: ModuleType, *arrays: Any) -> Any:
    if all(xp.isdtype(a.dtype, "real floating") for a in arrays):
        return xp.result_type(*arrays)
    return xp.float64


def _leverage(xp: ModuleType, exposures: Any, equity: Any) -> tuple[Any, Any]:
    """Leverage matrix ``Lambda_ij = A_ij / E_i`` and the mask of nodes with ``E_i <= 0``."""
    dtype = exposures.dtype
    n = equity.shape[-1]
    zero = xp.zeros((), dtype=dtype)
    one = xp.ones((), dtype=dtype)
    exposures = xp.where(xp.eye(n, dtype=dtype) > 0, zero, exposures)
    broke = equity <= zero
    # A node with no equity is held at full distress, so its row never matters; dividing it by
    # one only avoids inf and nan.
    lev = exposures / xp.where(broke, one, equity)[..., None]
    return lev, broke


def _propagate(xp: ModuleType, lev: Any, broke: Any, h0: Any, tol: float, max_iter: int) -> Any:
    """Run differential DebtRank for ``m`` shock scenarios sharing each path's network.

    lev: ``(paths, n, n)``; broke: ``(paths, n)`` bool; h0: ``(paths, m, n)`` in [0, 1].
    Returns final distress ``(paths, m, n)``.
    """
    dtype = lev.dtype
    zero = xp.zeros((), dtype=dtype)
    one = xp.ones((), dtype=dtype)
    broke = broke[..., None, :]
    h = xp.where(broke, one, xp.clip(h0, zero, one))
    # h(-1) = 0 makes the shock itself the first increment passed on. A node that starts out
    # broke has h(-1) = 1: its failure predates the shock, so it is state, not news.
    h_prev = xp.where(broke, one, zero)
    lev_t = xp.matrix_transpose(lev)
    for _ in range(max_iter):
        delta = h - h_prev
        # Per scenario, so that a path's result does not depend on its batch neighbours.
        active = xp.max(delta, axis=-1) > tol
        if not bool(xp.any(active)):
            break
        # (delta @ Lambda^T)[s, i] = sum_j Lambda_ij delta_j; the min keeps a capped node at 1,
        # so it passes on only the part of its increment that it really absorbed.
        h_next = xp.minimum(one, h + delta @ lev_t)
        h_prev = xp.where(active[..., None], h, h_prev)
        h = xp.where(active[..., None], h_next, h)
    return h


def _prepare(xp: ModuleType, exposures: Any, equity: Any, *others: Any) -> tuple:
    """Cast to a common float dtype and broadcast to a leading paths axis."""
    arrays = [xp.asarray(a) for a in (exposures, equity, *others)]
    exp_, eq = arrays[0], arrays[1]
    if exp_.ndim not in (2, 3) or eq.ndim not in (1, 2):
        raise ValueError(
            f"exposures must be (paths, n, n) or (n, n) and equity (paths, n) or (n,),"
            f" got {tuple(exp_.shape)} and {tuple(eq.shape)}"
        )
    n = eq.shape[-1]
    if exp_.shape[-2:] != (n, n):
        raise ValueError(f"exposures {tuple(exp_.shape)} do not match equity {tuple(eq.shape)}")
    dtype = _float_dtype(xp, *arrays)
    arrays = [xp.astype(a, dtype) for a in arrays]
    batched = any(a.ndim == (3 if i == 0 else 2) for i, a in enumerate(arrays))
    paths = 1
    for i, a in enumerate(arrays):
        if a.ndim == (3 if i == 0 else 2):
            paths = a.shape[0]
    out = [xp.broadcast_to(arrays[0], (paths, n, n))]
    out += [xp.broadcast_to(a, (paths, n)) for a in arrays[1:]]
    return batched, n, out


def debtrank(
    exposures: Any,
    equity: Any,
    initial_distress: Any,
    xp: ModuleType | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int | None = None,
) -> Any:
    """Final distress after a shock propagates by differential DebtRank, all paths at once.

    Args:
        exposures: ``(paths, n, n)`` USD bn, ``A_ij`` = what node ``i`` stands to lose if node
            ``j`` fails (its claims on ``j`` net of recovery); non-negative, diagonal ignored.
        equity: ``(paths, n)`` USD bn, ``E_i`` before the shock. A node with ``E_i <= 0`` is
            already in default: held at distress 1 throughout and, as its failure predates the
            shock, not propagated again.
        initial_distress: ``(paths, n)``, ``h_i(0)`` in ``[0, 1]`` (clipped): the shock, as the
            fraction of each node's equity it destroys directly.
        xp: array namespace; ``None`` takes the namespace of ``exposures``.
        tol: stop a path once no node's distress rises by more than this in a round.
        max_iter: round limit; ``None`` is :func:`default_max_iter`.

    Unbatched ``(n, n)``, ``(n,)``, ``(n,)`` inputs give an ``(n,)`` result; an unbatched
    network with batched equity or shocks is broadcast over paths.

    Returns:
        ``(paths, n)`` final distress ``h_i(T)`` in ``[0, 1]``.

    With Bardoscia et al.'s interbank leverage matrix ``Lambda_ij = A_ij / E_i`` and
    ``h(-1) = 0``,

        h_i(t+1) = min(1, h_i(t) + sum_j Lambda_ij (h_j(t) - h_j(t-1)))

    until every increment is at most ``tol``. By telescoping, the rounds equal the iteration
    ``h <- min(1, h(0) + Lambda h)`` from ``h(0)``, so the result is (to ``tol``) the least
    fixed point of that map: exactly ``h(0) + (I - Lambda)^-1 Lambda h(0)`` when no node caps
    and the spectral radius of ``Lambda`` is below 1 (the paper's stable case), otherwise some
    nodes reach 1 (default).
    """
    if xp is None:
        xp = namespace_of(exposures)
    batched, n, (exp_, eq, h0) = _prepare(xp, exposures, equity, initial_distress)
    lev, broke = _leverage(xp, exp_, eq)
    iters = default_max_iter(n) if max_iter is None else max_iter
    h = _propagate(xp, lev, broke, h0[..., None, :], tol, iters)[..., 0, :]
    return h if batched else h[0, ...]


def systemic_importance(
    exposures: Any,
    equity: Any,
    weights: Any = None,
    xp: ModuleType | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int | None = None,
) -> Any:
    """DebtRank of each node: the loss its own default alone inflicts on the others.

    Args:
        exposures: ``(paths, n, n)`` USD bn, as in :func:`debtrank`.
        equity: ``(paths, n)`` USD bn, as in :func:`debtrank`.
        weights: ``(paths, n)`` or ``(n,)``, ``w_i``, each node's relative economic value.
            ``None`` uses the equity share ``max(E_i, 0) / sum_j max(E_j, 0)``, which makes the
            result the fraction of the system's initial equity lost (``H`` in Bardoscia et al.
            2015); Battiston et al. (2012) weight by a relative economic value, pass it here.
        xp: array namespace; ``None`` takes the namespace of ``exposures``.
        tol, max_iter: as in :func:`debtrank`.

    Returns:
        ``(paths, n)`` (``(n,)`` unbatched): ``R_k = sum_i w_i (h_i(T) - h_i(0))`` for the shock
        ``h(0) = 1`` at ``k`` and 0 elsewhere, which excludes ``k``'s own loss as in Battiston
        et al. (2012). A node already in default (``E_k <= 0``) scores 0.

    The ``n`` shocks run as a second batch axis over the same ``(paths, n, n)`` network, so
    memory is ``O(paths n^2)``, not ``O(paths n^3)``.
    """
    if xp is None:
        xp = namespace_of(exposures)
    others = () if weights is None else (weights,)
    batched, n, arrays = _prepare(xp, exposures, equity, *others)
    exp_, eq = arrays[0], arrays[1]
    dtype = eq.dtype
    zero = xp.zeros((), dtype=dtype)
    one = xp.ones((), dtype=dtype)
    if weights is None:
        pos = xp.maximum(eq, zero)
        total = xp.sum(pos, axis=-1, keepdims=True)
        w = pos / xp.where(total > zero, total, one)
    else:
        w = arrays[2]
    lev, broke = _leverage(xp, exp_, eq)
    paths = eq.shape[0]
    # Scenario k shocks node k fully: row k of the identity.
    h0 = xp.broadcast_to(xp.eye(n, dtype=dtype), (paths, n, n))
    iters = default_max_iter(n) if max_iter is None else max_iter
    h = _propagate(xp, lev, broke, h0, tol, iters)
    start = xp.where(broke[..., None, :], one, h0)
    rank = xp.sum(w[..., None, :] * (h - start), axis=-1)
    return rank if batched else rank[0, ...]
