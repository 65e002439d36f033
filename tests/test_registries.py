"""The registries: channels, sectors, outputs, scenario indices, and what derives from them."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from aisim import channels, outputs, sectors
from aisim.kernels.state import BEHAVIOUR_FIELDS, State
from aisim.model import AIFinanceModel
from aisim.runner import run
from aisim.schema import SECTORS, Config, EntityConfig, ScenarioConfig
from tests import reference
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("paths.n=8", "horizon=6", "backend=numpy", "output.progress=false")


def test_docs_table_of_channels_matches_the_registry() -> None:
    text = (ROOT / "docs" / "economics.md").read_text()
    start, end = text.index(channels.DOCS_START) + len(channels.DOCS_START), text.index(channels.DOCS_END)
    assert text[start:end] == channels.docs_table(), "regenerate: python -m aisim.channels docs/economics.md"


def test_the_reference_implements_every_registered_channel() -> None:
    assert set(reference.CHANNELS) == set(channels.NAMES)


def test_channels_node_and_parameter_nodes_follow_from_the_registry() -> None:
    node = fields(channels.switches_node())
    assert [(f.name, f.default) for f in node] == [(c.name, c.default) for c in channels.CHANNELS]
    config_fields = {f.name: f for f in fields(Config)}
    for key, cls in channels.param_nodes():
        assert key in config_fields
        assert [f.name for f in fields(cls)] == [f.name for f in fields(next(c.params for c in channels.CHANNELS
                                                                              if c.key == key))]


def test_an_unknown_hook_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown hook point"):
        channels.Channel("x", "doc", kernel="k", on={"no_such_point": lambda m, v: v})


def test_a_switched_off_channel_runs_none_of_its_hooks() -> None:
    cfg = OmegaConf.to_object(make_cfg(*SMALL, "channels.covenants=false", "channels.market_feedback=false"))
    hooks = channels.hooks(cfg.channels)
    for name in ("covenants", "market_feedback"):
        for point, fn in channels.BY_NAME[name].on.items():
            assert fn not in hooks[point]
    assert channels.BY_NAME["clearing"].on["settle_options"] in hooks["settle_options"]


def test_sector_lists_and_masks_derive_from_the_sector_registry() -> None:
    assert SECTORS == tuple(s.name for s in sectors.SECTORS)
    assert all(s.risk_class in sectors.RISK_CLASSES for s in sectors.SECTORS)
    model = AIFinanceModel(make_cfg(*SMALL), None, np.arange(2), np)
    for trait, mask in (("bank", model.params.is_bank), ("fund", model.params.is_fund), ("ai", model.params.is_ai)):
        assert list(np.asarray(mask)) == [getattr(sectors.BY_NAME[s], trait) for s in model.world.sectors]


def test_the_behavioural_parameters_are_declared_once() -> None:
    entity = {f.name for f in fields(EntityConfig)}
    assert set(BEHAVIOUR_FIELDS) <= entity
    assert tuple(reference.PARAMS) == BEHAVIOUR_FIELDS  # the reference's own copy agrees


def test_output_tables_hold_exactly_the_declared_outputs(tmp_path: Path) -> None:
    res = run(make_cfg(*SMALL), tmp_path).results
    assert list(res.paths.columns) == ["path", *(o.name for o in outputs.PATH_OUTCOMES)]
    assert set(res.timeseries["metric"]) == {m.name for m in outputs.MONTH_METRICS} - {"identity_residual"}


def test_agents_are_mesa_agents_grouped_by_sector_with_read_only_views() -> None:
    model = AIFinanceModel(make_cfg(*SMALL), None, np.arange(4), np)
    model.step()
    cw = model.agent("CoreWeave")
    assert cw.sector_name == "neocloud" and cw in model.agents
    np.testing.assert_array_equal(cw.cash, np.asarray(model.state.cash)[:, cw.column])
    with pytest.raises(ValueError):
        cw.cash[0] = 1.0
    groups = model.agents.groupby("sector_name").groups
    assert set(groups) == set(model.world.sectors)
    assert [c for _, c in model.sector_groups] == [model.world.blocks[s] for s in SECTORS if s in groups]
    with pytest.raises(KeyError, match="no agent named"):
        model.agent("Nobody")


# --------------------------------------------------------------------------- scenario indices
POWER_SHOCK = """\
# @package scenario
defaults:
  - baseline
  - _self_
name: power_shock
description: a power price rising 5% a month from month 1 raises neoclouds' operating costs
indices:
  power_price: {start: 1.0, drift: 0.0, vol: 0.03, drift_changes: {1: 0.05}}
loadings:
  - {parameter: opex, index: power_price, elasticity: 1.0, sectors: [neocloud]}
"""


@pytest.fixture
def power(tmp_path: Path) -> tuple[str, str]:
    """A new shock written as YAML alone: a scenario file in the user's own config folder."""
    (tmp_path / "scenario").mkdir()
    (tmp_path / "scenario" / "power_shock.yaml").write_text(POWER_SHOCK)
    return "scenario=power_shock", f"hydra.searchpath=[file://{tmp_path}]"


def test_a_power_price_shock_is_yaml_only_and_raises_neocloud_costs(power: tuple[str, str]) -> None:
    base = AIFinanceModel(make_cfg(*SMALL), None, np.arange(8), np)
    shock = AIFinanceModel(make_cfg(*SMALL, *power), None, np.arange(8), np)
    neo = base.world.blocks["neocloud"]
    issued = {id(m): 0.0 for m in (base, shock)}  # equity raised less payouts: not a result of costs
    for _ in range(6):
        for m in (base, shock):
            m.step()
            issued[id(m)] = issued[id(m)] + np.asarray(m.context.funding_flows)[:, neo].sum(axis=1)
    level = np.asarray(shock.state.index)[:, 0]
    assert np.all(level > 1.0) and level.mean() > 1.15  # five months of +5% drift (e^0.25 = 1.28)
    # common random numbers: the index has its own stream, the built-in processes are untouched
    np.testing.assert_array_equal(np.asarray(base.state.demand), np.asarray(shock.state.demand))
    np.testing.assert_array_equal(np.asarray(base.state.price), np.asarray(shock.state.price))
    # costs went up: neoclouds' equity net of what they issued is lower; nobody else's parameters moved
    neo_equity = [np.asarray(m.state.equity)[:, neo].sum(axis=1) - issued[id(m)] for m in (shock, base)]
    assert np.all(neo_equity[0] < neo_equity[1])
    np.testing.assert_allclose(np.asarray(shock.params.opex)[:, neo],
                               np.asarray(base.params.opex)[None, neo] * level[:, None], rtol=1e-12)
    hyper = base.world.blocks["hyperscaler"]
    np.testing.assert_array_equal(np.asarray(shock.params.opex)[:, hyper],
                                  np.broadcast_to(np.asarray(base.params.opex)[hyper], (8, hyper.stop - hyper.start)))


def test_the_reference_agrees_on_a_scenario_with_its_own_index(power: tuple[str, str]) -> None:
    cfg = make_cfg("paths.n=2", "horizon=6", "backend=numpy", *power)
    model = AIFinanceModel(cfg, None, np.arange(2), np)
    ref = reference.ReferenceModel(cfg, model.world)
    states = [ref.initial_state() for _ in range(2)]
    for _ in range(6):
        model.step()
        states = [ref.step(s, p)[0] for p, s in enumerate(states)]
    for p, s in enumerate(states):
        assert reference.compare(s, model.state, p) == []


def test_scenario_schema_has_open_indices() -> None:
    names = {f.name for f in fields(ScenarioConfig)}
    assert {"indices", "loadings"} <= names
    assert "index" in {f.name for f in fields(State)}


# --------------------------------------------------------------------------- device path
# gpu_glut runs 48 months: its first defaults come after month 36 once collateral is valued by vintage
# and capex borrowing keeps headroom
@pytest.mark.parametrize("calibration,scenario,horizon",
                         [("mini", "severe", 24), ("ai_2025", "severe", 24), ("ai_2025", "gpu_glut", 48)])
def test_the_sync_free_month_equals_the_shortcut_month_to_the_bit(calibration: str, scenario: str,
                                                                  horizon: int) -> None:
    """On a device the month runs its loops to their fixed bound instead of stopping early;
    the extra rounds must be exact no-ops, so both ways give the same bits."""
    cfg = make_cfg(f"calibration={calibration}", f"scenario={scenario}", "paths.n=24", f"horizon={horizon}",
                   "backend=numpy")
    fast = AIFinanceModel(cfg, None, np.arange(24), np)
    full = AIFinanceModel(cfg, None, np.arange(24), np)
    full.shortcuts = False
    for _ in range(horizon):
        fast.step()
        full.step()
    assert int((~np.asarray(fast.state.alive)).sum()) > 0  # defaults happened: the loops did work
    for f in fields(State):
        a, b = getattr(fast.state, f.name), getattr(full.state, f.name)
        if f.name != "month":
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f.name
