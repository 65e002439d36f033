"""Lease claims (aisim.kernels.lease_claims): the 502(b)(6) cap, lessors' losses, identities."""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels.lease_claims import LeaseClaimParams, allowed_months, claims
from aisim.schema import ContractConfig
from tests.test_reference import BASE, RUNS, STRESS, config, run_side_by_side

P = LeaseClaimParams()


@pytest.mark.parametrize(("months_left", "allowed"), [
    (6, 6.0),  # less than a year left: the rent that is left
    (24, 12.0),  # one year beats 15% of two years (3.6 months)
    (80, 12.0),  # 15% of 80 = 12: the two meet
    (120, 18.0),  # 15% of ten years (18 months) beats one year
    (240, 36.0),  # 15% of 20 years = 36 months: the cap
    (300, 36.0),  # 15% of 25 years (45 months) capped at three years
    (0, 0.0),
])
def test_cap_formula(months_left: int, allowed: float) -> None:
    got = allowed_months(np, np.array([[months_left]], dtype=np.int64), P)
    assert got[0, 0] == pytest.approx(allowed)


def test_claims_only_where_the_lease_ends() -> None:
    monthly = np.array([1.0, 2.0])
    left = np.array([[120, 24], [120, 24]], dtype=np.int64)
    ending = np.array([[True, False], [False, True]])
    claim, lost = claims(np, monthly, left, ending, P)
    assert claim.tolist() == [[18.0, 0.0], [0.0, 24.0]]
    assert lost.tolist() == [[120.0, 0.0], [0.0, 48.0]]
    assert np.all(claim <= lost)


LESSOR_LEASE = {"name": "CoreWeave lease from Blue Owl", "kind": "lease", "payer": "CoreWeave",
                "payee": "Blue Owl", "monthly": 0.05, "maturity": 120}


def stressed(*extra: str):
    cfg = config(*BASE, *STRESS, *extra, entities=RUNS)
    cfg.calibration.contracts.append(ContractConfig(**LESSOR_LEASE))
    return run_side_by_side(cfg)


def test_lessor_loss_is_rent_lost_less_the_claims_recovery() -> None:
    """CoreWeave defaults under stress; Blue Owl (an agent lessor) and the external sector (its
    other data-centre leases) claim the capped rent, recover the estate's unsecured rate and lose
    the rest; the model agrees with the reference throughout (run_side_by_side)."""
    run = stressed()
    cw, bo = run.column("CoreWeave"), run.column("Blue Owl")
    k = run.contract_names.index(LESSOR_LEASE["name"])
    ext_leases = [run.contract_names.index("CoreWeave data-centre leases")]
    n = len(run.names)
    checked = 0
    for p in run.states:
        states, events = run.states[p], run.events[p]
        for t, ev in enumerate(events):
            before, after = states[t], states[t + 1]
            if not any(i == cw for i, _ in ev.defaults) or ev.resolution_rounds != 1:
                continue
            rate = dict(ev.recovery)[cw]
            T = before.maturity[k] - 1  # this month's rent fell due (settlement) before the default
            assert before.c_alive[k] and not after.c_alive[k]
            claim = 0.05 * min(T, min(max(12.0, 0.15 * T), 36.0))
            if not after.alive[bo]:
                continue
            assert after.lease_loss[bo] - before.lease_loss[bo] == pytest.approx(0.05 * T - rate * claim, rel=1e-9)
            ext_T = [before.maturity[j] - 1 for j in ext_leases]
            ext_lost = sum(0.25 * x - rate * 0.25 * min(x, min(max(12.0, 0.15 * x), 36.0)) for x in ext_T)
            assert after.lease_loss[n] - before.lease_loss[n] == pytest.approx(ext_lost, rel=1e-9)
            assert 0.0 < rate < 1.0
            checked += 1
    assert checked, "CoreWeave never defaulted in a single round with Blue Owl alive"


def test_claims_dilute_the_other_unsecured_creditors() -> None:
    on = stressed()
    off = stressed("channels.lease_claims=false")
    cw = on.column("CoreWeave")
    r_on = [r for e in on.all_events() for i, r in e.recovery if i == cw]
    r_off = [r for e in off.all_events() for i, r in e.recovery if i == cw]
    assert r_on and r_off and r_on[0] < r_off[0]
    assert all(s.lease_loss == [0.0] * len(s.lease_loss) for s in off.all_states())


def test_without_contract_contagion_the_replacement_lessee_pays_and_nobody_claims() -> None:
    run = stressed("channels.contract_contagion=false")
    k = run.contract_names.index(LESSOR_LEASE["name"])
    cw, bo = run.column("CoreWeave"), run.column("Blue Owl")
    taken_over = [s.c_alive[k] for s in run.all_states() if not s.alive[cw] and s.alive[bo]]
    assert taken_over and all(taken_over)
    assert all(x == 0.0 for s in run.all_states() for x in s.lease_loss)
