"""From a calibration config to arrays: agents in sector order, parameters, the contract book.

Agents are ordered by sector (the order of :data:`aisim.schema.SECTORS`), so every sector is a
contiguous block of columns and a sector's policy reads and writes one slice. The book holds the
calibrated contracts followed by one revolving capex facility per (compute provider, lender)
pair, through which new investment loans are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from aisim.kernels import syndicates
from aisim.kernels.state import (
    BEHAVIOUR_FIELDS,
    BULLET,
    EQUITY,
    KIND_NAMES,
    LINEAR,
    LOAN,
    NEVER,
    REVOLVING,
    AgentParams,
    Book,
)
from aisim.schema import COMPUTE_SECTORS, EXTERNAL, SECTORS, CovenantConfig, RegimeConfig
from aisim.sectors import BY_NAME

PARAM_FIELDS = BEHAVIOUR_FIELDS  # declared once, as the fields of AgentParams
BALANCE_FIELDS = ("cash", "securities", "gpu", "other_assets", "other_liabilities")


@dataclass
class World:
    """Host-side (NumPy) description of the agents and contracts, independent of paths."""

    names: list[str]
    sectors: list[str]
    entities: list[Any]  # the EntityConfig of each column
    blocks: dict[str, slice]  # sector -> its columns
    params: dict[str, np.ndarray]  # (agents,) arrays
    balance: dict[str, np.ndarray]  # (agents,) starting balance sheet
    contracts: dict[str, np.ndarray]  # (contracts,) arrays, book terms
    contract_names: list[str]
    n_calibrated: int  # contracts before the capex facilities
    facility_borrower: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    facility_lender: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    notes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # notes contracts (notes_market)
    jv: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # JV debt contracts (jv_debt)

    @property
    def n_agents(self) -> int:
        return len(self.names)

    @property
    def n_contracts(self) -> int:
        return len(self.contract_names)

    def column(self, name: str) -> int:
        return self.names.index(name)

    @property
    def n_pairs(self) -> int:
        return int(self.facility_borrower.shape[0])

    def book(self, xp: ModuleType) -> Book:
        c = self.contracts
        return Book(n_agents=self.n_agents, n_pairs=self.n_pairs, **{k: xp.asarray(v) for k, v in c.items()})

    def trait_block(self, trait: str) -> slice | None:
        """The columns of the sectors with ``trait`` as one slice (sectors are contiguous and in
        registry order), or None when no agent has it."""
        cols = [i for i, s in enumerate(self.sectors) if getattr(BY_NAME[s], trait)]
        if not cols:
            return None
        if cols != list(range(cols[0], cols[-1] + 1)):
            raise ValueError(f"sectors with trait {trait!r} are not adjacent in aisim.sectors.SECTORS")
        return slice(cols[0], cols[-1] + 1)

    def trait_mask(self, xp: ModuleType, trait: str) -> Any:
        """(agents,) bool: members of sectors with ``trait`` (a field of :class:`aisim.sectors.Sector`)."""
        return xp.asarray(np.array([bool(getattr(BY_NAME[s], trait)) for s in self.sectors], dtype=bool))

    def agent_params(self, xp: ModuleType) -> AgentParams:
        sector_code = np.array([SECTORS.index(s) for s in self.sectors], dtype=np.int64)
        arrays = {k: xp.asarray(v) for k, v in self.params.items()}
        return AgentParams(
            sector=xp.asarray(sector_code),
            is_bank=self.trait_mask(xp, "bank"),
            is_chipmaker=self.trait_mask(xp, "chipmaker"),
            is_fund=self.trait_mask(xp, "fund"),
            is_ai=self.trait_mask(xp, "ai"),
            **arrays,
        )


def notes_issuers(sectors: list[str], params: dict[str, np.ndarray]) -> list[int]:
    """Columns of the agents with a notes contract: compute providers with capex and a market_cap."""
    return [i for i, s in enumerate(sectors)
            if s in COMPUTE_SECTORS and params["capex"][i] > 0 and params["market_cap"][i] > 0]


def jv_terms(cfg: Any) -> Any:
    """The JV debt terms (``cfg.jv``) with the channel ``jv_debt`` on, None (no JV contracts) off."""
    on = bool(getattr(getattr(cfg, "channels", None), "jv_debt", False))
    return cfg.jv if on else None


def jv_pairs(sectors: list[str], params: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """(sponsor, fund) columns of the JV debt contracts: every hyperscaler with capex and outside
    capital (``equity_raise > 0``) with every private-credit fund that lends (``lend_rate > 0``)."""
    sponsors = [i for i, s in enumerate(sectors)
                if s == "hyperscaler" and params["capex"][i] > 0 and params["equity_raise"][i] > 0]
    funds = [i for i, s in enumerate(sectors) if BY_NAME[s].fund and params["lend_rate"][i] > 0]
    return [(h, f) for h in sponsors for f in funds]


def syndicate_size(cfg: Any) -> int:
    """Lenders per borrower's syndicate of capex facilities: ``syndicate.size`` with the channel
    ``relationship_lending`` on, 0 (every lender) with it off or absent."""
    on = bool(getattr(getattr(cfg, "channels", None), "relationship_lending", False))
    return int(cfg.syndicate.size) if on else 0


def build_world(
    calibration: Any, investment: Any, offtake_exits: dict | None = None, *, regime: Any = None,
    covenants: Any = None, syndicate: int = 0, jv: Any = None,
) -> World:
    """Build the :class:`World` of a (validated) calibration config.

    regime and covenants (defaults: the schema's) set the loans' risk weights and covenant limits.
    syndicate: lenders per borrower (:mod:`aisim.kernels.syndicates`); 0 = every lender.
    jv: the JV debt terms (:class:`aisim.kernels.jv_debt.JvParams`, config ``jv``) to add one JV
    loan per (hyperscaler, private-credit fund) pair (:func:`jv_terms`); None adds none.
    """
    regime = regime if regime is not None else RegimeConfig(name="default")
    covenants = covenants if covenants is not None else CovenantConfig()
    entities = sorted(calibration.entities, key=lambda e: SECTORS.index(e.sector))
    names = [e.name for e in entities]
    sectors = [e.sector for e in entities]
    index = {n: i for i, n in enumerate(names)}
    n = len(names)
    blocks = {}
    for s in SECTORS:
        cols = [i for i, x in enumerate(sectors) if x == s]
        blocks[s] = slice(cols[0], cols[-1] + 1) if cols else slice(0, 0)
    params = {k: np.array([float(getattr(e, k)) for e in entities]) for k in PARAM_FIELDS}
    balance = {k: np.array([float(getattr(e, k)) for e in entities]) for k in BALANCE_FIELDS}

    exits = {index[k]: int(v) for k, v in (offtake_exits or {}).items()}
    rows: list[dict[str, Any]] = []
    cnames: list[str] = []
    for c in calibration.contracts:
        payer = n if c.payer == EXTERNAL else index[c.payer]
        rows.append(dict(
            kind=KIND_NAMES.index(c.kind), payer=payer,
            payee=n if c.payee == EXTERNAL else index[c.payee],
            amount=float(c.amount), monthly=float(c.monthly), rate=float(c.rate),
            floating=bool(c.floating), maturity=int(c.maturity) if c.kind != "equity" else NEVER,
            amort=REVOLVING if c.facility == "asset" else BULLET if c.amortisation == "bullet" else LINEAR,
            start=int(c.start), asset_line=c.facility == "asset",
            share=float(c.share), secured=bool(c.secured), refinance=bool(c.refinance),
            exit_month=exits.get(payer, NEVER) if c.kind == "offtake" else NEVER,
            ltv_max=float(c.ltv_max) if c.ltv_max > 0 else float(covenants.ltv_max),
        ))
        cnames.append(c.name)
    # notes_market: one notes contract with bondholders (external) per compute provider with a
    # market value, empty at the start (aisim.kernels.notes_market; inert with note_issuance off)
    notes = []
    for i in notes_issuers(sectors, params):
        notes.append(len(rows))
        rows.append(dict(
            kind=LOAN, payer=i, payee=n, amount=0.0, monthly=0.0, rate=float(params["spread"][i]), floating=True,
            maturity=int(investment.notes_term), amort=REVOLVING, start=0, share=0.0, asset_line=False,
            secured=False, refinance=False, exit_month=NEVER, ltv_max=float(covenants.ltv_max),
        ))
        cnames.append(f"notes {names[i]}")
    # jv_debt: one JV/SPV loan per (sponsor, fund), empty at the start: a long-dated bullet,
    # floating at the sponsor's spread + the JV premium (aisim.kernels.jv_debt)
    jv_rows = []
    if jv is not None:
        for h, f in jv_pairs(sectors, params):
            jv_rows.append(len(rows))
            rows.append(dict(
                kind=LOAN, payer=h, payee=f, amount=0.0, monthly=0.0, rate=float(params["spread"][h] + jv.premium),
                floating=True, maturity=int(jv.term_months), amort=BULLET, start=0, share=0.0, asset_line=False,
                secured=False, refinance=False, exit_month=NEVER, ltv_max=float(covenants.ltv_max),
            ))
            cnames.append(f"jv debt {names[h]} <- {names[f]}")
    n_cal = len(rows)
    # capex facilities for investors, and for every borrower of a calibrated loan so that it
    # can refinance from other lenders when its own will not roll. Neoclouds borrow against their
    # GPUs (secured, with LTV covenants); hyperscalers and the rest borrow unsecured.
    investors = {i for i, s in enumerate(sectors) if s in COMPUTE_SECTORS and params["capex"][i] > 0}
    debtors = {r["payer"] for r in rows if r["kind"] == LOAN and r["payer"] < n}
    borrowers = sorted(investors | debtors)
    lenders = [i for i in range(n) if params["lend_rate"][i] > 0]
    # relationship lending: each borrower's syndicate (every lender when syndicate == 0)
    loan_rows = [r for k, r in enumerate(rows) if r["kind"] == LOAN and k not in jv_rows]  # JV loans start empty
    related = {(r["payer"], r["payee"]) for r in loan_rows}
    rel = np.array([[(b, lnd) in related for lnd in lenders] for b in borrowers], dtype=bool).reshape(
        len(borrowers), len(lenders))
    own = balance["cash"] + balance["securities"] + balance["gpu"] + balance["other_assets"]
    size = syndicates.lender_sizes(n, own, np.array([r["payee"] for r in loan_rows], dtype=np.int64),
                                   np.array([r["amount"] for r in loan_rows]), np.array(lenders, dtype=np.int64))
    pick_b, pick_l = syndicates.choose(np.array(borrowers, dtype=np.int64), np.array(lenders, dtype=np.int64),
                                       size, rel, int(syndicate))
    fb, fl = [], []
    for b, lnd in zip(pick_b.tolist(), pick_l.tolist(), strict=True):
        rows.append(dict(
            kind=LOAN, payer=b, payee=lnd, amount=0.0, monthly=0.0,
            rate=float(params["spread"][b]), floating=True, maturity=int(investment.loan_term),
            amort=REVOLVING, start=0, share=0.0, secured=BY_NAME[sectors[b]].secured_facilities, asset_line=False,
            refinance=False, exit_month=NEVER, ltv_max=float(covenants.ltv_max),
        ))
        cnames.append(f"capex facility {names[b]} <- {names[lnd]}")
        fb.append(b)
        fl.append(lnd)
    pair_of = {(b, lnd): k for k, (b, lnd) in enumerate(zip(fb, fl, strict=True))}
    rw = regime.risk_weights
    for r in rows:
        payer_sector = sectors[r["payer"]] if r["payer"] < n else EXTERNAL
        payee_sector = sectors[r["payee"]] if r["payee"] < n else EXTERNAL
        risk_class = BY_NAME[payer_sector].risk_class if payer_sector in BY_NAME else "other"
        r["risk_weight"] = float(getattr(rw, "other_assets" if risk_class == "other" else f"{risk_class}_loans"))
        fund_payer = payer_sector in BY_NAME and BY_NAME[payer_sector].fund
        bank_payee = payee_sector in BY_NAME and BY_NAME[payee_sector].bank
        r["nav_line"] = bool(r["kind"] == LOAN and fund_payer and bank_payee and not r["asset_line"])
        r["pair"] = pair_of.get((r["payer"], r["payee"]), len(fb)) if r["kind"] == LOAN else len(fb)
    dtypes = dict(kind=np.int64, payer=np.int64, payee=np.int64, amount=float, monthly=float,
                  rate=float, floating=bool, maturity=np.int64, amort=np.int64, start=np.int64,
                  share=float, secured=bool, refinance=bool, exit_month=np.int64, ltv_max=float,
                  risk_weight=float, nav_line=bool, pair=np.int64, asset_line=bool)
    contracts = {k: np.array([r[k] for r in rows], dtype=t).reshape(len(rows)) for k, t in dtypes.items()}
    return World(
        names=names, sectors=sectors, entities=entities, blocks=blocks, params=params,
        balance=balance, contracts=contracts, contract_names=cnames, n_calibrated=n_cal,
        facility_borrower=np.array(fb, dtype=np.int64), facility_lender=np.array(fl, dtype=np.int64),
        notes=np.array(notes, dtype=np.int64), jv=np.array(jv_rows, dtype=np.int64),
    )


def initial_stake_marks(world: World) -> np.ndarray:
    """(contracts,) starting marks of equity stakes: share x the investee's book equity,
    measured before its own stakes (a one-pass start, consistent with the lagged monthly marks)."""
    c = world.contracts
    b = world.balance
    n = world.n_agents
    assets = b["cash"] + b["securities"] + b["gpu"] + b["other_assets"]
    loans = c["kind"] == LOAN
    held = np.bincount(c["payee"][loans], weights=c["amount"][loans], minlength=n + 1)[:n]
    owed = np.bincount(c["payer"][loans], weights=c["amount"][loans], minlength=n + 1)[:n]
    equity = assets + held - b["other_liabilities"] - owed
    marks = np.zeros(world.n_contracts)
    stake = c["kind"] == EQUITY
    marks[stake] = c["share"][stake] * np.maximum(equity[np.minimum(c["payer"][stake], n - 1)], 0.0)
    return marks
