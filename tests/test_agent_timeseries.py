"""agent_timeseries.parquet: every agent's revenue, capex, debt, equity, cash and spread each month,
mean over all paths and quantiles over the first output.agent_quantile_paths paths. Its means are
those of the model stepped directly, and the file is the same byte for byte whatever the chunk
size, across shards merged with aisim-merge, an extension, and a resumed run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aisim import merge
from aisim.kernels.accounting import contract_positions
from aisim.outputs import AGENT_METRIC_NAMES
from aisim.runner import TreeSums, dyadic, run, tree_nodes, tree_total
from tests.conftest import make_cfg
from tests.worlds import run_model

FILE = "agent_timeseries.parquet"
COLUMNS = ["month", "date", "agent", "metric", "mean", "p05", "p50", "p95"]
BASE = ("calibration=mini", "backend=numpy", "output.progress=false", "horizon=5")


def go(tmp: Path, name: str, *overrides: str) -> Path:
    d = tmp / name
    run(make_cfg(*BASE, *overrides), d)
    return d


def table(d: Path) -> pd.DataFrame:
    return pd.read_parquet(d / FILE)


def test_one_row_per_month_agent_and_metric(tmp_path: Path) -> None:
    d = go(tmp_path, "run", "paths.n=12", "output.agent_quantile_paths=5")
    df = table(d)
    assert list(df.columns) == COLUMNS
    agents = pd.read_parquet(d / "agents.parquet")["name"].tolist()
    assert len(df) == 5 * len(agents) * len(AGENT_METRIC_NAMES)
    assert not df.duplicated(["month", "agent", "metric"]).any()
    assert df["agent"].unique().tolist() == agents
    assert df["metric"].unique().tolist() == list(AGENT_METRIC_NAMES)
    assert sorted(df["month"].unique()) == list(range(5))
    assert df.loc[df["month"] == 0, "date"].unique().tolist() == ["2026-01"]
    q = df[["p05", "p50", "p95"]].to_numpy()
    assert np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])
    assert "agent_timeseries.parquet" in __import__("json").loads((d / "manifest.json").read_text())["files"]


def test_means_are_those_of_the_model_stepped_directly(tmp_path: Path) -> None:
    cfg = make_cfg(*BASE, "paths.n=9", "output.agent_quantile_paths=9")
    df = table(go(tmp_path, "run", "paths.n=9", "output.agent_quantile_paths=9")).set_index(
        ["agent", "metric", "month"])
    model, history = run_model(cfg)
    col = model.agent("CoreWeave").column
    for t, h in enumerate(history):
        cash = h["cash"][:, col]
        assert df.loc[("CoreWeave", "cash", t), "mean"] == pytest.approx(cash.mean(), rel=1e-9, abs=1e-9)
        assert df.loc[("CoreWeave", "cash", t), "p50"] == pytest.approx(np.median(cash), rel=1e-9, abs=1e-9)
        capex = h["context"]["capex"][:, col]
        assert df.loc[("CoreWeave", "capex", t), "mean"] == pytest.approx(capex.mean(), rel=1e-9, abs=1e-9)
        spread = np.where(h["alive"][:, col], h["spread"][:, col], float(cfg.credit_pricing.max_spread)) * 1e4
        assert df.loc[("CoreWeave", "spread", t), "mean"] == pytest.approx(spread.mean(), rel=1e-9, abs=1e-9)
    # the last month's debt from the final state's balance sheet
    debt = np.asarray(contract_positions(np, model.book, model.state)[1])[:, col]
    assert df.loc[("CoreWeave", "debt", len(history) - 1), "mean"] == pytest.approx(debt.mean(), rel=1e-9)
    assert debt.mean() > 0


def test_same_file_whatever_the_chunk_size(tmp_path: Path) -> None:
    q = "output.agent_quantile_paths=25"  # quantiles over fewer paths than the run has, cut by the chunks
    ref = go(tmp_path, "c40", "paths.n=40", "paths.chunk=40", q)
    for chunk in (7, 16):
        d = go(tmp_path, f"c{chunk}", "paths.n=40", f"paths.chunk={chunk}", q)
        assert (d / FILE).read_bytes() == (ref / FILE).read_bytes(), chunk


@pytest.mark.parametrize("keep", [10, 30])  # quantiles final in the first shard, or spread over two
def test_shards_merged_equal_one_run(tmp_path: Path, keep: int) -> None:
    q = f"output.agent_quantile_paths={keep}"
    single = go(tmp_path, "single", "paths.n=40", q)
    shards = [go(tmp_path, f"s{i}", "paths.n=40", f"paths.shard={i}/3", "paths.chunk=6", q) for i in (1, 2, 3)]
    merge.main([*(str(s) for s in shards), "--out", str(tmp_path / "merged")])
    assert (tmp_path / "merged" / FILE).read_bytes() == (single / FILE).read_bytes()
    # an extension of the merged run (20 -> 40 -> 52) equals the larger single run too
    ext = go(tmp_path, "ext", "paths.n=52", "paths.shard=40:52", q)
    big = go(tmp_path, "big", "paths.n=52", q)
    merge.main([str(tmp_path / "merged"), str(ext), "--out", str(tmp_path / "merged52")])
    assert (tmp_path / "merged52" / FILE).read_bytes() == (big / FILE).read_bytes()


def test_a_resumed_run_gives_the_same_file(tmp_path: Path) -> None:
    cfg = make_cfg(*BASE, "paths.n=20")
    first = run(cfg, tmp_path / "out")
    before = (tmp_path / "out" / FILE).read_bytes()
    again = run(make_cfg(*BASE, "paths.n=20", "paths.chunk=3"), tmp_path / "out")
    assert again.resumed and (tmp_path / "out" / FILE).read_bytes() == before
    pd.testing.assert_frame_equal(again.results.agent_timeseries, first.results.agent_timeseries, check_exact=True)
    (tmp_path / "out" / FILE).unlink()  # as if the run had died while writing: recomputed, the same
    redo = run(cfg, tmp_path / "out")
    assert not redo.resumed and (tmp_path / "out" / FILE).read_bytes() == before


def test_tree_sums_are_the_same_whatever_the_cuts() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(37, 2, 3)) * 10.0 ** rng.integers(-8, 8, size=(37, 1, 1))

    def parts(cuts: list[int]) -> list[dict[str, np.ndarray]]:
        out = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            t = TreeSums(2, 3)
            for lo in range(a, b, 5):  # chunks of 5 inside the part
                hi = min(b, lo + 5)
                for slot in range(2):
                    t.add(slot, lo, x[lo:hi, slot])
                t.flush()
            out.append(t.arrays("at"))
        return out

    ref = tree_total(tree_nodes(parts([0, 37]), "at", 0, 37), 0, 37)
    for cuts in ([0, 1, 37], [0, 13, 14, 30, 37], [0, 8, 16, 24, 32, 37]):
        got = tree_total(tree_nodes(parts(cuts), "at", 0, 37), 0, 37)
        assert np.array_equal(got, ref), cuts
    np.testing.assert_allclose(ref, x.sum(axis=0), rtol=1e-12, atol=1e-6)
    assert dyadic(13, 37) == [(0, 13), (1, 7), (4, 1), (2, 8), (0, 36)]
    with pytest.raises(ValueError, match="exactly once"):
        tree_nodes(parts([0, 13])[:1] + parts([14, 37]), "at", 0, 37)


def test_defaulted_agents_count_zero_flows_and_the_largest_spread() -> None:
    from aisim.model import AIFinanceModel
    from aisim.outputs import agent_month

    cfg = make_cfg(*BASE, "paths.n=30", "horizon=18", "scenario=severe")
    model = AIFinanceModel(cfg, None, np.arange(30), np)
    seen = 0
    for _ in range(18):
        model.step()
        s, ctx = model.state, model.context
        y = agent_month(model, s, ctx).reshape(30, len(AGENT_METRIC_NAMES), -1)
        v = dict(zip(AGENT_METRIC_NAMES, np.moveaxis(y, 1, 0), strict=True))
        before = ~s.alive & ~ctx.new_defaults  # defaulted in an earlier month
        seen += int(before.sum())
        assert np.all(v["revenue"][before] == 0) and np.all(v["capex"][before] == 0)
        assert np.all(v["spread"][~s.alive] == float(cfg.credit_pricing.max_spread) * 1e4)
        np.testing.assert_array_equal(v["cash"], s.cash)
        np.testing.assert_array_equal(v["equity"], s.equity)
    assert seen > 0  # the severe scenario brings defaults within the horizon
