"""A slow, obvious reference implementation of one month of aisim, for one path.

Plain Python floats, lists and loops: agent by agent, contract by contract, following the rules
documented in the kernels' docstrings and the phase order of :data:`sim.model.PHASES` (macro,
operations, investment, financing, settlement, resolution, regulation, feedback; "record" only
measures). It is written from those rules, not by calling the kernels: the only shared code is
the counter-based random number generator (:func:`kernels.rng.normal`), whose draws are the
common input of both implementations, and the :class:`sim.world.World`, read once as the
description of the agents and the contract book.

Usage::

    ref = ReferenceModel(cfg, world)
    s = ref.initial_state()                    # or from_model_state(model.state, path)
    for _ in range(cfg.horizon):
        s, events = ref.step(s, path)

``events`` lists what happened in the month (refinancings and refusals, backstop draws,
defaults and recovery rates), so that tests can check a run covers the mechanisms they mean
to compare.

Money is USD bn, time is months, rates are annual fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from kernels import rng

KINDS = ("loan", "lease", "offtake", "backstop", "equity", "rvg")  # the book's kind codes
AMORTS = ("bullet", "linear", "revolving")  # the book's amortisation codes
COMPUTE = ("hyperscaler", "neocloud")  # sell capacity, invest in GPUs
LENDERS = ("private_credit", "bank")  # offer new capex lending

MAX_ROUNDS = 32  # settlement: rounds of the monotone payment-ratio iteration
ILLIQUIDITY_TOL = 1e-12  # settlement: paid ratio below 1 - this is illiquid
SOLVENCY_TOL = 1e-9  # resolution: equity below -this x max(assets, 1) is insolvent
NO_DEFAULT, ILLIQUIDITY, INSOLVENCY = 0, 1, 2
INF = math.inf

PARAMS = (
    "revenue", "non_ai_cash_flow", "opex", "cost_share", "capacity_yield", "utilisation",
    "gpu_life_months", "capex", "price_elasticity", "chip_share", "cash_buffer", "equity_raise",
    "payout", "spread", "max_leverage", "lend_rate",
)


@dataclass
class Agent:
    name: str
    sector: str
    p: dict[str, float]  # behavioural parameters
    balance: dict[str, float]  # starting balance sheet

    @property
    def is_bank(self) -> bool:
        return self.sector == "bank"


@dataclass
class Contract:
    name: str
    kind: str
    payer: int  # agent column, n = the external sector
    payee: int
    amount: float
    monthly: float
    rate: float
    floating: bool
    maturity: int
    amort: str
    start: int
    share: float
    refinance: bool
    exit_month: int


@dataclass
class RefState:
    """One path's state in plain Python values; the same fields as :class:`kernels.state.State`."""

    month: int
    cash: list[float]
    securities: list[float]
    gpu: list[float]
    other_assets: list[float]
    other_liab: list[float]
    equity: list[float]
    alive: list[bool]
    default_month: list[int]
    default_cause: list[int]
    capital_ratio: list[float]
    loss_caused: list[float]
    outstanding: list[float]
    rate: list[float]
    maturity: list[int]
    c_alive: list[bool]
    demand: float
    price: float
    base_rate: float
    exp_demand: float
    exp_price: float
    sentiment: float
    ext_cash: float
    capex_cum: float
    credit_loss: list[float]  # by creditor, the external sector last

    def copy(self) -> RefState:
        return RefState(**{f.name: _copy(getattr(self, f.name)) for f in fields(self)})


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, list) else v


@dataclass
class Events:
    """What happened in one month of one path (for coverage checks in tests)."""

    refinanced: list[int] = field(default_factory=list)  # contracts rolled over
    refused: list[int] = field(default_factory=list)  # maturing bullets the tests refused
    backstop_draws: list[tuple[int, float]] = field(default_factory=list)  # (contract, amount > 0)
    defaults: list[tuple[int, int]] = field(default_factory=list)  # (agent, cause)
    recovery: list[tuple[int, float]] = field(default_factory=list)  # (defaulted agent, R)
    settlement_rounds: int = 0
    resolution_rounds: int = 0  # rounds of resolution that found new defaults
    new_loans: float = 0.0


def _cfg_dict(node: Any) -> dict:
    return {k: node[k] for k in node} if node is not None else {}


def from_model_state(state: Any, path: int) -> RefState:
    """One row (path) of a model's :class:`kernels.state.State` as a :class:`RefState`."""
    out: dict[str, Any] = {}
    for f in fields(RefState):
        v = getattr(state, f.name)
        if f.name == "month":
            out[f.name] = int(v)
            continue
        row = np.asarray(v)[path]
        if row.ndim == 0:
            out[f.name] = row.item()
        else:
            out[f.name] = row.tolist()
    return RefState(**out)


class ReferenceModel:
    """The rules of one month, written out per agent and per contract.

    cfg: the composed config (scenario, regime, investment, seed); world: :class:`sim.world.World`
    (agents in column order, the calibrated contracts followed by the capex facilities).
    """

    def __init__(self, cfg: Any, world: Any) -> None:
        self.seed = int(cfg.seed)
        sc = cfg.scenario
        self.sc = {
            "demand_drift": float(sc.demand.drift), "demand_vol": float(sc.demand.vol),
            "demand_changes": {int(k): float(v) for k, v in _cfg_dict(sc.demand.drift_changes).items()},
            "price_drift": float(sc.rental_price.drift), "price_vol": float(sc.rental_price.vol),
            "price_changes": {int(k): float(v) for k, v in _cfg_dict(sc.rental_price.drift_changes).items()},
            "beta": float(sc.price_demand_beta), "rate_mean": float(sc.base_rate.mean),
            "rate_speed": float(sc.base_rate.speed), "rate_vol": float(sc.base_rate.vol),
            "rate_jumps": {int(k): float(v) for k, v in _cfg_dict(sc.base_rate.jumps).items()},
            "w": float(sc.expectation_weight),
            "demand0": float(sc.demand.start), "price0": float(sc.rental_price.start),
            "rate0": float(sc.base_rate.start), "sentiment": float(sc.sentiment),
        }
        rg = cfg.regime
        self.requirement = float(rg.capital_requirement)
        self.w_ai = float(rg.risk_weights.ai_loans)
        self.w_other = float(rg.risk_weights.other_assets)
        self.w_sec = float(rg.risk_weights.securities)
        self.w_eq = float(rg.risk_weights.equity_stakes)
        inv = cfg.investment
        self.loan_term = int(inv.loan_term)
        self.refinance_term = int(inv.refinance_term)
        self.recovery_gpu = float(inv.recovery_gpu)
        self.recovery_other = float(inv.recovery_other)

        self.agents = [
            Agent(name=world.names[i], sector=world.sectors[i],
                  p={k: float(world.params[k][i]) for k in PARAMS},
                  balance={k: float(v[i]) for k, v in world.balance.items()})
            for i in range(world.n_agents)
        ]
        self.n = len(self.agents)
        c = world.contracts
        self.contracts = [
            Contract(
                name=world.contract_names[k], kind=KINDS[int(c["kind"][k])], payer=int(c["payer"][k]),
                payee=int(c["payee"][k]), amount=float(c["amount"][k]), monthly=float(c["monthly"][k]),
                rate=float(c["rate"][k]), floating=bool(c["floating"][k]), maturity=int(c["maturity"][k]),
                amort=AMORTS[int(c["amort"][k])], start=int(c["start"][k]), share=float(c["share"][k]),
                refinance=bool(c["refinance"][k]), exit_month=int(c["exit_month"][k]),
            )
            for k in range(world.n_contracts)
        ]
        self.n_calibrated = int(world.n_calibrated)
        # the capex facilities: a revolving loan from each compute provider that invests to each
        # agent that lends, in column order, after the calibrated contracts
        self.facilities = [(k, self.contracts[k].payer, self.contracts[k].payee)
                           for k in range(self.n_calibrated, len(self.contracts))]
        investors = [i for i, a in enumerate(self.agents) if a.sector in COMPUTE and a.p["capex"] > 0]
        lenders = [i for i, a in enumerate(self.agents) if a.p["lend_rate"] > 0]
        expected = [(b, lnd) for b in investors for lnd in lenders]
        if [(b, lnd) for _, b, lnd in self.facilities] != expected:
            raise AssertionError(f"the world's capex facilities differ from the rule: {self.facilities}")
        for k, _, _ in self.facilities:
            c = self.contracts[k]
            terms = (c.kind, c.amort, c.amount, c.rate, c.floating, c.maturity, c.refinance)
            if terms != ("loan", "revolving", 0.0, self.agents[c.payer].p["spread"], True, self.loan_term, False):
                raise AssertionError(f"capex facility {c.name} has unexpected terms: {c}")

    # ------------------------------------------------------------------ small helpers
    def _receives(self, s: RefState, c: Contract) -> bool:
        """The payee is an alive agent; flows to a dead payee go to the external sector."""
        return c.payee < self.n and s.alive[c.payee]

    def balance_sheet(self, s: RefState) -> dict[str, list[float]]:
        """Assets, liabilities, loans held, debt and stake marks per agent."""
        n = self.n
        held, owed, marks = [0.0] * n, [0.0] * n, [0.0] * n
        for k, c in enumerate(self.contracts):
            if not s.c_alive[k]:
                continue
            if c.kind == "loan":
                if self._receives(s, c):
                    held[c.payee] += s.outstanding[k]
                if c.payer < n:
                    owed[c.payer] += s.outstanding[k]
            elif c.kind == "equity" and self._receives(s, c):
                marks[c.payee] += s.outstanding[k]
        assets = [s.cash[i] + s.securities[i] + s.gpu[i] + s.other_assets[i] + held[i] + marks[i] for i in range(n)]
        liabilities = [s.other_liab[i] + owed[i] for i in range(n)]
        return {"assets": assets, "liabilities": liabilities, "loans_held": held, "debt": owed, "stakes": marks}

    def capital_ratio(self, s: RefState) -> list[float]:
        """Banks: equity / RWA (+inf for zero RWA); others +inf; the dead 0."""
        bs = self.balance_sheet(s)
        out = []
        for i, a in enumerate(self.agents):
            if not s.alive[i]:
                out.append(0.0)
                continue
            if not a.is_bank:
                out.append(INF)
                continue
            rwa = (self.w_ai * bs["loans_held"][i] + self.w_other * s.other_assets[i]
                   + self.w_sec * s.securities[i] + self.w_eq * bs["stakes"][i])
            out.append(s.equity[i] / rwa if rwa > 0 else INF)
        return out

    def _tests(self, s: RefState) -> tuple[list[bool], list[bool]]:
        """(borrower passes, lender passes) per agent: the refinancing and lending tests."""
        bs = self.balance_sheet(s)
        borrower, lender = [], []
        for i, a in enumerate(self.agents):
            borrower.append(s.alive[i] and s.equity[i] > 0.0
                            and bs["debt"][i] <= a.p["max_leverage"] * bs["assets"][i])
            lender.append(s.alive[i] and (not a.is_bank or s.capital_ratio[i] >= self.requirement))
        return borrower, lender

    def _active(self, s: RefState, k: int) -> bool:
        c = self.contracts[k]
        return (s.c_alive[k] and c.start <= s.month < c.exit_month and s.maturity[k] > 0)

    # ------------------------------------------------------------------ set-up
    def initial_state(self) -> RefState:
        """Month 0: the calibrated balance sheets, stake marks, equity as assets - liabilities."""
        n = self.n
        bal = [a.balance for a in self.agents]
        # stake marks: share x the investee's book equity before its own stakes
        pre = []
        for i in range(n):
            e = bal[i]["cash"] + bal[i]["securities"] + bal[i]["gpu"] + bal[i]["other_assets"]
            for c in self.contracts:
                if c.kind == "loan" and c.payee == i:
                    e += c.amount
                if c.kind == "loan" and c.payer == i:
                    e -= c.amount
            pre.append(e - bal[i]["other_liabilities"])
        outstanding, rate, maturity = [], [], []
        r0 = self.sc["rate0"]
        for c in self.contracts:
            if c.kind == "loan":
                outstanding.append(c.amount)
            elif c.kind == "equity":
                outstanding.append(c.share * max(pre[c.payer], 0.0))
            else:
                outstanding.append(0.0)
            rate.append(r0 + c.rate if c.floating else c.rate)
            maturity.append(1 << 40 if c.amort == "revolving" else c.maturity)
        s = RefState(
            month=0, cash=[b["cash"] for b in bal], securities=[b["securities"] for b in bal],
            gpu=[b["gpu"] for b in bal], other_assets=[b["other_assets"] for b in bal],
            other_liab=[b["other_liabilities"] for b in bal], equity=[0.0] * n, alive=[True] * n,
            default_month=[-1] * n, default_cause=[0] * n, capital_ratio=[INF] * n, loss_caused=[0.0] * n,
            outstanding=outstanding, rate=rate, maturity=maturity, c_alive=[True] * len(self.contracts),
            demand=self.sc["demand0"], price=self.sc["price0"], base_rate=r0,
            exp_demand=self.sc["demand0"], exp_price=self.sc["price0"], sentiment=self.sc["sentiment"],
            ext_cash=0.0, capex_cum=0.0, credit_loss=[0.0] * (n + 1),
        )
        bs = self.balance_sheet(s)
        s.equity = [bs["assets"][i] - bs["liabilities"][i] for i in range(n)]
        s.capital_ratio = self.capital_ratio(s)
        return s

    # ------------------------------------------------------------------ the month
    def step(self, state: RefState, path: int) -> tuple[RefState, Events]:
        """One month for one path (global path number ``path``, which keys the draws)."""
        s = state.copy()
        ev = Events()
        scratch: dict[str, Any] = {}
        self._macro(s, path)
        self._operations(s, scratch)
        self._investment(s, scratch, ev)
        self._financing(s, scratch)
        self._settlement(s, scratch, ev)
        self._resolution(s, scratch, ev)
        s.capital_ratio = self.capital_ratio(s)  # regulation
        self._feedback(s)
        s.month += 1
        return s, ev

    def _draw(self, path: int, month: int, stream: str) -> float:
        z = rng.normal(np, self.seed, np.array([path], dtype=np.int64), month, rng.STREAMS[stream], 1)
        return float(z[0, 0])

    @staticmethod
    def _drift_at(base: float, changes: dict[int, float], t: int) -> float:
        """The drift in force in month t: the latest change at or before t, else the base."""
        past = [m for m in changes if m <= t]
        return changes[max(past)] if past else base

    def _macro(self, s: RefState, path: int) -> None:
        """Log-normal demand and rental price (price shocks load on demand shocks), an OU base
        rate floored at zero with scheduled jumps, adaptive expectations; loans' current rates."""
        t, sc = s.month, self.sc
        zd, zp, zr = (self._draw(path, t, k) for k in ("demand", "price", "rate"))
        dd = self._drift_at(sc["demand_drift"], sc["demand_changes"], t)
        pd = self._drift_at(sc["price_drift"], sc["price_changes"], t)
        dv, pv, beta = sc["demand_vol"], sc["price_vol"], sc["beta"]
        demand = s.demand * math.exp(dd - 0.5 * dv * dv + dv * zd)
        z_price = (zp + beta * zd) / math.sqrt(1.0 + beta * beta)  # keeps the stated price vol
        price = s.price * math.exp(pd - 0.5 * pv * pv + pv * z_price)
        r = s.base_rate + sc["rate_speed"] * (sc["rate_mean"] - s.base_rate) + sc["rate_vol"] * zr
        r = max(r + sc["rate_jumps"].get(t, 0.0), 0.0)
        w = sc["w"]
        s.exp_demand = s.exp_demand + w * (demand - s.exp_demand)
        s.exp_price = s.exp_price + w * (price - s.exp_price)
        s.demand, s.price, s.base_rate = demand, price, r
        for k, c in enumerate(self.contracts):
            if c.kind == "loan":
                s.rate[k] = r + c.rate if c.floating else c.rate

    def _operations(self, s: RefState, scratch: dict) -> None:
        """Revenue from outside (AI revenue x demand, compute providers' spot sales of capacity
        not sold forward, non-AI cash flow, securities income at the base rate), depreciation
        at 1/life a month. Remembers AI revenue and the value of unsold capacity."""
        n = self.n
        # capacity sold forward: live offtakes' payments over the seller's yield
        committed_pay = [0.0] * n
        for k, c in enumerate(self.contracts):
            if c.kind == "offtake" and self._active(s, k) and self._receives(s, c):
                committed_pay[c.payee] += c.monthly
        ai, unsold = [0.0] * n, [0.0] * n
        for i, a in enumerate(self.agents):
            if not s.alive[i]:
                continue
            p = a.p
            spot = 0.0
            if a.sector in COMPUTE:
                cy = p["capacity_yield"]
                committed = committed_pay[i] / cy if cy > 0 else 0.0
                spare = max(s.gpu[i] - committed, 0.0)
                util = min(max(p["utilisation"] * s.demand, 0.0), 1.0)
                gross = spare * cy * s.price
                spot = gross * util
                unsold[i] = gross * (1.0 - util)
            ai[i] = p["revenue"] * s.demand + spot
        for i, a in enumerate(self.agents):
            non_ai = a.p["non_ai_cash_flow"] if s.alive[i] else 0.0
            income = ai[i] + non_ai + s.securities[i] * (s.base_rate / 12.0)
            dep = s.gpu[i] / a.p["gpu_life_months"]
            s.cash[i] += income
            s.equity[i] += income - dep
            s.gpu[i] -= dep
            s.ext_cash -= income
        scratch["ai_revenue"] = ai
        scratch["unsold"] = unsold

    def _investment(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Compute providers' planned capex, paid from spare cash, then new loans on the capex
        facilities (pro rata), then new equity; the capex is the chipmakers' revenue."""
        n = self.n
        plan, internal = [0.0] * n, [0.0] * n
        for i, a in enumerate(self.agents):
            if a.sector in COMPUTE and s.alive[i]:
                level = s.exp_demand * max(s.exp_price, 1e-12) ** a.p["price_elasticity"]
                plan[i] = a.p["capex"] * level
            internal[i] = min(plan[i], max(s.cash[i] - a.p["cash_buffer"], 0.0))
        b_ok, l_ok = self._tests(s)
        need = [plan[i] - internal[i] if b_ok[i] else 0.0 for i in range(n)]
        offer = [0.0] * n
        for i, a in enumerate(self.agents):
            if a.sector in LENDERS and l_ok[i]:
                offer[i] = a.p["lend_rate"] * max(s.cash[i] - a.p["cash_buffer"], 0.0)
        # pro rata over the facilities: facility (b, l) lends need_b x offer_l / max(D, S)
        borrowers = sorted({b for _, b, _ in self.facilities})
        lenders = sorted({lnd for _, _, lnd in self.facilities})
        total_need = sum(need[b] for b in borrowers)
        total_offer = sum(offer[lnd] for lnd in lenders)
        denom = max(total_need, total_offer)
        borrowed, lent = [0.0] * n, [0.0] * n
        for k, b, lnd in self.facilities:
            amount = need[b] * offer[lnd] / denom if denom > 0 else 0.0
            borrowed[b] += amount
            lent[lnd] += amount
            s.outstanding[k] += amount
            ev.new_loans += amount
        raised, capex = [0.0] * n, [0.0] * n
        for i, a in enumerate(self.agents):
            if s.alive[i] and plan[i] > 0:
                room = a.p["equity_raise"] * s.sentiment
                raised[i] = max(min(plan[i] - internal[i] - borrowed[i], room), 0.0)
            capex[i] = internal[i] + borrowed[i] + raised[i]
        total = sum(capex)
        # the capex is the chipmakers' revenue, by chip share among the alive ones
        weights = [a.p["chip_share"] if (s.alive[i] and a.sector == "chipmaker") else 0.0
                   for i, a in enumerate(self.agents)]
        wsum = sum(weights)
        for i, a in enumerate(self.agents):
            chip = weights[i] * (total / wsum) if wsum > 0 else 0.0
            cogs = chip * a.p["cost_share"]
            s.cash[i] += -internal[i] - lent[i] + chip - cogs  # borrowed and raised cash is spent
            s.equity[i] += raised[i] + chip - cogs
            s.gpu[i] += capex[i]
            s.ext_cash += cogs - raised[i]
        if wsum <= 0:
            s.ext_cash += total  # no chipmaker alive: the GPUs are bought from outside
        s.capex_cum += total
        scratch["raised"] = raised

    def _financing(self, s: RefState, scratch: dict) -> None:
        """Equity raises to restore the cash buffer (within what is left of the month's room),
        then payouts of a share of the cash above twice the buffer."""
        for i, a in enumerate(self.agents):
            if not s.alive[i]:
                continue
            p = a.p
            room = max(p["equity_raise"] * s.sentiment - scratch["raised"][i], 0.0)
            gap = max(p["cash_buffer"] - s.cash[i], 0.0)
            raised = min(gap, room)
            paid = p["payout"] * max(s.cash[i] + raised - 2.0 * p["cash_buffer"], 0.0)
            s.cash[i] += raised - paid
            s.equity[i] += raised - paid
            s.ext_cash += paid - raised

    def _settlement(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Refinancing decisions, contract dues and operating costs, paid in one equal-priority
        settlement: each agent pays the same share of everything it owes, the shares found by
        the monotone iteration from what each can pay from its own cash and securities."""
        n, C = self.n, len(self.contracts)
        b_ok, l_ok = self._tests(s)
        # --- what each contract owes this month
        interest, principal, payment = [0.0] * C, [0.0] * C, [0.0] * C
        refinanced = [False] * C
        active = [self._active(s, k) for k in range(C)]
        for k, c in enumerate(self.contracts):
            if not active[k]:
                continue
            out = s.outstanding[k]
            last = s.maturity[k] == 1
            if c.kind == "loan":
                interest[k] = out * s.rate[k] / 12.0
                if c.amort == "bullet" and last:
                    borrower_passes = c.payer >= n or b_ok[c.payer]
                    lender_passes = c.payee >= n or (l_ok[c.payee] and s.alive[c.payee])
                    if c.refinance and borrower_passes and lender_passes:
                        refinanced[k] = True
                        ev.refinanced.append(k)
                    else:
                        principal[k] = out
                        if c.refinance:
                            ev.refused.append(k)
                elif c.amort == "linear":
                    principal[k] = out / max(s.maturity[k], 1)
                elif c.amort == "revolving":
                    principal[k] = out / max(c.maturity, 1)
            elif c.kind in ("lease", "offtake"):
                payment[k] = c.monthly
            elif c.kind == "backstop":
                payment[k] = min(c.monthly, scratch["unsold"][c.payee])
                if payment[k] > 0:
                    ev.backstop_draws.append((k, payment[k]))
            elif c.kind == "rvg" and last:
                payment[k] = max(c.amount - s.gpu[c.payee], 0.0)
        due_c = [interest[k] + principal[k] + payment[k] for k in range(C)]
        # --- operating costs: fixed opex + cost share of AI and contracted revenue
        contracted = [0.0] * n
        for k, c in enumerate(self.contracts):
            if self._receives(s, c):
                contracted[c.payee] += payment[k]
        costs = [0.0] * n
        for i, a in enumerate(self.agents):
            if s.alive[i]:
                costs[i] = a.p["opex"] + a.p["cost_share"] * (scratch["ai_revenue"][i] + contracted[i])
        # --- payment ratios: everyone pays the same share of all it owes; monotone iteration
        owed = [0.0] * n
        for k, c in enumerate(self.contracts):
            if c.payer < n:
                owed[c.payer] += due_c[k]
        due = [owed[i] + costs[i] if s.alive[i] else 0.0 for i in range(n)]
        liquid = [s.cash[i] + s.securities[i] for i in range(n)]

        def ratio_of(i: int, extra: float) -> float:
            return min((liquid[i] + extra) / due[i], 1.0) if due[i] > 0 else 1.0

        ratio = [ratio_of(i, 0.0) for i in range(n)]
        rounds = 0
        for _ in range(MAX_ROUNDS):
            rounds += 1
            received = [0.0] * n
            for k, c in enumerate(self.contracts):
                if self._receives(s, c):
                    r = ratio[c.payer] if c.payer < n else 1.0
                    received[c.payee] += due_c[k] * r
            new = [ratio_of(i, received[i]) for i in range(n)]
            if new == ratio:
                break
            ratio = new
        ev.settlement_rounds = rounds
        # --- pay
        paid_out, paid_in = [0.0] * n, [0.0] * n
        income_out, income_in = [0.0] * n, [0.0] * n
        ext_out = ext_in = 0.0
        for k, c in enumerate(self.contracts):
            r = ratio[c.payer] if c.payer < n else 1.0
            paid = due_c[k] * r
            principal_paid = principal[k] * r
            income = paid - principal_paid  # interest and payments move equity; principal does not
            if c.payer < n:
                paid_out[c.payer] += paid
                income_out[c.payer] += income
            else:
                ext_out += paid
            if self._receives(s, c):
                paid_in[c.payee] += paid
                income_in[c.payee] += income
            else:
                ext_in += paid
            s.outstanding[k] -= principal_paid
        sold_total = costs_total = 0.0
        for i in range(n):
            costs_paid = costs[i] * ratio[i]
            outflow = paid_out[i] + costs_paid
            sold = min(s.securities[i], max(outflow - s.cash[i] - paid_in[i], 0.0))
            s.cash[i] = s.cash[i] + sold + paid_in[i] - outflow
            s.securities[i] -= sold
            s.equity[i] += income_in[i] - income_out[i] - costs_paid
            sold_total += sold
            costs_total += costs_paid
        s.ext_cash -= sold_total + ext_out - ext_in - costs_total
        # --- maturities: count down active contracts; refinanced bullets run on
        for k, c in enumerate(self.contracts):
            if refinanced[k]:
                s.maturity[k] = self.refinance_term
            elif active[k] and c.amort != "revolving":
                s.maturity[k] -= 1
            if s.maturity[k] <= 0 and (c.kind not in ("loan", "equity") or s.outstanding[k] == 0.0):
                s.c_alive[k] = False
        scratch["illiquid"] = [s.alive[i] and ratio[i] < 1.0 - ILLIQUIDITY_TOL for i in range(n)]

    def _resolution(self, s: RefState, scratch: dict, ev: Events) -> None:
        """Rounds of defaults: the illiquid (first round only) and the insolvent are wound up
        together, until a round finds no new default."""
        n = self.n
        illiquid = list(scratch["illiquid"])
        for _ in range(n + 1):
            assets = self.balance_sheet(s)["assets"]
            insolvent = [s.alive[i] and s.equity[i] < -SOLVENCY_TOL * max(assets[i], 1.0) for i in range(n)]
            new = [s.alive[i] and (illiquid[i] or insolvent[i]) for i in range(n)]
            if not any(new):
                break
            cause = [ILLIQUIDITY if illiquid[i] else INSOLVENCY if insolvent[i] else NO_DEFAULT for i in range(n)]
            self._wind_up(s, new, cause, ev)
            ev.resolution_rounds += 1
            illiquid = [False] * n

    def _wind_up(self, s: RefState, new: list[bool], cause: list[int], ev: Events) -> None:
        """Liquidate the agents in ``new`` together: one round of resolution."""
        n = self.n
        is_new = [new[i] if i < n else False for i in range(n + 1)]  # the external never defaults
        after = [s.alive[i] and not new[i] for i in range(n)]
        # 1. the external sector buys the estates' assets
        held = [0.0] * n
        for k, c in enumerate(self.contracts):
            if s.c_alive[k] and c.kind in ("loan", "equity") and is_new[c.payee]:
                held[c.payee] += s.outstanding[k]
        proceeds, estate = [0.0] * n, [0.0] * n
        for i in range(n):
            if new[i]:
                proceeds[i] = (s.securities[i] + self.recovery_gpu * s.gpu[i]
                               + self.recovery_other * s.other_assets[i] + held[i])
                estate[i] = s.cash[i] + proceeds[i]
        # 2. claims: loans owed and other liabilities, equal seniority
        debt = [0.0] * n
        for k, c in enumerate(self.contracts):
            if s.c_alive[k] and c.kind == "loan" and is_new[c.payer]:
                debt[c.payer] += s.outstanding[k]
        rec, surplus, other = [1.0] * n, [0.0] * n, [0.0] * n
        for i in range(n):
            if new[i]:
                other[i] = s.other_liab[i]
                claims = debt[i] + other[i]
                rec[i] = min(estate[i] / claims, 1.0) if claims > 0 else 1.0
                surplus[i] = max(estate[i] - claims, 0.0)
                s.loss_caused[i] += claims * (1.0 - rec[i])
                ev.defaults.append((i, cause[i]))
                ev.recovery.append((i, rec[i]))
        # 3. creditors recover R of each loan; stake holders share any surplus, stakes written off
        cash_in, equity_in, loss_in = [0.0] * n, [0.0] * n, [0.0] * n
        rec_ext = loss_ext = surplus_ext = 0.0
        shares = [0.0] * n
        for k, c in enumerate(self.contracts):
            if not s.c_alive[k] or not is_new[c.payer]:
                continue
            to_agent = c.payee < n and after[c.payee]
            if c.kind == "loan":
                owed = s.outstanding[k]
                recovered = owed * rec[c.payer]
                lost = owed - recovered
                if to_agent:
                    cash_in[c.payee] += recovered
                    loss_in[c.payee] += lost
                else:
                    rec_ext += recovered
                    loss_ext += lost
            elif c.kind == "equity":
                shares[c.payer] += c.share
                part = surplus[c.payer] * c.share
                if to_agent:
                    cash_in[c.payee] += part
                    equity_in[c.payee] += part - s.outstanding[k]
                else:
                    surplus_ext += part
        ext_received = rec_ext + surplus_ext
        ext_paid = 0.0
        other_lost = 0.0
        for i in range(n):
            if new[i]:
                ext_received += other[i] * rec[i] + surplus[i] * (1.0 - min(shares[i], 1.0))
                other_lost += other[i] * (1.0 - rec[i])
                ext_paid += proceeds[i]
        # 4. every contract of the defaulted ends, except loans they held (the external's now)
        for k, c in enumerate(self.contracts):
            if not (is_new[c.payer] or is_new[c.payee]):
                continue
            held_loan = c.kind == "loan" and s.c_alive[k] and is_new[c.payee] and not is_new[c.payer]
            if not held_loan:
                s.outstanding[k] = 0.0
                s.c_alive[k] = False
        # 5. books: creditors and holders; the defaulted emptied
        for i in range(n):
            s.credit_loss[i] += loss_in[i]
            if new[i]:
                s.cash[i] = s.securities[i] = s.gpu[i] = 0.0
                s.other_assets[i] = s.other_liab[i] = s.equity[i] = 0.0
                s.alive[i] = False
                s.default_month[i] = s.month
                s.default_cause[i] = cause[i]
            else:
                s.cash[i] += cash_in[i]
                s.equity[i] += equity_in[i] - loss_in[i]
        s.credit_loss[n] += loss_ext + other_lost
        s.ext_cash += ext_received - ext_paid

    def _feedback(self, s: RefState) -> None:
        """Stakes marked to share x max(investee equity, 0), all at once; holders revalued."""
        equity = list(s.equity)
        for k, c in enumerate(self.contracts):
            if c.kind != "equity" or not s.c_alive[k]:
                continue
            mark = c.share * max(equity[c.payer], 0.0)
            if self._receives(s, c):
                s.equity[c.payee] += mark - s.outstanding[k]
            s.outstanding[k] = mark


# ---------------------------------------------------------------------- comparison helpers
def compare(ref: RefState, model_state: Any, path: int, rel: float = 1e-9) -> list[str]:
    """Fields where the reference and a model's row differ beyond ``rel`` x max(1, |x|).

    Returns human-readable mismatch descriptions (empty when they agree).
    """
    bad = []
    for f in fields(RefState):
        name = f.name
        mine = getattr(ref, name)
        theirs = getattr(model_state, name)
        if name == "month":
            if int(mine) != int(theirs):
                bad.append(f"month: reference {mine} model {theirs}")
            continue
        row = np.asarray(theirs)[path]
        vals = [row.item()] if row.ndim == 0 else row.tolist()
        mine_l = mine if isinstance(mine, list) else [mine]
        for j, (a, b) in enumerate(zip(mine_l, vals, strict=True)):
            if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, int) and isinstance(b, int):
                ok = a == b
            elif math.isinf(a) or math.isinf(b):
                ok = a == b
            else:
                ok = abs(a - b) <= rel * max(1.0, abs(a), abs(b))
            if not ok:
                bad.append(f"{name}[{j}]: reference {a!r} model {b!r}")
    return bad
