"""Asset-based SPV facilities (channel ``asset_facilities``, aisim.kernels.asset_facilities): banks'
non-recourse back-leverage on funds' AI loans, the mechanism by which AI losses reach banks
through back-leverage.

The waterfall and the draws on hand-made arrays, exactly as the module's equations say; the
contract's validation; then the real default config (ai_2025, its 60-month horizon, 100 paths)
in severe and the baseline, the channel on and off.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest

from aisim.kernels import asset_facilities as af
from aisim.kernels.state import LOAN
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg
from tests.test_inputs import SMALL, rejection

PATHS = 100
A = 0.6


def _waterfall(facility: float, pool: float, recovered: float, cash: float, buffer: float) -> list[float]:
    out = af.waterfall(np, *(np.array([[x]]) for x in (facility, pool, recovered, cash, buffer)), A)
    return [float(x[0, 0]) for x in out]


def test_below_the_base_the_fund_draws_up_to_it() -> None:
    assert _waterfall(0.0, 10.0, 0.0, 5.0, 1.0) == [0.0, 0.0, 0.0, pytest.approx(A * 10.0)]
    assert _waterfall(4.0, 10.0, 0.0, 5.0, 1.0) == [0.0, 0.0, 0.0, pytest.approx(A * 10.0 - 4.0)]


def test_a_borrowing_base_deficiency_is_cured_from_cash_above_the_buffer() -> None:
    # F 8 over a base of 6: cure 2 out of 4 spare
    assert _waterfall(8.0, 10.0, 0.0, 5.0, 1.0) == [0.0, 0.0, pytest.approx(2.0), 0.0]
    # only 1 above the buffer: the deficiency is cured in part, the rest stays
    assert _waterfall(8.0, 10.0, 0.0, 2.0, 1.0) == [0.0, 0.0, pytest.approx(1.0), 0.0]
    assert _waterfall(8.0, 10.0, 0.0, 0.5, 1.0) == [0.0, 0.0, 0.0, 0.0]  # nothing above the buffer


def test_recoveries_sweep_first_and_the_bank_writes_off_what_the_facility_exceeds_of_the_pool() -> None:
    # a pool of 10 at F = 6; a borrower owing 7 defaults and recovers 1: pool left 3
    sweep, write_off, cure, want = _waterfall(6.0, 3.0, 1.0, 4.0, 1.0)
    assert sweep == 1.0  # S = min(R, F)
    assert write_off == pytest.approx(6.0 - 1.0 - 3.0)  # W = F - S - P
    # F1 = P = 3 against a base of 1.8: cure min(1.2, cash - S - buffer = 2)
    assert cure == pytest.approx(3.0 - A * 3.0) and want == 0.0
    # recoveries beyond the facility repay it in full; no write-off
    assert _waterfall(2.0, 0.5, 3.0, 4.0, 1.0)[:2] == [2.0, 0.0]
    # a pool wiped out with nothing recovered: the whole facility is the bank's loss
    assert _waterfall(6.0, 0.0, 0.0, 0.0, 1.0) == [0.0, 6.0, 0.0, 0.0]


def test_draws_split_over_a_funds_healthy_facilities_and_within_each_banks_spare_cash() -> None:
    # agents: fund 0, fund 1, bank 2, bank 3; facilities 0->2, 0->3, 1->2
    book = SimpleNamespace(n_agents=4, kind=np.full(3, LOAN), payer=np.array([0, 0, 1]), payee=np.array([2, 3, 2]),
                           asset_line=np.ones(3, dtype=bool))
    s = SimpleNamespace(c_alive=np.ones((1, 3), dtype=bool), alive=np.ones((1, 4), dtype=bool))
    want = np.array([[4.0, 3.0, 0.0, 0.0]])
    spare = np.array([[0.0, 0.0, 2.5, 10.0]])
    ok = np.ones((1, 4), dtype=bool)
    drawn = af.draws(np, book, s, want, ok, spare)[0]
    # bank 2 is asked 2 + 3 = 5 and has 2.5: half of each; bank 3 pays its 2 in full
    assert drawn == pytest.approx([1.0, 2.0, 1.5])
    ok[0, 3] = False  # bank 3 fails its lender tests: fund 0 asks bank 2 for all 4
    drawn = af.draws(np, book, s, want, ok, spare)[0]
    assert drawn == pytest.approx([2.5 * 4.0 / 7.0, 0.0, 2.5 * 3.0 / 7.0])


def test_an_asset_facility_that_is_not_a_banks_loan_to_a_fund_is_refused_naming_the_key() -> None:
    line = rejection(*SMALL, "calibration.contracts.18.facility=assets")
    assert line.startswith("calibration.contracts[18].facility"), line
    line = rejection(*SMALL, "calibration.contracts.0.facility=asset")  # CoreWeave's DDTL: a fund's loan out
    assert line.startswith("calibration.contracts[0] (CoreWeave DDTL).facility='asset'"), line


# --------------------------------------------------------------------------- the real config
@functools.cache
def _run(scenario: str, *overrides: str) -> dict:
    cfg = make_cfg(f"paths.n={PATHS}", f"scenario={scenario}", "backend=numpy", "output.progress=false", *overrides)
    m = AIFinanceModel(cfg, None, np.arange(PATHS), np)
    banks = np.asarray(m.params.is_bank)
    borne = np.zeros(PATHS)  # banks' (and the external's, for a dead bank) credit losses booked by the channel

    def wrap(hook):  # measure what the after_resolution hooks add to lenders' credit losses
        def measured(model, s, ctx):
            out, ctx = hook(model, s, ctx)
            gained = np.asarray(out.credit_loss) - np.asarray(s.credit_loss)
            borne[:] += gained[:, :-1][:, banks].sum(axis=1) + gained[:, -1]
            return out, ctx
        return measured

    m.hooks["after_resolution"] = [wrap(h) for h in m.hooks["after_resolution"]]
    lines = np.asarray(m.book.asset_line)
    peak = np.zeros(PATHS)
    for _ in range(int(cfg.horizon)):
        m.step()
        peak = np.maximum(peak, np.asarray(m.state.outstanding)[:, lines].sum(axis=1))
    s = m.state
    return {"facility_loss": np.asarray(s.facility_loss), "line_loss": np.asarray(s.line_loss), "borne": borne,
            "peak": peak, "bank_losses": np.asarray(s.credit_loss)[:, :-1][:, banks].sum(axis=1)}


def test_in_severe_banks_lose_on_asset_facilities_and_it_shows_in_their_credit_losses() -> None:
    r = _run("severe")
    assert (r["peak"] > 0).all()  # the funds draw on their facilities
    assert (r["facility_loss"] > 0).any()
    assert np.all(r["line_loss"] >= r["facility_loss"] - 1e-12)  # counted in line_loss
    # every write-off is a lender's credit loss the same month, and only write-offs are
    np.testing.assert_allclose(r["borne"], r["facility_loss"], rtol=1e-9, atol=1e-12)
    assert np.all(r["bank_losses"] >= r["facility_loss"] - 1e-9)


def test_in_the_baseline_banks_lose_less_on_asset_facilities() -> None:
    severe, base = _run("severe"), _run("baseline")
    assert base["facility_loss"].mean() < severe["facility_loss"].mean()
    assert (base["facility_loss"] > 0).mean() < (severe["facility_loss"] > 0).mean()


def test_with_the_channel_off_there_are_no_facility_draws_or_losses() -> None:
    r = _run("severe", "channels.asset_facilities=false")
    assert (r["peak"] == 0).all() and (r["facility_loss"] == 0).all() and (r["borne"] == 0).all()
