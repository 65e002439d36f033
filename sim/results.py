"""Result files of a run: written atomically, read back with :func:`load`; run folders claimed.

* ``paths.parquet`` -- one row per path;
* ``timeseries.parquet`` -- per month and metric: mean and quantiles across paths;
* ``agents.parquet`` -- one row per agent;
* ``agent_timeseries.parquet`` -- per month, agent and metric (revenue, capex, debt, equity, cash,
  spread): mean and quantiles across paths (:data:`aisim.outputs.AGENT_METRICS`);
* ``tail.parquet`` -- VaR and ES of credit losses (all creditors, each lender sector) with
  bootstrap intervals, from ``paths.parquet`` (:func:`aisim.tail.tail_table`);
* ``partials.npz`` -- the canonical partial sums the tables were made from (so that shards and
  extensions merge exactly, :mod:`aisim.merge`);
* ``manifest.json`` -- what was run (its ``config_hash`` and path range), how fast, how well the
  books balanced, and the SHA-256 of every other result file.

Each file is written under a temporary name and renamed into place, and the manifest is written
last and names the other files by their hashes, so an interrupted run never leaves a set of files
that looks complete, and tables of one run beside the manifest of another are detected.

A run folder is *claimed* for the duration of a run (:func:`claim`): a lock file names the
process holding it, a second run into the folder is refused with that reason, and results that
are not those of the run starting (another config hash, or incomplete) are moved aside into
``.stale/`` before any work.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aisim import tail
from aisim.schema import LENDER_SECTORS

TABLES = ("paths.parquet", "timeseries.parquet", "agents.parquet", "agent_timeseries.parquet")
ATTRIBUTION = "attribution.parquet"  # written by runs over all of paths.n
TAIL = "tail.parquet"
PARTIALS = "partials.npz"
MANIFEST = "manifest.json"
FILES = (*TABLES, TAIL, MANIFEST)
#: Every file a run writes; what :func:`claim` moves aside when it is stale.
RESULT_FILES = (*TABLES, TAIL, ATTRIBUTION, PARTIALS, MANIFEST, "report.html")
LOCK = ".aisim.lock"
STALE = ".stale"
#: A lock held by a process on another host is taken as abandoned after this long without a
#: heartbeat (the holder touches it at least every LOCK_HEARTBEAT_S seconds while it works).
LOCK_STALE_S = 600.0
LOCK_HEARTBEAT_S = 30.0


class ResultsError(ValueError):
    """A run folder's files do not belong together (tables of another run than the manifest's)."""


class RunDirBusy(ValueError):
    """Another run holds the run folder; the message names it."""


@dataclass
class Results:
    paths: pd.DataFrame
    timeseries: pd.DataFrame
    agents: pd.DataFrame
    manifest: dict[str, Any]
    attribution: pd.DataFrame | None = None  # attribution.parquet: runs over all of paths.n (aisim.attribution)
    agent_timeseries: pd.DataFrame | None = None  # agent_timeseries.parquet (every run writes it)


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


def write_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """An ``.npz`` of plain arrays (no pickles), written atomically."""

    def w(tmp: str) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        Path(tmp).write_bytes(buf.getvalue())

    _atomic(path, w)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(run_dir: Path, results: Results, partials: dict[str, np.ndarray] | None = None) -> None:
    """Write the tables (and the partial sums), then the manifest with their hashes."""
    run_dir = Path(run_dir)
    write_table(results.paths, run_dir / "paths.parquet")
    write_table(results.timeseries, run_dir / "timeseries.parquet")
    write_table(results.agents, run_dir / "agents.parquet")
    if results.agent_timeseries is None:
        raise ValueError("results without agent_timeseries: every run writes agent_timeseries.parquet")
    write_table(results.agent_timeseries, run_dir / "agent_timeseries.parquet")
    write_table(tail.tail_table(results.paths, int(results.manifest.get("seed", 0)), LENDER_SECTORS), run_dir / TAIL)
    names = [*TABLES, TAIL]
    if results.attribution is not None:
        write_table(results.attribution, run_dir / ATTRIBUTION)
        names.append(ATTRIBUTION)
    if partials is not None:
        write_arrays(partials, run_dir / PARTIALS)
        names.append(PARTIALS)
    results.manifest["files"] = {name: sha256(run_dir / name) for name in names}
    write_json(results.manifest, run_dir / MANIFEST)


def verify(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a complete run folder; raises FileNotFoundError naming a missing file, or
    :class:`ResultsError` when a file is not the one the manifest was written with."""
    d = Path(run_dir)
    for name in FILES:
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d / name} is missing: the run in {d} did not complete")
    try:
        manifest = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{d / MANIFEST} cannot be read ({exc}); the run in {d} did not complete") from exc
    for name, digest in manifest.get("files", {}).items():
        p = d / name
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing: the run in {d} did not complete")
        if sha256(p) != digest:
            raise ResultsError(f"{p} is not the file manifest.json was written with (SHA-256 differs): {d} mixes "
                               "the files of two runs; rerun it")
    return manifest


def load(run_dir: str | os.PathLike[str]) -> Results:
    """Read a run directory's four tables and manifest, checked against the manifest's hashes.

    Raises FileNotFoundError naming the missing file when the run did not complete, and
    :class:`ResultsError` when the tables are not those of the manifest's run.
    """
    d = Path(run_dir)
    manifest = verify(d)
    return Results(
        paths=pd.read_parquet(d / "paths.parquet"),
        timeseries=pd.read_parquet(d / "timeseries.parquet"),
        agents=pd.read_parquet(d / "agents.parquet"),
        manifest=manifest,
        agent_timeseries=pd.read_parquet(d / "agent_timeseries.parquet"),
        attribution=pd.read_parquet(d / ATTRIBUTION) if ATTRIBUTION in manifest.get("files", {}) else None,
    )


# --------------------------------------------------------------------------- completeness
@dataclass
class Status:
    """Whether a run folder holds complete results for a run; ``reason`` says why not."""

    complete: bool
    reason: str
    manifest: dict[str, Any] | None = None
    has_results: bool = False  # any result file present (complete or not)


def status(run_dir: str | os.PathLike[str], config_hash: str | None = None,
           path_range: tuple[int, int] | None = None) -> Status:
    """Complete results in ``run_dir`` (for ``config_hash`` and ``path_range`` when given)?"""
    d = Path(run_dir)
    present = any((d / name).exists() for name in RESULT_FILES)
    if not present:
        return Status(False, "no results", None, False)
    try:
        manifest = verify(d)
    except (FileNotFoundError, ResultsError) as exc:
        return Status(False, str(exc), None, True)
    if config_hash is not None and manifest.get("config_hash") != config_hash:
        return Status(False, f"its results are of config hash {manifest.get('config_hash')}, not {config_hash}",
                      manifest, True)
    if path_range is not None and list(manifest.get("path_range", [])) != list(path_range):
        return Status(False, f"its results cover paths {_range(manifest.get('path_range'))}, not "
                      f"{_range(path_range)}", manifest, True)
    return Status(True, "complete", manifest, True)


def _range(r: Any) -> str:
    return f"{r[0]}:{r[1]}" if r else "(unknown)"


# --------------------------------------------------------------------------- claiming a folder
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _abandoned(path: Path, info: dict[str, Any]) -> bool:
    """True when the process that wrote the lock is gone (same host), or it has had no
    heartbeat for LOCK_STALE_S (another host, where its process cannot be seen)."""
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not _pid_alive(info["pid"])
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > LOCK_STALE_S


class Claim:
    """A held run folder: :meth:`heartbeat` while working; released on exit of :func:`claim`."""

    def __init__(self, run_dir: Path, lock: Path) -> None:
        self.run_dir = run_dir
        self.lock = lock
        self.moved: Path | None = None  # where stale results went
        self._beat = time.monotonic()

    def clear(self, names: Any = RESULT_FILES) -> Path | None:
        """Move the result files present aside (``.stale/TIMESTAMP/``); returns where, or None."""
        self.moved = move_aside(self.run_dir, names)
        return self.moved

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._beat >= LOCK_HEARTBEAT_S:
            self._beat = now
            with contextlib.suppress(OSError):
                os.utime(self.lock)


def _acquire(run_dir: Path, what: str) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "what": what}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _read_lock(lock)
            if held is None:
                continue  # released meanwhile
            if _abandoned(lock, held):
                lock.unlink(missing_ok=True)  # its holder died: the folder's results are checked below
                continue
            raise RunDirBusy(
                f"run directory {run_dir} is in use by another run (pid {held.get('pid')} on {held.get('host')} "
                f"since {held.get('since')}, {held.get('what', 'aisim')}); wait for it to finish or choose another "
                f"folder (if that run is dead, delete {lock})") from None
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
        return lock
    raise RunDirBusy(f"run directory {run_dir}: could not take {lock}")


def move_aside(run_dir: Path, names: Any) -> Path | None:
    """Move the named files or folders of ``run_dir`` into ``run_dir/.stale/TIMESTAMP/``."""
    present = [n for n in names if (run_dir / n).exists() or (run_dir / n).is_symlink()]
    if not present:
        return None
    base = run_dir / STALE / time.strftime("%Y%m%d-%H%M%S")
    dest, k = base, 1
    while dest.exists():
        k += 1
        dest = base.with_name(f"{base.name}-{k}")
    for n in present:
        target = dest / n
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(run_dir / n, target)
    return dest


@contextlib.contextmanager
def claim(run_dir: str | os.PathLike[str], what: str = "aisim") -> Iterator[Claim]:
    """Hold ``run_dir`` for one run: take its lock (or raise :class:`RunDirBusy`) and release it
    at the end, also on failure. The holder checks the folder (:func:`status`) and moves stale
    results aside (:meth:`Claim.clear`) before any work."""
    d = Path(run_dir)
    lock = _acquire(d, what)
    try:
        yield Claim(d, lock)
    finally:
        lock.unlink(missing_ok=True)
