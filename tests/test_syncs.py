"""Host synchronisations: the counting namespace of tests/syncs.py, and a month that has none.

A month fit for a GPU never turns an array value into a Python value: no ``bool(xp.any(...))``
guarding a branch, no ``float(...)``, ``.item()`` or loop whose length depends on array values.
Masks instead, and a solve that runs only where needed is masked per path.
"""

from __future__ import annotations

import numpy as np
import pytest

from aisim.kernels.backend import segment_sum, to_numpy
from aisim.model import AIFinanceModel
from tests.conftest import make_cfg
from tests.syncs import CountingArray, counting_namespace

# ---------------------------------------------------------------- the counter on hand examples


@pytest.fixture
def xp():
    return counting_namespace()


def _count(xp, fn) -> int:
    xp.syncs.reset()
    fn()
    return xp.syncs.count


def test_counts_conversions_to_python(xp) -> None:
    a = xp.asarray(np.array([1.0, -2.0, 3.0]))
    assert _count(xp, lambda: bool(xp.any(a > 0))) == 1
    assert _count(xp, lambda: float(xp.sum(a))) == 1
    assert _count(xp, lambda: int(xp.argmax(a))) == 1
    assert _count(xp, lambda: a[1].item()) == 1
    assert _count(xp, lambda: a.tolist()) == 1
    assert _count(xp, lambda: np.asarray(a)) == 1
    assert _count(xp, lambda: to_numpy(a)) == 1
    assert _count(xp, lambda: 1 if xp.max(a) > 0 else 0) == 1  # an `if` on an array
    assert _count(xp, lambda: list(range(xp.sum(a > 0)))) == 1  # __index__
    assert _count(xp, lambda: f"{a[0]:.2f}") == 1
    assert _count(xp, lambda: [bool(v > 0) for v in a]) == 3  # a loop on values
    assert xp.syncs.kinds == {"bool": 3}


def test_does_not_count_array_operations(xp) -> None:
    a = xp.asarray(np.array([1.0, -2.0, 3.0]))
    i = xp.asarray(np.array([2, 0]))

    def ops():
        b = a + 1
        c = 2.0 * b - np.float64(1.0) * a  # NumPy scalars on the left stay in the namespace
        d = xp.where(c > 0, c, 0.0)
        e = xp.concat([xp.take(d, i), a[xp.argmax(a)][None]])  # indexing with arrays
        f = np.exp(e) + np.sum(a)  # NumPy functions dispatch back here, as with CuPy
        g = xp.linalg.solve(xp.eye(3), a) @ a
        return xp.any(f > g), a.shape, len(a), a.dtype, xp.finfo(a.dtype).eps * a

    assert _count(xp, ops) == 0


def test_results_stay_in_the_namespace(xp) -> None:
    """Reductions and scalar indexing give 0-d namespace arrays, never NumPy scalars (which a
    later conversion would pass uncounted)."""
    a = xp.asarray(np.arange(6.0).reshape(2, 3))
    for r in (xp.any(a > 2), xp.sum(a), a[0, 1], a.max(), np.float64(2.0) * a[0, 0], xp.sum(a, axis=1)):
        assert isinstance(r, CountingArray)
    assert isinstance(xp.sum(a), CountingArray) and xp.sum(a).shape == ()
    assert xp.__name__.split(".")[0] != "numpy"  # so backend.segment_sum takes the GPU path


def test_reports_where(xp) -> None:
    a = xp.asarray(np.array([1.0]))
    xp.syncs.reset()
    bool(xp.any(a > 0))
    assert "tests/test_syncs.py" in xp.syncs.report()
    (kind, frames), = xp.syncs.events
    assert kind == "bool" and frames[0][0] == "tests/test_syncs.py" and frames[0][2] == "test_reports_where"


def test_segment_sum_does_not_synchronise_after_its_plan(xp) -> None:
    """The GPU path of segment_sum reads its index to the host once, to plan; never again."""
    rng = np.random.default_rng(0)
    index = xp.asarray(rng.integers(0, 7, 40))
    values = xp.asarray(rng.normal(size=(3, 40)))
    assert _count(xp, lambda: segment_sum(xp, values, index, 7)) == 1
    assert _count(xp, lambda: [segment_sum(xp, values * k, index, 7) for k in range(3)]) == 0


# ---------------------------------------------------------------- the month

# (calibration, months, overrides): shrunken runs of the severe scenario long enough for agents
# to default (so the resolution loop, and on ai_2025 the clearing solve, run their stress
# branches), and the monotone settlement iteration with the clearing channel off.
MONTHS = [
    ("mini", 20, ()),  # 20: with vintage collateral and capex headroom the first default falls in month 17
    ("mini", 20, ("channels.clearing=false",)),
    ("ai_2025", 9, ()),
    ("ai_2025", 9, ("channels.backlog_capex=true",)),  # off by default: its hooks sync-free too
    ("ai_2025", 9, ("channels.demand_growth=true",)),  # off by default: its hooks sync-free too
]
PATHS = 8


def _model(calibration: str, months: int, overrides: tuple[str, ...], xp) -> AIFinanceModel:
    cfg = make_cfg(f"calibration={calibration}", f"paths.n={PATHS}", f"horizon={months}", "backend=numpy",
                   "scenario=severe", "output.progress=false", *overrides)
    return AIFinanceModel(cfg, None, np.arange(PATHS), xp)


def _plan_read(frames) -> bool:
    """A segment index read to the host to plan its reduction: once per index array."""
    return any(f == "kernels/backend.py" and fn == "segment_plan" for f, _, fn in frames)


def _syncs_per_month(model: AIFinanceModel, xp, months: int) -> list[tuple[int, str]]:
    out = []
    for t in range(months):
        xp.syncs.reset()
        model.step()
        # the first month may read each segment index once, to plan it (kernels/backend.py)
        n = sum(1 for _, frames in xp.syncs.events if not (t == 0 and _plan_read(frames)))
        out.append((n, xp.syncs.report()))
    return out


@pytest.mark.parametrize(("calibration", "months", "overrides"), MONTHS)
def test_counting_namespace_runs_the_month_as_numpy_does(calibration, months, overrides) -> None:
    """The counting namespace changes nothing: its months equal NumPy's (the CuPy path of
    segment_sum against bincount), and the stress branches the next test relies on do run."""
    xp = counting_namespace()
    counted, plain = _model(calibration, months, overrides, xp), _model(calibration, months, overrides, np)
    for _ in range(months):
        counted.step()
        plain.step()
    for key, v in vars(plain.state).items():
        if key != "month":
            np.testing.assert_allclose(np.asarray(to_numpy(getattr(counted.state, key)), dtype=float),
                                       np.asarray(v, dtype=float), rtol=1e-12, atol=1e-12, err_msg=key)
    assert not plain.state.alive.all(), "no agent defaulted: the stress branches did not run"


@pytest.mark.parametrize(("calibration", "months", "overrides"), MONTHS)
def test_month_does_not_synchronise(calibration, months, overrides) -> None:
    xp = counting_namespace()
    model = _model(calibration, months, overrides, xp)
    per_month = _syncs_per_month(model, xp, months)
    bad = [f"month {t}: {report}" for t, (n, report) in enumerate(per_month) if n]
    assert not bad, "\n".join(bad)
