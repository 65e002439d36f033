"""Each flow of the month on a tiny world, against numbers worked out by hand.

Every test builds a small calibration on the real composed config, with a deterministic scenario
(no volatility, no drift: demand and rental price stay at 1, the base rate at 4%), runs the
model month by month and checks the balance sheets against the arithmetic in the comments.
Entity parameters not named take the schema defaults (utilisation 0.8, GPU life 72 months,
max leverage 0.8, everything else 0). Every contagion channel is on (the default) unless a test
switches one off; where a channel changes a flow, the test has a case with it off and one with it
on. Defaulted estates sell their GPUs at their collateral (market) value: recovery_gpu x book x
price index x q x min(1, valuation life 60 / accounting life 72), q after the fire sale's impact.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

from aisim.kernels.state import ILLIQUIDITY
from aisim.model import AIFinanceModel
from aisim.schema import validate
from aisim.world import build_world
from tests.conftest import make_cfg

DETERMINISTIC = (
    "scenario.demand.drift=0", "scenario.demand.vol=0",
    "scenario.rental_price.drift=0", "scenario.rental_price.vol=0",
    "scenario.base_rate.start=0.04", "scenario.base_rate.mean=0.04",
    "scenario.base_rate.speed=0", "scenario.base_rate.vol=0",
    # the hand-computed flows price loans at their contract terms and roll bullets whole;
    # credit pricing's spreads and graded roll-overs are tested in tests/test_credit_pricing.py
    "channels.credit_pricing=false",
    "channels.bank_capital=false",  # banks' books static in the hand-computed flows (tests/test_financial_sector.py)
    "channels.firm_shocks=false",  # costs as stated (tests/test_firm_shocks.py)
    "channels.risk_appetite=false",  # calm sentiment and spreads (tests/test_risk_appetite.py)
    "channels.capex_commitments=false",  # capex as planned month by month (tests/test_capex_orders.py)
)


@functools.cache
def _base() -> Any:
    return make_cfg("calibration=mini", "paths.n=2", "horizon=36", "backend=numpy", *DETERMINISTIC)


def approx(x: float) -> Any:
    return pytest.approx(x, rel=1e-12, abs=1e-12)


class Tiny:
    """A tiny world on two identical paths, with name-based accessors to path 0."""

    def __init__(self, entities: list[dict], contracts: list[dict], *overrides: str, horizon: int = 6) -> None:
        # the real config, composed once; each world's overrides and calibration merged onto a copy
        cfg = OmegaConf.unsafe_merge(
            copy.deepcopy(_base()), OmegaConf.from_dotlist([f"horizon={horizon}", *overrides]),
            {"calibration": {"name": "tiny", "entities": entities, "contracts": contracts}},
        )
        validate(cfg)
        self.world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits))
        self.model = AIFinanceModel(cfg, self.world, np.arange(2), np)

    def step(self, months: int = 1) -> None:
        for _ in range(months):
            self.model.step()
            for f in ("cash", "equity", "outstanding"):  # a deterministic world: paths agree
                v = np.asarray(getattr(self.model.state, f))
                np.testing.assert_array_equal(v[0], v[1])

    def a(self, field: str, name: str) -> Any:
        return np.asarray(getattr(self.model.state, field))[0, self.world.column(name)].item()

    def c(self, field: str, name: str) -> Any:
        return np.asarray(getattr(self.model.state, field))[0, self.world.contract_names.index(name)].item()

    @property
    def ext_cash(self) -> float:
        return float(np.asarray(self.model.state.ext_cash)[0])

    def credit_loss(self, name: str | None) -> float:
        col = self.world.n_agents if name is None else self.world.column(name)
        return float(np.asarray(self.model.state.credit_loss)[0, col])


def loan(name: str, payer: str, payee: str, amount: float, rate: float, maturity: int, **kw: Any) -> dict:
    return dict(name=name, kind="loan", payer=payer, payee=payee, amount=amount, rate=rate,
                maturity=maturity, **kw)


# ------------------------------------------------------------------------------ loans
def test_bullet_loan_pays_interest_monthly_and_principal_at_maturity() -> None:
    # B (an SPV) owes lender L 12 at 6% for 3 months, bullet, not refinanced.
    w = Tiny([dict(name="B", sector="spv", cash=20.0), dict(name="L", sector="private_credit", cash=5.0)],
             [loan("bullet", "B", "L", 12.0, 0.06, 3, refinance=False)])
    assert w.a("equity", "B") == approx(8.0)  # 20 - 12
    assert w.a("equity", "L") == approx(17.0)  # 5 + 12
    interest = 12.0 * 0.06 / 12  # = 0.06 a month
    for month in (1, 2):
        w.step()
        assert w.a("cash", "B") == approx(20.0 - month * interest)
        assert w.a("cash", "L") == approx(5.0 + month * interest)
        assert w.c("outstanding", "bullet") == approx(12.0)
        assert w.c("maturity", "bullet") == 3 - month
    w.step()  # month 3: the last interest and all the principal: 12.06
    assert w.a("cash", "B") == approx(20.0 - 3 * interest - 12.0)  # 7.82
    assert w.a("cash", "L") == approx(5.0 + 3 * interest + 12.0)  # 17.18
    assert w.a("equity", "B") == approx(8.0 - 3 * interest)  # principal moves no equity
    assert w.a("equity", "L") == approx(17.0 + 3 * interest)
    assert w.c("outstanding", "bullet") == 0.0 and not w.c("c_alive", "bullet")
    w.step()  # nothing more is paid
    assert w.a("cash", "B") == approx(7.82)
    assert w.ext_cash == approx(0.0)  # no flow touched the external sector


def test_linear_loan_amortises_outstanding_over_months_left() -> None:
    # 12 at 12% over 4 months: principal = outstanding / months left = 3 each month;
    # interest 1% of what is outstanding: 0.12, 0.09, 0.06, 0.03.
    w = Tiny([dict(name="B", sector="spv", cash=20.0), dict(name="L", sector="private_credit", cash=5.0)],
             [loan("linear", "B", "L", 12.0, 0.12, 4, amortisation="linear")])
    paid = 0.0
    for out_before, interest in ((12.0, 0.12), (9.0, 0.09), (6.0, 0.06), (3.0, 0.03)):
        w.step()
        paid += 3.0 + interest
        assert w.c("outstanding", "linear") == approx(out_before - 3.0)
        assert w.a("cash", "B") == approx(20.0 - paid)
        assert w.a("cash", "L") == approx(5.0 + paid)
    assert w.a("cash", "B") == approx(7.70)  # 20 - 12 - 0.30
    assert w.a("equity", "B") == approx(8.0 - 0.30)
    assert not w.c("c_alive", "linear")


def test_floating_loan_pays_base_rate_plus_spread() -> None:
    # floating at base 4% + 2% = 6% on 12: 0.06 a month
    w = Tiny([dict(name="B", sector="spv", cash=20.0), dict(name="L", sector="private_credit", cash=5.0)],
             [loan("floating", "B", "L", 12.0, 0.02, 10, floating=True)])
    w.step()
    assert w.c("rate", "floating") == approx(0.06)
    assert w.a("cash", "L") == approx(5.06)
    assert w.a("cash", "B") == approx(19.94)


# ------------------------------------------------------------------------------ refinancing
BANK = dict(name="K", sector="bank", cash=40.0, other_assets=300.0, other_liabilities=290.0)
# K's equity: 40 + 300 + 12 (the loan) - 290 = 62; RWA: 100% x (12 + 300) = 312; ratio 0.1987;
# leverage ratio 62 / 352 = 0.176, above the 4% requirement


@pytest.mark.parametrize(
    ("requirement", "max_leverage", "regulation", "rolled"),
    [
        (0.105, 0.8, True, True),  # both pass: rolled over
        (0.25, 0.8, True, False),  # the bank's ratio 0.199 is below 25%: refused
        (0.25, 0.8, False, True),  # bank regulation off: a bank lends while alive, whatever its ratio
        (0.105, 0.5, True, False),  # borrower: debt 12 > 0.5 x assets (~19.9): refused (all or nothing)
    ],
)
def test_maturing_bullet_is_refinanced_or_refused(
    requirement: float, max_leverage: float, regulation: bool, rolled: bool,
) -> None:
    # deleveraging off: a bank below its requirement would also sell assets (tested below)
    w = Tiny([dict(name="B", sector="spv", cash=20.0, max_leverage=max_leverage), BANK],
             [loan("bullet", "B", "K", 12.0, 0.06, 2)],
             f"regime.capital_requirement={requirement}", "investment.refinance_term=6",
             "regime.deleveraging_speed=0", f"channels.bank_regulation={str(regulation).lower()}",
             "channels.graded_refinancing=false")
    assert w.model.state.capital_ratio[0, w.world.column("K")] == approx(62.0 / 312.0)
    w.step(2)  # month 1 is the last: 12 x 6% / 12 = 0.06 interest each month
    if rolled:  # interest only; six more months at the same terms
        assert w.a("cash", "B") == approx(20.0 - 0.12)
        assert w.c("outstanding", "bullet") == approx(12.0)
        assert w.c("maturity", "bullet") == 6 and w.c("c_alive", "bullet")
        w.step()
        assert w.c("maturity", "bullet") == 5
    else:  # repaid from cash
        assert w.a("cash", "B") == approx(20.0 - 0.12 - 12.0)
        assert w.a("cash", "K") == approx(40.0 + 0.12 + 12.0)
        assert w.c("outstanding", "bullet") == 0.0 and not w.c("c_alive", "bullet")
    assert w.a("alive", "B")


def test_graded_refinancing_rolls_a_bullet_up_to_the_borrowers_capacity() -> None:
    """The refused case above with ``graded_refinancing`` on: B's capacity is 0.5 x its assets
    less its other debt (none), so the bank rolls that much and B repays the rest from cash."""
    w = Tiny([dict(name="B", sector="spv", cash=20.0, max_leverage=0.5), BANK],
             [loan("bullet", "B", "K", 12.0, 0.06, 2)],
             "regime.capital_requirement=0.105", "investment.refinance_term=6", "regime.deleveraging_speed=0",
             "channels.graded_refinancing=true")
    w.step(2)
    rolled = w.c("outstanding", "bullet")
    assert 0.0 < rolled < 12.0 and w.c("c_alive", "bullet") and w.c("maturity", "bullet") == 6
    assert w.a("cash", "B") == approx(20.0 - 0.12 - (12.0 - rolled))
    assert w.a("cash", "K") == approx(40.0 + 0.12 + (12.0 - rolled))
    # rolled to the capacity on the balance sheet the month starts with (its dues are set first)
    assert rolled == approx(0.5 * (20.0 - 0.06))  # 0.5 x assets (cash) as the month starts
    assert w.a("alive", "B")


@pytest.mark.parametrize("regulation", [True, False])
def test_a_bank_below_its_requirement_sheds_other_assets(regulation: bool) -> None:
    # K at a 25% requirement. Month 0: B pays 0.06 of interest, K's equity is 62.06 and its RWA
    # 312, which its equity supports only up to 62.06 / 0.25 = 248.24: K sells 5% (the regime's
    # speed) of the gap of 63.76 out of its other assets (risk weight 1), at the 5% loan-sale haircut.
    w = Tiny([dict(name="B", sector="spv", cash=20.0), BANK], [loan("bullet", "B", "K", 12.0, 0.06, 2)],
             "regime.capital_requirement=0.25", f"channels.bank_regulation={str(regulation).lower()}")
    w.step()
    equity = 62.0 + 0.06
    sold = 0.05 * (312.0 - equity / 0.25) if regulation else 0.0
    assert w.a("other_assets", "K") == approx(300.0 - sold)
    assert w.a("cash", "K") == approx(40.06 + 0.95 * sold)
    assert w.a("equity", "K") == approx(equity - 0.05 * sold)
    assert float(np.asarray(w.model.state.forced_sales)[0]) == approx(sold)
    assert w.a("capital_ratio", "K") == approx((equity - 0.05 * sold) / (312.0 - sold))
    assert w.ext_cash == approx(-0.95 * sold)  # the buyers of the loans are outside the web


# ------------------------------------------------------------------------------ leases, offtakes, backstops
def test_lease_payment_and_costs_on_contracted_revenue() -> None:
    # A pays S 0.5 a month for 2 months. S has no cash of its own and a 10% cost share on its
    # contracted revenue: 0.05 of costs, paid from the lease receipt in the same settlement.
    w = Tiny([dict(name="A", sector="ai_lab", cash=10.0), dict(name="S", sector="spv", cost_share=0.1)],
             [dict(name="lease", kind="lease", payer="A", payee="S", monthly=0.5, maturity=2)])
    for month in (1, 2):
        w.step()
        assert w.a("cash", "A") == approx(10.0 - 0.5 * month)
        assert w.a("equity", "A") == approx(10.0 - 0.5 * month)
        assert w.a("cash", "S") == approx(0.45 * month)
        assert w.a("equity", "S") == approx(0.45 * month)
        assert w.ext_cash == approx(0.05 * month)  # costs go to the external sector
    assert not w.c("c_alive", "lease")
    w.step()
    assert w.a("cash", "A") == approx(9.0) and w.a("cash", "S") == approx(0.9)


NEOCLOUD = dict(name="N", sector="neocloud", cash=1.0, gpu=30.0, capacity_yield=0.02, utilisation=0.5)


def test_offtake_payment_and_spot_sales_of_the_rest() -> None:
    # N has 30 of GPU book; the offtake's 0.3 a month commits 0.3 / 0.02 = 15 of it. The other
    # 15 earn 15 x 0.02 x price 1 = 0.3 gross on spot, sold at utilisation 0.5 x demand 1:
    # spot revenue 0.15. Depreciation 30 / 72. A pays the 0.3.
    # The exogenous rental price (the compute market switched off; the market-on case below).
    w = Tiny([dict(name="A", sector="ai_lab", cash=10.0), NEOCLOUD],
             [dict(name="offtake", kind="offtake", payer="A", payee="N", monthly=0.3, maturity=12)],
             "channels.compute_market=false")
    w.step()
    gpu1 = 30.0 - 30.0 / 72.0
    assert w.a("gpu", "N") == approx(gpu1)
    assert w.a("cash", "N") == approx(1.0 + 0.15 + 0.3)
    assert w.a("equity", "N") == approx(31.0 + 0.15 + 0.3 - 30.0 / 72.0)
    assert w.a("cash", "A") == approx(9.7)
    w.step()  # month 1: spare capacity is gpu1 - 15
    spot = (gpu1 - 15.0) * 0.02 * 0.5
    assert w.a("cash", "N") == approx(1.45 + spot + 0.3)
    assert w.a("gpu", "N") == approx(gpu1 - gpu1 / 72.0)
    assert w.ext_cash == approx(-(0.15 + spot))  # spot buyers are outside the web


def test_spot_sales_at_the_cleared_price_and_utilisation() -> None:
    # As above with the compute market on. Month 0: spare 15 is the month-0 supply, tau = 1,
    # spot 0.15. Month 1: depreciation shrank the spare capacity to gpu1 - 15 at the same demand:
    # tau = 15 / (gpu1 - 15) > 1, price tau^1 (neocloud pass-through), utilisation 0.5 x tau^0.5.
    w = Tiny([dict(name="A", sector="ai_lab", cash=10.0), NEOCLOUD],
             [dict(name="offtake", kind="offtake", payer="A", payee="N", monthly=0.3, maturity=12)],
             "channels.compute_market=true")
    w.step()
    assert w.a("cash", "N") == approx(1.0 + 0.15 + 0.3)
    gpu1 = 30.0 - 30.0 / 72.0
    w.step()
    tau = 15.0 / (gpu1 - 15.0)
    spot = (gpu1 - 15.0) * 0.02 * tau * min(0.95, 0.5 * tau ** 0.5)
    assert w.a("cash", "N") == approx(1.45 + spot + 0.3)
    assert np.asarray(w.model.state.tightness)[0, 0] == approx(tau)


@pytest.mark.parametrize(
    ("cap", "utilisation", "draw"),
    [
        (0.1, 0.5, 0.1),  # unsold capacity 15 x 0.02 x (1 - 0.5) = 0.15 > cap: the cap
        (0.5, 0.5, 0.15),  # cap above it: the unsold value
        (0.5, 1.0, 0.0),  # everything sells on spot: nothing to buy
    ],
)
def test_backstop_draw_is_min_of_cap_and_unsold_capacity(cap: float, utilisation: float, draw: float) -> None:
    w = Tiny([dict(name="W", sector="chipmaker", cash=10.0), dict(NEOCLOUD, utilisation=utilisation),
              dict(name="A", sector="ai_lab", cash=10.0)],
             [dict(name="offtake", kind="offtake", payer="A", payee="N", monthly=0.3, maturity=12),
              dict(name="backstop", kind="backstop", payer="W", payee="N", monthly=cap, maturity=12)],
             "channels.compute_market=false")  # utilisation as given (the market caps it at 0.95)
    w.step()
    spot = 15.0 * 0.02 * min(utilisation, 1.0)
    assert w.a("cash", "W") == approx(10.0 - draw)
    assert w.a("equity", "W") == approx(10.0 - draw)
    assert w.a("cash", "N") == approx(1.0 + spot + 0.3 + draw)


# ------------------------------------------------------------------------------ investment
def test_capex_paid_from_spare_cash_then_pro_rata_loans_then_equity() -> None:
    # P plans capex 4 x demand 1 x price 1 = 4 and has 2 of cash over a buffer of 1: internal 1,
    # need 3. Lenders offer lend_rate x spare cash: F 0.1 x (11 - 1) = 1, K 0.05 x (21 - 1) = 1.
    # Supply 2 < need 3: each facility lends 3 x 1 / max(3, 2) = 1. P raises the remaining
    # 1 up to its equity_raise 0.5: capex 3.5, all of it chipmaker C's revenue (cost share 30%).
    w = Tiny([dict(name="C", sector="chipmaker", chip_share=1.0, cost_share=0.3),
              dict(name="P", sector="neocloud", cash=2.0, capex=4.0, cash_buffer=1.0, equity_raise=0.5),
              dict(name="F", sector="private_credit", cash=11.0, cash_buffer=1.0, lend_rate=0.1),
              dict(name="K", sector="bank", cash=21.0, cash_buffer=1.0, lend_rate=0.05)],
             [], "investment.loan_term=60")
    w.step()
    facilities = ["capex facility P <- F", "capex facility P <- K"]
    rate = 0.04 + 0.03  # floating: base rate + P's spread (the schema default)
    # capital_pricing: the bank's facility also carries risk weight 1 x requirement 10.5% x 4%
    rate_k = rate + 1.0 * 0.105 * 0.04
    for f in facilities:  # lent 1, then the first month's interest and 1/60 of principal
        assert w.c("outstanding", f) == approx(1.0 - 1.0 / 60.0)
    service_f, service_k = 1.0 * rate / 12.0 + 1.0 / 60.0, 1.0 * rate_k / 12.0 + 1.0 / 60.0
    assert w.a("gpu", "P") == approx(3.5)
    assert w.a("cash", "P") == approx(1.0 - service_f - service_k)
    assert w.a("equity", "P") == approx(2.0 + 0.5 - (rate + rate_k) / 12.0)
    assert w.a("cash", "F") == approx(11.0 - 1.0 + service_f)
    assert w.a("cash", "K") == approx(21.0 - 1.0 + service_k)
    assert w.a("cash", "C") == approx(3.5 * 0.7)
    assert float(np.asarray(w.model.state.capex_cum)[0]) == approx(3.5)
    assert w.ext_cash == approx(-0.5 + 3.5 * 0.3)  # P's new shares bought, C's costs received


# ------------------------------------------------------------------------------ default and resolution
def _gpu_value(book: float, fire_sales: bool, recovery: float = 0.5) -> float:
    """What an estate gets for ``book`` of GPUs (life 72) sold alone in a month: recovery x book x
    price 1 x q 1 x min(1, 60 / 72), at the average price of the sale's impact on a market of
    depth 50 (exponential: (1 - exp(-x)) / x with x = book / 50) when fire sales are on."""
    x = book / 50.0
    impact = (1.0 - np.exp(-x)) / x if fire_sales else 1.0
    return recovery * book * (60.0 / 72.0) * impact


#: The recovery arithmetic below is by hand without default costs (Eisenberg-Noe); the test after
#: _default_world checks the Rogers-Veraart costs the defaults (0.97) add.
EISENBERG_NOE = ("clearing.alpha=1", "clearing.beta=1")


def _default_world(gpu: float, *overrides: str) -> Tiny:
    """D owes A 8 (bullet, due in month 0, not refinanced) and outside bondholders 4, buys 0.5 a
    month of capacity from S, and is 10% owned by H. With 1 of cash it cannot pay 8.56."""
    return Tiny(
        [dict(name="D", sector="ai_lab", cash=1.0, gpu=gpu, other_assets=2.0, other_liabilities=2.0),
         dict(name="A", sector="private_credit", cash=5.0),
         dict(name="S", sector="neocloud", cash=5.0),
         dict(name="H", sector="chipmaker")],
        [loan("A loan", "D", "A", 8.0, 0.06, 1, refinance=False),
         loan("bonds", "D", "external", 4.0, 0.06, 24),
         dict(name="offtake", kind="offtake", payer="D", payee="S", monthly=0.5, maturity=12),
         dict(name="stake", kind="equity", payer="D", payee="H", share=0.1)],
        "investment.recovery_gpu=0.5", "investment.recovery_other=0.7", *EISENBERG_NOE, *overrides,
    )


def test_default_costs_take_their_share_of_what_a_payer_in_default_holds() -> None:
    """Rogers-Veraart costs at the defaults (clearing.alpha = beta = 0.97): D, with 1 of cash and
    nothing owed to it, is illiquid in month 0; it passes on 0.97 of its cash pro rata to its
    8.56 of dues, and 0.03 goes to the external sector as the direct cost of its default."""
    costly = _default_world(20.0, "clearing.alpha=0.97", "clearing.beta=0.97")
    free = _default_world(20.0)
    costly.step()
    free.step()
    assert float(np.asarray(costly.model.state.default_costs)[0]) == approx(0.03)
    assert float(np.asarray(free.model.state.default_costs)[0]) == 0.0
    # D is insolvent either way (no surplus): what default destroyed is lost by those it owed --
    # its lenders' credit losses rise (the rest is the month's interest and offtake payments that
    # fall short, which are income, not claims)
    extra = sum(costly.credit_loss(c) - free.credit_loss(c) for c in ("A", None))
    assert 0.0 < extra <= 0.03 + 1e-12
    assert costly.credit_loss("A") > free.credit_loss("A")


@pytest.mark.parametrize("fire_sales", [True, False])
def test_default_with_pro_rata_recovery_ends_contracts(fire_sales: bool) -> None:
    w = _default_world(20.0, f"channels.fire_sales={str(fire_sales).lower()}")
    # D's equity before stakes: 1 + 20 + 2 - 2 - 12 = 9, so H's 10% is marked at 0.9
    assert w.c("outstanding", "stake") == approx(0.9)
    assert w.a("equity", "H") == approx(0.9)
    w.step()
    # month 0: D owes 8 + 0.04 interest to A, 0.02 to bondholders, 0.5 to S: 8.56, and pays
    # the same share r = 1 / 8.56 of each from its 1 of cash; it is illiquid and defaults.
    r = 1.0 / 8.56
    a_claim = 8.0 * (1.0 - r)  # what is left of A's loan after the partial principal
    # the estate: GPUs (after a month's depreciation) at 50% of their market value, other assets
    # at 70%, no cash left
    gpu = 20.0 - 20.0 / 72.0
    estate = _gpu_value(gpu, fire_sales) + 0.7 * 2.0
    claims = a_claim + 4.0 + 2.0  # A's loan, the bonds, other liabilities (all unsecured)
    R = estate / claims
    assert 0.0 < R < 1.0
    # the fire sale: the market index falls to exp(-sold / depth); the sale's loss against the
    # pre-sale market value is recorded
    q = np.exp(-gpu / 50.0) if fire_sales else 1.0
    assert float(np.asarray(w.model.state.q)[0]) == approx(q)
    loss = _gpu_value(gpu, False) - _gpu_value(gpu, fire_sales)
    assert float(np.asarray(w.model.state.fire_sale_loss)[0]) == approx(loss)
    assert (loss > 0) == fire_sales
    assert not w.a("alive", "D")
    assert w.a("default_month", "D") == 0 and w.a("default_cause", "D") == ILLIQUIDITY
    for f in ("cash", "securities", "gpu", "other_assets", "other_liab", "equity"):
        assert w.a(f, "D") == 0.0
    assert w.a("loss_caused", "D") == approx(claims * (1.0 - R))
    # A: paid r of its dues in settlement, then recovers R of the rest; loses (1 - R) of it
    assert w.a("cash", "A") == approx(5.0 + 8.04 * r + R * a_claim)
    assert w.credit_loss("A") == approx((1.0 - R) * a_claim)
    assert w.a("equity", "A") == approx(13.0 + 0.04 * r - (1.0 - R) * a_claim)
    assert w.credit_loss(None) == approx((1.0 - R) * 6.0)  # bondholders and other creditors
    # H's stake is written off (no surplus)
    assert w.a("equity", "H") == approx(0.0)
    assert w.c("outstanding", "stake") == 0.0
    # every contract of D ends
    for name in ("A loan", "bonds", "offtake", "stake"):
        assert not w.c("c_alive", name) and w.c("outstanding", name) == 0.0
    # S got r of its 0.5 this month, and nothing the next
    s_cash = 5.0 + 0.5 * r
    assert w.a("cash", "S") == approx(s_cash)
    w.step()
    assert w.a("cash", "S") == approx(s_cash)
    assert w.a("cash", "A") == approx(5.0 + 8.04 * r + R * a_claim)
    # cash is conserved with the external sector: it paid `estate` and received R of its claims
    total = sum(w.a("cash", x) for x in ("D", "A", "S", "H")) + w.ext_cash
    assert total == approx(6.0 + 5.0)


def test_without_contract_contagion_a_replacement_buyer_takes_over_the_offtake() -> None:
    # the same default with contract contagion off: D's offtake passes to the external sector on
    # the same terms, so S keeps its 0.5 a month; D's loans end as before and H's stake is
    # written off (stakes are not marked monthly, but a defaulted investee's still go)
    w = _default_world(20.0, "channels.contract_contagion=false")
    w.step()
    r = 1.0 / 8.56
    assert not w.a("alive", "D")
    assert w.c("c_alive", "offtake") and not w.c("c_alive", "A loan") and not w.c("c_alive", "bonds")
    assert w.c("outstanding", "stake") == 0.0 and w.a("equity", "H") == approx(0.0)
    s_cash, ext = w.a("cash", "S"), w.ext_cash
    assert s_cash == approx(5.0 + 0.5 * r)
    w.step()
    assert w.a("cash", "S") == approx(s_cash + 0.5)
    assert w.ext_cash == approx(ext - 0.5)  # the replacement buyer pays from outside


@pytest.mark.parametrize("fire_sales", [True, False])
def test_illiquid_but_solvent_default_pays_creditors_in_full_and_shareholders_the_surplus(
    fire_sales: bool,
) -> None:
    w = _default_world(60.0, f"channels.fire_sales={str(fire_sales).lower()}")
    mark = 0.1 * (1.0 + 60.0 + 2.0 - 2.0 - 12.0)  # 4.9
    assert w.c("outstanding", "stake") == approx(mark)
    w.step()
    r = 1.0 / 8.56
    a_claim = 8.0 * (1.0 - r)
    estate = _gpu_value(60.0 - 60.0 / 72.0, fire_sales) + 0.7 * 2.0
    surplus = estate - (a_claim + 6.0)
    assert surplus > 0
    assert not w.a("alive", "D")
    assert w.credit_loss("A") == 0.0 and w.credit_loss(None) == 0.0
    assert w.a("cash", "A") == approx(5.0 + 8.04 * r + a_claim)
    # H takes 10% of the surplus in cash; its stake (marked 4.9) is written off against it
    assert w.a("cash", "H") == approx(0.1 * surplus)
    assert w.a("equity", "H") == approx(mark + 0.1 * surplus - mark)
    # the stake's loss is the mark less the surplus share; the other 90% of the surplus goes to
    # D's outside shareholders
    stake_loss = float(np.asarray(w.model.state.stake_loss)[0])
    assert stake_loss == approx(max(mark - 0.1 * surplus, 0.0))


@pytest.mark.parametrize("fire_sales", [True, False])
def test_secured_lenders_recover_first_from_the_gpu_proceeds(fire_sales: bool) -> None:
    # D owes S 20 secured on its GPUs (due later) and U 10 unsecured, due now and not rolled; with
    # 0.5 of cash it pays U 5% of its 10 and defaults. Its 30 of GPUs (29.58 after depreciation)
    # fetch less than S's 20: S takes all of the GPU proceeds, r_s = proceeds / 20 < 1, and its
    # deficiency joins U's claim against the rest of the estate (70% of the other assets of 4).
    w = Tiny([dict(name="D", sector="neocloud", cash=0.5, gpu=30.0, other_assets=4.0),
              dict(name="S", sector="private_credit", cash=1.0), dict(name="U", sector="private_credit", cash=1.0)],
             [loan("secured", "D", "S", 20.0, 0.0, 12, secured=True),
              loan("unsecured", "D", "U", 10.0, 0.0, 1, refinance=False)],
             "investment.recovery_gpu=0.5", "investment.recovery_other=0.7", *EISENBERG_NOE,
             f"channels.fire_sales={str(fire_sales).lower()}")
    w.step()
    assert not w.a("alive", "D")
    proceeds = _gpu_value(30.0 - 30.0 / 72.0, fire_sales)
    r_s = proceeds / 20.0
    assert 0.0 < r_s < 1.0
    u_claim = 10.0 * (1.0 - 0.5 / 10.0)  # 9.5
    pool = 0.7 * 4.0  # the GPU proceeds are all S's
    R = pool / (u_claim + (1.0 - r_s) * 20.0)
    s_recovers = 20.0 * (r_s + (1.0 - r_s) * R)
    assert w.a("cash", "S") == approx(1.0 + s_recovers)
    assert w.credit_loss("S") == approx(20.0 - s_recovers)
    assert w.a("cash", "U") == approx(1.0 + 0.5 + R * u_claim)
    assert w.credit_loss("U") == approx((1.0 - R) * u_claim)
    # with equal seniority S would have recovered only the pool's average rate
    equal = (proceeds + pool) / (20.0 + u_claim)
    assert s_recovers > 20.0 * equal


def test_a_defaulted_lenders_loans_pay_the_external_sector() -> None:
    # A lends 10 to B and owes outside creditors a bullet of 20 due now, with 1 of cash: it
    # defaults. B's loan goes on, owned by the external sector: B's interest is paid outside.
    w = Tiny([dict(name="A", sector="private_credit", cash=1.0, other_assets=30.0),
              dict(name="B", sector="spv", cash=50.0)],
             [loan("B loan", "B", "A", 10.0, 0.12, 24),
              loan("A debt", "A", "external", 20.0, 0.0, 1, refinance=False)])
    w.step()
    assert not w.a("alive", "A")
    assert w.c("c_alive", "B loan") and w.c("outstanding", "B loan") == approx(10.0)
    ext = w.ext_cash
    w.step()
    assert w.a("cash", "B") == approx(50.0 - 0.2)
    assert w.ext_cash == approx(ext + 0.1)  # 10 x 12% / 12
