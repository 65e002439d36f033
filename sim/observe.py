"""The simulation driver of the calibration report: run the model and observe the month's flows.

:func:`simulate_series` runs :class:`aisim.model.AIFinanceModel` unchanged on a number of paths
and returns monthly series (capex by sector, new lending by lender type, equity raised, CoreWeave's
and OpenAI's revenue, capex, debt and burn) that the model's own metrics do not hold: the dynamic
targets of :mod:`aisim.targets` are computed from them.

Everything the driver reads from inside the model is in one section, "model internals" below
(:class:`_Tap`); the series code reads only the :class:`Month` records it yields.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from aisim.kernels import contracts as kcontracts
from aisim.kernels.backend import to_numpy
from aisim.kernels.state import BACKSTOP, LOAN, OFFTAKE
from aisim.model import AIFinanceModel
from aisim.runner import chunk_size, release
from aisim.schema import COMPUTE_SECTORS
from aisim.world import World


def simulate_series(
    cfg: Any, world: World, n_paths: int, xp: ModuleType = np, months: int = 36,
) -> dict[str, np.ndarray]:
    """Run the model on ``n_paths`` paths for ``months`` months; monthly series (months, paths).

    Series (USD bn a month unless stated): ``capex_<sector>``; new capex financing ``lend_bank``,
    ``lend_private_credit`` (Pimco excluded; JV/SPV debt included), ``lend_bonds`` (Pimco, the
    bond-market proxy, its JV/SPV debt, and new notes),
    ``equity_capex`` (equity raised for capex) and ``equity_buffer`` (equity compute providers
    raise to restore their cash); CoreWeave's ``cw_revenue`` (spot + offtakes + backstop draws),
    ``cw_revenue_microsoft``, ``cw_capex``, ``cw_debt`` (outstanding, end of month); OpenAI's
    ``oa_revenue`` and ``oa_burn`` (cash used before equity raises); ``alive`` (months, paths,
    agents) bool. The model runs unchanged (``model.step()``); the investment, financing and
    settlement phases are observed as :class:`_Tap` says. Paths run in chunks sized as the
    runner sizes them, and the horizon is ``months`` whatever ``cfg.horizon`` says.
    """
    if int(cfg.horizon) != months:
        cfg = cfg.copy()
        cfg.horizon = months
    chunk = min(chunk_size(cfg, world), n_paths)
    parts = []
    for a in range(0, n_paths, chunk):
        model = AIFinanceModel(cfg, world, np.arange(a, min(a + chunk, n_paths), dtype=np.int64), xp)
        parts.append(_simulate_chunk(model, world, months))
        release(model)  # free the chunk now (see aisim.runner.release)
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def _col(world: World, name: str) -> int | None:
    return world.names.index(name) if name in world.names else None


def _simulate_chunk(model: AIFinanceModel, world: World, months: int) -> dict[str, np.ndarray]:
    n_cal = world.n_calibrated
    c = world.contracts
    sectors = np.array(world.sectors)
    compute = [i for i, s in enumerate(world.sectors) if s in COMPUTE_SECTORS]
    fac_sector = sectors[world.facility_lender] if world.facility_lender.size else np.zeros(0, dtype=str)
    pimco = _col(world, "Pimco")
    is_bond = world.facility_lender == pimco if pimco is not None else np.zeros(fac_sector.shape, dtype=bool)
    jv_lender = c["payee"][world.jv]
    jv_bond = jv_lender == pimco if pimco is not None else np.zeros(jv_lender.shape, dtype=bool)
    cw, oa, ms = _col(world, "CoreWeave"), _col(world, "OpenAI"), _col(world, "Microsoft")
    rec: dict[str, list[np.ndarray]] = {}

    def put(key: str, v: Any) -> None:
        rec.setdefault(key, []).append(np.array(to_numpy(v), dtype=float if key != "alive" else bool))

    if cw is not None:
        cw_in = np.flatnonzero(((c["kind"] == OFFTAKE) | (c["kind"] == BACKSTOP)) & (c["payee"] == cw))
        cw_ms = cw_in[c["payer"][cw_in] == ms] if ms is not None else cw_in[:0]
        cw_debt = np.flatnonzero((c["kind"] == LOAN) & (c["payer"] == cw))
    tap = _Tap(model)
    for _ in range(months):
        m = tap.step()
        for sector in COMPUTE_SECTORS:
            put(f"capex_{sector}", m.capex[:, world.blocks[sector]].sum(axis=1))
        new = m.outstanding_after_investment[:, n_cal:] - m.outstanding_before_investment[:, n_cal:]
        new = np.maximum(new, 0.0)
        put("lend_bank", new[:, fac_sector == "bank"].sum(axis=1))
        after, before = m.outstanding_after_investment, m.outstanding_before_investment
        # JV/SPV debt lent by the funds (jv_debt): private credit, or bond-market money where Pimco lends it
        jv = np.maximum(after[:, world.jv] - before[:, world.jv], 0.0)
        put("lend_private_credit", new[:, (fac_sector == "private_credit") & ~is_bond].sum(axis=1)
            + jv[:, ~jv_bond].sum(axis=1))
        # new notes sold to bondholders (note_issuance) are bond-market financing too
        notes = np.maximum(after[:, world.notes] - before[:, world.notes], 0.0)
        put("lend_bonds", new[:, is_bond].sum(axis=1) + notes.sum(axis=1) + jv[:, jv_bond].sum(axis=1))
        d_fin = m.cash_after_financing - m.cash_before_financing
        put("equity_capex", m.raised[:, compute].sum(axis=1))
        put("equity_buffer", np.maximum(d_fin[:, compute], 0.0).sum(axis=1))
        alive = m.alive
        put("alive", alive)
        # paid = due, except by payers that could not pay in full (they default this month)
        short = np.concatenate([m.illiquid, np.zeros((alive.shape[0], 1), dtype=bool)], axis=1)
        paid = m.payments_due * ~short[:, c["payer"]]
        ai_rev = m.ai_revenue
        if cw is not None:
            put("cw_revenue", ai_rev[:, cw] + paid[:, cw_in].sum(axis=1))
            put("cw_revenue_microsoft", paid[:, cw_ms].sum(axis=1))
            put("cw_capex", m.capex[:, cw])
            live = m.contract_alive[:, cw_debt]
            put("cw_debt", (m.outstanding[:, cw_debt] * live).sum(axis=1))
        if oa is not None:
            put("oa_revenue", ai_rev[:, oa])
            burn = -((m.cash_end[:, oa] - m.cash_start[:, oa]) - d_fin[:, oa])
            put("oa_burn", np.where(alive[:, oa], burn, 0.0))
    return {k: np.stack(v) for k, v in rec.items()}


# ===================================================================================== model internals
# The only place this driver touches the model beyond constructing it and calling ``step()``: an
# observer (``model.observers``) sees the state around the investment, financing and settlement
# phases (and what the contracts owe before settlement); after the step it reads the month's
# context (``model.context``: capex, raised, ai_revenue, illiquid), ``model.state``, ``model.xp``
# and ``model.book``.


@dataclass(frozen=True)
class Month:
    """One simulated month as the series read it. NumPy arrays; (paths, agents) unless stated,
    USD bn unless stated."""

    cash_start: np.ndarray  # cash at the start of the month
    cash_end: np.ndarray  # cash at the end of the month
    alive: np.ndarray  # bool, at the end of the month
    contract_alive: np.ndarray  # (paths, contracts) bool, at the end of the month
    outstanding: np.ndarray  # (paths, contracts) at the end of the month
    capex: np.ndarray  # capex spent this month
    raised: np.ndarray  # equity raised for capex this month
    ai_revenue: np.ndarray  # AI revenue this month (spot capacity and end users)
    illiquid: np.ndarray  # bool: could not pay this month's dues in full
    outstanding_before_investment: np.ndarray  # (paths, contracts)
    outstanding_after_investment: np.ndarray  # (paths, contracts)
    cash_before_financing: np.ndarray
    cash_after_financing: np.ndarray
    payments_due: np.ndarray  # (paths, contracts) what offtakes and backstops owe (before refinancing)


class _Tap:
    """Observes ``model``'s months through its observer hook: :meth:`step` runs one month
    (``model.step()``, unchanged) and returns what it saw as a :class:`Month`."""

    def __init__(self, model: AIFinanceModel) -> None:
        self.model = model
        self.box: dict[str, Any] = {}
        model.observers.append(self._observe)

    def _observe(self, phase: str, before: Any, after: Any, ctx: Any) -> None:
        if phase in ("investment", "financing"):
            self.box[f"before_{phase}"], self.box[f"after_{phase}"] = before, after
        elif phase == "settlement":
            # what offtakes and backstops owe this month (they do not depend on refinancing)
            model = self.model
            ok = model.xp.ones(before.outstanding.shape, dtype=model.xp.bool)
            self.box["payments_due"] = to_numpy(kcontracts.scheduled_dues(
                model.xp, model.book, before, ctx.unsold, before.gpu, ok).payment)

    def step(self) -> Month:
        model, box = self.model, self.box
        cash_start = to_numpy(model.state.cash).copy()
        model.step()
        s, ctx = model.state, model.context
        sc = {"capex": ctx.capex, "raised": ctx.raised, "ai_revenue": ctx.ai_revenue, "illiquid": ctx.illiquid}
        return Month(
            cash_start=cash_start, cash_end=to_numpy(s.cash), alive=to_numpy(s.alive),
            contract_alive=to_numpy(s.c_alive), outstanding=to_numpy(s.outstanding),
            capex=to_numpy(sc["capex"]), raised=to_numpy(sc["raised"]), ai_revenue=to_numpy(sc["ai_revenue"]),
            illiquid=to_numpy(sc["illiquid"]),
            outstanding_before_investment=to_numpy(box["before_investment"].outstanding),
            outstanding_after_investment=to_numpy(box["after_investment"].outstanding),
            cash_before_financing=to_numpy(box["before_financing"].cash),
            cash_after_financing=to_numpy(box["after_financing"].cash),
            payments_due=box["payments_due"],
        )
