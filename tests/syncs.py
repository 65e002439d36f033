"""An array namespace that wraps NumPy and counts host synchronisations.

On a GPU, turning an array into a Python value (``bool(xp.any(x))``, ``float(xp.sum(x))``,
``x.item()``, ``x.tolist()``, ``np.asarray(x)``, ``to_numpy(x)``) waits for every kernel queued
before it and copies the answer to the host: a host synchronisation. A month that does this
on array values stalls the device once per such conversion. This namespace behaves like NumPy
but counts those conversions, with where each one came from, so a test can assert that a
month performs none, on a machine without a GPU.

Use it like any array namespace::

    from tests.syncs import counting_namespace

    xp = counting_namespace()
    model = AIFinanceModel(cfg, None, np.arange(4), xp)
    xp.syncs.reset()
    model.step()
    assert xp.syncs.count == 0, xp.syncs.report()

What counts, on an array of this namespace: ``__bool__``, ``__int__``, ``__float__``,
``__complex__``, ``__index__`` (so ``range(x)`` and ``lst[x]``), ``item()``, ``tolist()``,
``tobytes()``, ``__array__`` (``np.asarray(x)``, and so :func:`aisim.kernels.backend.to_numpy`),
``__contains__``, and text (``str``, ``repr``, ``format``).
What does not: arithmetic, comparisons, indexing (including with arrays), reductions and every
other namespace function, ``np.*`` functions and ufuncs applied to these arrays (they dispatch
back here, as CuPy's do), shapes and dtypes, and ``xp.asarray`` of host data (a transfer to the
device, not a wait on it).

Every result stays an array of the namespace: reductions and scalar indexing give 0-d arrays,
never NumPy scalars, so ``bool(xp.any(x))`` is caught. The namespace is named
``tests.syncs.counting_numpy``; :func:`aisim.kernels.backend.segment_sum` therefore takes the
code path of a non-NumPy backend (CuPy's), which is the one a GPU runs.
"""

from __future__ import annotations

import operator
import os
import sys
import traceback
import types
from collections import Counter
from typing import Any

import numpy as np

_HERE = os.path.abspath(__file__)
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))


class SyncCounter:
    """How many host synchronisations happened, of which kind, and where.

    ``events`` lists each one as ``(kind, frames)``, ``frames`` being ``(file, line, function)``
    innermost first, outside this file and NumPy; ``sites`` counts them by a short description.
    """

    def __init__(self) -> None:
        self.count = 0
        self.events: list[tuple[str, tuple[tuple[str, int, str], ...]]] = []
        self.sites: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()

    def reset(self) -> None:
        self.count = 0
        self.events.clear()
        self.sites.clear()
        self.kinds.clear()

    def hit(self, kind: str) -> None:
        frames = _frames()
        self.count += 1
        self.events.append((kind, frames))
        self.kinds[kind] += 1
        self.sites[f"{kind} at " + " <- ".join(f"{f}:{line} in {fn}" for f, line, fn in frames[:SITE_DEPTH])] += 1

    def report(self) -> str:
        """One line per distinct site, most frequent first."""
        lines = [f"{self.count} host synchronisation(s):"]
        lines += [f"  {n:4d} x {site}" for site, n in self.sites.most_common()]
        return "\n".join(lines)


SITE_DEPTH = 6  # frames shown per site in reports


def _frames() -> tuple[tuple[str, int, str], ...]:
    """(file, line, function) of the calling frames outside this file and NumPy, innermost first."""
    out = []
    for fs in reversed(traceback.extract_stack()):
        path = os.path.abspath(fs.filename)
        if path == _HERE or path.startswith(_NUMPY_DIR):
            continue
        out.append((_short(path), fs.lineno or 0, fs.name))
    return tuple(out)


def _short(path: str) -> str:
    for marker in ("/kernels/", "/sim/", "/tests/", "/benchmarks/"):
        i = path.rfind(marker)
        if i >= 0:
            return path[i + 1:]
    return "/".join(path.split(os.sep)[-2:])


def _unwrap(x: Any) -> Any:
    if isinstance(x, CountingArray):
        return x._a
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


class CountingArray:
    """A NumPy array seen through the counting namespace. Only conversions to Python count."""

    __slots__ = ("_a", "_ns", "__weakref__")
    __hash__ = None  # type: ignore[assignment]  # == is elementwise

    def __init__(self, a: np.ndarray, ns: CountingNamespace) -> None:
        self._a = a
        self._ns = ns

    # ---- array attributes (no synchronisation) --------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    device = property(lambda self: "cpu")
    T = property(lambda self: self._ns._wrap(self._a.T))
    mT = property(lambda self: self._ns._wrap(self._a.mT))

    def __array_namespace__(self, api_version: str | None = None) -> CountingNamespace:
        return self._ns

    def to_device(self, device: Any, /, stream: Any = None) -> CountingArray:
        return self

    def __len__(self) -> int:
        return len(self._a)

    def __getitem__(self, key: Any) -> CountingArray:
        return self._ns._wrap(self._a[_unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key)] = _unwrap(value)

    def __iter__(self) -> Any:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self._ns._wrap(self._a[i]) for i in range(self._a.shape[0]))

    def __getattr__(self, name: str) -> Any:
        # NumPy's ndarray methods (CuPy's arrays have them too): results stay in the namespace.
        # Not dunders: NumPy would find __array_interface__ and convert without __array__.
        if name.startswith("__") or name in ("_a", "_ns"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *a, **k: self._ns._wrap(attr(*_unwrap(a), **_unwrap(k)))
        return self._ns._wrap(attr)

    # ---- NumPy interoperability: np.* functions dispatch back here, as with CuPy ------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return self._ns._wrap(getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs)))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return self._ns._wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # ---- conversions to Python / host: each one is a synchronisation -----------------------
    def _sync(self, kind: str) -> np.ndarray:
        self._ns.syncs.hit(kind)
        return self._a

    def __bool__(self) -> bool:
        return bool(self._sync("bool"))

    def __int__(self) -> int:
        return int(self._sync("int"))

    def __float__(self) -> float:
        return float(self._sync("float"))

    def __complex__(self) -> complex:
        return complex(self._sync("complex"))

    def __index__(self) -> int:
        return operator.index(self._sync("index"))

    def item(self, *args: Any) -> Any:
        return self._sync("item").item(*args)

    def tolist(self) -> Any:
        return self._sync("tolist").tolist()

    def tobytes(self, *args: Any, **kwargs: Any) -> bytes:
        return self._sync("tobytes").tobytes(*args, **kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self._sync("to_host")
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __contains__(self, value: Any) -> bool:
        return bool(_unwrap(value) in self._sync("contains"))

    def __repr__(self) -> str:
        return f"CountingArray({self._sync('repr')!r})"

    def __str__(self) -> str:
        return str(self._sync("str"))

    def __format__(self, spec: str) -> str:
        return format(self._sync("format"), spec)


def _binary(name: str) -> Any:
    op = getattr(operator, name)

    def method(self: CountingArray, other: Any) -> Any:
        return self._ns._wrap(op(self._a, _unwrap(other)))

    def reflected(self: CountingArray, other: Any) -> Any:
        return self._ns._wrap(op(_unwrap(other), self._a))

    def inplace(self: CountingArray, other: Any) -> Any:
        self._a = getattr(operator, f"i{name.rstrip('_')}")(self._a, _unwrap(other))
        return self

    return method, reflected, inplace


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor",
              "lshift", "rshift"):
    _dunder = _name.rstrip("_")
    _m, _r, _i = _binary(_name)
    setattr(CountingArray, f"__{_dunder}__", _m)
    setattr(CountingArray, f"__r{_dunder}__", _r)
    setattr(CountingArray, f"__i{_dunder}__", _i)

for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(CountingArray, f"__{_name}__", _binary(_name)[0])

def _unary(name: str) -> Any:
    op = getattr(operator, name)

    def method(self: CountingArray) -> Any:
        return self._ns._wrap(op(self._a))

    return method


for _name in ("neg", "pos", "abs", "invert"):
    setattr(CountingArray, f"__{_name}__", _unary(_name))


class CountingNamespace(types.ModuleType):
    """NumPy, with every array it hands out a :class:`CountingArray` sharing one counter."""

    def __init__(self, base: types.ModuleType = np, name: str = "tests.syncs.counting_numpy",
                 syncs: SyncCounter | None = None) -> None:
        super().__init__(name, "NumPy wrapped to count host synchronisations")
        self._base = base
        self.syncs = syncs if syncs is not None else SyncCounter()
        self.__array_api_version__ = getattr(np, "__array_api_version__", "2023.12")

    def _wrap(self, x: Any) -> Any:
        if isinstance(x, CountingArray):
            return x
        if isinstance(x, np.ndarray):
            return CountingArray(x, self)
        if isinstance(x, np.generic):  # a NumPy scalar would escape the count: keep it 0-d
            return CountingArray(np.asarray(x), self)
        if isinstance(x, tuple):
            items = [self._wrap(v) for v in x]
            return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
        if isinstance(x, list):
            return [self._wrap(v) for v in x]
        return x

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._base, name)
        if isinstance(attr, types.ModuleType):  # linalg, fft, ...
            sub = CountingNamespace(attr, f"{self.__name__}.{name}", self.syncs)
            setattr(self, name, sub)
            return sub
        if callable(attr) and not isinstance(attr, type):
            def fn(*args: Any, **kwargs: Any) -> Any:
                return self._wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

            fn.__name__ = name
            fn.__doc__ = getattr(attr, "__doc__", None)
            setattr(self, name, fn)
            return fn
        return attr  # dtypes, constants (pi, inf, newaxis), classes


def counting_namespace() -> CountingNamespace:
    """A fresh counting namespace over NumPy, with its own counter (``xp.syncs``)."""
    return CountingNamespace()


__all__ = ["CountingArray", "CountingNamespace", "SyncCounter", "counting_namespace"]

if __name__ == "__main__":  # pragma: no cover -- a quick look: python -m tests.syncs
    xp = counting_namespace()
    a = xp.asarray([1.0, -2.0, 3.0])
    b = a + 1
    bool(xp.any(a > 0))
    float(xp.sum(b))
    print(xp.syncs.report(), file=sys.stdout)
