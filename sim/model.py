"""The Mesa model: owns the state, the contract book, the random numbers and the month.

One :class:`AIFinanceModel` runs one chunk of paths. Each Mesa step is one month: the phases of
:data:`PHASES`, in order, each a core step plus, at its hook points, the hooks of the contagion
channels that are on (:mod:`aisim.channels`). Sector behaviour comes from the agent classes
(:mod:`aisim.agents`), reached through Mesa's :class:`~mesa.agent.AgentSet` grouped by sector and
run once per sector over all its members and paths. Phases hand each other a typed
:class:`~aisim.context.MonthContext`; every flow is posted through :mod:`aisim.kernels.ledger`.
docs/architecture.md describes the month; docs/economics.md its economics.

Host synchronisation: on a device backend the month never reads an array value on the host
(no ``bool(xp.any(...))``, no data-dependent loop counts); loops that could stop early run their
full, fixed bound, with masks making the extra rounds exact no-ops. On NumPy, where the arrays
already live on the host, the same loops take exact shortcuts (``shortcuts``); both give the same
results to the bit (tests/test_syncs.py).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import mesa
import numpy as np
from omegaconf import DictConfig, OmegaConf

from aisim import channels as channel_registry
from aisim import outputs
from aisim.agents import SectorAgent, agent_class
from aisim.context import MonthContext
from aisim.kernels import (
    accounting,
    capex_orders,
    collateral,
    contracts,
    funding,
    guarantees,
    investment,
    jv_debt,
    ledger,
    macro,
    operations,
    refinancing,
    regulation,
    renegotiation,
    resolution,
    rng,
    rollover,
    settlement,
)
from aisim.kernels.backend import segment_sum, to_numpy
from aisim.kernels.params import freeze, frozen_copy
from aisim.kernels.state import EQUITY, LOAN, NEVER, REVOLVING, AgentParams, State, per_agent
from aisim.scenario import Schedule
from aisim.world import World, build_world, initial_stake_marks, jv_terms, syndicate_size

STRESS_SENTIMENT = 0.8  # sentiment below this counts as stress (countercyclical buffer release)

Observer = Callable[[str, State, State, MonthContext], None]


class AIFinanceModel(mesa.Model):
    """A chunk of Monte Carlo paths of the AI financing web.

    cfg: the composed, validated config; world: :class:`aisim.world.World` (built from cfg when
    None); path_index: (paths,) int64 global path numbers (they key the random numbers); xp:
    the array namespace.

    After each :meth:`step`: ``state`` (:class:`aisim.kernels.state.State`), ``context`` (the
    month's :class:`~aisim.context.MonthContext`) and ``metrics`` (the month's outputs,
    :mod:`aisim.outputs`). ``observers``: callables ``(phase, state before, state after,
    context)`` run after every phase, for inspection and calibration. ``agent(name)`` returns a
    member with read-only views of its columns (``model.agent("CoreWeave").cash``).
    """

    def __init__(self, cfg: Any, world: World | None, path_index: Any, xp: ModuleType) -> None:
        super().__init__(rng=int(cfg.seed))
        if isinstance(cfg, DictConfig):
            # plain dataclasses: attribute access on a DictConfig is far too slow for the month loop
            cfg = OmegaConf.to_object(cfg)
        if world is None:
            world = build_world(cfg.calibration, cfg.investment, dict(cfg.scenario.offtake_exits),
                                regime=cfg.regime, covenants=cfg.covenants, syndicate=syndicate_size(cfg),
                                jv=jv_terms(cfg))
        self.cfg = cfg
        self.p = _RunParams(cfg)
        self.world = world
        self.xp = xp
        # exact data-dependent shortcuts only where arrays live on the host anyway
        self.shortcuts = xp is np
        self.seed = int(cfg.seed)
        self._bs: tuple[State, dict[str, Any]] | None = None
        self._positions: tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]] | None = None
        self._lv: tuple[tuple[Any, ...], tuple[Any, Any]] | None = None
        self.hooks = channel_registry.hooks(cfg.channels)
        self.book = world.book(xp)
        self.base_params: AgentParams = world.agent_params(xp)
        self.params = self.base_params
        self.path_index = xp.asarray(np.asarray(path_index, dtype=np.int64))
        self.n_paths = int(self.path_index.shape[0])
        self.facility_borrower = xp.asarray(world.facility_borrower)
        self.facility_lender = xp.asarray(world.facility_lender)
        self.facility_lender_is_bank = xp.take(self.base_params.is_bank, self.facility_lender)
        notes_mask = np.zeros(world.n_contracts, dtype=bool)
        notes_mask[world.notes] = True
        self.notes_mask = xp.asarray(notes_mask)  # note_issuance: the notes contracts and their issuers
        self.notes_payer = xp.asarray(np.minimum(world.contracts["payer"], world.n_agents - 1))
        # jv_debt: the JV contracts, their sponsors and funds (empty without the channel)
        self.jv_contract = xp.asarray(world.jv)
        self.jv_borrower = xp.asarray(world.contracts["payer"][world.jv])
        self.jv_lender = xp.asarray(world.contracts["payee"][world.jv])
        jv_mask = np.zeros(world.n_contracts, dtype=bool)
        jv_mask[world.jv] = True
        self.jv_mask = xp.asarray(jv_mask)
        self.jv_sponsor = xp.asarray(np.isin(np.arange(world.n_agents), world.contracts["payer"][world.jv]))
        self.has_jv = bool(world.jv.size) and bool(cfg.channels.jv_debt)
        self.bank_block = world.trait_block("bank")  # columns of the banks, once (outputs read it monthly)
        # agents whose new borrowing is secured on their GPUs (the GPU LTV cap binds on them)
        secured_facility = world.contracts["secured"][world.n_calibrated:]
        self.secured_borrower = xp.asarray(np.isin(np.arange(world.n_agents),
                                                   world.facility_borrower[secured_facility]))
        for col, e in enumerate(world.entities):
            agent_class(e.sector)(self, e.name, col, e)
        self._by_name = {a.name: a for a in self.agents}
        self.sector_groups = _sector_groups(self.agents)
        self.schedule = Schedule.from_config(self.p.scenario, int(cfg.horizon), world, xp)
        self.state = self._initial_state()
        self.total_cash0 = xp.sum(self.state.cash, axis=1)
        self.initial_equity = to_numpy(self.state.equity[0, :])  # identical on every path
        self.context = MonthContext(month=0)
        self.metrics: dict[str, Any] = {}
        self.observers: list[Observer] = []

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
        sc = self.p.scenario
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
            default_costs=paths(0.0), index=self.schedule.initial_indices(P),
        )
        partial = partial.replace(spread=agents(np.zeros(A)), margin=contracts_(c["rate"]))  # credit_pricing
        partial = channel_registry.equity_pricing_marks(self, partial)  # equity_pricing
        vintage0 = float(sc.rental_price.start) ** -self.p.collateral.vintage_share
        partial = partial.replace(gpu_vintage=agents(np.full(A, vintage0)))  # vintages
        partial = partial.replace(lease_loss=xp.zeros((P, A + 1), dtype=xp.float64))  # lease_claims
        partial = partial.replace(bank_nonai_loss=paths(0.0), bank_payouts=paths(0.0))  # bank_capital
        partial = partial.replace(tightness=xp.ones((P, 2), dtype=xp.float64))  # compute_market
        partial = partial.replace(firm_shock=xp.zeros((P, A), dtype=xp.float64))  # firm_shocks
        partial = channel_registry.capex_orders_start(self, partial)  # capex_commitments
        partial = partial.replace(appetite=paths(0.0))  # risk_appetite
        partial = partial.replace(offtake_scale=agents(np.ones(A)))  # renegotiation
        partial = partial.replace(grade=agents(np.zeros(A, dtype=np.int64)),
                                  rating_fall=agents(np.full(A, -1, dtype=np.int64)))  # ratings
        rg = self.p.regime
        partial = partial.replace(ccyb=paths(regulation.buffer_start(rg.countercyclical_buffer,
                                                                     rg.buffer_build_months)))
        partial = partial.replace(fv_mark=agents(np.zeros(A)), spread_ref=agents(np.zeros(A)),  # fund_runs
                                  redeem_queue=agents(np.zeros(A)), gated=agents(np.zeros(A, dtype=bool)),
                                  loan_q=paths(1.0), gate_events=paths(0.0), line_loss=paths(0.0),
                                  facility_loss=paths(0.0))  # asset_facilities
        partial = channel_registry.demand_growth_start(self, partial)  # demand_growth
        bs = accounting.balance_sheet(xp, self.book, partial)
        state = partial.replace(equity=bs["assets"] - bs["liabilities"])
        state = channel_registry.equity_pricing_start(self, state)  # equity_pricing
        state = state.replace(grade=channel_registry.ratings_grade(self, state))  # ratings, month 0
        return self._ratios_rwa(state)[0]

    # ------------------------------------------------------------------ inspection
    def agent(self, name: str) -> SectorAgent:
        """The member called ``name``; its properties are read-only views of its columns."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no agent named {name!r}; agents: {', '.join(self._by_name)}") from None

    # ------------------------------------------------------------------ helpers for policies and hooks
    def zeros(self, cols: slice) -> Any:
        return self.xp.zeros((self.n_paths, cols.stop - cols.start), dtype=self.xp.float64)

    def sector_params(self, cols: slice) -> AgentParams:
        return self.params.columns(cols)

    def fold(self, point: str, value: Any, *args: Any) -> Any:
        """``value`` passed through the hooks at ``point`` of the channels (on or off)."""
        for hook in self.hooks[point]:
            value = hook(self, value, *args)
        return value

    def fold_state(self, point: str, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """(state, context) passed through the hooks at a state-changing ``point``."""
        for hook in self.hooks[point]:
            s, ctx = hook(self, s, ctx)
        return s, ctx

    def by_sector(self, policy: str, *args: Any) -> Any:
        """Run a sector policy once per sector (Mesa AgentSet groups) and assemble the
        (paths, agents) result in column order."""
        parts = [getattr(cls, policy)(self, cols, *args) for cls, cols in self.sector_groups]
        if isinstance(parts[0], tuple):
            return tuple(self.xp.concat([p[k] for p in parts], axis=1) for k in range(len(parts[0])))
        return self.xp.concat(parts, axis=1)

    def balance(self, s: State) -> dict[str, Any]:
        """Balance sheets of ``s``, remembered for the latest state asked about; the contract
        positions in them (three segment sums over the contracts) are remembered for the latest
        ``(outstanding, c_alive, alive)`` arrays, which most of a month's states share (the arrays
        are never written in place: a phase that changes them makes new ones)."""
        if self._bs is None or self._bs[0] is not s:
            key = (s.outstanding, s.c_alive, s.alive)
            if self._positions is None or any(a is not b for a, b in zip(self._positions[0], key, strict=True)):
                self._positions = (key, accounting.contract_positions(self.xp, self.book, s))
            self._bs = (s, accounting.balance_sheet(self.xp, self.book, s, positions=self._positions[1]))
        return self._bs[1]

    def requirement(self, state: State) -> Any:
        """(paths,) banks' capital requirement this month (with the countercyclical buffer)."""
        rg = self.p.regime
        stress = state.sentiment < STRESS_SENTIMENT * self.p.scenario.sentiment
        return regulation.requirement_in_force(self.xp, rg.capital_requirement, state.ccyb,
                                               rg.release_buffer_in_stress, stress)

    def collateral_value(self, state: State) -> Any:
        """(paths, agents) USD bn: what each agent's GPUs are worth as collateral."""
        rg = self.p.regime
        life = rg.gpu_valuation_life_months or self.p.collateral.valuation_life_months
        vf = collateral.value_factor(self.xp, state.price, state.q, self.params.gpu_life_months, life,
                                     rg.gpu_haircut_floor, state.gpu_vintage)
        vf = self.fold("collateral", vf, state)
        return state.gpu * vf

    def lender_tests(self, state: State) -> Any:
        """(paths, agents) bool: lenders able to lend and refinance this month."""
        return self.fold("lender_tests", state.alive, state)

    def borrower_tests(self, state: State, leverage: bool = True) -> Any:
        """(paths, agents) bool: borrowers that pass the refinancing test this month; with
        ``leverage`` False without its debt / assets part (graded refinancing's roll test, whose
        leverage part is the capacity of :mod:`aisim.kernels.rollover`)."""
        xp = self.xp
        bs = self.balance(state)
        if leverage:
            debt, assets = bs["debt"], bs["assets"]
            # the sponsor guaranteeing an SPV's residual value carries the SPV's debt and assets
            debt, assets = self.leverage_view(state, debt, assets)
            ok = refinancing.borrower_ok(xp, self.params, state.alive, state.equity, assets, debt)
        else:
            ok = rollover.borrower_ok(xp, state.alive, state.equity)
        return self.fold("borrower_tests", ok, state, bs)

    def roll_borrowers(self, state: State) -> Any:
        """(paths, agents) bool: borrowers whose maturing bullets may be rolled this month (the
        refinancing test; with channel ``graded_refinancing`` on, without its leverage part)."""
        return self.borrower_tests(state, leverage=not self.cfg.channels.graded_refinancing)

    def leverage_view(self, state: State, debt: Any, assets: Any) -> tuple[Any, Any]:
        """(debt, assets) (paths, agents) of the leverage tests (refinancing, capex headroom): the
        sponsors' view of :meth:`consolidated`, and with channel ``jv_debt`` on the JV debt and the
        assets it financed left out (off balance sheet, :mod:`aisim.kernels.jv_debt`) unless the
        regime's ``spv_consolidation`` consolidates it, and with channel ``contract_base`` on the
        debt a seller's offtakes support left out with the assets it financed
        (:mod:`aisim.kernels.contract_base`).

        Remembered for the latest (state, debt, assets, params) asked about, by identity: the
        refinancing test and the capex headroom ask about the same ones each month, and with
        ``contract_base`` on each answer values every offtake."""
        key = (state, debt, assets, self.params)
        if self._lv is not None and all(a is b for a, b in zip(self._lv[0], key, strict=True)):
            return self._lv[1]
        view = self._leverage_view(state, debt, assets)
        self._lv = (key, view)
        return view

    def _leverage_view(self, state: State, debt: Any, assets: Any) -> tuple[Any, Any]:
        debt, assets = self.consolidated(state, debt, assets)
        if self.has_jv and not self.p.regime.spv_consolidation:  # config constants
            xp = self.xp
            jv, _ = accounting.from_payers(xp, self.book, xp.where(state.c_alive & self.jv_mask[None, :],
                                                                   state.outstanding, 0.0))
            debt, assets = jv_debt.off_balance(xp, debt, assets, jv)
        return self.fold("leverage_view", (debt, assets), state)  # contract_base

    def consolidated(self, state: State, debt: Any, assets: Any) -> tuple[Any, Any]:
        """(debt, assets) (paths, agents) as lenders to a sponsor see them: under the regime's
        ``spv_consolidation``, each SPV's debt and assets added to the sponsor guaranteeing its
        residual value, the SPV's real assets marked to the compute market each month with channel
        ``spv_marks`` on (:mod:`aisim.kernels.guarantees`), at book with it off; unchanged otherwise."""
        if not self.p.regime.spv_consolidation:  # a config constant
            return debt, assets
        xp = self.xp
        if self.cfg.channels.spv_marks:
            value = guarantees.mark(xp, state.price, state.q, state.gpu_vintage, self.p.spv_marks.rent_share)
            debt, assets, _ = guarantees.consolidate(xp, self.book, state.c_alive, debt, assets, state.gpu, value)
            return debt, assets
        return refinancing.consolidate_spvs(xp, self.book, state.c_alive, debt, assets)

    def _ratios_rwa(self, state: State) -> tuple[State, Any]:
        """The state with banks' capital and leverage ratios, and the RWA behind them."""
        xp = self.xp
        bs = self.balance(state)
        rwa = regulation.risk_weighted_assets(xp, self.book, state, bs["stakes"], self.p.regime.risk_weights,
                                              channel_registry.loan_risk_weights(self, state))
        p = self.params
        return state.replace(
            capital_ratio=regulation.capital_ratio(xp, p.is_bank, state.alive, state.equity, rwa),
            leverage_ratio=regulation.leverage_ratio(xp, p.is_bank, state.alive, state.equity, bs["assets"]),
        ), rwa

    def sell_loans_and_remeasure(self, s: State, sell: Any) -> State:
        """Banks sell ``sell`` (paths, agents) of loans at the loan market's haircut; ratios again."""
        xp = self.xp
        if self.shortcuts and not bool(xp.any(sell > 0)):
            return s  # exact: selling nothing changes nothing
        s = ledger.sell_to_external(xp, s, "other_assets", sell, self.p.market.loan_sale_haircut)
        return self._ratios_rwa(s.replace(forced_sales=s.forced_sales + xp.sum(sell, axis=1)))[0]

    def credit_offer(self, state: State, healthy: Any) -> Any:
        """(paths, agents) USD bn of new lending each lender offers this month."""
        return self.fold("credit_offer", self.by_sector("credit_offer", state, healthy), state)

    def lend(self, state: State, need: Any, healthy: Any, offer: Any = None) -> tuple[Any, Any, Any]:
        """Allocate new lending over the facilities: (amount (paths, facilities), borrowed and
        lent (paths, agents)); ``offer`` (:meth:`credit_offer`) computed when None."""
        xp = self.xp
        offer = self.credit_offer(state, healthy) if offer is None else offer
        amount, _, _ = investment.allocate_loans(xp, need, offer, self.facility_borrower, self.facility_lender,
                                                 self.world.n_agents)
        amount = self.fold("allocation", amount, state)
        n = self.world.n_agents
        return amount, segment_sum(xp, amount, self.facility_borrower, n), segment_sum(xp, amount,
                                                                                       self.facility_lender, n)

    def offtake_scale(self, s: State) -> Any:
        """(paths, agents) each buyer's renegotiated share of its offtake payments with channel
        ``renegotiation`` on (:mod:`aisim.kernels.renegotiation`), None with it off."""
        return s.offtake_scale if self.cfg.channels.renegotiation else None

    def offtake_monthly(self, s: State) -> Any:
        """(1 or paths, contracts) USD bn / month: leases' and offtakes' payments, each offtake at
        its buyer's renegotiated share (the book's payments with channel ``renegotiation`` off)."""
        return renegotiation.scaled_monthly(self.xp, self.book, self.offtake_scale(s))

    def raise_room(self, s: State) -> Any:
        """(paths, agents) USD bn of new equity each agent could raise this month."""
        room = funding.raise_room(self.xp, self.params, s.sentiment, self.schedule.raise_open[s.month])
        return self.fold("raise_room", room, s)

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        """One month: the phases of :data:`PHASES` in order (:func:`run_month`)."""
        self.state, self.context = run_month(self, self.state)

    def phase_macro(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """AI demand, GPU rental price, base rate, expectations and the scenario's indices."""
        xp, t, sc = self.xp, s.month, self.schedule

        def z(stream: int) -> Any:
            return rng.normal(xp, self.seed, self.path_index, t, stream, 1)[:, 0]

        d, pr, r, ed, ep = macro.step_macro(xp, s.demand, s.price, s.base_rate, s.exp_demand, s.exp_price,
                                            sc.macro[t], z(rng.STREAMS["demand"]), z(rng.STREAMS["price"]),
                                            z(rng.STREAMS["rate"]))
        index = sc.step_indices(s.index, t, z)
        self.params = sc.loaded_params(self.base_params, index)
        rate = contracts.current_rate(xp, self.book, r + s.market_spread)
        rate = xp.where((self.book.kind == LOAN)[None, :], rate, s.rate)
        ctx = ctx.replace(equity_start=s.equity, loss_start=xp.sum(s.credit_loss, axis=1),
                          loans_start=xp.sum(xp.where((self.book.kind == LOAN)[None, :] & s.c_alive,
                                                      s.outstanding, 0.0), axis=1))
        s = s.replace(demand=d, price=pr, base_rate=r, exp_demand=ed, exp_price=ep, rate=rate, index=index)
        return self.fold_state("macro", s, ctx)

    def phase_operations(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Revenue from outside (AI and non-AI), securities income, depreciation."""
        xp, p = self.xp, self.params
        active = contracts.active_mask(xp, self.book, s)
        committed = operations.committed_capacity(xp, self.book, s.alive, active, p, self.offtake_monthly(s))
        terms = self.fold("spot_terms", None, s, committed)  # None: the exogenous price index
        spot, unsold = self.by_sector("spot_sales", s, committed, terms)
        ai, non_ai = operations.external_revenue(xp, p, s.demand, spot)
        ai = xp.where(s.alive, ai, 0.0)
        income = ai + xp.where(s.alive, non_ai, 0.0) + s.securities * (s.base_rate[:, None] / 12.0)
        s = ledger.depreciate(ledger.receive_external(xp, s, income), operations.depreciation(xp, p, s.gpu))
        return s, ctx.replace(ai_revenue=ai, unsold=xp.where(s.alive, unsold, 0.0))

    def phase_investment(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Capex plans financed by cash, new loans and new equity; chipmakers' sales."""
        xp, p = self.xp, self.params
        plan = self.fold("capex_plan", self.by_sector("plan_capex", s), s)
        s, ctx = self.fold_state("orders", s, ctx.replace(plan=plan))  # committed deliveries raise the plan
        plan = ctx.plan
        internal = xp.minimum(plan, investment.spare_cash(xp, p, s.cash))
        need = xp.where(self.borrower_tests(s), plan - internal, 0.0)
        need = self.fold("capex_need", need, s)
        cap = self.p.regime.gpu_ltv_cap
        if cap > 0:  # new GPU-backed lending only up to the regime's loan-to-value cap
            secured = s.c_alive & ((self.book.kind == LOAN) & self.book.secured)[None, :]
            sec_debt, _ = accounting.from_payers(xp, self.book, xp.where(secured, s.outstanding, 0.0))
            after = collateral.add_vintage(xp, s.gpu, s.gpu_vintage, plan, s.price, self.p.collateral.vintage_share)
            room = xp.maximum(cap * self.collateral_value(s.replace(gpu=s.gpu + plan, gpu_vintage=after))
                              - sec_debt, 0.0)
            need = xp.where(self.secured_borrower[None, :], xp.minimum(need, room), need)
        l_ok = self.lender_tests(s)
        offer = self.credit_offer(s, l_ok)
        amount, borrowed, lent = self.lend(s, need, l_ok, offer)
        room = self.raise_room(s)
        # liquidity first: the room restores the cash buffer before discretionary capex (deliveries due first)
        gap = xp.maximum(per_agent(p.cash_buffer) - s.cash, 0.0)
        due = 0.0 if ctx.committed is None else ctx.committed - internal - borrowed
        raised = funding.capex_equity(xp, plan - internal - borrowed, room, gap, due)
        raised = xp.where(s.alive & (plan > 0), raised, 0.0)
        if self.has_jv:  # jv_debt: the JV part of the outside capital is lent by the funds
            jp = self.p.jv
            want = jv_debt.split(xp, self.jv_sponsor, raised, jp.debt_share)
            supply = jv_debt.remaining_supply(xp, p.is_fund, offer, lent)
            jv_amount, jv_b, jv_l = investment.allocate_loans(xp, want, supply, self.jv_borrower, self.jv_lender,
                                                              self.world.n_agents)
            room = jv_debt.equity_room(xp, self.jv_sponsor, room, jp.debt_share)
            raised = funding.capex_equity(xp, plan - internal - borrowed - jv_b, room, gap, due - jv_b)
            raised = xp.where(s.alive & (plan > 0), raised, 0.0)
            borrowed = borrowed + jv_b  # debt-financed capex: the sponsor's GPUs and JV debt rise together
        notes = self.fold("notes", None, s, plan, internal + borrowed + raised, borrowed, raised)  # note_issuance
        if notes is not None:
            s = ledger.issue_notes(xp, s, self.notes_mask, self.notes_payer, notes)
            borrowed = borrowed + notes  # debt-financed capex: the issuer's GPUs and notes rise together
        if self.has_jv:  # posted after the notes' leverage room, which counts this month's new debt in ``borrowed``
            s = s.replace(cash=s.cash - jv_l, outstanding=jv_debt.post(xp, s.outstanding, self.jv_contract, jv_amount),
                          credit_supply=s.credit_supply + xp.sum(jv_amount, axis=1))
        capex = internal + borrowed + raised
        unpaid, financed = None, capex
        if ctx.committed is not None:  # deliveries the financing left unpaid: the rest of the cash, then securities
            from_cash, from_sec, unpaid = capex_orders.pay_shortfall(xp, ctx.committed, capex, s.cash - internal,
                                                                     s.securities)
            s = ledger.sell_securities(xp, s, from_sec)
            internal, capex = internal + from_cash + from_sec, capex + from_cash + from_sec
        chip, to_ext = investment.chip_revenue(xp, p, s.alive, xp.sum(capex, axis=1))
        cogs = chip * per_agent(p.cost_share)
        s = s.replace(gpu_vintage=collateral.add_vintage(xp, s.gpu, s.gpu_vintage, capex, s.price,
                                                         self.p.collateral.vintage_share))
        s = ledger.invest(xp, s, internal, raised, capex)
        s = ledger.lend(xp, s, self.world.n_calibrated, amount, lent)  # borrowed cash is spent at once
        s = ledger.pay_external(xp, ledger.sell_gpus(s, chip, to_ext), cogs)
        ctx = ctx.replace(plan=plan, raised=raised, capex=capex, room=room - raised, unpaid_orders=unpaid,
                          financed=financed, gpu_sales=chip)
        return self.fold_state("after_investment", s, ctx)  # new GPU orders

    def phase_financing(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Equity raises to restore buffers and payouts; then the channels' (fund runs)."""
        xp, p = self.xp, self.params
        raised = funding.equity_raise(xp, p, s.alive, s.cash, ctx.room)
        paid = funding.payouts(xp, p, s.alive, s.cash + raised)
        s = ledger.pay_external(xp, ledger.receive_external(xp, s, raised), paid)
        ctx = ctx.replace(funding_flows=ctx.raised + raised - paid, breach=xp.zeros_like(s.alive))
        ctx = ctx.replace(issued=ctx.raised + raised)  # equity_pricing
        return self.fold_state("financing", s, ctx)

    def phase_settlement(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Refinancing; contract flows and costs cleared together; then margin calls."""
        xp, book = self.xp, self.book
        b_ok, l_ok = self.roll_borrowers(s), self.lender_tests(s)
        ok = refinancing.refinance_ok(xp, book, b_ok, l_ok, s.alive)
        dues = contracts.scheduled_dues(xp, book, s, ctx.unsold, s.gpu, ok, self.offtake_monthly(s))
        dues = self.fold("dues", dues, s)
        # a maturing bullet its own lender will not roll: other lenders refinance it, pro rata
        need = self.fold("refinance_need", refinancing.refused_bullets(xp, book, dues, b_ok), s, dues)
        if not self.shortcuts or bool(xp.any(need > 0)):
            amount, borrowed, lent = self.lend(s, need, l_ok)
            s = ledger.lend(xp, s, self.world.n_calibrated, amount, lent, borrowed)
        contracted, costs = self._contracted_costs(s, ctx, dues)
        if self.hooks["renegotiation"]:  # distressed buyers' offtakes cut before they are settled
            s, dues = self.fold("renegotiation", (s, dues), costs, contracted)
            contracted, costs = self._contracted_costs(s, ctx, dues)
        opts = self.fold("settle_options", {"greatest": False, "alpha": 1.0, "beta": 1.0}, s)
        st = settlement.settle(xp, book, s.alive, s.cash, s.securities, dues, costs, shortcuts=self.shortcuts,
                               **opts)
        s = settlement.post(xp, book, s, st, dues, self.p.investment.refinance_term)
        illiquid = st.illiquid
        if ctx.unpaid_orders is not None:  # a delivery it could not pay is a payment default too
            illiquid = illiquid | (s.alive & (ctx.unpaid_orders > capex_orders.UNPAID_TOL))
        ctx = ctx.replace(dues=dues, illiquid=illiquid, paid=st.paid)
        return self.fold_state("after_settlement", s, ctx)

    def _contracted_costs(self, s: State, ctx: MonthContext, dues: Any) -> tuple[Any, Any]:
        """(paths, agents) contracted revenue due to each agent this month and its operating costs."""
        xp = self.xp
        contracted, _ = accounting.to_payees(xp, self.book, s.alive, dues.payment)
        costs = operations.operating_costs(xp, self.params, ctx.ai_revenue, contracted)
        return contracted, xp.where(s.alive, self.fold("costs", costs, s, ctx.ai_revenue + contracted), 0.0)

    def phase_resolution(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Defaults (illiquid, covenant breach, insolvent), fire sales and recoveries, in rounds
        until no creditor is pushed under (at most one round per agent); then the channels'
        (asset facilities' sweeps, write-offs and draws)."""
        xp, book, inv = self.xp, self.book, self.p.investment
        illiquid, breach = ctx.illiquid, ctx.breach
        month_new = xp.zeros_like(s.alive)
        opts = self.fold("resolve_options", {"contagion": True}, s)
        start = s
        for _ in range(self.world.n_agents + 1):
            ins = resolution.insolvent(xp, s, self.balance(s)["assets"])
            new = s.alive & (illiquid | breach | ins)
            if self.shortcuts and not bool(xp.any(new)):
                break  # exact: a round with no new default changes nothing
            vf = self.collateral_value(s.replace(gpu=xp.ones_like(s.gpu)))  # value per USD of book
            q_after, price, discount = self.fold("liquidation", None, s, new, vf)
            res = resolution.resolve(xp, book, s, new, resolution.default_cause(xp, illiquid, breach, ins),
                                     price, inv.recovery_other, **opts)
            s = res.state.replace(q=q_after, fire_sale_loss=res.state.fire_sale_loss + discount,
                                  stake_loss=res.state.stake_loss + res.stake_loss)
            month_new = month_new | new
            illiquid, breach = xp.zeros_like(illiquid), xp.zeros_like(breach)
        return self.fold_state("after_resolution", s, ctx.replace(new_defaults=month_new, resolution_start=start))

    def phase_regulation(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Banks' non-AI books (channel); capital and leverage ratios; deleveraging below the requirement."""
        s = channel_registry.ratings_migrate(self, s)  # month-end ratings from the distance to default
        s, ctx = self.fold_state("bank_book", s, ctx)
        s, rwa = self._ratios_rwa(s)
        s = self.fold("regulation", s, rwa)
        rg = self.p.regime  # the countercyclical buffer in force next month: built in calm months, released in stress
        stress = s.sentiment < STRESS_SENTIMENT * self.p.scenario.sentiment
        level = regulation.buffer_step(self.xp, s.ccyb, rg.countercyclical_buffer, rg.buffer_build_months,
                                       rg.release_buffer_in_stress, stress)
        return s.replace(ccyb=level), ctx

    def phase_feedback(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """Stakes marked, spreads and sentiment (channels); each agent's return for the month."""
        xp = self.xp
        s, ctx = self.fold_state("feedback", s, ctx)
        start = ctx.equity_start
        ret = (s.equity - start - ctx.funding_flows) / xp.where(start > 0, start, 1.0)
        return s.replace(last_return=xp.where(s.alive & (start > 0), ret, 0.0)), ctx

    def phase_record(self, s: State, ctx: MonthContext) -> tuple[State, MonthContext]:
        """The month's output metrics (:mod:`aisim.outputs`) and the accounting identities."""
        self.metrics = outputs.month_metrics(self, s, ctx)
        return s, ctx


#: The month, in order: (name, what it does). Declared once; :func:`run_month` walks exactly this.
PHASES = (
    ("macro", "AI demand, GPU rental price, base rate, expectations, scenario indices; the GPU market heals"),
    ("operations", "revenue from outside, depreciation, securities income"),
    ("investment", "capex plans financed by cash, new loans, new equity; chipmakers' sales"),
    ("financing", "equity raises and payouts; fund redemptions and back-leverage triggers"),
    ("settlement", "refinancing; contract flows and costs cleared together; margin calls"),
    ("resolution", "defaults (illiquid, covenant breach, insolvent), fire sales, recoveries; asset facilities"),
    ("regulation", "bank capital and leverage ratios; deleveraging of banks below requirement"),
    ("feedback", "equity stakes marked; spreads and sentiment respond to the month's losses"),
    ("record", "the month's metrics and the accounting identities"),
)
PHASE_NAMES = tuple(name for name, _ in PHASES)


def run_month(model: AIFinanceModel, state: State) -> tuple[State, MonthContext]:
    """Walk :data:`PHASES` once from ``state``: each phase maps (state, context) to the next.

    Returns the state at the start of the next month and the month's context."""
    ctx = MonthContext(month=state.month)
    for name in PHASE_NAMES:
        before = state
        state, ctx = getattr(model, f"phase_{name}")(state, ctx)
        for observe in model.observers:
            observe(name, before, state, ctx)
    return state.replace(month=state.month + 1), ctx


class _RunParams:
    """The run's parameters, converted once from the config: frozen channel parameters by
    config key, and the plain (typed) config groups the month reads."""

    def __init__(self, cfg: Any) -> None:
        for key, cls in ((c.key, c.params) for c in channel_registry.CHANNELS if c.key is not None):
            setattr(self, key, freeze(getattr(cfg, key), cls))
        self.regime = frozen_copy(cfg.regime)
        self.scenario = frozen_copy(cfg.scenario)
        self.investment = frozen_copy(cfg.investment)


def _sector_groups(agents: mesa.agent.AgentSet) -> list[tuple[type[SectorAgent], slice]]:
    """(agent class, its contiguous block of columns) per sector, in column order, from Mesa's
    AgentSet grouped by sector."""
    groups = []
    for _, members in agents.groupby("sector_name"):
        cols = sorted(a.column for a in members)
        groups.append((type(next(iter(members))), slice(cols[0], cols[-1] + 1)))
    return sorted(groups, key=lambda g: g[1].start)
