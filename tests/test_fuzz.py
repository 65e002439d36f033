"""Fuzz tests of the input contract (issue 14, item 9), drawn from the schema's own field specs.

* Valid configurations -- every spec'd key of the scenario, regime, channel, market and output
  nodes and of the calibration's entities and contracts may be drawn, often at the ends of its
  documented range -- run to the end with finite outputs and an accounting identity residual
  within ``output.residual_tolerance`` (the quality check of :mod:`aisim.quality`).
* Invalid configurations -- a value outside its range, NaN, an infinity, a wrong type, a choice
  that does not exist, an unknown key added with ``+`` -- are refused with one clean line naming
  the key, as the CLI would print it (:func:`aisim.cli.error_line`).

The default sample is small and derandomised (12 valid, 40 invalid; part of ``make test``); the
``slow`` tests draw 1,000 valid and 100 invalid configurations (``make test-all``;
``AISIM_FUZZ_VALID`` and ``AISIM_FUZZ_INVALID`` change these counts). Sizes are kept small where they
only cost time: 1-6 paths, long tails of at most 3 extra agents per sector.
"""

from __future__ import annotations

import functools
import math
import os
import re
import typing
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from aisim.cli import error_line
from aisim.kernels.params import Spec, spec_of
from aisim.quality import NAN_ALLOWED, NAN_METRICS
from aisim.runner import run
from aisim.schema import HORIZON_MAX, Config, ConfigError, ContractConfig, EntityConfig, OutputConfig, _hints, validate
from tests.conftest import make_cfg

NODES = ("scenario", "regime", "investment", "channels", "clearing", "collateral", "covenants", "market",
         "systemic", "output")
SKIP = {"output.progress", "output.quantile_paths", "output.agent_quantile_paths", "regime.gpu_valuation_life_months"}
CALIBRATIONS = ("mini", "ai_2025")


def _scalars(cls: type, prefix: str) -> list[tuple[str, Any, Spec]]:
    """(key, type, spec) of every scalar field under the schema node ``cls``."""
    out = []
    for f in fields(cls):
        hint, key = _hints(cls)[f.name], f"{prefix}.{f.name}"
        if is_dataclass(hint):
            out += _scalars(hint, key)
        elif hint in (int, float, bool) or (hint is str and (spec_of(f) or Spec()).choices):
            if key not in SKIP:
                out.append((key, hint, spec_of(f) or Spec()))
    return out


def _node(name: str) -> type:
    return typing.get_type_hints(Config)[name]


NODE_KEYS = [k for n in NODES for k in _scalars(_node(n), n)]
ENTITY_KEYS = [k for k in _scalars(EntityConfig, "") if k[0] not in (".name", ".sector")]
CONTRACT_KEYS = [k for k in _scalars(ContractConfig, "") if k[0] not in (".kind", ".amortisation", ".maturity",
                                                                         ".share")]


@functools.cache
def sizes(calibration: str) -> tuple[int, int, tuple[str, ...]]:
    cal = make_cfg(f"calibration={calibration}").calibration
    return len(cal.entities), len(cal.contracts), tuple(e.name for e in cal.entities)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    return str(v)


# --------------------------------------------------------------------------- valid values
def valid_value(hint: Any, spec: Spec) -> st.SearchStrategy:
    if hint is bool:
        return st.booleans()
    if spec.choices is not None:
        return st.sampled_from(spec.choices)
    lo = spec.lo if spec.lo is not None else -1e6
    hi = spec.hi if spec.hi is not None else 1e6
    if hint is int:
        lo_i, hi_i = int(math.ceil(lo + (1 if spec.lo_open else 0))), int(math.floor(hi - (1 if spec.hi_open else 0)))
        return st.one_of(st.sampled_from([lo_i, hi_i]), st.integers(lo_i, hi_i))
    ends = [x for x, open_ in ((lo, spec.lo_open), (hi, spec.hi_open)) if not open_]
    inner = st.floats(lo, hi, exclude_min=spec.lo_open, exclude_max=spec.hi_open, allow_nan=False,
                      allow_infinity=False)
    return st.one_of(st.sampled_from(ends), inner) if ends else inner


@st.composite
def valid_overrides(draw: st.DrawFn) -> list[str]:
    cal = draw(st.sampled_from(CALIBRATIONS))
    n_ent, n_con, names = sizes(cal)
    paths = draw(st.integers(1, 6))
    out = [f"calibration={cal}", f"paths.n={paths}", "backend=numpy", "output.progress=false",
           f"horizon={draw(st.one_of(st.integers(1, 12), st.integers(1, HORIZON_MAX)))}",
           f"seed={draw(st.integers(0, 2**64 - 1))}",
           f"paths.chunk={draw(st.one_of(st.just('auto'), st.integers(1, paths)))}"]
    for key, hint, spec in draw(st.lists(st.sampled_from(NODE_KEYS), max_size=12, unique_by=lambda k: k[0])):
        out.append(f"{key}={_fmt(draw(valid_value(hint, spec)))}")
    for key, hint, spec in draw(st.lists(st.sampled_from(ENTITY_KEYS), max_size=6)):
        i = draw(st.integers(0, n_ent - 1))
        out.append(f"calibration.entities.{i}{key}={_fmt(draw(valid_value(hint, spec)))}")
    for key, hint, spec in draw(st.lists(st.sampled_from(CONTRACT_KEYS), max_size=4)):
        i = draw(st.integers(0, n_con - 1))
        out.append(f"calibration.contracts.{i}{key}={_fmt(draw(valid_value(hint, spec)))}")
    drift = valid_value(float, Spec(lo=-0.2, hi=0.2))
    for proc in draw(st.lists(st.sampled_from(["demand", "rental_price"]), max_size=2, unique=True)):
        entries = draw(st.dictionaries(st.integers(0, HORIZON_MAX), drift, max_size=2))
        out.append(f"+scenario.{proc}.drift_changes={{{', '.join(f'{k}: {_fmt(v)}' for k, v in entries.items())}}}")
    plain = [x for x in names if re.fullmatch(r"[A-Za-z]\w*", x)]  # a dictionary key on the command line
    if plain and draw(st.booleans()):
        out.append(f"+scenario.offtake_exits={{{draw(st.sampled_from(plain))}: {draw(st.integers(0, HORIZON_MAX))}}}")
    if draw(st.booleans()):
        out.append(f"regime.gpu_valuation_life_months={_fmt(draw(st.one_of(st.just(0.0), st.floats(1, 1200))))}")
    for part in ("neoclouds", "private_credit", "banks"):
        if draw(st.integers(0, 4)) == 0:
            out.append(f"calibration.long_tail.{part}={draw(st.integers(0, 3))}")
    return out


def check_valid(overrides: list[str]) -> None:
    cfg = make_cfg(*overrides)
    try:
        validate(cfg)
    except ConfigError as exc:
        # the one cross-reference the draws can break: a long tail fitted to a named member of size 0
        if not str(exc).startswith("calibration.long_tail."):
            raise
        reject()
    res = run(cfg, None, progress=False).results
    m = res.manifest
    residual = m["max_identity_residual"]
    assert math.isfinite(residual), (overrides, m["quality_problems"])
    # the shipped tolerance holds on every valid config; a tolerance the user drew tighter than
    # the model's rounding must fail the quality check, and only then
    assert residual <= DEFAULT_TOLERANCE, overrides
    for table in ("paths", "agents", "timeseries"):
        df = getattr(res, table)
        if table == "timeseries":
            df = df[~df["metric"].isin(NAN_METRICS)]
        for col in df.select_dtypes("number").columns:
            if col not in NAN_ALLOWED[table]:
                assert np.isfinite(df[col].to_numpy(dtype=float)).all(), (table, col, overrides)
    within = residual <= float(cfg.output.residual_tolerance)
    assert (m["quality"] == "ok") == within, (overrides, residual, m["quality_problems"])


DEFAULT_TOLERANCE = OutputConfig().residual_tolerance
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
#: The slow sample's sizes; AISIM_FUZZ_VALID / AISIM_FUZZ_INVALID change them for a longer or shorter run.
SLOW_VALID = int(os.environ.get("AISIM_FUZZ_VALID", "1000"))
SLOW_INVALID = int(os.environ.get("AISIM_FUZZ_INVALID", "100"))
FAST = settings(max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)
FAST_INVALID = settings(FAST, max_examples=40)
SLOW = settings(max_examples=SLOW_VALID, deadline=None, suppress_health_check=HEALTH)


@FAST
@given(valid_overrides())
def test_valid_configs_run_with_finite_outputs_and_a_residual_within_tolerance(overrides: list[str]) -> None:
    check_valid(overrides)


@pytest.mark.slow
@SLOW
@given(valid_overrides())
def test_many_valid_configs_run_with_finite_outputs_and_a_residual_within_tolerance(overrides: list[str]) -> None:
    check_valid(overrides)


# --------------------------------------------------------------------------- invalid values
def invalid_value(hint: Any, spec: Spec) -> st.SearchStrategy:
    if hint is bool:
        return st.sampled_from(["maybe", "abc", "[1]"])  # OmegaConf reads 0, 1, 2, yes, no, on, off as booleans
    if spec.choices is not None:
        return st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(lambda s: s not in spec.choices)
    bad: list[st.SearchStrategy] = [st.just("abc")]
    if hint is float:
        bad += [st.sampled_from([math.nan, math.inf, -math.inf])]
    else:
        bad += [st.just(1.5)]
    if spec.lo is not None:
        step = st.floats(1e-6, 1e6) if hint is float else st.integers(1, 10**6)
        bad.append(step.map(lambda d: spec.lo - d) if not spec.lo_open else st.just(spec.lo))
    if spec.hi is not None:
        step = st.floats(1e-6, 1e6) if hint is float else st.integers(1, 10**6)
        bad.append(step.map(lambda d: spec.hi + d) if not spec.hi_open else st.just(spec.hi))
    return st.one_of(*bad)


def _typo(name: str) -> st.SearchStrategy:
    return st.sampled_from([name[:-1], name + "s", name[1:], name.replace("_", "", 1) or name + "x", "x" + name])


@st.composite
def invalid_override(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """(overrides, spellings of the key the one line must name)."""
    cal = draw(st.sampled_from(CALIBRATIONS))
    n_ent, n_con, _ = sizes(cal)
    base = [f"calibration={cal}", "paths.n=2", "horizon=2", "backend=numpy"]
    where = draw(st.sampled_from(["node", "entity", "contract"]))
    if where == "node":
        key, hint, spec = draw(st.sampled_from(NODE_KEYS))
        dotted = bracket = key
    else:
        i = draw(st.integers(0, (n_ent if where == "entity" else n_con) - 1))
        group = "entities" if where == "entity" else "contracts"
        key, hint, spec = draw(st.sampled_from(ENTITY_KEYS if where == "entity" else CONTRACT_KEYS))
        dotted, bracket = f"calibration.{group}.{i}{key}", f"calibration.{group}[{i}]{key}"
    if draw(st.integers(0, 4)) == 0:  # an unknown key, added with +
        parent, name = dotted.rsplit(".", 1)
        typo = draw(_typo(name))
        valid_here = {f.name for f in fields(EntityConfig)} | {f.name for f in fields(ContractConfig)} | {
            k[0].rsplit(".", 1)[-1] for k in NODE_KEYS}
        if typo in valid_here:
            typo = typo + "_typo"
        bparent = bracket.rsplit(".", 1)[0]
        return [*base, f"+{parent}.{typo}=1"], [f"{parent}.{typo}", f"{bparent}.{typo}"]
    value = draw(invalid_value(hint, spec))
    return [*base, f"{dotted}={_fmt(value)}"], [dotted, bracket]


def check_invalid(overrides: list[str], keys: list[str]) -> None:
    try:
        validate(make_cfg(*overrides))
    except Exception as exc:  # noqa: BLE001 -- Hydra's and ours, described as the CLI does
        line, code = error_line(exc)
        assert line is not None and code == 2, (overrides, repr(exc))
    else:
        pytest.fail(f"accepted: {overrides}")
    assert "\n" not in line and "Traceback" not in line, line
    assert any(k in line for k in keys), (keys, line)


@FAST_INVALID
@given(invalid_override())
def test_invalid_configs_are_refused_with_one_line_naming_the_key(case: tuple[list[str], list[str]]) -> None:
    check_invalid(*case)


@pytest.mark.slow
@settings(max_examples=SLOW_INVALID, deadline=None, suppress_health_check=HEALTH)
@given(invalid_override())
def test_many_invalid_configs_are_refused_with_one_line_naming_the_key(case: tuple[list[str], list[str]]) -> None:
    check_invalid(*case)
