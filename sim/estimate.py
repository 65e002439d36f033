"""Before a run: how much work it is, how long it will take on this backend, how much memory.

:func:`preflight` is called by :func:`aisim.runner.run` once the world and the chunk size are
known, before any path is simulated. It

* refuses (:class:`aisim.schema.ConfigError`, one line) a run whose single chunk cannot fit in
  the memory it runs in (host memory for NumPy, free GPU memory for CuPy), naming the chunk size
  that would fit, and a run whose per-path results alone cannot fit in host memory;
* prints one line, for a large run (more than :data:`ANNOUNCE_ABOVE_S` seconds or
  :data:`ANNOUNCE_ABOVE_BYTES` of memory), with its work in agent-path-months, the time it
  should take on this backend and its peak memory.

The figures are estimates from a simple cost model, good to a factor of about two:

* time = chunks x months x a fixed cost per month (Python and kernel-launch overhead) + paths x
  months x width x a cost per element, where width = 2 x agents + contracts + 16 (the arrays a
  month touches). NumPy's constants were measured on the development machine (a shared 2-core
  x86 server: ~1e5 agent-path-months/s on the ai_2025 calibration with 5,000-path chunks);
  CuPy's are an assumption (50 times NumPy's cost per element, a larger fixed cost per month),
  not a measurement;
* a chunk's working memory = chunk x 8 bytes x :data:`LIVE_ARRAYS` x width, the same loose
  measure :func:`aisim.runner.chunk_size` sizes ``paths.chunk=auto`` with (tracemalloc measured
  about half of it); results kept on the host = paths x :data:`RESULT_BYTES_PER_PATH`, plus the
  time-series values kept for quantiles.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aisim.schema import ConfigError

LIVE_ARRAYS = 40  # live (paths, width) float64 arrays during a month (as aisim.runner.chunk_size)
RESULT_BYTES_PER_PATH = 1200  # the per-path table (~35 float64 columns), its concatenation and parquet copy
TIMESERIES_METRICS = 24  # metrics recorded per month for the quantiles
ANNOUNCE_ABOVE_S = 60.0
ANNOUNCE_ABOVE_BYTES = 4 * 2**30
#: (fixed seconds per chunk-month, seconds per path-month per unit of width), per backend.
COSTS = {"numpy": (0.014, 8.6e-7), "cupy": (0.05, 8.6e-7 / 50)}


@dataclass(frozen=True)
class Estimate:
    """What a run will cost. Bytes are bytes; ``*_available`` is None where unknown."""

    backend: str
    paths: int
    horizon: int
    agents: int
    contracts: int
    chunk: int
    chunk_bytes: float  # working memory of one chunk (on the GPU for CuPy)
    host_bytes: float  # results kept on the host until they are written
    seconds: float
    host_available: float | None
    device_available: float | None

    @property
    def work(self) -> float:
        """Agent-path-months."""
        return float(self.agents) * self.paths * self.horizon

    @property
    def chunks(self) -> int:
        return math.ceil(self.paths / self.chunk)

    @property
    def peak_host_bytes(self) -> float:
        return self.host_bytes + (self.chunk_bytes if self.backend == "numpy" else 0.0)

    @property
    def large(self) -> bool:
        return self.seconds > ANNOUNCE_ABOVE_S or self.peak_host_bytes > ANNOUNCE_ABOVE_BYTES

    def line(self) -> str:
        """One line: the work, the time on this backend, the peak memory."""
        mem = f"peak memory about {_bytes(self.peak_host_bytes)}"
        if self.host_available is not None:
            mem += f" of the {_bytes(self.host_available)} available"
        if self.backend == "cupy":
            mem += f", and {_bytes(self.chunk_bytes)} on the GPU"
            if self.device_available is not None:
                mem += f" of {_bytes(self.device_available)} free"
        return (f"estimate: {self.work:.3g} agent-path-months ({self.paths:,} paths x {self.horizon} months x "
                f"{self.agents} agents, {self.chunks:,} chunk(s) of {self.chunk:,} paths); about "
                f"{_duration(self.seconds)} on {self.backend}; {mem}")


def _bytes(b: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if b >= size:
            return f"{b / size:,.1f} {unit}"
    return f"{b / 2**10:,.0f} KiB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:,.0f} h"


def host_memory_available() -> float | None:
    """Bytes of host memory this process can still use: MemAvailable, or the cgroup's limit
    less its use (containers, Slurm jobs) where that is lower; None when unknown."""
    found: list[float] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(float(line.split()[1]) * 1024)
    except OSError:
        try:
            found.append(float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = float(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(float(limit) - used, 0.0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def device_memory_available(backend: Any) -> float | None:
    """Free bytes on the current CUDA device for the CuPy backend (None otherwise, or unknown).
    CuPy is already imported when the backend resolved to it; nothing is imported here."""
    if backend.name != "cupy" or "cupy" not in sys.modules:
        return None
    try:
        free, _total = sys.modules["cupy"].cuda.runtime.memGetInfo()
        return float(free)
    except Exception:  # noqa: BLE001 -- a probe: any failure means "unknown"
        return None


def width(agents: int, contracts: int) -> int:
    """The columns a month's arrays span, per path."""
    return 2 * agents + contracts + 16


def estimate(cfg: Any, world: Any, chunk: int, backend: Any) -> Estimate:
    """The :class:`Estimate` of running ``cfg`` on ``world`` in chunks of ``chunk`` paths."""
    n, H = int(cfg.paths.n), int(cfg.horizon)
    A, C = int(world.n_agents), int(world.n_contracts)
    w = width(A, C)
    fixed, per = COSTS.get(backend.name, COSTS["numpy"])
    seconds = math.ceil(n / chunk) * H * fixed + float(n) * H * w * per
    kept = min(n, int(cfg.output.quantile_paths)) * H * TIMESERIES_METRICS * 8 * 2
    # agent_timeseries.parquet: every agent's six series on the first output.agent_quantile_paths paths
    kept += min(n, int(cfg.output.agent_quantile_paths)) * H * 6 * A * 8 * 2
    return Estimate(
        backend=backend.name, paths=n, horizon=H, agents=A, contracts=C, chunk=chunk,
        chunk_bytes=float(chunk) * 8 * LIVE_ARRAYS * w, host_bytes=float(n) * RESULT_BYTES_PER_PATH + kept,
        seconds=seconds, host_available=host_memory_available(), device_available=device_memory_available(backend),
    )


def check(est: Estimate) -> None:
    """Raise :class:`ConfigError` when one chunk, or the per-path results, cannot fit in memory."""
    per_path = 8 * LIVE_ARRAYS * width(est.agents, est.contracts)
    room, where = ((est.device_available, "free GPU memory") if est.backend == "cupy"
                   else (est.host_available, "available host memory"))
    if room is not None and est.chunk_bytes > room:
        fits = int(0.8 * room // per_path)
        raise ConfigError(
            f"paths.chunk={est.chunk}: one chunk needs about {_bytes(est.chunk_bytes)}, more than the "
            f"{_bytes(room)} of {where}; use paths.chunk={max(fits, 1)} or less, or paths.chunk=auto")
    if est.host_available is not None and est.host_bytes > est.host_available:
        fits = int(0.8 * est.host_available // RESULT_BYTES_PER_PATH)
        raise ConfigError(
            f"paths.n={est.paths}: the per-path results alone need about {_bytes(est.host_bytes)} of host memory, "
            f"more than the {_bytes(est.host_available)} available; one run holds at most about {fits:,} paths "
            f"(about {_duration(est.seconds)} of work asked for): run fewer paths, or several runs with other seeds")


def preflight(cfg: Any, world: Any, chunk: int, backend: Any, stream: TextIO | None = None) -> Estimate:
    """Check that the run fits (:func:`check`) and, for a large run, print its estimate line."""
    est = estimate(cfg, world, chunk, backend)
    check(est)
    if est.large:
        print(f"aisim: {est.line()}", file=stream if stream is not None else sys.stderr, flush=True)
    return est
