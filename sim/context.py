"""The month's context: what one phase hands to the later phases of the same month.

A frozen, typed record in place of an untyped dict. Each phase returns a new context with the
fields it produces filled in (:meth:`MonthContext.replace`); a field read before the phase that
produces it is None. The context of the last completed month stays on the model as
``model.context`` (for observers, the calibration driver and tests).

Shapes: (paths, agents) unless stated; USD bn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class MonthContext:
    """What the phases of one month tell each other.

    macro: equity_start (equity at the month's start), loss_start (paths,) cumulative credit
    losses at the start, loans_start (paths,) loans outstanding at the start.
    operations: ai_revenue (AI revenue from outside), unsold (value of capacity nobody bought,
    the base of backstop draws).
    investment: plan (capex wanted), capex (capex done), raised (equity raised for capex),
    room (equity-raise room left), committed and unpaid_orders (deliveries of ordered GPUs due,
    and what of them went unpaid; None without committed capex).
    financing: funding_flows (equity raised less payouts and redemptions: not a return), breach
    (bool: covenant breaches so far this month).
    settlement: dues (:class:`aisim.kernels.contracts.Dues`, what fell due), illiquid (bool:
    could not pay in full).
    resolution: new_defaults (bool: defaulted this month).
    """

    month: int
    equity_start: Any = None
    loss_start: Any = None
    loans_start: Any = None
    ai_revenue: Any = None
    unsold: Any = None
    plan: Any = None
    capex: Any = None
    raised: Any = None
    room: Any = None
    funding_flows: Any = None
    breach: Any = None
    dues: Any = None
    illiquid: Any = None
    new_defaults: Any = None
    issued: Any = None  # financing: new equity issued this month, for capex and buffers (equity_pricing)
    wanted: Any = None  # investment: capex planned before committed deliveries (capex_commitments)
    committed: Any = None  # investment: ordered GPUs arriving this month, USD bn (capex_commitments; None: off)
    financed: Any = None  # investment: capex paid from spare cash, new loans and new equity (before liquidity)
    unpaid_orders: Any = None  # investment: of those, what the firm could not pay, USD bn (capex_commitments)
    gpu_sales: Any = None  # investment: chipmakers' GPU sales this month, USD bn (agent_timeseries revenue)
    resolution_start: Any = None  # resolution: the State before the month's defaults were wound up (asset_facilities)
    paid: Any = None  # settlement: (paths, contracts) what each contract paid, USD bn (agent_timeseries revenue)

    def replace(self, **changes: Any) -> MonthContext:
        return replace(self, **changes)
