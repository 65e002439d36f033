"""The import graph of aisim: no cycles, and the kernels depend on nothing but themselves.

Every module of the packages pyproject.toml maps (``sim/`` -> ``aisim``, ``kernels/`` ->
``aisim.kernels``, ``conf/`` -> ``aisim.conf``) is parsed with :mod:`ast`, without importing it.
An edge ``a -> b`` is an ``import`` or ``from ... import`` in ``a`` that names the aisim module
``b`` (``from aisim.kernels import state`` names ``aisim.kernels.state``; relative imports are
resolved against the importing module's package).

What counts as an edge, and why:

* module-level imports and imports inside functions and methods both count: a function-level
  import runs as soon as the function is called, so it only delays the cycle it closes (a
  partially initialised module, import order that matters), it does not remove it;
* imports under ``if TYPE_CHECKING:`` do not count for cycles: they never run (with
  ``from __future__ import annotations`` they only name types in annotations), which is the
  standard way for an agent class to annotate its model;
* the implicit import of a parent package (``import aisim.kernels.state`` first initialises
  ``aisim`` and ``aisim.kernels``) is not an edge: Python initialises a package before its
  submodules, so a package's ``__init__`` importing its own submodules is not a cycle.

For the kernels every import counts, ``TYPE_CHECKING`` ones included: a kernel that only names a
type from ``aisim`` outside the kernels already depends on it.
"""

from __future__ import annotations

import ast
import graphlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Top-level packages the kernels must not import (DESIGN.md: "kernels never imports sim, Mesa or Hydra").
KERNEL_FORBIDDEN = ("mesa", "hydra", "omegaconf")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "aisim.runner"
    target: str  # the imported module, e.g. "aisim.model" or "numpy"
    line: int
    in_function: bool
    type_checking: bool

    def where(self, files: dict[str, Path]) -> str:
        """``file:line (kind) source -> target``, for failure messages."""
        f = files[self.source]
        shown = f.relative_to(ROOT) if f.is_relative_to(ROOT) else f
        kind = "function-level" if self.in_function else "module-level"
        kind += ", TYPE_CHECKING" if self.type_checking else ""
        return f"{shown}:{self.line} ({kind}) {self.source} -> {self.target}"


def package_dirs(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, Path]:
    """{package: directory} from ``[tool.setuptools] package-dir``."""
    conf = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    return {pkg: pyproject.parent / d for pkg, d in conf["package-dir"].items()}


def module_files(packages: dict[str, Path]) -> dict[str, Path]:
    """{module name: file} of every ``.py`` file directly in each package directory."""
    out: dict[str, Path] = {}
    for pkg, d in packages.items():
        for f in sorted(d.glob("*.py")):
            out[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, package: str, known: set[str]) -> None:
        self.module, self.package, self.known = module, package, known
        self.depth = 0  # functions we are inside
        self.tc = 0  # `if TYPE_CHECKING:` bodies we are inside
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, node.lineno, self.depth > 0, self.tc > 0))

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self.tc += 1
        for stmt in node.body:
            self.visit(stmt)
        self.tc -= 1
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".")
            if node.level - 1 >= len(parts):
                raise ImportError(f"{self.module}:{node.lineno}: relative import beyond the top-level package")
            base = ".".join(parts[: len(parts) - (node.level - 1)])
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in self.known else base, node)


def collect_imports(files: dict[str, Path]) -> list[Import]:
    """Every import statement of every module in ``files``, resolved to absolute module names."""
    known = set(files)
    out: list[Import] = []
    for mod, f in files.items():
        package = mod if f.stem == "__init__" else mod.rpartition(".")[0]
        c = _Collector(mod, package, known)
        c.visit(ast.parse(f.read_text(), filename=str(f)))
        out += c.found
    return out


def internal_edges(imports: list[Import], files: dict[str, Path]) -> list[Import]:
    """The imports between modules of ``files`` that count for cycles (see the module docstring)."""
    return [i for i in imports if i.target in files and i.source != i.target and not i.type_checking]


def find_cycle(edges: list[Import]) -> list[Import] | None:
    """A cycle of ``edges`` as the imports that close it, or None when the graph is acyclic."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        nodes = exc.args[1]  # [n0, n1, ..., n0]: each depends on (imports) the one before it
        by_pair = {(e.source, e.target): e for e in edges}
        return [by_pair[(a, b)] for b, a in zip(nodes, nodes[1:], strict=False)]
    return None


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], list[Import]]:
    files = module_files(package_dirs())
    return files, collect_imports(files)


def test_every_aisim_import_names_a_module_that_exists(project) -> None:
    files, imports = project
    stale = [i.where(files) for i in imports if i.target.split(".")[0] == "aisim" and i.target not in files]
    assert not stale, "imports of aisim modules that do not exist:\n" + "\n".join(stale)


def test_the_graph_is_read_from_the_real_modules(project) -> None:
    files, imports = project
    assert {"aisim", "aisim.runner", "aisim.model", "aisim.kernels", "aisim.kernels.backend"} <= set(files)
    edges = {(e.source, e.target) for e in internal_edges(imports, files)}
    assert ("aisim.runner", "aisim.longtail") in edges
    assert ("aisim.runner", "aisim.model") in edges
    assert any(a.startswith("aisim.kernels.") and b.startswith("aisim.kernels.") for a, b in edges), \
        "no kernel imports another: are relative imports resolved?"


def test_no_import_cycle_in_aisim(project) -> None:
    files, imports = project
    cycle = find_cycle(internal_edges(imports, files))
    assert cycle is None, "import cycle:\n" + "\n".join(e.where(files) for e in cycle)


def test_kernels_import_nothing_from_sim_mesa_or_hydra(project) -> None:
    files, imports = project
    bad = [i.where(files) for i in imports if i.source.startswith("aisim.kernels") and (
        (i.target.split(".")[0] == "aisim" and not (i.target + ".").startswith("aisim.kernels."))
        or i.target.split(".")[0] in KERNEL_FORBIDDEN)]
    rule = "kernels import nothing from aisim outside aisim.kernels, nor mesa, hydra or omegaconf"
    assert not bad, rule + ":\n" + "\n".join(bad)
    cupy = [i.where(files) for i in imports if i.target.split(".")[0] == "cupy" and i.source != "aisim.kernels.backend"]
    assert not cupy, "only aisim.kernels.backend imports CuPy (DESIGN.md):\n" + "\n".join(cupy)


# ---------------------------------------------------------------- the checker on a package made up for it


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return module_files({"pkg": root / "src", "pkg.sub": root / "sub"})


def test_checker_finds_a_cycle_closed_inside_a_function(tmp_path: Path) -> None:
    files = _write(tmp_path, {
        "src/__init__.py": "",
        "src/a.py": "from pkg import b\n",
        "src/b.py": "def f():\n    from pkg.c import g\n    return g\n",
        "src/c.py": "import pkg.a\n",
        "sub/__init__.py": "",
    })
    cycle = find_cycle(internal_edges(collect_imports(files), files))
    assert cycle is not None
    assert {(e.source, e.target) for e in cycle} == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")}
    assert [e.in_function for e in cycle if e.source == "pkg.b"] == [True]


def test_checker_ignores_type_checking_imports_and_resolves_relative_ones(tmp_path: Path) -> None:
    files = _write(tmp_path, {
        "src/__init__.py": "",
        "src/model.py": "from pkg import agents\n",
        "src/agents.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.model import M\n"
                         "else:\n    import pkg.sub.k\n",
        "sub/__init__.py": "",
        "sub/k.py": "from .j import x\nfrom . import j\nfrom .. import model\n",
        "sub/j.py": "import numpy\n",
    })
    imports = collect_imports(files)
    edges = {(e.source, e.target) for e in internal_edges(imports, files)}
    assert edges == {("pkg.model", "pkg.agents"), ("pkg.agents", "pkg.sub.k"), ("pkg.sub.k", "pkg.sub.j"),
                     ("pkg.sub.k", "pkg.model")}
    assert [(i.target, i.type_checking) for i in imports if i.source == "pkg.agents" and i.target.startswith("pkg")] \
        == [("pkg.model", True), ("pkg.sub.k", False)]
    cycle = find_cycle(internal_edges(imports, files))  # model -> agents -> sub.k -> model
    assert cycle is not None and len(cycle) == 3
