"""The one loader for recipe data: each recipe's conandata.yml, read with
the descriptors' hardened YAML loader into frozen, typed models; and the facts a release
needs from a recipe (its licence), read from conanfile.py without running it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeforge.core import DescriptorError

from .yamlfile import parse_model

_SHA256 = r"^[0-9a-f]{64}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DebianOrigin(_Frozen):
    """Where the source mirror gets the identical archive: Debian's source archive."""

    package: str
    version: str
    file: str


class SourcePin(_Frozen):
    url: str | tuple[str, ...]
    sha256: str = Field(pattern=_SHA256)
    debian: DebianOrigin | None = None
    destination: str | None = None  # a sub-folder of the recipe's source tree

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url,) if isinstance(self.url, str) else self.url


class ConanData(BaseModel):
    """conandata.yml: the pinned sources (one version) and what else the recipe keeps there."""

    model_config = ConfigDict(frozen=True, extra="allow")
    sources: dict[str, tuple[SourcePin, ...]]

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        """A version pins one archive (a mapping) or several (a list of mappings)."""
        if isinstance(v, dict):
            return {k: [e] if isinstance(e, dict) else e for k, e in v.items()}
        return v

    def pins(self) -> list[tuple[str, SourcePin]]:
        return [(version, p) for version, entry in self.sources.items() for p in entry]

    @property
    def version(self) -> str:
        return next(iter(self.sources))


def _load(path: Path, rel: str, model: type[BaseModel]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DescriptorError(f"{rel}: cannot be read ({exc}); restore it from git") from None
    return parse_model(text, rel, model)


def conandata(recipes_dir: Path, recipe: str) -> ConanData:
    rel = f"recipes/{recipe}/conandata.yml"
    data: ConanData = _load(recipes_dir / recipe / "conandata.yml", rel, ConanData)
    if len(data.sources) != 1:
        raise DescriptorError(f"key 'sources' in {rel}: pins {len(data.sources)} versions; a "
                              "recipe here pins exactly one (remove the others)")
    return data


def recipe_attribute(recipe_dir: Path, name: str) -> Any:
    """A literal class attribute of the recipe's ConanFile (e.g. `license`), read from its
    source without executing it; None when it is absent or not a literal."""
    try:
        tree = ast.parse((recipe_dir / "conanfile.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name):
                    try:
                        return ast.literal_eval(stmt.value)
                    except ValueError:
                        return None
    return None


def recipe_licenses(recipe_dir: Path) -> tuple[str, ...]:
    value = recipe_attribute(recipe_dir, "license")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(str(v) for v in value)
    return ()


def recipe_requirement_calls(recipe_dir: Path, method: str) -> tuple[str, ...]:
    """The references a recipe passes to `self.<method>("name/version")` (requires,
    test_requires, tool_requires), read from its source without executing it."""
    try:
        tree = ast.parse((recipe_dir / "conanfile.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ()
    refs = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == method and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            refs.append(node.args[0].value)
    return tuple(refs)
