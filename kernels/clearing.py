"""Interbank clearing: the greatest clearing payment vector, with or without default costs.

Channel ``clearing``. Given who owes whom and what each node holds outside the network, find
what each node actually pays when some of them cannot pay in full. Two models, one algorithm:

* Eisenberg, L. and Noe, T. H. (2001), "Systemic risk in financial systems", Management
  Science 47(2), 236-249 (``alpha = beta = 1``): a defaulting node pays out everything it has,
  ``p = min(p_bar, e + Pi^T p)``.
* Rogers, L. C. G. and Veraart, L. A. M. (2013), "Failure and rescue in an interbank network",
  Management Science 59(4), 882-898: a defaulting node realises only a fraction ``alpha`` of its
  external assets and ``beta`` of what it is owed, so default itself destroys value and can
  topple nodes that would survive under Eisenberg-Noe.

Both are solved exactly, in at most ``n`` linear solves, by Rogers and Veraart's Greatest
Clearing Vector Algorithm (their Definition 3.6, with the theorem that follows it), which for
``alpha = beta = 1`` is Eisenberg and Noe's fictitious default algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .backend import derived_index, namespace_of, segment_sum, to_numpy
from .params import param


@dataclass(frozen=True)
class ClearingParams:
    """Rogers-Veraart default costs (``alpha = beta = 1``: Eisenberg-Noe).

    The defaults, 0.97, charge the direct costs of bankruptcy (professional fees, court and
    trustee costs) on what a payer holds and receives in the month it defaults: 3.1% of the book
    value of debt plus the market value of equity for large listed firms (Weiss 1990, JFE 27),
    6.1% of total assets in small Chapter 7 cases (Lawless and Ferris 1997, Washington University
    Law Quarterly 75). Resolution's haircuts (the fire-sale GPU price, ``recovery_other``) carry
    the loss of value on the rest of the estate; its cash and securities are at par there.
    """

    alpha: float = param(0.97, ge=0.0, le=1.0, unit="share",
                         doc="share of outside assets a defaulting payer realises (Rogers-Veraart alpha; "
                         "1 - alpha: direct costs of bankruptcy, Weiss 1990)")
    beta: float = param(0.97, ge=0.0, le=1.0, unit="share",
                        doc="share of incoming payments a defaulting payer passes on (Rogers-Veraart beta)")

# A node defaults when its shortfall exceeds this many ulps of its liabilities. Without it,
# rounding in Pi^T p can flag a node that exactly breaks even (a closed cycle of debts with no
# outside money, say); the system for such a default set is singular. A node treated as solvent
# for a shortfall this small misstates payments by at most that relative amount.
_SHORTFALL_ULPS = 1024.0


def _float_dtype(xp: ModuleType, *arrays: Any) -> Any:
    """The common real floating dtype of ``arrays``; float64 when any of them is not floating."""
    if all(xp.isdtype(a.dtype, "real floating") for a in arrays):
        return xp.result_type(*arrays)
    return xp.float64


def _solve_dominant(xp: ModuleType, a: Any, b: Any) -> Any:
    """Solve ``a x = b`` for a batch ``(paths, k, k)`` of column diagonally dominant matrices by
    Gaussian elimination without pivoting, in index order, one vectorised step per column.

    ``I - beta Pi_DD^T`` is column diagonally dominant (a column of ``Pi^T`` is a row of ``Pi``,
    summing to at most 1, with a zero diagonal), so elimination without pivoting is stable and
    keeps it so (Wilkinson 1961; Higham 2002, section 9.5). Why not ``xp.linalg.solve``: a row
    and column of a node that is not in default are those of the identity, and here every update
    they enter is an exact no-op (``x - 0 * y``), so a path's solution is bit for bit the same
    whichever of them the batch includes -- LAPACK's blocked LU, whose blocking depends on ``k``,
    gives no such promise, and a path's result must not depend on its chunk.
    """
    k = a.shape[-1]
    a = xp.asarray(a, copy=True)
    b = xp.asarray(b, copy=True)
    for c in range(k):
        f = a[..., c + 1:, c] / a[..., c, c][..., None]
        # columns <= c of the rows below are never read again: update only the trailing block
        a[..., c + 1:, c + 1:] = a[..., c + 1:, c + 1:] - f[..., :, None] * a[..., c, None, c + 1:]
        b[..., c + 1:] = b[..., c + 1:] - f * b[..., c, None]
    x = xp.zeros_like(b)
    for c in range(k - 1, -1, -1):
        x[..., c] = b[..., c] / a[..., c, c]
        b[..., :c] = b[..., :c] - a[..., :c, c] * x[..., c, None]
    return x


def _solve_block(xp: ModuleType, share: Any, cols: Any, cell: Any, k: int, d: Any, u: Any, beta: float,
                 rhs: Any) -> Any:
    """Solve the defaulters' system over the ``k`` nodes ``u``: ``(I - beta D Pi_uu^T D) p_u =
    rhs_u``, with ``Pi_uu^T`` built from the obligations ``cols`` (all where None) among them,
    ``cell`` each one's flat (payee, payer) position. Returns (paths, k)."""
    inside = share if cols is None else xp.take(share, xp.asarray(cols, dtype=xp.int64), axis=1)
    # block[b, i, j] = Pi_ji among the nodes u: the share of j's payments owed to i
    block = xp.reshape(segment_sum(xp, inside, cell, k * k), (share.shape[0], k, k))
    d_u = xp.take(d, u, axis=-1)
    system = xp.eye(k, dtype=share.dtype) - beta * (d_u[..., :, None] * block * d_u[..., None, :])
    return _solve_dominant(xp, system, xp.take(rhs, u, axis=-1))


def _scatter(xp: ModuleType, base: Any, cols: Any, values: Any) -> Any:
    """``base`` (paths, n) with its columns ``cols`` replaced by ``values`` (paths, len(cols)):
    through a one-hot product, each entry a sum of one value and zeros, so exact."""
    n = base.shape[-1]
    onehot = xp.astype(cols[:, None] == xp.arange(n, dtype=cols.dtype)[None, :], base.dtype)
    spread = values @ onehot
    return xp.where(xp.sum(onehot, axis=0) > 0, spread, base)


def clearing_vector(
    liabilities: Any,
    external_assets: Any,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    xp: ModuleType | None = None,
    shortcuts: bool = True,
    threshold: float | None = None,
) -> Any:
    """Greatest clearing payment vector of an interbank network given as a dense matrix.

    Args:
        liabilities: ``(paths, n, n)`` USD bn, ``[b, i, j]`` = what node ``i`` owes node ``j``
            on path ``b``; non-negative. The diagonal is ignored. Outside creditors are a node
            that owes nothing.
        external_assets: ``(paths, n)`` USD bn, ``e_i``: what node ``i`` holds outside the
            network (cash, operating income, realisable assets); non-negative.
        alpha, beta, xp, shortcuts, threshold: as :func:`clearing_payments`.

    Unbatched ``(n, n)`` and ``(n,)`` inputs give an ``(n,)`` result. A shared ``(n, n)``
    network with ``(paths, n)`` assets, or the reverse, is broadcast over paths.

    Returns ``(paths, n)`` USD bn: ``p_i``, what node ``i`` pays in total (see
    :func:`clearing_payments`; each cell of the matrix is one of its obligations).
    """
    if xp is None:
        xp = namespace_of(liabilities)
    liab = xp.asarray(liabilities)
    ext = xp.asarray(external_assets)
    if liab.ndim not in (2, 3) or ext.ndim not in (1, 2):
        raise ValueError(
            f"liabilities must be (paths, n, n) or (n, n) and external_assets (paths, n) or (n,),"
            f" got {tuple(liab.shape)} and {tuple(ext.shape)}"
        )
    n = ext.shape[-1]
    if liab.shape[-2:] != (n, n):
        raise ValueError(
            f"liabilities {tuple(liab.shape)} do not match external_assets {tuple(ext.shape)}"
        )
    batched = liab.ndim == 3 or ext.ndim == 2
    dtype = _float_dtype(xp, liab, ext)
    paths = liab.shape[0] if liab.ndim == 3 else (ext.shape[0] if ext.ndim == 2 else 1)
    liab = xp.broadcast_to(xp.astype(liab, dtype), (paths, n, n))
    ext = xp.broadcast_to(xp.astype(ext, dtype), (paths, n))
    cells = xp.arange(n * n, dtype=xp.int64)
    payer, payee = cells // n, cells % n  # row-major: cell (i, j) is i's obligation to j
    pay, _ = clearing_payments(payer, payee, xp.reshape(liab, (paths, n * n)), ext, alpha=alpha, beta=beta,
                               xp=xp, shortcuts=shortcuts, threshold=threshold)
    return pay if batched else pay[0, ...]


def clearing_payments(
    payer: Any,
    payee: Any,
    amounts: Any,
    external_assets: Any,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    xp: ModuleType | None = None,
    shortcuts: bool = True,
    threshold: float | None = None,
) -> tuple[Any, Any]:
    """Greatest clearing payment vector of a network given as a list of obligations, all paths at once.

    Args:
        payer, payee: ``(m,)`` int64 node indices in ``[0, n)`` of each obligation; fixed over
            paths. An obligation of a node to itself is ignored.
        amounts: ``(paths, m)`` USD bn owed under each obligation this period; non-negative.
        external_assets: ``(paths, n)`` USD bn, ``e_i``: what node ``i`` holds outside the
            network (cash, operating income, realisable assets); non-negative.
        alpha: fraction of external assets a defaulting node realises, in ``[0, 1]``.
        beta: fraction of interbank claims a defaulting node realises, in ``[0, 1]``.
        xp: array namespace; ``None`` takes the namespace of ``amounts``.
        shortcuts: stop as soon as no path's default set changes, and solve only over the nodes
            in default on some path (host reads); without, run all ``n + 1`` rounds over all
            ``n`` nodes: a round that changes nothing is an exact no-op.
        threshold: a node defaults when its shortfall exceeds ``threshold x max(p_bar_i, 1)``
            (the model's settlement passes its own solvency tolerance, so that a node it settles
            in full is never put in default here, where with ``alpha < 1`` that would cost it
            ``1 - alpha`` of what it holds); ``None``: 1024 ulps of ``p_bar_i``.

    Returns:
        ``(paths, n)`` USD bn each: ``p_i``, what node ``i`` pays in total, shared among its
        creditors in proportion to what it owes them, and ``p_bar_i``, what it owes. Node ``i``
        is in default exactly where ``p_i < p_bar_i``.

    With total liabilities ``p_bar_i = sum_{k: payer_k = i} L_k``, each obligation's share of
    its payer's liabilities ``pi_k = L_k / p_bar_i`` (0 where ``p_bar_i = 0``) and value
    ``v_i(p) = e_i + sum_{k: payee_k = i} pi_k p_{payer_k}`` (``e + Pi^T p`` for the matrix
    ``Pi``), a clearing vector satisfies

        p_i = p_bar_i                                  if p_bar_i <= v_i(p)   (solvent)
        p_i = alpha e_i + beta sum_j Pi_ji p_j         otherwise              (default)

    which for ``alpha = beta = 1`` is Eisenberg-Noe's ``p = min(p_bar, e + Pi^T p)``. Several
    clearing vectors can exist; this returns the greatest, the one reached by letting nodes fail
    in succession from "everyone pays in full" (Rogers-Veraart, Definition 3.6):

    1. start with ``p = p_bar`` and no defaulters, ``D = {}``;
    2. ``D' = D | {i : p_bar_i > v_i(p)}``; stop if ``D' = D``;
    3. solve exactly the linear system where nodes outside ``D'`` pay ``p_bar`` and nodes in
       ``D'`` pay ``alpha e + beta Pi^T p`` (:func:`_solve_dominant`; with ``shortcuts`` over
       the nodes that default on some path only, its matrix built from the obligations among
       them, so a round costs O(paths (m + |D|^3)), not O(paths n^3)); go to 2.

    Payments only fall and ``D`` only grows, so it stops after at most ``n`` solves. All paths
    advance together; a path whose default set has stopped changing keeps its payments, so a
    path's result does not depend on the other paths in the batch. Nothing is ever
    ``(paths, n, n)`` unless ``shortcuts`` is off.
    """
    if xp is None:
        xp = namespace_of(amounts)
    if not (0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0):
        raise ValueError(f"alpha and beta must lie in [0, 1], got alpha={alpha}, beta={beta}")
    ext = xp.asarray(external_assets)
    dtype = _float_dtype(xp, amounts, ext)
    ext = xp.astype(ext, dtype)
    paths, n = ext.shape
    zero = xp.zeros((), dtype=dtype)
    one = xp.ones((), dtype=dtype)
    owed = xp.where((payer != payee)[None, :], xp.astype(xp.asarray(amounts), dtype), zero)
    p_bar = segment_sum(xp, owed, payer, n)
    share = owed / xp.take(xp.where(p_bar > 0, p_bar, one), payer, axis=1)

    def received(p: Any) -> Any:
        return segment_sum(xp, share * xp.take(p, payer, axis=1), payee, n)

    if threshold is None:
        tol = _SHORTFALL_ULPS * xp.finfo(dtype).eps * p_bar
    else:
        tol = threshold * xp.maximum(p_bar, one)
    host_payer = host_payee = None

    pay = p_bar
    default = xp.zeros((paths, n), dtype=xp.bool)
    # Each round that changes anything adds at least one defaulter, so n + 1 checks suffice.
    for _ in range(n + 1):
        shortfall = p_bar - (ext + received(pay))
        # The union keeps the set monotone even when rounding would drop a node from it,
        # which is what bounds the loop.
        new_default = default | (shortfall > tol)
        changed = xp.any(new_default != default, axis=-1)
        if shortcuts and not bool(xp.any(changed)):
            break
        default = new_default
        d = xp.astype(default, dtype)
        # Defaulter i: p_i - beta sum_{j in D} Pi_ji p_j = alpha e_i + beta sum_{j not in D}
        # Pi_ji p_bar_j; solvent i: p_i = p_bar_i. The defaulters' block I - beta Pi_DD^T is
        # invertible: for beta < 1 its spectral radius is below 1, and for beta = 1 a default
        # set of the greatest clearing vector never contains a closed cycle of debts (were it
        # to, raising that cycle's payments would give a greater clearing vector).
        rhs = d * (alpha * ext + beta * received((one - d) * p_bar)) + (one - d) * p_bar
        if shortcuts:
            # Only the defaulters that owe to or are owed by another defaulter (on some path)
            # take part; every other node pays its right-hand side: p_bar if solvent, alpha e +
            # beta (receipts from solvent payers) if in default with no defaulted counterparty.
            # Their rows and columns of the full system are those of the identity, and every
            # update they enter in the solve is an exact no-op (``x - 0 * y``), so this is the
            # full solve's result bit for bit, whichever nodes the batch brings in (host reads
            # of the union, as the shortcut above already reads).
            if host_payer is None:
                host_payer, host_payee = to_numpy(payer), to_numpy(payee)
            in_d = to_numpy(xp.any(default, axis=0))
            cols = np.nonzero(in_d[host_payer] & in_d[host_payee] & (host_payer != host_payee))[0]
            coupled = np.unique(np.concatenate([host_payer[cols], host_payee[cols]]))
            k = int(coupled.shape[0])
            solved = rhs
            if k:
                pos = np.full(n, -1, dtype=np.int64)
                pos[coupled] = np.arange(k)
                u = xp.asarray(coupled, dtype=xp.int64)
                cell = xp.asarray(pos[host_payee[cols]] * k + pos[host_payer[cols]], dtype=xp.int64)
                solved = _scatter(xp, rhs, u, _solve_block(xp, share, cols, cell, k, d, u, beta, rhs))
        else:
            u = xp.arange(n, dtype=xp.int64)
            cell = derived_index(payer, ("clearing_cells", n), lambda: payee * n + payer)
            solved = _solve_block(xp, share, None, cell, n, d, u, beta, rhs)
        # Exact arithmetic keeps the solution in [0, p_bar]; rounding may not.
        solved = xp.clip(solved, zero, p_bar)
        solved = xp.where(default, solved, p_bar)
        pay = xp.where(changed[..., None], solved, pay)
    return pay, p_bar
