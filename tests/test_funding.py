"""funding.capex_equity: new equity for capex comes after the deliveries due and the cash buffer."""

from __future__ import annotations

import numpy as np

from aisim.kernels import funding


def _raised(need: float, room: float, gap: float, due: float) -> float:
    a = np.array([[need]])
    return float(funding.capex_equity(np, a, np.array([[room]]), np.array([[gap]]), np.array([[due]]))[0, 0])


def test_at_or_above_the_buffer_capex_takes_the_room() -> None:
    assert _raised(2.0, 1.5, 0.0, 0.0) == 1.5
    assert _raised(1.0, 1.5, 0.0, 0.0) == 1.0


def test_below_the_buffer_the_room_refills_cash_first() -> None:
    # 1.5 of room, 1.0 short of the buffer: 0.5 for discretionary capex, 1.0 left for the financing phase
    assert _raised(2.0, 1.5, 1.0, 0.0) == 0.5
    assert _raised(2.0, 1.5, 2.0, 0.0) == 0.0


def test_deliveries_due_come_before_the_buffer() -> None:
    # 1.2 of deliveries left unpaid by cash and loans are contractual: paid from the room even below the buffer
    assert _raised(2.0, 1.5, 2.0, 1.2) == 1.2
    assert _raised(2.0, 1.5, 2.0, 3.0) == 1.5  # never more than the room
    assert _raised(2.0, 1.5, 0.5, 1.2) == 1.2  # max(room - gap, due) = max(1.0, 1.2)


def test_never_negative() -> None:
    assert _raised(-1.0, 1.5, 0.0, 0.0) == 0.0
    assert _raised(2.0, -0.3, 0.0, -1.0) == 0.0
