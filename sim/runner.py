"""Run one configuration: validate, pick the backend, simulate chunks of paths, write results.

:func:`run` is the plain function behind the CLI; tests call it directly with a composed config.
Paths are simulated in chunks; per-path outcomes are kept (a few numbers each), time series
and agent statistics are aggregated on the fly in one canonical order (:class:`BlockSums`:
fixed blocks of paths), so memory does not grow with ``paths.n`` and the sums are the same
whatever the chunk size, and whether the paths ran in one run or in shards merged later
(:mod:`aisim.merge`). Time-series quantiles are taken over the first ``output.quantile_paths``
paths' stored values. Every agent's monthly series (``agent_timeseries.parquet``) sum in a dyadic
order (:class:`TreeSums`, O(log n) memory) and take their quantiles over the first
``output.agent_quantile_paths`` paths.

``paths.shard`` restricts a run to a share of the paths (:mod:`aisim.shards`). A run directory
is claimed for the run, and a run whose directory already holds its complete results returns
them at once (:func:`run`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from aisim import attribution, estimate, quality
from aisim import results as results_io
from aisim.kernels.accounting import balance_sheet
from aisim.kernels.backend import Backend, resolve, to_numpy
from aisim.kernels.debtrank import systemic_importance
from aisim.kernels.state import CAUSE_NAMES, EQUITY, LOAN
from aisim.longtail import with_long_tail
from aisim.model import AIFinanceModel
from aisim.outputs import AGENT_METRIC_NAMES, PD_TERMS, PathTracker, agent_month
from aisim.schema import Config, validate
from aisim.shards import is_set, shard_range
from aisim.world import World, build_world, jv_terms, syndicate_size

AUTO_CHUNK_BYTES = 256 * 2**20  # working memory for one chunk when paths.chunk=auto
MAX_AUTO_CHUNK = 20_000


def chunk_size(cfg: Any, world: World) -> int:
    """Paths per chunk: the configured number, or for ``auto`` what fits the memory budget."""
    n = int(cfg.paths.n)
    if cfg.paths.chunk != "auto":
        return min(int(cfg.paths.chunk), n)
    # ~40 live (paths, agents|contracts) float64 arrays during a month, measured loosely
    per_path = 40 * 8 * (2 * world.n_agents + world.n_contracts + 16)
    return max(1, min(n, MAX_AUTO_CHUNK, AUTO_CHUNK_BYTES // per_path))


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
            text=True, timeout=5, check=False,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("aisim")
    except Exception:  # not installed (running from a source tree)
        return "0+unknown"


# --------------------------------------------------------------------------- canonical sums
#: Paths per block of the canonical aggregation order (see :class:`BlockSums`).
BLOCK = 1024
QUANTILES = (0.05, 0.5, 0.95)
#: The per-agent sums over paths behind agents.parquet: the first four, then one count of the paths
#: defaulted by the end of each term of PD_TERMS, then one count of defaults per cause.
AGENT_SUMS = ("defaults", "default_month_sum", "loss_caused_sum", "equity_end_sum",
              *(f"defaults_by_{T}y" for T in PD_TERMS), *(f"defaults_{c}" for c in CAUSE_NAMES[1:]))


def _seq_sum(start: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``start + rows[0] + rows[1] + ...`` element by element, strictly in row order.

    ``np.add.accumulate`` along axis 0 adds the rows one after another whatever the shape (a plain
    ``sum`` would use pairwise summation along a contiguous axis); for a C-contiguous
    (paths, agents) array with more than one agent this is the order ``x.sum(axis=0)`` uses.
    """
    if rows.shape[0] == 0:
        return start
    return np.add.accumulate(np.concatenate([start[None], rows]), axis=0)[-1]


class BlockSums:
    """Sums over paths in one canonical order, whatever the chunks and shards.

    The paths ``0..n-1`` fall into fixed blocks of :data:`BLOCK`: block ``k`` is paths
    ``[k*BLOCK, (k+1)*BLOCK)``. A block's sum adds its paths' rows one by one in path order,
    starting from 0; the total adds the block sums the same way, in block order. A run that
    computes the paths ``[lo, hi)`` keeps the sum of every block it covers whole and the per-path
    rows of the (at most two) blocks it covers only in part, so runs whose ranges tile the paths
    combine (:func:`combine`) into exactly the sums one run over all of them makes. For a run of at
    most BLOCK paths in one chunk this is the order NumPy's ``x.sum(axis=0)`` uses.

    Values per path have shape ``(slots, width)``; :meth:`add` gives one slot (a month) for a run
    of consecutive paths.
    """

    def __init__(self, lo: int, hi: int, slots: int, width: int) -> None:
        self.lo, self.hi, self.slots, self.width = lo, hi, slots, width
        self.sums: dict[int, np.ndarray] = {}
        part: list[int] = []
        k0, k1 = lo // BLOCK, (hi - 1) // BLOCK
        for k in sorted({k0, k1}):
            blo, bhi = max(lo, k * BLOCK), min(hi, (k + 1) * BLOCK)
            if not self.whole(k):
                part.extend(range(blo, bhi))
        self.row_index = np.asarray(part, dtype=np.int64)
        self.rows = np.zeros((len(part), slots, width))

    def whole(self, k: int) -> bool:
        return self.lo <= k * BLOCK and (k + 1) * BLOCK <= self.hi

    def add(self, slot: int, start: int, x: np.ndarray) -> None:
        """x: (p, width) float64, the rows of paths ``start .. start+p-1`` for ``slot``."""
        stop = start + x.shape[0]
        for k in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            a, b = max(start, k * BLOCK), min(stop, (k + 1) * BLOCK)
            seg = x[a - start:b - start]
            if self.whole(k):
                s = self.sums.setdefault(k, np.zeros((self.slots, self.width)))
                s[slot] = _seq_sum(s[slot], seg)
            else:
                pos = np.searchsorted(self.row_index, a)
                self.rows[pos:pos + (b - a), slot] = seg

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        ids = sorted(self.sums)
        return {
            f"{prefix}_block_ids": np.asarray(ids, dtype=np.int64),
            f"{prefix}_block_sums": (np.stack([self.sums[k] for k in ids]) if ids
                                     else np.zeros((0, self.slots, self.width))),
            f"{prefix}_row_index": self.row_index,
            f"{prefix}_rows": self.rows,
        }


def combine(parts: list[dict[str, np.ndarray]], prefix: str, lo: int, hi: int) -> np.ndarray:
    """The canonical total over paths ``[lo, hi)`` of the partial sums ``parts`` (each the
    :meth:`BlockSums.arrays` of a run), which must cover those paths exactly once."""
    sums: dict[int, np.ndarray] = {}
    idx, rows = [], []
    for p in parts:
        for k, s in zip(p[f"{prefix}_block_ids"].tolist(), p[f"{prefix}_block_sums"], strict=True):
            if k in sums:
                raise ValueError(f"block {k} (paths {k * BLOCK}:{(k + 1) * BLOCK}) is covered twice")
            sums[k] = s
        idx.append(p[f"{prefix}_row_index"])
        rows.append(p[f"{prefix}_rows"])
    shape = next(p[f"{prefix}_rows"].shape[1:] for p in parts)
    all_idx = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)
    all_rows = np.concatenate(rows) if rows else np.zeros((0, *shape))
    order = np.argsort(all_idx, kind="stable")
    all_idx, all_rows = all_idx[order], all_rows[order]
    zero = np.zeros(shape)
    block_sums = []
    for k in range(lo // BLOCK, (hi - 1) // BLOCK + 1):
        blo, bhi = max(lo, k * BLOCK), min(hi, (k + 1) * BLOCK)
        a, b = np.searchsorted(all_idx, blo), np.searchsorted(all_idx, bhi)
        if k in sums:
            if b > a or (blo, bhi) != (k * BLOCK, (k + 1) * BLOCK):
                raise ValueError(f"block {k} (paths {blo}:{bhi}) is covered twice")
            block_sums.append(sums[k])
            continue
        if not np.array_equal(all_idx[a:b], np.arange(blo, bhi)):
            raise ValueError(f"paths {blo}:{bhi} are not covered exactly once")
        block_sums.append(_seq_sum(zero, all_rows[a:b]))
    return _seq_sum(zero, np.stack(block_sums))


# --------------------------------------------------------------------------- dyadic sums (agent series)
def dyadic(lo: int, hi: int) -> list[tuple[int, int]]:
    """The aligned dyadic nodes tiling the paths ``[lo, hi)``, largest possible, left to right:
    ``(level, index)`` is the paths ``[index * 2**level, (index + 1) * 2**level)``."""
    out = []
    a = lo
    while a < hi:
        j = (hi - a).bit_length() - 1
        if a > 0:
            j = min(j, (a & -a).bit_length() - 1)
        out.append((j, a >> j))
        a += 1 << j
    return out


def _pairwise(x: np.ndarray) -> np.ndarray:
    """The sum of the 2**j rows of x as a full binary tree: each node the sum of its two halves."""
    while x.shape[0] > 1:
        x = x[0::2] + x[1::2]
    return x[0]


class TreeSums:
    """Sums over paths in one canonical order held in O(log n) memory, whatever the chunks and shards.

    The canonical sum of a dyadic node of paths (:func:`dyadic`) is its left half's plus its right
    half's, down to single paths; the total over ``[lo, hi)`` adds its nodes left to right. A run
    keeps the nodes of the paths it covers (at most two per level), so runs whose ranges tile the
    paths combine (:func:`tree_total`) into exactly the total one run over all of them makes. Unlike
    :class:`BlockSums` it keeps no per-path rows, so it suits wide values (every agent's series).

    Values per path have shape ``(slots, width)``; :meth:`add` gives one slot (a month) for a run of
    consecutive paths; :meth:`flush` after every slot of those paths has been added.
    """

    def __init__(self, slots: int, width: int) -> None:
        self.slots, self.width = slots, width
        self.nodes: dict[tuple[int, int], np.ndarray] = {}

    def add(self, slot: int, start: int, x: np.ndarray) -> None:
        """x: (p, width) float64, the rows of paths ``start .. start+p-1`` for ``slot``."""
        for j, i in dyadic(start, start + x.shape[0]):
            a = (i << j) - start
            node = self.nodes.setdefault((j, i), np.zeros((self.slots, self.width)))
            node[slot] = _pairwise(x[a:a + (1 << j)])

    def flush(self) -> None:
        """Join sibling nodes into their parent while any pair is complete."""
        merge_siblings(self.nodes)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        self.flush()
        keys = sorted(self.nodes, key=lambda k: k[1] << k[0])
        return {
            f"{prefix}_node_level": np.asarray([k[0] for k in keys], dtype=np.int64),
            f"{prefix}_node_index": np.asarray([k[1] for k in keys], dtype=np.int64),
            f"{prefix}_node_sums": (np.stack([self.nodes[k] for k in keys]) if keys
                                    else np.zeros((0, self.slots, self.width))),
        }


def merge_siblings(nodes: dict[tuple[int, int], np.ndarray]) -> None:
    """In place: replace every pair of sibling nodes by their parent (left + right), level by level."""
    level = 0
    while nodes and level <= max(j for j, _ in nodes):
        for j, i in sorted(k for k in nodes if k[0] == level and k[1] % 2 == 0):
            if (j, i + 1) in nodes and (j, i) in nodes:
                nodes[(j + 1, i // 2)] = nodes.pop((j, i)) + nodes.pop((j, i + 1))
        level += 1


def tree_nodes(parts: list[dict[str, np.ndarray]], prefix: str, lo: int, hi: int) -> dict[tuple[int, int], np.ndarray]:
    """The nodes of :func:`dyadic` ``(lo, hi)`` from the parts' nodes (:meth:`TreeSums.arrays`),
    which must cover those paths exactly once; raises ValueError when they do not."""
    nodes: dict[tuple[int, int], np.ndarray] = {}
    for p in parts:
        for j, i, v in zip(p[f"{prefix}_node_level"].tolist(), p[f"{prefix}_node_index"].tolist(),
                           p[f"{prefix}_node_sums"], strict=True):
            if (j, i) in nodes:
                raise ValueError(f"paths {i << j}:{(i + 1) << j} are covered twice")
            nodes[(j, i)] = v
    merge_siblings(nodes)
    want = dyadic(lo, hi)
    if sorted(nodes) != sorted(want):
        raise ValueError(f"the agent series' partial sums do not cover the paths {lo}:{hi} exactly once")
    return nodes


def tree_total(nodes: dict[tuple[int, int], np.ndarray], lo: int, hi: int) -> np.ndarray:
    """The canonical total over ``[lo, hi)``: its dyadic nodes added left to right."""
    keys = dyadic(lo, hi)
    total = nodes[keys[0]].copy()
    for k in keys[1:]:
        total = total + nodes[k]
    return total


def agent_kept_values(parts: list[dict[str, np.ndarray]], lo: int, hi: int, keep: int) -> np.ndarray | None:
    """The per-agent monthly values of the paths ``[lo, min(hi, lo + keep))``, in path order: (paths,
    months, metrics * agents); None when a part covering ``[0, keep)`` holds the final quantiles."""
    if lo == 0 and any(int(p.get("at_quantiles_final", 0)) for p in parts):
        return None
    idx = np.concatenate([p["at_kept_index"] for p in parts])
    vals = np.concatenate([p["at_kept"] for p in parts])
    return _in_path_order(idx, vals, lo, min(hi, lo + keep), "the agent series' kept paths")


def agent_timeseries_table(total: np.ndarray, n: int, kept: np.ndarray | None, agents: list[str], start: str,
                           quantiles: pd.DataFrame | None = None) -> pd.DataFrame:
    """agent_timeseries.parquet: one row per (agent, metric, month), in that order.

    total: (months, metrics * agents) canonical sums over n paths (metric-major columns,
    :func:`aisim.outputs.agent_month`); kept: (paths, months, metrics * agents) values of the paths
    the quantiles are taken over, or None to take the quantile columns of ``quantiles`` (an
    agent_timeseries table whose quantiles are final)."""
    H, W = total.shape
    M, A = len(AGENT_METRIC_NAMES), len(agents)
    assert W == M * A, (W, M, A)
    dates = np.asarray(pd.period_range(start=start, periods=H, freq="M").astype(str), dtype=object)

    def order(x: np.ndarray) -> np.ndarray:  # (..., months, metrics * agents) -> (..., agents * metrics * months)
        lead = x.shape[:-2]
        return np.moveaxis(x.reshape(*lead, H, M, A), (-3, -2, -1), (-1, -2, -3)).reshape(*lead, A * M * H)

    month = np.tile(np.arange(H, dtype=np.int64), A * M)
    df = pd.DataFrame({
        "month": month,
        "date": dates[month],
        "agent": np.repeat(np.asarray(agents, dtype=object), M * H),
        "metric": np.tile(np.repeat(np.asarray(AGENT_METRIC_NAMES, dtype=object), H), A),
        "mean": order(total / n),
    })
    if kept is not None:
        q = order(np.quantile(kept, QUANTILES, axis=0))
        for c, row in zip(("p05", "p50", "p95"), q, strict=True):
            df[c] = row
    else:
        assert quantiles is not None
        key = ["agent", "metric", "month"]
        if not quantiles[key].reset_index(drop=True).equals(df[key]):
            raise ValueError("the final agent quantiles are of another table layout")
        for c in ("p05", "p50", "p95"):
            df[c] = quantiles[c].to_numpy()
    return df


def agent_series_from_partials(parts: list[dict[str, np.ndarray]], lo: int, hi: int, agents: list[str],
                               start: str, keep: int, *, kept: np.ndarray | None = None,
                               quantiles: pd.DataFrame | None = None) -> pd.DataFrame:
    """agent_timeseries.parquet of the paths ``[lo, hi)`` from partial sums that tile them (as
    :func:`tables_from_partials`; ``keep``: ``output.agent_quantile_paths``)."""
    if kept is None:
        kept = agent_kept_values(parts, lo, hi, keep)
    total = tree_total(tree_nodes(parts, "at", lo, hi), lo, hi)
    return agent_timeseries_table(total, hi - lo, kept, agents, start, quantiles)


def kept_values(parts: list[dict[str, np.ndarray]], lo: int, hi: int, keep: int) -> np.ndarray | None:
    """The per-path monthly metrics of the paths the quantiles of the run ``[lo, hi)`` are taken
    over, ``[lo, min(hi, lo + keep))``, in path order: (paths, months, metrics).

    A part stores the values of its paths below ``keep`` (in ``kept``, or among its block rows
    ``ts_rows``), except a part that covers ``[0, keep)`` by itself, whose quantiles are final:
    then None, and the quantiles are that part's (``quantiles_final``).
    """
    if lo == 0 and any(int(p.get("quantiles_final", 0)) for p in parts):
        return None
    idx = np.concatenate([p["kept_index"] for p in parts] + [p["ts_row_index"] for p in parts])
    vals = np.concatenate([p["kept"] for p in parts] + [p["ts_rows"] for p in parts])
    return _in_path_order(idx, vals, lo, min(hi, lo + keep), "the kept paths")


def _in_path_order(idx: np.ndarray, vals: np.ndarray, lo: int, stop: int, what: str) -> np.ndarray:
    """The rows of ``vals`` whose path numbers ``idx`` fall in ``[lo, stop)``, in path order; each
    path must be there exactly once."""
    sel = (idx >= lo) & (idx < stop)
    idx, vals = idx[sel], vals[sel]
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], np.arange(lo, stop)):
        raise ValueError(f"{what} {lo}:{stop} are not covered exactly once")
    return vals[order]


def stored_kept(lo: int, hi: int, keep: int, row_index: np.ndarray) -> np.ndarray:
    """The paths whose monthly values a run over ``[lo, hi)`` stores for later quantiles: its paths
    below ``keep`` that are not among its block rows; none when it covers ``[0, keep)`` itself."""
    if lo == 0 and hi >= keep:
        return np.zeros(0, dtype=np.int64)
    cand = np.arange(lo, min(hi, keep), dtype=np.int64)
    return cand[~np.isin(cand, row_index)]


def stored_agent_kept(lo: int, hi: int, keep: int, kept: np.ndarray) -> dict[str, np.ndarray]:
    """The agent series' kept values a run over ``[lo, hi)`` stores for later quantiles (``kept``:
    its paths ``[lo, min(hi, lo + keep))``): those of its paths below ``keep``; none when it covers
    ``[0, keep)`` itself (its quantiles are final)."""
    final = lo == 0 and hi >= keep
    idx = np.zeros(0, dtype=np.int64) if final else np.arange(lo, min(hi, keep), dtype=np.int64)
    return {"at_keep": np.int64(keep), "at_quantiles_final": np.int64(final), "at_kept_index": idx,
            "at_kept": kept[idx - lo]}


def timeseries_table(total: np.ndarray, n: int, kept: np.ndarray | None, names: list[str], start: str,
                     quantiles: pd.DataFrame | None = None) -> pd.DataFrame:
    """total: (months, metrics) canonical sums over n paths; kept: (paths, months, metrics) values
    of the paths the quantiles are taken over, or None to take the quantile columns of
    ``quantiles`` (a timeseries table whose quantiles are final)."""
    H = total.shape[0]
    months = pd.period_range(start=start, periods=H, freq="M").astype(str)
    out = []
    for j, name in enumerate(names):
        for t in range(H):
            q = np.quantile(kept[:, t, j], QUANTILES) if kept is not None else (np.nan,) * len(QUANTILES)
            out.append((t, months[t], name, total[t, j] / n, *q))
    df = pd.DataFrame(out, columns=["month", "date", "metric", "mean", "p05", "p50", "p95"])
    if kept is None:
        assert quantiles is not None
        src = quantiles.set_index(["metric", "month"])
        for c in ("p05", "p50", "p95"):
            df[c] = src[c].reindex(pd.MultiIndex.from_frame(df[["metric", "month"]])).to_numpy()
    return df


def agents_table(static: pd.DataFrame, sums: np.ndarray, n: int, horizon: int) -> pd.DataFrame:
    """static: name, sector and the starting balance sheet of each agent; sums: (len(AGENT_SUMS),
    agents) the canonical sums of :data:`AGENT_SUMS` over n paths; horizon: months run (a term
    longer than it has NaN PDs)."""
    acc = dict(zip(AGENT_SUMS, sums, strict=True))
    d = acc["defaults"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_month = np.where(d > 0, acc["default_month_sum"] / np.maximum(d, 1), np.nan)
    dynamic = pd.DataFrame({
        "pd": d / n,
        "pd_se": np.sqrt((d / n) * (1 - d / n) / n),
        "mean_default_month": mean_month,
        "expected_loss_caused": acc["loss_caused_sum"] / n,
        "equity_end_mean": acc["equity_end_sum"] / n,
    })
    terms = {}
    for T in PD_TERMS:
        p = acc[f"defaults_by_{T}y"] / n
        short = 12 * T > horizon
        terms[f"pd_{T}y"] = np.where(short, np.nan, p)
        terms[f"pd_{T}y_se"] = np.where(short, np.nan, np.sqrt(p * (1 - p) / n))
    for c in CAUSE_NAMES[1:]:
        terms[f"cause_share_{c}"] = np.where(d > 0, acc[f"defaults_{c}"] / np.maximum(d, 1), np.nan)
    dynamic = pd.concat([dynamic, pd.DataFrame(terms)], axis=1)
    head = static[["name", "sector"]].reset_index(drop=True)
    tail = static.drop(columns=["name", "sector"]).reset_index(drop=True)
    return pd.concat([head, dynamic, tail], axis=1)


STATIC_AGENT_COLUMNS = ("name", "sector", "cash_0", "securities_0", "gpu_0", "loans_held_0", "stakes_0",
                        "total_assets_0", "total_debt_0", "total_liabilities_0", "equity_0", "capital_ratio_0",
                        "systemic_importance")


def tables_from_partials(parts: list[dict[str, np.ndarray]], lo: int, hi: int, static: pd.DataFrame,
                         names: list[str], start: str, keep: int, *, kept: np.ndarray | None = None,
                         quantiles: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(timeseries, agents) tables of the paths ``[lo, hi)`` from partial sums that tile them.

    kept: the quantile paths' values when the caller has them (a run); else they come from the
    parts, or, when one part's quantiles are final, from ``quantiles`` (that part's timeseries)."""
    n = hi - lo
    if kept is None:
        kept = kept_values(parts, lo, hi, keep)
    total = combine(parts, "ts", lo, hi)
    ts = timeseries_table(total, n, kept, names, start, quantiles)
    ag = agents_table(static, combine(parts, "ag", lo, hi).reshape(len(AGENT_SUMS), -1), n, total.shape[0])
    return ts, ag


@dataclass
class RunResult:
    results: results_io.Results
    run_dir: Path | None
    backend: Backend
    resumed: bool = False  # the run directory already held complete results for this config
    moved: Path | None = None  # where stale results found in the run directory were moved
    moved_reason: str = ""


NON_RESULT_KEYS = (("paths", "shard"), ("paths", "chunk"), ("output", "progress"), ("report",))


def _hash_dict(cfg: Any, drop: tuple[tuple[str, ...], ...]) -> str:
    d = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
    d = copy.deepcopy(d) if isinstance(d, dict) else d
    if isinstance(d, dict):
        d.pop("hydra", None)
        for keys in drop:
            node = d
            for k in keys[:-1]:
                node = node.get(k, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node.pop(keys[-1], None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_hash(cfg: Any) -> str:
    """SHA-256 of the resolved config, first 16 hex digits: what the results depend on.

    Hydra's own settings and the keys that do not change any result are left out: the shard
    (``paths.shard``), the chunk size, the progress bar and ``report``. So the shards of a run,
    and the run merged from them, have the hash of the single run.
    """
    return _hash_dict(cfg, NON_RESULT_KEYS)


def base_hash(cfg: Any) -> str:
    """:func:`config_hash` without ``paths.n``: runs with the same base hash compute the same
    results for every path they share, so path ranges of them can be merged (extend)."""
    return _hash_dict(cfg, (*NON_RESULT_KEYS, ("paths", "n")))


def run(cfg: Any, run_dir: str | Path | None = None, *, progress: Any = None) -> RunResult:
    """Simulate ``cfg`` and, when ``run_dir`` is given, write the result files there.

    With a ``run_dir``, the folder is claimed first (a second run into it is refused with
    :class:`aisim.results.RunDirBusy`); when it already holds complete results for the same
    config hash and paths they are returned at once (``resumed``), otherwise results found there
    are moved aside into ``.stale/`` before any work.

    Raises :class:`aisim.schema.ConfigError` (or :class:`aisim.kernels.backend.BackendError`) for user
    mistakes before any work starts.
    """
    validate(cfg)
    n = int(cfg.paths.n)
    lo, hi = shard_range(getattr(cfg.paths, "shard", None), n)
    chash, bhash = config_hash(cfg), base_hash(cfg)
    backend = resolve(str(cfg.backend))
    if run_dir is None:
        res, partials = _simulate(cfg, backend, lo, hi, chash, bhash, None, progress)
        return RunResult(results=res, run_dir=None, backend=backend)
    run_dir = Path(run_dir)
    with results_io.claim(run_dir, f"aisim config {chash}") as claim:
        st = results_io.status(run_dir, chash, (lo, hi))
        if st.complete:
            return RunResult(results=results_io.load(run_dir), run_dir=run_dir, backend=backend, resumed=True)
        moved = claim.clear()
        res, partials = _simulate(cfg, backend, lo, hi, chash, bhash, claim, progress)
        results_io.write(run_dir, res, partials)
    return RunResult(results=res, run_dir=run_dir, backend=backend, moved=moved,
                     moved_reason=st.reason if moved is not None else "")


def _simulate(cfg: Any, backend: Backend, lo: int, hi: int, chash: str, bhash: str, claim: Any,
              progress: Any) -> tuple[results_io.Results, dict[str, np.ndarray]]:
    """Run the paths ``[lo, hi)`` of ``cfg`` in chunks; the results and their partial sums."""
    shard = getattr(cfg.paths, "shard", None)
    cfg = with_long_tail(cfg)  # the synthetic long tail (aisim.longtail); cfg itself when off
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                        regime=cfg.regime, covenants=cfg.covenants, syndicate=syndicate_size(cfg), jv=jv_terms(cfg))
    xp = backend.xp
    n, H = int(cfg.paths.n), int(cfg.horizon)
    P = hi - lo
    chunk = min(chunk_size(cfg, world), P)
    estimate.preflight(cfg, world, chunk, backend)  # refuses a chunk that cannot fit; one line for a large run
    keep = int(cfg.output.quantile_paths)
    ag = BlockSums(lo, hi, 1, len(AGENT_SUMS) * world.n_agents)
    ts: BlockSums | None = None
    names: list[str] = []
    kept: np.ndarray | None = None
    n_kept = min(keep, P)
    keep_at = int(cfg.output.agent_quantile_paths)
    n_kept_at = min(keep_at, P)
    width_at = len(AGENT_METRIC_NAMES) * world.n_agents
    at = TreeSums(H, width_at)  # every agent's monthly series (agent_timeseries.parquet)
    kept_at = np.zeros((n_kept_at, H, width_at))
    t0 = time.perf_counter()
    path_parts: list[pd.DataFrame] = []
    initial: dict[str, np.ndarray] | None = None
    max_residual = 0.0
    n_chunks = math.ceil(P / chunk)
    bar = _progress(progress, cfg, n_chunks * H)
    # plain dataclasses for the month loop, converted once for all chunks (the model would per chunk)
    model_cfg = OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg
    for k in range(n_chunks):
        a = lo + k * chunk
        idx = np.arange(a, min(hi, a + chunk), dtype=np.int64)
        model = AIFinanceModel(model_cfg, world, idx, xp)
        if initial is None:
            initial = _initial_sheet(model)
        tracker = PathTracker(model)
        for t in range(H):
            model.step()
            m = {key: to_numpy(v) for key, v in model.metrics.items()}
            max_residual = quality.worst(max_residual, m.pop("identity_residual"))  # NaN-sticky
            if ts is None:
                names = list(m)
                ts = BlockSums(lo, hi, H, len(names))
                kept = np.zeros((n_kept, H, len(names)))
            if list(m) != names:
                raise RuntimeError(f"the month's metrics changed from {names} to {list(m)}")
            x = np.column_stack([np.asarray(m[name], dtype=np.float64) for name in names])
            ts.add(t, a, x)
            sel = idx < lo + n_kept
            if sel.any():
                assert kept is not None
                kept[idx[sel] - lo, t] = x[sel]
            tracker.update(m)
            y = np.asarray(to_numpy(agent_month(model, model.state, model.context)), dtype=np.float64)
            at.add(t, a, y)
            sel = idx < lo + n_kept_at
            if sel.any():
                kept_at[idx[sel] - lo, t] = y[sel]
            if bar is not None:
                bar.update(1)
            if claim is not None:
                claim.heartbeat()
        at.flush()
        path_parts.append(tracker.table(idx))
        ag.add(0, a, _agent_rows(model))
        release(model)  # its arrays go now, not at the next full garbage collection
        del model, tracker
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    assert initial is not None and ts is not None and kept is not None
    store = stored_kept(lo, hi, keep, ts.row_index)
    partials = {
        "lo": np.int64(lo), "hi": np.int64(hi), "paths_n": np.int64(n), "block": np.int64(BLOCK),
        "keep": np.int64(keep), "quantiles_final": np.int64(lo == 0 and hi >= keep),
        "metric_names": np.asarray(names, dtype=str),
        "kept_index": store, "kept": kept[store - lo],
        **ts.arrays("ts"), **ag.arrays("ag"),
        **at.arrays("at"), **stored_agent_kept(lo, hi, keep_at, kept_at),
    }
    static = _static_agents(world, initial)
    timeseries, agents_df = tables_from_partials([partials], lo, hi, static, names, str(cfg.start), keep,
                                                 kept=kept)
    agent_series = agent_series_from_partials([partials], lo, hi, list(world.names), str(cfg.start), keep_at,
                                              kept=kept_at)
    paths_df = pd.concat(path_parts, ignore_index=True)
    manifest = {
        "seed": int(cfg.seed), "paths": P, "horizon": H, "chunk": chunk, "start": str(cfg.start),
        "backend": backend.name, "device": backend.device, "backend_note": backend.reason,
        "calibration": str(cfg.calibration.name), "scenario": str(cfg.scenario.name),
        "regime": str(cfg.regime.name), "config_hash": chash, "base_hash": bhash,
        "paths_n": n, "path_range": [lo, hi], "shard": str(shard) if is_set(shard) else None,
        "version": package_version(), "git_revision": git_revision(), "wall_s": wall,
        "agents": world.n_agents, "contracts": world.n_contracts,
        "agent_path_steps_per_s": world.n_agents * P * H / wall if wall > 0 else None,
        "max_identity_residual": max_residual,
    }
    res = results_io.Results(paths=paths_df, timeseries=timeseries, agents=agents_df, manifest=manifest,
                             agent_timeseries=agent_series)
    if lo == 0 and hi == n:  # the tail is known only over all paths (a shard's comes from aisim-merge)
        res.attribution = attribution_of(model_cfg, world, xp, paths_df, chunk)
    quality.mark(res, float(cfg.output.residual_tolerance))  # manifest: quality ok | failed, and why
    return res, partials


def _tail_split(cfg: Any, world: World, xp: Any, numbers: np.ndarray, chunk: int,
                expected: np.ndarray) -> dict[str, np.ndarray]:
    """Simulate the paths ``numbers`` again: (paths, agents) ``loss_caused`` and (paths,
    agents + 1) ``loss_borne``. Raises RuntimeError when a path's total is not ``expected``
    (random numbers are a pure function of the path, so they must reproduce)."""
    caused, borne = [], []
    for a in range(0, numbers.size, chunk):
        model = AIFinanceModel(cfg, world, numbers[a:a + chunk], xp)
        for _ in range(int(cfg.horizon)):
            model.step()
        caused.append(to_numpy(model.state.loss_caused))
        borne.append(to_numpy(model.state.credit_loss))
        release(model)
    out = {"loss_caused": np.concatenate(caused), "loss_borne": np.concatenate(borne)}
    total = out["loss_borne"].sum(axis=1)
    # a path whose books hold a NaN reproduces its NaN losses (the manifest reports the NaN)
    if not np.allclose(total, expected, rtol=1e-9, atol=1e-9, equal_nan=True):
        raise RuntimeError("attribution: the tail paths simulated again do not reproduce the run's losses "
                           f"(largest gap {np.max(np.abs(total - expected)):.3g})")
    return out


def attribution_of(cfg: Any, world: World, xp: Any, paths: pd.DataFrame, chunk: int) -> pd.DataFrame:
    """attribution.parquet of a run whose ``paths`` table holds all of paths.n: the worst
    paths simulated again for their agent-level losses (:mod:`aisim.attribution`)."""
    losses = paths["credit_losses"].to_numpy(dtype=float)
    kept = attribution.kept_paths(losses)
    numbers = paths["path"].to_numpy(dtype=np.int64)[kept]
    split = _tail_split(cfg, world, xp, numbers, chunk, losses[kept])
    return attribution.attribution_table(losses, kept, split, [e.name for e in world.entities],
                                         [e.sector for e in world.entities], int(cfg.seed))


def attribution_of_config(cfg: Any, paths: pd.DataFrame) -> pd.DataFrame:
    """The same for merged shards, from their saved (untyped) config."""
    cfg = with_long_tail(OmegaConf.merge(OmegaConf.structured(Config), cfg))
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits), regime=cfg.regime,
                        covenants=cfg.covenants, jv=jv_terms(cfg))
    plain = OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg
    return attribution_of(plain, world, resolve(str(cfg.backend)).xp, paths, chunk_size(cfg, world))


def release(model: AIFinanceModel) -> None:
    """Free a finished chunk's model, and its arrays, now rather than at the next full collection.

    A Mesa model sits in several reference cycles -- with its agents (``model.members``, Mesa's
    agent sets), with the bound methods Mesa stores on it (``step``), its event generator and
    its scenario -- so dropping the last name does not free it: only the cyclic garbage
    collector does, which runs rarely on long-lived objects, and dead chunks' states piled up.
    Emptying the instance dictionary breaks every cycle through it, and reference counting then
    frees the model when the caller's name goes. The model is unusable afterwards.
    """
    vars(model).clear()


def _progress(progress: Any, cfg: Any, total: int) -> Any:
    if progress is False or (progress is None and not cfg.output.progress):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="aisim", unit="month", leave=False, dynamic_ncols=True)


def exposure_matrix(world: World, outstanding: np.ndarray) -> np.ndarray:
    """(agents, agents) USD bn: [i, j] = what agent i stands to lose if agent j fails -- the
    loans it holds to j and its equity stake in j -- from one path's contract positions."""
    c = world.contracts
    n = world.n_agents
    held = ((c["kind"] == LOAN) | (c["kind"] == EQUITY)) & (c["payer"] < n) & (c["payee"] < n)
    exp = np.zeros((n, n))
    np.add.at(exp, (c["payee"][held], c["payer"][held]), outstanding[held])
    return exp


def _initial_sheet(model: AIFinanceModel) -> dict[str, np.ndarray]:
    bs = balance_sheet(model.xp, model.book, model.state)
    s = model.state
    out = {k: to_numpy(v)[0] for k, v in bs.items()}
    # DebtRank of each agent's own default (Bardoscia et al. 2015) on the starting network
    exposures = exposure_matrix(model.world, to_numpy(s.outstanding)[0])
    out["systemic_importance"] = systemic_importance(exposures, out["equity"], xp=np)
    out["cash"] = to_numpy(s.cash)[0]
    out["securities"] = to_numpy(s.securities)[0]
    out["gpu"] = to_numpy(s.gpu)[0]
    out["capital_ratio"] = to_numpy(s.capital_ratio)[0]
    return out


def _agent_rows(model: AIFinanceModel) -> np.ndarray:
    """(paths, len(AGENT_SUMS) * agents) per-path values of :data:`AGENT_SUMS` at the end of a chunk."""
    s = model.state
    dead = ~to_numpy(s.alive)
    month = to_numpy(s.default_month)
    cause = to_numpy(s.default_cause)
    return np.concatenate([
        dead.astype(np.float64),
        np.where(dead, month, 0).astype(np.float64),
        np.asarray(to_numpy(s.loss_caused), dtype=np.float64),
        np.asarray(to_numpy(s.equity), dtype=np.float64),
        *((dead & (month < 12 * T)).astype(np.float64) for T in PD_TERMS),  # month 0 = the first month
        *((dead & (cause == code)).astype(np.float64) for code in range(1, len(CAUSE_NAMES))),
    ], axis=1)


def _static_agents(world: World, initial: dict[str, np.ndarray]) -> pd.DataFrame:
    cap = initial["capital_ratio"]
    return pd.DataFrame({
        "name": world.names,
        "sector": world.sectors,
        "cash_0": initial["cash"],
        "securities_0": initial["securities"],
        "gpu_0": initial["gpu"],
        "loans_held_0": initial["loans_held"],
        "stakes_0": initial["stakes"],
        "total_assets_0": initial["assets"],
        "total_debt_0": initial["debt"],
        "total_liabilities_0": initial["liabilities"],
        "equity_0": initial["equity"],
        "capital_ratio_0": np.where(np.isfinite(cap), cap, np.nan),
        "systemic_importance": initial["systemic_importance"],
    })
