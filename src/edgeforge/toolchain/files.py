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

from edgeforge.config import AbiStrategy, Arch, CompilerFamily, Target, expand_path, version_tuple
from edgeforge.core import DescriptorError, meson_literal, rmtree, write_atomic
from edgeforge.core import escaping as esc

from . import stdcxx_compat
from .compilers import Toolset

COMPAT_HEADER = "glibc-compat.h"
ENV_SCRIPT = "environment-setup"
CTEST_ENV = "ctest-env.cmake"
#: output file -> template; the "bin/..." entries get the board's tool names (see wrapper_names)
TEMPLATES = {
    "conan-host.profile": "conan-host.profile.j2",
    "conan-build.profile": "conan-build.profile.j2",
    "toolchain.cmake": "toolchain.cmake.j2",
    CTEST_ENV: "ctest-env.cmake.j2",
    "pkg-config": "pkg-config.sh.j2",
    "meson-cross.ini": "meson-cross.ini.j2",
    ENV_SCRIPT: "environment-setup.sh.j2",
    "bin/cc": "compiler-wrapper.sh.j2",
    "bin/cxx": "compiler-wrapper.sh.j2",
    "bin/cfg": "clang.cfg.j2",
    "bin/pkg-config": "pkg-config.sh.j2",
}
EXECUTABLE = {"pkg-config", "bin/cc", "bin/cxx", "bin/pkg-config"}


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


TEMPLATE_DIR = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
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
    #: machine paths and the fixed names they get in objects and build-information strings
    #: (compiler prefix maps in the wrappers, ``user.edgeforge:path_names`` for the recipes),
    #: so a package is the same bytes whichever checkout, cache or Conan folder built it
    path_names: tuple[tuple[Path, str], ...] = ()
    #: debug information the wrappers add to every compile (Settings.debug_info); the SDK's
    #: wrappers add none (an outside project picks its own)
    debug_info: str = "none"


#: compile flags per debug_info level (clang and GCC read -g1 alike)
DEBUG_FLAGS = {"none": [], "lines": ["-g1"], "full": ["-g"]}


def present_overlays(target: Target) -> dict[str, Path]:
    out = {}
    for name, ov in target.board.spec.overlays.items():
        p = expand_path(ov.path)
        if "$" not in str(p) and p.is_dir():
            out[name] = p
    return out


def wrapper_names(toolset: Toolset) -> dict[str, str]:
    """bin/ file names of the compiler wrappers (and pkg-config) for each TEMPLATES key."""
    t = toolset.triple
    if toolset.family is CompilerFamily.CLANG:
        names = {"bin/cc": f"{t}-clang", "bin/cxx": f"{t}-clang++", "bin/cfg": f"{t}-clang.cfg"}
    else:
        names = {"bin/cc": f"{t}-gcc", "bin/cxx": f"{t}-g++"}
    names["bin/pkg-config"] = f"{t}-pkg-config"
    return {k: f"bin/{v}" for k, v in names.items()}


def output_names(toolset: Toolset) -> dict[str, str]:
    """TEMPLATES key -> the file written (relative to the toolchain folder)."""
    bins = wrapper_names(toolset)
    return {k: bins.get(k, k) for k in TEMPLATES if not k.startswith("bin/") or k in bins}


def _tool_beside(cc: str, family: CompilerFamily, tool: str) -> str:
    """ld / as next to the compiler: clang-14 -> ld.lld-14; aarch64-linux-gnu-gcc -> ...-ld."""
    p = Path(cc)
    if family is CompilerFamily.CLANG:
        if tool == "as":
            return ""
        return str(p.with_name(p.name.replace("clang", "ld.lld", 1)))
    stem = p.name[: p.name.rindex("gcc")] if "gcc" in p.name else ""
    return str(p.with_name(stem + tool))


_OPT = {"Release": ["-O2"], "Debug": ["-O0", "-g"], "RelWithDebInfo": ["-O2", "-g"],
        "MinSizeRel": ["-Os"]}


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


def provenance_lines(inp: ToolchainInputs, wrapper_flags: list[str]) -> list[str]:
    """Where headers, libraries and tools come from, said in every generated file."""
    ts, t = inp.toolset, inp.target
    sysroot = str(inp.sysroot)
    cc = Path(ts.cc)
    lines = [f"compiler: {ts.family.value} {ts.version} ({ts.cc}), called through "
             f"bin/{Path(wrapper_names(ts)['bin/cc']).name} with {' '.join(wrapper_flags)}"]
    if ts.family is CompilerFamily.CLANG:
        lines += [
            f"C library (glibc headers, crt1.o/crti.o, libc.so), libstdc++, libgcc and every "
            f"other header and library: the sysroot {sysroot} ({t.sysroot.name}, glibc "
            f"{inp.sysroot_glibc or '?'})",
            "clang's own builtin headers (stddef.h, arm_neon.h ...) come from its resource "
            f"folder ({cc.name} -print-resource-dir)",
        ]
    else:
        root = cc.parent.parent if cc.is_absolute() else Path("<gcc prefix>")
        lines += [
            f"C library (glibc headers, crt1.o/crti.o/crtn.o, libc.so, libm, libpthread), "
            f"libstdc++ and libgcc: the cross compiler's own target folder {root / ts.triple} "
            f"and its gcc folder (gcc searches them before the sysroot, whatever --sysroot "
            f"says); the ABI gate holds what they bind to the board's ceiling",
            f"every other header and library (zlib, ...): the sysroot {sysroot} "
            f"({t.sysroot.name}, glibc {inp.sysroot_glibc or '?'})",
        ]
    lines += [
        f"pkg-config: the sysroot's .pc files and PKG_CONFIG_PATH folders inside the sysroot "
        f"or a build tree, through {inp.out_dir / 'pkg-config'}",
        "never: the build machine's /usr/include, /usr/lib/x86_64-linux-gnu or its .pc files",
    ]
    return lines


def path_maps(inp: ToolchainInputs) -> list[str]:
    """-ffile-prefix-map flags for the wrappers, the most general first (GCC tries the last
    given first; clang the longest): edgeforge's folders get fixed names and the sysroot maps
    to the device's own paths (/usr/include/...), as a debugger on the device sees them."""
    if not inp.path_names:
        return []
    pairs = sorted([(str(p), n) for p, n in inp.path_names] + [(str(inp.sysroot), "")],
                   key=lambda pair: len(pair[0]))
    return [f"-ffile-prefix-map={old}={new}" for old, new in pairs]


def portable(text: str, inp: ToolchainInputs) -> str:
    """`text` with this machine's folders replaced by their fixed names (the longest first)."""
    pairs = sorted([(str(inp.sysroot), f"/edgeforge-sysroot/{inp.sysroot.name}")]
                   + [(str(p), n) for p, n in inp.path_names], key=lambda pair: -len(pair[0]))
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def package_id_conf(inp: ToolchainInputs, cflags: list[str], cxxflags: list[str],
                    ldflags: list[str]) -> dict:
    """What a package ID sees of the board: the sysroot's identity (name and descriptor key),
    the ABI ceiling and the flags, with machine folders replaced by fixed names. Another
    machine (a CI runner, a colleague's laptop with another cache folder) computes the same IDs
    for the same board; two boards that differ in CPU flags, sysroot, ceiling or glibc pins
    never share one."""
    abi = inp.target.abi
    return {"sysroot": inp.sysroot.name,
            "abi": {"glibc": abi.glibc, "glibcxx": abi.glibcxx, "cxxabi": abi.cxxabi,
                    "strategy": abi.strategy.value},
            "cflags": [portable(f, inp) for f in cflags],
            "cxxflags": [portable(f, inp) for f in cflags + cxxflags],
            "ldflags": [portable(f, inp) for f in ldflags]}


def template_vars(inp: ToolchainInputs) -> dict:
    check_values(inp)
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
    names = wrapper_names(ts)
    wrappers = {"cc": str(inp.out_dir / names["bin/cc"]), "cxx": str(inp.out_dir / names["bin/cxx"])}
    # what defines the target travels with the compiler; flags that not every invocation
    # uses go to clang's config file (clang warns about unused command-line arguments)
    is_clang = ts.family is CompilerFamily.CLANG
    wrapper_flags = [*ts.target_flags, f"--sysroot={sysroot}", *t.cpu_flags]
    implied = (["-include", str(compat)] if compat else []) + [
        f for f in ldflags if f not in ts.target_flags and f not in t.extra_ldflags]
    cfg = str(inp.out_dir / names["bin/cfg"]) if is_clang and implied else None
    if not is_clang:
        wrapper_flags += implied
    tools = {k: ts.tools.get(k, "") for k in
             ("cc", "cxx", "ar", "ranlib", "strip", "nm", "objcopy", "objdump", "readelf")}
    optional_cflags = list(t.extra_cflags)
    optional_ldflags = list(t.extra_ldflags)
    ld = _tool_beside(ts.cc, ts.family, "ld")
    as_ = _tool_beside(ts.cc, ts.family, "as")
    env_vars = [
        ("EDGEFORGE_BOARD", t.name),
        ("EDGEFORGE_TRIPLE", ts.triple),
        ("EDGEFORGE_SYSROOT", sysroot),
        ("CC", esc.sh_words([wrappers["cc"]])),
        ("CXX", esc.sh_words([wrappers["cxx"]])),
        ("CPP", esc.sh_words([wrappers["cc"], "-E"])),
        ("AS", esc.sh_words([as_] if as_ else [wrappers["cc"], "-c"])),
        ("LD", esc.sh_words([ld, f"--sysroot={sysroot}"])),
        ("AR", esc.sh_words([tools["ar"]])),
        ("NM", esc.sh_words([tools["nm"]])),
        ("RANLIB", esc.sh_words([tools["ranlib"]])),
        ("STRIP", esc.sh_words([tools["strip"]])),
        ("OBJCOPY", esc.sh_words([tools["objcopy"]])),
        ("OBJDUMP", esc.sh_words([tools["objdump"]])),
        ("READELF", esc.sh_words([tools["readelf"]])),
        ("CFLAGS", esc.sh_words(_OPT.get(t.build_type, []) + optional_cflags)),
        ("CXXFLAGS", esc.sh_words(_OPT.get(t.build_type, []) + optional_cflags
                                  + list(t.extra_cxxflags))),
        ("LDFLAGS", esc.sh_words(optional_ldflags)),
        ("CONFIGURE_FLAGS", esc.sh_words([f"--host={ts.triple}", "--build=x86_64-linux-gnu",
                                          f"--with-sysroot={sysroot}"])),
        ("PKG_CONFIG", str(inp.out_dir / "pkg-config")),
        ("PKG_CONFIG_LIBDIR", str(pc_dir)),
        ("CMAKE_TOOLCHAIN_FILE", str(inp.out_dir / "toolchain.cmake")),
        ("MESON_CROSS_FILE", str(inp.out_dir / "meson-cross.ini")),
        ("QEMU_LD_PREFIX", sysroot),
    ]
    pc_roots = [sysroot, str(inp.out_dir), str(inp.out_dir.parent)]
    if inp.conan_packages_dir:
        pc_roots.append(str(inp.conan_packages_dir))
    return {
        "package_id_conf": package_id_conf(inp, cflags, list(t.extra_cxxflags), ldflags),
        "path_maps": path_maps(inp),
        "debug_flags": DEBUG_FLAGS[inp.debug_info],
        "debug_info": inp.debug_info,
        "path_names": {str(p): n for p, n in inp.path_names},
        "conan_built": str(inp.conan_packages_dir / "b") if inp.conan_packages_dir else None,
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
        "is_clang": is_clang,
        "version": ts.version,
        "cppstd": t.cppstd,
        "build_type": t.build_type,
        "triple": ts.triple,
        "sysroot": sysroot,
        "tools": tools,
        "wrappers": wrappers,
        "wrappers_conan": {"c": wrappers["cc"], "cpp": wrappers["cxx"]},
        "wrapper_flags": wrapper_flags,
        "cfg": cfg,
        "cfg_flags": implied if is_clang else [],
        "wrapper_names": [Path(names["bin/cc"]).name, Path(names["bin/cxx"]).name],
        "bindir": str(inp.out_dir / "bin"),
        "cflags": cflags,
        "optional_cflags": optional_cflags,
        "optional_ldflags": optional_ldflags,
        "target_flags": list(ts.target_flags),
        "cxxflags": list(t.extra_cxxflags),
        "ldflags": ldflags,
        "pkg_config": str(inp.out_dir / "pkg-config"),
        "pc_dir": str(pc_dir),
        "pc_path_roots": pc_roots,
        "system_include_path": f"{sysroot}/usr/include:{sysroot}/usr/include/{ma}",
        "system_library_path": ":".join(
            f"{sysroot}{d}" for d in (f"/usr/lib/{ma}", f"/lib/{ma}", "/usr/lib", "/lib")),
        "host_pkg_config": inp.host_pkg_config,
        "find_roots": find_roots,
        "emulator": emulator,
        "cmake_extra_variables": cmake_extra_variables(ts, emulator),
        "ctest_env": str(inp.out_dir / CTEST_ENV),
        "env_vars": env_vars,
        "provenance": provenance_lines(inp, wrapper_flags),
        "can_run": "True" if inp.can_run else "False",
        "host_gcc_version": inp.host_gcc_version,
        "host_compilers": inp.host_compilers,
        "symvers": pins,
        "no_clockwait": no_clockwait,
        "ceiling": t.abi.glibc,
        "compat_header": compat,
    }


def render(inp: ToolchainInputs) -> dict[str, str]:
    """file name (relative to the toolchain folder) -> text, for every generated file."""
    base = template_vars(inp)
    out = {}
    for key, name in output_names(inp.toolset).items():
        if key == "bin/cfg" and not base["cfg"]:
            continue
        extra = {"self_path": str(inp.out_dir / name)}
        if key in ("bin/cc", "bin/cxx"):
            extra["real"] = base["tools"]["cc" if key == "bin/cc" else "cxx"]
        try:
            out[name] = _ENV.get_template(TEMPLATES[key]).render(**base, **extra)
        except esc.Unsafe as exc:  # check_values lets nothing through that gets here
            raise DescriptorError(f"cannot write {name} for {inp.target.name}: {exc}") from None
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
    #: what they were rendered from (the SDK renders the same files for its own layout)
    inputs: ToolchainInputs | None = None

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

    @property
    def env_script(self) -> Path:
        return self.files[ENV_SCRIPT]

    @property
    def meson(self) -> Path:
        return self.files["meson-cross.ini"]


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    """Unchanged files keep their time stamps (ccache and make look at the wrappers' mtime)."""
    if path.is_file() and path.read_text(errors="replace") == text and \
            (path.stat().st_mode & 0o777) == mode:
        return
    write_atomic(path, text, mode=mode)


def write_toolchain(inp: ToolchainInputs) -> ToolchainFiles:
    out = inp.out_dir
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    executable = {output_names(inp.toolset).get(k, k) for k in EXECUTABLE}
    for name, text in render(inp).items():
        path = (inp.compat_dir or out) / name if name == COMPAT_HEADER else out / name
        _write_if_changed(path, text, 0o755 if name in executable else 0o644)
        written[name] = path
    bindir = out / "bin"
    for stale in sorted(bindir.iterdir()) if bindir.is_dir() else []:
        if f"bin/{stale.name}" not in written:  # another compiler's wrappers
            stale.unlink()
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
    return ToolchainFiles(out, written, inp)


def native_profile(host_gcc_version: str, host_compilers: dict[str, str], cppstd: str) -> str:
    """The build machine as a *host* profile: the x86_64 parity build of the app and its graph."""
    return _ENV.get_template("conan-build.profile.j2").render(
        host_gcc_version=host_gcc_version, host_compilers=host_compilers, cppstd=cppstd)
