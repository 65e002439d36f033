"""What the contagion channels cost: the default run with every channel on against every channel
off (the skeleton's economics), in one process, on the same configuration and seed.

Run with::

    python benchmarks/channels.py                      # default calibration, 1000 paths
    python benchmarks/channels.py --repeat 3 paths.n=5000 calibration=mini

Prints wall seconds and agent-path-months per second for each and the ratio on / off (the best
of ``--repeat`` runs of each, alternated, to damp noise from other processes). Nothing here
asserts timings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from aisim.config import register  # noqa: E402
from aisim.runner import run  # noqa: E402
from aisim.schema import ChannelsConfig  # noqa: E402

CHANNELS = list(ChannelsConfig.__dataclass_fields__)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each variant (best is kept)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. paths.n=5000")
    args = ap.parse_args(argv)
    base = ["backend=numpy", "output.progress=false", *args.overrides]
    variants = {
        "all channels on": base,
        "all channels off": base + [f"channels.{c}=false" for c in CHANNELS],
    }
    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfgs = {k: compose(config_name="config", overrides=v) for k, v in variants.items()}
    best: dict[str, float] = {}
    steps = 0.0
    for _ in range(args.repeat):
        for name, cfg in cfgs.items():
            t0 = time.perf_counter()
            res = run(cfg, None, progress=False)
            wall = time.perf_counter() - t0
            best[name] = min(best.get(name, float("inf")), wall)
            m = res.results.manifest
            steps = m["agents"] * m["paths"] * m["horizon"]
    cal = cfgs["all channels on"].calibration.name
    print(f"calibration={cal}, {cfgs['all channels on'].paths.n} paths x {cfgs['all channels on'].horizon} months")
    print(f"{'variant':<20}{'wall s':>10}{'agent-path-months/s':>22}")
    for name, wall in best.items():
        print(f"{name:<20}{wall:>10.2f}{steps / wall:>22.3g}")
    print(f"ratio on / off: {best['all channels on'] / best['all channels off']:.2f}")


if __name__ == "__main__":
    main()
