"""The sectors of the AI financing web, each declared once with its traits.

Every list and mask the model, the outputs and the reports use derives from :data:`SECTORS`:
a new sector is one :class:`Sector` line here (plus an agent class in :mod:`aisim.agents` only
if it has behaviour of its own). Agents are laid out in this order, so each sector is one
contiguous block of columns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sector:
    """One sector's traits.

    name: config and output name. compute: sells GPU capacity (spot and offtakes) and invests in
    it from its capex plan. lender: its lending can reach AI borrowers (losses to it count as the
    financial sector's). bank: bound by capital, leverage and large-exposure rules. fund: a
    private-credit vehicle (redemptions, back-leverage lines, leverage cap). ai: an AI company
    (chipmaker, cloud, lab) for risk weights, concentration limits and sentiment. chipmaker:
    sells GPUs to the others' capex. secured_facilities: its capex facilities are secured on its
    GPUs (GPU loan-to-value covenants and caps bind on it). risk_class: which bank risk weight
    applies to loans it owes (``ai``, ``nbfi``, ``spv`` or ``other``, a key of
    ``regime.risk_weights`` without ``_loans``). colour: in figures.
    """

    name: str
    compute: bool = False
    lender: bool = False
    bank: bool = False
    fund: bool = False
    ai: bool = False
    chipmaker: bool = False
    secured_facilities: bool = False
    risk_class: str = "other"
    colour: str = "#7f7f7f"
    doc: str = ""


SECTORS: tuple[Sector, ...] = (
    Sector("chipmaker", ai=True, chipmaker=True, risk_class="ai", colour="#1f77b4",
           doc="sells GPUs: its revenue is the others' capex; holds stakes, writes backstops"),
    Sector("hyperscaler", compute=True, ai=True, risk_class="ai", colour="#ff7f0e",
           doc="large non-AI cash flow, AI cloud revenue, capex, offtakes, SPV leases"),
    Sector("neocloud", compute=True, ai=True, secured_facilities=True, risk_class="ai", colour="#2ca02c",
           doc="GPU capacity financed with GPU-backed loans; take-or-pay customers plus spot"),
    Sector("ai_lab", ai=True, risk_class="ai", colour="#9467bd",
           doc="end-user revenue that grows with AI demand; compute commitments; equity-funded"),
    Sector("private_credit", lender=True, fund=True, risk_class="nbfi", colour="#8c564b",
           doc="lends from LP capital plus bank back-leverage; semi-liquid vehicles face redemptions"),
    Sector("bank", lender=True, bank=True, colour="#d62728",
           doc="lends to all; bound by capital, leverage and large-exposure rules"),
    Sector("spv", risk_class="spv", colour="#7f7f7f",
           doc="bankruptcy-remote owner of data-centre assets, bond-funded, paid by a lease"),
)

BY_NAME: dict[str, Sector] = {s.name: s for s in SECTORS}
NAMES: tuple[str, ...] = tuple(s.name for s in SECTORS)
RISK_CLASSES = ("ai", "nbfi", "spv", "other")


def names_with(trait: str) -> tuple[str, ...]:
    """Names of the sectors that have ``trait`` (a boolean field of :class:`Sector`), in order."""
    return tuple(s.name for s in SECTORS if getattr(s, trait))


def colour(name: str) -> str:
    return BY_NAME[name].colour if name in BY_NAME else "#7f7f7f"
