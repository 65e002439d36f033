"""benchmarks/throughput.py: what it measures, on a tiny run (timings are never asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from aisim.model import AIFinanceModel
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_roofline_and_state_bytes(bench) -> None:
    model = AIFinanceModel(make_cfg("calibration=mini", "paths.n=7", "horizon=2"), None, np.arange(7), np)
    s = model.state
    expected = sum(v.nbytes for k, v in vars(s).items() if k != "month")
    assert bench.state_bytes(s) == expected > 0
    r = bench.roofline(1e9, 12, 4.0, 20.0)  # 2 x 1 GB x 12 months / 4 s = 6 GB/s of 20
    assert r["state_gb_per_s"] == pytest.approx(6.0) and r["fraction"] == pytest.approx(0.3)


def test_against_runs_the_same_benchmark(bench) -> None:
    """The --against subprocess gets every argument that defines the benchmark."""
    argv = ["--calibration", "mini", "--paths", "50", "--ref-paths", "3", "--horizon", "4", "--scaling", "10,20",
            "--scaling-horizon", "2", "--chunk", "auto", "--no-scaling-memory", "--copy-mib", "8", "--seed", "5",
            "scenario=severe", "channels.clearing=false"]
    parse = bench.build_parser().parse_args
    a = parse([*argv, "--against", "HEAD", "--json", "x.json"])
    b = parse(bench.forwarded(a))
    for key in ("calibration", "backend", "seed", "paths", "ref_paths", "horizon", "scaling", "scaling_horizon",
                "chunk", "no_scaling_memory", "copy_mib", "overrides"):
        assert getattr(b, key) == getattr(a, key), key
    assert b.against is None


def test_tiny_run_reports_cpu_time_roofline_and_scaling(bench, capsys) -> None:
    res = bench.main(["--calibration", "mini", "--paths", "6", "--ref-paths", "2", "--horizon", "3",
                      "--scaling", "30", "--chunk", "10", "--scaling-horizon", "2", "--copy-mib", "16"])
    out = capsys.readouterr().out
    assert res["calibration"] == "mini" and res["layout"] == "aisim"
    assert res["reference_mismatches"] == 0  # the model and the per-agent reference agree
    v = res["vectorised"]
    assert v["cpu_s"] > 0 and 0 < v["roofline_fraction"] and v["state_mib"] > 0
    assert res["copy"]["gb_per_s"] > 0 and res["copy"]["mib"] == pytest.approx(16)
    (s,) = res["scaling"]
    assert (s["paths"], s["chunk"]) == (30, 10) and s["peak_mib"] > 0
    assert "cpu s" in out and "% of the copy bandwidth" in out


def test_default_calibration_is_the_default(bench) -> None:
    assert bench.build_parser().parse_args([]).calibration == "ai_2025"


def test_bad_revision_stops_before_work(bench, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--against", "no-such-revision-anywhere", "--calibration", "mini"])
    assert exc.value.code == 2
    assert "--against 'no-such-revision-anywhere': not a git revision" in capsys.readouterr().err
