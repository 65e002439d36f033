"""The calibration targets: the model's values beside the public figures of 2025 and their bands.

:func:`start_targets` checks the starting web against the public figures (from the world's
arrays, at demand and rental-price index 1); :func:`dynamic_targets` runs the model on a modest
number of paths (:func:`aisim.observe.simulate_series`) and reads the 2026-2028 targets from the
monthly series. Each is a :class:`Target`; :mod:`aisim.report_calibration` puts them in one table.

Targets, sources and bands are documented in docs/calibration.md; figures come from
``../shared/calibration/figures-2025.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from aisim.kernels.state import BACKSTOP, BULLET, EQUITY, LEASE, LINEAR, LOAN, OFFTAKE, RVG
from aisim.observe import simulate_series
from aisim.schema import EXTERNAL
from aisim.world import World

YEARS = (2026, 2027, 2028)  # the years of the dynamic targets


@dataclass
class Target:
    """One calibration target: the model's value beside the public figure and its band."""

    group: str  # "start" or the period, e.g. "2026", "2026-28"
    name: str
    model: float
    target: str  # the public figure as text
    low: float  # band the model should fall in (inclusive); nan = no band
    high: float
    unit: str
    source: str
    p05: float = float("nan")  # dynamic targets: 5% and 95% quantiles across paths (none for a probability)
    p95: float = float("nan")
    se: float = float("nan")  # dynamic targets: Monte Carlo standard error of the mean over paths
    n: int = 0  # dynamic targets: the number of paths the value is a mean over

    @property
    def interval(self) -> tuple[float, float]:
        """A probability's 95% Monte Carlo interval: p +/- 1.96 se, and [0, 3/n] for none of n
        paths (1 - 3/n to 1 for all of them; the rule of three, Hanley and Lippman-Hand 1983),
        where the binomial standard error is 0 and says nothing. Other values: the point."""
        if self.unit != "probability" or self.n < 1 or math.isnan(self.model):
            return (self.model, self.model)
        if self.model <= 0.0:
            return (0.0, min(1.0, 3.0 / self.n))
        if self.model >= 1.0:
            return (max(0.0, 1.0 - 3.0 / self.n), 1.0)
        half = 1.96 * (self.se if math.isfinite(self.se) else 0.0)
        return (max(0.0, self.model - half), min(1.0, self.model + half))

    @property
    def ok(self) -> bool | None:
        """Whether the model meets the band: its value lies in it; for a probability, its 95%
        Monte Carlo interval meets it (so a PD of 0 on few paths cannot fail a band it cannot
        resolve, and fails one it can: none of 1,000 paths is below a 0.5% floor)."""
        if math.isnan(self.model):
            return None
        if math.isnan(self.low) and math.isnan(self.high):
            return None
        lo = -math.inf if math.isnan(self.low) else self.low
        hi = math.inf if math.isnan(self.high) else self.high
        a, b = self.interval
        return bool(lo <= b and a <= hi)


NAN = float("nan")


def _col(world: World, name: str) -> int | None:
    return world.names.index(name) if name in world.names else None


def _cidx(world: World, *, kind: int | None = None, payer: int | None = None, payee: int | None = None) -> np.ndarray:
    c = world.contracts
    m = np.arange(world.n_contracts) < world.n_calibrated
    if kind is not None:
        m &= c["kind"] == kind
    if payer is not None:
        m &= c["payer"] == payer
    if payee is not None:
        m &= c["payee"] == payee
    return np.flatnonzero(m)


def principal_schedule(world: World, rows: np.ndarray, months: int) -> np.ndarray:
    """(months,) scheduled principal of the loans ``rows``, by month from the start, with bullets
    paid at maturity (no refinancing) and linear loans in equal instalments; the last entry holds
    everything due at or after ``months - 1``."""
    c = world.contracts
    out = np.zeros(months)
    for k in rows:
        a, mat, start = float(c["amount"][k]), int(c["maturity"][k]), int(c["start"][k])
        if c["amort"][k] == LINEAR:
            for m in range(start, start + mat):
                out[min(m, months - 1)] += a / mat
        elif c["amort"][k] == BULLET:
            out[min(start + mat - 1, months - 1)] += a
    return out


def contract_value(world: World, rows: np.ndarray) -> float:
    """Total payments over the life of fixed-payment contracts (monthly x maturity), USD bn."""
    c = world.contracts
    return float(sum(float(c["monthly"][k]) * int(c["maturity"][k]) for k in rows))


def start_revenue(world: World, col: int, base_rate: float = 0.0) -> dict[str, float]:
    """Revenue of a compute provider in the first month at demand and rental index 1, by source.

    Returns {"spot": ..., "backstop": ..., <payer name>: offtake payment, "total": ...} in USD bn a
    month, from the same formulas as :mod:`aisim.kernels.operations` and :mod:`aisim.kernels.contracts`.
    """
    c, p, b = world.contracts, world.params, world.balance
    live = (c["start"] == 0) & (np.arange(world.n_contracts) < world.n_calibrated)
    offt = np.flatnonzero(live & (c["kind"] == OFFTAKE) & (c["payee"] == col))
    y = float(p["capacity_yield"][col])
    committed = sum(float(c["monthly"][k]) for k in offt) / y if y > 0 else 0.0
    spare = max(float(b["gpu"][col]) - committed, 0.0)
    util = min(1.0, float(p["utilisation"][col]))
    gross = spare * y
    out: dict[str, float] = {"spot": gross * util}
    unsold = gross * (1 - util)
    bs = np.flatnonzero(live & (c["kind"] == BACKSTOP) & (c["payee"] == col))
    out["backstop"] = float(sum(min(float(c["monthly"][k]), unsold) for k in bs))
    for k in offt:
        who = world.names[int(c["payer"][k])] if c["payer"][k] < world.n_agents else EXTERNAL
        out[who] = out.get(who, 0.0) + float(c["monthly"][k])
    out["total"] = sum(out.values())
    return out


def start_targets(cfg: Any, world: World) -> list[Target]:
    """Targets on the starting web: exact functions of the calibration file."""
    T: list[Target] = []
    c, p, b = world.contracts, world.params, world.balance
    base = float(cfg.scenario.base_rate.start)

    hs = world.blocks["hyperscaler"]
    if hs.stop > hs.start:
        T.append(Target("start", "hyperscaler capex, annualised", 12 * float(p["capex"][hs].sum()),
                        ">400B/yr (big four ~380B + Oracle, 2025)", 400.0, NAN, "USD bn/yr",
                        "company guidance, Oct 2025 (figures-2025.md, Hyperscalers)"))
    cw = _col(world, "CoreWeave")
    if cw is not None:
        loans = _cidx(world, kind=LOAN, payer=cw)
        T.append(Target("start", "CoreWeave total debt", float(c["amount"][loans].sum()), "~14B (30 Sep 2025)",
                        13.0, 15.0, "USD bn", "Bloomberg; 10-Q debt note + 2031 notes + 2.25B convertible"))
        sched = principal_schedule(world, loans, 48)
        yearly = [sched[0:12].sum(), sched[12:24].sum(), sched[24:36].sum(), sched[36:].sum()]
        later_new = sum(float(c["amount"][k]) for k in loans if "2031" in world.contract_names[k])
        for label, v, tgt in zip(("2026", "2027", "2028"), yearly[:3], (4.22, 2.83, 1.01), strict=True):
            T.append(Target("start", f"CoreWeave principal due {label}", float(v), f"{tgt}B", tgt - 0.05, tgt + 0.05,
                            "USD bn", "10-Q debt note, 30 Jun 2025 (H2 2025 dues taken as paid)"))
        T.append(Target("start", "CoreWeave principal due later (Jun 2025 facilities)", float(yearly[3] - later_new),
                        "2.12B", 2.07, 2.17, "USD bn", "10-Q debt note, 30 Jun 2025"))
        rev = start_revenue(world, cw, base)
        T.append(Target("start", "CoreWeave revenue, annualised", 12 * rev["total"],
                        "Q4 2025 run-rate ~6.0-6.4B (2025 guidance 5.05-5.15B less 3.55B in Q1-Q3)",
                        6.0, 6.4, "USD bn/yr", "Q3 release; 2025 guidance"))
        if "Microsoft" in rev:
            T.append(Target("start", "Microsoft share of CoreWeave revenue", rev["Microsoft"] / rev["total"],
                            "~67% (2025)", 0.65, 0.69, "share", "S-1; 10-Q"))
        for buyer, tgt, src in (("OpenAI", 22.4, "11.9 + 4.0 + 6.5B (corrected from 220B)"),
                                ("Meta", 14.2, "through Dec 2031 (corrected from 140B)")):
            j = _col(world, buyer)
            if j is not None:
                v = contract_value(world, _cidx(world, kind=OFFTAKE, payer=j, payee=cw))
                T.append(Target("start", f"{buyer}-CoreWeave contract value", v, f"{tgt}B", tgt - 0.05, tgt + 0.05,
                                "USD bn", src))
        nv = _col(world, "Nvidia")
        if nv is not None:
            v = contract_value(world, _cidx(world, kind=BACKSTOP, payer=nv, payee=cw))
            T.append(Target("start", "Nvidia-CoreWeave backstop value", v, "6.3B through 2032", 6.25, 6.35, "USD bn",
                            "Sep 2025 (corrected from 60B)"))
            st = _cidx(world, kind=EQUITY, payer=cw, payee=nv)
            T.append(Target("start", "Nvidia stake in CoreWeave", float(c["share"][st].sum()), "~6-7%", 0.06, 0.07,
                            "share", "filings via press"))
        back = contract_value(world, np.concatenate([_cidx(world, kind=OFFTAKE, payee=cw),
                                                     _cidx(world, kind=BACKSTOP, payee=cw)]))
        T.append(Target("start", "CoreWeave backlog (offtakes + backstop)", back, "55.6B (Q3 2025 RPO)", 52.0, 59.0,
                        "USD bn", "Q3 release"))
        leases = _cidx(world, kind=LEASE, payer=cw)
        T.append(Target("start", "CoreWeave lease obligations", contract_value(world, leases), "~39.1B (Q3 2025)",
                        38.0, 40.0, "USD bn", "10-Q"))
        rate = np.where(c["floating"][loans], base + c["rate"][loans], c["rate"][loans])
        T.append(Target("start", "CoreWeave interest, per quarter", 3 * float((c["amount"][loans] * rate).sum()) / 12,
                        "0.311B (Q3 2025)", 0.28, 0.36, "USD bn/qtr", "10-Q"))
        T.append(Target("start", "CoreWeave planned capex, annualised", 12 * float(p["capex"][cw]),
                        "2026 'more than double' 2025's 12-14B", 24.0, 32.0, "USD bn/yr", "Q3 call, Nov 2025"))
    oa = _col(world, "OpenAI")
    if oa is not None:
        T.append(Target("start", "OpenAI revenue, annualised", 12 * float(p["revenue"][oa]), ">20B at end-2025",
                        20.0, 22.0, "USD bn/yr", "company; The Information"))
        for seller, tgt, lo, hi in (("Oracle", "~300B from 2027", 295, 305), ("Microsoft", "~250B", 245, 255),
                                    ("Amazon", "38B (AWS)", 37.5, 38.5), ("CoreWeave", "22.4B", 22.35, 22.45)):
            j = _col(world, seller)
            if j is not None:
                v = contract_value(world, _cidx(world, kind=OFFTAKE, payer=oa, payee=j))
                T.append(Target("start", f"OpenAI commitment to {seller}", v, tgt, lo, hi, "USD bn",
                                "CNBC; WSJ (figures-2025.md, AI labs)"))
        tot = contract_value(world, _cidx(world, kind=OFFTAKE, payer=oa))
        T.append(Target("start", "OpenAI compute commitments modelled", tot,
                        "~1.4T over ~8 years incl. chip deals not modelled as offtakes", 550.0, 1400.0, "USD bn",
                        "CNBC"))
        orc = _col(world, "Oracle")
        rows = _cidx(world, kind=OFFTAKE, payer=oa, payee=orc) if orc is not None else np.zeros(0, np.int64)
        if rows.size:
            first = min(int(c["start"][k]) for k in rows)
            T.append(Target("start", "OpenAI-Oracle first payment month", float(first), "2027 (month 12)", 12, 12,
                            "month", "WSJ"))
    orc = _col(world, "Oracle")
    if orc is not None:
        loans = _cidx(world, kind=LOAN, payer=orc)
        ext = [k for k in loans if c["payee"][k] == world.n_agents]
        banks = [k for k in loans if c["payee"][k] < world.n_agents and world.sectors[int(c["payee"][k])] == "bank"]
        T.append(Target("start", "Oracle bonds and notes", float(c["amount"][ext].sum()), "~101-105B", 101, 105,
                        "USD bn", "results; Reuters"))
        T.append(Target("start", "Oracle bank construction loan", float(c["amount"][banks].sum()), "38B", 37.9, 38.1,
                        "USD bn", "Reuters"))
    hy = _col(world, "Hyperion SPV")
    if hy is not None:
        notes = _cidx(world, kind=LOAN, payer=hy)
        T.append(Target("start", "Hyperion SPV notes", float(c["amount"][notes].sum()), "27.3B due 2049 at ~6.58%",
                        27.25, 27.35, "USD bn", "FT; IFR"))
        pim = _col(world, "Pimco")
        if pim is not None:
            T.append(Target("start", "Hyperion notes held by Pimco",
                            float(c["amount"][_cidx(world, kind=LOAN, payer=hy, payee=pim)].sum()), "~18B", 17.5,
                            18.5, "USD bn", "FT"))
        bo = _col(world, "Blue Owl")
        if bo is not None:
            T.append(Target("start", "Blue Owl equity share in Hyperion",
                            float(c["share"][_cidx(world, kind=EQUITY, payer=hy, payee=bo)].sum()), "80%", 0.8, 0.8,
                            "share", "FT"))
        mt = _col(world, "Meta")
        if mt is not None:
            has = bool(_cidx(world, kind=RVG, payer=mt, payee=hy).size)
            T.append(Target("start", "Meta residual-value guarantee on Hyperion", float(has), "yes", 1, 1, "flag",
                            "FT"))
    nv = _col(world, "Nvidia")
    if nv is not None:
        T.append(Target("start", "Nvidia cash and securities", float(b["cash"][nv] + b["securities"][nv]),
                        "60.6B (Oct 2025)", 60.5, 60.7, "USD bn", "Q3 FY26 release"))
    bk = [i for i, s in enumerate(world.sectors) if s == "bank"]
    pc = [i for i, s in enumerate(world.sectors) if s == "private_credit"]
    if bk and pc:
        lines = _cidx(world, kind=LOAN)
        lines = [k for k in lines if int(c["payer"][k]) in pc and int(c["payee"][k]) in bk]
        T.append(Target("start", "bank lines to the modelled private-credit funds",
                        float(c["amount"][lines].sum()) if lines else 0.0,
                        "~220B system-wide (possibly >2x); the named funds' share", 50.0, 450.0, "USD bn", "FSB"))
        ratios = []
        for i in bk:
            rw = float(b["other_assets"][i]) + float(c["amount"][_cidx(world, kind=LOAN, payee=i)].sum())
            eq = (float(b["cash"][i] + b["securities"][i] + b["other_assets"][i])
                  + float(c["amount"][_cidx(world, kind=LOAN, payee=i)].sum()) - float(b["other_liabilities"][i]))
            ratios.append(eq / rw)
        T.append(Target("start", "bank CET1 ratios (min over named banks)", float(min(ratios)),
                        "13-15% reported (2025)", 0.12, 0.16, "share", "2025 reports (unverified)"))
    return T


# ------------------------------------------------------------------------ dynamic targets


def _annual(x: np.ndarray, year: int) -> np.ndarray:
    """(paths,) sum over the months of ``year`` (2026 = months 0-11); nan if not simulated."""
    k = year - YEARS[0]
    if x.shape[0] < 12 * (k + 1):
        return np.full(x.shape[1], np.nan)
    return x[12 * k: 12 * (k + 1)].sum(axis=0)


def _dyn(group: str, name: str, v: Any, target: str, low: float, high: float, unit: str, source: str) -> Target:
    v = np.asarray(v, dtype=float)
    if v.size == 0 or bool(np.all(np.isnan(v))):
        return Target(group, name, NAN, target, low, high, unit, source)
    k = int(np.sum(~np.isnan(v)))
    se = float(np.nanstd(v, ddof=1) / np.sqrt(k)) if k > 1 else NAN
    if unit == "probability":  # a yes/no outcome per path: its quantiles are 0 or 1 and say nothing
        return Target(group, name, float(np.nanmean(v)), target, low, high, unit, source, se=se, n=k)
    return Target(group, name, float(np.nanmean(v)), target, low, high, unit, source,
                  p05=float(np.nanquantile(v, 0.05)), p95=float(np.nanquantile(v, 0.95)), se=se, n=k)


#: External financing of data-centre capex in 2025 (not simulated), USD bn: hyperscaler bonds
#: 121B (BofA) + AI data-centre project finance 125B (UBS) + data-centre ABS 13.3B (BofA);
#: overlaps between them are ignored.
EXTERNAL_FINANCING_2025 = 121.0 + 125.0 + 13.3
#: AI capex of the modelled compute providers in 2025 (not simulated), USD bn: hyperscalers
#: ~410B (">400B", company guidance) + CoreWeave ~13B (12-14B) + the other neoclouds ~10B
#: (assumption).
AI_CAPEX_2025 = 410.0 + 13.0 + 10.0
#: Bands of the dynamic targets (docs/calibration.md explains each). Where a public point figure
#: exists the band is about +/-25% around it; where none does the band is a documented sanity range.
BANDS = {
    # CreditSights' estimate for the top five (Amazon, Microsoft, Alphabet, Meta, Oracle) before the
    # Q4 2025 calls, ~620B (Jan 2026; raised to ~750B on the Feb 2026 guidance); Morgan Stanley
    # ~951B for 2027 (late 2025; later raised to 1,116B). 2028: no point figure.
    "hyperscaler capex": {2026: (465.0, 775.0), 2027: (713.0, 1189.0), 2028: (465.0, NAN)},
    "AI capex 2025-28": (2175.0, 3625.0),  # 2.9T +/-25%
    # 2026: consensus ~12B (assumption: analysts' late-2025 estimates) +/-25%; 2027-28 no point figure
    "CoreWeave revenue": {2026: (9.0, 15.0), 2027: (10.0, 30.0), 2028: (10.0, 40.0)},
    "CoreWeave capex 2026": (24.0, 37.5),  # "well in excess of double" 12-14B: ~30B +/-25%, floor 2 x 12B
    "CoreWeave debt": (14.0, 90.0),
    "Microsoft share": {2026: (0.25, 0.60), 2028: (0.10, 0.45)},
    "OpenAI revenue": {2026: (22.0, 37.0), 2027: (25.0, 70.0), 2028: (30.0, 110.0)},  # 2026: ~29.4B +/-25%
    "OpenAI burn": (73.0, 121.0),  # ~17 + 35 + 45 = 97B over 2026-28 (The Information) +/-25%
    "private-credit share": (0.40, 0.66),  # ~53% +/-25%
    "external financing": (1125.0, 1875.0),  # 1.5T +/-25%
}
HYPERSCALER_FIGURES = {
    2026: "~620B top five (CreditSights, Jan 2026); guided ~750B in Feb 2026",
    2027: "~951B top five (Morgan Stanley, late 2025; later 1,116B)",
    2028: "no point figure; at least 2026's band floor",
}
#: The terms (years) at which each rated named firm's model PD is set against its rating's band.
RATING_YEARS = (1, 3, 5)


def dynamic_targets(cfg: Any, world: World, n_paths: int = 200, xp: ModuleType = np) -> list[Target]:
    """Targets over 2026-2028 from ``n_paths`` simulated paths (means, with p05-p95), and each
    rated named firm's cumulative default probability at 1, 3 and 5 years against its rating's
    band (60 simulated months)."""
    S = simulate_series(cfg, world, n_paths, xp, months=12 * max(RATING_YEARS))
    T: list[Target] = []
    B = BANDS
    hs = S["capex_hyperscaler"]
    for y in YEARS:
        T.append(_dyn(str(y), "hyperscaler capex", _annual(hs, y), HYPERSCALER_FIGURES[y], *B["hyperscaler capex"][y],
                      "USD bn/yr", "CreditSights, Jan-Feb 2026; Morgan Stanley (late 2025); >400B in 2025 (guidance)"))
    ai = hs + S["capex_neocloud"]
    T.append(_dyn("2025-28", "AI capex of the modelled compute providers",
                  AI_CAPEX_2025 + sum(_annual(ai, y) for y in YEARS), "2.9T data-centre capex 2025-28 (global)",
                  *B["AI capex 2025-28"], "USD bn",
                  f"Morgan Stanley; model 2026-28 + {AI_CAPEX_2025:.0f}B for 2025 (guidance)"))
    alive_end = S["alive"][12 * len(YEARS) - 1]  # end of 2028
    if "cw_revenue" in S:
        for y in YEARS:
            T.append(_dyn(str(y), "CoreWeave revenue", _annual(S["cw_revenue"], y),
                          "backlog 55.6B converting; 2025 5.1B", *B["CoreWeave revenue"][y], "USD bn/yr",
                          "Q3 release; conversion assumed (docs/calibration.md)"))
        T.append(_dyn("2026", "CoreWeave capex", _annual(S["cw_capex"], 2026), "'more than double' 12-14B",
                      *B["CoreWeave capex 2026"], "USD bn/yr", "Q3 call, Nov 2025"))
        for y in YEARS:
            k = 12 * (y - YEARS[0]) + 11
            T.append(_dyn(str(y), "CoreWeave debt at year end (if alive)",
                          np.where(S["alive"][k][:, world.column("CoreWeave")], S["cw_debt"][k], np.nan),
                          "~14B at Sep 2025, growing with capex", *B["CoreWeave debt"], "USD bn",
                          "Bloomberg; band assumed (docs/calibration.md)"))
        for y in (2026, 2028):
            r, m = _annual(S["cw_revenue"], y), _annual(S["cw_revenue_microsoft"], y)
            share = np.where(r > 0, m / np.where(r > 0, r, 1.0), np.nan)
            T.append(_dyn(str(y), "Microsoft share of CoreWeave revenue", share,
                          "67% (2025), falling as OpenAI and Meta ramp; no customer above ~35% of backlog",
                          *B["Microsoft share"][y], "share", "S-1; 10-Q; Q3 release"))
        dead = ~alive_end[:, world.column("CoreWeave")]
        T.append(_dyn("2026-28", "CoreWeave default probability", dead,
                      "5y CDS 368-643bp (Oct-Dec 2025): ~25% risk-neutral over 3 years; its rating band is below",
                      NAN, NAN, "probability", "Bloomberg CDS; shown for reference"))
    if "oa_revenue" in S:
        for y in YEARS:
            T.append(_dyn(str(y), "OpenAI revenue", _annual(S["oa_revenue"], y),
                          "13B (2025), >20B run-rate at end-2025", *B["OpenAI revenue"][y], "USD bn/yr",
                          "company; The Information; growth assumed"))
        T.append(_dyn("2026-28", "OpenAI cash burn", sum(_annual(S["oa_burn"], y) for y in YEARS),
                      "~115B through 2029 (2025: 8.5B)", *B["OpenAI burn"], "USD bn",
                      "The Information; split over years assumed"))
        T.append(_dyn("2026-28", "OpenAI default probability", ~alive_end[:, world.column("OpenAI")],
                      "no public figure (unrated)", NAN, NAN, "probability", "model outcome, shown for reference"))
    loans = {k: sum(_annual(S[f"lend_{k}"], y) for y in YEARS) for k in ("bank", "private_credit", "bonds")}
    equity = sum(_annual(S["equity_capex"] + S["equity_buffer"], y) for y in YEARS)
    ext = loans["bank"] + loans["private_credit"] + loans["bonds"] + equity
    safe = np.where(ext > 0, ext, 1.0)
    T.append(_dyn("2026-28", "private-credit share of external capex financing",
                  np.where(ext > 0, loans["private_credit"] / safe, np.nan), "~53% (0.8T of the 1.5T gap)",
                  *B["private-credit share"], "share", "Morgan Stanley, Jul 2025"))
    for key, label, figure, src in (
        ("bank", "bank loans", "AI data-centre project finance 125B in 2025", "UBS; shown for reference"),
        ("bonds", "bond/ABS investors (Pimco)", "corporate bonds 0.2T + ABS 0.15T of 1.5T (23%)",
         "Morgan Stanley; shown for reference"),
    ):
        T.append(_dyn("2026-28", f"{label} share of external capex financing",
                      np.where(ext > 0, loans[key] / safe, np.nan), figure, NAN, NAN, "share", src))
    T.append(_dyn("2026-28", "equity share of external capex financing", np.where(ext > 0, equity / safe, np.nan),
                  "PE/sovereign 0.35T of 1.5T (23%)", NAN, NAN, "share", "Morgan Stanley; shown for reference"))
    T.append(_dyn("2025-28", "external financing of AI capex", EXTERNAL_FINANCING_2025 + ext, "1.5T gap 2025-28",
                  *B["external financing"], "USD bn",
                  f"Morgan Stanley; model 2026-28 + {EXTERNAL_FINANCING_2025:.0f}B for 2025 (BofA, UBS)"))
    T += rating_targets(world, S["alive"])
    return T


def rating_targets(world: World, alive: np.ndarray) -> list[Target]:
    """Each rated named firm's model PD at 1, 3 and 5 years (cumulative, from ``alive`` (months,
    paths, agents)) against the band of its rating: the rates of the notches a letter grade better
    and worse (:func:`aisim.ratings.band`; S&P's average cumulative default rates)."""
    from aisim import ratings as rt

    r = rt.load()
    out = []
    for name, rating in r.firms.items():
        col = _col(world, name)
        if col is None:
            continue
        bands, mid = rt.band(r.rates, rating), r.implied(rating)
        for years in RATING_YEARS:
            k = 12 * years - 1
            if k >= alive.shape[0]:
                continue
            lo, hi = bands[years]
            out.append(_dyn(f"{years}y", f"{name} default probability ({rating})", ~alive[k][:, col],
                            f"{rating}: {100 * mid[years]:.2f}% (S&P average, {years}y)", lo, hi, "probability",
                            "conf/targets/ratings_2025.yaml; band one letter grade either side"))
    return out

