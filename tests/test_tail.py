"""Tail measures (aisim.tail): definitions, the paired bootstrap, coverage on a planted example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from aisim import results as results_io
from aisim import tail
from aisim.compare import RunSet, comparison_table
from aisim.runner import run
from aisim.schema import LENDER_SECTORS
from tests.conftest import make_cfg

losses = st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(losses, st.sampled_from(tail.LEVELS))
def test_expected_shortfall_is_at_least_value_at_risk(x: list[float], level: float) -> None:
    var, es = tail.var_es(np.array(x), level)
    assert es >= var - 1e-9 * max(1.0, abs(var))
    assert var <= max(x) and es <= max(x) + 1e-9 * max(1.0, max(x))


def test_measures_match_their_textbook_definitions() -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(10.0, 1000)
    for level in tail.LEVELS:
        var, es = tail.var_es(x, level)
        assert var == np.quantile(x, level, method="inverted_cdf")  # the lower a-quantile
        k = round((1 - level) * x.size)  # a n is a whole number here: ES is the mean of the worst k
        assert math.isclose(es, np.sort(x)[-k:].mean(), rel_tol=1e-12)


def test_an_atom_at_var_counts_only_as_far_as_it_lies_in_the_tail() -> None:
    x = np.array([0.0] * 90 + [5.0] * 9 + [100.0])  # n = 100; 95% VaR = 5, worst 5% = {5 x 4, 100}
    var, es = tail.var_es(x, 0.95)
    assert var == 5.0 and math.isclose(es, (4 * 5.0 + 100.0) / 5)


def test_a_regime_against_a_copy_of_itself_differs_by_exactly_zero() -> None:
    rng = np.random.default_rng(2)
    paths = pd.DataFrame({"path": np.arange(400), "credit_losses": rng.exponential(5.0, 400),
                          "credit_losses_bank": rng.exponential(1.0, 400),
                          "credit_losses_private_credit": rng.exponential(2.0, 400)})
    rs = RunSet(["baseline"], ["a", "b"], "a", {("baseline", "a"): paths, ("baseline", "b"): paths.copy()},
                {}, {"seed": 0})
    table = comparison_table(rs, ["credit_losses"])
    tails = table[table["metric"].str.match(r"(var|es)(95|99)_")]
    names = set(tails["metric"])
    assert {"var95_credit_losses", "es95_credit_losses", "var99_credit_losses", "es99_credit_losses",
            "es99_credit_losses_bank", "var95_credit_losses_private_credit"} <= names
    b = tails[tails["regime"] == "b"]
    assert (b["diff"] == 0).all() and (b["ci_low"] == 0).all() and (b["ci_high"] == 0).all()


def test_the_paired_bootstrap_is_narrower_than_the_spread_of_independent_tails() -> None:
    """Two regimes whose losses differ by a small shift on the same paths: the paired interval
    of the difference in ES is tight around the shift (common random numbers carry over)."""
    rng = np.random.default_rng(3)
    ref = rng.exponential(10.0, 1000)
    x = ref * 1.02
    (_, value, diff, lo, hi), = [r for r in tail.paired_tail_difference(x, ref, seed=0) if r[0] == "es99_credit_losses"]
    assert lo <= diff <= hi
    assert lo > 0  # the shift is found although the ES99 interval of either alone is ~25% wide
    _, _, lo_ref, hi_ref = next(r for r in tail.tail_measures(ref, seed=0) if r[0] == "es99_credit_losses")
    assert hi - lo < 0.2 * (hi_ref - lo_ref)


def test_bootstrap_intervals_cover_the_known_value_at_about_their_nominal_rate() -> None:
    """Planted example: exponential losses with scale 1, so VaR95 = ln 20 and ES95 = ln 20 + 1.
    Over 200 independent samples of 500 paths the 95% intervals cover the truth about 95% of the
    time (percentile intervals of tail quantiles run a little short; 88-99% accepted)."""
    truth = {"var95_credit_losses": math.log(20.0), "es95_credit_losses": math.log(20.0) + 1.0}
    rng = np.random.default_rng(4)
    hits = {k: 0 for k in truth}
    reps = 200
    for r in range(reps):
        x = rng.exponential(1.0, 500)
        for name, _, lo, hi in tail.tail_measures(x, seed=r, b=400):
            if name in truth:
                hits[name] += lo <= truth[name] <= hi
    for name, h in hits.items():
        assert 0.88 <= h / reps <= 0.99, (name, h / reps)


def test_resamples_depend_on_seed_and_size_only() -> None:
    a, b = tail.resamples(100, 7), tail.resamples(100, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, tail.resamples(100, 8))


def test_the_run_summary_gives_the_tail_of_the_system_and_of_each_lender_sector() -> None:
    from aisim.schema import LENDER_SECTORS
    from aisim.summary import tail_lines

    rng = np.random.default_rng(5)
    p = pd.DataFrame({"credit_losses": rng.exponential(5.0, 300),
                      **{f"credit_losses_{x}": rng.exponential(1.0 + k, 300) for k, x in enumerate(LENDER_SECTORS)}})
    lines = tail_lines(p, seed=0)
    assert len(lines) == 1 + 1 + len(LENDER_SECTORS)
    for line, of in zip(lines[1:], ["credit_losses", *(f"credit_losses_{x}" for x in LENDER_SECTORS)], strict=True):
        want = ", ".join(f"{tail.label(n)} {v:.2f} [{lo:.2f}, {hi:.2f}]"
                         for n, v, lo, hi in tail.tail_measures(p[of].to_numpy(), 0, of))
        assert line.endswith(want), (line, want)
        assert line.split()[0] == ("all" if of == "credit_losses" else of[len("credit_losses_"):])


def test_every_run_writes_its_tail_measures_beside_the_paths(tmp_path) -> None:
    cfg = make_cfg("calibration=mini", "paths.n=60", "horizon=24", "scenario=severe", "backend=numpy",
                   "output.progress=false", "seed=4")
    run(cfg, tmp_path / "r", progress=False)
    res = results_io.load(tmp_path / "r")  # verified against the manifest's hashes, tail.parquet included
    t = pd.read_parquet(tmp_path / "r" / "tail.parquet")
    assert list(t.columns) == list(tail.TAIL_COLUMNS)
    assert set(t["losses_of"]) == {"all", *LENDER_SECTORS}
    want = tail.tail_measures(res.paths["credit_losses"].to_numpy(), 4)
    got = t[t["losses_of"] == "all"]
    assert [tuple(r) for r in got[["metric", "value", "ci_low", "ci_high"]].itertuples(index=False)] == want
    for whose, sub in t.groupby("losses_of"):
        v = sub.set_index("metric")["value"]
        for lv in ("95", "99"):
            of = "credit_losses" if whose == "all" else f"credit_losses_{whose}"
            assert v[f"es{lv}_{of}"] >= v[f"var{lv}_{of}"]
    assert "tail.parquet" in res.manifest["files"]
