"""Shards and extensions merge exactly: a run split into shards, or grown by the paths it lacks,
and merged with aisim-merge, writes the three tables byte for byte as one run of the same config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aisim import merge
from aisim.runner import BLOCK, config_hash, run
from aisim.schema import ConfigError
from tests.conftest import make_cfg

TABLES = ("paths.parquet", "agents.parquet", "timeseries.parquet", "agent_timeseries.parquet")
# mini world, a few months; paths.n spans three blocks of the canonical order so that shards
# cut blocks in the middle; quantiles over fewer paths than a shard holds
BASE = ("calibration=mini", "horizon=4", "backend=numpy", "output.progress=false", "output.quantile_paths=900")
N = 2 * BLOCK + 52


def go(tmp: Path, name: str, *overrides: str) -> Path:
    d = tmp / name
    run(make_cfg(*BASE, *overrides), d)
    return d


def same_tables(a: Path, b: Path) -> None:
    for t in TABLES:
        assert (a / t).read_bytes() == (b / t).read_bytes(), t


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("shards")
    out = {f"s{i}": go(tmp, f"s{i}", f"paths.n={N}", f"paths.shard={i}/3", "paths.chunk=300") for i in (1, 2, 3)}
    out["single"] = go(tmp, "single", f"paths.n={N}", "paths.chunk=1000")
    out["tmp"] = tmp
    return out


def test_three_shards_merged_are_byte_identical_to_the_single_run(shards: dict[str, Path], capsys) -> None:
    tmp = shards["tmp"]
    merge.main([str(shards["s1"]), str(shards["s2"]), str(shards["s3"]), "--out", str(tmp / "merged")])
    assert "3 parts" in capsys.readouterr().out
    same_tables(tmp / "merged", shards["single"])
    m = json.loads((tmp / "merged" / "manifest.json").read_text())
    single = json.loads((shards["single"] / "manifest.json").read_text())
    assert m["config_hash"] == single["config_hash"] == config_hash(make_cfg(*BASE, f"paths.n={N}"))
    assert [s["shard"] for s in m["shards"]] == ["1/3", "2/3", "3/3"]
    assert [s["path_range"] for s in m["shards"]] == [[0, 700], [700, 1400], [1400, N]]
    for s, d in zip(m["shards"], ("s1", "s2", "s3"), strict=True):
        assert s["files"] == json.loads((shards[d] / "manifest.json").read_text())["files"]
    # a shard holds exactly its rows of the full run
    import pandas as pd

    full = pd.read_parquet(shards["single"] / "paths.parquet")
    part = pd.read_parquet(shards["s2"] / "paths.parquet")
    pd.testing.assert_frame_equal(part, full.iloc[700:1400].reset_index(drop=True), check_exact=True)


def test_a_sweep_folder_of_shards_merges_too(shards: dict[str, Path]) -> None:
    tmp = shards["tmp"]
    sweep = tmp / "sweep"
    for i in (1, 2, 3):
        shutil.copytree(shards[f"s{i}"], sweep / str(i))
    merge.main([str(sweep), "--out", str(tmp / "merged_sweep")])
    same_tables(tmp / "merged_sweep", shards["single"])


@pytest.mark.parametrize("keep", [900, 150])  # quantiles over more paths than the first run has, or fewer
def test_extending_200_paths_to_500_equals_a_500_path_run(tmp_path: Path, keep: int) -> None:
    q = f"output.quantile_paths={keep}"
    small = go(tmp_path, "n200", "paths.n=200", q)
    ext = go(tmp_path, "ext", "paths.n=500", "paths.shard=200:500", q)
    big = go(tmp_path, "n500", "paths.n=500", "paths.chunk=128", q)
    merge.main([str(small), str(ext), "--out", str(tmp_path / "n500_merged")])
    same_tables(tmp_path / "n500_merged", big)
    # the merged run is a run like any other: it can be extended again
    ext2 = go(tmp_path, "ext2", "paths.n=1100", "paths.shard=500:1100", q)
    big2 = go(tmp_path, "n1100", "paths.n=1100", q)
    merge.main([str(tmp_path / "n500_merged"), str(ext2), "--out", str(tmp_path / "n1100_merged")])
    same_tables(tmp_path / "n1100_merged", big2)
    from aisim.report import build_report

    assert build_report(tmp_path / "n1100_merged").is_file()  # its saved config matches its results


@pytest.mark.parametrize(
    ("parts", "needles"),
    [
        (["s1", "s3"], ["missing", "shard 2/3", "700:1400"]),
        (["s1", "s2", "s2", "s3"], ["duplicated", "s2"]),
        (["s1", "s2", "other"], ["mismatched", "other", "config hash"]),
        (["s1", "s2", "s3", "single"], ["overlapping", "single"]),
        (["s1", "s2", "broken"], ["broken", "incomplete", "did not complete"]),
    ],
)
def test_wrong_shard_sets_are_refused_naming_them(shards: dict[str, Path], tmp_path: Path, capsys,
                                                  parts: list[str], needles: list[str]) -> None:
    if "other" in parts:  # shard 3/3 of another configuration (another seed)
        shards["other"] = shards.get("other") or go(shards["tmp"], "other", f"paths.n={N}", "paths.shard=3/3", "seed=9")
    if "broken" in parts:  # a shard whose run did not finish: no manifest
        b = tmp_path / "broken"
        b.mkdir()
        (b / "paths.parquet").write_bytes((shards["s3"] / "paths.parquet").read_bytes())
        shards["broken"] = b
    with pytest.raises(SystemExit) as exc:
        merge.main([*(str(shards[p]) for p in parts), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aisim-merge: error:") and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shard", ["0/3", "4/3", "abc", "5:2", "0:99999", "9/8"])
def test_bad_shard_values_are_refused_before_any_work(tmp_path: Path, shard: str) -> None:
    with pytest.raises(ConfigError, match="paths.shard"):
        run(make_cfg(*BASE, "paths.n=8", f"paths.shard={shard}"), tmp_path / "x")
    assert not (tmp_path / "x").exists()
