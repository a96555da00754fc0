"""build/<board>/apps/<app>/manifest.json (build/<board>/manifest.json for the board alone):
what a build produced, for pipelines, releases and tests.

Typed (the models below are the file's schema) and deterministic: sorted, relative paths, no
timestamps, so identical inputs give identical files.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from edgeforge.context import BoardLayout
from edgeforge.core import sha256_file, write_json
from edgeforge.elf import elfinfo

SCHEMA_VERSION = 2
FAMILIES = ("GLIBC", "GLIBCXX", "CXXABI")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Artifact(_Frozen):
    path: str  # relative to the board's folder; absolute when elsewhere (the cache)
    role: str  # smoke, app, toolchain, or the Conan package's name
    sha256: str
    size: int
    kind: str  # "file", or the ELF type (executable, shared library ...)
    elf_machine: str | None = None
    elf_class: int | None = None
    needed: tuple[str, ...] = ()
    soname: str | None = None
    max_versions: dict[str, str] = {}


class CompilerRecord(_Frozen):
    name: str
    family: str
    version: str


class SysrootRecord(_Frozen):
    name: str
    key: str
    glibc: str | None
    glibcxx: str | None


class AbiRecord(_Frozen):
    glibc: str
    glibcxx: str
    cxxabi: str
    strategy: str
    max_needed: dict[str, str]


class PackageRecord(_Frozen):
    ref: str
    package_id: str
    context: str
    package_folder: str | None = None
    libraries: tuple[Artifact, ...] = ()


class DependenciesRecord(_Frozen):
    lockfile: str
    packages: tuple[PackageRecord, ...]
    built_this_run: tuple[str, ...]


class Manifest(_Frozen):
    schema_version: int = SCHEMA_VERSION
    board: str
    arch: str
    triple: str
    compiler: CompilerRecord
    sysroot: SysrootRecord
    abi: AbiRecord
    artifacts: tuple[Artifact, ...]
    dependencies: DependenciesRecord | None = None

    def by_role(self, role: str) -> list[Artifact]:
        return [a for a in self.artifacts if a.role == role]


def artifact_entry(path: Path, base: Path, role: str) -> Artifact:
    info = elfinfo.inspect(path)
    common = {
        "path": str(path.relative_to(base)) if path.is_relative_to(base) else str(path),
        "role": role,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
    }
    if info is None:
        return Artifact(kind="file", **common)
    return Artifact(kind=info.kind, elf_machine=info.machine, elf_class=info.elf_class,
                    needed=tuple(info.needed), soname=info.soname, max_versions=elfinfo.max_versions(
                        [v for vs in info.version_needs.values() for v in vs], FAMILIES),
                    **common)


def write_manifest(layout: BoardLayout, manifest: Manifest) -> Path:
    path = layout.manifest
    data = manifest.model_copy(update={"artifacts": tuple(sorted(manifest.artifacts,
                                                                  key=lambda a: a.path))})
    write_json(path, data.model_dump(mode="json"))
    return path


def read_manifest(board_dir: Path, app: str = "") -> Manifest | None:
    """The manifest of the board's build of `app` ("": of the board alone), or None when there
    is none or it is from another version."""
    try:
        return Manifest.model_validate_json(
            BoardLayout(board_dir).for_app(app).manifest.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None
