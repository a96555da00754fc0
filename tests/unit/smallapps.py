"""A small CMake app written into a test project (apps/<name>/: CMakeLists.txt and app.yaml)."""

from __future__ import annotations

from pathlib import Path

DESCRIPTOR = """\
name: {name}
summary: a small app of a test project
license: MIT
version: {{value: "1.2.3"}}
build:
  kind: cmake
system_libraries: [{libs}]
install:
  prefix: /opt/{name}
  programs: [bin/{name}]
"""


def descriptor(name: str, libs: tuple[str, ...] | list[str] = ()) -> str:
    return DESCRIPTOR.format(name=name, libs=", ".join(libs))


def add_app(root: Path, name: str, libs: tuple[str, ...] | list[str] = ()) -> Path:
    """apps/<name>/ with a CMake project of version 1.2.3 and its descriptor."""
    folder = root / "apps" / name
    folder.mkdir(parents=True)
    (folder / "CMakeLists.txt").write_text(f"project({name} VERSION 1.2.3 LANGUAGES CXX)\n")
    (folder / "app.yaml").write_text(descriptor(name, libs))
    return folder
