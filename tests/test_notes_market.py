"""note_issuance (aisim.kernels.notes_market): new notes and convertibles as debt with coupons."""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels import accounting
from aisim.kernels import equity_market as em
from aisim.kernels import notes_market as nm
from aisim.kernels.state import LOAN, NEVER, REVOLVING
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

BOTH = ("channels.equity_pricing=true", "channels.note_issuance=true")


def test_capacity_leverage_room_and_issue() -> None:
    mv = np.asarray([[40.0, 40.0]])
    cap = nm.capacity(np, 0.06, mv, np.asarray([[True, False]]))
    assert cap[0, 0] == pytest.approx(0.02 * 40.0) and cap[0, 1] == 0.0
    # debt 4 on assets 10 with a 0.5 ceiling: (4 + x) / (10 + x) = 0.5 at x = 2
    room = nm.leverage_room(np, np.asarray([[4.0, 6.0]]), np.asarray([[10.0, 10.0]]), np.asarray([0.5, 0.5]))
    assert room[0, 0] == pytest.approx(2.0) and room[0, 1] == 0.0
    assert np.isinf(nm.leverage_room(np, np.ones((1, 1)), np.ones((1, 1)), np.asarray([1.0])))[0, 0]
    alive = np.ones((1, 2), bool)
    out = nm.issue(np, alive, np.asarray([[3.0, 3.0]]), np.asarray([[1.0, 1.0]]), np.asarray([[0.5, 5.0]]),
                   np.asarray([True, False]))
    assert out[0, 0] == pytest.approx(0.5) and out[0, 1] == 0.0  # within room; not an issuer
    assert nm.issue(np, alive, np.asarray([[1.0, 1.0]]), np.asarray([[2.0, 2.0]]), np.full((1, 2), 9.0),
                    np.ones(2, bool))[0, 0] == 0.0  # nothing unfunded, nothing sold


def test_window_shuts_in_distress() -> None:
    p = em.EquityMarketParams()
    peak = np.full((1, 3), 100.0)
    mv = np.asarray([[90.0, 100.0 * (1 - p.close_drawdown) * 0.99, 100.0]])
    breach = np.asarray([[-NEVER, -NEVER, 9]], dtype=np.int64)
    ok = em.window_open(np, p, np.ones((1, 3), bool), mv, peak, breach, 10)
    assert ok.tolist() == [[True, False, False]]  # open; shut by the drawdown; shut after a breach


def _run(*overrides: str, paths: int = 12, months: int = 12):
    cfg = make_cfg(f"paths.n={paths}", f"horizon={months}", "backend=numpy", "output.progress=false", *overrides)
    m = AIFinanceModel(cfg, None, np.arange(paths), np)
    states, notes = [m.state], []
    for _ in range(months):
        m.step()
        states.append(m.state)
        notes.append(m.metrics["identity_residual"])
    return m, states, notes


@pytest.fixture(scope="module")
def both_on():
    return _run(*BOTH)


def test_notes_are_debt_within_capacity_and_the_identities_hold(both_on) -> None:
    m, states, residuals = both_on
    w = m.world
    names = list(w.names)
    cw = names.index("CoreWeave")
    k = int(w.notes[[int(w.contracts["payer"][j]) for j in w.notes].index(cw)])
    assert w.contracts["kind"][k] == LOAN and w.contracts["amort"][k] == REVOLVING
    assert w.contracts["payee"][k] == len(names)  # bondholders: the external sector
    assert not w.contracts["secured"][k] and w.contract_names[k] == "notes CoreWeave"
    assert np.all(states[0].outstanding[:, k] == 0.0)
    assert np.all(states[3].outstanding[:, k] > 0.5)  # it sold notes in its first months
    p = m.p.notes
    for t in range(6):
        before, after = states[t], states[t + 1]
        alive = after.alive[:, cw]
        term = float(w.contracts["maturity"][k])
        sold = after.outstanding[alive, k] - before.outstanding[alive, k] * (1 - 1 / term)
        assert np.all(sold <= p.note_share_neocloud / 3 * before.market_value[alive, cw] + 1e-9)
        bs = accounting.balance_sheet(np, m.book, after)
        ceiling = float(m.params.max_leverage[0, cw] if np.ndim(m.params.max_leverage) == 2
                        else m.params.max_leverage[cw]) + p.leverage_margin
        # the ceiling binds at issue; depreciation and losses can move leverage afterwards
        assert np.all(bs["debt"][alive, cw] / bs["assets"][alive, cw] <= ceiling + 0.02)
    assert max(float(np.max(r)) for r in residuals) < 1e-9


def test_priced_equity_alone_cannot_fund_coreweave_notes_can(both_on) -> None:
    _, eq_only, _ = _run("channels.equity_pricing=true")
    m, states, _ = both_on
    cw = list(m.world.names).index("CoreWeave")
    assert np.mean(~eq_only[-1].alive[:, cw]) > 0.9  # out of cash within the year on (nearly) every path
    assert np.mean(~states[-1].alive[:, cw]) < 0.2


def test_off_sells_no_notes() -> None:
    m, states, _ = _run(paths=4, months=6)
    assert not m.cfg.channels.note_issuance
    assert np.all(states[-1].outstanding[:, m.world.notes] == 0.0)


def test_with_notes_coreweave_alive_but_its_book_equity_grows_less_than_with_free_equity(both_on) -> None:
    m, states, _ = both_on
    _, off, _ = _run()  # equity_raise x sentiment a month whatever the firm is worth
    cw = list(m.world.names).index("CoreWeave")
    alive = states[-1].alive[:, cw]
    assert alive.mean() > 0.8
    e0 = float(states[0].equity[0, cw])
    grown_on = states[-1].equity[alive, cw].mean() - e0
    grown_off = off[-1].equity[off[-1].alive[:, cw], cw].mean() - e0
    assert grown_on < 0.8 * grown_off  # priced, limited equity: debt funds more of the capex


def test_a_maturing_bullet_that_will_not_roll_is_refinanced_with_notes_within_a_quarters_capacity() -> None:
    alive = np.ones((1, 3), bool)
    owed = np.asarray([[1.0, 1.0, 1.0]])
    room = np.asarray([[0.4, 5.0, 5.0]])
    x = nm.refinance(np, alive, owed, room, np.asarray([True, True, False]))
    assert x.tolist() == [[0.4, 1.0, 0.0]]  # capped by the deal size; in full; not an issuer
    # the proceeds are cash, paid by bondholders: the issuer's notes and cash rise together
    from aisim.kernels import ledger

    m, states, _ = _run(*BOTH, paths=2, months=1)
    s = states[-1]
    notes = np.zeros_like(s.cash)
    cw = list(m.world.names).index("CoreWeave")
    notes[:, cw] = 0.5
    after = ledger.refinance_notes(np, s, m.notes_mask, m.notes_payer, notes)
    np.testing.assert_allclose(after.cash[:, cw] - s.cash[:, cw], 0.5)
    np.testing.assert_allclose(after.ext_cash - s.ext_cash, -0.5)
    assert np.sum(after.outstanding - s.outstanding) == pytest.approx(2 * 0.5)  # 2 paths
    bs0, bs1 = accounting.balance_sheet(np, m.book, s), accounting.balance_sheet(np, m.book, after)
    np.testing.assert_allclose(bs1["assets"] - bs1["liabilities"], bs0["assets"] - bs0["liabilities"], atol=1e-12)
