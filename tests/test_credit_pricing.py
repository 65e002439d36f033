"""Credit pricing (aisim.kernels.credit_pricing, channel ``credit_pricing``): distance to default,
spreads by grade, floating resets, graded refinancing, and rates that matter for defaults."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from aisim import channels
from aisim.kernels import credit_pricing as cp
from aisim.kernels.state import BULLET, LOAN
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

P = cp.CreditPricingParams()
TABLE = cp.grade_table(P)


def dd(assets: float, short: float, long: float, sigma: float, r: float = 0.04) -> float:
    a = np.array([[assets]])
    return float(cp.distance_to_default(np, a, np.array([[short]]), np.array([[long]]), np.array([sigma]),
                                        np.array([r]))[0, 0])


def test_dd_falls_with_leverage_and_volatility() -> None:
    lev = [dd(100.0, s, 40.0, 0.3) for s in (5.0, 20.0, 40.0, 60.0)]
    assert all(b < a for a, b in zip(lev, lev[1:], strict=False))
    vol = [dd(100.0, 20.0, 40.0, s) for s in (0.1, 0.2, 0.4, 0.8)]
    assert all(b < a for a, b in zip(vol, vol[1:], strict=False))
    # the KMV default point: short-term debt counts in full, long-term liabilities by half
    assert dd(100.0, 20.0, 0.0, 0.3) == pytest.approx(dd(100.0, 0.0, 40.0, 0.3))
    # the formula itself
    assert dd(100.0, 20.0, 40.0, 0.3, 0.04) == pytest.approx((math.log(100 / 40) + 0.04 - 0.045) / 0.3)
    assert dd(100.0, 0.0, 0.0, 0.3) == math.inf and dd(0.0, 1.0, 0.0, 0.3) == -math.inf


def test_spreads_ordered_by_grade_and_through_the_anchors() -> None:
    anchors, logs = TABLE
    at = cp.spread(np, np.array([anchors]), TABLE, P.max_spread)[0]
    assert np.allclose(at, np.exp(logs), rtol=1e-12)
    assert all(b > a for a, b in zip(at, at[1:], strict=False))  # AAA < AA < ... < CCC
    grid = np.linspace(-3.0, 6.0, 500)[::-1]
    s = cp.spread(np, grid[None, :], TABLE, P.max_spread)[0]
    assert np.all(np.diff(s) >= 0.0) and s[0] == pytest.approx(P.spread_aaa) and s[-1] == pytest.approx(P.max_spread)
    assert cp.grade_of(float(anchors[3]), TABLE) == "BBB"
    # N(-DD) at a grade's anchor is its one-year default rate
    assert 0.5 * math.erfc(anchors[4] / math.sqrt(2)) == pytest.approx(P.pd_bb)


def test_unordered_grades_and_missing_sector_volatility_are_errors() -> None:
    with pytest.raises(ValueError, match="rise strictly"):
        cp.grade_table(replace(P, spread_bb=0.5))
    with pytest.raises(ValueError, match="credit_pricing.sigma_quantum_cloud"):
        cp.sector_sigma(P, ["neocloud", "quantum_cloud"])


def test_roll_share_is_logistic_in_dd() -> None:
    x = np.array([[-1.0, P.roll_dd_mid, 2.0, 4.0]])
    r = cp.roll_share(np, x, P.roll_dd_mid, P.roll_dd_scale)[0]
    assert r[1] == pytest.approx(0.5) and np.all(np.diff(r) > 0) and r[-1] > 0.99 and r[0] < 0.01


def _model(*over: str) -> AIFinanceModel:
    cfg = make_cfg("calibration=mini", "paths.n=2", "horizon=12", "backend=numpy", "output.progress=false",
                   "channels.credit_pricing=true", *over)
    return AIFinanceModel(cfg, None, np.arange(2), np)


def test_floating_coupons_move_with_base_rate_and_spread_fixed_do_not() -> None:
    m = _model()
    m.step()
    s = m.state
    book = m.book
    loan = book.kind == LOAN
    floating = np.flatnonzero(loan & book.floating)
    fixed = np.flatnonzero(loan & ~book.floating)
    assert floating.size and fixed.size
    s1, _ = channels._credit_rates(m, s.replace(month=1), None)
    s2, _ = channels._credit_rates(m, s.replace(month=1, base_rate=s.base_rate + 0.02), None)
    # the base rate passes through one for one, plus the move of the borrower's spread (r is in the DD drift)
    moved = (s2.spread - s1.spread)[:, book.payer[floating]]
    assert np.allclose(s2.rate[:, floating] - s1.rate[:, floating], 0.02 + moved, rtol=0, atol=1e-12)
    assert np.array_equal(s2.rate[:, fixed], s1.rate[:, fixed])
    # more leverage on a borrower of a floating loan: its spread and that loan's rate rise by the same
    k = int(floating[0])
    b = int(book.payer[k])
    heavier = s.replace(month=1, other_liab=s.other_liab + np.eye(1, s.cash.shape[1], b) * 0.5 * s.gpu[0, b])
    s3, _ = channels._credit_rates(m, heavier, None)
    up = s3.spread[:, b] - s1.spread[:, b]
    assert np.all(up > 0)
    assert np.allclose(s3.rate[:, k] - s1.rate[:, k], up)
    assert np.array_equal(s3.rate[:, fixed], s1.rate[:, fixed])


def test_graded_roll_leaves_the_rest_due() -> None:
    m = _model()
    m.step()
    s = m.state
    book = m.book
    bullets = (book.kind == LOAN) & (book.amort == BULLET) & book.refinance
    assert bullets.any()
    maturity = np.where(bullets[None, :], 1, s.maturity)
    s = s.replace(maturity=maturity)
    ok = np.ones_like(s.c_alive)
    from aisim.kernels import contracts

    dues = contracts.scheduled_dues(np, book, s, np.zeros_like(s.cash), s.gpu, ok)
    graded = channels._graded_rolls(m, dues, s)
    share = cp.roll_share(np, channels._credit_dd(m, s), P.roll_dd_mid, P.roll_dd_scale)
    k = np.flatnonzero(bullets & dues.refinanced[0])
    assert k.size
    expect = (1.0 - share[:, book.payer[k]]) * s.outstanding[:, k]
    assert np.allclose(graded.principal[:, k], expect)
    # a borrower with a low DD: most of the bullet falls due
    worse = s.replace(other_liab=3.0 * m.balance(s)["assets"])
    low = channels._graded_rolls(m, dues, worse)
    assert np.all(low.principal[:, k] > 0.99 * s.outstanding[:, k])


def _debt_service_and_defaults(scenario: str, paths: int = 24, months: int = 48) -> tuple[float, int]:
    cfg = make_cfg(f"scenario={scenario}", f"paths.n={paths}", f"horizon={months}", "backend=numpy",
                   "output.progress=false")
    m = AIFinanceModel(cfg, None, np.arange(paths), np)
    service = 0.0
    for _ in range(months):
        m.step()
        service += float(np.sum(m.context.dues.interest))
    return service, int(np.sum(~m.state.alive))


def test_rate_shock_raises_debt_service() -> None:
    """Issue 9's done-when, first half: raising rates raises debt service (common random numbers:
    the same seed and paths under both scenarios)."""
    base, shock = _debt_service_and_defaults("baseline"), _debt_service_and_defaults("rate_shock")
    assert shock[0] > base[0] * 1.1


def test_rate_shock_raises_defaults() -> None:
    """Issue 9's done-when, second half: raising rates raises defaults (common random numbers).
    Through floating coupons (credit_pricing) and GPU collateral discounted at the rate
    (rate_discounting): +200bp lowers collateral values ~4.5%, so LTV covenants bind sooner. Over
    the default 60 months: the baseline's defaults are few before the 2029-30 debt wall."""
    base = _debt_service_and_defaults("baseline", paths=100, months=60)
    shock = _debt_service_and_defaults("rate_shock", paths=100, months=60)
    assert shock[1] > base[1]


def test_discounted_collateral_falls_as_rates_rise() -> None:
    from aisim.kernels import discounting

    r = np.array([0.0375, 0.0575, 0.0175])
    f = discounting.collateral_factor(np, r, np.zeros(3), 0.0375, 60.0, 0.05)
    assert f[0] == pytest.approx(1.0) and f[1] < 1.0 < f[2]
    assert 0.94 < f[1] < 0.97  # duration ~2.3 years on a 60-month annuity at ~9%
    y = 0.09 / 12
    assert discounting.annuity(np, np.array([0.09]), 60.0)[0] == pytest.approx((1 - (1 + y) ** -60) / y)
    assert discounting.annuity(np, np.array([0.0]), 60.0)[0] == 60.0
