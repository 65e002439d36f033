"""Merge the shards of a run, or a run and its extension: ``aisim-merge DIR... --out OUT``.

Each DIR is a run directory (a shard, ``paths.shard=I/N``, or a run or range ``A:B`` of the same
configuration) or a sweep directory holding such job folders. The parts' path ranges must tile
the paths ``0..n-1`` exactly once (``n``: the largest ``paths.n`` among them), and they must be of
one configuration apart from ``paths.n``, ``paths.shard`` and the chunk size (the same
:func:`aisim.runner.base_hash`) and have run on one backend. Missing, duplicated, overlapping,
incomplete or mismatched parts are refused before anything is written, with a message naming
them.

OUT then holds ``paths.parquet``, ``timeseries.parquet``, ``agents.parquet`` and
``agent_timeseries.parquet`` byte-identical to those of one run of the configuration with
``paths.n = n`` (the tables are made from the parts' canonical partial sums,
:class:`aisim.runner.BlockSums` and :class:`aisim.runner.TreeSums`, by the code a single run uses),
the merged partial sums (so OUT can be extended again), its config in ``.hydra/`` and a
manifest listing the parts (``shards``) with their config hashes and file hashes.

A sweep directory whose jobs differ in more than the shard (regimes x scenarios x shards) is
merged job by job: one folder per configuration under OUT, named by its overrides.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from aisim import results as results_io
from aisim.shards import shard_of, shard_range


class MergeError(ValueError):
    """The parts cannot be merged; the message names them and says why."""


SKIP_DIRS = (results_io.STALE, ".submitit")


@dataclass
class Part:
    folder: Path
    manifest: dict[str, Any]
    overrides: list[str] = field(default_factory=list)  # the job's overrides (Hydra), without paths.shard

    @property
    def range(self) -> tuple[int, int]:
        lo, hi = self.manifest["path_range"]
        return int(lo), int(hi)

    def describe(self) -> str:
        s = self.manifest.get("shard")
        lo, hi = self.range
        return f"{self.folder} ({f'shard {s}, ' if shard_of(s) else ''}paths {lo}:{hi})"


# --------------------------------------------------------------------------- finding parts
def is_run_dir(d: Path) -> bool:
    """A folder an aisim run wrote into (or is writing into): its Hydra files, a saved config, a
    lock or any result file."""
    names = (".hydra/hydra.yaml", "config.yaml", results_io.LOCK, *results_io.RESULT_FILES)
    return any((d / n).is_file() for n in names)


def find_run_dirs(root: Path) -> list[Path]:
    """``root`` itself when it is a run directory, else the run directories under it."""
    if is_run_dir(root):
        return [root]
    found = set()
    for marker in ("manifest.json", ".hydra/hydra.yaml"):
        for p in root.rglob(marker):
            d = p.parent if marker == "manifest.json" else p.parent.parent
            if not any(part in SKIP_DIRS for part in d.relative_to(root).parts):
                found.add(d)
    return sorted(found, key=_job_order)


def _job_order(d: Path) -> tuple:
    return tuple(int(x) if x.isdigit() else x for x in d.parts)


def saved_config(d: Path) -> DictConfig | None:
    for p in (d / ".hydra" / "config.yaml", d / "config.yaml"):
        if p.is_file():
            c = OmegaConf.load(p)
            assert isinstance(c, DictConfig)
            return c
    return None


def job_overrides(d: Path) -> list[str]:
    """The job's Hydra task overrides without ``paths.shard``; [] when not a Hydra job."""
    p = d / ".hydra" / "overrides.yaml"
    if not p.is_file():
        return []
    ov = OmegaConf.load(p)
    return [str(o) for o in ov if not str(o).lstrip("+~").startswith("paths.shard=")]


def check_config(d: Path, manifest: dict[str, Any]) -> str | None:
    """Why the folder's saved config does not match its results, or None when it does."""
    from aisim.runner import config_hash

    cfg = saved_config(d)
    if cfg is None:
        return None
    try:
        h = config_hash(cfg)
    except Exception as exc:  # an unreadable config: say so
        return f"its config cannot be read ({exc})"
    if h != manifest.get("config_hash"):
        return (f"its config (hash {h}) is not the one its results were made with (config hash "
                f"{manifest.get('config_hash')}): the folder mixes two runs")
    return None


def read_part(d: Path) -> tuple[Part | None, str | None]:
    """The part in ``d``, or why it cannot be used."""
    st = results_io.status(d)
    if (d / results_io.LOCK).exists() and not st.complete:
        return None, "a run is in progress there, or was interrupted"
    if not st.complete:
        return None, st.reason
    assert st.manifest is not None
    m = st.manifest
    if "path_range" not in m or results_io.PARTIALS not in m.get("files", {}):
        return None, "it has no partial sums (partials.npz; made by an older aisim): rerun it"
    why = check_config(d, m)
    if why:
        return None, why
    return Part(d, m, job_overrides(d)), None


# --------------------------------------------------------------------------- checks
def check_tiling(parts: list[Part]) -> int:
    """The merged run's paths.n; raises MergeError naming missing, duplicated or overlapping parts."""
    if not parts:
        raise MergeError("nothing to merge")
    b0 = parts[0].manifest.get("base_hash")
    bad = [p for p in parts if p.manifest.get("base_hash") != b0]
    if bad:
        listing = "; ".join(f"{p.folder}: config hash {p.manifest.get('config_hash')}" for p in parts)
        raise MergeError(f"mismatched parts: {', '.join(str(p.folder) for p in bad)} are of another configuration "
                         f"than {parts[0].folder} ({listing}); parts of one run differ only in paths.n, paths.shard "
                         "and paths.chunk")
    backends = {p.manifest.get("backend") for p in parts}
    if len(backends) > 1:
        raise MergeError("mismatched parts: they ran on different backends ("
                         + "; ".join(f"{p.folder}: {p.manifest.get('backend')}" for p in parts)
                         + "); NumPy and CuPy agree only to rounding, so run every shard on one backend")
    n = max(int(p.manifest["paths_n"]) for p in parts)
    ordered = sorted(parts, key=lambda p: p.range)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.range == b.range:
            raise MergeError(f"duplicated parts: {a.describe()} and {b.describe()} hold the same paths; keep one")
        if b.range[0] < a.range[1]:
            raise MergeError(f"overlapping parts: {a.describe()} and {b.describe()}")
    gaps, pos = [], 0
    for p in ordered:
        if p.range[0] > pos:
            gaps.append((pos, p.range[0]))
        pos = p.range[1]
    if pos < n:
        gaps.append((pos, n))
    if gaps:
        counts = {shard_of(p.manifest.get("shard")) for p in parts}
        k = next(iter(counts))[1] if len(counts) >= 1 and None not in counts and len({c[1] for c in counts}) == 1 \
            else None
        names = []
        for lo, hi in gaps:
            miss = [f"{i}/{k}" for i in range(1, k + 1) if lo <= shard_range(f"{i}/{k}", n)[0] < hi] if k else []
            names.append(f"shard {', '.join(miss)} (paths {lo}:{hi})" if miss else f"paths {lo}:{hi}")
        raise MergeError(f"missing parts of the {n}-path run: {'; '.join(names)} "
                         f"(have: {', '.join(p.describe() for p in ordered)})")
    return n


# --------------------------------------------------------------------------- merging
@dataclass
class Merged:
    results: results_io.Results
    partials: dict[str, np.ndarray]
    config: DictConfig | None
    source: Part  # the part whose config and Hydra files the merged run takes (paths.n = n)


def merge_parts(parts: list[Part]) -> Merged:
    """Check and merge ``parts`` in memory; raises MergeError."""
    from aisim.runner import STATIC_AGENT_COLUMNS, agent_series_from_partials, tables_from_partials

    n = check_tiling(parts)
    ordered = sorted(parts, key=lambda p: p.range)
    arrays = [results_io.read_arrays(p.folder / results_io.PARTIALS) for p in ordered]
    names = [str(x) for x in arrays[0]["metric_names"]]
    for p, a in zip(ordered, arrays, strict=True):
        if [str(x) for x in a["metric_names"]] != names:
            raise MergeError(f"mismatched parts: {p.folder} records other metrics than {ordered[0].folder}")
        if "at_node_sums" not in a:
            raise MergeError(f"{p.folder} has no agent series in its partial sums (made by an older aisim): rerun it")
    source = next(p for p in ordered if int(p.manifest["paths_n"]) == n)
    cfg = saved_config(source.folder)
    keep = int(arrays[0]["keep"])
    first_agents = pd.read_parquet(ordered[0].folder / "agents.parquet")
    static = first_agents[list(STATIC_AGENT_COLUMNS)]
    m0 = source.manifest
    final = [p for p, a in zip(ordered, arrays, strict=True) if int(a.get("quantiles_final", 0))]
    quantiles = pd.read_parquet(final[0].folder / "timeseries.parquet") if final else None
    try:
        timeseries, agents = tables_from_partials(arrays, 0, n, static, names, str(m0["start"]), keep,
                                                  quantiles=quantiles)
        keep_at = int(arrays[0]["at_keep"])
        final_at = [p for p, a in zip(ordered, arrays, strict=True) if int(a["at_quantiles_final"])]
        agent_series = agent_series_from_partials(
            arrays, 0, n, [str(x) for x in static["name"]], str(m0["start"]), keep_at,
            quantiles=pd.read_parquet(final_at[0].folder / "agent_timeseries.parquet") if final_at else None)
    except ValueError as exc:
        raise MergeError(f"the parts' partial sums do not tile the paths: {exc}") from exc
    paths = pd.concat([pd.read_parquet(p.folder / "paths.parquet") for p in ordered], ignore_index=True)
    if not np.array_equal(paths["path"].to_numpy(), np.arange(n)):
        raise MergeError("the parts' paths.parquet files do not hold the paths 0..n-1 in order")
    merged_partials = _union(arrays, n, keep)
    wall = float(sum(p.manifest.get("wall_s") or 0.0 for p in ordered))
    H = int(m0["horizon"])
    manifest = {
        **{k: m0.get(k) for k in ("seed", "horizon", "start", "backend", "device", "backend_note", "calibration",
                                  "scenario", "regime", "config_hash", "base_hash", "version", "git_revision",
                                  "agents", "contracts")},
        "paths": n, "paths_n": n, "path_range": [0, n], "shard": None, "chunk": None, "wall_s": wall,
        "agent_path_steps_per_s": int(m0["agents"]) * n * H / wall if wall > 0 else None,
        "max_identity_residual": max(float(p.manifest["max_identity_residual"]) for p in ordered),
        "shards": [{"dir": str(p.folder.resolve()), "shard": p.manifest.get("shard"),
                    "path_range": list(p.range), "paths_n": p.manifest.get("paths_n"),
                    "config_hash": p.manifest.get("config_hash"), "files": p.manifest.get("files", {})}
                   for p in ordered],
    }
    res = results_io.Results(paths=paths, timeseries=timeseries, agents=agents, manifest=manifest,
                             agent_timeseries=agent_series)
    if cfg is not None:
        cfg = _merged_config(cfg, n)
        from aisim.runner import attribution_of_config  # the tail is known only now, over all paths

        res.attribution = attribution_of_config(cfg, paths)
    return Merged(res, merged_partials, cfg, source)


def _union(arrays: list[dict[str, np.ndarray]], n: int, keep: int) -> dict[str, np.ndarray]:
    """The partial sums of the merged run: the parts' block sums and rows side by side, and the
    values of its paths below ``keep`` that are not among those rows (none when n >= keep: its
    quantiles are then final)."""
    from aisim.runner import BLOCK, TreeSums, stored_agent_kept, stored_kept, tree_nodes

    out: dict[str, np.ndarray] = {
        "lo": np.int64(0), "hi": np.int64(n), "paths_n": np.int64(n), "block": np.int64(BLOCK),
        "keep": np.int64(keep), "quantiles_final": np.int64(n >= keep), "metric_names": arrays[0]["metric_names"],
    }
    for prefix in ("ts", "ag"):
        for key in ("block_ids", "block_sums", "row_index", "rows"):
            out[f"{prefix}_{key}"] = np.concatenate([a[f"{prefix}_{key}"] for a in arrays])
    store = stored_kept(0, n, keep, out["ts_row_index"])
    idx = np.concatenate([a["kept_index"] for a in arrays])
    vals = np.concatenate([a["kept"] for a in arrays])
    pos = {int(i): k for k, i in enumerate(idx)}
    out["kept_index"] = store
    out["kept"] = vals[[pos[int(i)] for i in store]] if store.size else np.zeros((0, *vals.shape[1:]))
    # the agent series: the parts' dyadic nodes joined; the kept values of all n paths below keep
    nodes = tree_nodes(arrays, "at", 0, n)
    tree = TreeSums(*next(iter(nodes.values())).shape)
    tree.nodes = nodes
    out.update(tree.arrays("at"))
    keep_at = int(arrays[0]["at_keep"])
    if n >= keep_at:
        kept_at = np.zeros((0, *arrays[0]["at_kept"].shape[1:]))
    else:
        kept_at = agent_kept_values_all(arrays, n)
    out.update(stored_agent_kept(0, n, keep_at, kept_at))
    return out


def agent_kept_values_all(arrays: list[dict[str, np.ndarray]], n: int) -> np.ndarray:
    """The agent series' kept values of the paths 0..n-1 from the parts (all below keep)."""
    from aisim.runner import agent_kept_values

    kept = agent_kept_values(arrays, 0, n, n)
    assert kept is not None  # n < keep: no part can hold final quantiles
    return kept


def _merged_config(cfg: DictConfig, n: int) -> DictConfig:
    c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    assert isinstance(c, DictConfig)
    OmegaConf.update(c, "paths.n", n, force_add=True)
    OmegaConf.update(c, "paths.shard", None, force_add=True)
    return c


def write_merged(m: Merged, out: Path) -> None:
    """Claim ``out`` and write the merged run there (its config in .hydra/ like an aisim job)."""
    with results_io.claim(out, "aisim-merge") as c:
        c.clear()
        if m.config is not None:
            src = m.source.folder
            hy = src / ".hydra"
            (out / ".hydra").mkdir(parents=True, exist_ok=True)
            OmegaConf.save(m.config, out / ".hydra" / "config.yaml")
            n = int(m.results.manifest["paths_n"])
            ov = [o for o in job_overrides(src) if not o.lstrip("+~").startswith("paths.n=")]
            if (hy / "overrides.yaml").is_file():
                OmegaConf.save(OmegaConf.create(ov + [f"paths.n={n}"]), out / ".hydra" / "overrides.yaml")
            if (hy / "hydra.yaml").is_file():
                h = OmegaConf.load(hy / "hydra.yaml")
                task = [str(o) for o in (OmegaConf.select(h, "hydra.overrides.task") or [])
                        if not str(o).lstrip("+~").startswith(("paths.shard=", "paths.n="))]
                OmegaConf.update(h, "hydra.overrides.task", task + [f"paths.n={n}"], force_add=True)
                OmegaConf.save(h, out / ".hydra" / "hydra.yaml")
        results_io.write(out, m.results, m.partials)


# --------------------------------------------------------------------------- groups and the CLI
def collect(dirs: list[Path]) -> tuple[list[list[Part]], list[str]]:
    """The groups of parts to merge (one group when every DIR is a run directory; for sweep
    directories, one per configuration) and the problems found."""
    problems: list[str] = []
    groups: dict[tuple[str, ...], list[Part]] = {}
    explicit = all(is_run_dir(d) for d in dirs)
    for d in dirs:
        if not d.is_dir():
            problems.append(f"{d}: no such folder")
            continue
        runs = find_run_dirs(d)
        if not runs:
            problems.append(f"{d}: no run directories (with manifest.json or .hydra/) in it")
        for r in runs:
            part, why = read_part(r)
            if part is None:
                problems.append(f"{r}: incomplete ({why})")
                continue
            key = () if explicit else tuple(part.overrides)
            groups.setdefault(key, []).append(part)
    return list(groups.values()), problems


def group_name(parts: list[Part]) -> str:
    ov = parts[0].overrides
    name = ",".join(ov) if ov else f"config-{parts[0].manifest.get('config_hash')}"
    return name.replace("/", "_")[:200]


def merge(dirs: list[Path], out: Path) -> list[Path]:
    """Merge and write; returns the run directories written. Raises MergeError before writing
    anything when a part is missing, duplicated, incomplete or mismatched."""
    groups, problems = collect(dirs)
    if problems:
        raise MergeError("; ".join(problems))
    merged: list[tuple[Merged, Path]] = []
    for parts in groups:
        target = out if len(groups) == 1 else out / group_name(parts)
        try:
            merged.append((merge_parts(parts), target))
        except MergeError as exc:
            raise MergeError(f"{group_name(parts)}: {exc}" if len(groups) > 1 else str(exc)) from exc
    for m, target in merged:
        write_merged(m, target)
    return [t for _, t in merged]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: ``aisim-merge DIR [DIR ...] --out OUT``."""
    ap = argparse.ArgumentParser(
        prog="aisim-merge",
        description="Merge the shards of an aisim run (or a run and its extension) into one run directory.")
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="shard run directories, or a sweep directory holding them")
    ap.add_argument("--out", required=True, metavar="OUT", help="the run directory to write")
    args = ap.parse_args(argv)
    dirs = [Path(d) for d in args.dirs]
    out = Path(args.out)
    if any(out.resolve() == d.resolve() or d.resolve() in out.resolve().parents for d in dirs if d.exists()):
        print(f"aisim-merge: error: --out {out} is inside a DIR to merge; choose a folder outside them",
              file=sys.stderr)
        sys.exit(2)
    try:
        written = merge(dirs, out)
    except (MergeError, results_io.RunDirBusy) as exc:
        print(f"aisim-merge: error: {exc}", file=sys.stderr)
        sys.exit(2)
    for d in written:
        m = json.loads((d / results_io.MANIFEST).read_text())
        print(f"aisim-merge: {d.resolve()}  {len(m['shards'])} parts, {m['paths']} paths, "
              f"config hash {m['config_hash']}")


if __name__ == "__main__":
    main()
