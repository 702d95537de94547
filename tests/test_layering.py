"""The import rules of DESIGN.md ("Dependencies run one way"), read from the source with ``ast``.

Every ``import`` counts, at module level or inside a function (a lazy import still ties the two
modules together), except those under ``if TYPE_CHECKING:``. ``from glowgan.x import y`` counts as an
import of the module ``glowgan.x.y`` where there is one, else of ``glowgan.x``; the implicit import of
a module's parent packages does not count.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of glowgan by dotted name (a package by its ``__init__``)."""
    return {_module_name(path): path for path in (SRC / "glowgan").rglob("*.py")}


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not _type_checking_only(node):
            yield from _import_nodes(node)


@cache
def _imports(module: str) -> frozenset[str]:
    """The glowgan modules that ``module`` imports."""
    modules = _modules()
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            while name and name not in modules:  # `import glowgan.x.y` of a module; attributes fall back
                name = name.rpartition(".")[0]
            if name.startswith("glowgan"):
                found.add(name)
    found.discard(module)
    return frozenset(found)


def _reachable(module: str) -> set[str]:
    """Every glowgan module that importing ``module`` can import, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for name in _imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_scanner_sees_plain_lazy_and_from_imports():
    assert "glowgan.camera" in _imports("glowgan.train")
    assert "glowgan.fileio" in _imports("glowgan.train")  # from glowgan import fileio, losses
    assert "glowgan.hdrio.common" in _imports("glowgan.hdrio.hdr")  # from glowgan.hdrio.common import ...
    assert "glowgan.encoder" in _imports("glowgan.report")  # imported inside build_report
    assert len(_modules()) > 40


def test_models_never_import_the_camera():
    """G produces HDR and D judges what it is given; ``camera.render(G(z), cam)`` sits between them.
    Networks are built from plain arguments: neither the config nor training reaches into them."""
    for module in _modules():
        if _in(module, "glowgan.models"):
            reached = _reachable(module)
            for outside in ("glowgan.camera", "glowgan.config", "glowgan.train"):
                assert not any(_in(name, outside) for name in reached), (module, outside)


TRAINING = ("glowgan.train", "glowgan.train_log", "glowgan.distributed")
INVERSION = (
    "glowgan.invert",
    "glowgan.itm_photo",
    "glowgan.itm_losses",
    "glowgan.itm_levels",
    "glowgan.itm_outputs",
    "glowgan.itm_samples",
)


def test_train_and_invert_never_import_each_other():
    for a, b in ((TRAINING, INVERSION), (INVERSION, TRAINING)):
        for module in a:
            assert not any(_in(name, other) for name in _reachable(module) for other in b), module


def test_nothing_imports_the_cli():
    for module in _modules():
        if not _in(module, "glowgan.cli") and module != "glowgan.__main__":
            assert not any(_in(name, "glowgan.cli") for name in _imports(module)), module


def test_hdrio_is_a_leaf():
    """Image files are read and written with nothing of glowgan but the file utility."""
    outside = {name for name in _reachable("glowgan.hdrio") if not _in(name, "glowgan.hdrio")}
    assert outside == {"glowgan.fileio"}


def test_the_camera_builds_on_its_curves_only_and_those_are_leaves():
    """DESIGN.md: the camera depends on nothing of ours but small ops (its response curves)."""
    assert _reachable("glowgan.camera") - {"glowgan.camera"} <= {"glowgan", "glowgan.crf"}
    for leaf in ("glowgan.crf", "glowgan.metrics.dynamic_range"):
        assert _imports(leaf) <= {"glowgan"}, leaf


def test_fileio_uses_the_standard_library_only():
    tree = ast.parse(_modules()["glowgan.fileio"].read_text(encoding="utf-8"))
    roots = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.partition(".")[0] for alias in node.names}
        elif node.level == 0:
            roots.add(node.module.partition(".")[0])
    assert roots <= set(sys.stdlib_module_names), roots - set(sys.stdlib_module_names)


def _cycles() -> list[list[str]]:
    """The import cycles among glowgan's modules: strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for name in sorted(_imports(module)):
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in on_stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            component = []
            while True:
                name = stack.pop()
                on_stack.discard(name)
                component.append(name)
                if name == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(_modules()):
        if module not in index:
            visit(module)
    return components


# Import cycles found when this test was written (issue 15), each to be broken: the mark on
# test_no_import_cycles goes when the last one does, and no other cycle may appear meanwhile.
def test_no_import_cycles():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    imports = {"glowgan.a": {"glowgan.b"}, "glowgan.b": {"glowgan.c"}, "glowgan.c": {"glowgan.a"}, "glowgan.d": set()}
    monkeypatch.setattr(sys.modules[__name__], "_modules", lambda: dict.fromkeys(imports))
    monkeypatch.setattr(sys.modules[__name__], "_imports", lambda module: frozenset(imports[module]))
    assert _cycles() == [["glowgan.a", "glowgan.b", "glowgan.c"]]


@pytest.mark.parametrize(
    "module",
    [
        "glowgan.config",
        "glowgan.hdrio",
        "glowgan.tonemap",
        "glowgan.fileio",
    ],
)
def test_leaf_modules_do_not_import_torch(module):
    """What the CLI's --help, ``glowgan info`` and the data tools import stays light."""
    code = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", f"importing {module} imports torch"
