"""Render a board's cross toolchain files from Jinja2 templates.

Descriptor facts flow into generated files, never into recipes: a Conan host and build
profile, a CMake toolchain file, a pkg-config wrapper that only sees the sysroot and Conan's
packages, and a Meson cross file. The flag builders and `render` are pure (unit-tested as
text); `write_toolchain` puts the files on disk.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from . import escaping as esc
from . import stdcxx_compat
from .compilers import Toolset
from .descriptors import Target, expand_path
from .errors import DescriptorError
from .escaping import meson_literal
from .fsutil import rmtree, write_atomic
from .model import AbiStrategy, Arch, CompilerFamily, version_tuple

COMPAT_HEADER = "glibc-compat.h"
TEMPLATES = {
    "conan-host.profile": "conan-host.profile.j2",
    "conan-build.profile": "conan-build.profile.j2",
    "toolchain.cmake": "toolchain.cmake.j2",
    "pkg-config": "pkg-config.sh.j2",
    "meson-cross.ini": "meson-cross.ini.j2",
}
EXECUTABLE = {"pkg-config"}


def compile_flags(target: Target, toolset: Toolset, compat_header: Path | None = None) -> list[str]:
    """Flags for every C and C++ compile (and link, through the driver)."""
    include = ["-include", str(compat_header)] if compat_header else []
    return [*toolset.target_flags, *target.cpu_flags, *include, *target.extra_cflags]


#: (newest version introduced, symbol, the older version aarch64 glibc still provides)
_AARCH64_PINS = (
    ((2, 28), "fcntl64", "fcntl@GLIBC_2.17"),
    ((2, 29), "exp", "exp@GLIBC_2.17"),
    ((2, 29), "exp2", "exp2@GLIBC_2.17"),
    ((2, 29), "log", "log@GLIBC_2.17"),
    ((2, 29), "log2", "log2@GLIBC_2.17"),
    ((2, 29), "pow", "pow@GLIBC_2.17"),
)


def glibc_pins(target: Target, sysroot_glibc: str | None) -> tuple[list[tuple[str, str]], bool]:
    """Symbol-version pins (and whether to avoid pthread_cond_clockwait) for a board whose
    ceiling is older than its stand-in sysroot's glibc; empty when nothing is needed."""
    if target.arch is not Arch.ARM64 or not sysroot_glibc:
        return [], False
    ceiling = version_tuple(target.abi.glibc)
    if ceiling >= version_tuple(sysroot_glibc):
        return [], False
    pins = [(sym, old) for introduced, sym, old in _AARCH64_PINS if ceiling < introduced]
    return pins, ceiling < (2, 30)


def link_flags(target: Target, toolset: Toolset, stdcxx_shim: Path | None = None) -> list[str]:
    # the driver links too: clang needs its target there (autotools-style builds such as
    # FFmpeg's link with $CC and LDFLAGS only)
    flags: list[str] = list(toolset.target_flags)
    if toolset.linker:
        flags.append(f"-fuse-ld={toolset.linker}")
    if target.abi.strategy is AbiStrategy.STATIC_LIBSTDCXX:
        flags += ["-static-libstdc++", "-static-libgcc"]
    if stdcxx_shim:
        flags += stdcxx_compat.link_flags(stdcxx_shim)
    flags += list(target.extra_ldflags)
    return flags


def emulator_argv(qemu: str, sysroot: Path) -> list[str]:
    return [qemu, "-L", str(sysroot)]


def cmake_extra_variables(toolset: Toolset, emulator: list[str]) -> dict[str, str]:
    """Variables Conan's CMake toolchain adds for every recipe.

    clang needs its target for every language CMake drives, assembler included (Conan passes
    tools.build:cflags to C and C++ only, so NEON .S files would otherwise be assembled for
    the build machine).
    """
    out = {"CMAKE_CROSSCOMPILING_EMULATOR": ";".join(emulator)}
    if toolset.family is CompilerFamily.CLANG:
        for lang in ("C", "CXX", "ASM"):
            out[f"CMAKE_{lang}_COMPILER_TARGET"] = toolset.triple
    return out


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("edgeforge", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_ENV.filters.update({
    "meson": meson_literal,
    "comment": esc.one_line,
    "sh": esc.sh,
    "cmake_path": esc.cmake_path,
    "cmake_flags": esc.cmake_flags,
    "cmake_list": esc.cmake_list,
    "conan_json": esc.conan_json,
    "conan_value": esc.conan_value,
    "conan_comment": esc.conan_comment,
    "clang_cfg": esc.sh,  # clang tokenizes config files with the shell's quoting rules
})
_ENV.policies["json.dumps_kwargs"] = {"sort_keys": True}


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


def present_overlays(target: Target) -> dict[str, Path]:
    out = {}
    for name, ov in target.board.spec.overlays.items():
        p = expand_path(ov.path)
        if "$" not in str(p) and p.is_dir():
            out[name] = p
    return out


def template_vars(inp: ToolchainInputs) -> dict:
    t, ts = inp.target, inp.toolset
    arch: Arch = t.arch
    pins, no_clockwait = glibc_pins(t, inp.sysroot_glibc)
    compat = (inp.compat_dir or inp.out_dir) / COMPAT_HEADER if (pins or no_clockwait) else None
    cflags = compile_flags(t, ts, compat)
    ldflags = link_flags(t, ts, inp.stdcxx_shim)
    sysroot = str(inp.sysroot)
    pc_dir = inp.out_dir / "pkgconfig"
    find_roots = [str(p) for p in inp.overlays.values()]
    if inp.conan_packages_dir:
        find_roots.append(str(inp.conan_packages_dir))
    ma = arch.multiarch
    emulator = emulator_argv(inp.qemu, inp.sysroot)
    return {
        "board": t.name,
        "description": t.board.spec.description,
        "compiler_name": t.compiler.name,
        "sysroot_name": t.sysroot.name,
        "sysroot_glibc": inp.sysroot_glibc or "?",
        "conan_arch": arch.conan_arch,
        "cmake_processor": arch.cmake_processor,
        "meson_cpu_family": arch.meson_cpu_family,
        "multiarch": ma,
        "family": ts.family.value,
        "is_clang": ts.family is CompilerFamily.CLANG,
        "version": ts.version,
        "cppstd": t.cppstd,
        "build_type": t.build_type,
        "triple": ts.triple,
        "sysroot": sysroot,
        "tools": {k: ts.tools.get(k, "") for k in
                  ("cc", "cxx", "ar", "ranlib", "strip", "nm", "objcopy", "readelf")},
        "compiler_executables": {"c": ts.cc, "cpp": ts.cxx},
        "cflags": cflags,
        "cflags_no_target": [f for f in cflags if f not in ts.target_flags],
        "target_flags": list(ts.target_flags),
        "cxxflags": list(t.extra_cxxflags),
        "ldflags": ldflags,
        "pkg_config": str(inp.out_dir / "pkg-config"),
        "pc_dir": str(pc_dir),
        "system_include_path": f"{sysroot}/usr/include:{sysroot}/usr/include/{ma}",
        "system_library_path": ":".join(
            f"{sysroot}{d}" for d in (f"/usr/lib/{ma}", f"/lib/{ma}", "/usr/lib", "/lib")),
        "host_pkg_config": inp.host_pkg_config,
        "find_roots": find_roots,
        "emulator": emulator,
        "cmake_extra_variables": cmake_extra_variables(ts, emulator),
        "can_run": "True" if inp.can_run else "False",
        "host_gcc_version": inp.host_gcc_version,
        "host_compilers": inp.host_compilers,
        "symvers": pins,
        "no_clockwait": no_clockwait,
        "ceiling": t.abi.glibc,
        "compat_header": compat,
    }


def render(inp: ToolchainInputs) -> dict[str, str]:
    """file name -> text, for every generated toolchain file."""
    base = template_vars(inp)
    out = {}
    for name, tpl in TEMPLATES.items():
        out[name] = _ENV.get_template(tpl).render(**base, self_path=str(inp.out_dir / name))
    if base["compat_header"]:
        out[COMPAT_HEADER] = _ENV.get_template("glibc-compat.h.j2").render(**base)
    return out


_PC_ABS = re.compile(r"(^|(?<=[=\s])|(?<=-I)|(?<=-L)|(?<=-isystem))(/[^\s]*)")


def relocate_pc(text: str, sysroot: str) -> str:
    """Move a sysroot .pc file's absolute paths into the sysroot (prefix=/usr -> prefix=S/usr).

    Only variable definitions and Cflags/Libs lines change; values already pointing into the
    sysroot are left alone.
    """
    out = []
    for line in text.splitlines(keepends=True):
        m = re.match(r"^(\s*[A-Za-z_][A-Za-z0-9_.]*\s*=\s*)(.*)$", line, re.S)
        if m:
            line = m.group(1) + _relocate_value(m.group(2), sysroot)
        else:
            m = re.match(r"^(\s*(?:Cflags|Cflags\.private|Libs|Libs\.private)\s*:)(.*)$", line, re.S)
            if m:
                line = m.group(1) + _relocate_value(m.group(2), sysroot)
        out.append(line)
    return "".join(out)


def _relocate_value(value: str, sysroot: str) -> str:
    def sub(m: re.Match) -> str:
        path = m.group(2)
        if path == sysroot or path.startswith(sysroot.rstrip("/") + "/"):
            return m.group(0)
        return m.group(1) + sysroot.rstrip("/") + path

    return _PC_ABS.sub(sub, value)


def sysroot_pc_files(sysroot: Path, arch: Arch) -> list[Path]:
    files: dict[str, Path] = {}
    for d in (f"usr/lib/{arch.multiarch}/pkgconfig", "usr/lib/pkgconfig", "usr/share/pkgconfig"):
        folder = sysroot / d
        if folder.is_dir():
            for f in sorted(folder.glob("*.pc")):
                files.setdefault(f.name, f)  # first folder wins, as in pkg-config's search
    return list(files.values())


@dataclass(frozen=True)
class ToolchainFiles:
    out_dir: Path
    files: dict[str, Path]

    @property
    def cmake(self) -> Path:
        return self.files["toolchain.cmake"]

    @property
    def host_profile(self) -> Path:
        return self.files["conan-host.profile"]

    @property
    def build_profile(self) -> Path:
        return self.files["conan-build.profile"]

    @property
    def pkg_config(self) -> Path:
        return self.files["pkg-config"]


def write_toolchain(inp: ToolchainInputs) -> ToolchainFiles:
    out = inp.out_dir
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in render(inp).items():
        path = (inp.compat_dir or out) / name if name == COMPAT_HEADER else out / name
        write_atomic(path, text, mode=0o755 if name in EXECUTABLE else 0o644)
        written[name] = path
    if inp.stdcxx_shim:
        for name in (stdcxx_compat.ARCHIVE, stdcxx_compat.SCRIPT):
            written[name] = inp.stdcxx_shim / name
    pc_tmp = out / ".pkgconfig.new"
    rmtree(pc_tmp)
    pc_tmp.mkdir()
    for f in sysroot_pc_files(inp.sysroot, inp.target.arch):
        text = f.read_text(errors="replace")
        (pc_tmp / f.name).write_text(relocate_pc(text, str(inp.sysroot)))
    rmtree(out / "pkgconfig")
    shutil.move(str(pc_tmp), str(out / "pkgconfig"))
    return ToolchainFiles(out, written)


def native_profile(host_gcc_version: str, host_compilers: dict[str, str], cppstd: str) -> str:
    """The build machine as a *host* profile: the x86_64 parity build of the app and its graph."""
    return _ENV.get_template("conan-build.profile.j2").render(
        host_gcc_version=host_gcc_version, host_compilers=host_compilers, cppstd=cppstd)
