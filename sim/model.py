"""The Mesa model: owns the state, the contract book, the random numbers and the phase order.

One :class:`AIFinanceModel` runs one chunk of paths. Each Mesa step is one month and runs the
phases of :data:`PHASES` in order; each phase is one or a few kernel calls over all agents and
all paths of the chunk. Sector-specific behaviour comes from the agent classes' policies
(:mod:`aisim.agents`), each called once per sector. Contagion channels are switched by
``cfg.channels`` (all on by default); docs/economics.md describes the month in full.
"""

from __future__ import annotations

from dataclasses import fields
from types import ModuleType
from typing import Any

import mesa
import numpy as np
from aisim.agents import SECTOR_CLASSES, SectorAgent
from aisim.kernels import (
    accounting,
    collateral,
    contracts,
    covenants,
    feedback,
    funding,
    funds,
    investment,
    macro,
    marking,
    operations,
    refinancing,
    regulation,
    resolution,
    rng,
    settlement,
)
from aisim.kernels.backend import segment_sum, to_numpy
from aisim.kernels.state import BULLET, EQUITY, LOAN, NEVER, REVOLVING, RVG, AgentParams, State
from aisim.world import World, build_world, initial_stake_marks
from omegaconf import DictConfig, OmegaConf

#: The month, in order. Declared once; :meth:`AIFinanceModel.step` runs exactly this.
PHASES = (
    "macro",  # AI demand, GPU rental price, base rate, expectations; the GPU market heals
    "operations",  # revenue from outside, depreciation, securities income
    "investment",  # capex plans financed by cash, new loans, new equity; chipmakers' sales
    "financing",  # equity raises and payouts; fund redemptions and back-leverage triggers
    "settlement",  # refinancing; contract flows and costs cleared together; margin calls
    "resolution",  # defaults (illiquid, covenant breach, insolvent), fire sales, recoveries
    "regulation",  # bank capital and leverage ratios; deleveraging of banks below requirement
    "feedback",  # equity stakes marked; spreads and sentiment respond to the month's losses
    "record",  # the month's metrics and the accounting identities
)

STRESS_SENTIMENT = 0.8  # sentiment below this counts as stress (countercyclical buffer release)


class AIFinanceModel(mesa.Model):
    """A chunk of Monte Carlo paths of the AI financing web.

    cfg: the composed, validated config; world: :class:`aisim.world.World` (built from cfg when
    None); path_index: (paths,) int64 global path numbers (they key the random numbers); xp:
    the array namespace.
    """

    def __init__(self, cfg: Any, world: World | None, path_index: Any, xp: ModuleType) -> None:
        super().__init__(rng=int(cfg.seed))
        if isinstance(cfg, DictConfig):
            # plain dataclasses: attribute access on a DictConfig is far too slow for the month loop
            cfg = OmegaConf.to_object(cfg)
        if world is None:
            world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                                regime=cfg.regime, covenants=cfg.covenants)
        self.cfg = cfg
        self.world = world
        self.xp = xp
        self.seed = int(cfg.seed)
        self.ch = cfg.channels
        self.book = world.book(xp)
        self.params: AgentParams = world.agent_params(xp)
        self.path_index = xp.asarray(np.asarray(path_index, dtype=np.int64))
        self.n_paths = int(self.path_index.shape[0])
        self.facility_borrower = xp.asarray(world.facility_borrower)
        self.facility_lender = xp.asarray(world.facility_lender)
        # agents whose new borrowing is secured on their GPUs (the GPU LTV cap binds on them)
        secured_facility = world.contracts["secured"][world.n_calibrated:]
        self.secured_borrower = xp.asarray(np.isin(np.arange(world.n_agents),
                                                   world.facility_borrower[secured_facility]))
        self.sector_blocks = [(SECTOR_CLASSES[s], b) for s, b in world.blocks.items() if b.stop > b.start]
        self.members: list[SectorAgent] = [
            SECTOR_CLASSES[e.sector](self, e.name, col, e) for col, e in enumerate(world.entities)
        ]
        self._schedules()
        self.state = self._initial_state()
        self.total_cash0 = xp.sum(self.state.cash, axis=1)
        self.initial_equity = to_numpy(self.state.equity[0, :])  # identical on every path
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

        def paths(v: float) -> Any:
            return xp.asarray(np.full(P, float(v)))

        c = w.contracts
        sc = self.cfg.scenario
        marks = initial_stake_marks(w)
        outstanding = np.where(c["kind"] == LOAN, c["amount"], 0.0) + np.where(c["kind"] == EQUITY, marks, 0.0)
        maturity = np.where(c["amort"] == REVOLVING, NEVER, c["maturity"]).astype(np.int64)
        b = w.balance
        base = np.full(P, float(sc.base_rate.start))
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
            demand=paths(sc.demand.start), price=paths(sc.rental_price.start), base_rate=xp.asarray(base),
            exp_demand=paths(sc.demand.start), exp_price=paths(sc.rental_price.start),
            sentiment=paths(sc.sentiment), ext_cash=paths(0.0), capex_cum=paths(0.0),
            credit_loss=xp.zeros((P, A + 1), dtype=xp.float64),
            q=paths(1.0), market_spread=paths(0.0), last_return=agents(np.zeros(A)),
            leverage_ratio=agents(np.full(A, np.inf)), fire_sale_loss=paths(0.0), stake_loss=paths(0.0),
            redemptions=paths(0.0), forced_sales=paths(0.0), credit_supply=paths(0.0),
            default_costs=paths(0.0),
        )
        bs = accounting.balance_sheet(xp, self.book, partial)
        state = partial.replace(equity=bs["assets"] - bs["liabilities"])
        return self._ratios(state)

    def _schedules(self) -> None:
        sc, H = self.cfg.scenario, int(self.cfg.horizon)

        def piecewise(base: float, changes: dict) -> list[float]:
            out, cur = [], float(base)
            for t in range(H):
                cur = float(changes[t]) if t in changes else cur
                out.append(cur)
            return out

        self._demand_drift = piecewise(sc.demand.drift, {int(k): v for k, v in sc.demand.drift_changes.items()})
        price_changes = {int(k): v for k, v in sc.rental_price.drift_changes.items()}
        self._price_drift = piecewise(sc.rental_price.drift, price_changes)
        jumps = {int(k): float(v) for k, v in sc.base_rate.jumps.items()}
        self._rate_jump = [jumps.get(t, 0.0) for t in range(H)]
        frozen = np.array([s in set(sc.equity_freeze_sectors) for s in self.world.sectors], dtype=bool)
        lo, hi = int(sc.equity_freeze_from), int(sc.equity_freeze_from) + int(sc.equity_freeze_months)
        self._raise_open = [self.xp.asarray(~(frozen & (lo <= t < hi))) for t in range(H)]

    # ------------------------------------------------------------------ helpers for policies
    def zeros(self, cols: slice) -> Any:
        return self.xp.zeros((self.n_paths, cols.stop - cols.start), dtype=self.xp.float64)

    def sector_params(self, cols: slice) -> AgentParams:
        return AgentParams(**{f.name: getattr(self.params, f.name)[cols] for f in fields(self.params)})

    def by_sector(self, policy: str, *args: Any) -> Any:
        """Run a sector policy once per sector and assemble the (paths, agents) result."""
        parts = [getattr(cls, policy)(self, cols, *args) for cls, cols in self.sector_blocks]
        if isinstance(parts[0], tuple):
            return tuple(self.xp.concat([p[k] for p in parts], axis=1) for k in range(len(parts[0])))
        return self.xp.concat(parts, axis=1)

    def requirement(self, state: State) -> Any:
        """(paths,) banks' capital requirement this month (with the countercyclical buffer)."""
        rg = self.cfg.regime
        stress = state.sentiment < STRESS_SENTIMENT * float(self.cfg.scenario.sentiment)
        return regulation.requirement(self.xp, float(rg.capital_requirement), float(rg.countercyclical_buffer),
                                      bool(rg.release_buffer_in_stress), stress)

    def collateral_value(self, state: State) -> Any:
        """(paths, agents) USD bn: what each agent's GPUs are worth as collateral."""
        rg, col = self.cfg.regime, self.cfg.collateral
        life = float(rg.gpu_valuation_life_months) or float(col.valuation_life_months)
        vf = collateral.value_factor(self.xp, state.price, state.q, self.params.gpu_life_months, life,
                                     float(rg.gpu_haircut_floor))
        return state.gpu * vf

    def lender_tests(self, state: State) -> Any:
        """(paths, agents) bool: lenders able to lend and refinance this month."""
        xp = self.xp
        if not self.ch.bank_regulation:
            return state.alive
        ok = refinancing.lender_ok(xp, self.params, state.alive, state.capital_ratio, self.requirement(state))
        lev_ok = state.leverage_ratio >= float(self.cfg.regime.leverage_requirement)
        return ok & (~self.params.is_bank[None, :] | lev_ok)

    def borrower_tests(self, state: State) -> Any:
        """(paths, agents) bool: borrowers that pass the refinancing test this month."""
        xp, book = self.xp, self.book
        bs = accounting.balance_sheet(xp, book, state)
        debt, assets = bs["debt"], bs["assets"]
        if self.cfg.regime.spv_consolidation:
            # the sponsor guaranteeing an SPV's residual value carries the SPV's debt and assets
            rvg = state.c_alive & (book.kind == RVG)[None, :]
            col = xp.minimum(book.payee, book.n_agents - 1)
            spv_debt, _ = accounting.from_payers(xp, book, xp.where(rvg, xp.take(debt, col, axis=1), 0.0))
            spv_assets, _ = accounting.from_payers(xp, book, xp.where(rvg, xp.take(assets, col, axis=1), 0.0))
            debt, assets = debt + spv_debt, assets + spv_assets
        ok = refinancing.borrower_ok(xp, self.params, state.alive, state.equity, assets, debt)
        cap = float(self.cfg.regime.fund_leverage_cap)
        if self.ch.fund_runs and cap > 0:
            ok = ok & (~self.params.is_fund[None, :] | (bs["debt"] <= cap * xp.maximum(state.equity, 0.0)))
        return ok

    def _ratios(self, state: State) -> State:
        return self._ratios_rwa(state)[0]

    def _ratios_rwa(self, state: State) -> tuple[State, Any]:
        """The state with banks' capital and leverage ratios, and the RWA behind them."""
        xp, rw = self.xp, self.cfg.regime.risk_weights
        bs = accounting.balance_sheet(xp, self.book, state)
        rwa = regulation.risk_weighted_assets(
            xp, self.book, state.alive, state.c_alive, state.outstanding, self.book.risk_weight,
            state.other_assets, state.securities, bs["stakes"], float(rw.other_assets),
            float(rw.securities), float(rw.equity_stakes),
        )
        p = self.params
        return state.replace(
            capital_ratio=regulation.capital_ratio(xp, p.is_bank, state.alive, state.equity, rwa),
            leverage_ratio=regulation.leverage_ratio(xp, p.is_bank, state.alive, state.equity, bs["assets"]),
        ), rwa

    def _lend(self, state: State, need: Any, healthy: Any) -> tuple[Any, Any, Any]:
        """Allocate new lending over the facilities, within large-exposure room."""
        xp, rg = self.xp, self.cfg.regime
        offer = self.by_sector("credit_offer", healthy)
        if self.ch.bank_regulation and float(rg.ai_concentration_limit) > 0:
            ai = state.c_alive & ((self.book.kind == LOAN) & (self.book.payer < self.book.n_agents))[None, :]
            is_ai_payer = xp.take(xp.concat([self.params.is_ai, xp.zeros((1,), dtype=xp.bool)]), self.book.payer)
            held_ai, _ = accounting.to_payees(xp, self.book, state.alive,
                                              xp.where(ai & is_ai_payer[None, :], state.outstanding, 0.0))
            room = xp.maximum(float(rg.ai_concentration_limit) * xp.maximum(state.equity, 0.0) - held_ai, 0.0)
            offer = xp.where(self.params.is_bank[None, :], xp.minimum(offer, room), offer)
        amount, _, _ = investment.allocate_loans(xp, need, offer, self.facility_borrower, self.facility_lender,
                                                 self.world.n_agents)
        if self.ch.bank_regulation:
            room = regulation.exposure_room(xp, self.book, state.c_alive, state.outstanding, self.book.pair,
                                            self.book.n_pairs, self.facility_lender, state.equity,
                                            float(rg.large_exposure_limit))
            is_bank_l = xp.take(self.params.is_bank, self.facility_lender)
            amount = xp.where(is_bank_l[None, :], xp.minimum(amount, room), amount)
        n = self.world.n_agents
        borrowed = segment_sum(xp, amount, self.facility_borrower, n)
        return amount, borrowed, segment_sum(xp, amount, self.facility_lender, n)

    def _add_to_facilities(self, outstanding: Any, amount: Any) -> Any:
        n_cal = self.world.n_calibrated
        return self.xp.concat([outstanding[:, :n_cal], outstanding[:, n_cal:] + amount], axis=1)

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
        rate = contracts.current_rate(xp, self.book, r + s.market_spread)
        rate = xp.where((self.book.kind == LOAN)[None, :], rate, s.rate)
        q = collateral.heal(xp, s.q, float(self.cfg.collateral.recovery)) if self.ch.fire_sales else s.q
        self.scratch = {"equity_start": s.equity, "loss_start": xp.sum(s.credit_loss, axis=1),
                        "loans_start": xp.sum(xp.where((self.book.kind == LOAN)[None, :] & s.c_alive,
                                                       s.outstanding, 0.0), axis=1)}
        self.state = s.replace(demand=d, price=pr, base_rate=r, exp_demand=ed, exp_price=ep, rate=rate, q=q)

    def phase_operations(self) -> None:
        xp, s, p = self.xp, self.state, self.params
        active = contracts.active_mask(xp, self.book, s)
        committed = operations.committed_capacity(xp, self.book, s.alive, active, p)
        spot, unsold = self.by_sector("spot_sales", committed)
        ai, non_ai = operations.external_revenue(xp, p, s.demand, spot)
        ai = xp.where(s.alive, ai, 0.0)
        income = ai + xp.where(s.alive, non_ai, 0.0) + s.securities * (s.base_rate[:, None] / 12.0)
        dep = operations.depreciation(xp, p, s.gpu)
        self.scratch.update(ai_revenue=ai, unsold=xp.where(s.alive, unsold, 0.0))
        self.state = s.replace(
            cash=s.cash + income, equity=s.equity + income - dep, gpu=s.gpu - dep,
            ext_cash=s.ext_cash - xp.sum(income, axis=1),
        )

    def phase_investment(self) -> None:
        xp, s, p = self.xp, self.state, self.params
        plan = self.by_sector("plan_capex")
        internal = xp.minimum(plan, investment.spare_cash(xp, p, s.cash))
        need = xp.where(self.borrower_tests(s), plan - internal, 0.0)
        cap = float(self.cfg.regime.gpu_ltv_cap)
        if cap > 0:  # new GPU-backed lending only up to the regime's loan-to-value cap
            secured = s.c_alive & ((self.book.kind == LOAN) & self.book.secured)[None, :]
            sec_debt, _ = accounting.from_payers(xp, self.book, xp.where(secured, s.outstanding, 0.0))
            room = xp.maximum(cap * self.collateral_value(s.replace(gpu=s.gpu + plan)) - sec_debt, 0.0)
            need = xp.where(self.secured_borrower[None, :], xp.minimum(need, room), need)
        amount, borrowed, lent = self._lend(s, need, self.lender_tests(s))
        room = self.raise_room(s)
        raised = xp.where(s.alive & (plan > 0), xp.minimum(plan - internal - borrowed, room), 0.0)
        raised = xp.maximum(raised, 0.0)
        capex = internal + borrowed + raised
        total = xp.sum(capex, axis=1)
        chip, to_ext = investment.chip_revenue(xp, p, s.alive, total)
        cogs = chip * p.cost_share[None, :]
        self.scratch.update(raised=raised, capex=capex, room=room - raised)
        self.state = s.replace(
            cash=s.cash - internal - lent + chip - cogs,  # borrowed and raised cash is spent
            equity=s.equity + raised + chip - cogs, gpu=s.gpu + capex,
            outstanding=self._add_to_facilities(s.outstanding, amount),
            ext_cash=s.ext_cash - xp.sum(raised, axis=1) + to_ext + xp.sum(cogs, axis=1),
            capex_cum=s.capex_cum + total, credit_supply=s.credit_supply + xp.sum(amount, axis=1),
        )

    def raise_room(self, s: State) -> Any:
        """(paths, agents) USD bn of new equity each agent could raise this month."""
        return funding.raise_room(self.xp, self.params, s.sentiment, self._raise_open[s.month])

    def phase_financing(self) -> None:
        xp, s, p = self.xp, self.state, self.params
        raised = funding.equity_raise(xp, p, s.alive, s.cash, self.scratch["room"])
        paid = funding.payouts(xp, p, s.alive, s.cash + raised)
        s = s.replace(
            cash=s.cash + raised - paid, equity=s.equity + raised - paid,
            ext_cash=s.ext_cash - xp.sum(raised, axis=1) + xp.sum(paid, axis=1),
        )
        self.scratch["funding_flows"] = self.scratch["raised"] + raised - paid
        self.scratch["breach"] = xp.zeros_like(s.alive)
        if self.ch.fund_runs:
            s = self._fund_runs(s)
        self.state = s

    def _fund_runs(self, s: State) -> State:
        xp, p, rg, book = self.xp, self.params, self.cfg.regime, self.book
        h = float(self.cfg.market.loan_sale_haircut)
        # 1. LP redemptions, gated, paid from cash and loan sales
        due = funds.redemptions(xp, p.is_fund, s.alive, s.equity, s.last_return, p.redemption_base,
                                p.redemption_sensitivity, float(rg.fund_redemption_gate))
        sold, paid = funds.raise_cash(xp, s.cash, s.other_assets, due, h)
        s = s.replace(
            cash=s.cash + sold * (1.0 - h) - paid, other_assets=s.other_assets - sold,
            equity=s.equity - sold * h - paid,
            ext_cash=s.ext_cash - xp.sum(sold * (1.0 - h), axis=1) + xp.sum(paid, axis=1),
            redemptions=s.redemptions + xp.sum(paid, axis=1), forced_sales=s.forced_sales + xp.sum(sold, axis=1),
        )
        self.scratch["funding_flows"] = self.scratch["funding_flows"] - paid
        # 2. back-leverage lines: NAV loan-to-value triggers and the regime's leverage cap
        line = s.c_alive & book.nav_line[None, :]
        line_out = xp.where(line, s.outstanding, 0.0)
        line_debt, _ = accounting.from_payers(xp, book, line_out)
        weighted, _ = accounting.from_payers(xp, book, line_out * book.ltv_max[None, :])
        safe = xp.where(line_debt > 0, line_debt, 1.0)
        trigger = xp.where(line_debt > 0, weighted / safe, 1.0)
        assets = accounting.balance_sheet(xp, book, s)["assets"]
        x, fail = funds.deleverage_sales(xp, line_debt, assets, s.equity, s.other_assets, trigger,
                                         float(rg.fund_leverage_cap), h)
        fund = p.is_fund[None, :] & s.alive
        x = xp.where(fund, x, 0.0)
        repay = xp.minimum(x * (1.0 - h), line_debt)
        share_c = xp.take(xp.concat([repay / safe, xp.zeros_like(s.cash[:, :1])], axis=1), book.payer, axis=1)
        repay_c = line_out * share_c
        received, to_ext = accounting.to_payees(xp, book, s.alive, repay_c)
        self.scratch["breach"] = fail & fund
        return s.replace(
            cash=s.cash + x * (1.0 - h) - repay + received, other_assets=s.other_assets - x,
            equity=s.equity - x * h, outstanding=s.outstanding - repay_c,
            ext_cash=s.ext_cash - xp.sum(x * (1.0 - h), axis=1) + to_ext,
            forced_sales=s.forced_sales + xp.sum(x, axis=1),
        )

    def phase_settlement(self) -> None:
        xp, s, book = self.xp, self.state, self.book
        b_ok, l_ok = self.borrower_tests(s), self.lender_tests(s)
        ok = refinancing.refinance_ok(xp, book, b_ok, l_ok, s.alive)
        dues = contracts.scheduled_dues(xp, book, s, self.scratch["unsold"], s.gpu, ok)
        # a maturing bullet its own lender will not roll: other lenders refinance it, pro rata
        refused = dues.active & (book.kind == LOAN)[None, :] & (dues.principal > 0) & (book.amort == BULLET)[None, :]
        need, _ = accounting.from_payers(xp, book, xp.where(refused, dues.principal, 0.0))
        need = xp.where(b_ok, need, 0.0)
        if bool(xp.any(need > 0)):
            amount, borrowed, lent = self._lend(s, need, l_ok)
            s = s.replace(cash=s.cash + borrowed - lent, outstanding=self._add_to_facilities(s.outstanding, amount),
                          credit_supply=s.credit_supply + xp.sum(amount, axis=1))
        contracted, _ = accounting.to_payees(xp, book, s.alive, dues.payment)
        costs = operations.operating_costs(xp, self.params, self.scratch["ai_revenue"], contracted)
        costs = xp.where(s.alive, costs, 0.0)
        cl = self.cfg.clearing
        st = settlement.settle(xp, book, s.alive, s.cash, s.securities, dues, costs,
                               greatest=bool(self.ch.clearing), alpha=float(cl.alpha), beta=float(cl.beta))
        outstanding = s.outstanding - st.principal_paid
        revolving = (book.amort == REVOLVING)[None, :]
        step_down = xp.where(dues.active & ~revolving, s.maturity - 1, s.maturity)
        maturity = xp.where(dues.refinanced, int(self.cfg.investment.refinance_term), step_down)
        loan_or_stake = ((book.kind == LOAN) | (book.kind == EQUITY))[None, :]
        finished = (maturity <= 0) & (~loan_or_stake | (outstanding == 0.0))
        s = s.replace(
            cash=st.cash, securities=st.securities, equity=s.equity + st.equity_change,
            outstanding=outstanding, maturity=maturity, c_alive=s.c_alive & ~finished,
            ext_cash=s.ext_cash - st.external_net, default_costs=s.default_costs + xp.sum(st.default_costs, axis=1),
        )
        illiquid = st.illiquid
        if self.ch.covenants:
            s, breach = self._margin_calls(s, illiquid)
            self.scratch["breach"] = self.scratch["breach"] | breach
        self.scratch["illiquid"] = illiquid
        self.state = s

    def _margin_calls(self, s: State, illiquid: Any) -> tuple[State, Any]:
        xp, book = self.xp, self.book
        call_c, call = covenants.margin_calls(xp, book, s.alive & ~illiquid, s.c_alive, s.outstanding,
                                              self.collateral_value(s), book.ltv_max,
                                              float(self.cfg.covenants.cure_share))
        can = (s.cash + s.securities >= call) & (call > 0)
        breach = (call > 0) & ~can
        pay_c = xp.where(xp.take(xp.concat([can, xp.zeros_like(can[:, :1])], axis=1), book.payer, axis=1), call_c, 0.0)
        pay = xp.where(can, call, 0.0)
        sold = xp.minimum(s.securities, xp.maximum(pay - s.cash, 0.0))
        received, to_ext = accounting.to_payees(xp, book, s.alive, pay_c)
        return s.replace(
            cash=s.cash + sold - pay + received, securities=s.securities - sold,
            outstanding=s.outstanding - pay_c,
            ext_cash=s.ext_cash - xp.sum(sold, axis=1) + to_ext,
        ), breach

    def phase_resolution(self) -> None:
        xp, book = self.xp, self.book
        s = self.state
        illiquid, breach = self.scratch["illiquid"], self.scratch["breach"]
        inv, col = self.cfg.investment, self.cfg.collateral
        month_new = xp.zeros_like(s.alive)
        for _ in range(self.world.n_agents + 1):
            assets = accounting.balance_sheet(xp, book, s)["assets"]
            ins = resolution.insolvent(xp, s, assets)
            new = s.alive & (illiquid | breach | ins)
            if not bool(xp.any(new)):
                break
            vf = self.collateral_value(s.replace(gpu=xp.ones_like(s.gpu)))  # value per USD of book
            q_before = s.q
            if self.ch.fire_sales:
                sold = xp.sum(xp.where(new, s.gpu, 0.0), axis=1)
                q_after, avg = collateral.impact(xp, s.q, sold, float(col.depth), str(col.impact))
                # a linear impact can take the market to zero: nothing more can be sold for anything
                realised = xp.where(q_before > 0, avg / xp.where(q_before > 0, q_before, 1.0), 0.0)
                price = float(inv.recovery_gpu) * vf * realised[:, None]
                at_market = xp.sum(xp.where(new, s.gpu * float(inv.recovery_gpu) * vf, 0.0), axis=1)
                discount = at_market * (1.0 - realised)
            else:
                q_after, price, discount = s.q, float(inv.recovery_gpu) * vf, xp.zeros_like(s.q)
            res = resolution.resolve(xp, book, s, new, resolution.default_cause(xp, illiquid, breach, ins),
                                     price, float(inv.recovery_other), contagion=bool(self.ch.contract_contagion))
            s = res.state.replace(q=q_after, fire_sale_loss=res.state.fire_sale_loss + discount,
                                  stake_loss=res.state.stake_loss + res.stake_loss)
            month_new = month_new | new
            illiquid, breach = xp.zeros_like(illiquid), xp.zeros_like(breach)
        self.scratch["new_defaults"] = month_new
        self.state = s

    def phase_regulation(self) -> None:
        xp, rg = self.xp, self.cfg.regime
        s, rwa = self._ratios_rwa(self.state)
        if self.ch.bank_regulation:
            sell = regulation.deleveraging(xp, self.params.is_bank, s.alive, s.equity, rwa, s.other_assets,
                                           self.requirement(s), float(rg.risk_weights.other_assets),
                                           float(rg.deleveraging_speed))
            if bool(xp.any(sell > 0)):
                h = float(self.cfg.market.loan_sale_haircut)
                s = self._ratios(s.replace(
                    cash=s.cash + sell * (1.0 - h), other_assets=s.other_assets - sell, equity=s.equity - sell * h,
                    ext_cash=s.ext_cash - xp.sum(sell * (1.0 - h), axis=1),
                    forced_sales=s.forced_sales + xp.sum(sell, axis=1),
                ))
        self.state = s

    def phase_feedback(self) -> None:
        xp, s, mk = self.xp, self.state, self.cfg.market
        if self.ch.contract_contagion:
            mark, reval = marking.mark_stakes(xp, self.book, s.alive, s.c_alive, s.outstanding, s.equity)
            s = s.replace(outstanding=mark, equity=s.equity + reval)
        if self.ch.market_feedback:
            losses = xp.sum(s.credit_loss, axis=1) - self.scratch["loss_start"]
            loans = self.scratch["loans_start"]
            rate = losses / xp.where(loans > 0, loans, 1.0)
            ai_new = xp.sum(xp.astype(self.scratch["new_defaults"] & self.params.is_ai[None, :], xp.float64), axis=1)
            spread, sentiment = feedback.update(
                xp, s.market_spread, s.sentiment, float(self.cfg.scenario.sentiment), rate, ai_new,
                float(mk.spread_per_loss), float(mk.sentiment_per_loss), float(mk.sentiment_per_default),
                float(mk.recovery),
            )
            s = s.replace(market_spread=spread, sentiment=sentiment)
        start = self.scratch["equity_start"]
        ret = (s.equity - start - self.scratch["funding_flows"]) / xp.where(start > 0, start, 1.0)
        self.state = s.replace(last_return=xp.where(s.alive & (start > 0), ret, 0.0))

    def phase_record(self) -> None:
        xp, s = self.xp, self.state
        bs_res, cash_res = accounting.identity_residual(xp, self.book, s, self.total_cash0)
        m: dict[str, Any] = {
            "demand": s.demand, "rental_price": s.price, "base_rate": s.base_rate,
            "gpu_collateral_index": s.price * s.q, "market_spread": s.market_spread, "sentiment": s.sentiment,
            "defaults": xp.sum(xp.astype(~s.alive, xp.float64), axis=1),
            "credit_losses": xp.sum(s.credit_loss, axis=1),
            "ai_capex": xp.sum(self.scratch["capex"], axis=1),
            "credit_supply": s.credit_supply, "redemptions": s.redemptions,
            "fire_sale_loss": s.fire_sale_loss, "forced_sales": s.forced_sales,
            "identity_residual": xp.maximum(bs_res, cash_res),
        }
        for sector, cols in self.world.blocks.items():
            if cols.stop > cols.start:
                m[f"equity_{sector}"] = xp.sum(s.equity[:, cols], axis=1)
        banks = self.world.blocks["bank"]
        if banks.stop > banks.start:
            m["bank_capital_ratio_min"] = xp.min(s.capital_ratio[:, banks], axis=1)
            m["bank_leverage_ratio_min"] = xp.min(s.leverage_ratio[:, banks], axis=1)
        self.metrics = m
