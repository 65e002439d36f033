"""Relationship lending (aisim.kernels.syndicates): bounded syndicates of capex facilities."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from aisim.kernels import syndicates
from aisim.kernels.state import LOAN
from aisim.longtail import world_of
from tests.conftest import make_cfg


def tail(n: int, *extra: str) -> tuple[str, ...]:
    nc, pc = int(n * 0.4), int(n * 0.3)
    return (f"calibration.long_tail.neoclouds={nc}", f"calibration.long_tail.private_credit={pc}",
            f"calibration.long_tail.banks={n - nc - pc}", "backend=numpy", *extra)


def world(n: int, *extra: str):
    return world_of(make_cfg(*tail(n, "channels.relationship_lending=true", *extra)))


@functools.cache
def shared_world(n: int, *extra: str):
    """One build per size and switch for the tests that only read a world (not the determinism test)."""
    return world(n, *extra)


def test_contracts_grow_linearly_in_agents() -> None:
    sizes = (100, 200, 400)
    on = [shared_world(n) for n in sizes]
    off = [shared_world(n, "channels.relationship_lending=false") for n in sizes]
    for w in on:
        k = int(make_cfg().syndicate.size)
        assert w.n_pairs <= k * len(set(w.facility_borrower.tolist()))
    # doubling the agents about doubles the contracts with syndicates (and quadruples them without)
    for a, b in zip(on, on[1:], strict=False):
        growth = b.n_contracts / a.n_contracts
        agents = b.n_agents / a.n_agents
        assert growth < 1.3 * agents, (a.n_contracts, b.n_contracts)
    growth_off = off[-1].n_pairs / off[0].n_pairs
    assert growth_off > 2 * (off[-1].n_agents / off[0].n_agents)  # super-linear without
    assert on[-1].n_contracts < off[-1].n_contracts / 10


def test_every_borrower_keeps_a_lender_and_its_relationships() -> None:
    w = shared_world(200)
    w_off = shared_world(200, "channels.relationship_lending=false")
    assert set(w.facility_borrower.tolist()) == set(w_off.facility_borrower.tolist())
    c = w.contracts
    k = int(make_cfg().syndicate.size)
    pairs = set(zip(w.facility_borrower.tolist(), w.facility_lender.tolist(), strict=True))
    lenders = set(w_off.facility_lender.tolist())
    cal = np.arange(w.n_calibrated)
    for i in cal[(c["kind"][cal] == LOAN)]:
        b, lnd = int(c["payer"][i]), int(c["payee"][i])
        if lnd in lenders and b in set(w.facility_borrower.tolist()) and lnd != b:
            related = {int(x) for x in c["payee"][cal][(c["kind"][cal] == LOAN) & (c["payer"][cal] == b)]} & lenders
            if len(related - {b}) <= k:
                assert (b, lnd) in pairs, f"{w.names[b]} lost its relationship lender {w.names[lnd]}"
    assert all(b != lnd for b, lnd in pairs)


def test_syndicates_are_deterministic() -> None:
    a, b = world(200), world(200)
    assert np.array_equal(a.facility_borrower, b.facility_borrower)
    assert np.array_equal(a.facility_lender, b.facility_lender)
    assert a.contract_names == b.contract_names


@pytest.mark.parametrize("size", [1, 3, 100])
def test_choose_ranks_relationships_then_size(size: int) -> None:
    borrowers = np.array([0, 1, 5])
    lenders = np.array([1, 2, 3, 4, 5])
    lender_size = np.array([10.0, 50.0, 50.0, 5.0, 100.0])
    rel = np.zeros((3, 5), dtype=bool)
    rel[0, 3] = True  # borrower 0 has a loan from lender 4 (the smallest)
    fb, fl = syndicates.choose(borrowers, lenders, lender_size, rel, size)
    got = {b: [int(x) for x in fl[fb == b]] for b in borrowers.tolist()}
    if size == 1:
        assert got == {0: [4], 1: [5], 5: [2]}  # relationship; else the largest (not itself); tie by column
    elif size == 3:
        assert got == {0: [2, 4, 5], 1: [2, 3, 5], 5: [1, 2, 3]}
    else:
        assert got == {0: [1, 2, 3, 4, 5], 1: [2, 3, 4, 5], 5: [1, 2, 3, 4]}
    full = syndicates.choose(borrowers, lenders, lender_size, rel, 0)
    assert len(full[0]) == 3 * 5 - 2
