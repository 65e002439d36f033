"""The HTML report of one run: its tail panel and its attribution panel (issue 12, item 5)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from aisim import results, tail
from aisim.report import attribution_figure, build_report, loss_tail_figure, ratings_table
from aisim.runner import run
from tests.conftest import make_cfg


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory):
    cfg = make_cfg("calibration=mini", "paths.n=100", "horizon=24", "scenario=severe", "backend=numpy",
                   "output.progress=false")
    out = tmp_path_factory.mktemp("report") / "run"
    run(cfg, out, progress=False)
    return out


def test_the_report_shows_the_loss_tail_and_the_attribution(run_dir) -> None:
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert "<h2>Tail of credit losses</h2>" in text
    assert 'alt="histogram of credit losses with VaR and ES marked"' in text
    assert 'alt="contributions to ES99 by agent"' in text
    assert len(re.findall(r"data:image/png;base64,", text)) >= 5


def test_the_tail_figure_marks_each_measure_at_its_value(run_dir) -> None:
    res = results.load(run_dir)
    fig = loss_tail_figure(res)
    lines = {ln.get_label().split(" ")[0]: ln.get_xdata()[0] for ln in fig.axes[0].get_lines()}
    x = res.paths["credit_losses"].to_numpy(dtype=float)
    for name, v, _, _ in tail.tail_measures(x, int(res.manifest["seed"])):
        assert lines[tail.label(name)] == pytest.approx(v)


def test_the_attribution_bars_are_the_largest_contributions() -> None:
    v = np.r_[np.arange(20.0), np.arange(20.0)[::-1]]
    att = pd.DataFrame({
        "agent": [f"a{i}" for i in range(20)] * 2, "sector": ["neocloud"] * 40,
        "measure": ["es99_loss_caused"] * 20 + ["es99_loss_borne"] * 20,
        "contribution": v, "ci_low": v - 1, "ci_high": v + 1,
    })
    fig = attribution_figure(att, top=5)
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(shown) == ["a15", "a16", "a17", "a18", "a19"]
    assert "ES99 = 190.0" in fig.axes[0].get_title()


def test_the_calibration_report_follows_the_umask(tmp_path, monkeypatch) -> None:
    import os
    import stat

    from aisim.report_calibration import _write_text

    old = os.umask(0o022)
    try:
        _write_text(tmp_path / "calibration_report.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "calibration_report.md").stat().st_mode) == 0o644


def test_rated_firms_pds_by_term_stand_beside_their_rating_implied_rates(run_dir) -> None:
    res = results.load(run_dir)
    names = set(res.agents["name"])
    a = res.agents.set_index("name").copy()
    firm = next(f for f in ("CoreWeave", "Microsoft", "Oracle") if f in names)
    a.loc[firm, ["pd_1y", "pd_1y_se"]] = [0.0, 0.0]
    a.loc[firm, ["pd_3y", "pd_3y_se"]] = [0.25, 0.01]
    a.loc[firm, ["pd_5y", "pd_5y_se"]] = [np.nan, np.nan]  # 24 months: beyond the horizon
    res.agents = a.reset_index()
    row = next(r for r in ratings_table(res).split("<tr>") if r.startswith(f"<td>{firm}</td>"))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    n = int(res.manifest["paths"])
    assert cells[2] == f"0 (&lt; {100 * 3 / n:.2f}%)"  # no default on n paths: the rule-of-three bound
    assert cells[4] == f"25.00% &plusmn; {1.96:.2f}%"
    assert cells[6] == "beyond the horizon"
    from aisim import ratings

    rt = ratings.load()
    implied = rt.implied(rt.firms[firm])
    assert [cells[3], cells[5], cells[7]] == [f"{100 * implied[T]:.2f}%" for T in (1, 3, 5)]
    assert "Rated firms" in build_report(run_dir).read_text(encoding="utf-8")
