"""The Mesa model: owns the state, the contract book, the random numbers and the phase order.

One :class:`AIFinanceModel` runs one chunk of paths. Each Mesa step is one month and runs the
phases of :data:`PHASES` in order; each phase is one or a few kernel calls over all agents and
all paths of the chunk. Sector-specific behaviour comes from the agent classes' policies
(:mod:`sim.agents`), each called once per sector.
"""

from __future__ import annotations

from dataclasses import fields
from types import ModuleType
from typing import Any

import mesa
import numpy as np

from kernels import (
    accounting, contracts, funding, investment, macro, marking, operations, refinancing,
    regulation, resolution, rng, settlement,
)
from kernels.backend import to_numpy
from kernels.state import EQUITY, LOAN, NEVER, REVOLVING, AgentParams, State
from sim.agents import SECTOR_CLASSES, SectorAgent
from sim.world import World, initial_stake_marks

#: The month, in order. Declared once; :meth:`AIFinanceModel.step` runs exactly this.
PHASES = (
    "macro",  # AI demand, GPU rental price, base rate; expectations
    "operations",  # revenue from outside, depreciation, securities income
    "investment",  # capex plans financed by cash, new loans, new equity; chipmakers' sales
    "financing",  # equity raises to restore cash buffers; payouts
    "settlement",  # refinancing decisions; contract flows and costs paid, pro rata if short
    "resolution",  # defaults (illiquid or insolvent), recoveries, contract terminations
    "regulation",  # bank capital ratios for next month's lending decisions
    "feedback",  # equity stakes marked to the investees' equity
    "record",  # the month's metrics and the accounting identities
)


class AIFinanceModel(mesa.Model):
    """A chunk of Monte Carlo paths of the AI financing web.

    cfg: the composed, validated config; world: :class:`sim.world.World`; path_index: (paths,)
    int64 global path numbers (they key the random numbers); xp: the array namespace.
    """

    def __init__(self, cfg: Any, world: World, path_index: Any, xp: ModuleType) -> None:
        super().__init__(rng=int(cfg.seed))
        self.cfg = cfg
        self.world = world
        self.xp = xp
        self.seed = int(cfg.seed)
        self.book = world.book(xp)
        self.params: AgentParams = world.agent_params(xp)
        self.path_index = xp.asarray(np.asarray(path_index, dtype=np.int64))
        self.n_paths = int(self.path_index.shape[0])
        self.facility_borrower = xp.asarray(world.facility_borrower)
        self.facility_lender = xp.asarray(world.facility_lender)
        self.sector_blocks = [(SECTOR_CLASSES[s], b) for s, b in world.blocks.items() if b.stop > b.start]
        self.members: list[SectorAgent] = [
            SECTOR_CLASSES[e.sector](self, e.name, col, e) for col, e in enumerate(world.entities)
        ]
        self.state = self._initial_state()
        self.total_cash0 = xp.sum(self.state.cash, axis=1)
        self.initial_equity = to_numpy(self.state.equity[0, :])  # identical on every path
        self._macro_schedule()
        self.scratch: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}

    # ------------------------------------------------------------------ set-up
    def _initial_state(self) -> State:
        xp, w, P = self.xp, self.world, self.n_paths
        A, C = w.n_agents, w.n_contracts

        def agents(v: np.ndarray) -> Any:
            return xp.asarray(np.broadcast_to(v, (P, A)).copy())

        def contracts_(v: np.ndarray) -> Any:
            return xp.asarray(np.broadcast_to(v, (P, C)).copy())

        c = w.contracts
        marks = initial_stake_marks(w)
        outstanding = np.where(c["kind"] == LOAN, c["amount"], 0.0) + np.where(c["kind"] == EQUITY, marks, 0.0)
        maturity = np.where(c["amort"] == REVOLVING, NEVER, c["maturity"]).astype(np.int64)
        b = w.balance
        base = np.full(P, float(self.cfg.scenario.base_rate.start))
        rate = np.where(c["floating"], base[:, None] + c["rate"][None, :], c["rate"][None, :])
        partial = State(
            month=0, cash=agents(b["cash"]), securities=agents(b["securities"]), gpu=agents(b["gpu"]),
            other_assets=agents(b["other_assets"]), other_liab=agents(b["other_liabilities"]),
            equity=agents(np.zeros(A)), alive=agents(np.ones(A, dtype=bool)),
            default_month=agents(np.full(A, -1, dtype=np.int64)),
            default_cause=agents(np.zeros(A, dtype=np.int64)),
            capital_ratio=agents(np.full(A, np.inf)), loss_caused=agents(np.zeros(A)),
            outstanding=contracts_(outstanding), rate=xp.asarray(rate),
            maturity=contracts_(maturity), c_alive=contracts_(np.ones(C, dtype=bool)),
            demand=xp.asarray(np.full(P, float(self.cfg.scenario.demand.start))),
            price=xp.asarray(np.full(P, float(self.cfg.scenario.rental_price.start))),
            base_rate=xp.asarray(base),
            exp_demand=xp.asarray(np.full(P, float(self.cfg.scenario.demand.start))),
            exp_price=xp.asarray(np.full(P, float(self.cfg.scenario.rental_price.start))),
            sentiment=xp.asarray(np.full(P, float(self.cfg.scenario.sentiment))),
            ext_cash=xp.zeros((P,), dtype=xp.float64), capex_cum=xp.zeros((P,), dtype=xp.float64),
            credit_loss=xp.zeros((P, A + 1), dtype=xp.float64),
        )
        bs = accounting.balance_sheet(xp, self.book, partial)
        state = partial.replace(equity=bs["assets"] - bs["liabilities"])
        return self._regulate(state)

    def _macro_schedule(self) -> None:
        sc, H = self.cfg.scenario, int(self.cfg.horizon)

        def piecewise(base: float, changes: dict) -> list[float]:
            out, cur = [], base
            for t in range(H):
                cur = float(changes.get(t, cur)) if t in changes else cur
                out.append(cur)
            return out

        self._demand_drift = piecewise(sc.demand.drift, dict(sc.demand.drift_changes))
        self._price_drift = piecewise(sc.rental_price.drift, dict(sc.rental_price.drift_changes))
        self._rate_jump = [float(dict(sc.base_rate.jumps).get(t, 0.0)) for t in range(H)]

    # ------------------------------------------------------------------ helpers for policies
    def zeros(self, cols: slice) -> Any:
        return self.xp.zeros((self.n_paths, cols.stop - cols.start), dtype=self.xp.float64)

    def sector_params(self, cols: slice) -> AgentParams:
        return _slice_params(self.params, cols.start, cols.stop)

    def by_sector(self, policy: str, *args: Any) -> Any:
        """Run a sector policy once per sector and assemble the (paths, agents) result."""
        parts = [getattr(cls, policy)(self, cols, *args) for cls, cols in self.sector_blocks]
        if isinstance(parts[0], tuple):
            return tuple(self.xp.concat([p[k] for p in parts], axis=1) for k in range(len(parts[0])))
        return self.xp.concat(parts, axis=1)

    def _tests(self, state: State) -> tuple[Any, Any]:
        xp = self.xp
        bs = accounting.balance_sheet(xp, self.book, state)
        b_ok = refinancing.borrower_ok(xp, self.params, state.alive, state.equity, bs["assets"], bs["debt"])
        l_ok = refinancing.lender_ok(xp, self.params, state.alive, state.capital_ratio,
                                     float(self.cfg.regime.capital_requirement))
        return b_ok, l_ok

    def _regulate(self, state: State) -> State:
        xp, rw = self.xp, self.cfg.regime.risk_weights
        bs = accounting.balance_sheet(xp, self.book, state)
        ratio = regulation.capital_ratio(
            xp, self.params.is_bank, state.equity, bs["loans_held"], state.other_assets,
            state.securities, bs["stakes"], float(rw.ai_loans), float(rw.other_assets),
            float(rw.securities), float(rw.equity_stakes),
        )
        # a defaulted bank has no capital left
        return state.replace(capital_ratio=xp.where(state.alive, ratio, 0.0))

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        for phase in PHASES:
            getattr(self, f"phase_{phase}")()
        self.state = self.state.replace(month=self.state.month + 1)

    def phase_macro(self) -> None:
        xp, s, t, sc = self.xp, self.state, self.state.month, self.cfg.scenario

        def z(stream: str) -> Any:
            return rng.normal(xp, self.seed, self.path_index, t, rng.STREAMS[stream], 1)[:, 0]

        p = macro.MacroParams(
            demand_drift=self._demand_drift[t], demand_vol=float(sc.demand.vol),
            price_drift=self._price_drift[t], price_vol=float(sc.rental_price.vol),
            price_beta=float(sc.price_demand_beta), rate_mean=float(sc.base_rate.mean),
            rate_speed=float(sc.base_rate.speed), rate_vol=float(sc.base_rate.vol),
            rate_jump=self._rate_jump[t], expectation_weight=float(sc.expectation_weight),
        )
        d, pr, r, ed, ep = macro.step_macro(
            xp, s.demand, s.price, s.base_rate, s.exp_demand, s.exp_price, p,
            z("demand"), z("price"), z("rate"),
        )
        rate = contracts.current_rate(xp, self.book, r)
        rate = xp.where((self.book.kind == LOAN)[None, :], rate, s.rate)
        self.state = s.replace(demand=d, price=pr, base_rate=r, exp_demand=ed, exp_price=ep, rate=rate)

    def phase_operations(self) -> None:
        xp, s, p = self.xp, self.state, self.params
        active = contracts.active_mask(xp, self.book, s)
        committed = operations.committed_capacity(xp, self.book, s.alive, active, p)
        spot, unsold = self.by_sector("spot_sales", committed)
        ai, non_ai = operations.external_revenue(xp, p, s.demand, spot)
        ai = xp.where(s.alive, ai, 0.0)
        income = ai + xp.where(s.alive, non_ai, 0.0) + s.securities * (s.base_rate[:, None] / 12.0)
        dep = operations.depreciation(xp, p, s.gpu)
        self.scratch = {"ai_revenue": ai, "unsold": xp.where(s.alive, unsold, 0.0)}
        self.state = s.replace(
            cash=s.cash + income, equity=s.equity + income - dep, gpu=s.gpu - dep,
            ext_cash=s.ext_cash - xp.sum(income, axis=1),
        )

    def phase_investment(self) -> None:
        xp, s, p = self.xp, self.state, self.params
        plan = self.by_sector("plan_capex")
        internal = xp.minimum(plan, investment.spare_cash(xp, p, s.cash))
        b_ok, l_ok = self._tests(s)
        need = xp.where(b_ok, plan - internal, 0.0)
        offer = self.by_sector("credit_offer", l_ok)
        amount, borrowed, lent = investment.allocate_loans(
            xp, need, offer, self.facility_borrower, self.facility_lender, self.world.n_agents,
        )
        room = p.equity_raise[None, :] * s.sentiment[:, None]
        raised = xp.where(s.alive & (plan > 0), xp.minimum(plan - internal - borrowed, room), 0.0)
        raised = xp.maximum(raised, 0.0)
        capex = internal + borrowed + raised
        total = xp.sum(capex, axis=1)
        chip, to_ext = investment.chip_revenue(xp, p, s.alive, total)
        cogs = chip * p.cost_share[None, :]
        n_cal = self.world.n_calibrated
        outstanding = xp.concat([s.outstanding[:, :n_cal], s.outstanding[:, n_cal:] + amount], axis=1)
        self.scratch["raised"] = raised
        self.scratch["capex"] = capex
        self.state = s.replace(
            cash=s.cash - internal - lent + chip - cogs,  # borrowed and raised cash is spent
            equity=s.equity + raised + chip - cogs, gpu=s.gpu + capex, outstanding=outstanding,
            ext_cash=s.ext_cash - xp.sum(raised, axis=1) + to_ext + xp.sum(cogs, axis=1),
            capex_cum=s.capex_cum + total,
        )

    def phase_financing(self) -> None:
        xp, s, p = self.xp, self.state, self.params
        raised = funding.equity_raise(xp, p, s.alive, s.cash, s.sentiment, self.scratch["raised"])
        paid = funding.payouts(xp, p, s.alive, s.cash + raised)
        self.state = s.replace(
            cash=s.cash + raised - paid, equity=s.equity + raised - paid,
            ext_cash=s.ext_cash - xp.sum(raised, axis=1) + xp.sum(paid, axis=1),
        )

    def phase_settlement(self) -> None:
        xp, s, book = self.xp, self.state, self.book
        b_ok, l_ok = self._tests(s)
        ok = refinancing.refinance_ok(xp, book, b_ok, l_ok, s.alive)
        dues = contracts.scheduled_dues(xp, book, s, self.scratch["unsold"], s.gpu, ok)
        contracted, _ = accounting.to_payees(xp, book, s.alive, dues.payment)
        costs = xp.where(s.alive, operations.operating_costs(xp, self.params, self.scratch["ai_revenue"], contracted), 0.0)
        st = settlement.settle(xp, book, s.alive, s.cash, s.securities, dues, costs)
        outstanding = s.outstanding - st.principal_paid
        revolving = (book.amort == REVOLVING)[None, :]
        step_down = xp.where(dues.active & ~revolving, s.maturity - 1, s.maturity)
        maturity = xp.where(dues.refinanced, int(self.cfg.investment.refinance_term), step_down)
        loan_or_stake = ((book.kind == LOAN) | (book.kind == EQUITY))[None, :]
        finished = (maturity <= 0) & (~loan_or_stake | (outstanding == 0.0))
        self.scratch["illiquid"] = st.illiquid
        self.scratch["paid"] = st.paid
        self.state = s.replace(
            cash=st.cash, securities=st.securities, equity=s.equity + st.equity_change,
            outstanding=outstanding, maturity=maturity, c_alive=s.c_alive & ~finished,
            ext_cash=s.ext_cash - st.external_net,
        )

    def phase_resolution(self) -> None:
        xp = self.xp
        s = self.state
        illiquid = self.scratch["illiquid"]
        inv = self.cfg.investment
        new_total = xp.zeros_like(s.alive)
        for _ in range(self.world.n_agents + 1):
            assets = accounting.balance_sheet(xp, self.book, s)["assets"]
            ins = resolution.insolvent(xp, s, assets)
            new = s.alive & (illiquid | ins)
            if not bool(xp.any(new)):
                break
            cause = resolution.default_cause(xp, illiquid, ins)
            s = resolution.resolve(xp, self.book, s, new, cause, float(inv.recovery_gpu),
                                   float(inv.recovery_other)).state
            new_total = new_total | new
            illiquid = xp.zeros_like(illiquid)
        self.scratch["new_defaults"] = new_total
        self.state = s

    def phase_regulation(self) -> None:
        self.state = self._regulate(self.state)

    def phase_feedback(self) -> None:
        xp, s = self.xp, self.state
        mark, reval = marking.mark_stakes(xp, self.book, s.alive, s.c_alive, s.outstanding, s.equity)
        self.state = s.replace(outstanding=mark, equity=s.equity + reval)

    def phase_record(self) -> None:
        xp, s = self.xp, self.state
        bs_res, cash_res = accounting.identity_residual(xp, self.book, s, self.total_cash0)
        m: dict[str, Any] = {
            "demand": s.demand, "rental_price": s.price, "base_rate": s.base_rate,
            "defaults": xp.sum(xp.astype(~s.alive, xp.float64), axis=1),
            "credit_losses": xp.sum(s.credit_loss, axis=1),
            "ai_capex": xp.sum(self.scratch["capex"], axis=1),
            "identity_residual": xp.maximum(bs_res, cash_res),
        }
        for sector, cols in self.world.blocks.items():
            if cols.stop > cols.start:
                m[f"equity_{sector}"] = xp.sum(s.equity[:, cols], axis=1)
        banks = self.world.blocks["bank"]
        if banks.stop > banks.start:
            m["bank_capital_ratio_min"] = xp.min(s.capital_ratio[:, banks], axis=1)
        self.metrics = m


def _slice_params(p: AgentParams, start: int, stop: int) -> AgentParams:
    return AgentParams(**{f.name: getattr(p, f.name)[start:stop] for f in fields(p)})
