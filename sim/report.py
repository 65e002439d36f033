"""A self-contained HTML report of one run: ``aisim-report RUN_DIR`` (or ``python -m aisim.report``).

Reads the run's result files (:func:`aisim.results.load`) and its composed config
(``.hydra/config.yaml`` of an ``aisim`` run, or ``config.yaml`` of a run kept by
``aisim-compare``), and writes ``RUN_DIR/report.html``: one file, figures embedded as base64 PNG,
no scripts and no external links, so it can be mailed or archived as it is. It shows

* fan charts (5th-95th percentile band, median, mean) of each sector's equity and of the lowest
  bank capital ratio against the regime's requirement, and of the macro paths;
* the probability of default of every agent, with its 95% Monte Carlo interval, and for each rated
  firm its cumulative PD at 1, 3 and 5 years beside the rates its rating implies
  (:mod:`aisim.ratings`, ``conf/targets/ratings_2025.yaml``);
* the distribution of system credit losses over paths with VaR and ES at 95% and 99% marked
  (:mod:`aisim.tail`, bootstrap intervals), and each agent's Euler contribution to ES99, as loss
  caused and as loss borne (``attribution.parquet``, :mod:`aisim.attribution`);
* the contract network: agents coloured by their probability of default, the calibrated contracts
  between them as edges (the world is rebuilt from the run's config by
  :func:`aisim.world.build_world`);
* the terminal summary table (:func:`aisim.summary.summary_table`) and a table of the agents.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from aisim import results as results_io
from aisim import sectors as sector_registry
from aisim import tail
from aisim.schema import EXTERNAL, SECTORS, Config
from aisim.summary import summary_table

SECTOR_COLOURS = {s.name: s.colour for s in sector_registry.SECTORS}  # declared with the sectors
KIND_STYLE = {  # contract kind -> (colour, line style)
    "loan": ("#1f77b4", "solid"), "lease": ("#8c564b", "dashed"), "offtake": ("#2ca02c", "solid"),
    "backstop": ("#ff7f0e", "dotted"), "equity": ("#9467bd", "dashdot"), "rvg": ("#e377c2", "dashed"),
}


class ReportError(ValueError):
    """The run directory cannot be reported on; the message says why."""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def load_config(run_dir: Path) -> DictConfig | None:
    """The run's composed config, typed by the schema where it fits; None when not saved."""
    for p in (run_dir / ".hydra" / "config.yaml", run_dir / "config.yaml"):
        if p.is_file():
            raw = OmegaConf.load(p)
            assert isinstance(raw, DictConfig)
            try:
                return OmegaConf.merge(OmegaConf.structured(Config), raw)  # type: ignore[return-value]
            except Exception:  # a config from another version of the schema: use it as it is
                return raw
    return None


# --------------------------------------------------------------------------- figures
def _fan(ax: Any, ts: pd.DataFrame, metric: str, colour: str, scale: float = 1.0) -> bool:
    d = ts[ts["metric"] == metric].sort_values("month")
    if d.empty:
        return False
    x = d["month"].to_numpy()
    ax.fill_between(x, d["p05"] * scale, d["p95"] * scale, color=colour, alpha=0.22, lw=0, label="5th-95th pct")
    ax.plot(x, d["p50"] * scale, color=colour, lw=2, label="median")
    ax.plot(x, d["mean"] * scale, color=colour, lw=1, ls="--", label="mean")
    return True


def _month_ticks(ax: Any, ts: pd.DataFrame) -> None:
    months = ts[["month", "date"]].drop_duplicates().sort_values("month")
    step = next((k for k in (1, 3, 6, 12, 24, 60) if len(months) / k <= 4), 120)
    sel = months.iloc[::step]
    ax.set_xticks(sel["month"], sel["date"], fontsize=8)


def equity_figure(res: Any) -> Any:
    plt = _plt()
    ts = res.timeseries
    sectors = [s for s in SECTORS if (res.agents["sector"] == s).any() and (ts["metric"] == f"equity_{s}").any()]
    cols = min(4, max(1, len(sectors)))
    rows = math.ceil(len(sectors) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows + 0.5), squeeze=False, layout="constrained")
    for ax, s in zip(axes.flat, sectors, strict=False):
        _fan(ax, ts, f"equity_{s}", SECTOR_COLOURS[s])
        n = int((res.agents["sector"] == s).sum())
        ax.set_title(f"{s.replace('_', ' ')} ({n} agent{'s' if n > 1 else ''})", fontsize=10)
        ax.set_ylabel("equity, USD bn", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        _month_ticks(ax, ts)
    for ax in list(axes.flat)[len(sectors):]:
        ax.set_visible(False)
    if sectors:
        axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle("Sector equity (sum over the sector's agents) across paths", fontsize=11)
    return fig


def bank_and_macro_figure(res: Any, cfg: DictConfig | None) -> Any:
    plt = _plt()
    ts = res.timeseries
    panels = [("bank_capital_ratio_min", "lowest bank capital ratio", "%", 100.0),
              ("demand", "AI demand index", "index (start = 1)", 1.0),
              ("rental_price", "GPU rental price index", "index (start = 1)", 1.0),
              ("base_rate", "base rate", "% a year", 100.0)]
    panels = [p for p in panels if (ts["metric"] == p[0]).any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels), 3.1), squeeze=False, layout="constrained")
    for ax, (metric, title, unit, scale) in zip(axes.flat, panels, strict=True):
        _fan(ax, ts, metric, "#d62728" if metric.startswith("bank") else "#1f77b4", scale)
        if metric == "bank_capital_ratio_min" and cfg is not None:
            req = float(cfg.regime.capital_requirement) * 100
            ax.axhline(req, color="black", lw=1, ls=":", label=f"requirement {req:.1f}%")
            buf = float(cfg.regime.countercyclical_buffer) * 100
            if buf > 0:
                ax.axhline(req + buf, color="0.4", lw=1, ls=":", label=f"+ countercyclical {buf:.1f}%")
            ax.legend(fontsize=7, loc="best")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        _month_ticks(ax, ts)
    fig.suptitle("Banks and the macro paths (5th-95th percentile band, median, mean)", fontsize=11)
    return fig


def pd_figure(res: Any) -> Any:
    plt = _plt()
    a = res.agents.copy()
    a["order"] = [SECTORS.index(s) for s in a["sector"]]
    a = a.sort_values(["order", "pd"], ascending=[False, True])
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(a) + 1.3), layout="constrained")
    y = np.arange(len(a))
    err = 1.96 * a["pd_se"].to_numpy() if "pd_se" in a else None
    ax.barh(y, a["pd"] * 100, xerr=None if err is None else err * 100, color=[SECTOR_COLOURS[s] for s in a["sector"]],
            ecolor="0.3", capsize=2)
    ax.set_yticks(y, [f"{n}  ({s.replace('_', ' ')})" for n, s in zip(a["name"], a["sector"], strict=True)],
                  fontsize=8)
    ax.set_xlabel("probability of default within the horizon, % (bars: 95% Monte Carlo interval)", fontsize=9)
    ax.set_xlim(0, max(5.0, float((a["pd"] * 100 + (0 if err is None else err * 100)).max()) * 1.15))
    ax.grid(True, axis="x", alpha=0.3)
    for yi, v in zip(y, a["pd"], strict=True):
        ax.text(v * 100, yi, f" {100 * v:.1f}%", va="center", fontsize=7)
    ax.set_title("Default probability by agent", fontsize=11)
    return fig


def loss_tail_figure(res: Any) -> Any:
    """Histogram of system credit losses over paths, VaR and ES at 95% and 99% marked with their
    95% bootstrap intervals (shaded)."""
    plt = _plt()
    x = res.paths["credit_losses"].to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    ax.hist(x, bins=min(60, max(10, x.size // 20)), color="0.65", edgecolor="white")
    styles = {"var95": ("#1f77b4", "dashed"), "es95": ("#1f77b4", "solid"),
              "var99": ("#d62728", "dashed"), "es99": ("#d62728", "solid")}
    for name, v, lo, hi in tail.tail_measures(x, int(res.manifest.get("seed", 0))):
        colour, ls = styles[name.split("_", 1)[0]]
        ax.axvline(v, color=colour, ls=ls, lw=1.4, label=f"{tail.label(name)} {v:.1f} [{lo:.1f}, {hi:.1f}]")
        ax.axvspan(lo, hi, color=colour, alpha=0.08)
    ax.set_yscale("log")
    ax.set_xlabel("credit losses of all creditors over the horizon, USD bn (one count per path)", fontsize=9)
    ax.set_ylabel("paths", fontsize=9)
    ax.legend(fontsize=8, title="USD bn [95% bootstrap interval]", title_fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.set_title("Tail of system credit losses", fontsize=11)
    return fig


def attribution_figure(att: pd.DataFrame, top: int = 12) -> Any:
    """Each agent's Euler contribution to ES99 of system credit losses, as the loss it caused
    (as a borrower) and as the loss it bore (as a creditor), the largest ``top`` of each, with
    95% bootstrap intervals."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.3 * top + 1.6), layout="constrained")
    for ax, measure, title in ((axes[0], "es99_loss_caused", "loss caused (as borrower)"),
                               (axes[1], "es99_loss_borne", "loss borne (as creditor)")):
        a = att[(att["measure"] == measure) & (att["contribution"] > 0)]
        a = a.sort_values("contribution", ascending=False).head(top)[::-1]
        y = np.arange(len(a))
        v = a["contribution"].to_numpy(dtype=float)
        err = np.vstack([np.clip(v - a["ci_low"].to_numpy(dtype=float), 0, None),
                         np.clip(a["ci_high"].to_numpy(dtype=float) - v, 0, None)])
        colours = [SECTOR_COLOURS.get(sc, "0.5") for sc in a["sector"]]
        ax.barh(y, v, xerr=np.nan_to_num(err), color=colours, ecolor="0.3", capsize=2)
        ax.set_yticks(y, list(a["agent"]), fontsize=8)
        total = float(att.loc[att["measure"] == measure, "contribution"].sum())
        ax.set_title(f"{title}; all agents sum to ES99 = {total:.1f}", fontsize=9)
        ax.set_xlabel("contribution to ES99, USD bn", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Who makes the 1-in-100 tail: Euler contributions to ES99 (95% bootstrap intervals)", fontsize=11)
    return fig


def network_figure(res: Any, cfg: DictConfig) -> tuple[Any, str]:
    """The calibrated contract network; returns the figure and a caption."""
    import networkx as nx

    from aisim.kernels.state import KIND_NAMES
    from aisim.world import build_world, jv_terms, syndicate_size

    plt = _plt()
    world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                        syndicate=syndicate_size(cfg), jv=jv_terms(cfg))
    n = world.n_agents
    c = world.contracts
    pd_by_name = dict(zip(res.agents["name"], res.agents["pd"], strict=True))
    assets = dict(zip(res.agents["name"], res.agents["total_assets_0"], strict=True))
    g = nx.MultiDiGraph()
    g.add_nodes_from(world.names)
    n_ext = 0
    for k in range(world.n_calibrated):
        payer, payee = int(c["payer"][k]), int(c["payee"][k])
        if payer >= n or payee >= n:
            n_ext += 1
            continue
        kind = KIND_NAMES[int(c["kind"][k])]
        size = float(c["amount"][k]) or 12.0 * float(c["monthly"][k])
        g.add_edge(world.names[payer], world.names[payee], kind=kind, size=size, name=world.contract_names[k])
    # agents on a circle, grouped by sector (the world's column order)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False) + np.pi / 2
    pos = {name: (math.cos(t), math.sin(t)) for name, t in zip(world.names, angles, strict=True)}
    fig, ax = plt.subplots(figsize=(9, 8), layout="constrained")
    vmax = max(0.05, max(pd_by_name.values(), default=0.0))
    cmap = plt.get_cmap("Reds")
    sizes = [300 + 2200 * math.sqrt(max(assets.get(x, 0.0), 0.0) / max(max(assets.values()), 1e-9))
             for x in world.names]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=[pd_by_name.get(x, 0.0) for x in world.names], cmap=cmap,
                           vmin=0.0, vmax=vmax, node_size=sizes, edgecolors=[SECTOR_COLOURS[s] for s in world.sectors],
                           linewidths=3)
    sizes_e = [d["size"] for _, _, d in g.edges(data=True)]
    smax = max(sizes_e, default=1.0) or 1.0
    for (u, v, k, d) in g.edges(keys=True, data=True):
        colour, style = KIND_STYLE.get(d["kind"], ("0.5", "solid"))
        nx.draw_networkx_edges(g, pos, edgelist=[(u, v, k)], ax=ax, edge_color=colour, style=style,
                               width=0.8 + 3.5 * math.sqrt(d["size"] / smax), arrows=True, arrowsize=14,
                               connectionstyle=f"arc3,rad={0.12 + 0.08 * k}", nodelist=world.names,
                               node_size=sizes, min_source_margin=4, min_target_margin=4)
    for name, size, (x, y) in zip(world.names, sizes, pos.values(), strict=True):
        off = math.sqrt(size) / 2 + 9  # the node's radius in points, plus a gap
        ax.annotate(name, (x, y), xytext=(0, -off if y < -1e-9 else off), textcoords="offset points", ha="center",
                    va="top" if y < -1e-9 else "bottom", fontsize=9, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin=0.0, vmax=vmax))
    fig.colorbar(sm, ax=ax, shrink=0.6, label="probability of default (node fill)", format="{x:.0%}")
    handles = [plt.Line2D([], [], color=col, ls=ls, lw=2, label=kind) for kind, (col, ls) in KIND_STYLE.items()
               if any(d["kind"] == kind for _, _, d in g.edges(data=True))]
    handles += [plt.Line2D([], [], marker="o", color="white", markeredgecolor=SECTOR_COLOURS[s], markeredgewidth=3,
                           markersize=10, ls="", label=s.replace("_", " ")) for s in SECTORS if s in world.sectors]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.25), fontsize=8, frameon=False,
              title="edges: contract kind\nrings: sector", title_fontsize=8)
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.3, 1.3)
    ax.set_axis_off()
    ax.set_title("Contract network: arrows from payer to payee, width ~ size, fill = probability of default",
                 fontsize=10)
    caption = (f"{g.number_of_edges()} calibrated contracts between agents; {n_ext} with the {EXTERNAL} sector "
               f"(outside bondholders, landlords, end users) and {world.n_contracts - world.n_calibrated} capex "
               "facilities are not drawn. Node area grows with starting total assets.")
    return fig, caption


# --------------------------------------------------------------------------- page
_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.82em; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; }
th { text-align: left; background: #fafafa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .meta { color: #555; font-size: 0.9em; } .caption { color: #555; font-size: 0.85em; }
"""


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _agents_table(res: Any) -> str:
    a = res.agents
    cols = [("name", "agent", None), ("sector", "sector", None), ("pd", "P(default)", "{:.4f}"),
            ("pd_se", "+/- se", "{:.4f}"), ("mean_default_month", "mean default month", "{:.1f}"),
            ("expected_loss_caused", "expected loss caused, USD bn", "{:.3f}"),
            ("equity_0", "equity at start, USD bn", "{:.2f}"),
            ("equity_end_mean", "mean equity at end, USD bn", "{:.2f}")]
    cols = [c for c in cols if c[0] in a.columns]
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in cols)
    rows = []
    for _, r in a.iterrows():
        cells = []
        for key, _, fmt in cols:
            v = r[key]
            if fmt is None:
                cells.append(f"<td>{html.escape(str(v))}</td>")
            else:
                txt = "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
                cells.append(f'<td class="num">{txt}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def ratings_table(res: Any) -> str:
    """HTML table: each rated firm among the agents, its model PD by term (95% interval; for no
    default in n paths the rule-of-three bound 3/n) beside the rating-implied cumulative rate."""
    from aisim import ratings

    rt = ratings.load()
    a = res.agents.set_index("name")
    n = int(res.manifest.get("paths") or 0)
    head = "<tr><th>firm</th><th>rating</th>" + "".join(
        f"<th>model {T}y</th><th>rating-implied {T}y</th>" for T in rt.terms) + "</tr>"
    rows = []
    for firm, rating in rt.firms.items():
        if firm not in a.index:
            continue
        implied = rt.implied(rating)
        cells = [f"<td>{html.escape(firm)}</td>", f"<td>{html.escape(rating)}</td>"]
        for T in rt.terms:
            col = f"pd_{T}y"
            v = float(a.at[firm, col]) if col in a.columns else math.nan
            if math.isnan(v):
                txt = "beyond the horizon"
            elif v == 0 and n > 0:
                txt = f"0 (&lt; {_pct(min(1.0, 3.0 / n))})"
            else:
                se = float(a.at[firm, f"{col}_se"]) if f"{col}_se" in a.columns else math.nan
                txt = _pct(v) + ("" if math.isnan(se) else f" &plusmn; {_pct(1.96 * se)}")
            cells += [f'<td class="num">{txt}</td>', f'<td class="num">{_pct(implied[T])}</td>']
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return "<p>No rated firm among this run's agents (conf/targets/ratings_2025.yaml).</p>"
    note = ("<p class='caption'>Cumulative default probabilities from the start of the run; the model's "
            "with 95% Monte Carlo intervals, or for no default on n paths the one-sided 95% bound 3/n. "
            "Rating-implied: S&amp;P's average cumulative default rates by grade (1981 onwards), notches "
            "interpolated geometrically (aisim.ratings). These are real-world frequencies; CDS-implied "
            "rates are higher by the credit risk premium.</p>")
    return f"<table>{head}{''.join(rows)}</table>{note}"


def build_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` and return its path."""
    d = Path(run_dir)
    if not d.is_dir():
        raise ReportError(f"{d}: no such run directory")
    if (d / "comparison.parquet").is_file() and not (d / "manifest.json").is_file():
        runs = sorted(str(p.parent) for p in d.glob("runs/*/*/manifest.json"))
        hint = f"; report on one of its runs, e.g. aisim-report {runs[0]}" if runs else ""
        raise ReportError(f"{d} is an aisim-compare folder, not a run: its results are comparison.md and "
                          f"comparison.parquet{hint}")
    try:
        res = results_io.load(d)
    except (FileNotFoundError, results_io.ResultsError) as exc:
        raise ReportError(str(exc)) from exc
    from aisim.merge import check_config

    why = check_config(d, res.manifest)
    if why:
        raise ReportError(f"{d}: {why}; rerun it into this folder (or another) before reporting")
    cfg = load_config(d)
    m = res.manifest
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>aisim report: {html.escape(str(m.get('scenario')))} / {html.escape(str(m.get('regime')))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>aisim report: scenario <code>{html.escape(str(m.get('scenario')))}</code>, regime "
        f"<code>{html.escape(str(m.get('regime')))}</code></h1>",
        f"<p class='meta'>calibration <code>{html.escape(str(m.get('calibration')))}</code>; {m.get('paths')} paths x "
        f"{m.get('horizon')} months from {html.escape(str(m.get('start', '')))}; seed {m.get('seed')}; backend "
        f"{html.escape(str(m.get('backend')))}; config hash {html.escape(str(m.get('config_hash')))}; aisim "
        f"{html.escape(str(m.get('version')))}; run directory {html.escape(str(d.resolve()))}</p>",
        "<h2>Summary</h2>",
        f"<pre>{html.escape(summary_table(res))}</pre>",
        "<h2>Sector equity</h2>",
        _img(_png(equity_figure(res)), "fan charts of sector equity"),
        "<h2>Banks and macro paths</h2>",
        _img(_png(bank_and_macro_figure(res, cfg)), "fan charts of the bank capital ratio and macro paths"),
        "<h2>Default probability by agent</h2>",
        _img(_png(pd_figure(res)), "default probability by agent"),
        "<h3>Rated firms: default probability by term beside their ratings</h3>",
        ratings_table(res),
        "<h2>Tail of credit losses</h2>",
        _img(_png(loss_tail_figure(res)), "histogram of credit losses with VaR and ES marked"),
    ]
    if res.attribution is not None and len(res.attribution):
        parts += [_img(_png(attribution_figure(res.attribution)), "contributions to ES99 by agent")]
    else:
        parts.append("<p>No attribution.parquet in this run (a shard's comes from aisim-merge).</p>")
    parts.append("<h2>Contract network</h2>")
    if cfg is not None:
        fig, caption = network_figure(res, cfg)
        parts += [_img(_png(fig), "contract network coloured by default probability"),
                  f"<p class='caption'>{html.escape(caption)}</p>"]
    else:
        parts.append("<p>No config saved with this run (.hydra/config.yaml or config.yaml), so the network "
                     "cannot be rebuilt.</p>")
    parts += ["<h2>Agents</h2>", _agents_table(res), "</body></html>"]
    out = d / "report.html"
    text = "\n".join(parts)

    def w(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    results_io._atomic(out, w)  # noqa: SLF001 -- the package's own atomic writer
    return out


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: ``aisim-report RUN_DIR [RUN_DIR ...]``."""
    ap = argparse.ArgumentParser(prog="aisim-report", description="Write RUN_DIR/report.html for aisim runs.")
    ap.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="an aisim run directory (with manifest.json)")
    args = ap.parse_args(argv)
    for rd in args.run_dirs:
        try:
            out = build_report(rd)
        except ReportError as exc:
            print(f"aisim-report: error: {exc}", file=sys.stderr)
            sys.exit(2)
        print(f"aisim-report: {out.resolve()}")


if __name__ == "__main__":
    main()
