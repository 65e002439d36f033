"""Result files of a run: written atomically, read back with :func:`load`.

* ``paths.parquet`` -- one row per path;
* ``timeseries.parquet`` -- per month and metric: mean and quantiles across paths;
* ``agents.parquet`` -- one row per agent;
* ``manifest.json`` -- what was run, how fast, and how well the books balanced.

Each file is written under a temporary name and renamed into place, and the manifest is
written last, so an interrupted run never leaves a set of files that looks complete.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

FILES = ("paths.parquet", "timeseries.parquet", "agents.parquet", "manifest.json")


@dataclass
class Results:
    paths: pd.DataFrame
    timeseries: pd.DataFrame
    agents: pd.DataFrame
    manifest: dict[str, Any]


def _atomic(path: Path, write: Any) -> None:
    """Write ``path`` through ``write(tmp)`` under a temporary name, then rename it into place.

    The temporary file is created with mode 0666 less the umask, as ``open`` would create
    ``path`` itself (``tempfile.mkstemp`` makes it 0600, which would keep colleagues on a shared
    cluster from reading the results); it is removed if anything, Ctrl-C included, interrupts.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: Path) -> None:
    _atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_json(obj: dict[str, Any], path: Path) -> None:
    def w(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")

    _atomic(path, w)


def write(run_dir: Path, results: Results) -> None:
    """Write all four files; the manifest last."""
    run_dir = Path(run_dir)
    write_table(results.paths, run_dir / "paths.parquet")
    write_table(results.timeseries, run_dir / "timeseries.parquet")
    write_table(results.agents, run_dir / "agents.parquet")
    write_json(results.manifest, run_dir / "manifest.json")


def load(run_dir: str | os.PathLike[str]) -> Results:
    """Read a run directory's three tables and manifest.

    Raises FileNotFoundError naming the missing file when the run did not complete.
    """
    d = Path(run_dir)
    for name in FILES:
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d / name} is missing: the run in {d} did not complete")
    return Results(
        paths=pd.read_parquet(d / "paths.parquet"),
        timeseries=pd.read_parquet(d / "timeseries.parquet"),
        agents=pd.read_parquet(d / "agents.parquet"),
        manifest=json.loads((d / "manifest.json").read_text()),
    )
