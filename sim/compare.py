"""Compare regulatory regimes on the same scenarios: ``aisim-compare``.

Every regime in ``compare.regimes`` runs every scenario in ``compare.scenarios`` on the same seed
and the same paths. Random draws are a pure function of (seed, path, month, stream), so each
regime sees exactly the same shocks on every path and the comparison is paired: the difference
from the reference regime is computed path by path, and its 95% interval is
``mean(d) +/- 1.96 sd(d) / sqrt(n)`` over the per-path differences ``d``. Common random numbers
make these intervals much narrower than those of two independent samples.

Written into the run directory (``outputs/compare/DATE/TIME/`` unless ``hydra.run.dir`` says
otherwise):

* ``comparison.parquet``: ``scenario, regime, metric, value, diff, ci_low, ci_high``;
* ``comparison.md``: the same as readable tables, one per scenario;
* ``frontier.png``: systemic loss (expected credit losses) against cumulative AI capex, one point
  per regime, one panel per scenario;
* ``pd_by_sector.png``: probability that a member of each sector defaults, per regime and scenario;
* ``capital_paths.parquet`` / ``capital_paths.png``: each sector's book equity by month (mean, 5th and
  95th percentiles over paths, difference of means from the reference), per regime and scenario;
* ``runs/SCENARIO/REGIME/``: each run's result files and its composed ``config.yaml``
  (``compare.save_runs=false`` skips them).

``aisim-compare compare.from_multirun=DIR`` builds the same outputs from the job folders of an
``aisim -m regime=... scenario=...`` sweep run by any launcher (each job's ``.hydra/hydra.yaml``
names its regime and scenario; ``paths.parquet`` holds its per-path results). Jobs that differ in
other swept overrides are compared as variants: their label (in the ``regime`` column) is the regime
name followed by those overrides, without the regime name when all jobs share one regime.

Each run of the direct comparison is composed by Hydra from this app's own config with the same
command-line overrides plus ``regime=R scenario=S``, exactly as ``aisim ... regime=R scenario=S``
would compose it (the ``compare`` node aside), so it equals the multirun job of that pair.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from aisim import results as results_io
from aisim import tail
from aisim.cli import hydra_entry
from aisim.config import CONFIG_PATH, register
from aisim.kernels.backend import BackendError
from aisim.paired import Z95, metric_values, paired_difference, unpaired_difference, valid_metrics
from aisim.paired import check_metrics as _check_metrics
from aisim.paired import fmt as _fmt
from aisim.paired import signed as _signed
from aisim.schema import LENDER_SECTORS, SECTORS, Config, ConfigError, RegimeConfig, ScenarioConfig, validate

__all__ = ["metric_values", "paired_difference", "unpaired_difference", "valid_metrics"]
COLUMNS = ("scenario", "regime", "metric", "value", "diff", "ci_low", "ci_high")
GROUPS = ("regime", "scenario")

#: The metrics compared by default. Any column of ``paths.parquet`` is a metric (its mean over
#: paths); ``pd_<sector>`` is the probability that at least one member of the sector defaults and
#: ``pd_any`` that any agent does. ``first_default_month`` is averaged over the paths with a default.
DEFAULT_METRICS = (
    "credit_losses", "credit_losses_bank", "credit_losses_private_credit", "credit_losses_external",
    "systemic_event", "pd_any", *(f"pd_{s}" for s in SECTORS), "defaults", "ai_capex",
    "min_bank_capital_ratio", "gpu_price_drawdown",
)

METRIC_NOTES = {
    "credit_losses": "expected credit losses of all creditors, USD bn",
    "systemic_event": "P(systemic event)",
    "pd_any": "P(any agent defaults)",
    "defaults": "expected number of defaulted agents",
    "ai_capex": "expected cumulative AI capex, USD bn",
    "min_bank_capital_ratio": "expected lowest bank capital ratio",
    "gpu_price_drawdown": "expected largest fall of the GPU rental price from its start",
    "first_default_month": "mean month of the first default, over the paths with a default (paired over paths "
                           "with a default under both regimes)",
}


@dataclass
class CompareConfig:
    """The ``compare`` node of ``conf/compare.yaml``."""

    regimes: list[str] = field(default_factory=list)  # [] = every regime on the search path
    scenarios: list[str] = field(default_factory=list)  # [] = every scenario on the search path
    reference: str | None = None  # the regime the others are compared with; None = the first
    from_multirun: str | None = None  # a sweep folder of `aisim -m`: compare its jobs, run nothing
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    agents: list[str] = field(default_factory=list)  # agents whose default probability comparison.md lists
    save_runs: bool = True  # keep each run's result files under runs/SCENARIO/REGIME/
    shapley: bool = False  # attribute shapley_metric to the channels (aisim.shapley)
    shapley_metric: str = "credit_losses"
    shapley_channels: list[str] = field(default_factory=list)  # [] = every channel
    shapley_exact_max_runs: int = 64  # exact over all 2^n combinations up to this many runs a pair
    shapley_permutations: int = 12  # else this many sampled orders
    channel_effects: bool = False  # also the paired effect of switching each channel (aisim.contributions)
    channel_effects_channels: list[str] = field(default_factory=list)  # [] = every channel
    channel_effects_metrics: list[str] = field(default_factory=lambda: ["defaults", "credit_losses", "ai_capex",
                                                                        "systemic_event"])


@dataclass
class CompareAppConfig(Config):
    """The schema of ``aisim-compare``: the main config plus the ``compare`` node."""

    compare: CompareConfig = field(default_factory=CompareConfig)


# --------------------------------------------------------------------------- statistics
def tail_notes(metrics: Any) -> dict[str, str]:
    """Notes of the tail metrics present: ``es99_credit_losses_bank`` -> what it is."""
    out = {}
    for of in tail_losses([m.split("_", 1)[1] for m in metrics if m[:3] in ("var", "es9")]):
        whose = "all creditors" if of == "credit_losses" else f"lenders of sector {of[len('credit_losses_'):]}"
        for level in tail.LEVELS:
            out[tail.metric_name("var", level, of)] = f"{level:.0%} value at risk of credit losses, {whose}, USD bn"
            out[tail.metric_name("es", level, of)] = (f"{level:.0%} expected shortfall of credit losses, {whose}, "
                                                      "USD bn")
    return out


def tail_losses(columns: Any) -> list[str]:
    """The loss columns whose tails are compared: the system's, then each lender sector's."""
    return [c for c in ("credit_losses", *(f"credit_losses_{x}" for x in LENDER_SECTORS)) if c in columns]


def _mean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


@dataclass
class RunSet:
    """Per-path results of every (scenario, regime) pair, on one seed and one set of paths."""

    scenarios: list[str]
    regimes: list[str]
    reference: str
    paths: dict[tuple[str, str], pd.DataFrame]
    agents: dict[tuple[str, str], pd.DataFrame]
    meta: dict[str, Any]
    timeseries: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)  # each run's timeseries.parquet


def comparison_table(rs: RunSet, metrics: list[str]) -> pd.DataFrame:
    """The long table: one row per (scenario, regime, metric), in the order of the run set."""
    rows = []
    for s in rs.scenarios:
        ref = rs.paths[(s, rs.reference)]
        for r in rs.regimes:
            if (s, r) not in rs.paths:
                continue
            p = rs.paths[(s, r)]
            if not np.array_equal(p["path"].to_numpy(), ref["path"].to_numpy()):
                raise ConfigError(f"scenario {s!r}: regime {r!r} and the reference {rs.reference!r} were not run "
                                  "on the same paths; a paired comparison needs the same paths.n and seed")
            for m in metrics:
                x, x0 = metric_values(p, m), metric_values(ref, m)
                diff, lo, hi = paired_difference(x, x0)
                rows.append((s, r, m, _mean(x), diff, lo, hi))
            for of in tail_losses(p.columns):  # VaR and ES, paired bootstrap over whole paths
                for m, value, diff, lo, hi in tail.paired_tail_difference(
                        p[of].to_numpy(dtype=float), ref[of].to_numpy(dtype=float), int(rs.meta["seed"]), of):
                    rows.append((s, r, m, value, diff, lo, hi))
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.astype({"value": float, "diff": float, "ci_low": float, "ci_high": float})


# --------------------------------------------------------------------------- configs
def _schema_keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    for f in fields(cls):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        if is_dataclass(default):
            out += _schema_keys(type(default), f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


_VALID_KEYS = {"regime": _schema_keys(RegimeConfig), "scenario": _schema_keys(ScenarioConfig)}


def _omegaconf_cause(exc: BaseException) -> OmegaConfBaseException | None:
    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, OmegaConfBaseException) and getattr(e, "full_key", None):
            return e
        e = e.__cause__ or e.__context__
    return None


def _composition_error(exc: BaseException, scenario: str, regime: str) -> ConfigError:
    """A one-line message naming the file and key at fault, and what is valid."""
    cause = _omegaconf_cause(exc)
    if cause is None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ConfigError(f"composing scenario={scenario} regime={regime}: {first}")
    full_key = str(cause.full_key)
    group = full_key.split(".", 1)[0]
    name = {"regime": regime, "scenario": scenario}.get(group)
    where = f"{group} {name!r}" if name else "the config"
    first = str(cause).strip().splitlines()[0]
    if isinstance(cause, ConfigKeyError) and group in _VALID_KEYS:
        key = full_key.split(".", 1)[1]
        return ConfigError(f"{where}: {key!r} is not a {group} parameter ({first}); valid keys: "
                           f"{', '.join(_VALID_KEYS[group])}")
    return ConfigError(f"{where}: {first} (key {full_key})")


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    gh = GlobalHydra.instance()
    assert gh.hydra is not None
    cfg = gh.hydra.compose_config(config_name=config_name, overrides=overrides, run_mode=RunMode.RUN,
                                  from_shell=False, with_log_configuration=False)
    with open_dict(cfg):
        cfg.pop("hydra", None)
        cfg.pop("compare", None)
    return cfg


def _split_overrides(task: list[str]) -> tuple[list[str], list[str]]:
    """(overrides kept for every run, group overrides of regime/scenario given by the user)."""
    parsed = OverridesParser.create().parse_overrides(list(task))
    keep, groups = [], []
    for o in parsed:
        (groups if o.key_or_group in GROUPS else keep).append(o.input_line)
    return keep, groups


def _options(group: str, config_name: str, overrides: list[str]) -> list[str]:
    loader = GlobalHydra.instance().config_loader()
    return sorted(loader.get_group_options(group, config_name=config_name, overrides=overrides))


def _resolve_names(group: str, asked: list[str], valid: list[str], default: str | None) -> list[str]:
    key = f"compare.{group}s"
    if not asked:  # every option on the search path, the default first
        return ([default] if default in valid else []) + [v for v in valid if v != default]
    for name in asked:
        if name not in valid:
            raise ConfigError(f"{key}: {group} {name!r} is not on the config search path; valid: {', '.join(valid)}")
    dup = sorted({n for n in asked if list(asked).count(n) > 1})
    if dup:
        raise ConfigError(f"{key}: {', '.join(dup)} listed twice")
    return list(asked)


def _reference(cc: Any, regimes: list[str]) -> str:
    ref = cc.reference if cc.reference is not None else regimes[0]
    if ref not in regimes:
        raise ConfigError(f"compare.reference={ref!r} is not among the regimes compared: {', '.join(regimes)}")
    return ref


def _check_agents(agents: list[str], names: list[str]) -> None:
    for a in agents:
        if a not in names:
            raise ConfigError(f"compare.agents: {a!r} is not an agent of the calibration; valid: {', '.join(names)}")


# --------------------------------------------------------------------------- direct comparison
def compose_all(config_name: str, overrides: list[str], regimes: list[str],
                scenarios: list[str]) -> dict[tuple[str, str], DictConfig]:
    """The validated config of every (scenario, regime), each as Hydra composes it with
    ``overrides + [regime=R, scenario=S]``.

    Composing is slow (~0.5 s), so when the regime and scenario files are separable -- a regime
    file changes only ``regime``, a scenario file only ``scenario``, as the ones shipped do --
    each regime and each scenario is composed once and the pairs are spliced from them; the
    check below falls back to composing every pair when a file reaches outside its own node.
    """

    def one(r: str, s: str) -> DictConfig:
        try:
            return _compose(config_name, overrides + [f"regime={r}", f"scenario={s}"])
        except (HydraException, OmegaConfBaseException) as exc:
            raise _composition_error(exc, s, r) from exc

    def without(c: DictConfig, key: str) -> Any:
        d = OmegaConf.to_container(c, resolve=False)
        assert isinstance(d, dict)
        d.pop(key, None)
        return d

    r0, s0 = regimes[0], scenarios[0]
    base = one(r0, s0)
    by_r = {r0: base, **{r: one(r, s0) for r in regimes[1:]}}
    by_s = {s0: base, **{s: one(r0, s) for s in scenarios[1:]}}
    separable = (all(without(c, "regime") == without(base, "regime") for c in by_r.values())
                 and all(without(c, "scenario") == without(base, "scenario") for c in by_s.values()))
    out: dict[tuple[str, str], DictConfig] = {}
    for s in scenarios:
        for r in regimes:
            if separable:
                c = copy.deepcopy(by_r[r])
                c.scenario = copy.deepcopy(by_s[s].scenario)
            else:
                c = one(r, s)
            try:
                validate(c)
            except ConfigError as exc:
                raise ConfigError(f"scenario={s} regime={r}: {exc}") from exc
            out[(s, r)] = c
    return out


OUTPUTS = ("comparison.parquet", "comparison.md", "frontier.png", "pd_by_sector.png", "shapley.parquet",
           "shapley.png", "channel_effects.parquet", "channel_effects.json", "capital_paths.parquet",
           "capital_paths.png")
SHAPLEY_COLUMNS = ("scenario", "regime", "channel", "metric", "value", "ci_low", "ci_high")


@dataclass
class _Plan:
    configs: dict[tuple[str, str], DictConfig]
    regimes: list[str]
    scenarios: list[str]
    reference: str
    keep: list[str]


def _plan(cfg: DictConfig) -> _Plan:
    """Compose and validate every (scenario, regime) run before any work."""
    from aisim.runner import run

    cc = cfg.compare
    hc = HydraConfig.get()
    config_name = str(hc.job.config_name)
    hydra_overrides = list(hc.overrides.hydra)
    keep, groups = _split_overrides(list(hc.overrides.task))
    lookup = hydra_overrides + keep
    valid = {g: _options(g, config_name, lookup) for g in GROUPS}
    if groups:
        g = groups[0].split("=")[0].lstrip("+~")
        raise ConfigError(f"{groups[0]}: list the {g}s to compare in compare.{g}s=[...]; valid: {', '.join(valid[g])}")
    choices = hc.runtime.choices
    regimes = _resolve_names("regime", list(cc.regimes), valid["regime"], choices.get("regime"))
    scenarios = _resolve_names("scenario", list(cc.scenarios), valid["scenario"], choices.get("scenario"))
    reference = _reference(cc, regimes)
    metrics = list(cc.metrics)

    configs = compose_all(config_name, lookup, regimes, scenarios)
    first = configs[(scenarios[0], regimes[0])]
    probe = copy.deepcopy(first)
    probe.paths.n, probe.paths.chunk, probe.horizon = 1, "auto", 1
    probe.paths.shard = None
    probe.output.progress = False
    probed = run(probe, None, progress=False).results
    _check_metrics(metrics, probed.paths.columns)
    _check_agents(list(cc.agents), list(probed.agents["name"]))
    if cc.shapley:
        _check_shapley(cc, probed.paths.columns)
    if cc.channel_effects:
        from aisim import contributions

        contributions.check(cc, probed.paths.columns)
    return _Plan(configs, regimes, scenarios, reference, keep)


def shapley_players(cc: Any) -> list[str]:
    from aisim.channels import NAMES

    return list(cc.shapley_channels) or list(NAMES)


def _check_shapley(cc: Any, columns: Any) -> None:
    from aisim.channels import NAMES

    _check_metrics([str(cc.shapley_metric)], columns)
    for c in cc.shapley_channels:
        if c not in NAMES:
            raise ConfigError(f"compare.shapley_channels: {c!r} is not a channel; valid: {', '.join(NAMES)}")
    if len(set(shapley_players(cc))) != len(shapley_players(cc)):
        raise ConfigError("compare.shapley_channels: a channel is listed twice")
    for key in ("shapley_exact_max_runs", "shapley_permutations"):
        if int(cc[key]) < 1:
            raise ConfigError(f"compare.{key}={cc[key]}: must be at least 1")


def shapley_table(cfg: DictConfig, plan: _Plan) -> pd.DataFrame:
    """Shapley values of ``compare.shapley_metric`` over the channels, per (scenario, regime):
    every coalition a run on the same seed and paths (aisim.shapley)."""
    from aisim import shapley
    from aisim.runner import run

    cc = cfg.compare
    players, metric = shapley_players(cc), str(cc.shapley_metric)
    rows = []
    for (s, r), c in plan.configs.items():
        count = [0]

        def value(coalition: frozenset[str], c: DictConfig = c, s: str = s, r: str = r,
                  count: list[int] = count) -> np.ndarray:
            one = copy.deepcopy(c)
            for ch in players:
                one.channels[ch] = ch in coalition
            one.output.progress = False
            count[0] += 1
            res = run(one, None, progress=False).results
            on = ",".join(sorted(coalition)) or "none"
            print(f"aisim-compare: shapley scenario={s} regime={r} run {count[0]} (on: {on})", flush=True)
            return metric_values(res.paths, metric)

        values, method = shapley.attribute(players, value, exact_max_runs=int(cc.shapley_exact_max_runs),
                                           orders=int(cc.shapley_permutations), seed=int(c.seed))
        print(f"aisim-compare: shapley scenario={s} regime={r}: {method}, {count[0]} runs", flush=True)
        rows += [(s, r, ch, metric, *v) for ch, v in zip(players, values, strict=True)]
    return pd.DataFrame(rows, columns=list(SHAPLEY_COLUMNS)).astype(
        {"value": float, "ci_low": float, "ci_high": float})


def shapley_markdown(table: pd.DataFrame) -> str:
    """The section of comparison.md on the channels: per scenario, each channel's Shapley value
    under each regime with its 95% interval, their sum (all channels on minus all off), and the
    bars of shapley.png."""
    metric = str(table["metric"].iloc[0])
    regimes = list(dict.fromkeys(table["regime"]))
    lines = [f"## Shapley attribution of {metric} to the channels", "",
             "Each channel's Shapley value (aisim.shapley): the coalitions are runs with the channels on or off, "
             "on the same seed and paths; the values sum to the all-on minus all-off difference. 95% intervals.", "",
             "![Shapley values of the channels](shapley.png)", ""]
    for s in dict.fromkeys(table["scenario"]):
        sub = table[table["scenario"] == s]
        lines += [f"### scenario {s}", "", "| channel | " + " | ".join(regimes) + " |",
                  "|---|" + "---:|" * len(regimes)]
        for ch in dict.fromkeys(sub["channel"]):
            cells = []
            for r in regimes:
                x = sub[(sub["regime"] == r) & (sub["channel"] == ch)]
                cells.append("" if x.empty else f"{_fmt(x['value'].iloc[0])} [{_fmt(x['ci_low'].iloc[0])}, "
                                                f"{_fmt(x['ci_high'].iloc[0])}]")
            lines.append(f"| {ch} | " + " | ".join(cells) + " |")
        sums = [_fmt(sub[sub["regime"] == r]["value"].sum()) for r in regimes]
        lines += ["| **sum = all on minus all off** | " + " | ".join(sums) + " |", ""]
    return "\n".join(lines)


def shapley_figure(table: pd.DataFrame) -> Any:
    """Bars of each channel's Shapley value with its interval, a panel per scenario, a bar
    group per regime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(table["scenario"]))
    regimes = list(dict.fromkeys(table["regime"]))
    channels = list(dict.fromkeys(table["channel"]))
    rows, cols = _grid(len(scenarios), 2)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 0.45 * len(channels) * rows + 1.6 * rows),
                             squeeze=False, layout="constrained")
    h = 0.8 / len(regimes)
    for ax, s in zip(axes.flat, scenarios, strict=False):
        for k, r in enumerate(regimes):
            sub = table[(table["scenario"] == s) & (table["regime"] == r)].set_index("channel").reindex(channels)
            y = np.arange(len(channels)) + k * h
            err = np.vstack([sub["value"] - sub["ci_low"], sub["ci_high"] - sub["value"]])
            ax.barh(y, sub["value"], height=h, xerr=err, label=r, capsize=2)
        ax.set_yticks(np.arange(len(channels)) + 0.4 - h / 2, channels, fontsize=8)
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_title(f"scenario: {s}", fontsize=11)
        ax.set_xlabel(f"Shapley value of {table['metric'].iloc[0]}", fontsize=9)
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(scenarios):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("What each channel contributes (sums to all channels on minus all off; 95% intervals)", fontsize=11)
    return fig


def _tidy(run_dir: Path, plan: _Plan, save_runs: bool) -> None:
    """Before any work in a (claimed) comparison folder: move aside the outputs of an earlier
    comparison and every kept run that is not complete for this comparison's config of its
    pair, so the folder never mixes runs of two configurations; complete ones are reused."""
    from aisim.runner import config_hash
    from aisim.shards import shard_range

    stale = [n for n in OUTPUTS if (run_dir / n).exists()]
    runs = run_dir / "runs"
    if runs.is_dir():
        for sdir in sorted(p for p in runs.iterdir() if p.is_dir()):
            for rdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
                c = plan.configs.get((sdir.name, rdir.name))
                ok = save_runs and c is not None and results_io.status(
                    rdir, config_hash(c), shard_range(c.paths.shard, int(c.paths.n))).complete
                if not ok:
                    stale.append(str(rdir.relative_to(run_dir)))
    moved = results_io.move_aside(run_dir, stale)
    if moved is not None:
        print(f"aisim-compare: moved {len(stale)} earlier outputs and runs of {run_dir} that are not this comparison's "
              f"to {moved}", file=sys.stderr)


def run_comparison(cfg: DictConfig, run_dir: Path, plan: _Plan | None = None) -> RunSet:
    """Run every planned (scenario, regime) pair (same seed, same paths). Pairs whose folder under
    ``runs/`` already holds their complete results are not rerun."""
    from aisim.runner import run

    cc = cfg.compare
    plan = plan or _plan(cfg)
    configs, regimes, scenarios, reference, keep = (plan.configs, plan.regimes, plan.scenarios, plan.reference,
                                                    plan.keep)
    first = configs[(scenarios[0], regimes[0])]
    paths: dict[tuple[str, str], pd.DataFrame] = {}
    agents: dict[tuple[str, str], pd.DataFrame] = {}
    series: dict[tuple[str, str], pd.DataFrame] = {}
    total, k = len(configs), 0
    backend_note = None
    for (s, r), c in configs.items():
        k += 1
        out = run_dir / "runs" / s / r if cc.save_runs else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(c, out / "config.yaml", resolve=True)
        res = run(c, out, progress=False)
        backend_note = backend_note or res.backend.reason
        paths[(s, r)] = res.results.paths
        agents[(s, r)] = res.results.agents
        series[(s, r)] = res.results.timeseries
        m = res.results.manifest
        note = "already complete, reused" if res.resumed else f"{m['wall_s']:.1f} s"
        print(f"aisim-compare: [{k:>{len(str(total))}}/{total}] scenario={s} regime={r}  {note}", flush=True)
    if backend_note:
        print(f"aisim-compare: {backend_note}", file=sys.stderr)
    meta = {
        "source": "direct", "seed": int(first.seed), "paths": int(first.paths.n), "horizon": int(first.horizon),
        "start": str(first.start), "calibration": str(first.calibration.name), "backend": m["backend"],
        "overrides": [o for o in keep if not o.lstrip("+~").startswith("compare.")],
    }
    meta["agents"] = list(cc.agents)
    return RunSet(scenarios, regimes, reference, paths, agents, meta, series)


# --------------------------------------------------------------------------- from a multirun
@dataclass
class _Job:
    folder: Path
    num: int
    regime: str
    scenario: str
    overrides: dict[str, str]
    manifest: dict[str, Any]
    paths: pd.DataFrame | None = None  # in memory (shards merged); else read from folder
    agents: pd.DataFrame | None = None


def _task(folder: Path) -> list[str]:
    hy = OmegaConf.load(folder / ".hydra" / "hydra.yaml")
    return [str(o) for o in (OmegaConf.select(hy, "hydra.overrides.task") or [])]


def _job_header(folder: Path) -> tuple[str | None, str | None, int, dict[str, str]]:
    """(regime, scenario, job number, overrides other than the groups and paths.shard) from
    the job's .hydra/hydra.yaml."""
    hy = OmegaConf.load(folder / ".hydra" / "hydra.yaml")
    regime = OmegaConf.select(hy, "hydra.runtime.choices.regime")
    scenario = OmegaConf.select(hy, "hydra.runtime.choices.scenario")
    num = OmegaConf.select(hy, "hydra.job.num")
    task = list(OmegaConf.select(hy, "hydra.overrides.task") or [])
    parsed = OverridesParser.create().parse_overrides(task)
    ov = {o.key_or_group: o.input_line for o in parsed if o.key_or_group not in (*GROUPS, "paths.shard")}
    return (None if regime is None else str(regime), None if scenario is None else str(scenario),
            int(num) if num is not None else 0, ov)


def _expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """The override lists of the jobs an ``aisim -m`` sweep launched (Hydra's basic sweeper, read
    back from its multirun.yaml), in job-number order; None when they cannot be told."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        mr = OmegaConf.load(sweep_dir / "multirun.yaml")
        if OmegaConf.select(mr, "hydra.runtime.choices.hydra/sweeper") not in (None, "basic"):
            return None
        params = OmegaConf.select(mr, "hydra.sweeper.params") or {}
        args = [f"{k}={v}" for k, v in params.items()] + [str(o) for o in OmegaConf.select(mr, "hydra.overrides.task")]
        return BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(args), None)[0]
    except Exception:  # another sweeper, or a sweep this version cannot parse: only the folders tell
        return None


def _key(o: str) -> str:
    return o.split("=", 1)[0].lstrip("+~")


def _read_jobs(root: Path) -> list[_Job]:
    """The sweep's jobs, shards of one job merged (:mod:`aisim.merge`); raises ConfigError naming
    every job that is incomplete, not started, mismatched or missing a shard."""
    from aisim import merge

    folders = sorted({p.parent.parent for p in root.rglob(".hydra/hydra.yaml")
                      if not any(x in merge.SKIP_DIRS for x in p.parent.parent.relative_to(root).parts)})
    if not folders:
        raise ConfigError(f"compare.from_multirun={root}: no job folders (with .hydra/hydra.yaml) in {root}")
    tasks = {f: _task(f) for f in folders}
    heads = {f: _job_header(f) for f in folders}
    sweeps = sorted({p.parent for p in root.rglob("multirun.yaml")} | ({root} if (root / "multirun.yaml").is_file()
                                                                        else set()))
    expected = {sw: _expected_jobs(sw) for sw in sweeps}
    all_tasks = list(tasks.values()) + [ov for e in expected.values() if e for ov in e]
    values: dict[str, set[str]] = {}
    for t in all_tasks:
        for o in t:
            values.setdefault(_key(o), set()).add(o)
    swept = {k for k, v in values.items() if len(v) > 1}

    def short(task: list[str]) -> str:
        return " ".join(o for o in task if _key(o) in swept) or "the only job"

    def unsharded(sweep: Path, task: list[str]) -> tuple[str, ...]:
        return (str(sweep), *sorted(o for o in task if _key(o) != "paths.shard"))

    problems: list[str] = []
    troubled: set[tuple[str, ...]] = set()
    for sw, exp in expected.items():
        if not exp:
            continue
        nums = {heads[f][2] for f in folders if f.parent == sw}
        for i, ov in enumerate(exp):
            if i not in nums:
                problems.append(f"job {i} ({short(ov)}) in {sw}: not started")
                troubled.add(unsharded(sw, ov))
    groups: dict[tuple[str, ...], list[tuple[Path, Any]]] = {}
    for f in folders:
        part, why = merge.read_part(f)
        key = unsharded(f.parent, tasks[f])
        if part is None:
            problems.append(f"{f} ({short(tasks[f])}): {why}")
            troubled.add(key)
            continue
        groups.setdefault(key, []).append((f, part))
    jobs: list[_Job] = []
    for key, members in groups.items():
        f0, p0 = members[0]
        regime, scenario, num, ov = heads[f0]
        m0 = p0.manifest
        if len(members) == 1 and not m0.get("shard"):
            jobs.append(_Job(f0, num, regime or str(m0["regime"]), scenario or str(m0["scenario"]), ov, m0))
            continue
        if key in troubled:
            continue  # its missing shard is named above
        try:
            merged = merge.merge_parts([p for _, p in members])
        except merge.MergeError as exc:
            problems.append(f"{f0} ({short(tasks[f0])}) and its other shards: {exc}")
            continue
        res = merged.results
        jobs.append(_Job(f0, num, regime or str(m0["regime"]), scenario or str(m0["scenario"]), ov, res.manifest,
                         paths=res.paths, agents=res.agents))
    if problems:
        raise ConfigError(
            f"compare.from_multirun: {root} has incomplete jobs: " + "; ".join(problems)
            + f". Rerun the same aisim -m command with hydra.sweep.dir={root}: the jobs already complete are not "
            "recomputed")
    return jobs


def load_multirun(cfg: DictConfig) -> RunSet:
    """The run set of the job folders under ``compare.from_multirun`` (shards of a job merged)."""
    cc = cfg.compare
    root = Path(to_absolute_path(str(cc.from_multirun)))
    if not root.is_dir():
        raise ConfigError(f"compare.from_multirun={cc.from_multirun}: no such folder")
    # sweep order: by sweep folder, then job number (a retry sweep in a subfolder comes after)
    jobs = sorted(_read_jobs(root), key=lambda j: (str(j.folder.parent), j.num, str(j.folder)))
    for key in ("seed", "paths"):
        seen = sorted({j.manifest[key] for j in jobs})
        if len(seen) > 1:
            raise ConfigError(f"compare.from_multirun: the jobs differ in {key} ({', '.join(map(str, seen))}); "
                              f"a paired comparison needs one {key} for all; compare the jobs of one {key} at a time")
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    varying = [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]
    short = _short_keys(varying)

    one_regime = len({j.regime for j in jobs}) == 1

    def label(j: _Job) -> str:
        extra = [short[k] + j.overrides[k][len(j.overrides[k].split("=", 1)[0]):] for k in varying if k in j.overrides]
        return " ".join(extra if (one_regime and extra) else [j.regime, *extra])

    found_r: list[str] = []
    found_s: list[str] = []
    by_pair: dict[tuple[str, str], _Job] = {}
    for j in jobs:
        r, s = label(j), j.scenario
        if (s, r) in by_pair:
            raise ConfigError(f"compare.from_multirun: {by_pair[(s, r)].folder} and {j.folder} are both scenario={s} "
                              f"regime={r}; a comparison needs one job per pair")
        by_pair[(s, r)] = j
        found_r += [r] if r not in found_r else []
        found_s += [s] if s not in found_s else []
    regimes = _resolve_found("regime", list(cc.regimes), found_r)
    scenarios = _resolve_found("scenario", list(cc.scenarios), found_s)
    reference = _reference(cc, regimes)
    for s in scenarios:
        if (s, reference) not in by_pair:
            raise ConfigError(f"compare.from_multirun: no job for the reference regime {reference!r} in scenario {s!r}")
    paths, agents, series = {}, {}, {}
    for (s, r), j in by_pair.items():
        if s in scenarios and r in regimes:
            paths[(s, r)] = j.paths if j.paths is not None else pd.read_parquet(j.folder / "paths.parquet")
            agents[(s, r)] = j.agents if j.agents is not None else pd.read_parquet(j.folder / "agents.parquet")
            if (j.folder / "timeseries.parquet").exists():
                series[(s, r)] = pd.read_parquet(j.folder / "timeseries.parquet")
    missing = [f"{s}/{r}" for s in scenarios for r in regimes if (s, r) not in paths]
    if missing:
        print(f"aisim-compare: no job for {', '.join(missing)}; left out", file=sys.stderr)
    _check_metrics(list(cc.metrics), next(iter(paths.values())).columns)
    _check_agents(list(cc.agents), list(next(iter(agents.values()))["name"]))
    m0 = jobs[0].manifest
    common = [v for k, v in jobs[0].overrides.items() if k not in varying]
    meta = {
        "source": f"multirun {root}", "seed": int(m0["seed"]), "paths": int(m0["paths"]), "horizon": int(m0["horizon"]),
        "start": str(m0.get("start", "")), "calibration": str(m0.get("calibration", "")),
        "backend": str(m0.get("backend", "")), "overrides": common, "agents": list(cc.agents),
    }
    return RunSet(scenarios, regimes, reference, paths, agents, meta, series)


def _short_keys(keys: list[str]) -> dict[str, str]:
    """Override keys without their common dotted prefix (at least the last part is kept):
    calibration.contracts.14.share, calibration.contracts.13.monthly -> 14.share, 13.monthly."""
    if not keys:
        return {}
    parts = [k.lstrip("+~").split(".") for k in keys]
    n = 0
    while all(len(p) > n + 1 for p in parts) and len({p[n] for p in parts}) == 1:
        n += 1
    return {k: ".".join(p[n:]) for k, p in zip(keys, parts, strict=True)}


def _resolve_found(group: str, asked: list[str], found: list[str]) -> list[str]:
    if not asked:
        return found
    for name in asked:
        if name not in found:
            raise ConfigError(f"compare.{group}s: {group} {name!r} is not in the multirun; found: {', '.join(found)}")
    return list(asked)


# --------------------------------------------------------------------------- outputs
def comparison_markdown(table: pd.DataFrame, rs: RunSet) -> str:
    m = rs.meta
    lines = [
        "# Regime comparison",
        "",
        f"Source: {m['source']}. Calibration `{m['calibration']}`, {m['paths']} paths x {m['horizon']} months "
        f"from {m['start']}, seed {m['seed']}, backend {m['backend']}.",
    ]
    if m.get("overrides"):
        lines.append("Overrides: " + " ".join(f"`{o}`" for o in m["overrides"]) + ".")
    lines += [
        "",
        f"Each cell: the metric's mean over paths, then in brackets the paired difference from the "
        f"reference regime **{rs.reference}** and its 95% interval (mean +/- 1.96 sd / sqrt(n) of the "
        "per-path differences; every regime ran on the same random draws). `pd_<sector>`: probability that a "
        "member of the sector defaults; credit losses in USD bn. `var95_...`, `es99_...`: value at risk and "
        "expected shortfall of the losses over paths (aisim.tail), their differences with 95% intervals from a "
        f"paired bootstrap over whole paths ({tail.BOOTSTRAP} resamples, the same paths under every regime).",
        "",
    ]
    regimes = [r for r in rs.regimes]
    for s in rs.scenarios:
        sub = table[table["scenario"] == s]
        here = [r for r in regimes if r in set(sub["regime"])]
        lines += [f"## Scenario `{s}`", ""]
        heads = [f"{r} (reference)" if r == rs.reference else r for r in here]
        lines.append("| metric | " + " | ".join(heads) + " |")
        lines.append("|---|" + "---:|" * len(here))
        for metric in dict.fromkeys(sub["metric"]):
            cells = []
            for r in here:
                row = sub[(sub["regime"] == r) & (sub["metric"] == metric)].iloc[0]
                if r == rs.reference:
                    cells.append(_fmt(row["value"]))
                else:
                    cells.append(f"{_fmt(row['value'])} ({_signed(row['diff'])} [{_fmt(row['ci_low'])}, "
                                 f"{_fmt(row['ci_high'])}])")
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        lines.append("")
    if rs.timeseries:
        lines += [capital_markdown(capital_paths(rs), rs)]
    if m.get("agents"):
        lines += _agents_markdown(rs, list(m["agents"]))
    notes = [f"- `{k}`: {v}" for k, v in {**METRIC_NOTES, **tail_notes(table["metric"])}.items()
             if k in set(table["metric"])]
    if notes:
        lines += ["Metrics:", "", *notes, ""]
    return "\n".join(lines)


def _agents_markdown(rs: RunSet, names: list[str]) -> list[str]:
    """Default probabilities of named agents from each run's agents.parquet. Not paired (only
    sector-level outcomes are kept per path): the interval is +/- 1.96 Monte Carlo errors."""
    lines = ["## Selected agents: probability of default", "",
             "From each run's `agents.parquet`: P(default) +/- 1.96 Monte Carlo standard errors (not a paired "
             "interval; per-path outcomes are kept by sector, not by agent).", ""]
    for s in rs.scenarios:
        here = [r for r in rs.regimes if (s, r) in rs.agents]
        lines += [f"Scenario `{s}`:", "", "| agent | " + " | ".join(here) + " |", "|---|" + "---:|" * len(here)]
        for name in names:
            cells = []
            for r in here:
                a = rs.agents[(s, r)]
                row = a[a["name"] == name]
                if row.empty:
                    cells.append("n/a")
                    continue
                pd_, se = float(row["pd"].iloc[0]), float(row["pd_se"].iloc[0]) if "pd_se" in row else math.nan
                cells.append(f"{_fmt(pd_)} +/- {_fmt(Z95 * se)}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _write_text(path: Path, text: str) -> None:
    def w(tmp: str) -> None:
        Path(tmp).write_text(text)

    results_io._atomic(path, w)  # noqa: SLF001 -- the package's own atomic writer


def _save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    results_io._atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))  # noqa: SLF001
    plt.close(fig)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, n)
    return math.ceil(n / cols), cols


_MARKERS = "osD^vP*Xhp<>"


def frontier_figure(rs: RunSet) -> Any:
    """Expected credit losses against expected cumulative AI capex, a point per regime, a panel
    per scenario. Points carry the regime's number from the legend; regimes that land on the
    same point are labelled together ("1=2")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = _grid(len(rs.scenarios))
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.9 * rows + 0.5 + 0.3 * math.ceil(len(rs.regimes) / 2)),
                             squeeze=False, layout="constrained")
    colours = plt.get_cmap("tab10")
    style = {r: (colours(i % 10), _MARKERS[i % len(_MARKERS)], i + 1) for i, r in enumerate(rs.regimes)}
    for ax, s in zip(axes.flat, rs.scenarios, strict=False):
        pts = [(r, _mean(metric_values(rs.paths[(s, r)], "ai_capex")),
                _mean(metric_values(rs.paths[(s, r)], "credit_losses")))
               for r in rs.regimes if (s, r) in rs.paths]
        xs = np.array([p[1] for p in pts])
        ys = np.array([p[2] for p in pts])
        xr = max(float(np.ptp(xs)), 1e-3 * max(float(np.abs(xs).max()), 1.0))
        yr = max(float(np.ptp(ys)), 1e-3 * max(float(np.abs(ys).max()), 1.0))
        n = len(pts)
        groups: list[list[int]] = []  # regimes on (nearly) the same point
        for i in range(n):
            for g in groups:
                j = g[0]
                if abs(xs[i] - xs[j]) / xr < 0.04 and abs(ys[i] - ys[j]) / yr < 0.04:
                    g.append(i)
                    break
            else:
                groups.append([i])
        for g in groups:  # within a group, larger markers first so that every one stays visible
            for rank, i in enumerate(g):
                c, mk, _ = style[pts[i][0]]
                size = 110 if len(g) == 1 else 60 + 200 * (len(g) - 1 - rank) / (len(g) - 1)
                ax.scatter([xs[i]], [ys[i]], s=size, marker=mk, facecolors="none", edgecolors=[c], linewidths=1.8,
                           zorder=3)
        for g in groups:
            j = g[0]
            text = "=".join(str(style[pts[i][0]][2]) for i in g)
            ax.annotate(text, (xs[j], ys[j]), xytext=(9, 7), textcoords="offset points", fontsize=9,
                        fontweight="bold", color="0.15", zorder=4, annotation_clip=True)
        ax.set_title(f"scenario: {s}", fontsize=11)
        ax.set_xlabel("expected cumulative AI capex (USD bn)", fontsize=9)
        ax.set_ylabel("expected credit losses (USD bn)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        xpad = 0.3 * xr if np.ptp(xs) > 0 else max(0.02 * abs(float(xs.mean())), 1.0)
        ax.set_xlim(xs.min() - xpad, xs.max() + xpad)
        top = float(ys.max()) if n else 0.0
        top = top * 1.3 if top > 0 else 1.0
        ax.set_ylim(min(0.0, float(ys.min())) - 0.06 * top, top)
    for ax in list(axes.flat)[len(rs.scenarios):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], marker=style[r][1], color=style[r][0], markerfacecolor="none", linestyle="",
                          markersize=8, markeredgewidth=1.8,
                          label=f"{style[r][2]}  {r}" + (" (reference)" if r == rs.reference else ""))
               for r in rs.regimes]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2 if cols < 3 else 3),
               frameon=False, fontsize=9)
    m = rs.meta
    fig.suptitle(f"Stability / investment frontier: {m['paths']} paths x {m['horizon']} months, seed {m['seed']}\n"
                 "lower is safer, further right is more AI investment", fontsize=11)
    return fig


def _sectors_present(rs: RunSet) -> list[str]:
    present: set[str] = set()
    for a in rs.agents.values():
        present |= set(a["sector"]) if "sector" in a else set()
    return [s for s in SECTORS if s in present] or list(SECTORS)


def pd_figure(rs: RunSet) -> Any:
    """Heat maps of P(a member of the sector defaults): a row per regime, a column per sector,
    a panel per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sectors = _sectors_present(rs)
    rows, cols = _grid(len(rs.scenarios), 2)
    nr = len(rs.regimes)
    size = (0.95 * len(sectors) * cols + 2.2 * cols + 1.0, (0.36 * nr + 1.5) * rows + 0.6)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, layout="constrained")
    data = {}
    for s in rs.scenarios:
        mat = np.full((nr, len(sectors)), np.nan)
        for i, r in enumerate(rs.regimes):
            if (s, r) in rs.paths:
                mat[i] = [_mean(metric_values(rs.paths[(s, r)], f"pd_{x}")) for x in sectors]
        data[s] = mat
    vmax = max(0.05, float(np.nanmax([np.nanmax(v) if np.isfinite(v).any() else 0.0 for v in data.values()])))
    im = None
    for ax, s in zip(axes.flat, rs.scenarios, strict=False):
        mat = data[s]
        im = ax.imshow(mat, cmap="Reds", vmin=0.0, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(sectors)), [x.replace("_", " ") for x in sectors], rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(nr), rs.regimes, fontsize=9)
        for i in range(nr):
            for j in range(len(sectors)):
                v = mat[i, j]
                txt = "n/a" if np.isnan(v) else f"{100 * v:.1f}%"
                ax.text(j, i, txt, ha="center", va="center", fontsize=9,
                        color="white" if (not np.isnan(v) and v > 0.6 * vmax) else "black")
        ax.set_title(f"scenario: {s}", fontsize=11)
    for ax in list(axes.flat)[len(rs.scenarios):]:
        ax.set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat), shrink=0.6, label="P(a member of the sector defaults)", format="{x:.0%}")
    m = rs.meta
    fig.suptitle(f"Default probability by sector and regime: {m['paths']} paths x {m['horizon']} months, "
                 f"seed {m['seed']}", fontsize=12)
    return fig


# --------------------------------------------------------------------------- capital paths
CAPITAL_COLUMNS = ("scenario", "regime", "sector", "month", "date", "mean", "p05", "p95", "diff")


def capital_paths(rs: RunSet) -> pd.DataFrame:
    """Each sector's book equity over time, per scenario and regime: the mean over paths, its 5th and
    95th percentiles, and ``diff`` = mean less the reference regime's mean that month (a difference of
    means over the same paths; per-path series are not kept, so no interval). From each run's
    ``timeseries.parquet`` (metrics ``equity_<sector>``); empty when the runs kept none."""
    rows = []
    for (s, r), ts in rs.timeseries.items():
        eq = ts[ts["metric"].astype(str).str.startswith("equity_")]
        ref = rs.timeseries.get((s, rs.reference))
        ref_eq = ref[ref["metric"].astype(str).str.startswith("equity_")] if ref is not None else None
        for metric, g in eq.groupby("metric", sort=False):
            g = g.sort_values("month")
            base = (ref_eq[ref_eq["metric"] == metric].set_index("month")["mean"]
                    if ref_eq is not None else pd.Series(dtype=float))
            diff = g["mean"].to_numpy(dtype=float) - base.reindex(g["month"]).to_numpy(dtype=float)
            rows.append(pd.DataFrame({
                "scenario": s, "regime": r, "sector": str(metric)[len("equity_"):], "month": g["month"].to_numpy(),
                "date": g["date"].astype(str).to_numpy(), "mean": g["mean"].to_numpy(dtype=float),
                "p05": g["p05"].to_numpy(dtype=float), "p95": g["p95"].to_numpy(dtype=float), "diff": diff,
            }))
    if not rows:
        return pd.DataFrame(columns=list(CAPITAL_COLUMNS))
    out = pd.concat(rows, ignore_index=True)
    order = {r: i for i, r in enumerate(rs.regimes)}
    sorder = {s: i for i, s in enumerate(rs.scenarios)}
    out = out.assign(_s=out["scenario"].map(sorder), _r=out["regime"].map(order))
    return out.sort_values(["_s", "_r", "sector", "month"], kind="stable").drop(columns=["_s", "_r"]).reset_index(
        drop=True)[list(CAPITAL_COLUMNS)]


def capital_markdown(cap: pd.DataFrame, rs: RunSet) -> str:
    """Per scenario: each sector's mean book equity at the horizon and at its lowest month, per regime,
    with the difference from the reference regime at the horizon."""
    if cap.empty:
        return ""
    lines = ["## Capital paths by sector", "",
             "Book equity by sector (USD bn), mean over paths: at the horizon (the difference from the reference "
             f"regime **{rs.reference}** in brackets, a difference of means) and the lowest monthly mean; the "
             "monthly series with 5th-95th percentiles are in `capital_paths.parquet`.",
             "", "![Capital paths by sector](capital_paths.png)", ""]
    for s in rs.scenarios:
        sub = cap[cap["scenario"] == s]
        if sub.empty:
            continue
        here = [r for r in rs.regimes if r in set(sub["regime"])]
        lines += [f"### Scenario `{s}`", "", "| sector | " + " | ".join(here) + " |", "|---|" + "---:|" * len(here)]
        for sec in dict.fromkeys(sub["sector"]):
            cells = []
            for r in here:
                g = sub[(sub["regime"] == r) & (sub["sector"] == sec)]
                last = g.iloc[-1]
                d = "" if r == rs.reference else f" ({_signed(float(last['diff']))})"
                cells.append(f"{_fmt(float(last['mean']))}{d}; min {_fmt(float(g['mean'].min()))}")
            lines.append(f"| {sec} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def capital_figure(cap: pd.DataFrame, rs: RunSet) -> Any:
    """Mean book equity by sector over time, a line per regime, a row of panels per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sectors = list(dict.fromkeys(cap["sector"]))
    nr, nc = len(rs.scenarios), max(len(sectors), 1)
    fig, axes = plt.subplots(nr, nc, figsize=(2.6 * nc + 1.0, 2.3 * nr + 0.8), squeeze=False, layout="constrained")
    for i, s in enumerate(rs.scenarios):
        for j, sec in enumerate(sectors):
            ax = axes[i, j]
            for r in rs.regimes:
                g = cap[(cap["scenario"] == s) & (cap["regime"] == r) & (cap["sector"] == sec)]
                if not g.empty:
                    ax.plot(g["month"], g["mean"], label=r, lw=1.8 if r == rs.reference else 1.1)
            ax.set_title(f"{s}: {sec.replace('_', ' ')}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6)
    m = rs.meta
    fig.suptitle(f"Book equity by sector (USD bn, mean over {m['paths']} paths) per regime", fontsize=10)
    return fig


def write_outputs(table: pd.DataFrame, rs: RunSet, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    results_io.write_table(table, run_dir / "comparison.parquet")
    _write_text(run_dir / "comparison.md", comparison_markdown(table, rs))
    _save_figure(frontier_figure(rs), run_dir / "frontier.png")
    _save_figure(pd_figure(rs), run_dir / "pd_by_sector.png")
    cap = capital_paths(rs)
    if not cap.empty:
        results_io.write_table(cap, run_dir / "capital_paths.parquet")
        _save_figure(capital_figure(cap, rs), run_dir / "capital_paths.png")


def terminal_summary(table: pd.DataFrame, rs: RunSet, run_dir: Path) -> str:
    head = ("credit_losses", "es99_credit_losses", "systemic_event", "ai_capex")
    w = max(len(r) for r in rs.regimes) + 2
    lines = [f"aisim-compare  reference regime: {rs.reference};  {rs.meta['paths']} paths x {rs.meta['horizon']} "
             f"months, seed {rs.meta['seed']}; paired differences with 95% intervals"]
    for s in rs.scenarios:
        lines += ["", f"scenario {s}", f"  {'regime':<{w}}" + "".join(f"{h:>36}" for h in head)]
        for r in rs.regimes:
            cells = []
            for h in head:
                row = table[(table.scenario == s) & (table.regime == r) & (table.metric == h)]
                if row.empty:
                    cells.append(f"{'':>36}")
                    continue
                x = row.iloc[0]
                cell = _fmt(x["value"]) if r == rs.reference else (
                    f"{_fmt(x['value'])} ({_signed(x['diff'])} +/- {_fmt((x['ci_high'] - x['ci_low']) / 2)})")
                cells.append(f"{cell:>36}")
            lines.append(f"  {r:<{w}}" + "".join(cells))
    files = "comparison.parquet, comparison.md, frontier.png, pd_by_sector.png"
    if (run_dir / "capital_paths.parquet").exists():
        files += ", capital_paths.parquet, capital_paths.png"
    if (run_dir / "shapley.parquet").exists():
        files += ", shapley.parquet, shapley.png"
    if (run_dir / "channel_effects.parquet").exists():
        files += ", channel_effects.parquet"
    lines += ["", f"results: {run_dir.resolve()}  ({files})"]
    return "\n".join(lines)


def compare(cfg: DictConfig, run_dir: Path) -> pd.DataFrame:
    """Run (or load) the comparison, write its outputs into ``run_dir``, return the table."""
    from_mr = bool(cfg.compare.from_multirun)
    for key in ("shapley", "channel_effects"):
        if from_mr and cfg.compare[key]:
            raise ConfigError(f"compare.{key}=true needs runs with channels switched on and off; it cannot be read "
                              "from a multirun (drop compare.from_multirun)")
    rs = load_multirun(cfg) if from_mr else None  # checks everything before any work
    plan = None if from_mr else _plan(cfg)
    if from_mr:
        table = comparison_table(rs, list(cfg.compare.metrics))
    with results_io.claim(run_dir, "aisim-compare"):
        if plan is not None:
            _tidy(run_dir, plan, bool(cfg.compare.save_runs))
            rs = run_comparison(cfg, run_dir, plan)
            table = comparison_table(rs, list(cfg.compare.metrics))
        else:
            results_io.move_aside(run_dir, [n for n in OUTPUTS if (run_dir / n).exists()])
        assert rs is not None
        write_outputs(table, rs, run_dir)
        md = comparison_markdown(table, rs)
        if plan is not None and cfg.compare.shapley:
            sh = shapley_table(cfg, plan)
            results_io.write_table(sh, run_dir / "shapley.parquet")
            _save_figure(shapley_figure(sh), run_dir / "shapley.png")
            md += "\n" + shapley_markdown(sh)
        if plan is not None and cfg.compare.channel_effects:
            from aisim import contributions

            ce = contributions.effects_table(plan.configs, rs.reference, rs.paths,
                                             contributions.channels_of(cfg.compare),
                                             list(cfg.compare.channel_effects_metrics))
            results_io.write_table(ce, run_dir / "channel_effects.parquet")
            _write_text(run_dir / "channel_effects.json", json.dumps(
                {k: rs.meta[k] for k in ("calibration", "paths", "horizon", "seed")}))
            md += "\n" + contributions.markdown(ce, rs.meta)
        if plan is not None and (cfg.compare.shapley or cfg.compare.channel_effects):
            _write_text(run_dir / "comparison.md", md)
    print(terminal_summary(table, rs, run_dir))
    return table


# --------------------------------------------------------------------------- CLI
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="compare")
def _main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    t0 = time.perf_counter()
    try:
        compare(cfg, run_dir)
    except (ConfigError, BackendError, results_io.RunDirBusy) as exc:
        print(f"aisim-compare: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"aisim-compare: done in {time.perf_counter() - t0:.1f} s")


def main(argv: Any = None) -> None:
    """Console-script entry point: ``aisim-compare`` (and ``python -m aisim.compare``)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    # In this process the main config's schema is the main schema plus the `compare` node, so that
    # conf/compare.yaml can include conf/config.yaml (and its defaults) as it is.
    register(CompareAppConfig)
    sys.exit(hydra_entry(_main, "aisim-compare"))  # Hydra's errors too: one line, exit status 2


if __name__ == "__main__":
    main()
