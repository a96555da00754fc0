"""The digest of edgeforge's own code, as a step input: a step whose way of working changed
runs again, and a step whose code did not change stays up to date. One rule for every step: the
digest covers the files of the modules named (dotted names below `edgeforge`, e.g.
"build.app"), or those and every edgeforge module they import, transitively, with the
templates of the wings they reach (`code_closure`)."""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
_SUFFIXES = (".py", ".j2", ".json")


def code_of(*modules: str) -> str:
    """Digest of some of edgeforge's modules (dotted names below `edgeforge`)."""
    h = hashlib.sha256()
    for name in modules:
        h.update((PACKAGE / (name.replace(".", "/") + ".py")).read_bytes())
    return h.hexdigest()


def _module_file(name: str) -> Path | None:
    """The file of a dotted module name below edgeforge ("" is the package itself)."""
    base = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, path: Path) -> set[str]:
    """The edgeforge modules one module imports (dotted, below edgeforge)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module + ".").startswith("edgeforge."):
                mod = node.module.removeprefix("edgeforge").lstrip(".")
            else:
                continue
            out.add(mod)
            out.update(f"{mod}.{a.name}".lstrip(".") for a in node.names)  # submodules
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("edgeforge.") for a in node.names
                       if a.name.startswith("edgeforge."))
    return out


@functools.cache
def closure_files(*modules: str) -> tuple[Path, ...]:
    """The named modules' files, those of every edgeforge module they import (transitively) and
    the templates of the wings among them."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen or (path := _module_file(name)) is None:
            continue
        seen[name] = path
        todo.extend(_imports(name, path))
    files = set(seen.values())
    for wing in {n.split(".")[0] for n in seen if n}:
        files.update(p for p in (PACKAGE / wing).rglob("*")
                     if p.suffix in _SUFFIXES[1:] and "__pycache__" not in p.parts)
    return tuple(sorted(files))


def code_closure(*modules: str) -> str:
    """Digest of `closure_files(*modules)`: what a step that runs these modules runs."""
    h = hashlib.sha256()
    for p in closure_files(*modules):
        h.update(str(p.relative_to(PACKAGE)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
