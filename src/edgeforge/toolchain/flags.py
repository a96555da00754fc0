"""The flags a board's compiles and links get (pure): the target, the CPU, the glibc compat
header, the libstdc++ strategy, debug information and the build type's optimisation."""

from __future__ import annotations

from pathlib import Path

from edgeforge.config import AbiStrategy, Arch, CompilerFamily, Target, version_tuple

from . import stdcxx_compat
from .compilers import Toolset

#: compile flags per debug_info level (clang and GCC read -g1 alike)
DEBUG_FLAGS = {"none": [], "lines": ["-g1"], "full": ["-g"]}
#: what the environment script's CFLAGS start from, per build type
BUILD_TYPE_FLAGS = {"Release": ["-O2"], "Debug": ["-O0", "-g"], "RelWithDebInfo": ["-O2", "-g"],
                    "MinSizeRel": ["-Os"]}


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


def tool_beside(cc: str, family: CompilerFamily, tool: str) -> str:
    """ld / as next to the compiler: clang-14 -> ld.lld-14; aarch64-linux-gnu-gcc -> ...-ld."""
    p = Path(cc)
    if family is CompilerFamily.CLANG:
        if tool == "as":
            return ""
        return str(p.with_name(p.name.replace("clang", "ld.lld", 1)))
    stem = p.name[: p.name.rindex("gcc")] if "gcc" in p.name else ""
    return str(p.with_name(stem + tool))
