"""The input contract (issue 14): every key checked against the schema, every float finite, every
parameter with a documented range; the identity residual NaN-aware and scaled by the books; result
files that follow the umask; the work estimate before a large run."""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np
import pytest

from aisim import estimate, quality, results
from aisim.cli import error_line, note_once
from aisim.kernels.accounting import identity_residual
from aisim.kernels.backend import resolve
from aisim.kernels.params import param, spec_of
from aisim.kernels.state import AgentParams
from aisim.model import AIFinanceModel
from aisim.runner import run
from aisim.schema import (
    ENTITY_BALANCE_FIELDS,
    ENTITY_PARAM_FIELDS,
    HORIZON_MAX,
    Config,
    ConfigError,
    parameters_markdown,
    validate,
)
from aisim.world import BALANCE_FIELDS, PARAM_FIELDS, build_world
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("calibration=mini", "paths.n=4", "horizon=6", "backend=numpy", "output.progress=false")


def rejection(*overrides: str) -> str:
    """The one line a user would see for these overrides (composition or validation)."""
    try:
        validate(make_cfg(*overrides))
    except Exception as exc:  # noqa: BLE001 -- Hydra's and ours, described as the CLI describes them
        line, code = error_line(exc)
        assert line is not None, f"{type(exc).__name__} is not described as a user mistake: {exc}"
        assert code == 2
        assert "\n" not in line
        return line
    pytest.fail(f"{overrides} was accepted")


# --------------------------------------------------------------------------- unknown keys (+)
@pytest.mark.parametrize(
    ("override", "key", "nearest"),
    [
        ("+scenario.demand.drift_chnges={12: -0.5}", "scenario.demand.drift_chnges", "drift_changes"),
        ("+regime.capital_requirment=0.5", "regime.capital_requirment", "capital_requirement"),
        ("+foo=1", "foo", "seed"),
        ("+calibration.entities.0.cashh=3", "calibration.entities[0].cashh", "cash"),
        ("+clearing.gamma=0.5", "clearing.gamma", "alpha"),
    ],
)
def test_an_unknown_key_added_with_plus_is_refused_naming_the_nearest(override: str, key: str, nearest: str) -> None:
    line = rejection(override)
    assert line.startswith(f"{key}: unknown key"), line
    assert nearest in line


def test_dictionary_valued_keys_stay_open_for_typed_entries() -> None:
    cfg = make_cfg(*SMALL, "+scenario.demand.drift_changes={3: -0.05}", "+scenario.base_rate.jumps={2: 0.01}")
    validate(cfg)
    assert dict(cfg.scenario.demand.drift_changes) == {3: -0.05}
    assert "scenario.demand.drift_changes[3]=0.5" in rejection("+scenario.demand.drift_changes={3: 0.5}")
    assert "scenario.demand.drift_changes" in rejection("+scenario.demand.drift_changes={abc: 0.01}")
    assert "scenario.demand.drift_changes" in rejection("+scenario.demand.drift_changes={3: abc}")


# --------------------------------------------------------------------------- NaN, inf and ranges
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("scenario.demand.drift=nan", "scenario.demand.drift"),
        ("scenario.demand.vol=inf", "scenario.demand.vol"),
        ("scenario.rental_price.start=-inf", "scenario.rental_price.start"),
        ("calibration.entities.0.cash=inf", "calibration.entities[0].cash"),
        ("calibration.contracts.0.amount=nan", "calibration.contracts[0].amount"),
        ("scenario.base_rate.start=-0.5", "scenario.base_rate.start"),
        ("scenario.base_rate.speed=5", "scenario.base_rate.speed"),
        ("+scenario.demand.drift_changes={-5: 0.01}", "scenario.demand.drift_changes"),
        ("+scenario.demand.drift_changes={500: 0.01}", "scenario.demand.drift_changes"),
        ("systemic.loss_share=inf", "systemic.loss_share"),
        ("clearing.alpha=1.5", "clearing.alpha"),
        ("clearing.beta=-0.1", "clearing.beta"),
        ("horizon=10000", "horizon"),
        ("scenario.equity_freeze_sectors=[bank,banks]", "scenario.equity_freeze_sectors[1]"),
        ("output.residual_tolerance=0", "output.residual_tolerance"),
    ],
)
def test_nan_inf_and_out_of_range_values_are_refused_naming_the_key(override: str, key: str) -> None:
    line = rejection(*SMALL, override)
    assert line.startswith(key), line


def test_nan_and_inf_in_a_calibration_yaml_are_refused(tmp_path: Path) -> None:
    src = (ROOT / "conf" / "calibration" / "mini.yaml").read_text()
    bad = tmp_path / "calibration"
    bad.mkdir()
    # the first balance-sheet figure of the file becomes .inf, the first amount .nan
    (bad / "inf_cash.yaml").write_text(re.sub(r"\bcash: [0-9.eE+-]+", "cash: .inf", src, count=1))
    (bad / "nan_amount.yaml").write_text(re.sub(r"\bamount: [0-9.eE+-]+", "amount: .nan", src, count=1))
    path = f"hydra.searchpath=[file://{tmp_path}]"
    assert "cash=inf: must be a finite number" in rejection(*SMALL, path, "calibration=inf_cash")
    assert "amount=nan: must be a finite number" in rejection(*SMALL, path, "calibration=nan_amount")


def test_a_missing_mandatory_value_is_named(tmp_path: Path) -> None:
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "nameless.yaml").write_text(
        "name: nameless\nentities:\n  - {name: A, sector: bank, cash: 1.0}\n  - {sector: bank, cash: 1.0}\n")
    line = rejection(*SMALL, f"hydra.searchpath=[file://{tmp_path}]", "calibration=nameless")
    assert line == "calibration.entities[1].name: a value is required (it is missing)"


def test_a_long_tail_fitted_to_a_member_without_size_is_refused() -> None:
    line = rejection("calibration=ai_2025", "calibration.entities.11.gpu=0", "calibration.long_tail.neoclouds=2")
    assert line.startswith("calibration.long_tail.neoclouds=2: the long tail is fitted to the named neocloud")
    assert "calibration.entities[11] (Lambda)" in line
    validate(make_cfg("calibration=ai_2025", "calibration.entities.11.gpu=0"))  # without a tail it is fine


def test_clearing_alpha_and_beta_may_be_zero() -> None:
    cfg = make_cfg(*SMALL, "clearing.alpha=0", "clearing.beta=0", "scenario=severe")
    validate(cfg)
    m = run(cfg, None).results.manifest
    assert m["quality"] == "ok", m["quality_problems"]


# --------------------------------------------------------------------------- the schema's specs
def test_every_field_of_the_schema_has_a_spec_with_its_meaning_and_a_range() -> None:
    from aisim.schema import _hints, _rows

    rows = list(_rows(Config, ""))
    assert len(rows) > 120
    for row in rows:
        key, type_, _default, valid, _unit, doc = (c.strip() for c in row.strip("|").split("|"))
        assert doc, f"{key} has no documented meaning"
        # (a dict of config nodes, such as scenario.indices, has its ranges on the node's own keys)
        if type_ in ("int", "float") or (type_.startswith("dict") and not type_.endswith(("str]", "Config]"))):
            assert valid.startswith(("in [", "in (", ">=", ">", "entries in")), f"{key}: no documented range ({valid})"
    # and every field's spec is declared with param() (a Spec in its metadata)
    seen = 0
    stack = [Config]
    while stack:
        cls = stack.pop()
        for f in fields(cls):
            assert spec_of(f) is not None, f"{cls.__name__}.{f.name} is declared without param()"
            seen += 1
            hint = _hints(cls)[f.name]
            for t in (hint, *getattr(hint, "__args__", ())):
                if is_dataclass(t) and t not in stack:
                    stack.append(t)
    assert seen > 100


def test_the_committed_parameter_table_matches_the_code() -> None:
    committed = (ROOT / "docs" / "parameters.md").read_text()
    assert committed == parameters_markdown(), "regenerate it: python -m aisim.schema docs/parameters.md"


def test_the_entity_field_lists_derive_from_one_declaration() -> None:
    assert ENTITY_PARAM_FIELDS == PARAM_FIELDS
    assert ENTITY_BALANCE_FIELDS == BALANCE_FIELDS
    agent_floats = [f.name for f in fields(AgentParams) if f.name != "sector" and not f.name.startswith("is_")]
    assert tuple(agent_floats) == ENTITY_PARAM_FIELDS


@dataclass
class NewChannel:
    speed: float = param(0.5, ge=0.0, le=1.0, unit="share", doc="a new channel's speed")


@dataclass
class Root:
    new: NewChannel = param(default_factory=NewChannel, doc="a new node")


def test_validation_reaches_nodes_it_does_not_know() -> None:
    """A node declared with param() is checked without code in the validator knowing it."""
    from aisim.schema import problems

    assert list(problems({"new": {"speed": 0.3}}, Root)) == []
    assert list(problems({"new": {"speed": 2.0}}, Root)) == ["new.speed=2.0: must be in [0, 1] (share)"]
    assert list(problems({"new": {"speed": math.nan}}, Root))[0].startswith("new.speed=nan: must be a finite")
    assert list(problems({"new": {"sped": 0.1}}, Root))[0].startswith("new.sped: unknown key; did you mean speed?")


# --------------------------------------------------------------------------- identity residual
def test_the_identity_residual_is_nan_for_a_path_with_a_nan() -> None:
    cfg = make_cfg(*SMALL)
    model = AIFinanceModel(cfg, None, np.arange(4), np)
    model.step()
    s = model.state
    cash = s.cash.copy()
    cash[1, 0] = np.nan
    bs, cr = identity_residual(np, model.book, s.replace(cash=cash), model.total_cash0)
    assert np.isnan(bs[1]) and np.isnan(cr[1])
    assert np.all(np.isfinite(bs[[0, 2, 3]])) and np.all(bs[[0, 2, 3]] < 1e-12)
    assert math.isnan(quality.worst(0.0, np.array([1e-16, np.nan])))  # Python's max(0.0, nan) is 0.0
    assert math.isnan(quality.worst(math.nan, np.array([1e-3])))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_run_whose_books_hold_a_nan_says_so_in_its_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = AIFinanceModel.phase_record

    def poisoned(self: AIFinanceModel, s, ctx):  # noqa: ANN001, ANN202
        if s.month == 3:
            cash = s.cash.copy()
            cash[0, 0] = np.nan
            s = s.replace(cash=cash)
        return record(self, s, ctx)

    monkeypatch.setattr(AIFinanceModel, "phase_record", poisoned)
    res = run(make_cfg(*SMALL), tmp_path).results
    m = results.load(tmp_path).manifest
    assert math.isnan(m["max_identity_residual"])
    assert m["quality"] == "failed" and res.manifest["quality"] == "failed"
    assert any("NaN" in p for p in m["quality_problems"])


def test_the_residual_means_the_same_on_a_boom_path() -> None:
    """A schema-valid growth path: balances grow by orders of magnitude, rounding with them."""
    boom = ("scenario.demand.drift=0.2", "scenario.demand.vol=0.3", "scenario.rental_price.drift=0.2",
            "horizon=120")
    m = run(make_cfg("paths.n=8", "horizon=36", "backend=numpy", "output.progress=false", *boom), None).results.manifest
    assert m["max_identity_residual"] < 1e-12
    assert m["quality"] == "ok"


def test_undocumented_nan_in_the_outputs_fails_the_quality_check() -> None:
    res = run(make_cfg(*SMALL), None).results
    assert quality.problems(res, 1e-9) == []
    res.agents.loc[0, "mean_default_month"] = np.nan  # documented: an agent that never defaults
    assert quality.problems(res, 1e-9) == []
    res.paths.loc[0, "ai_capex"] = np.nan
    assert quality.problems(res, 1e-9) == ["paths.parquet column ai_capex holds 1 NaN or infinite value(s)"]
    assert "exceeds output.residual_tolerance" in quality.problems(res, 1e-300)[0]


# --------------------------------------------------------------------------- result files and the umask
@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_result_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        results.write(tmp_path, run(make_cfg(*SMALL), None).results)
    finally:
        os.umask(old)
    for name in results.FILES:
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o666 & ~umask, f"{name}: {oct(mode)}"
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    def boom(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        results._atomic(tmp_path / "paths.parquet", boom)  # noqa: SLF001
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the work estimate
def _estimate(*overrides: str) -> estimate.Estimate:
    from aisim.runner import chunk_size

    cfg = make_cfg("backend=numpy", *overrides)
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits))
    return estimate.estimate(cfg, world, chunk_size(cfg, world), resolve("numpy"))


def test_a_trillion_paths_is_refused_before_any_work() -> None:
    est = _estimate("paths.n=1000000000000")
    assert est.seconds > 1e9
    with pytest.raises(ConfigError, match=r"^paths\.n=1000000000000: the per-path results alone need"):
        estimate.check(est)


def test_a_chunk_that_cannot_fit_is_refused_with_one_that_would() -> None:
    est = _estimate("paths.n=100000000", "paths.chunk=100000000")
    with pytest.raises(ConfigError) as exc:
        estimate.check(est)
    line = str(exc.value)
    assert line.startswith("paths.chunk=100000000: one chunk needs") and "paths.chunk=auto" in line
    fits = int(line.split("use paths.chunk=")[1].split()[0])
    estimate.check(_estimate("paths.n=1000", f"paths.chunk={fits}"))  # the suggested size passes


def test_a_large_run_announces_its_work_time_and_memory(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    est = _estimate("paths.n=10000000")
    assert est.large
    line = est.line()
    for part in ("agent-path-months", "10,000,000 paths x 60 months", "on numpy", "peak memory"):
        assert part in line
    run(make_cfg(*SMALL), None)
    assert "estimate:" not in capsys.readouterr().err  # a small run says nothing
    monkeypatch.setattr(estimate, "ANNOUNCE_ABOVE_S", 0.0)
    run(make_cfg(*SMALL), None)
    err = capsys.readouterr().err
    assert err.count("aisim: estimate:") == 1 and "4 paths x 6 months" in err


def test_the_backend_note_is_printed_once_per_process(capsys: pytest.CaptureFixture[str]) -> None:
    note_once("auto chose NumPy: a test reason")
    note_once("auto chose NumPy: a test reason")
    assert capsys.readouterr().err.count("a test reason") == 1


def test_horizon_bound_keeps_every_month_in_the_dictionaries_reachable() -> None:
    assert make_cfg(f"horizon={HORIZON_MAX}").horizon == HORIZON_MAX
    validate(make_cfg(*SMALL, f"+scenario.demand.drift_changes={{{HORIZON_MAX}: 0.0}}"))


def test_a_capital_ratio_without_risk_weighted_assets_is_nan_and_the_run_is_ok() -> None:
    """Risk weights of 0 are valid; the banks' capital ratio is then undefined. It is reported as
    NaN (documented in aisim.quality.NAN_METRICS), not as an infinite mean (found by the slow fuzz)."""
    cfg = make_cfg("calibration=mini", "paths.n=2", "horizon=2", "backend=numpy", "output.progress=false",
                   *(f"regime.risk_weights.{k}=0.0" for k in ("ai_loans", "nbfi_loans", "other_assets")))
    res = run(cfg, None, progress=False).results
    ts = res.timeseries
    ratio = ts[ts["metric"] == "bank_capital_ratio_min"]["mean"].to_numpy()
    assert np.isnan(ratio).all()
    assert not np.isinf(ts["mean"].to_numpy(dtype=float)).any()
    assert res.manifest["quality"] == "ok", res.manifest["quality_problems"]
    assert np.isnan(res.paths["min_bank_capital_ratio"]).all()


def test_a_fund_nav_ratio_without_a_positive_starting_nav_is_nan_and_the_run_is_ok() -> None:
    """A loan of 1e6 to the mini world's fund leaves it no positive starting NAV; its NAV ratio
    is then undefined: NaN (aisim.quality.NAN_METRICS), not an infinite mean (found by the slow fuzz)."""
    cfg = make_cfg("calibration=mini", "paths.n=1", "horizon=1", "backend=numpy", "output.progress=false",
                   "calibration.contracts.3.amount=1000000.0", "calibration.long_tail.neoclouds=0",
                   "calibration.long_tail.private_credit=0", "calibration.long_tail.banks=0")
    res = run(cfg, None, progress=False).results
    ts = res.timeseries
    assert np.isnan(ts[ts["metric"] == "fund_nav_ratio_min"]["mean"].to_numpy()).all()
    assert not np.isinf(ts["mean"].to_numpy(dtype=float)).any()
    assert res.manifest["quality"] == "ok", res.manifest["quality_problems"]
