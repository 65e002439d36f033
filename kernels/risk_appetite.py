"""Market risk appetite: a common, persistent shock to sentiment and credit spreads, with risk-off jumps.

Without it sentiment moves only with the model's own losses and defaults, so on a baseline path the
equity and high-yield windows never shut and no firm is ever refused money it did not already
lose. In the market funding conditions are a common factor of their own: equity issuance follows
valuations and sentiment (Baker and Wurgler 2000, JF 55; 2006, JF 61), and the high-yield
primary market shuts for weeks to months in risk-off episodes that start outside any one firm
(Q4 2008, Aug 2011, Q1 2016, Dec 2018, Mar 2020, H1 2022; in AI, DeepSeek in Jan 2025 and the
Nov 2025 sell-off that took CoreWeave 57% below its June peak). Credit spreads co-move with it
(Gilchrist and Zakrajsek 2012, AER 102: the excess bond premium, a risk-appetite factor beyond
default risk).

State: a log risk-appetite factor ``a`` per path (0: normal). Each month

    a_t = rho a_{t-1} + vol sqrt(1 - rho^2) z_t + J 1{u_t < lambda}

with ``z_t`` standard normal and ``u_t`` uniform, one of each per path and month, from the keyed
streams ``appetite`` and ``appetite_jump`` (the same draws under every regime: common random
numbers hold). Sentiment (equity room, market values, banks' non-AI losses, the buffer release)
and the market credit spread move with it:

    sentiment_t     = sentiment_t^- x exp(a_t - a_{t-1})
    market_spread_t = max(market_spread_t^- + beta (max(-a_t, 0) - max(-a_{t-1}, 0)), 0)

(^-: after the other channels of the month), so that with the market-feedback channel off
sentiment is exactly the scenario's times ``exp(a_t)`` and the spread add-on ``beta max(-a_t, 0)``;
with it on, the feedback's healing and loss responses act on top. Without jumps ``a`` is an AR(1)
with stationary sd ``vol``; a jump of ``J < 0`` decays at ``rho``.

Units: a, vol, J log points of sentiment; lambda a monthly probability; rho monthly; beta annual
spread (fraction) per log point of risk appetite below normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .params import param


@dataclass(frozen=True)
class RiskAppetiteParams:
    """Persistence, volatility and risk-off jumps of risk appetite; its spread loading.
    docs/calibration.md gives what each value rests on."""

    persistence: float = param(0.85, ge=0.0, lt=1.0, unit="monthly AR(1) coefficient",
                               doc="persistence of risk appetite (0.85: half-life 4.3 months)")
    vol: float = param(0.1, ge=0.0, le=2.0, unit="log points", doc="stationary sd of log risk appetite, jumps aside")
    jump_prob: float = param(0.03, ge=0.0, le=1.0, unit="probability a month",
                             doc="monthly probability of a risk-off episode")
    jump_size: float = param(-0.5, ge=-5.0, le=0.0, unit="log points",
                             doc="log risk appetite lost at the start of a risk-off episode")
    spread_beta: float = param(0.01, ge=0.0, le=0.5, unit="annual spread per log point",
                               doc="market credit spread added per log point of risk appetite below normal")


def step(xp: ModuleType, a: Any, z: Any, u: Any, p: RiskAppetiteParams) -> Any:
    """(paths,) this month's log risk appetite from last month's ``a``, normals ``z`` and uniforms ``u`` (paths,)."""
    rho = p.persistence
    jump = p.jump_size * xp.astype(u < p.jump_prob, a.dtype)
    return rho * a + p.vol * ((1.0 - rho * rho) ** 0.5) * z + jump


def apply(xp: ModuleType, sentiment: Any, spread: Any, a_prev: Any, a: Any, p: RiskAppetiteParams) -> tuple[Any, Any]:
    """(sentiment, market spread), each (paths,), moved by the change of risk appetite from ``a_prev`` to ``a``."""
    s = sentiment * xp.exp(a - a_prev)
    add = p.spread_beta * (xp.maximum(-a, 0.0) - xp.maximum(-a_prev, 0.0))
    return s, xp.maximum(spread + add, 0.0)
