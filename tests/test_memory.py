"""Peak memory is bounded by the chunk, not by the number of paths.

A Mesa model sits in reference cycles (its agents, the bound methods Mesa stores on it, its
event generator), so a finished chunk's model -- and its state arrays -- used to live on until
a full garbage collection: peak memory grew with the number of chunks. aisim.runner.release
frees each chunk when it is done.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from aisim.longtail import world_of
from aisim.model import AIFinanceModel
from aisim.observe import simulate_series
from aisim.runner import run
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]


def _live_models() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, AIFinanceModel))


def test_finished_chunks_are_freed_without_the_garbage_collector() -> None:
    """With the cyclic collector off, no chunk's model outlives its chunk (run and simulate_series)."""
    cfg = make_cfg("calibration=mini", "paths.n=40", "paths.chunk=10", "horizon=3", "backend=numpy",
                   "output.progress=false")
    gc.collect()
    before = _live_models()
    gc.disable()
    try:
        run(cfg, None, progress=False)
        after_run = _live_models()
        series = simulate_series(cfg, world_of(cfg), 40, months=3)
        after_series = _live_models()
    finally:
        gc.enable()
    assert after_run == before, f"{after_run - before} of run()'s 4 chunk models still alive"
    assert after_series == before, f"{after_series - before} of simulate_series' chunk models still alive"
    assert series["alive"].shape[1] == 40


# A run in a fresh interpreter; prints its tracemalloc peak (MiB) and a digest of its results.
_PEAK = """
import json, sys, tracemalloc
import numpy as np
from aisim.runner import run
from tests.conftest import make_cfg
n = int(sys.argv[1])
cfg = make_cfg("calibration=mini", f"paths.n={n}", "paths.chunk=1000", "horizon=12",
               "output.quantile_paths=1000", "backend=numpy", "output.progress=false")
tracemalloc.start()
res = run(cfg, None, progress=False)
peak = tracemalloc.get_traced_memory()[1] / 2**20
tracemalloc.stop()
print(json.dumps({"peak_mib": peak, "rows": len(res.results.paths),
                  "losses": float(np.sum(res.results.paths["credit_losses"]))}))
"""


def _peak(n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", _PEAK, str(n)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_of_ten_times_the_paths_is_at_most_one_and_a_half_times() -> None:
    """Peak traced memory of a run with 10x the paths at the same chunk size is at most 1.5x.

    mini calibration, chunk 1000, 12 months, 1000 against 10000 paths, each in a fresh process
    under tracemalloc (NumPy reports its buffers to it), so the ~170 MiB of imports that a
    resident-set measure would add to both runs do not hide the growth. The time-series
    quantiles keep the first ``output.quantile_paths`` paths' values, by design; here that is
    one chunk's worth in both runs, so what may grow with the paths is only the per-path table
    (a few numbers a path). Before chunks were freed the ratio was about 2.3.
    """
    small, large = _peak(1000), _peak(10000)
    assert (small["rows"], large["rows"]) == (1000, 10000)
    ratio = large["peak_mib"] / small["peak_mib"]
    assert ratio <= 1.5, f"peak {large['peak_mib']:.1f} MiB for 10000 paths vs {small['peak_mib']:.1f} MiB for 1000"
    assert np.isfinite(large["losses"])
