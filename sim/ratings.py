"""Rating-implied cumulative default rates, for setting the model's PDs beside the agencies'.

``conf/targets/ratings_2025.yaml`` holds S&P's average cumulative default rates at 1, 3 and 5
years for the letter grades AAA .. CCC and the rating of each rated named firm (with its
``source:``). :func:`implied` turns any notch of S&P's scale (or Moody's, translated notch for
notch) into rates by term.

Notches: a letter grade's rate is taken to be that of its middle notch (``BB`` for BB+/BB/BB-;
AAA and CCC have no others). A notch between two letter grades gets the geometric interpolation
of their rates by position on the notch scale -- default rates rise roughly exponentially from
one notch to the next, so a third of the way from BB to B is ``BB * (B / BB) ** (1/3)`` -- and
a straight-line one where either rate is 0 (AAA at 1 year). S&P's study gives notch-level
figures too; those here are interpolations, as the calibration note says.

The source table is not monotone at the top (AAA 0.35% at 5 years against AA 0.33%: very few
AAA issuers); the figures are kept as published.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

PATH = Path(__file__).resolve().parents[1] / "conf" / "targets" / "ratings_2025.yaml"

#: S&P's scale, best first.
NOTCHES = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
           "B+", "B", "B-", "CCC+", "CCC", "CCC-")
MOODYS = {"Aaa": "AAA", "Aa1": "AA+", "Aa2": "AA", "Aa3": "AA-", "A1": "A+", "A2": "A", "A3": "A-",
          "Baa1": "BBB+", "Baa2": "BBB", "Baa3": "BBB-", "Ba1": "BB+", "Ba2": "BB", "Ba3": "BB-",
          "B1": "B+", "B2": "B", "B3": "B-", "Caa1": "CCC+", "Caa2": "CCC", "Caa3": "CCC-"}


@dataclass(frozen=True)
class Ratings:
    rates: dict[str, dict[int, float]]  # letter grade -> {years: cumulative default rate, fraction}
    firms: dict[str, str]  # firm -> rating (S&P scale)

    @property
    def terms(self) -> tuple[int, ...]:
        return tuple(sorted(next(iter(self.rates.values()))))

    def implied(self, rating: str) -> dict[int, float]:
        """{years: cumulative default rate (fraction)} for a notch of S&P's or Moody's scale."""
        return implied(self.rates, rating)

    def firm(self, name: str) -> dict[int, float] | None:
        r = self.firms.get(name)
        return None if r is None else self.implied(r)


@functools.cache
def load(path: str | Path = PATH) -> Ratings:
    raw = yaml.safe_load(Path(path).read_text())
    rates = {g: {int(t): float(v) / 100.0 for t, v in by.items()} for g, by in raw["default_rates"].items()}
    terms = {tuple(sorted(v)) for v in rates.values()}
    if len(terms) != 1:
        raise ValueError(f"{path}: every rating needs the same terms, not {sorted(terms)}")
    firms = {name: str(f["rating"]) for name, f in raw["firms"].items()}
    for name, r in firms.items():
        implied(rates, r)  # refuses an unknown notch here
        if not raw["firms"][name].get("source"):
            raise ValueError(f"{path}: firm {name} has no source")
    return Ratings(rates=rates, firms=firms)


def _position(rating: str) -> int:
    r = MOODYS.get(rating, rating).upper().replace("CCC/C", "CCC")
    if r not in NOTCHES:
        raise ValueError(f"unknown rating {rating!r}: not a notch of S&P's or Moody's scale")
    return NOTCHES.index(r)


def implied(rates: dict[str, dict[int, float]], rating: str) -> dict[int, float]:
    pos = _position(rating)
    anchors = sorted((_position(g), g) for g in rates)
    if pos <= anchors[0][0]:
        return dict(rates[anchors[0][1]])
    if pos >= anchors[-1][0]:
        return dict(rates[anchors[-1][1]])
    (p0, g0), (p1, g1) = next((a, b) for a, b in zip(anchors, anchors[1:], strict=False) if a[0] <= pos <= b[0])
    w = (pos - p0) / (p1 - p0)
    out = {}
    for t in rates[g0]:
        lo, hi = rates[g0][t], rates[g1][t]
        out[t] = lo + w * (hi - lo) if min(lo, hi) <= 0 else math.exp((1 - w) * math.log(lo) + w * math.log(hi))
    return out


#: Notches either side of a firm's rating that bound its calibration band: a letter grade.
BAND_NOTCHES = 3


def band(rates: dict[str, dict[int, float]], rating: str,
         notches: int = BAND_NOTCHES) -> dict[int, tuple[float, float]]:
    """{years: (low, high)}: the cumulative default rates of the notches ``notches`` better and
    worse than ``rating`` (clamped to AAA and CCC-), the band a model PD of a firm so rated should
    fall in. One letter grade either side: agencies' ratings are through-the-cycle opinions, and
    a grade's realised default rates vary by about that much from one cohort to the next."""
    pos = _position(rating)
    better = NOTCHES[max(pos - notches, 0)]
    worse = NOTCHES[min(pos + notches, len(NOTCHES) - 1)]
    lo, hi = implied(rates, better), implied(rates, worse)
    if pos - notches < 0:  # nothing better than AAA: the band starts at 0
        lo = {t: 0.0 for t in lo}
    return {t: (lo[t], hi[t]) for t in lo}

