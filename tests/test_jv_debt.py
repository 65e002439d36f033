"""jv_debt (aisim.kernels.jv_debt): the JV/SPV part of a hyperscaler's outside capital is private-credit debt."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from aisim.kernels import jv_debt as jd
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

BASE = ("calibration=mini", "paths.n=4", "horizon=12", "backend=numpy", "output.progress=false")
# Meta raises outside capital (its cash at the buffer, a capex above it, a leverage test it fails, so
# its capex facilities lend nothing); Blue Owl has cash it does not lend on its facilities
JV = {"Meta": {"equity_raise": 1.5, "max_leverage": 0.05, "capex": 12.0}, "Blue Owl": {"cash": 80.0}}


def _cfg(*overrides: str, entities: dict | None = None):
    cfg = copy.deepcopy(make_cfg(*BASE, *overrides))
    for e in cfg.calibration.entities:
        for k, v in (JV if entities is None else entities).get(e.name, {}).items():
            setattr(e, k, v)
    return cfg


def _run(cfg, months: int) -> AIFinanceModel:
    m = AIFinanceModel(cfg, None, np.arange(int(cfg.paths.n)), np)
    for _ in range(months):
        m.step()
    return m


def test_split_supply_room_and_off_balance() -> None:
    sponsor = np.asarray([True, False])
    assert jd.split(np, sponsor, np.asarray([[2.0, 2.0]]), 0.7).tolist() == [[pytest.approx(1.4), 0.0]]
    assert jd.remaining_supply(np, np.asarray([False, True]), np.asarray([[5.0, 5.0]]),
                               np.asarray([[1.0, 6.0]])).tolist() == [[0.0, 0.0]]
    assert jd.equity_room(np, sponsor, np.asarray([[2.0, 2.0]]), 0.7).tolist() == [[pytest.approx(0.6), 2.0]]
    d, a = jd.off_balance(np, np.asarray([[10.0]]), np.asarray([[50.0]]), np.asarray([[4.0]]))
    assert (d[0, 0], a[0, 0]) == (6.0, 46.0)


def test_jv_debt_is_booked_priced_and_serviced() -> None:
    m = _run(_cfg("channels.credit_pricing=false"), 6)
    w, s = m.world, m.state
    meta, owl = w.column("Meta"), w.column("Blue Owl")
    [k] = [k for k in w.jv if w.contracts["payer"][k] == meta and w.contracts["payee"][k] == owl]
    assert (s.outstanding[:, k] > 0).all()  # Meta owes Blue Owl the JV debt: a liability, a loan held
    fac = [j for j in range(w.n_calibrated, w.n_contracts) if w.contracts["payer"][j] == meta]
    # priced at the sponsor's spread plus the JV premium, over the same base as its facilities
    assert s.rate[:, k] == pytest.approx(s.rate[:, fac[0]] + m.p.jv.premium)
    m.step()
    dues = m.context.dues
    assert (dues.interest[:, k] > 0).all()  # the sponsor pays the interest in settlement
    assert dues.interest[:, k] == pytest.approx(m.state.outstanding[:, k] * s.rate[:, k] / 12.0, rel=0.05)
    assert (dues.principal[:, k] == 0).all()  # a long-dated bullet


def test_leverage_test_leaves_the_jv_debt_out_unless_consolidated() -> None:
    for regime, off in (((), True), (("regime=spv_transparency",), False)):
        m = _run(_cfg(*regime), 6)
        s, meta = m.state, m.world.column("Meta")
        bs = m.balance(s)
        jv = sum(s.outstanding[:, k] for k in m.world.jv if m.world.contracts["payer"][k] == meta)
        assert (jv > 0).all()
        d0, a0 = m.consolidated(s, bs["debt"], bs["assets"])
        d, a = m.leverage_view(s, bs["debt"], bs["assets"])
        if off:  # off balance sheet: the sponsor's tests see neither the JV debt nor the assets it financed
            assert d[:, meta] == pytest.approx(d0[:, meta] - jv) and a[:, meta] == pytest.approx(a0[:, meta] - jv)
        else:  # spv_transparency consolidates it, as it does the Hyperion SPV's debt
            assert (d[:, meta] == d0[:, meta]).all() and (a[:, meta] == a0[:, meta]).all()


def test_leverage_test_passes_on_balance_sheet_debt_only() -> None:
    """A sponsor whose on-balance-sheet leverage passes its test but whose JV debt would break it
    passes it; with spv_transparency it fails (Microsoft: no Hyperion-like SPV of its own to consolidate)."""
    ent = {"Microsoft": {"equity_raise": 3.0, "capex": 20.0, "max_leverage": 0.12}, "Blue Owl": {"cash": 200.0}}
    m = _run(_cfg(entities=ent), 12)
    t = _run(_cfg("regime=spv_transparency", entities=ent), 12)
    ms = m.world.column("Microsoft")
    bs = t.balance(t.state)
    jv = sum(t.state.outstanding[:, k] for k in t.world.jv if t.world.contracts["payer"][k] == ms)
    assert (jv > 0).all()
    assert (bs["debt"][:, ms] - jv <= 0.12 * (bs["assets"][:, ms] - jv)).all()  # passes off balance sheet
    assert m.borrower_tests(m.state)[:, ms].all()
    assert not t.borrower_tests(t.state)[:, ms].any()


def test_channel_off_builds_no_jv_contract_and_changes_nothing_without_outside_capital() -> None:
    off = _run(_cfg("channels.jv_debt=false"), 3)
    assert off.world.jv.size == 0 and not any(n.startswith("jv debt") for n in off.world.contract_names)
    # on mini the hyperscalers raise no outside capital: the channel on builds no JV loan and leaves
    # every state field as it is with the channel off, to the bit
    a, b = _run(_cfg(entities={}), 12), _run(_cfg("channels.jv_debt=false", entities={}), 12)
    assert a.world.jv.size == 0
    for name in ("cash", "gpu", "equity", "outstanding", "rate", "alive", "credit_supply"):
        assert np.array_equal(getattr(a.state, name), getattr(b.state, name)), name
