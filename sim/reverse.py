"""Reverse stress testing: the mildest shock that breaks the system, ``aisim-reverse`` (issue 12, item 4).

Given a target -- a metric of the paths reaching a level, ``P(systemic event) >= 10%`` by
default -- and named scenario parameters, it searches for the smallest shock under which the
target is met, in the spirit of the reverse stress tests supervisors ask for (EBA GL/2018/04,
section 4.7; Breuer, Jandacka, Rheinberger and Summer 2009 on plausibility as a distance).

**Parameters and distance.** Each parameter k is a numeric key of the scenario node (for example
``rental_price.drift``, ``base_rate.jumps.0``, ``demand.drift_changes.12``) with a start value
x0_k (the run's scenario), an end value x1_k (the scenario named by ``reverse.towards``, by default
``severe``) and a scale s_k (``reverse.scales``, by default |x1_k - x0_k|). A shock is
x = x0 + t d with direction d; its distance is ``|| (x - x0) / s ||_2``. By default the
parameters are every continuous parameter in which ``towards`` differs from the start, so the
default search runs over exactly what ``severe`` shocks.

**Search.** Along each ray -- the joint one (d = x1 - x0, all parameters together) and one per
parameter (only that one moves) -- a bisection on t in [0, ``reverse.max_multiple``] finds the
smallest t at which the target is met, assuming the metric rises along the ray (stated; checked at
the ends: a ray whose far end does not meet the target reports no shock). The bisection stops when
the bracket is narrower than ``reverse.tolerance`` (in t). The answer is the ray with the smallest
distance. Every evaluation runs on the same seed and paths (common random numbers), so the
metric is a smooth function of t apart from Monte Carlo jumps that are the same for every
candidate.

Written into the run folder: ``reverse.json`` (``target``, ``level``, ``parameters`` (the
shock found), ``distance``, ``achieved``, ``achieved_se``, ``evaluations``, ``method``, ``rays``, and
``by_regime`` when ``reverse.regimes`` lists several), ``conf/scenario/<reverse.name>.yaml`` (the
shock as a whole scenario: ``aisim scenario=<name> "hydra.searchpath=[file://<run dir>/conf]"``
runs it) and ``reverse.png`` (the metric along each ray against the level).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from aisim import results as results_io
from aisim import tail
from aisim.cli import hydra_entry
from aisim.config import CONFIG_PATH, register
from aisim.kernels.backend import BackendError
from aisim.schema import Config, ConfigError, validate

Z95 = 1.96


@dataclass
class ReverseConfig:
    """The ``reverse`` node of ``conf/reverse.yaml``."""

    metric: str = "systemic_event"  # a paths metric (as in aisim-compare) or a tail measure (es99_credit_losses)
    level: float = 0.10  # the target: metric >= level
    towards: str = "severe"  # the scenario whose values are the parameters' end points
    parameters: list[str] = field(default_factory=list)  # [] = every continuous parameter `towards` shocks
    scales: dict[str, float] = field(default_factory=dict)  # parameter -> unit of distance; default |end - start|
    directions: str = "both"  # joint | each | both
    max_multiple: float = 2.0  # the search runs t over [0, max_multiple] along each ray
    tolerance: float = 0.02  # bisection stops when the bracket in t is narrower
    regimes: list[str] = field(default_factory=list)  # [] = the run's regime; several: the distance per regime
    name: str = "reverse_found"  # the scenario written to conf/scenario/<name>.yaml


@dataclass
class ReverseAppConfig(Config):
    reverse: ReverseConfig = field(default_factory=ReverseConfig)


# --------------------------------------------------------------------------- parameters
def _leaves(node: Any, prefix: str = "") -> dict[str, float]:
    """Float leaves of a plain scenario dict, by dotted path (dict entries included)."""
    out: dict[str, float] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(_leaves(v, f"{prefix}{k}."))
    elif isinstance(node, float) and not isinstance(node, bool):
        out[prefix[:-1]] = float(node)
    return out


def _start_value(scen: dict[str, Any], key: str) -> float:
    """The start value of ``key`` in the plain scenario ``scen``: its value, or for an entry the
    scenario lacks, the value that changes nothing (a drift change to the process's own drift,
    a jump of 0)."""
    leaves = _leaves(scen)
    if key in leaves:
        return leaves[key]
    parts = key.split(".")
    if len(parts) == 3 and parts[1] == "drift_changes" and f"{parts[0]}.drift" in leaves:
        return leaves[f"{parts[0]}.drift"]
    if len(parts) == 3 and parts[1] == "jumps":
        return 0.0
    raise ConfigError(f"reverse.parameters: {key!r} is not a numeric key of the scenario; valid: "
                      f"{', '.join(sorted(leaves))}")


def plan_parameters(start: dict[str, Any], end: dict[str, Any], rc: Any) -> list[tuple[str, float, float, float]]:
    """(key, start, end, scale) of each parameter searched over."""
    ends = _leaves(end)
    keys = list(rc.parameters) or [k for k, v in ends.items() if _start_value(start, k) != v]
    if not keys:
        raise ConfigError(f"reverse.towards={rc.towards}: it shocks no continuous parameter of the run's scenario; "
                          "name reverse.parameters and another reverse.towards")
    out = []
    for k in keys:
        if k not in ends:
            raise ConfigError(f"reverse.parameters: {k!r} is not a numeric key of scenario {rc.towards!r}; valid: "
                              f"{', '.join(sorted(ends))}")
        x0, x1 = _start_value(start, k), ends[k]
        scale = float(rc.scales.get(k, abs(x1 - x0)))
        if not (math.isfinite(scale) and scale > 0):
            raise ConfigError(f"reverse.scales.{k}: the scale must be a positive number (the start and "
                              f"{rc.towards!r} agree on {k}: give it a scale)")
        out.append((k, x0, x1, scale))
    for k in rc.scales:
        if k not in keys:
            raise ConfigError(f"reverse.scales: {k!r} is not a searched parameter; searched: {', '.join(keys)}")
    return out


def _set(cfg: DictConfig, key: str, value: float) -> None:
    """Set ``scenario.<key>``; entries of int-keyed dicts (drift_changes, jumps) by their int."""
    node: Any = cfg.scenario
    parts = key.split(".")
    for p in parts[:-1]:
        node = node[p]
    last: Any = parts[-1]
    if last.isdigit() and OmegaConf.get_type(node) is dict and parts[-2] in ("drift_changes", "jumps"):
        last = int(last)  # these dicts are keyed by month
    with open_dict(node):  # a new entry of a dict-valued key (Hydra composes in struct mode)
        node[last] = float(value)


# --------------------------------------------------------------------------- the metric
def measure(paths: Any, metric: str, seed: int) -> tuple[float, float]:
    """(value, standard error) of ``metric`` on a run's paths table."""
    from aisim.compare import metric_values

    if metric[:3] in ("var", "es9") and "_" in metric:
        of = metric.split("_", 1)[1]
        rows = {m: (v, lo, hi) for m, v, lo, hi in tail.tail_measures(paths[of].to_numpy(dtype=float), seed, of)}
        if metric in rows:
            v, lo, hi = rows[metric]
            return v, (hi - lo) / (2 * Z95)
    x = metric_values(paths, metric)
    x = x[~np.isnan(x)]
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan


@dataclass
class Evaluation:
    ray: str
    t: float
    values: dict[str, float]
    achieved: float
    se: float


class Search:
    """Runs candidates (same seed, same paths) and bisects along rays."""

    def __init__(self, cfg: DictConfig, params: list[tuple[str, float, float, float]], rc: Any) -> None:
        self.cfg, self.params, self.rc = cfg, params, rc
        self.evaluations: list[Evaluation] = []
        self._cache: dict[tuple[float, ...], tuple[float, float]] = {}

    def shock(self, ray: str, t: float) -> dict[str, float]:
        return {k: (x0 + t * (x1 - x0)) if ray in ("joint", k) else x0 for k, x0, x1, _ in self.params}

    def distance(self, values: dict[str, float]) -> float:
        return math.sqrt(sum(((values[k] - x0) / s) ** 2 for k, x0, _, s in self.params))

    def evaluate(self, ray: str, t: float) -> tuple[float, float]:
        from aisim.runner import run

        values = self.shock(ray, t)
        key = tuple(round(values[k], 15) for k, *_ in self.params)
        if key not in self._cache:
            c = self.candidate(ray, t)
            c.output.progress = False
            validate(c)
            res = run(c, None, progress=False).results
            self._cache[key] = measure(res.paths, str(self.rc.metric), int(c.seed))
            a, se = self._cache[key]
            print(f"aisim-reverse: [{len(self._cache)}] ray {ray} t={t:.4f} distance {self.distance(values):.3f}: "
                  f"{self.rc.metric}={a:.4g} +/- {se:.2g} (target >= {self.rc.level:g})", flush=True)
        a, se = self._cache[key]
        self.evaluations.append(Evaluation(ray, t, values, a, se))
        return a, se

    def candidate(self, ray: str, t: float) -> DictConfig:
        c = copy.deepcopy(self.cfg)
        for k, v in self.shock(ray, t).items():
            _set(c, k, v)
        return c

    def valid(self, ray: str, t: float) -> bool:
        try:
            validate(self.candidate(ray, t))
        except ConfigError:
            return False
        return True

    def t_max(self, ray: str) -> float:
        """The search's end on ``ray``: reverse.max_multiple, or less where a parameter would
        leave its documented range (a sentiment below 0, say)."""
        hi = float(self.rc.max_multiple)
        if self.valid(ray, hi):
            return hi
        lo = 0.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.valid(ray, mid) else (lo, mid)
        return lo

    def met(self, ray: str, t: float) -> bool:
        return self.evaluate(ray, t)[0] >= float(self.rc.level)

    def bisect(self, ray: str) -> float | None:
        """The smallest t found on ``ray`` meeting the target, or None."""
        lo, hi = 0.0, self.t_max(ray)
        if self.met(ray, lo):
            return 0.0
        if not self.met(ray, hi):
            return None
        while hi - lo > float(self.rc.tolerance):
            mid = 0.5 * (lo + hi)
            if self.met(ray, mid):
                hi = mid
            else:
                lo = mid
        return hi

    def rays(self) -> list[str]:
        d = str(self.rc.directions)
        joint = ["joint"] if d in ("joint", "both") else []
        each = [k for k, *_ in self.params] if d in ("each", "both") and len(self.params) > 1 else []
        return joint + each or ["joint"]

    def run(self) -> dict[str, Any]:
        found: list[dict[str, Any]] = []
        for ray in self.rays():
            t = self.bisect(ray)
            entry: dict[str, Any] = {"ray": ray, "t": t}
            if t is not None:
                values = self.shock(ray, t)
                a, se = self.evaluate(ray, t)
                entry.update(parameters=values, distance=self.distance(values), achieved=a, achieved_se=se)
            found.append(entry)
        hits = [f for f in found if f["t"] is not None]
        out: dict[str, Any] = {"target": str(self.rc.metric), "level": float(self.rc.level),
                               "evaluations": len(self._cache), "rays": found,
                               "method": f"bisection in t along {len(found)} rays (tolerance {self.rc.tolerance:g})",
                               "start": {k: x0 for k, x0, *_ in self.params},
                               "scales": {k: s for k, _, _, s in self.params}}
        if not hits:
            out.update(parameters=None, distance=None, achieved=None, achieved_se=None)
            return out
        best = min(hits, key=lambda f: f["distance"])
        out.update(ray=best["ray"], parameters=best["parameters"], distance=best["distance"],
                   achieved=best["achieved"], achieved_se=best["achieved_se"])
        return out


# --------------------------------------------------------------------------- outputs
def scenario_yaml(cfg: DictConfig, found: dict[str, float], name: str, note: str) -> str:
    c = copy.deepcopy(cfg)
    for k, v in found.items():
        _set(c, k, v)
    c.scenario.name = name
    c.scenario.description = note
    return f"# {note}\n# Written by aisim-reverse; run it with aisim scenario={name} " \
           f"\"hydra.searchpath=[file://<this run folder>/conf]\"\n" + OmegaConf.to_yaml(c.scenario)


def figure(search: Search, level: float, metric: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for ray in dict.fromkeys(e.ray for e in search.evaluations):
        pts = sorted({(search.distance(e.values), e.achieved, e.se) for e in search.evaluations if e.ray == ray})
        d, a, se = (np.array(x) for x in zip(*pts, strict=True))
        ax.errorbar(d, a, yerr=Z95 * np.nan_to_num(se), marker="o", ms=4, capsize=2, label=ray)
    ax.axhline(level, color="0.3", ls="--", lw=1, label=f"target {level:g}")
    ax.set_xlabel("distance of the shock from the start (in units of each parameter's scale)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title("Reverse stress test: the metric along each searched ray", fontsize=11)
    return fig


def reverse(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    from aisim.compare import _compose, _save_figure, _write_text, valid_metrics
    from aisim.runner import run

    rc = cfg.reverse
    hc = HydraConfig.get()
    task = [o for o in hc.overrides.task if not o.lstrip("+~").startswith("reverse.")]
    lookup = list(hc.overrides.hydra) + task
    if str(rc.directions) not in ("joint", "each", "both"):
        raise ConfigError(f"reverse.directions={rc.directions}: valid: joint, each, both")
    for key, ok in (("level", math.isfinite(float(rc.level))), ("max_multiple", float(rc.max_multiple) > 0),
                    ("tolerance", 0 < float(rc.tolerance) < float(rc.max_multiple))):
        if not ok:
            extra = {"max_multiple": " above 0", "tolerance": " between 0 and reverse.max_multiple"}.get(key, "")
            raise ConfigError(f"reverse.{key}={rc[key]}: must be a finite number{extra}")
    try:
        towards = _compose(str(hc.job.config_name), lookup + [f"scenario={rc.towards}"])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"reverse.towards={rc.towards}: not a scenario on the search path ({exc})") from exc
    base = cfg
    validate(base)
    plain = lambda c: OmegaConf.to_container(c.scenario, resolve=True)  # noqa: E731
    params = plan_parameters(plain(base), plain(towards), rc)
    probe = copy.deepcopy(base)
    probe.paths.n, probe.horizon, probe.output.progress = 2, 1, False
    cols = run(probe, None, progress=False).results.paths.columns
    tails = [tail.metric_name(m, lv, of) for of in ("credit_losses",) for lv in tail.LEVELS for m in tail.MEASURES]
    if str(rc.metric) not in valid_metrics(cols) + tails:
        raise ConfigError(f"reverse.metric={rc.metric}: not a metric; valid: {', '.join(valid_metrics(cols) + tails)}")
    regimes = list(rc.regimes) or [str(hc.runtime.choices.get("regime"))]
    configs = {}
    for r in regimes:
        try:
            configs[r] = base if not rc.regimes else _compose(str(hc.job.config_name), lookup + [f"regime={r}"])
        except (HydraException, OmegaConfBaseException) as exc:
            raise ConfigError(f"reverse.regimes: {r!r} is not a regime on the search path ({exc})") from exc
        validate(configs[r])
    with results_io.claim(run_dir, "aisim-reverse"):
        results_io.move_aside(run_dir, [n for n in ("reverse.json", "reverse.png", "conf") if (run_dir / n).exists()])
        by_regime, first = {}, None
        for r, c in configs.items():
            print(f"aisim-reverse: regime {r}: {rc.metric} >= {rc.level:g} over {', '.join(p[0] for p in params)}",
                  flush=True)
            search = Search(c, params, rc)
            out = search.run()
            by_regime[r] = out
            if first is None:
                first = (search, c, out)
        assert first is not None
        search, c, out = first
        result = dict(out, regime=regimes[0], scenario=str(base.scenario.name), towards=str(rc.towards))
        if len(regimes) > 1:
            result["by_regime"] = {r: {k: o[k] for k in ("distance", "achieved", "achieved_se", "parameters",
                                                          "evaluations")} for r, o in by_regime.items()}
        if out["parameters"] is not None:
            note = (f"aisim-reverse: the mildest shock found with {rc.metric} >= {rc.level:g} under regime "
                    f"{regimes[0]} (distance {out['distance']:.3f} from {base.scenario.name})")
            (run_dir / "conf" / "scenario").mkdir(parents=True, exist_ok=True)
            _write_text(run_dir / "conf" / "scenario" / f"{rc.name}.yaml",
                        scenario_yaml(base, out["parameters"], str(rc.name), note))
        _save_figure(figure(search, float(rc.level), str(rc.metric)), run_dir / "reverse.png")
        results_io.write_json(result, run_dir / "reverse.json")
    return result


def summary(result: dict[str, Any], run_dir: Path) -> str:
    lines = [f"aisim-reverse  target {result['target']} >= {result['level']:g}, regime {result['regime']}, "
             f"from scenario {result['scenario']} towards {result['towards']}; {result['evaluations']} runs"]
    if result["parameters"] is None:
        lines.append(f"  no shock up to {result['rays'][0].get('t')} x the distance to {result['towards']} meets it "
                     "(raise reverse.max_multiple or choose other parameters)")
    else:
        lines.append(f"  mildest shock found (ray {result['ray']}): distance {result['distance']:.3f}, "
                     f"achieved {result['achieved']:.4g} +/- {result['achieved_se']:.2g}")
        for k, v in result["parameters"].items():
            lines.append(f"    scenario.{k} = {v:.6g}   (start {result['start'][k]:.6g})")
    for r, o in result.get("by_regime", {}).items():
        d = "none found" if o["distance"] is None else f"{o['distance']:.3f}"
        lines.append(f"  regime {r}: distance {d}")
    lines.append(f"results: {run_dir.resolve()}  (reverse.json, reverse.png, conf/scenario/)")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="reverse")
def _main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    t0 = time.perf_counter()
    try:
        result = reverse(cfg, run_dir)
    except (ConfigError, BackendError, results_io.RunDirBusy) as exc:
        print(f"aisim-reverse: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(summary(result, run_dir))
    print(f"aisim-reverse: done in {time.perf_counter() - t0:.1f} s")


def main(argv: Any = None) -> None:
    """Console-script entry point: ``aisim-reverse`` (and ``python -m aisim.reverse``)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    register(ReverseAppConfig)
    sys.exit(hydra_entry(_main, "aisim-reverse"))


if __name__ == "__main__":
    main()

