"""Fitting unobserved behavioural parameters to targets: ``aisim-calibrate`` (issue 11).

**Targets** are data: a YAML file (``fit.targets``: a name in ``conf/targets/`` or a path) whose
``targets:`` list gives, for each target, a ``measure`` (what the model computes, below), a
``value`` or a ``band: [lo, hi]``, a ``tolerance`` (how far off counts as one unit of error), a
``weight`` and a ``source``. A ``rating_pds`` entry expands into one target per rated named firm
of the calibration and term (the rates of ``conf/targets/ratings_2025.yaml``, through
:mod:`aisim.ratings`); a ``report`` target takes a start or 2026-2028 target of
:mod:`aisim.targets` (the calibration report's) by group and name, its band included.

Measures (each returns the model's value and its Monte Carlo standard error):

- ``pd``: ``agent``, ``years`` -- cumulative default probability (agents.parquet ``pd_<T>y``).
- ``cds``: ``agent``, ``years``, ``recovery``, ``premium`` -- the spread, in bp, the model's
  real-world PD implies once scaled by a stated credit risk premium (risk-neutral / physical
  default intensity): ``premium x (1 - R) x -ln(1 - PD_T) / T``; compared with the firm's CDS.
- ``order``: ``agents`` (riskiest first), ``years`` -- the share of pairs whose model PDs are in
  that order (ties count one half), against 1.
- ``paths_mean``: ``column`` -- the mean of a paths.parquet column (``final_rental_price``,
  ``gpu_price_drawdown``, ...).
- ``timeseries``: ``metric``, ``month`` -- the mean of a monthly metric (``rental_price``,
  ``market_spread``, ...); its standard error is taken from the p05-p95 range (normal approximation).
- ``redemption_rate``: LP redemptions paid a month as a share of the private-credit funds'
  starting equity (NAV).
- ``report``: ``group``, ``name`` -- a target of the calibration report (:mod:`aisim.targets`);
  its Monte Carlo standard error (:attr:`aisim.targets.Target.se`).

**Loss.** ``L(theta) = sum_k w_k (e_k / s_k)^2`` with e_k the model's distance from the target
(``model - value``; for a band, the distance outside it, 0 inside) and
``s_k = sqrt(tolerance_k^2 + se_k^2)``: the target's own uncertainty and the Monte Carlo error
added in quadrature. With weights 1 and tolerances equal to the targets' standard errors, L is a
chi-square.

**Parameters** (``fit.params``: ``{dotted key: [lo, hi]}``) are numeric keys of the composed
config -- ``firm_shocks.vol_neocloud``, ``market.sentiment_per_loss``, ``collateral.depth``,
``scenario.rental_price.drift`` -- or one entity's field, ``calibration.entities.<name>.<field>``.
The optimiser works in scaled coordinates u = (x - lo) / (hi - lo) in [0, 1] and starts from the
config's own values.

**Optimiser.** SciPy's bounded Nelder-Mead (default) or Powell, ``scipy.optimize.minimize``:
derivative-free, deterministic (so a rerun replays the same candidates, which is what makes the
cache a resume), no extra dependency beyond SciPy. Every candidate runs on the same seed and
paths (common random numbers, by construction of the counter-based draws), so the loss differs
between candidates only through the parameters. ``fit.budget`` caps the optimiser's loss
evaluations; the interval step adds up to ``2 d^2 + 1`` more for d parameters.

**Intervals** come from the curvature of the loss at the optimum: a central finite-difference
Hessian H in scaled coordinates (step ``fit.step``), covariance ``2 H^-1`` (the chi-square
reading of L), interval ``+/- 1.96 sqrt(diag)``, clipped to the bounds. Where H is not positive
definite (a flat or step-shaped loss: PDs of few paths are step functions) the interval is the
whole bound range and the report says so.

**Resume.** Every evaluation is appended to ``evaluations.jsonl`` in the run folder, keyed by a
hash of the problem (config without ``fit``, targets, parameter names and bounds). A rerun into
the same folder, or with ``fit.resume=<earlier run folder>``, replays cached evaluations
instead of simulating them.

Written into the run folder: ``fit.json``, ``conf/calibration/<name>_fitted.yaml`` (a
``# @package _global_`` calibration file: the calibration node and the fitted keys outside it;
``aisim calibration=<name>_fitted "hydra.searchpath=[file://<run dir>/conf]"`` runs it, plus
``run_overrides`` for fitted ``scenario.``/``regime.`` keys, whose groups compose after it),
``fit_report.md`` and ``fit.png`` (each target's error before and after).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from aisim import results as results_io
from aisim.cli import hydra_entry
from aisim.config import CONFIG_PATH, register
from aisim.kernels.backend import BackendError
from aisim.schema import Config, ConfigError, validate

Z95 = 1.96
Z90 = 1.645
TARGETS_DIR = Path(__file__).resolve().parents[1] / "conf" / "targets"
MEASURES = ("pd", "cds", "order", "paths_mean", "timeseries", "redemption_rate", "report")
PD_YEARS = (1, 3, 5)


@dataclass
class ParamBound:
    """One free parameter of ``fit.params``: a dotted config key and its bounds."""

    key: str = MISSING
    lo: float = MISSING
    hi: float = MISSING


@dataclass
class FitConfig:
    """The ``fit`` node of ``conf/calibrate.yaml``."""

    targets: str = "fit_2025"  # a file in conf/targets/ (without .yaml) or a path to one
    params: list[ParamBound] = field(default_factory=list)  # [{key, lo, hi}]; a list, so an override replaces it
    budget: int = 30  # loss evaluations the optimiser may make
    method: str = "nelder-mead"  # nelder-mead | powell
    name: str = ""  # the fitted calibration is <name>_fitted; "" = the calibration's name
    resume: str = ""  # an earlier aisim-calibrate run folder whose evaluations are replayed
    interval: str = "curvature"  # curvature | none
    step: float = 0.05  # finite-difference step of the curvature, in scaled coordinates
    simplex: float = 0.25  # Nelder-Mead's first simplex: this share of each range from the start
    regimes: list[str] = field(default_factory=list)  # two or more: headline regime differences across the intervals
    headline: list[str] = field(default_factory=lambda: ["systemic_event", "credit_losses"])  # paths metrics


@dataclass
class FitAppConfig(Config):
    fit: FitConfig = field(default_factory=FitConfig)


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Param:
    key: str
    lo: float
    hi: float
    start: float

    def scale(self, x: float) -> float:
        return (x - self.lo) / (self.hi - self.lo)

    def unscale(self, u: float) -> float:
        return self.lo + min(max(u, 0.0), 1.0) * (self.hi - self.lo)


def _entity_index(cfg: DictConfig, key: str) -> tuple[int, str] | None:
    parts = key.split(".")
    if len(parts) < 4 or parts[:2] != ["calibration", "entities"]:
        return None
    name, fld = ".".join(parts[2:-1]), parts[-1]
    names = [str(e.name) for e in cfg.calibration.entities]
    if name not in names:
        raise ConfigError(f"fit.params: {key!r}: no entity {name!r} in calibration {cfg.calibration.name}; "
                          f"valid: {', '.join(names)}")
    return names.index(name), fld


def get_value(cfg: DictConfig, key: str) -> Any:
    ent = _entity_index(cfg, key)
    if ent is not None:
        e = cfg.calibration.entities[ent[0]]
        return e[ent[1]] if ent[1] in e else None
    return OmegaConf.select(cfg, key, default=None)


def set_value(cfg: DictConfig, key: str, value: float) -> None:
    ent = _entity_index(cfg, key)
    if ent is not None:
        with open_dict(cfg.calibration.entities[ent[0]]):
            cfg.calibration.entities[ent[0]][ent[1]] = float(value)
        return
    OmegaConf.update(cfg, key, float(value), merge=False)


def plan_params(cfg: DictConfig, spec: Any) -> list[Param]:
    """The declared free parameters, checked: a numeric key, finite bounds lo < hi inside the
    schema's range, a start value (the config's) inside them. Raises ConfigError naming the key."""
    if not spec:
        raise ConfigError("fit.params: no free parameters declared; give a list of {key, lo, hi}, "
                          "e.g. 'fit.params=[{key:firm_shocks.vol_neocloud,lo:0,hi:0.2}]'")
    out = []
    seen = set()
    for entry in spec:
        key = str(entry.key)
        if key in seen:
            raise ConfigError(f"fit.params: {key!r} is declared twice")
        seen.add(key)
        bounds = [entry.lo, entry.hi]
        if key.startswith("fit.") or key.split(".")[0] in ("hydra", "paths", "seed", "horizon", "backend", "output"):
            raise ConfigError(f"fit.params: {key!r} is not a model parameter")
        v = get_value(cfg, key)
        if v is None and _entity_index(cfg, key) is None:
            raise ConfigError(f"fit.params: {key!r} is not a key of the config (docs/parameters.md lists them)")
        if isinstance(v, bool) or not isinstance(v, int | float):
            if _entity_index(cfg, key) is None or v is not None:
                raise ConfigError(f"fit.params: {key!r} is not a numeric key (its value is {v!r})")
        b = bounds
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in b):
            raise ConfigError(f"fit.params.{key}: bounds must be two finite numbers lo, hi, not {bounds!r}")
        lo, hi = float(b[0]), float(b[1])
        if not lo < hi:
            raise ConfigError(f"fit.params.{key}: bounds [{lo:g}, {hi:g}]: lo must be below hi")
        start = float(v) if v is not None else lo
        if not lo <= start <= hi:
            raise ConfigError(f"fit.params.{key}: the start value {start:g} (the config's) is outside the bounds "
                              f"[{lo:g}, {hi:g}]")
        for x in (lo, hi):
            c = copy.deepcopy(cfg)
            set_value(c, key, x)
            try:
                validate(c)
            except ConfigError as exc:
                raise ConfigError(f"fit.params.{key}: bound {x:g} is outside the key's valid range ({exc})") from None
        out.append(Param(key, lo, hi, start))
    return out


# --------------------------------------------------------------------------- targets
@dataclass
class TargetSpec:
    name: str
    measure: str
    args: dict[str, Any]
    value: float | None
    band: tuple[float, float] | None
    tolerance: float
    weight: float
    source: str

    def error(self, model: float) -> float:
        if self.band is not None:
            lo, hi = self.band
            return model - lo if model < lo else (model - hi if model > hi else 0.0)
        assert self.value is not None
        return model - self.value

    @property
    def shown(self) -> str:
        return f"[{self.band[0]:g}, {self.band[1]:g}]" if self.band is not None else f"{self.value:g}"

    @property
    def target(self) -> Any:
        return self.value if self.band is None else [None if math.isinf(b) else b for b in self.band]


def targets_path(spec: str) -> Path:
    p = Path(spec)
    if p.suffix not in (".yaml", ".yml") and "/" not in spec:
        return TARGETS_DIR / f"{spec}.yaml"
    return p if p.is_absolute() else Path(hydra.utils.to_absolute_path(spec))


def _num(where: str, key: str, v: Any, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"{where}: {key}={v!r}: must be a finite number")
    if positive and v <= 0:
        raise ConfigError(f"{where}: {key}={v!r}: must be above 0")
    if nonneg and v < 0:
        raise ConfigError(f"{where}: {key}={v!r}: must be 0 or more")
    return float(v)


def load_targets(path: Path, cfg: DictConfig) -> list[TargetSpec]:
    """The targets of ``path`` checked against the run's config; ConfigError names the entry."""
    from aisim import ratings

    if not path.is_file():
        raise ConfigError(f"fit.targets: {path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"fit.targets: {path}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("targets"), list) or not raw["targets"]:
        raise ConfigError(f"fit.targets: {path}: needs a non-empty list under 'targets:'")
    names = [str(e.name) for e in cfg.calibration.entities]
    horizon = int(cfg.horizon)
    out: list[TargetSpec] = []
    for i, t in enumerate(raw["targets"]):
        where = f"fit.targets: {path.name}: targets[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a mapping")
        where += f" ({t.get('name', t.get('rating_pds') and 'rating_pds')})"
        if "rating_pds" in t:
            rp = t["rating_pds"] or {}
            rel = _num(where, "relative_tolerance", rp.get("relative_tolerance", 0.5), positive=True)
            floor = _num(where, "tolerance", rp.get("tolerance", 0.005), positive=True)
            w = _num(where, "weight", rp.get("weight", 1.0), nonneg=True)
            rt = ratings.load(TARGETS_DIR / str(rp.get("file", "ratings_2025.yaml")))
            for firm, rating in rt.firms.items():
                if firm not in names:
                    continue
                for years, rate in rt.implied(rating).items():
                    if 12 * years > horizon or years not in rp.get("years", PD_YEARS):
                        continue
                    out.append(TargetSpec(f"pd_{years}y {firm}", "pd", {"agent": firm, "years": years}, rate, None,
                                          max(floor, rel * rate), w,
                                          f"{rating}: S&P average cumulative default rates (ratings_2025.yaml)"))
            continue
        for k in ("name", "measure", "source"):
            if not t.get(k):
                raise ConfigError(f"{where}: '{k}' is required")
        m = str(t["measure"])
        if m not in MEASURES:
            raise ConfigError(f"{where}: measure={m!r}: valid: {', '.join(MEASURES)}")
        args = {k: v for k, v in t.items() if k not in ("name", "measure", "value", "band", "tolerance", "weight",
                                                       "source")}
        for a in {"pd": ("agent", "years"), "cds": ("agent", "years"), "order": ("agents", "years"),
                  "paths_mean": ("column",), "timeseries": ("metric", "month"), "report": ("group", "name_in_report"),
                  "redemption_rate": ()}[m]:
            if a not in args:
                raise ConfigError(f"{where}: measure {m} needs '{a}'")
        for a in ("agent",):
            if a in args and args[a] not in names:
                raise ConfigError(f"{where}: agent={args[a]!r}: not in calibration {cfg.calibration.name}; "
                                  f"valid: {', '.join(names)}")
        if "agents" in args:
            bad = [a for a in args["agents"] if a not in names]
            if bad or len(args["agents"]) < 2:
                raise ConfigError(f"{where}: agents: {bad or args['agents']}: need two or more of {', '.join(names)}")
        if "years" in args and (args["years"] not in PD_YEARS or 12 * int(args["years"]) > horizon):
            raise ConfigError(f"{where}: years={args['years']!r}: one of {PD_YEARS} within horizon={horizon} months")
        if "month" in args and not (isinstance(args["month"], int) and 0 <= args["month"] < horizon):
            raise ConfigError(f"{where}: month={args['month']!r}: a month in [0, {horizon - 1}]")
        value = band = None
        if ("value" in t) and ("band" in t) or not ("value" in t or "band" in t or m == "report"):
            raise ConfigError(f"{where}: give exactly one of 'value' or 'band: [lo, hi]'"
                              + (" (a report target may give neither: the report's band)" if m == "report" else ""))
        if "value" in t:
            value = _num(where, "value", t["value"])
        elif "band" in t:
            b = t["band"]
            if not isinstance(b, list) or len(b) != 2:
                raise ConfigError(f"{where}: band={b!r}: must be [lo, hi]")
            band = (_num(where, "band[0]", b[0]), _num(where, "band[1]", b[1]))
            if band[0] > band[1]:
                raise ConfigError(f"{where}: band={b!r}: lo must not be above hi")
        if "tolerance" not in t:
            raise ConfigError(f"{where}: 'tolerance' is required (the error that counts as one unit)")
        tol = _num(where, "tolerance", t["tolerance"], positive=True)
        w = _num(where, "weight", t.get("weight", 1.0), nonneg=True)
        out.append(TargetSpec(str(t["name"]), m, args, value, band, tol, w, str(t["source"])))
    dup = {t.name for t in out if [u.name for u in out].count(t.name) > 1}
    if dup:
        raise ConfigError(f"fit.targets: {path.name}: target names must be unique; repeated: {', '.join(sorted(dup))}")
    return out


# --------------------------------------------------------------------------- measures
def _pd(ag: Any, agent: str, years: int) -> tuple[float, float]:
    row = ag[ag["name"] == agent].iloc[0]
    return float(row[f"pd_{years}y"]), float(row[f"pd_{years}y_se"])


def measure(t: TargetSpec, res: Any, report: dict[tuple[str, str], Any], n: int) -> tuple[float, float]:
    """(model value, standard error) of target ``t`` on a run's results."""
    a = t.args
    if t.measure == "pd":
        return _pd(res.agents, a["agent"], int(a["years"]))
    if t.measure == "cds":
        p, se = _pd(res.agents, a["agent"], int(a["years"]))
        T, R, k = float(a["years"]), float(a.get("recovery", 0.4)), float(a.get("premium", 2.0))
        p = min(p, 1 - 0.5 / n)  # continuity correction: every path defaulting is not an infinite spread
        f = 1e4 * k * (1 - R) / T
        return f * -math.log1p(-p), f * se / (1 - p)
    if t.measure == "order":
        ps = [_pd(res.agents, x, int(a["years"]))[0] for x in a["agents"]]
        pairs = [(i, j) for i in range(len(ps)) for j in range(i + 1, len(ps))]
        ok = sum(1.0 if ps[i] > ps[j] else 0.5 if ps[i] == ps[j] else 0.0 for i, j in pairs)
        return ok / len(pairs), 0.0
    if t.measure == "paths_mean":
        x = res.paths[a["column"]].to_numpy(dtype=float)
        return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    if t.measure == "timeseries":
        ts = res.timeseries
        row = ts[(ts["metric"] == a["metric"]) & (ts["month"] == int(a["month"]))].iloc[0]
        return float(row["mean"]), float(row["p95"] - row["p05"]) / (2 * Z90 * math.sqrt(n))
    if t.measure == "redemption_rate":
        ag = res.agents
        nav = float(ag.loc[ag["sector"] == "private_credit", "equity_0"].sum())
        x = res.paths["redemptions"].to_numpy(dtype=float) / (nav * int(res.manifest["horizon"]))
        return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    if t.measure == "report":
        r = report[(str(a["group"]), str(a["name_in_report"]))]
        se = r.se if not math.isnan(r.se) else 0.0 if math.isnan(r.p05) else (r.p95 - r.p05) / (2 * Z90 * math.sqrt(n))
        return float(r.model), float(se)
    raise AssertionError(t.measure)


def fill_report_bands(targets: list[TargetSpec], report: dict[tuple[str, str], Any]) -> None:
    """A report target without value or band takes the calibration report's band (one side
    open where the report gives only one)."""
    for t in targets:
        if t.measure == "report":
            key = (str(t.args["group"]), str(t.args["name_in_report"]))
            if key not in report:
                raise ConfigError(f"fit.targets: {t.name}: no report target {key[1]!r} in group {key[0]!r}; valid: "
                                  + ", ".join(f"{g}/{n}" for g, n in report))
            r = report[key]
            if t.value is None and t.band is None:
                if math.isnan(r.low) and math.isnan(r.high):
                    raise ConfigError(f"fit.targets: {t.name}: report target {key[1]!r} has no band; give a value")
                t.band = (-math.inf if math.isnan(r.low) else r.low, math.inf if math.isnan(r.high) else r.high)


# --------------------------------------------------------------------------- the problem
class Problem:
    """Evaluates candidates on common random numbers, caches them (jsonl) and counts them."""

    def __init__(self, cfg: DictConfig, params: list[Param], targets: list[TargetSpec], cache: Path,
                 replay: dict[str, dict[str, Any]], key: str, bar: Any = None) -> None:
        self.cfg, self.params, self.targets, self.cache_path, self.key = cfg, params, targets, cache, key
        self.cache = dict(replay)
        self.simulated = 0
        self.seen: set[str] = set()
        self.history: list[tuple[dict[str, float], float]] = []
        self.bar = bar
        self.needs_report = any(t.measure == "report" for t in targets)

    def candidate(self, x: dict[str, float]) -> DictConfig:
        c = copy.deepcopy(self.cfg)
        for k, v in x.items():
            set_value(c, k, v)
        c.output.progress = False
        return c

    def _id(self, x: dict[str, float]) -> str:
        return json.dumps([round(x[p.key], 12) for p in self.params])

    def values(self, x: dict[str, float]) -> dict[str, tuple[float, float]]:
        """{target name: (model, se)} at the parameter values ``x``."""
        from aisim.runner import run

        i = self._id(x)
        self.seen.add(i)
        if i in self.cache:
            return {k: tuple(v) for k, v in self.cache[i]["values"].items()}
        c = self.candidate(x)
        validate(c)
        res = run(c, None, progress=False).results
        report = self.report(c) if self.needs_report else {}
        n = int(c.paths.n)
        vals = {t.name: measure(t, res, report, n) for t in self.targets}
        self.simulated += 1
        rec = {"key": self.key, "params": x, "values": vals, "loss": self.loss(vals)}
        self.cache[i] = rec
        with self.cache_path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        return vals

    @staticmethod
    def report(c: DictConfig) -> dict[tuple[str, str], Any]:
        from aisim.longtail import with_long_tail, world_of
        from aisim.targets import dynamic_targets, start_targets

        cc = with_long_tail(c)
        world = world_of(cc)
        ts = start_targets(cc, world) + dynamic_targets(cc, world, int(c.paths.n), np)
        return {(t.group, t.name): t for t in ts}

    def loss(self, vals: dict[str, tuple[float, float]]) -> float:
        return float(sum(self.terms(vals).values()))

    def terms(self, vals: dict[str, tuple[float, float]]) -> dict[str, float]:
        out = {}
        for t in self.targets:
            m, se = vals[t.name]
            if not math.isfinite(m):
                out[t.name] = t.weight * 1e6
                continue
            s = math.sqrt(t.tolerance**2 + (se if math.isfinite(se) else 0.0) ** 2)
            out[t.name] = t.weight * (t.error(m) / s) ** 2
        return out

    def at(self, u: np.ndarray) -> dict[str, float]:
        return {p.key: p.unscale(float(v)) for p, v in zip(self.params, u, strict=True)}

    def f(self, u: np.ndarray) -> float:
        x = self.at(u)
        L = self.loss(self.values(x))
        self.history.append((x, L))
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{L:.4g}", best=f"{min(h[1] for h in self.history):.4g}")
        return L


class _Budget(Exception):  # noqa: N818 -- a signal out of the optimiser, not an error
    pass


def optimise(prob: Problem, budget: int, method: str, simplex: float) -> np.ndarray:
    """The best scaled point found within ``budget`` loss evaluations."""
    from scipy.optimize import minimize

    d = len(prob.params)
    u0 = np.array([p.scale(p.start) for p in prob.params])
    count = [0]
    best: list[Any] = [None, math.inf]

    def f(u: np.ndarray) -> float:
        if count[0] >= budget:
            raise _Budget
        count[0] += 1
        u = np.clip(u, 0.0, 1.0)
        L = prob.f(u)
        if L < best[1]:
            best[:] = [u.copy(), L]
        return L

    bounds = [(0.0, 1.0)] * d
    opts: dict[str, Any] = {"maxfev": budget, "xatol": 1e-3, "fatol": 1e-6}
    if method == "nelder-mead":
        sim = [u0]
        for j in range(d):
            v = u0.copy()
            v[j] = v[j] + simplex if v[j] + simplex <= 1 else v[j] - simplex
            sim.append(v)
        opts["initial_simplex"] = np.array(sim)
        meth = "Nelder-Mead"
    else:
        opts = {"maxfev": budget, "xtol": 1e-3, "ftol": 1e-6}
        meth = "Powell"
    try:
        minimize(f, u0, method=meth, bounds=bounds, options=opts)
    except _Budget:
        pass
    assert best[0] is not None
    return best[0]


def curvature(prob: Problem, u: np.ndarray, h: float) -> tuple[np.ndarray, bool]:
    """(covariance in scaled coordinates 2 H^-1, whether H is positive definite) at ``u``."""
    d = u.size
    steps = [h] * d

    def L(v: np.ndarray) -> float:
        return prob.loss(prob.values(prob.at(np.clip(v, 0, 1))))

    f0 = L(u)
    H = np.zeros((d, d))
    free = [j for j in range(d) if 1e-6 < u[j] < 1 - 1e-6]  # a parameter fitted at a bound is held there
    for i in free:
        hi = steps[i]
        e = np.zeros(d)
        e[i] = hi
        # one-sided at a bound: a second difference further inside
        if u[i] - hi < 0:
            H[i, i] = (L(u + 2 * e) - 2 * L(u + e) + f0) / hi**2
        elif u[i] + hi > 1:
            H[i, i] = (L(u - 2 * e) - 2 * L(u - e) + f0) / hi**2
        else:
            H[i, i] = (L(u + e) - 2 * f0 + L(u - e)) / hi**2
        for j in (j for j in free if j < i):
            ej = np.zeros(d)
            ej[j] = steps[j]
            H[i, j] = H[j, i] = (L(u + e + ej) - L(u + e - ej) - L(u - e + ej) + L(u - e - ej)) / (4 * hi * steps[j])
    # the others' curvature is conditional on the parameters held at their bounds
    cov = np.full((d, d), np.nan)
    if not free:
        return cov, False
    sub = H[np.ix_(free, free)]
    try:
        np.linalg.cholesky(sub)
    except np.linalg.LinAlgError:
        return cov, False
    cov[np.ix_(free, free)] = 2 * np.linalg.inv(sub)
    return cov, True


# --------------------------------------------------------------------------- regime differences
def regime_configs(cfg: DictConfig, regimes: list[str]) -> dict[str, DictConfig]:
    """The run's config under each regime of ``fit.regimes`` (composed as the command was)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from aisim.compare import _compose

    hc = HydraConfig.get()
    task = [o for o in hc.overrides.task if not o.lstrip("+~").startswith(("fit.", "regime="))]
    out = {}
    for r in regimes:
        try:
            c = _compose(str(hc.job.config_name), list(hc.overrides.hydra) + task + [f"regime={r}"])
        except (HydraException, OmegaConfBaseException) as exc:
            text = str(exc).split("Config search path:")[0]
            valid = [ln.strip() for ln in text.splitlines() if ln.startswith("\t")]
            why = f"valid: {', '.join(valid)}" if valid else text.strip().splitlines()[0]
            raise ConfigError(f"fit.regimes: {r!r} is not a regime on the search path; {why}") from None
        with open_dict(c):
            c.fit = cfg.fit
        validate(c)
        out[r] = c
    return out


def regime_sensitivity(configs: dict[str, DictConfig], params: list[Param], x: dict[str, float],
                       intervals: dict[str, list[float]], metrics: list[str]) -> dict[str, Any]:
    """Each headline metric under each regime, and each regime's difference from the first,
    at the fitted values and with one parameter at a time at either end of its interval (the
    others fitted); same seed and paths throughout, so the differences are paired."""
    from aisim.compare import metric_values
    from aisim.runner import run

    points = [("fitted", dict(x))]
    for p in params:
        for end, v in zip(("lo", "hi"), intervals.get(p.key, [x[p.key], x[p.key]]), strict=True):
            if v != x[p.key]:
                points.append((f"{p.key}={end}", {**x, p.key: v}))
    first = next(iter(configs))
    rows: dict[str, Any] = {}
    for label, xs in points:
        vals = {}
        for r, c in configs.items():
            cc = copy.deepcopy(c)
            for k, v in xs.items():
                set_value(cc, k, v)
            cc.output.progress = False
            paths = run(cc, None, progress=False).results.paths
            vals[r] = {m: float(np.nanmean(metric_values(paths, m))) for m in metrics}
        diff = {r: {m: vals[r][m] - vals[first][m] for m in metrics} for r in configs if r != first}
        rows[label] = {"params": xs, "by_regime": vals, "difference": diff}
    others = [r for r in configs if r != first]
    d_of = lambda r, m: [v["difference"][r][m] for v in rows.values()]  # noqa: E731
    span = {r: {m: [min(d_of(r, m)), max(d_of(r, m))] for m in metrics} for r in others}
    return {"against": first, "points": rows, "difference_range": span}


# --------------------------------------------------------------------------- outputs
def fitted_yaml(cfg: DictConfig, params: list[Param], x: dict[str, float], name: str, note: str) -> str:
    """A ``# @package _global_`` calibration file: the calibration (renamed, entity fields
    fitted) and the fitted keys outside it."""
    c = copy.deepcopy(cfg)
    for k, v in x.items():
        set_value(c, k, v)
    cal = OmegaConf.to_container(c.calibration, resolve=True)
    cal["name"] = name
    cal["description"] = (str(cal.get("description") or "") + f" [{note}]").strip()
    out: dict[str, Any] = {"calibration": cal}
    for p in params:
        if p.key.startswith(("calibration.", *LATER_GROUPS)):
            continue  # in the calibration node, or composed after it (run_overrides)
        node = out
        parts = p.key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = float(x[p.key])
    extra = "".join(f" {o}" for o in run_overrides(params, x))
    later = ("\n# Fitted scenario/regime keys are not in this file (those groups are composed after it): "
             f"pass{extra}" if extra else "")
    return (f"# @package _global_\n# {note}\n# Written by aisim-calibrate; run it with aisim calibration={name} "
            f"\"hydra.searchpath=[file://<this run folder>/conf]\"{extra}{later}\n"
            + yaml.safe_dump(out, sort_keys=False, allow_unicode=True))


#: Config groups composed after ``calibration`` (conf/config.yaml's defaults list): a fitted key
#: in them would be overwritten by the group's file, so it is an override of the run line instead.
LATER_GROUPS = ("scenario.", "regime.")


def run_overrides(params: list[Param], x: dict[str, float]) -> list[str]:
    return [f"{p.key}={x[p.key]!r}" for p in params if p.key.startswith(LATER_GROUPS)]


def run_line(result: dict[str, Any]) -> str:
    extra = "".join(f" {o}" for o in result.get("run_overrides", []))
    return f"aisim calibration={result['fitted']} \"hydra.searchpath=[file://{result['run_dir']}/conf]\"{extra}"


def figure(targets: list[TargetSpec], before: dict[str, Any], after: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(targets)
    fig, ax = plt.subplots(figsize=(8, 0.32 * n + 1.6), layout="constrained")
    y = np.arange(n)[::-1]
    z0 = [before[t.name]["error"] / before[t.name]["scale"] for t in targets]
    z1 = [after[t.name]["error"] / after[t.name]["scale"] for t in targets]
    ax.axvspan(-1, 1, color="0.9", label="within one tolerance")
    ax.axvline(0, color="0.5", lw=0.8)
    lim = 10.0
    ax.scatter(np.clip(z0, -lim, lim), y, s=90, marker="o", facecolors="none", edgecolors="0.4", label="before")
    ax.scatter(np.clip(z1, -lim, lim), y, marker="o", color="C0", label="after")
    ax.set_yticks(y, [t.name for t in targets], fontsize=7)
    ax.set_xlim(-lim * 1.05, lim * 1.05)
    ax.set_xlabel("model - target (outside its band), in units of sqrt(tolerance^2 + se^2); clipped at +/-10")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("aisim-calibrate: each target against the model, before and after the fit", fontsize=10)
    return fig


def _rows(prob: Problem, vals: dict[str, tuple[float, float]]) -> dict[str, Any]:
    terms = prob.terms(vals)
    out = {}
    for t in prob.targets:
        m, se = vals[t.name]
        out[t.name] = {"model": m, "target": t.target, "error": t.error(m),
                       "standard_error": se, "tolerance": t.tolerance, "weight": t.weight,
                       "scale": math.sqrt(t.tolerance**2 + se**2), "loss": terms[t.name],
                       "measure": t.measure, "source": t.source}
    return out


def report_markdown(result: dict[str, Any]) -> str:
    L = [f"# aisim-calibrate: {result['calibration']} -> {result['fitted']}", "",
         f"targets `{result['targets_file']}`, seed {result['seed']}, {result['paths']} paths, horizon "
         f"{result['horizon']} months, scenario `{result['scenario']}`, regime `{result['regime']}`; "
         f"optimiser {result['method']}, {result['evaluations']} loss evaluations "
         f"({result['simulated']} simulated, {result['replayed']} replayed from the cache).", "",
         f"**Loss** {result['loss_initial']:.4g} -> {result['loss_final']:.4g} "
         "(sum of weight x (error / sqrt(tolerance^2 + se^2))^2; docs/calibration.md).", "",
         "## Parameters", "",
         "| key | start | fitted | 95% interval | bounds |", "|---|---|---|---|---|"]
    for k, v in result["params"].items():
        iv = result["intervals"].get(k)
        ivs = "-" if iv is None else f"{iv[0]:.4g} to {iv[1]:.4g}"
        b = result["bounds"][k]
        L.append(f"| `{k}` | {result['start'][k]:.4g} | {v:.4g} | {ivs} | [{b[0]:g}, {b[1]:g}] |")
    L += ["", result["interval_note"], "", "## Targets", "",
          "| target | target value | model before | model after | se after | loss before | loss after | source |",
          "|---|---|---|---|---|---|---|---|"]
    for name, a in result["targets"].items():
        b = result["targets_initial"][name]
        tv = a["target"] if not isinstance(a["target"], list) else "[" + ", ".join(
            "-" if b is None else f"{b:g}" for b in a["target"]) + "]"
        L.append(f"| {name} | {tv} | {b['model']:.4g} | {a['model']:.4g} | {a['standard_error']:.2g} | "
                 f"{b['loss']:.3g} | {a['loss']:.3g} | {a['source']} |")
    sens = result.get("regime_sensitivity")
    if sens:
        L += ["", f"## Headline regime differences across the parameter intervals (against {sens['against']})", "",
              "| regime | metric | at the fitted values | range over the interval ends |", "|---|---|---|---|"]
        for r, by in sens["difference_range"].items():
            for m, (lo, hi) in by.items():
                L.append(f"| {r} | {m} | {sens['points']['fitted']['difference'][r][m]:.4g} | {lo:.4g} to {hi:.4g} |")
        L += ["", "One parameter at a time at either end of its 95% interval, the others fitted; same seed and "
              "paths (paired differences)."]
    L += ["", "Run the fitted calibration with:", "", "```", run_line(result), "```", ""]
    return "\n".join(L)


def _problem_key(cfg: DictConfig, params: list[Param], targets_text: str) -> str:
    from aisim.runner import config_hash

    c = copy.deepcopy(cfg)
    with open_dict(c):
        c.pop("fit", None)
    blob = json.dumps([config_hash(c), targets_text, [(p.key, p.lo, p.hi) for p in params]])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_cache(path: Path, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption
        if rec.get("key") == key:
            out[json.dumps([round(v, 12) for v in rec["params"].values()])] = rec
    return out


def check(cfg: DictConfig) -> tuple[list[Param], list[TargetSpec], Path]:
    """Everything about ``fit`` that can be wrong, checked before any simulation."""
    fc = cfg.fit
    if str(fc.method) not in ("nelder-mead", "powell"):
        raise ConfigError(f"fit.method={fc.method}: valid: nelder-mead, powell")
    if str(fc.interval) not in ("curvature", "none"):
        raise ConfigError(f"fit.interval={fc.interval}: valid: curvature, none")
    if int(fc.budget) < 1:
        raise ConfigError(f"fit.budget={fc.budget}: must be 1 or more (loss evaluations)")
    if not 0 < float(fc.step) <= 0.5:
        raise ConfigError(f"fit.step={fc.step}: must be in (0, 0.5] (scaled coordinates)")
    if not 0 < float(fc.simplex) <= 1:
        raise ConfigError(f"fit.simplex={fc.simplex}: must be in (0, 1]")
    if str(fc.resume) and not Path(hydra.utils.to_absolute_path(str(fc.resume))).is_dir():
        raise ConfigError(f"fit.resume={fc.resume}: no such run folder")
    validate(cfg)
    params = plan_params(cfg, fc.params)
    path = targets_path(str(fc.targets))
    targets = load_targets(path, cfg)
    return params, targets, path


def calibrate(cfg: DictConfig, run_dir: Path, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    from aisim.compare import _save_figure, _write_text

    params, targets, tpath = check(cfg)
    fc = cfg.fit
    configs: dict[str, DictConfig] = {}
    if len(fc.regimes) == 1:
        raise ConfigError("fit.regimes: name two or more regimes (the differences are against the first), or none")
    if fc.regimes:
        from aisim.outputs import PATH_OUTCOMES

        known = ["path", *(o.name for o in PATH_OUTCOMES)]
        for m in fc.headline:
            if not (m in known or m == "pd_any" or (m.startswith("pd_") and f"defaults_{m[3:]}" in known)):
                raise ConfigError(f"fit.headline: {m!r} is not a paths metric; valid: {', '.join(known[1:])}")
        configs = regime_configs(cfg, [str(r) for r in fc.regimes])
    name = (str(fc.name) or str(cfg.calibration.name)) + "_fitted"
    key = _problem_key(cfg, params, tpath.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    cache_path = run_dir / "evaluations.jsonl"
    replay = _read_cache(cache_path, key)
    if str(fc.resume):
        earlier = _read_cache(Path(hydra.utils.to_absolute_path(str(fc.resume))) / "evaluations.jsonl", key)
        # the replayed evaluations are written here too, so this folder alone resumes next time
        with cache_path.open("a") as f:
            for i, rec in earlier.items():
                if i not in replay:
                    f.write(json.dumps(rec) + "\n")
        replay.update(earlier)
    t0 = time.perf_counter()
    with results_io.claim(run_dir, "aisim-calibrate"):
        results_io.move_aside(run_dir, [n for n in ("fit.json", "fit.png", "fit_report.md", "conf")
                                        if (run_dir / n).exists()])
        d = len(params)
        extra = 2 * d * d + 1 if str(fc.interval) == "curvature" else 0
        bar = tqdm(total=int(fc.budget) + extra, desc="aisim-calibrate", unit="eval", file=sys.stderr,
                   disable=not progress, leave=False)
        prob = Problem(cfg, params, targets, cache_path, replay, key, bar)
        if any(t.measure == "report" for t in targets):
            fill_report_bands(targets, prob.report(cfg))
        u0 = np.array([p.scale(p.start) for p in params])
        x0 = prob.at(u0)
        v0 = prob.values(x0)
        loss0 = prob.loss(v0)
        u = optimise(prob, int(fc.budget), str(fc.method), float(fc.simplex))
        x = prob.at(u)
        v1 = prob.values(x)
        loss1 = prob.loss(v1)
        if loss1 > loss0:  # cannot happen (the start is the first evaluation); kept as a guard
            u, x, v1, loss1 = u0, x0, v0, loss0
        intervals: dict[str, list[float]] = {}
        if str(fc.interval) == "curvature":
            cov, ok = curvature(prob, u, float(fc.step))
            at_bound = [p.key for j, p in enumerate(params) if not 1e-6 < u[j] < 1 - 1e-6]
            for j, p in enumerate(params):
                if ok and cov[j, j] >= 0:
                    half = Z95 * math.sqrt(cov[j, j]) * (p.hi - p.lo)
                    intervals[p.key] = [max(p.lo, x[p.key] - half), min(p.hi, x[p.key] + half)]
                else:
                    intervals[p.key] = [p.lo, p.hi]
            note = ("95% intervals from the curvature of the loss at the optimum: a central finite-difference "
                    f"Hessian H in scaled coordinates (step {fc.step:g} of each range), covariance 2 H^-1 "
                    "(the loss read as a chi-square), +/- 1.96 sd, clipped to the bounds.")
            if at_bound:
                note += (f" Fitted at a bound: {', '.join(at_bound)}; held there for the others' intervals, its own "
                         "interval is the whole bound range (widen the bounds if the bound is not a real limit).")
            if not ok:
                note += (" The Hessian was not positive definite here (a flat or step-shaped loss), so each interval "
                         "is the whole bound range: the targets do not pin these parameters down on these paths.")
        else:
            note = "No intervals (fit.interval=none)."
        bar.close()
        sens = (regime_sensitivity(configs, params, x, intervals, [str(m) for m in fc.headline])
                if configs else None)
        hc = HydraConfig.get() if HydraConfig.initialized() else None
        result: dict[str, Any] = {
            "loss_initial": loss0, "loss_final": loss1, "params": x, "start": x0,
            "bounds": {p.key: [p.lo, p.hi] for p in params}, "intervals": intervals, "interval_note": note,
            "targets": _rows(prob, v1), "targets_initial": _rows(prob, v0),
            "evaluations": len(prob.seen), "simulated": prob.simulated, "replayed": len(prob.seen) - prob.simulated,
            "budget": int(fc.budget), "method": f"scipy.optimize.minimize({fc.method}), bounded, scaled [0, 1]",
            "seed": int(cfg.seed), "paths": int(cfg.paths.n), "horizon": int(cfg.horizon),
            "calibration": str(cfg.calibration.name), "fitted": name, "targets_file": str(tpath),
            "scenario": str(cfg.scenario.name), "regime": str(cfg.regime.name),
            "run_dir": str(run_dir.resolve()), "problem_key": key,
            "choices": dict(hc.runtime.choices) if hc is not None else {},
            "regime_sensitivity": sens, "run_overrides": run_overrides(params, x),
        }
        note_line = (f"fitted by aisim-calibrate to {tpath.name} (loss {loss0:.4g} -> {loss1:.4g}, seed {cfg.seed}, "
                     f"{cfg.paths.n} paths)")
        (run_dir / "conf" / "calibration").mkdir(parents=True, exist_ok=True)
        _write_text(run_dir / "conf" / "calibration" / f"{name}.yaml", fitted_yaml(cfg, params, x, name, note_line))
        _save_figure(figure(targets, result["targets_initial"], result["targets"]), run_dir / "fit.png")
        _write_text(run_dir / "fit_report.md", report_markdown(result))
        result["wall_s"] = time.perf_counter() - t0
        results_io.write_json(result, run_dir / "fit.json")
    return result


def summary(result: dict[str, Any]) -> str:
    lines = [f"aisim-calibrate  {result['calibration']} -> {result['fitted']}: loss {result['loss_initial']:.4g} -> "
             f"{result['loss_final']:.4g} in {result['evaluations']} evaluations ({result['simulated']} simulated)"]
    for k, v in result["params"].items():
        iv = result["intervals"].get(k)
        ivs = "" if iv is None else f"  95% interval [{iv[0]:.4g}, {iv[1]:.4g}]"
        lines.append(f"    {k} = {v:.6g}   (start {result['start'][k]:.6g}){ivs}")
    lines.append(f"results: {result['run_dir']}  (fit.json, fit_report.md, fit.png, conf/calibration/)")
    lines.append(f"run it:  {run_line(result)}")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="calibrate")
def _main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    t0 = time.perf_counter()
    try:
        result = calibrate(cfg, run_dir, progress=bool(cfg.output.progress))
    except (ConfigError, BackendError, results_io.RunDirBusy) as exc:
        print(f"aisim-calibrate: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(summary(result))
    print(f"aisim-calibrate: done in {time.perf_counter() - t0:.1f} s")


def main(argv: Any = None) -> None:
    """Console-script entry point: ``aisim-calibrate`` (and ``python -m aisim.calibrate``)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    register(FitAppConfig)
    sys.exit(hydra_entry(_main, "aisim-calibrate"))


if __name__ == "__main__":
    main()
