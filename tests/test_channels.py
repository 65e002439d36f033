"""Each contagion channel in a small fixture world where it is the only difference.

Every test runs the same world with the channel on and off and checks the effect the channel
should have, and that switching it off removes it.
"""

from __future__ import annotations

import numpy as np

from aisim.kernels.state import COVENANT
from tests.worlds import run_model, with_channel, world_cfg

BANK = dict(name="Bank", sector="bank", cash=100.0, other_assets=500.0, other_liabilities=500.0)


def test_clearing_settles_a_circle_of_obligations_the_sequential_rule_cannot() -> None:
    # Two labs owe each other 1.0 a month and hold no cash. At the greatest clearing vector
    # both pay in full (the circle nets out); paying only from what one already holds, neither
    # can pay anything and both default.
    labs = [dict(name=n, sector="ai_lab") for n in ("A", "B")]
    contracts = [
        dict(name="A->B", kind="offtake", payer="A", payee="B", monthly=1.0, maturity=12),
        dict(name="B->A", kind="offtake", payer="B", payee="A", monthly=1.0, maturity=12),
    ]
    cfg = world_cfg(labs, contracts, horizon=3)
    on, _ = run_model(with_channel(cfg, "clearing", True))
    off, _ = run_model(with_channel(cfg, "clearing", False))
    assert on.state.alive.all()
    assert not off.state.alive.any()


def _offtake_world(**overrides: str):
    # The lab's costs exceed its cash in month 0: it defaults, and its offtake with the
    # neocloud ends with it (contagion on) or passes to a replacement buyer (off).
    ents = [
        dict(name="Lab", sector="ai_lab", cash=0.5, opex=1.0),
        dict(name="Cloud", sector="neocloud", cash=5.0, gpu=10.0, capacity_yield=0.02, utilisation=0.0,
             gpu_life_months=1000.0),
    ]
    con = [dict(name="offtake", kind="offtake", payer="Lab", payee="Cloud", monthly=0.1, maturity=24)]
    return world_cfg(ents, con, horizon=4, **overrides)


def test_a_buyers_default_cuts_its_sellers_revenue() -> None:
    cfg = _offtake_world()
    on, h_on = run_model(with_channel(cfg, "contract_contagion", True))
    off, h_off = run_model(with_channel(cfg, "contract_contagion", False))
    lab, cloud = on.world.column("Lab"), on.world.column("Cloud")
    assert not on.state.alive[:, lab].any() and not off.state.alive[:, lab].any()
    # from month 1 the seller earns nothing on the offtake with contagion, 0.1 a month without
    gain_on = h_on[3]["cash"][:, cloud] - h_on[0]["cash"][:, cloud]
    gain_off = h_off[3]["cash"][:, cloud] - h_off[0]["cash"][:, cloud]
    np.testing.assert_allclose(gain_off - gain_on, 0.3, rtol=1e-12)
    assert h_on[3]["c_alive"][:, 0].sum() == 0 and h_off[3]["c_alive"][:, 0].all()


def _two_neoclouds(**kw):
    # A owes a lease it cannot pay and defaults in month 0; its GPUs are sold. B has a secured
    # loan close to its collateral value, and no cash to meet a margin call.
    ents = [
        dict(name="A", sector="neocloud", cash=0.1, gpu=20.0, gpu_life_months=72.0),
        dict(name="B", sector="neocloud", cash=0.1, gpu=20.0, gpu_life_months=72.0),
        dict(BANK),
    ]
    con = [
        dict(name="A lease", kind="lease", payer="A", payee="external", monthly=5.0, maturity=24),
        dict(name="A loan", kind="loan", payer="A", payee="Bank", amount=10.0, rate=0.0, maturity=36,
             secured=True),
        dict(name="B loan", kind="loan", payer="B", payee="Bank", amount=13.0, rate=0.0, maturity=36,
             secured=True),
    ]
    return world_cfg(ents, con, "collateral.depth=50", "collateral.recovery=0", horizon=3, **kw)


def test_fire_sales_lower_collateral_coverage_and_only_add_defaults() -> None:
    cfg = _two_neoclouds()
    on, h_on = run_model(with_channel(cfg, "fire_sales", True), months=2)
    off, h_off = run_model(with_channel(cfg, "fire_sales", False), months=2)
    a, b = on.world.column("A"), on.world.column("B")
    assert not h_on[0]["alive"][:, a].any() and not h_off[0]["alive"][:, a].any()
    # the sale of A's GPUs (20 less a month's depreciation) into a market of depth 50 marks every
    # holder down by exp(-sold / depth)
    np.testing.assert_allclose(h_on[0]["q"], np.exp(-20.0 * 71 / 72 / 50.0), rtol=1e-12)
    np.testing.assert_allclose(h_off[0]["q"], 1.0)
    value_on = on.collateral_value(on.state.replace(**{k: h_on[0][k] for k in ("gpu", "q", "price")}))
    value_off = off.collateral_value(off.state.replace(**{k: h_off[0][k] for k in ("gpu", "q", "price")}))
    assert (value_on[:, b] < value_off[:, b]).all()
    # B's coverage falls below its loan with fire sales, so B fails its covenant next month; not without
    assert not on.state.alive[:, b].any() and off.state.alive[:, b].all()
    assert (on.state.default_cause[:, b] == COVENANT).all()
    assert (~on.state.alive | off.state.alive).all() and (~on.state.alive).sum() > (~off.state.alive).sum()
    # and A's lender recovers less when the GPUs go at fire-sale prices
    assert (on.state.fire_sale_loss > 0).all() and (off.state.fire_sale_loss == 0).all()


def _covenant_world(cash: float):
    # rental prices fall 10% a month: the GPU collateral of a loan at 70% LTV breaches its 80%
    # covenant in month 1
    ents = [dict(name="N", sector="neocloud", cash=cash, gpu=10.0, gpu_life_months=60.0), dict(BANK)]
    con = [dict(name="loan", kind="loan", payer="N", payee="Bank", amount=7.0, rate=0.0, maturity=36,
                secured=True, ltv_max=0.8)]
    return world_cfg(ents, con, "scenario.rental_price.drift=-0.1", horizon=4)


def test_covenant_breach_forces_repayment_or_default() -> None:
    rich = _covenant_world(cash=8.0)
    on, h_on = run_model(with_channel(rich, "covenants", True))
    off, h_off = run_model(with_channel(rich, "covenants", False))
    n = on.world.column("N")
    assert on.state.alive[:, n].all()
    # the margin call repaid part of the loan; without covenants it stays at 7 (no amortisation)
    assert (h_on[-1]["outstanding"][:, 0] < 7.0 - 1e-6).all()
    np.testing.assert_allclose(h_off[-1]["outstanding"][:, 0], 7.0)
    poor = _covenant_world(cash=0.0)
    on, _ = run_model(with_channel(poor, "covenants", True))
    off, _ = run_model(with_channel(poor, "covenants", False))
    assert (on.state.default_cause[:, n] == COVENANT).all() and off.state.alive[:, n].all()


def _bank_world(*overrides: str):
    # a thinly capitalised bank (equity 10 against RWA ~505: 2%) whose borrower's bullet loan
    # matures in month 2
    ents = [
        dict(name="N", sector="neocloud", cash=10.0),
        dict(name="Bank", sector="bank", cash=100.0, other_assets=500.0, other_liabilities=595.0),
    ]
    con = [dict(name="bullet", kind="loan", payer="N", payee="Bank", amount=5.0, rate=0.0, maturity=3)]
    # credit pricing off: its graded roll-over would roll only part of the bullet of this cash-only
    # borrower (DD ~1.1) whichever the bank's ratio; the test isolates the capital requirement
    return world_cfg(ents, con, "regime.capital_requirement=0.08", "channels.credit_pricing=false", *overrides,
                     horizon=4)


def test_a_bank_below_its_requirement_refinances_less_and_sheds_assets() -> None:
    cfg = _bank_world()
    on, h_on = run_model(with_channel(cfg, "bank_regulation", True))
    off, h_off = run_model(with_channel(cfg, "bank_regulation", False))
    # below requirement the bank does not roll the bullet: the borrower repays it from cash
    assert (h_on[2]["outstanding"][:, 0] == 0).all() and not h_on[2]["c_alive"][:, 0].any()
    np.testing.assert_allclose(h_off[2]["outstanding"][:, 0], 5.0)
    # and it sells assets to restore its ratio
    assert (on.state.forced_sales > 0).all() and (off.state.forced_sales == 0).all()
    # a well-capitalised bank rolls it with the channel on too
    _, h_h = run_model(_bank_world("regime.capital_requirement=0.01", "regime.leverage_requirement=0.01"))
    np.testing.assert_allclose(h_h[2]["outstanding"][:, 0], 5.0)


def _fund_world():
    # a semi-liquid fund with 1% monthly redemptions and a bank NAV line above its 50% trigger
    ents = [
        dict(name="Fund", sector="private_credit", cash=5.0, other_assets=50.0, redemption_base=0.01,
             redemption_sensitivity=2.0),
        dict(BANK),
    ]
    con = [dict(name="NAV line", kind="loan", payer="Fund", payee="Bank", amount=30.0, rate=0.0,
                maturity=36, ltv_max=0.5)]
    return world_cfg(ents, con, horizon=3)


def test_fund_redemptions_and_nav_triggers_force_sales() -> None:
    cfg = _fund_world()
    on, h_on = run_model(with_channel(cfg, "fund_runs", True))
    off, h_off = run_model(with_channel(cfg, "fund_runs", False))
    fund = on.world.column("Fund")
    assert (on.state.redemptions > 0).all() and (off.state.redemptions == 0).all()
    # the line is brought back under its trigger by selling loans and repaying it
    line_on, line_off = h_on[0]["outstanding"][:, 0], h_off[0]["outstanding"][:, 0]
    assert (line_on < 30.0).all() and np.allclose(line_off, 30.0)
    assets = h_on[0]["cash"][:, fund] + h_on[0]["other_assets"][:, fund]
    assert (line_on <= 0.5 * assets + 1e-9).all()
    assert (on.state.forced_sales > 0).all() and (off.state.forced_sales == 0).all()


def test_market_feedback_turns_defaults_into_lost_funding() -> None:
    # the lab's default depresses sentiment, and with it what a neocloud can raise
    cfg = _offtake_world()
    on, h_on = run_model(with_channel(cfg, "market_feedback", True))
    off, h_off = run_model(with_channel(cfg, "market_feedback", False))
    assert (on.state.sentiment < 1.0).all()
    np.testing.assert_allclose(off.state.sentiment, 1.0)
    assert (h_on[0]["sentiment"] < h_off[0]["sentiment"]).all()
