"""Long-tail speed: a 100-path, 12-month run with 100 and with 1,000 extra agents, in one invocation.

For each configuration (the default calibration plus a synthetic long tail of
``calibration.long_tail.neoclouds / private_credit / banks`` extra agents: 80/10/10, 128 agents,
and 800/100/100, 1,028 agents) the CLI (``python -m aisim``) runs in its own subprocess; the
benchmark prints the agents and contracts (from the run's ``manifest.json``), the run's wall
seconds (the manifest's ``wall_s``: simulation and result tables, without start-up), the
process's wall seconds and its peak resident memory (``os.wait4``), and the ratio of the large
run to the small one. Issue 9's done-when: contracts grow linearly in agents and the 1,028-agent
run takes about what the 128-agent run took before.

``--against REV`` also runs the same configurations on git revision ``REV`` (a temporary
``git worktree``, as ``benchmarks/throughput.py``'s ``run_against`` does) and prints the ratios
this tree / REV.

Run with::

    python benchmarks/longtail.py
    python benchmarks/longtail.py --against c89fbe6 --json longtail.json

Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: (label, neoclouds, private_credit, banks) of each configuration timed.
CONFIGS = (("tail 100", 80, 10, 10), ("tail 1000", 800, 100, 100))


def run_config(tree: Path, tail: tuple[int, int, int], paths: int, horizon: int, extra: list[str]) -> dict:
    """One CLI run of ``tree`` in a subprocess: manifest figures, process wall time and peak RSS."""
    neo, pc, banks = tail
    with tempfile.TemporaryDirectory(prefix="aisim-lt-") as tmp:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree),
               f"paths.n={paths}", f"horizon={horizon}",
               f"calibration.long_tail.neoclouds={neo}", f"calibration.long_tail.private_credit={pc}",
               f"calibration.long_tail.banks={banks}", f"hydra.run.dir={tmp}/run", *extra]
        env = dict(os.environ)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"run failed in {tree}: {' '.join(cmd)}\n{err[-2000:]}")
        manifest = json.loads((Path(tmp) / "run" / "manifest.json").read_text())
    return dict(agents=int(manifest["agents"]), contracts=int(manifest["contracts"]),
                run_wall_s=float(manifest["wall_s"]), process_wall_s=wall,
                peak_rss_mib=usage.ru_maxrss / 1024.0)  # ru_maxrss is KiB on Linux


def child(tree: Path, argv: list[str]) -> None:
    """Run ``tree``'s CLI with ``argv``, importing its packages from ``tree`` (its pyproject's
    package-dir mapping: ``aisim`` -> sim/, ...) ahead of any installed copy."""
    import importlib.util  # noqa: PLC0415
    import runpy  # noqa: PLC0415
    import tomllib  # noqa: PLC0415

    setup = tomllib.loads((tree / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {})
    dirs = {name: tree / rel for name, rel in setup.get("package-dir", {}).items() if name}

    class Finder:
        def find_spec(self, name: str, path: object = None, target: object = None) -> object:
            d = dirs.get(name)
            if d is None:
                return None
            return importlib.util.spec_from_file_location(name, d / "__init__.py",
                                                          submodule_search_locations=[str(d)])

    sys.path.insert(0, str(tree))
    sys.meta_path.insert(0, Finder())
    top = "aisim" if "aisim" in setup.get("packages", []) else "sim"
    sys.argv = [top, *argv]
    runpy.run_module(top, run_name="__main__", alter_sys=True)


def measure(tree: Path, args: argparse.Namespace) -> dict:
    return {label: run_config(tree, (n, p, b), args.paths, args.horizon, args.overrides)
            for label, n, p, b in CONFIGS}


def in_worktree(rev: str, args: argparse.Namespace) -> dict:
    """:func:`measure` on git revision ``rev``, checked out in a temporary worktree."""
    with tempfile.TemporaryDirectory(prefix="aisim-lt-bench-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), rev], cwd=ROOT, check=True)
        try:
            return measure(tree, args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


KEYS = (("agents", "agents", "{:.0f}"), ("contracts", "contracts", "{:.0f}"), ("run_wall_s", "run wall s", "{:.2f}"),
        ("process_wall_s", "process wall s", "{:.2f}"), ("peak_rss_mib", "peak RSS MiB", "{:.0f}"))


def table(name: str, res: dict) -> None:
    small, large = (res[label] for label, *_ in CONFIGS)
    print(f"\n{name}: {'':18}{CONFIGS[0][0]:>12}{CONFIGS[1][0]:>12}{'ratio':>9}")
    for key, label, fmt in KEYS:
        ratio = large[key] / small[key] if small[key] else float("nan")
        print(f"  {label:<28}{fmt.format(small[key]):>12}{fmt.format(large[key]):>12}{ratio:>9.2f}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(Path(argv[1]), argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paths", type=int, default=100)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--against", metavar="REV", help="also time git revision REV, in a temporary worktree")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args(argv)
    out = {"this tree": measure(ROOT, args)}
    table("this tree", out["this tree"])
    if args.against:
        out[args.against] = in_worktree(args.against, args)
        table(args.against, out[args.against])
        print(f"\nthis tree / {args.against}:")
        for label, *_ in CONFIGS:
            new, old = out["this tree"][label], out[args.against][label]
            print(f"  {label:<10}" + "".join(
                f"  {name} {new[k] / old[k]:.2f}" for k, name, _ in KEYS[1:] if old[k]))
        big_new, small_old = out["this tree"][CONFIGS[1][0]], out[args.against][CONFIGS[0][0]]
        print(f"  1,000-agent tail here / 100-agent tail at {args.against}: run wall "
              f"{big_new['run_wall_s'] / small_old['run_wall_s']:.2f}, process wall "
              f"{big_new['process_wall_s'] / small_old['process_wall_s']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
