"""Parameters that carry their ranges and units: one declaration drives validation and docs.

A parameter dataclass declares each field with :func:`param`::

    @dataclass(frozen=True)
    class ClearingParams:
        alpha: float = param(1.0, ge=0.0, le=1.0, unit="share", doc="outside assets realised ...")

The field's :class:`Spec` (``dataclasses.fields(cls)[k].metadata["spec"]``) holds the bounds, the
unit and a one-line description. The config validator (:mod:`aisim.schema`) walks the specs to
check values and name the key; the docs tables of parameters are generated from them. Pure
standard library, so kernels can declare their own parameters without importing the rest of aisim.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """Bounds (``None`` = unbounded; ``*_open`` = strict), unit, description, allowed choices.

    finite: a float must be finite (no NaN or inf) unless this is False.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    unit: str = ""
    doc: str = ""
    finite: bool = True
    choices: tuple[Any, ...] | None = None

    def text(self) -> str:
        """The valid range in words: ``in [0, 1]``, ``>= 1``, ``> 0``, ``one of a, b``, ``any finite number``."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        return "any finite number" if self.finite else "any number"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid, in words (``must be in [0, 1]``), or None when it is."""
        if self.choices is not None:
            return None if value in self.choices else f"must be {self.text()}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None  # types are Hydra's to check
        if self.finite and not math.isfinite(value):
            return f"must be a finite number{'' if self.lo is None and self.hi is None else ' ' + self.text()}"
        if math.isnan(value):
            return None
        lo_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        hi_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        return f"must be {self.text()}" if lo_bad or hi_bad else None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def param(default: Any = MISSING, *, default_factory: Any = MISSING, ge: float | None = None,
          gt: float | None = None, le: float | None = None, lt: float | None = None, unit: str = "",
          doc: str = "", finite: bool = True, choices: tuple[Any, ...] | None = None) -> Any:
    """A dataclass field with its :class:`Spec`: ``ge``/``gt`` lower, ``le``/``lt`` upper bound."""
    if ge is not None and gt is not None or le is not None and lt is not None:
        raise TypeError("param: give at most one lower bound (ge or gt) and one upper bound (le or lt)")
    spec = Spec(lo=ge if gt is None else gt, hi=le if lt is None else lt, lo_open=gt is not None,
                hi_open=lt is not None, unit=unit, doc=doc, finite=finite,
                choices=tuple(choices) if choices is not None else None)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={"spec": spec})
    return field(default=default, metadata={"spec": spec})


def spec_of(f: Field) -> Spec | None:
    """The :class:`Spec` of a dataclass field, or None for a field declared without one."""
    return f.metadata.get("spec") if f.metadata else None


def specs(cls: Any) -> Iterator[tuple[str, Any, Spec | None]]:
    """(name, default, spec) of each field of the dataclass ``cls``, in declaration order."""
    for f in fields(cls):
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        yield f.name, default, spec_of(f)


def problems(obj: Any, prefix: str) -> Iterator[str]:
    """One-line messages, ``prefix.key=value: must be ...``, for fields of the dataclass instance
    ``obj`` whose values break their specs (not recursing into nested dataclasses)."""
    if not is_dataclass(obj):
        return
    for f in fields(obj):
        spec = spec_of(f)
        if spec is None:
            continue
        value = getattr(obj, f.name)
        why = spec.problem(value)
        if why is not None:
            yield f"{prefix}.{f.name}={value!r}: {why}" + (f" ({spec.unit})" if spec.unit else "")


def markdown_table(cls: Any, prefix: str) -> str:
    """A docs table of the parameters of ``cls``: key, default, valid range, unit, meaning."""
    rows = ["| key | default | valid | unit | meaning |", "|---|---|---|---|---|"]
    for name, default, spec in specs(cls):
        s = spec or Spec()
        rows.append(f"| `{prefix}.{name}` | {default} | {s.text()} | {s.unit} | {s.doc} |")
    return "\n".join(rows)


def config_node(cls: Any, name: str | None = None) -> Any:
    """A mutable dataclass with the fields (types, defaults, specs) of the frozen parameter
    dataclass ``cls``: the Hydra config node for it (OmegaConf cannot override fields of a
    frozen dataclass). :func:`freeze` converts a node back to ``cls`` once per run."""
    import typing
    from dataclasses import make_dataclass

    hints = typing.get_type_hints(cls)
    spec_fields = []
    for f in fields(cls):
        kw: dict[str, Any] = {"metadata": f.metadata}
        if f.default is not MISSING:
            kw["default"] = f.default
        elif f.default_factory is not MISSING:
            kw["default_factory"] = f.default_factory
        spec_fields.append((f.name, hints[f.name], field(**kw)))
    node = make_dataclass(name or cls.__name__.removesuffix("Params") + "Config", spec_fields)
    node.__doc__ = cls.__doc__
    node.__module__ = cls.__module__
    return node


def freeze(node: Any, cls: Any) -> Any:
    """The frozen parameters ``cls`` from a config node with the same fields."""
    return cls(**{f.name: getattr(node, f.name) for f in fields(cls)})


_FROZEN: dict[type, type] = {}


def frozen_copy(obj: Any) -> Any:
    """A deep, immutable copy of a config object: dataclass instances become instances of a
    frozen dataclass with the same fields, dicts read-only mappings, lists tuples."""
    from types import MappingProxyType

    if is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        if cls not in _FROZEN:
            from dataclasses import make_dataclass

            _FROZEN[cls] = make_dataclass(f"Frozen{cls.__name__}", [(f.name, Any) for f in fields(cls)], frozen=True)
        return _FROZEN[cls](**{f.name: frozen_copy(getattr(obj, f.name)) for f in fields(obj)})
    if isinstance(obj, dict):
        return MappingProxyType({k: frozen_copy(v) for k, v in obj.items()})
    if isinstance(obj, list | tuple):
        return tuple(frozen_copy(v) for v in obj)
    return obj


def by_sector(p: Any, stem: str, sectors: list[str], node: str, where: str) -> list[float]:
    """Each agent's value of a per-sector parameter ``<stem>_<sector>`` of ``p`` (one per agent
    of ``sectors``). A sector without the key is an error naming it (no silent default): ``node``
    is the config node, ``where`` the dataclass to add it to."""
    out = []
    for s in sectors:
        key = f"{stem}_{s}"
        if not hasattr(p, key):
            raise ValueError(f"{node}: no {stem} for sector {s!r}; add {node}.{key} to {where}")
        out.append(float(getattr(p, key)))
    return out
