"""Do this checkout and an older revision write byte-identical result tables?

Runs every shipped regime x scenario on the given calibrations with this checkout and with
``--against REV`` (exported from git into a temporary folder and run from there, in a separate
process, with the same Python and packages), and compares ``paths.parquet`` and
``agents.parquet`` byte for byte. Exit status 1 if any pair differs.

    .venv/bin/python scripts/same_results.py --against 55af89a          # the commit before the redesign
    .venv/bin/python scripts/same_results.py --against 55af89a --paths 50 --calibrations mini

Revisions before the package rename import ``sim`` and ``kernels`` as top-level packages; later
ones ``aisim``. The script handles both.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("paths.parquet", "agents.parquet")


def _import_run(src: Path) -> tuple:
    """``run`` and the schema registration of the code in ``src``, imported from ``src`` itself.

    The installed (editable) ``aisim`` points at this checkout, so an exported revision is put
    first on ``sys.path`` under the name it expects: ``sim``/``kernels`` before the package
    rename; after it, an ``aisim`` folder laid out as pyproject maps it (sim/ with kernels/ and
    conf/ inside).
    """
    if src.resolve() == ROOT:
        from aisim import config
        from aisim.runner import run

        return run, config.register
    if "aisim.kernels" not in (src / "pyproject.toml").read_text():
        sys.path.insert(0, str(src))
        import sim.cli  # noqa: F401 -- before the rename: registers the schema on import
        from sim.runner import run

        return run, lambda: None
    shim = src / "_shim"
    shim.mkdir(exist_ok=True)
    for name in ("kernels", "conf"):
        if not (src / "sim" / name).exists():
            (src / "sim" / name).symlink_to(src / name)
    if not (shim / "aisim").exists():
        (shim / "aisim").symlink_to(src / "sim")
    sys.path.insert(0, str(shim))
    import aisim

    try:
        from aisim import config

        register = config.register
    except ImportError:
        import aisim.cli  # noqa: F401 -- registers the schema on import
        register = lambda: None  # noqa: E731
    from aisim.runner import run

    assert Path(aisim.__file__).resolve().is_relative_to(src.resolve()), aisim.__file__
    return run, register


def _child(src: Path, out: Path, combos: list[str], paths: int, horizon: int | None) -> None:
    """Run every combination with the code in ``src`` (this checkout or an exported revision)."""
    run, register = _import_run(src)
    register()
    print(f"  code from {Path(run.__code__.co_filename).resolve()}", flush=True)
    from hydra import compose, initialize_config_dir

    for combo in combos:
        cal, scen, reg = combo.split(",")
        overrides = [f"calibration={cal}", f"scenario={scen}", f"regime={reg}", f"paths.n={paths}",
                     "paths.chunk=auto", "backend=numpy", "output.progress=false"]
        if horizon is not None:
            overrides.append(f"horizon={horizon}")
        with initialize_config_dir(config_dir=str(src / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
        run(cfg, out / cal / scen / reg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="55af89a", help="git revision to compare with (default: %(default)s)")
    ap.add_argument("--paths", type=int, default=200, help="paths per run (default: %(default)s, one chunk)")
    ap.add_argument("--horizon", type=int, default=None, help="months (default: the config's)")
    ap.add_argument("--calibrations", default="mini,ai_2025", help="comma-separated (default: %(default)s)")
    ap.add_argument("--child", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--combos", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]), args.combos.split(";"), args.paths, args.horizon)
        return 0

    scenarios = sorted(p.stem for p in (ROOT / "conf" / "scenario").glob("*.yaml"))
    regimes = sorted(p.stem for p in (ROOT / "conf" / "regime").glob("*.yaml"))
    combos = [f"{c},{s},{r}" for c in args.calibrations.split(",") for s in scenarios for r in regimes]
    with tempfile.TemporaryDirectory(prefix="aisim-same-") as tmp:
        tmp_path = Path(tmp)
        old_src = tmp_path / "old"
        old_src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.against], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive.stdout, check=True)
        for label, src in (("old", old_src), ("new", ROOT)):
            cmd = [sys.executable, __file__, "--child", str(src), str(tmp_path / label), "--paths", str(args.paths),
                   "--combos", ";".join(combos)]
            if args.horizon is not None:
                cmd += ["--horizon", str(args.horizon)]
            where = src if label == "old" else "this checkout"
            print(f"running {len(combos)} configurations with {label} code ({where})", flush=True)
            subprocess.run(cmd, check=True, cwd=tmp_path)
        differ = 0
        for combo in combos:
            rel = Path(*combo.split(","))
            for table in TABLES:
                a = (tmp_path / "old" / rel / table).read_bytes()
                b = (tmp_path / "new" / rel / table).read_bytes()
                if a != b:
                    differ += 1
                    print(f"DIFFERENT {rel}/{table}: {hashlib.sha256(a).hexdigest()[:12]} vs "
                          f"{hashlib.sha256(b).hexdigest()[:12]}")
        total = len(combos) * len(TABLES)
        print(f"{total - differ} of {total} tables byte-identical to {args.against} "
              f"({len(combos)} runs of {args.paths} paths: {', '.join(TABLES)})")
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
