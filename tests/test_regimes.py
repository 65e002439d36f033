"""Regime and scenario files: every one composes, runs, changes only its own node, and does what
its header says where the model already reacts (exogenous paths, risk weights)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from aisim.kernels.state import NEVER, OFFTAKE
from aisim.runner import run
from aisim.world import build_world
from tests.conftest import CONF
from tests.conftest import make_cfg as _make_cfg

REGIMES = ["light_touch_2025", "basel3_endgame", "nbfi_oversight", "spv_transparency", "gpu_collateral_rules",
           "macroprudential"]
SCENARIOS = ["baseline", "ai_winter", "gpu_glut", "rate_shock", "anchor_exit", "lab_funding_gap", "severe"]
SMALL = ("calibration=mini", "paths.n=64", "horizon=18", "backend=numpy", "output.progress=false")


@functools.cache
def make_cfg(*overrides: str):
    """The composed config, cached: composing takes ~0.5 s and these tests only read it."""
    return _make_cfg(*overrides)


def files(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def without(cfg, key: str) -> dict:
    d = OmegaConf.to_container(cfg, resolve=True)
    d.pop(key)
    return d


def test_the_shipped_regimes_and_scenarios_are_these() -> None:
    assert files("regime") == sorted(REGIMES)
    assert files("scenario") == sorted(SCENARIOS)
    assert make_cfg(*SMALL).regime.name == "light_touch_2025"  # the default


@pytest.mark.parametrize("name", REGIMES)
def test_regime_file_composes_runs_and_touches_only_the_regime(name: str) -> None:
    text = (CONF / "regime" / f"{name}.yaml").read_text()
    assert text.startswith(f"# {name} --"), "each file opens with a comment saying what it represents"
    cfg = make_cfg(*SMALL, f"regime={name}")
    assert cfg.regime.name == name
    assert without(cfg, "regime") == without(make_cfg(*SMALL), "regime")
    res = run(cfg, None, progress=False).results
    assert res.manifest["regime"] == name
    assert len(res.paths) == 64 and res.manifest["max_identity_residual"] < 1e-9


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_file_composes_runs_and_touches_only_the_scenario(name: str) -> None:
    text = (CONF / "scenario" / f"{name}.yaml").read_text()
    assert text.startswith("#")
    cfg = make_cfg(*SMALL, f"scenario={name}")
    assert cfg.scenario.name == name
    assert without(cfg, "scenario") == without(make_cfg(*SMALL), "scenario")
    res = run(cfg, None, progress=False).results
    assert res.manifest["scenario"] == name
    assert len(res.paths) == 64 and res.manifest["max_identity_residual"] < 1e-9


@pytest.fixture(scope="module")
def scenario_runs() -> dict:
    return {s: run(make_cfg(*SMALL, f"scenario={s}"), None, progress=False).results
            for s in ("baseline", "ai_winter", "gpu_glut", "rate_shock", "severe")}


def test_ai_winter_and_severe_stall_demand_from_month_12(scenario_runs: dict) -> None:
    base = scenario_runs["baseline"]
    for s in ("ai_winter", "severe"):
        r = scenario_runs[s]
        # same draws (same seed): identical demand to month 11, lower on every path after
        ts_b = base.timeseries.query("metric == 'demand'").set_index("month")["mean"]
        ts_s = r.timeseries.query("metric == 'demand'").set_index("month")["mean"]
        np.testing.assert_array_equal(ts_s.loc[:11].to_numpy(), ts_b.loc[:11].to_numpy())
        assert (r.paths["final_demand"] < base.paths["final_demand"]).all()


def test_gpu_glut_and_severe_lower_the_rental_price_on_every_path(scenario_runs: dict) -> None:
    base = scenario_runs["baseline"].paths["final_rental_price"]
    for s in ("gpu_glut", "severe"):
        ratio = scenario_runs[s].paths["final_rental_price"] / base
        # drift -0.05 instead of -0.015 a month for 18 months on the same shocks: ~exp(-0.63) = 0.53
        assert (ratio < 0.6).all()


def test_rate_shock_and_severe_add_200bp_that_persist(scenario_runs: dict) -> None:
    def rate(s: str):
        return scenario_runs[s].timeseries.query("metric == 'base_rate'").set_index("month")["mean"]

    for s in ("rate_shock", "severe"):
        d = rate(s) - rate("baseline")
        assert 0.019 < d.loc[0] < 0.023  # the jump (plus one month of reversion toward the new mean)
        assert d.iloc[-1] > 0.018  # the mean moved too, so the shock does not melt away


@pytest.mark.parametrize("scenario", ["anchor_exit", "severe"])
def test_anchor_exit_ends_every_offtake_bought_by_microsoft_at_month_6(scenario: str) -> None:
    cfg = make_cfg(*SMALL, f"scenario={scenario}")
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits))
    c = world.contracts
    msft = world.column("Microsoft")
    offtake = c["kind"][: world.n_calibrated] == OFFTAKE
    bought = offtake & (c["payer"][: world.n_calibrated] == msft)
    assert bought.any()
    assert (c["exit_month"][: world.n_calibrated][bought] == 6).all()
    assert (c["exit_month"][: world.n_calibrated][offtake & ~bought] == NEVER).all()


def test_rate_shock_moves_the_baseline_mean_by_200bp() -> None:
    # YAML cannot add, so rate_shock (and severe) write the shifted mean out; keep it in step
    base = make_cfg(*SMALL).scenario.base_rate.mean
    for s in ("rate_shock", "severe"):
        assert make_cfg(*SMALL, f"scenario={s}").scenario.base_rate.mean == pytest.approx(base + 0.02)


def test_severe_repeats_the_single_scenarios_shocks() -> None:
    severe = make_cfg(*SMALL, "scenario=severe").scenario

    def sc(name: str):
        return make_cfg(*SMALL, f"scenario={name}").scenario

    assert severe.demand.drift_changes == sc("ai_winter").demand.drift_changes
    assert severe.rental_price.drift == sc("gpu_glut").rental_price.drift
    assert severe.base_rate == sc("rate_shock").base_rate
    assert severe.offtake_exits == sc("anchor_exit").offtake_exits
    gap = sc("lab_funding_gap")
    for key in ("equity_freeze_sectors", "equity_freeze_from", "equity_freeze_months"):
        assert severe[key] == gap[key]


def test_lab_funding_gap_freezes_ai_lab_equity_for_a_year() -> None:
    for s in ("lab_funding_gap", "severe"):
        sc = make_cfg(*SMALL, f"scenario={s}").scenario
        assert list(sc.equity_freeze_sectors) == ["ai_lab"]
        assert (sc.equity_freeze_from, sc.equity_freeze_months) == (0, 12)


def test_basel3_risk_weights_lower_the_bank_capital_ratio_on_every_path() -> None:
    light = run(make_cfg(*SMALL), None, progress=False).results.paths
    basel = run(make_cfg(*SMALL, "regime=basel3_endgame"), None, progress=False).results.paths
    assert (basel["min_bank_capital_ratio"] < light["min_bank_capital_ratio"]).all()


def _strictness(r) -> dict[str, float]:
    """Each regulatory parameter oriented so that larger is stricter (0 = no rule where it means so)."""
    inf = float("inf")
    life = float(r.gpu_valuation_life_months) or 1e9
    return {
        "capital_requirement": r.capital_requirement,
        "countercyclical_buffer": r.countercyclical_buffer,
        **{f"rw.{k}": float(v) for k, v in r.risk_weights.items()},
        "leverage_requirement": r.leverage_requirement,
        "large_exposure_limit": -r.large_exposure_limit,
        "ai_concentration_limit": -(r.ai_concentration_limit or inf),
        "fund_leverage_cap": -(r.fund_leverage_cap or inf),
        "fund_liquidity_buffer": r.fund_liquidity_buffer,
        "fund_redemption_gate": -r.fund_redemption_gate,
        "spv_consolidation": float(r.spv_consolidation),
        "rating_based_weights": float(r.rating_based_weights),
        "gpu_haircut_floor": r.gpu_haircut_floor,
        "gpu_valuation_life_months": -life,
        "gpu_ltv_cap": -(r.gpu_ltv_cap or inf),
    }


def test_macroprudential_is_at_least_as_strict_as_every_other_regime() -> None:
    macro = _strictness(make_cfg(*SMALL, "regime=macroprudential").regime)
    for name in REGIMES:
        other = _strictness(make_cfg(*SMALL, f"regime={name}").regime)
        looser = [k for k in macro if macro[k] < other[k]]
        assert not looser, f"macroprudential is looser than {name} on {looser}"


def test_the_circular_financing_experiment_addresses_the_right_contracts() -> None:
    cfg = make_cfg("+experiment=circular_financing")
    assert cfg.calibration.name == "mini"
    assert cfg.calibration.contracts[13].name == "Nvidia-CoreWeave backstop"
    assert cfg.calibration.contracts[14].name == "Nvidia stake in CoreWeave"
    text = (CONF / "experiment" / "circular_financing.yaml").read_text()
    assert "calibration.contracts.13.monthly" in text and "calibration.contracts.14.share" in text


def test_every_experiment_has_a_readme_and_a_run_with_line() -> None:
    root = Path(__file__).resolve().parents[1]
    for f in (CONF / "experiment").glob("*.yaml"):
        text = f.read_text()
        assert text.startswith("# @package _global_")
        assert "run with:" in text
        assert (root / "experiments" / f.stem / "README.md").is_file()


# --------------------------------------------------------------------------- regimes: what binds
# Shrunken but real: the ai_2025 calibration, 100 paths, the default 60-month horizon.
REAL = ("paths.n=100", "backend=numpy", "output.progress=false")


@functools.cache
def real_paths(regime: str, scenario: str, *extra: str):
    return run(make_cfg(*REAL, f"regime={regime}", f"scenario={scenario}", *extra), None, progress=False).results.paths


def paired(regime: str, ref: str, scenario: str, metric: str, *extra: str) -> tuple[float, float, float]:
    """Mean paired difference of ``metric`` (regime - ref) over paths and its 95% interval."""
    d = real_paths(regime, scenario, *extra)[metric].to_numpy() - real_paths(ref, scenario, *extra)[metric].to_numpy()
    h = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - h, d.mean() + h


def test_spv_transparency_binds_within_the_horizon() -> None:
    """The consolidated, marked Hyperion guarantee (due at month 48, inside the 60-month horizon)
    and the hyperscalers' JV debt, consolidated into their leverage tests, change AI capex in the
    baseline with a paired interval that excludes zero (-131B at 500 paths: Oracle, at its limit,
    cannot roll its month-48 construction loan on 39% of paths; docs/economics.md "Regimes: what
    binds")."""
    assert make_cfg(*REAL).horizon > 48
    _, lo, hi = paired("spv_transparency", "light_touch_2025", "baseline", "ai_capex")
    assert lo > 0 or hi < 0
    # and under light_touch_2025 (no consolidation) the marks do nothing, to the bit
    assert real_paths("light_touch_2025", "baseline").equals(
        real_paths("light_touch_2025", "baseline", "channels.spv_marks=false"))


@pytest.mark.xfail(strict=True, reason="since compute providers refill their cash buffer before discretionary capex "
                   "(funding.capex_equity) baseline losses are 3.3B, not 14B (300 paths), and the rules' cut is within "
                   "the noise: -4.6 [-10.6, +1.5]B at 100 paths, -2.0 [-4.0, +0.1]B at 300 (neocloud 5-year PDs "
                   "3.7/3.7/3.3/9.3% -> 1.3/1.7/0.3/7.3%)")
def test_gpu_collateral_rules_prevent_losses_in_the_baseline() -> None:
    _, lo, hi = paired("gpu_collateral_rules", "light_touch_2025", "baseline", "credit_losses")
    assert hi < 0  # prevents neocloud losses in the baseline


def test_gpu_collateral_rules_can_cost_investment() -> None:
    _, lo, hi = paired("gpu_collateral_rules", "light_touch_2025", "severe", "ai_capex")
    assert hi < 0  # costs investment in severe: not a free lunch everywhere


def test_macroprudential_differs_from_the_best_of_its_parts() -> None:
    # its own tools (a buffer on top of Basel risk weights) make banks deleverage beyond what
    # gpu_collateral_rules, the part that prevents the losses, does
    _, lo, _ = paired("macroprudential", "gpu_collateral_rules", "severe", "forced_sales")
    assert lo > 0
    _, lo, hi = paired("macroprudential", "light_touch_2025", "severe", "ai_capex")
    assert hi < 0


def test_the_countercyclical_buffer_builds_from_zero_and_is_released_in_severe() -> None:
    import numpy as _np

    from aisim.model import AIFinanceModel

    levels = {}
    for scenario in ("baseline", "severe"):
        cfg = make_cfg(*REAL, "paths.n=40", "horizon=24", "regime=macroprudential", f"scenario={scenario}")
        m = AIFinanceModel(cfg, None, _np.arange(40), _np)
        seen = [m.state.ccyb.copy()]
        for _ in range(24):
            m.step()
            seen.append(m.state.ccyb.copy())
        levels[scenario] = _np.array(seen)
    for lv in levels.values():
        assert (lv[0] == 0.0).all()  # announced at month 0, not in force
        assert (_np.diff(lv, axis=0) <= 0.025 / 12 + 1e-15).all()  # builds at most 1/12 a month
    assert (levels["baseline"][12:] == 0.025).mean() > 0.5  # calm paths reach the full 2.5% in a year
    assert (levels["severe"][8:] == 0.0).mean() > 0.5  # released on most paths once stress sets in


def test_releasing_the_buffer_spares_banks_forced_sales_in_severe() -> None:
    _, _, hi = paired("macroprudential", "macroprudential", "severe", "forced_sales")  # sanity: zero with itself
    assert hi == 0.0
    d = (real_paths("macroprudential", "severe")["forced_sales"].to_numpy()
         - real_paths("macroprudential", "severe", "regime.release_buffer_in_stress=false")["forced_sales"].to_numpy())
    assert d.mean() + 1.96 * d.std(ddof=1) / np.sqrt(len(d)) < 0


def test_clearing_matters_only_through_default_costs_on_the_shipped_web() -> None:
    # With alpha = beta = 1 the clearing vector is unique where every agent has outside assets
    # (Eisenberg and Noe 2001, Theorem 2), so the greatest clearing vector (on) and the monotone
    # iteration from below (off) agree up to rounding, in a scenario with illiquidity defaults.
    en = real_paths("light_touch_2025", "severe", "clearing.alpha=1", "clearing.beta=1")
    off = real_paths("light_touch_2025", "severe", "channels.clearing=false")
    assert en["defaults_illiquidity"].mean() > 1
    np.testing.assert_allclose(off["credit_losses"], en["credit_losses"], rtol=1e-9, atol=1e-9)
    # the default Rogers-Veraart costs (alpha = beta = 0.97) make the clearing vector matter:
    # default destroys value, which creditors lose
    rv = real_paths("light_touch_2025", "severe")
    assert rv["default_costs"].mean() > 0.01 and (off["default_costs"] == 0).all()
    d = rv["credit_losses"] - en["credit_losses"]
    assert d.abs().max() > 1e-3 and d.mean() > 0
