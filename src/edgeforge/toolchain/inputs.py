"""What a board's toolchain files are rendered from, and the check that every value fits in
them (exit 2, naming where a value came from)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeforge.config import Target, expand_path
from edgeforge.core import DescriptorError
from edgeforge.core import escaping as esc

from .compilers import Toolset


@dataclass(frozen=True)
class ToolchainInputs:
    target: Target
    toolset: Toolset
    sysroot: Path
    sysroot_glibc: str | None
    out_dir: Path
    qemu: str
    host_pkg_config: str
    host_gcc_version: str
    host_compilers: dict[str, str]
    can_run: bool
    conan_packages_dir: Path | None = None
    overlays: dict[str, Path] = field(default_factory=dict)
    #: where the glibc compat header goes: a path that is the same for every checkout (it is
    #: part of the compile flags, hence of Conan's package IDs); default: out_dir
    compat_dir: Path | None = None
    #: a built libstdc++ shim folder (see stdcxx_compat) when the ceiling is below the sysroot's
    stdcxx_shim: Path | None = None
    #: machine paths and the fixed names they get in objects and build-information strings
    #: (compiler prefix maps in the wrappers, ``user.edgeforge:path_names`` for the recipes),
    #: so a package is the same bytes whichever checkout, cache or Conan folder built it
    path_names: tuple[tuple[Path, str], ...] = ()
    #: debug information the wrappers add to every compile (Settings.debug_info); the SDK's
    #: wrappers add none (an outside project picks its own)
    debug_info: str = "none"
    #: the sysroot as package IDs name it: its descriptor's name and key, without the packages
    #: the project's apps add to a Debian sysroot (system_libraries); an app adding a library
    #: does not rebuild the Conan graph (the recipes find nothing by themselves: FFmpeg
    #: --disable-autodetect, OpenCV's WITH_* options). "": the sysroot folder's own name
    sysroot_identity: str = ""

    @property
    def sysroot_id(self) -> str:
        return self.sysroot_identity or self.sysroot.name


def present_overlays(target: Target) -> dict[str, Path]:
    out = {}
    for name, ov in target.board.spec.overlays.items():
        p = expand_path(ov.path)
        if "$" not in str(p) and p.is_dir():
            out[name] = p
    return out


def _rel(path: Path) -> str:
    for parent in path.parents:
        if (parent / "toolchains").is_dir() and (parent / "pyproject.toml").is_file():
            return str(path.relative_to(parent))
    return str(path)


def _origins(inp: ToolchainInputs) -> list[tuple[str, object, str]]:
    """Every value that descriptors or the environment put into the files: (what, value,
    where it came from), for the checks below."""
    t = inp.target
    flag_origin = {key: origin.replace("environment", f"environment EDGEFORGE_{key.upper()}")
                   for key, _val, origin in t.provenance}
    board = _rel(t.board.path)
    comp = _rel(t.compiler.path)
    where_dir = "EDGEFORGE_BUILD_DIR (or the checkout's build/ folder)"
    out: list[tuple[str, object, str]] = [
        ("flags", list(t.cpu_flags), f"key 'cpu.{t.family.value}' in {board}"),
        ("flags", list(t.extra_cflags), f"cflags (from {flag_origin.get('cflags', '?')})"),
        ("flags", list(t.extra_cxxflags), f"cxxflags (from {flag_origin.get('cxxflags', '?')})"),
        ("flags", list(t.extra_ldflags), f"ldflags (from {flag_origin.get('ldflags', '?')})"),
        ("path", str(inp.sysroot), "the sysroot folder (under EDGEFORGE_CACHE)"),
        ("path", str(inp.out_dir), f"the toolchain folder (under {where_dir})"),
        ("path", inp.qemu, "qemu-user on PATH"),
        ("path", inp.host_pkg_config, "pkg-config on PATH"),
    ]
    if inp.compat_dir:
        out.append(("path", str(inp.compat_dir), "the toolchain cache (under EDGEFORGE_CACHE)"))
    if inp.stdcxx_shim:
        out.append(("path", str(inp.stdcxx_shim), "the toolchain cache (under EDGEFORGE_CACHE)"))
    if inp.conan_packages_dir:
        out.append(("path", str(inp.conan_packages_dir), "Conan's home (under EDGEFORGE_CACHE)"))
    for path, _name in inp.path_names:
        out.append(("path", str(path), "a folder of edgeforge (EDGEFORGE_CACHE or EDGEFORGE_BUILD_DIR)"))
    for role, tool in sorted(inp.toolset.tools.items()):
        out.append(("path", tool, f"tool '{role}' of compiler {t.compiler.name} ({comp})"))
    for name, folder in sorted(inp.overlays.items()):
        out.append(("path", str(folder), f"key 'overlays.{name}.path' in {board}"))
    return out


def check_values(inp: ToolchainInputs) -> None:
    """Refuse what no generated file could hold (exit 2, naming where the value came from).

    Flags may hold quotes, '$', ';' and spaces (each file quotes them); not line breaks (CMake
    and Ninja command lines cannot). Paths must also be Conan profile values and CMake paths.
    """
    for kind, value, origin in _origins(inp):
        for v in (value if isinstance(value, list) else [value]):
            try:
                if kind == "flags":
                    esc.no_line_breaks(v)
                else:
                    esc.cmake_path(v)
                    esc.conan_value(v)
                    if ":" in v:
                        raise esc.Unsafe("contains ':', the separator of search paths")
            except esc.Unsafe as exc:
                raise DescriptorError(
                    f"{origin}: {v!r} {exc}; the generated toolchain files for "
                    f"{inp.target.name} cannot hold it - change the value") from None
