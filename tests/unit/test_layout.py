"""The package's shape, kept by a test: wings in pipeline order, no import pointing up, each
concern in one place (see README "Architecture").

Every rule is read from the source with `ast` (imports inside functions and under
TYPE_CHECKING included), so a rule holds for code that is never run by a test, too."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import edgeforge
from edgeforge.core import EdgeforgeError, closure_files

PACKAGE = Path(edgeforge.__file__).resolve().parent

# Lowest first. A module may import its own wing and the wings before it; debug and team share
# a rank and never import each other.
WINGS = [
    ("core",), ("config",), ("context",), ("host",), ("elf",), ("toolchain",), ("verify",),
    ("deps",), ("build",), ("deliver",), ("device",), ("debug", "team"), ("pipeline",), ("cli",),
]
RANK = {w: i for i, group in enumerate(WINGS) for w in group}
MAX_LINES = 600


def modules() -> dict[str, Path]:
    """Dotted name (below edgeforge) -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


MODULES = modules()


def wing_of(name: str) -> str:
    return name.split(".")[0]


def imports(name: str, path: Path) -> list[tuple[int, str, list[str], bool]]:
    """(line, imported module below edgeforge or a foreign top-level module, names, inside a
    function) for every import of a module."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    mod = a.name
                    found.append((child.lineno, mod[len("edgeforge."):] if
                                  mod.startswith("edgeforge.") else mod, [], in_function))
            elif isinstance(child, ast.ImportFrom):
                names = [a.name for a in child.names]
                if child.level:
                    base = package[:len(package) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                    if mod:
                        found.append((child.lineno, mod, names, in_function))
                    else:  # `from .. import device`: the package's own wings and modules
                        for n in names:
                            found.append((child.lineno, n if n in RANK else "", [n],
                                          in_function))
                elif child.module == "edgeforge":
                    for n in names:  # `from edgeforge import core`: a wing, or __version__
                        found.append((child.lineno, n if n in RANK else "", [n], in_function))
                elif child.module and child.module.startswith("edgeforge."):
                    found.append((child.lineno, child.module[len("edgeforge."):], names,
                                  in_function))
                else:
                    found.append((child.lineno, child.module or "", names, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def edgeforge_imports():
    for name, path in MODULES.items():
        for line, mod, names, in_fn in imports(name, path):
            if mod == "" or wing_of(mod) in RANK:
                yield name, path, line, mod, names, in_fn


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{line}"


def test_no_wing_imports_a_wing_above_it():
    bad = []
    for name, path, line, mod, _names, _ in edgeforge_imports():
        if not name or not mod:
            continue
        src, dst = wing_of(name), wing_of(mod)
        if src == dst:
            continue
        if RANK[dst] > RANK[src] or (RANK[dst] == RANK[src]):
            bad.append(f"{where(path, line)}: {src} imports {mod} ({dst} is not below {src})")
    assert not bad, "imports pointing up (or between debug and team):\n" + "\n".join(bad)


def test_callers_import_from_the_wing_not_its_inner_modules():
    bad = []
    for name, path, line, mod, names, _ in edgeforge_imports():
        if not name or not mod or wing_of(name) == wing_of(mod) or "." not in mod:
            continue
        bad.append(f"{where(path, line)}: from edgeforge.{mod} import {', '.join(names)} "
                   f"(import from edgeforge.{wing_of(mod)})")
    assert not bad, "\n".join(bad)


def test_a_module_taken_from_a_wing_is_one_the_wing_names_as_a_namespace():
    """`from edgeforge.core import jsonfile` (then `jsonfile.read(...)`) only for the modules a
    wing declares in its `__all__`; anything else is imported by name from the wing."""
    bad = []
    for name, path, line, mod, names, _ in edgeforge_imports():
        if not name or not mod or "." in mod or wing_of(name) == wing_of(mod):
            continue
        for n in names:
            if f"{mod}.{n}" in MODULES and \
                    n not in importlib.import_module(f"edgeforge.{mod}").__all__:
                bad.append(f"{where(path, line)}: module edgeforge.{mod}.{n} is not in "
                           f"edgeforge.{mod}.__all__")
    assert not bad, "\n".join(bad)


def test_no_import_hides_inside_a_function():
    """An import inside a function only where it measurably saves start-up time, and then the
    line (or the one above it) says so with the words `start-up`."""
    bad = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for line, mod, names, in_fn in imports(name, path):
            if in_fn and not any("start-up" in lines[i] for i in (line - 2, line - 1) if i >= 0):
                bad.append(f"{where(path, line)}: import of {mod or names} inside a function")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("foreign,allowed", [
    ("subprocess", {"core.runner"}),
    ("yaml", {"config.yamlfile"}),
    ("invoke", "cli"),
])
def test_one_module_or_wing_uses_each_outside_tool(foreign, allowed):
    users = {name for name, path in MODULES.items()
             for _l, mod, _n, _f in imports(name, path) if mod.split(".")[0] == foreign}
    wrong = ({u for u in users if wing_of(u) != allowed} if isinstance(allowed, str)
             else users - allowed)
    assert not wrong, f"{foreign} is imported by {sorted(wrong)}; only {allowed} may"
    assert users, f"nothing imports {foreign}: the rule names a module that moved"


def test_only_the_plan_composer_makes_plans():
    """pipeline.py is the one place a board's steps from several wings become a Plan."""
    users = {name for name, _p, _l, mod, names, _ in edgeforge_imports()
             if "Plan" in names and wing_of(mod) == "core" and wing_of(name) != "core"}
    assert users == {"pipeline"}, users


def test_release_and_device_steps_receive_plain_values_never_the_builder():
    bad = []
    for name, path in MODULES.items():
        if wing_of(name) not in ("deliver", "device"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            ident = node.id if isinstance(node, ast.Name) else (
                node.attr if isinstance(node, ast.Attribute) else None)
            if ident == "BoardBuild":
                bad.append(where(path, node.lineno))
    assert not bad, "release/device code reaches for the builder object: " + ", ".join(bad)


def test_every_wing_says_what_it_exports():
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name and "." not in name:
            tree = ast.parse(path.read_text())
            assert ast.get_docstring(tree), f"{path}: a wing's __init__ says what lives there"


def test_no_module_is_over_the_line_limit():
    long = {str(p.relative_to(PACKAGE)): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_error_class_lives_in_the_errors_module():
    for m in pkgutil.walk_packages(edgeforge.__path__, "edgeforge."):
        if not m.name.endswith(".__main__"):  # a program: it would run
            importlib.import_module(m.name)
    todo, seen = [EdgeforgeError], []
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    elsewhere = [f"{c.__module__}.{c.__name__}" for c in seen
                 if c.__module__ != "edgeforge.core.errors"]
    assert len(seen) > 10
    assert not elsewhere, f"error classes outside edgeforge.core.errors: {elsewhere}"


def test_a_release_steps_code_digest_covers_the_code_it_runs_and_nothing_else():
    """A change to the CLI, the team or debug code, or the plan composer does not make the
    release steps run again; a change to anything they run does."""
    deliver = {str(p.relative_to(PACKAGE)) for p in closure_files("deliver")}
    assert {"deliver/formats.py", "deliver/packages/deb.py", "core/runner.py",
            "build/manifest.py", "toolchain/templates/toolchain.cmake.j2"} <= deliver
    assert not {f for f in deliver if f.split("/")[0] in ("cli", "team", "debug", "device")}
    assert "pipeline.py" not in deliver
    device = {str(p.relative_to(PACKAGE)) for p in closure_files("device")}
    assert deliver < device and "device/steps.py" in device
    assert not {f for f in device if f.split("/")[0] in ("cli", "team", "debug")}
