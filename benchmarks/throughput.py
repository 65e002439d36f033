"""Throughput and memory: the vectorised model against the per-agent reference, and scaling.

In one process, on the same configuration:

(a) the vectorised model (:class:`aisim.model.AIFinanceModel`, all paths at once) and
(b) the slow per-agent reference of ``tests/reference.py`` (one path at a time, plain Python,
    every contagion channel as the config switches it: all on by default),

each timed without tracing, then run again under ``tracemalloc`` for its peak memory. Throughput
is agent-path-months per second, so the reference's few paths compare fairly with the model's
many; the ratio is vectorised / reference. Then the vectorised model's end-to-end throughput
(:func:`aisim.runner.run`: chunking, recording, result tables) for each ``paths.n`` of
``--scaling``, on a shorter horizon, so that scaling with the number of paths is visible.

Run with::

    python benchmarks/throughput.py
    python benchmarks/throughput.py --paths 2000 --ref-paths 20 --horizon 36 \\
        --scaling 100,1000,10000,100000 --scaling-horizon 12 --json throughput.json

Extra Hydra overrides go last, e.g. ``scenario=severe``. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from aisim.config import register  # noqa: E402
from aisim.kernels.backend import resolve, to_numpy  # noqa: E402
from aisim.longtail import with_long_tail  # noqa: E402
from aisim.model import AIFinanceModel  # noqa: E402
from aisim.runner import run  # noqa: E402
from aisim.world import build_world  # noqa: E402
from tests.reference import CHANNELS, ReferenceModel, compare  # noqa: E402

MiB = 2**20


def compose_cfg(overrides: list[str]) -> Any:
    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds untraced, tracemalloc peak in MiB of a second, traced run, result)."""
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return wall, peak / MiB, out


def vectorised(cfg: Any, world: Any, xp: Any, paths: int, horizon: int) -> Any:
    model = AIFinanceModel(cfg, world, np.arange(paths, dtype=np.int64), xp)
    for _ in range(horizon):
        model.step()
    to_numpy(model.state.cash)  # synchronise a GPU before the clock stops
    return model


def reference(cfg: Any, world: Any, paths: int, horizon: int) -> list:
    ref = ReferenceModel(cfg, world)
    finals = []
    for p in range(paths):
        s = ref.initial_state()
        for _ in range(horizon):
            s, _ = ref.step(s, p)
        finals.append(s)
    return finals


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibration", default="mini", help="calibration config name (conf/calibration/)")
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "auto"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--paths", type=int, default=1000, help="paths of the vectorised run in (a)")
    ap.add_argument("--ref-paths", type=int, default=20, help="paths of the reference run in (b)")
    ap.add_argument("--horizon", type=int, default=36, help="months of the runs in (a) and (b)")
    ap.add_argument("--scaling", default="100,1000,10000,100000",
                    help="comma-separated paths.n for the scaling table ('' to skip)")
    ap.add_argument("--scaling-horizon", type=int, default=12, help="months of each scaling run")
    ap.add_argument("--no-scaling-memory", action="store_true",
                    help="skip the traced second run of each scaling point (halves its time)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. scenario=severe")
    args = ap.parse_args(argv)

    base = [f"calibration={args.calibration}", f"backend={args.backend}", f"seed={args.seed}",
            "output.progress=false", *args.overrides]
    backend = resolve(args.backend)
    xp = backend.xp
    H = args.horizon
    cfg = with_long_tail(compose_cfg([*base, f"paths.n={max(args.paths, args.ref_paths)}", f"horizon={H}"]))
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                        regime=cfg.regime, covenants=cfg.covenants)
    A = world.n_agents
    on = [c for c in CHANNELS if bool(cfg.channels[c])]
    print(f"aisim throughput: calibration {args.calibration} ({A} agents, {world.n_contracts} contracts), "
          f"backend {backend.name} ({backend.device}), seed {args.seed}, {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"channels on: {', '.join(on) if len(on) < len(CHANNELS) else 'all'}"
          f"{'' if on else 'none'}; regime {cfg.regime.name}, scenario {cfg.scenario.name}")
    if backend.name == "cupy":
        print("note: tracemalloc sees host memory only; device memory is not counted")

    # (a) and (b), same configuration
    v_wall, v_peak, model = measure(lambda: vectorised(cfg, world, xp, args.paths, H))
    r_wall, r_peak, finals = measure(lambda: reference(cfg, world, args.ref_paths, H))
    v_rate = A * args.paths * H / v_wall
    r_rate = A * args.ref_paths * H / r_wall
    # the two agree on the shared paths (the tests check every month; here the last one)
    mismatches = sum(len(compare(s, model.state, p)) for p, s in enumerate(finals) if p < args.paths)

    rows = [("vectorised model", args.paths, H, v_wall, v_rate, v_peak),
            ("per-agent reference", args.ref_paths, H, r_wall, r_rate, r_peak)]
    print()
    print(f"{'':22}{'paths':>8}{'months':>8}{'wall s':>9}{'agent-path-months/s':>22}{'peak MiB':>10}")
    for name, p, h, w, rate, peak in rows:
        print(f"{name:22}{p:>8}{h:>8}{w:>9.3f}{fmt_rate(rate):>22}{peak:>10.2f}")
    print(f"ratio vectorised / reference: {v_rate / r_rate:,.1f}x   "
          f"(final states of the {min(args.ref_paths, args.paths)} shared paths: "
          f"{'agree' if mismatches == 0 else f'{mismatches} fields differ'})")

    # scaling of the vectorised model, end to end
    scaling = []
    sizes = [int(float(x)) for x in args.scaling.split(",") if x.strip()]
    if sizes:
        Hs = args.scaling_horizon
        print()
        print(f"scaling of the vectorised model (sim.runner.run, horizon {Hs} months):")
        print(f"{'paths':>10}{'chunk':>8}{'wall s':>9}{'agent-path-months/s':>22}{'peak MiB':>10}")
        for n in sizes:
            c = compose_cfg([*base, f"paths.n={n}", f"horizon={Hs}"])
            if args.no_scaling_memory:
                t0 = time.perf_counter()
                res = run(c, None, progress=False)
                wall, peak = time.perf_counter() - t0, float("nan")
            else:
                wall, peak, res = measure(lambda c=c: run(c, None, progress=False))
            m = res.results.manifest
            rate = A * n * Hs / wall
            scaling.append({"paths": n, "horizon": Hs, "chunk": m["chunk"], "wall_s": wall,
                            "agent_path_months_per_s": rate, "peak_mib": peak})
            print(f"{n:>10}{m['chunk']:>8}{wall:>9.3f}{fmt_rate(rate):>22}{peak:>10.2f}")

    result = {
        "calibration": args.calibration, "agents": A, "contracts": world.n_contracts,
        "backend": backend.name, "device": backend.device, "seed": args.seed,
        "overrides": args.overrides, "channels_on": on, "python": platform.python_version(),
        "numpy": np.__version__,
        "vectorised": {"paths": args.paths, "horizon": H, "wall_s": v_wall,
                       "agent_path_months_per_s": v_rate, "peak_mib": v_peak},
        "reference": {"paths": args.ref_paths, "horizon": H, "wall_s": r_wall,
                      "agent_path_months_per_s": r_rate, "peak_mib": r_peak},
        "ratio_vectorised_over_reference": v_rate / r_rate,
        "reference_mismatches": mismatches,
        "scaling": scaling,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(args.json)
        print(f"\nwrote {args.json}")
    return result


if __name__ == "__main__":
    main()
