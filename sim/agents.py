"""Mesa agents: one class per sector. They carry identity and behaviour, never balance sheets.

Each agent knows its name, sector, column and behavioural parameters; its balance sheet lives in
the model's arrays and is exposed read-only (``agent.cash`` is that column across paths, a
read-only NumPy copy). A sector's policies are class methods that run once for all its members
over all paths, on the contiguous block of columns the sector occupies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import mesa
import numpy as np

from aisim.kernels import investment, operations
from aisim.kernels.backend import to_numpy
from aisim.kernels.state import per_agent

if TYPE_CHECKING:
    from aisim.model import AIFinanceModel


class SectorAgent(mesa.Agent):
    """An agent of a sector with no behaviour of its own (the base of the others).

    Attributes: name, column (its column in every (paths, agents) array), sector_name, params
    (its :class:`aisim.schema.EntityConfig`). Policies are class methods ``(model, cols, s,
    ...)`` returning (paths, len(cols)) arrays for the block of columns ``cols`` of one sector,
    over all paths, from the state ``s``; the model runs each once per sector, through Mesa's
    AgentSet grouped by sector.
    """

    sector: ClassVar[str] = ""

    def __init__(self, model: AIFinanceModel, name: str, column: int, params: Any) -> None:
        super().__init__(model)
        self.name = name
        self.column = column
        self.sector_name = params.sector
        self.params = params  # the EntityConfig: behavioural parameters and sources

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, column={self.column})"

    def _column(self, field: str) -> np.ndarray:
        arr = to_numpy(getattr(self.model.state, field)[:, self.column]).copy()
        arr.flags.writeable = False
        return arr

    cash = property(lambda self: self._column("cash"), doc="(paths,) USD bn")
    securities = property(lambda self: self._column("securities"), doc="(paths,) USD bn")
    gpu = property(lambda self: self._column("gpu"), doc="(paths,) USD bn, GPU book value")
    other_assets = property(lambda self: self._column("other_assets"), doc="(paths,) USD bn")
    other_liabilities = property(lambda self: self._column("other_liab"), doc="(paths,) USD bn")
    equity = property(lambda self: self._column("equity"), doc="(paths,) USD bn")
    alive = property(lambda self: self._column("alive"), doc="(paths,) bool")
    default_month = property(lambda self: self._column("default_month"), doc="(paths,) -1 if alive")
    default_cause = property(lambda self: self._column("default_cause"), doc="(paths,) int cause code, 0 if alive")

    # ---- sector policies: (model, cols, s, ...) -> (paths, len(cols)) arrays ----------------
    @classmethod
    def spot_sales(cls, model: AIFinanceModel, cols: slice, s: Any, committed: Any,
                   terms: Any = None) -> tuple[Any, Any]:
        """(spot revenue, unsold capacity value); only compute providers sell capacity. terms:
        None, or (price, utilisation) (paths, agents) from the compute market channel."""
        z = model.zeros(cols)
        return z, z

    @classmethod
    def plan_capex(cls, model: AIFinanceModel, cols: slice, s: Any) -> Any:
        """GPU capex this sector wants this month; only compute providers invest."""
        return model.zeros(cols)

    @classmethod
    def credit_offer(cls, model: AIFinanceModel, cols: slice, s: Any, healthy: Any) -> Any:
        """New AI lending this sector offers this month; only lenders lend."""
        return model.zeros(cols)


class ComputeProvider(SectorAgent):
    """Sells GPU capacity on offtakes and spot, and invests from adaptive expectations."""

    @classmethod
    def spot_sales(cls, model: AIFinanceModel, cols: slice, s: Any, committed: Any,
                   terms: Any = None) -> tuple[Any, Any]:
        if terms is not None:
            return operations.spot_market_at(model.xp, model.sector_params(cols), s.gpu[:, cols],
                                             committed[:, cols], terms[0][:, cols], terms[1][:, cols])
        return operations.spot_market(
            model.xp, model.sector_params(cols), s.gpu[:, cols], committed[:, cols], s.demand, s.price,
        )

    @classmethod
    def plan_capex(cls, model: AIFinanceModel, cols: slice, s: Any) -> Any:
        return investment.planned_capex(
            model.xp, model.sector_params(cols), s.alive[:, cols], s.exp_demand, s.exp_price,
        )


class Lender(SectorAgent):
    """Offers new AI lending: ``lend_rate`` x cash above its buffer, when it passes its tests.

    The buffer is its own ``cash_buffer``, raised by channels at the ``lender_buffer`` hook
    (the regime's liquidity buffer of private-credit funds when fund runs are on)."""

    @classmethod
    def buffer(cls, model: AIFinanceModel, cols: slice, s: Any) -> Any:
        """(paths, members) cash the lender keeps back."""
        own = per_agent(model.sector_params(cols).cash_buffer) + model.zeros(cols)
        return model.fold("lender_buffer", own, s, cols)

    @classmethod
    def credit_offer(cls, model: AIFinanceModel, cols: slice, s: Any, healthy: Any) -> Any:
        p = model.sector_params(cols)
        spare = model.xp.maximum(s.cash[:, cols] - cls.buffer(model, cols, s), 0.0)
        return model.xp.where(healthy[:, cols], per_agent(p.lend_rate) * spare, 0.0)


class Chipmaker(SectorAgent):
    """Sells GPUs: its revenue is the others' capex (by chip share). Holds stakes, writes backstops."""

    sector = "chipmaker"


class Hyperscaler(ComputeProvider):
    """Large non-AI cash flow, AI cloud revenue, capex, offtakes with neoclouds, SPV leases."""

    sector = "hyperscaler"


class Neocloud(ComputeProvider):
    """GPU capacity financed with GPU-backed loans; a few take-or-pay customers plus spot."""

    sector = "neocloud"


class PrivateCreditFund(Lender):
    """Lends to neoclouds and SPVs from LP capital plus bank back-leverage; faces redemptions."""

    sector = "private_credit"


class Bank(Lender):
    """Lends to the sector and to private-credit funds, within its capital requirement."""

    sector = "bank"


#: Sectors whose members have behaviour of their own; any other sector's members are plain
#: :class:`SectorAgent` (AI labs and SPVs act only through their contracts and the kernels).
SECTOR_CLASSES: dict[str, type[SectorAgent]] = {
    c.sector: c for c in (Chipmaker, Hyperscaler, Neocloud, PrivateCreditFund, Bank)
}


def agent_class(sector: str) -> type[SectorAgent]:
    """The agent class of a sector's members (its own, or the behaviour-free base class)."""
    return SECTOR_CLASSES.get(sector, SectorAgent)
