"""Stylised facts of default risk on the default calibration (issue 9's checks), each able to fail:
PDs ordered as ratings order the firms, investment-grade PDs low over five years, firms of a
sector not sharing one fate, and scenarios moving risk the way their descriptions say."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from aisim.runner import run
from tests.conftest import make_cfg

PATHS = 300
AA = ("Microsoft", "Alphabet", "Amazon", "Meta", "Nvidia")  # AAA to AA- (conf/targets/ratings_2025.yaml)


@functools.cache
def _run(scenario: str):
    """One run per scenario, shared by the tests (its agents table and its paths)."""
    cfg = make_cfg(f"paths.n={PATHS}", "horizon=60", "backend=numpy", "output.progress=false", f"scenario={scenario}")
    return run(cfg).results


def _agents(scenario: str = "baseline") -> pd.DataFrame:
    return _run(scenario).agents.set_index("name")


def _loss(scenario: str) -> float:
    return float(_run(scenario).paths["credit_losses"].mean())


@pytest.mark.parametrize("term", ["pd_1y", "pd_3y", "pd_5y"])
def test_pds_are_ordered_as_the_ratings_order_the_firms(term: str) -> None:
    a = _agents()
    aa = a.loc[list(AA), term].max()
    assert aa <= a.loc["Oracle", term] <= a.loc["CoreWeave", term]  # AA and above, BBB, BB-
    assert a.loc["CoreWeave", term] > aa, "the BB- name must be riskier than every AA name"


def test_investment_grade_stays_low_over_five_years() -> None:
    assert (_agents().loc[[*AA, "Oracle"], "pd_5y"] < 0.05).all()


def test_oracle_is_riskier_than_the_aa_names_over_five_years() -> None:
    a = _agents()
    assert a.loc["Oracle", "pd_5y"] > a.loc[list(AA), "pd_5y"].max()


def test_no_two_neoclouds_share_one_fate() -> None:
    # one fate: the same default counts in the same months. Equal counts alone can coincide (CoreWeave and
    # Nebius both default on 11 of 300 paths, two of them different, a month apart on the others)
    cols = ["pd_1y", "pd_3y", "pd_5y", "mean_default_month"]
    pds = _agents().loc[["CoreWeave", "Nebius", "Lambda", "Crusoe"], cols].round(9)
    assert not pds.duplicated().any()


NEO = ["CoreWeave", "Nebius", "Lambda", "Crusoe"]
ADVERSE = ["severe", "gpu_glut", "rate_shock", "ai_winter", "anchor_exit", "lab_funding_gap"]


@pytest.mark.parametrize("scenario", ADVERSE)
def test_every_adverse_scenario_raises_neocloud_default_risk_over_five_years_and_losses(scenario: str) -> None:
    """Every shipped scenario but the baseline is a stress its description says hurts the web:
    a demand stall, a glut, +200bp, an anchor's exit, a lab funding freeze, all together."""
    assert _agents(scenario).loc[NEO, "pd_5y"].mean() > _agents().loc[NEO, "pd_5y"].mean()
    assert _loss(scenario) > _loss("baseline")


@pytest.mark.parametrize("scenario", ["severe", "gpu_glut", "rate_shock"])
def test_adverse_scenarios_raise_neocloud_default_risk_within_three_years(scenario: str) -> None:
    assert _agents(scenario).loc[NEO, "pd_3y"].mean() > _agents().loc[NEO, "pd_3y"].mean()


@pytest.mark.parametrize("scenario", ["ai_winter", "anchor_exit"])
def test_a_demand_stall_and_an_anchors_exit_raise_neocloud_default_risk_within_three_years(scenario: str) -> None:
    assert _agents(scenario).loc[NEO, "pd_3y"].mean() > _agents().loc[NEO, "pd_3y"].mean()
