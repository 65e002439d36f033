"""graded_refinancing: a maturing bullet is rolled up to the borrower's leverage capacity
max_leverage x assets - (debt - maturing principal); the rest is paid down (kernels/rollover.py)."""

import numpy as np

from aisim.kernels import rollover
from aisim.kernels.contracts import Dues
from aisim.model import AIFinanceModel
from tests.worlds import world_cfg


def _bullet_world(debt_other: float, on: bool) -> AIFinanceModel:
    """N, a neocloud with assets 100 (cash 100) and max_leverage 0.5 (limit 50), owes a bullet of 20
    to bank K due in month 0 and a long loan of ``debt_other`` (due after the horizon)."""
    ents = [dict(name="N", sector="neocloud", cash=100.0, cash_buffer=0.0, max_leverage=0.5),
            dict(name="K", sector="bank", cash=100.0, other_assets=100.0, other_liabilities=20.0)]
    con = [dict(name="bullet", kind="loan", payer="N", payee="K", amount=20.0, rate=0.0, maturity=1),
           dict(name="long", kind="loan", payer="N", payee="K", amount=debt_other, rate=0.0, maturity=120)]
    cfg = world_cfg(ents, con, f"channels.graded_refinancing={str(on).lower()}", "channels.credit_pricing=false",
                    "channels.capex_commitments=false", paths=1, horizon=1)
    m = AIFinanceModel(cfg, None, np.arange(1), np)
    m.step()
    return m


def _rolled(m: AIFinanceModel) -> float:
    k = m.world.contract_names.index("bullet")
    return float(m.state.outstanding[0, k])


def test_kernel_caps_rolls_pro_rata_and_leaves_nothing_for_others_when_cut() -> None:
    book = type("B", (), {})()
    book.payer, book.n_agents = np.array([0, 0, 1]), 2
    out = np.array([[10.0, 30.0, 5.0]])
    dues = Dues(active=np.ones((1, 3), bool), interest=np.zeros((1, 3)), principal=np.zeros((1, 3)),
                payment=np.zeros((1, 3)), refinanced=np.ones((1, 3), bool))
    cap = np.array([[20.0, 0.0]])
    d = rollover.cap_rolls(np, book, dues, out, cap)
    assert np.allclose(out - d.principal, [[5.0, 15.0, 0.0]])  # agent 0 rolls 20 of 40, pro rata
    assert d.refinanced.tolist() == [[True, True, False]]  # agent 1 has no capacity: not rolled
    assert np.allclose(d.roll_room, 0.0)  # nothing left for other lenders


def test_borrower_whose_other_debt_is_at_09_of_its_limit_rolls_the_capacity() -> None:
    """Other debt 45 = 0.9 x the limit 50 (debt 65 > 50: the test fails): capacity 50 - 45 = 5 of
    the 20 is rolled, 15 paid down; with the channel off nothing is rolled and all 20 is repaid."""
    on, off = _bullet_world(45.0, True), _bullet_world(45.0, False)
    assert np.isclose(_rolled(on), 5.0)
    assert _rolled(off) == 0.0
    n = on.world.names.index("N")
    assert np.isclose(off.state.cash[0, n] - on.state.cash[0, n], -5.0)  # 5 less paid down


def test_borrower_far_inside_its_limit_rolls_in_full_as_without_the_channel() -> None:
    on, off = _bullet_world(5.0, True), _bullet_world(5.0, False)
    assert _rolled(on) == 20.0 == _rolled(off)
    for f in ("cash", "equity", "outstanding"):
        assert np.array_equal(getattr(on.state, f), getattr(off.state, f))


def test_borrower_beyond_its_limit_by_more_than_the_bullet_rolls_nothing() -> None:
    m = _bullet_world(60.0, True)  # debt without the bullet 60 > limit 50: capacity 0
    assert _rolled(m) == 0.0
    k = m.world.contract_names.index("bullet")
    assert not m.state.c_alive[0, k]
