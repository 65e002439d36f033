"""Throughput and memory: the vectorised model against the per-agent reference, and scaling.

In one process, on the same configuration (the default calibration, ``ai_2025``, unless told):

(a) the vectorised model (:class:`aisim.model.AIFinanceModel`, all paths at once) and
(b) the slow per-agent reference of ``tests/reference.py`` (one path at a time, plain Python,
    every contagion channel as the config switches it: all on by default),

each timed without tracing (wall and CPU time), then run again under ``tracemalloc`` for its
peak memory. Throughput is agent-path-months per second, so the reference's few paths compare
fairly with the model's many; the ratio is vectorised / reference. Then the vectorised model's
end-to-end throughput (:func:`aisim.runner.run`: chunking, recording, result tables) for each
``paths.n`` of ``--scaling``, on a shorter horizon, so that scaling with the number of paths
and memory against the chunk are visible.

Roofline: a month reads and writes every array of the State at least once, so
``2 x (sum of the State arrays' bytes) x months / wall`` is a lower bound on the memory traffic
the run achieved; it is printed as a fraction of a large-array copy bandwidth (``copyto`` of
``--copy-mib`` MiB, read + write bytes over time, best of five) measured in the same process.

``--against REV`` runs this same benchmark, with the same arguments, on git revision ``REV``
in the same invocation: a temporary ``git worktree`` of REV, imported in a subprocess (with
``PYTHONPATH`` pointing at it; trees from before the rename import ``sim`` and ``kernels``,
later ones ``aisim``), and prints both side by side with ratios (this tree / REV).

Run with::

    python benchmarks/throughput.py
    python benchmarks/throughput.py --against 55af89a
    python benchmarks/throughput.py --calibration mini --paths 2000 --ref-paths 20 --horizon 36 \\
        --scaling 100,1000,10000,100000 --scaling-horizon 12 --json throughput.json

Extra Hydra overrides go last, e.g. ``scenario=severe``; ``--here OVERRIDE`` (repeatable) applies one to
this tree only, for keys an older ``--against`` revision lacks (``--here channels.contract_base=true``).
Nothing here asserts timings. On a machine where OPENBLAS_CORETYPE is set (see the header line), unset it
together with OPENBLAS_L2_SIZE in the benchmark's command alone to measure a current NumPy at full speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20


# ------------------------------------------------------------------ importing a source tree
class _TreeFinder:
    """Import the packages that a tree's pyproject maps to other directories from that tree
    (``aisim`` -> sim/, ``aisim.kernels`` -> kernels/, ``sim.conf`` -> conf/), ahead of any
    installed copy."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        d = self.dirs.get(name)
        if d is None:
            return None
        return importlib.util.spec_from_file_location(name, d / "__init__.py", submodule_search_locations=[str(d)])


def load_tree(root: Path, isolate: bool) -> SimpleNamespace:
    """The modules the benchmark needs, from the source tree at ``root`` (either layout).

    isolate: import that tree's copy even where another one is installed (the --against
    subprocess); otherwise import as usual (this tree, installed or on the path).
    """
    setup = tomllib.loads((root / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {})
    packages = list(setup.get("packages", []))
    top = "aisim" if "aisim" in packages else "sim"
    kernels = f"{top}.kernels" if f"{top}.kernels" in packages else "kernels"
    if isolate:
        sys.path.insert(0, str(root))
        dirs = {name: root / rel for name, rel in setup.get("package-dir", {}).items() if name}
        sys.meta_path.insert(0, _TreeFinder(dirs))
    elif str(root) not in sys.path:
        sys.path.insert(0, str(root))

    def mod(name: str) -> ModuleType:
        return importlib.import_module(name)

    try:  # the config schema registered with Hydra: aisim.config.register(), or on importing the CLI
        mod(f"{top}.config").register()
    except (ImportError, AttributeError):
        mod(f"{top}.cli")
    for where in ("longtail", "calibration"):  # the synthetic long tail of small agents
        try:
            with_long_tail = mod(f"{top}.{where}").with_long_tail
            break
        except (ImportError, AttributeError):
            continue
    else:  # older trees without it
        def with_long_tail(cfg: Any) -> Any:
            return cfg
    reference = mod("tests.reference")
    backend = mod(f"{kernels}.backend")
    return SimpleNamespace(
        layout=top, root=root, resolve=backend.resolve, to_numpy=backend.to_numpy,
        AIFinanceModel=mod(f"{top}.model").AIFinanceModel, run=mod(f"{top}.runner").run,
        build_world=mod(f"{top}.world").build_world, with_long_tail=with_long_tail,
        world_options=_world_options(mod(f"{top}.world")),
        CHANNELS=reference.CHANNELS, ReferenceModel=reference.ReferenceModel, compare=reference.compare,
    )


# ------------------------------------------------------------------ measurements
def _world_options(world_module: ModuleType) -> Callable[[Any], dict]:
    """Keyword options of build_world that follow from the config (the syndicate size of
    relationship lending), or none for trees without them."""
    size = getattr(world_module, "syndicate_size", None)
    if size is None:
        return lambda cfg: {}
    jv = getattr(world_module, "jv_terms", None)
    if jv is None:
        return lambda cfg: {"syndicate": size(cfg)}
    return lambda cfg: {"syndicate": size(cfg), "jv": jv(cfg)}


def compose_cfg(root: Path, overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def measure(fn: Callable[[], Any], traced: bool = True) -> tuple[float, float, float, Any]:
    """(wall s, CPU s of an untraced run, tracemalloc peak MiB of a second, traced run, result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = float("nan")
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            fn()
            _, p = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        peak = p / MiB
    return wall, cpu, peak, out


def available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def copy_bandwidth(xp: Any, to_numpy: Callable, mib: int) -> dict:
    """Large-array copy bandwidth of this process: ``copyto`` of ``mib`` MiB (less where memory
    is short), read + write bytes over the time, best of five after a warm-up copy (the best
    is the machine's, not its neighbours')."""
    avail = available_bytes()
    size = mib * MiB
    if avail is not None and xp is np:
        size = min(size, avail // 4)  # two arrays, and room to spare
    n = max(size // 8, 1)
    src = xp.ones((n,), dtype=xp.float64)
    dst = xp.zeros((n,), dtype=xp.float64)
    copyto = getattr(xp, "copyto", None) or np.copyto
    best = float("inf")
    for i in range(6):
        t0 = time.perf_counter()
        copyto(dst, src)
        to_numpy(dst[-1:])  # waits for a device copy to finish
        if i:  # the first copy also faults dst's pages in
            best = min(best, time.perf_counter() - t0)
    del src, dst
    return {"mib": n * 8 / MiB, "gb_per_s": 2 * n * 8 / best / 1e9}


def state_bytes(state: Any) -> int:
    """Bytes of every array of a State (per chunk of paths)."""
    return sum(int(v.nbytes) for v in vars(state).values() if hasattr(v, "nbytes"))


def roofline(bytes_per_month: float, months: int, wall: float, copy_gb_s: float) -> dict:
    """State read + written once a month, as achieved bandwidth and as a fraction of the copy's."""
    gb_s = 2 * bytes_per_month * months / wall / 1e9
    return {"state_gb_per_s": gb_s, "fraction": gb_s / copy_gb_s}


def vectorised(t: SimpleNamespace, cfg: Any, world: Any, xp: Any, paths: int, horizon: int) -> Any:
    model = t.AIFinanceModel(cfg, world, np.arange(paths, dtype=np.int64), xp)
    for _ in range(horizon):
        model.step()
    t.to_numpy(model.state.cash)  # synchronise a GPU before the clock stops
    return model


def reference(t: SimpleNamespace, cfg: Any, world: Any, paths: int, horizon: int) -> list:
    ref = t.ReferenceModel(cfg, world)
    finals = []
    for p in range(paths):
        s = ref.initial_state()
        for _ in range(horizon):
            s, _ = ref.step(s, p)
        finals.append(s)
    return finals


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def blas_note() -> str:
    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    return ", ".join(env) if env else "OPENBLAS_CORETYPE unset"


def benchmark(t: SimpleNamespace, args: argparse.Namespace) -> dict:
    say = print
    base = [f"calibration={args.calibration}", f"backend={args.backend}", f"seed={args.seed}",
            "output.progress=false", *args.overrides, *args.here]
    backend = t.resolve(args.backend)
    xp = backend.xp
    H = args.horizon
    cfg = t.with_long_tail(compose_cfg(t.root, [*base, f"paths.n={max(args.paths, args.ref_paths)}", f"horizon={H}"]))
    world = t.build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                          regime=cfg.regime, covenants=cfg.covenants, **t.world_options(cfg))
    A = world.n_agents
    on = [c for c in t.CHANNELS if bool(cfg.channels[c])]
    say(f"aisim throughput: calibration {args.calibration} ({A} agents, {world.n_contracts} contracts), "
        f"backend {backend.name} ({backend.device}), seed {args.seed}, {platform.python_version()}, "
        f"numpy {np.__version__}, {blas_note()}, tree {t.root} ({t.layout})")
    say(f"channels on: {', '.join(on) if len(on) < len(t.CHANNELS) else 'all'}"
        f"{'' if on else 'none'}; regime {cfg.regime.name}, scenario {cfg.scenario.name}")
    if backend.name == "cupy":
        say("note: tracemalloc sees host memory only; device memory is not counted")
    bw = copy_bandwidth(xp, t.to_numpy, args.copy_mib)
    say(f"copy bandwidth (copyto of {bw['mib']:.0f} MiB, read + write): {bw['gb_per_s']:.1f} GB/s")

    # (a) and (b), same configuration
    v_wall, v_cpu, v_peak, model = measure(lambda: vectorised(t, cfg, world, xp, args.paths, H))
    r_wall, r_cpu, r_peak, finals = measure(lambda: reference(t, cfg, world, args.ref_paths, H))
    v_rate = A * args.paths * H / v_wall
    r_rate = A * args.ref_paths * H / r_wall
    sb = state_bytes(model.state)
    v_roof = roofline(sb, H, v_wall, bw["gb_per_s"])
    # the two agree on the shared paths (the tests check every month; here the last one)
    mismatches = sum(len(t.compare(s, model.state, p)) for p, s in enumerate(finals) if p < args.paths)
    del model

    say()
    say(f"{'':22}{'paths':>8}{'months':>8}{'wall s':>9}{'cpu s':>9}{'agent-path-months/s':>22}{'peak MiB':>10}")
    for name, p, w, c, rate, peak in (("vectorised model", args.paths, v_wall, v_cpu, v_rate, v_peak),
                                      ("per-agent reference", args.ref_paths, r_wall, r_cpu, r_rate, r_peak)):
        say(f"{name:22}{p:>8}{H:>8}{w:>9.3f}{c:>9.3f}{fmt_rate(rate):>22}{peak:>10.2f}")
    say(f"ratio vectorised / reference: {v_rate / r_rate:,.1f}x   "
        f"(final states of the {min(args.ref_paths, args.paths)} shared paths: "
        f"{'agree' if mismatches == 0 else f'{mismatches} fields differ'})")
    say(f"roofline of the vectorised model: state {sb / MiB:.2f} MiB, read + written once a month = "
        f"{v_roof['state_gb_per_s']:.2f} GB/s, {100 * v_roof['fraction']:.2f}% of the copy bandwidth")

    # scaling of the vectorised model, end to end
    scaling = []
    sizes = [int(float(x)) for x in args.scaling.split(",") if x.strip()]
    if sizes:
        Hs = args.scaling_horizon
        per_path = sb / args.paths
        say()
        say(f"scaling of the vectorised model (runner.run, horizon {Hs} months, paths.chunk={args.chunk}):")
        say(f"{'paths':>10}{'chunk':>8}{'wall s':>9}{'cpu s':>9}{'agent-path-months/s':>22}{'peak MiB':>10}"
            f"{'roofline':>10}")
        for n in sizes:
            c = compose_cfg(t.root, [*base, f"paths.n={n}", f"horizon={Hs}", f"paths.chunk={args.chunk}"])
            wall, cpu, peak, res = measure(lambda c=c: t.run(c, None, progress=False),
                                           traced=not args.no_scaling_memory)
            m = res.results.manifest
            rate = A * n * Hs / wall
            roof = roofline(per_path * n, Hs, wall, bw["gb_per_s"])
            scaling.append({"paths": n, "horizon": Hs, "chunk": m["chunk"], "wall_s": wall, "cpu_s": cpu,
                            "agent_path_months_per_s": rate, "peak_mib": peak,
                            "roofline_fraction": roof["fraction"]})
            say(f"{n:>10}{m['chunk']:>8}{wall:>9.3f}{cpu:>9.3f}{fmt_rate(rate):>22}{peak:>10.2f}"
                f"{100 * roof['fraction']:>9.2f}%")

    return {
        "tree": str(t.root), "layout": t.layout,
        "calibration": args.calibration, "agents": A, "contracts": world.n_contracts,
        "backend": backend.name, "device": backend.device, "seed": args.seed,
        "overrides": args.overrides, "here": args.here, "channels_on": on, "python": platform.python_version(),
        "numpy": np.__version__, "blas": blas_note(), "copy": bw,
        "vectorised": {"paths": args.paths, "horizon": H, "wall_s": v_wall, "cpu_s": v_cpu,
                       "agent_path_months_per_s": v_rate, "peak_mib": v_peak, "state_mib": sb / MiB,
                       "state_gb_per_s": v_roof["state_gb_per_s"], "roofline_fraction": v_roof["fraction"]},
        "reference": {"paths": args.ref_paths, "horizon": H, "wall_s": r_wall, "cpu_s": r_cpu,
                      "agent_path_months_per_s": r_rate, "peak_mib": r_peak},
        "ratio_vectorised_over_reference": v_rate / r_rate,
        "reference_mismatches": mismatches,
        "scaling": scaling,
    }


# ------------------------------------------------------------------ --against REV
def forwarded(args: argparse.Namespace) -> list[str]:
    """The command-line arguments that define the benchmark, to run it again elsewhere."""
    out = ["--calibration", args.calibration, "--backend", args.backend, "--seed", str(args.seed),
           "--paths", str(args.paths), "--ref-paths", str(args.ref_paths), "--horizon", str(args.horizon),
           "--scaling", args.scaling, "--scaling-horizon", str(args.scaling_horizon), "--chunk", args.chunk,
           "--copy-mib", str(args.copy_mib)]
    if args.no_scaling_memory:
        out.append("--no-scaling-memory")
    return [*out, *args.overrides]


def commit_of(rev: str) -> str | None:
    """The commit ``rev`` names in this repository, or None."""
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=ROOT,
                             capture_output=True, text=True, check=False)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def run_against(rev: str, args: argparse.Namespace) -> dict:
    """This benchmark on git revision ``rev``: a temporary worktree, imported in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="aisim-bench-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), rev], cwd=ROOT, check=True)
        try:
            out = Path(tmp) / "result.json"
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])))
            cmd = [sys.executable, str(Path(__file__).resolve()), "--tree", str(tree), "--json", str(out),
                   *forwarded(args)]
            done = subprocess.run(cmd, cwd=tree, env=env, check=False)
            if done.returncode != 0:
                raise SystemExit(f"--against {rev}: the benchmark of that revision failed (exit {done.returncode})")
            return json.loads(out.read_text())
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def side_by_side(new: dict, old: dict, rev: str) -> list[tuple[str, float, float]]:
    rows = []
    for part in ("vectorised", "reference"):
        for key, label in (("agent_path_months_per_s", "agent-path-months/s"), ("wall_s", "wall s"),
                           ("cpu_s", "cpu s"), ("peak_mib", "peak MiB"), ("roofline_fraction", "roofline fraction")):
            if key in new[part]:
                rows.append((f"{part} {label}", new[part][key], old[part].get(key, float("nan"))))
    rows.append(("copy bandwidth GB/s", new["copy"]["gb_per_s"], old["copy"]["gb_per_s"]))
    old_scaling = {s["paths"]: s for s in old["scaling"]}
    for s in new["scaling"]:
        o = old_scaling.get(s["paths"])
        if o is None:
            continue
        for key, label in (("agent_path_months_per_s", "agent-path-months/s"), ("cpu_s", "cpu s"),
                           ("peak_mib", "peak MiB"), ("roofline_fraction", "roofline fraction")):
            rows.append((f"scaling {s['paths']:>7} {label}", s[key], o[key]))
    print()
    print(f"this tree against {rev} (ratio = this tree / {rev}; each measured in its own process):")
    print(f"{'':42}{'this tree':>14}{rev:>14}{'ratio':>9}")
    for label, a, b in rows:
        ratio = a / b if b else float("nan")
        fmt = (lambda x: f"{100 * x:.2f}%") if "fraction" in label else (
            (lambda x: fmt_rate(x)) if "/s" in label and "GB" not in label else (lambda x: f"{x:.3f}"))
        print(f"{label:42}{fmt(a):>14}{fmt(b):>14}{ratio:>9.3f}")
    return rows


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibration", default="ai_2025", help="calibration config name (conf/calibration/)")
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy", "auto"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--paths", type=int, default=1000, help="paths of the vectorised run in (a)")
    ap.add_argument("--ref-paths", type=int, default=10, help="paths of the reference run in (b)")
    ap.add_argument("--horizon", type=int, default=36, help="months of the runs in (a) and (b)")
    ap.add_argument("--scaling", default="1000,10000",
                    help="comma-separated paths.n for the scaling table ('' to skip)")
    ap.add_argument("--scaling-horizon", type=int, default=12, help="months of each scaling run")
    ap.add_argument("--chunk", default="1000", help="paths.chunk of the scaling runs (a number or auto)")
    ap.add_argument("--no-scaling-memory", action="store_true",
                    help="skip the traced second run of each scaling point (halves its time)")
    ap.add_argument("--copy-mib", type=int, default=1024, help="array size of the copy-bandwidth measurement")
    ap.add_argument("--against", metavar="REV", default=None,
                    help="also run this benchmark on git revision REV (a temporary worktree) and compare")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    ap.add_argument("--tree", type=Path, default=None, help=argparse.SUPPRESS)  # the --against subprocess
    ap.add_argument("--here", metavar="OVERRIDE", action="append", default=[],
                    help="a Hydra override for this tree only, not passed to --against REV (a key REV's config "
                    "lacks, e.g. a channel added since: --here channels.contract_base=true); repeatable")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. scenario=severe")
    return ap


def main(argv: list[str] | None = None) -> dict:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.chunk != "auto" and not args.chunk.isdigit():
        ap.error(f"--chunk {args.chunk!r}: use a positive number of paths or auto")

    commit = None
    if args.against is not None:
        commit = commit_of(args.against)
        if commit is None:
            ap.error(f"--against {args.against!r}: not a git revision of {ROOT} (a commit, tag or branch)")
    tree = load_tree(args.tree.resolve() if args.tree else ROOT, isolate=args.tree is not None)
    try:  # a wrong calibration or override: one line, before any work
        compose_cfg(tree.root, [f"calibration={args.calibration}", f"backend={args.backend}", *args.overrides,
                                *args.here])
    except Exception as exc:  # Hydra's and OmegaConf's config errors
        ap.error(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
    result = benchmark(tree, args)
    if args.against is not None:
        print(f"\n--- the same benchmark on {args.against} ({commit[:12]}) ---", flush=True)
        old = run_against(commit, args)
        side_by_side(result, old, args.against)
        result = {"this": result, "against": {"rev": args.against, **old}}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(args.json)
        if args.tree is None:
            print(f"\nwrote {args.json}")
    return result


if __name__ == "__main__":
    main()
