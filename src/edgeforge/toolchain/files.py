"""Render a board's cross toolchain files from Jinja2 templates.

Descriptor facts flow into generated files, never into recipes: a Conan host and build
profile, a CMake toolchain file, a pkg-config wrapper that only sees the sysroot and Conan's
packages, a Meson cross file, an environment script and the compiler wrappers.

As Conan's CMakeToolchain does, the files are assembled from blocks: each generated file is a
`Block` (its template, in templates/ beside this module, and a small function returning only
that file's context), and `BLOCKS` lists them all. What several files say alike (the flags,
the wrappers, the tools, where things come from) is worked out once, in `Shared`. `render` is
pure (unit-tested as text); `write_toolchain` puts the files on disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from edgeforge.config import CompilerFamily
from edgeforge.core import DescriptorError, meson_literal, rmtree, write_atomic
from edgeforge.core import escaping as esc
from edgeforge.host import qemu_user_argv

from . import pathnames, stdcxx_compat
from .compilers import Toolset
from .flags import (
    BUILD_TYPE_FLAGS,
    DEBUG_FLAGS,
    cmake_extra_variables,
    compile_flags,
    glibc_pins,
    link_flags,
    tool_beside,
)
from .inputs import ToolchainInputs, check_values
from .pcfiles import relocate_pc, sysroot_pc_files

COMPAT_HEADER = "glibc-compat.h"
ENV_SCRIPT = "environment-setup"
CTEST_ENV = "ctest-env.cmake"


def emulator_argv(qemu: str, sysroot: Path) -> list[str]:
    return qemu_user_argv(qemu, sysroot)


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


def wrapper_names(toolset: Toolset) -> dict[str, str]:
    """bin/ file names of the compiler wrappers (and pkg-config) for each "bin/..." block."""
    t = toolset.triple
    if toolset.family is CompilerFamily.CLANG:
        names = {"bin/cc": f"{t}-clang", "bin/cxx": f"{t}-clang++", "bin/cfg": f"{t}-clang.cfg"}
    else:
        names = {"bin/cc": f"{t}-gcc", "bin/cxx": f"{t}-g++"}
    names["bin/pkg-config"] = f"{t}-pkg-config"
    return {k: f"bin/{v}" for k, v in names.items()}


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
    pairs = sorted([(str(inp.sysroot), pathnames.sysroot_name(inp.sysroot_id))]
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
    return {"sysroot": inp.sysroot_id,
            "abi": {"glibc": abi.glibc, "glibcxx": abi.glibcxx, "cxxabi": abi.cxxabi,
                    "strategy": abi.strategy.value},
            "cflags": [portable(f, inp) for f in cflags],
            "cxxflags": [portable(f, inp) for f in cflags + cxxflags],
            "ldflags": [portable(f, inp) for f in ldflags]}


# ---- what several files say alike -------------------------------------------------------------
@dataclass(frozen=True)
class Shared:
    """What several generated files say alike, worked out once from the inputs."""

    board: str
    description: str
    sysroot: str
    #: the glibc compat header (force-included), when the ceiling is below the sysroot's glibc
    compat: Path | None
    symvers: list[tuple[str, str]]
    no_clockwait: bool
    cflags: list[str]
    cxxflags: list[str]
    ldflags: list[str]
    #: "cc"/"cxx" -> the wrapper's path, and the flags every wrapper call gets
    wrappers: dict[str, str]
    wrapper_flags: list[str]
    #: clang's config file (flags not every invocation uses), or None
    cfg: str | None
    cfg_flags: list[str]
    tools: dict[str, str]
    emulator: list[str]
    pkg_config: str
    pc_dir: str
    provenance: list[str]


def shared(inp: ToolchainInputs) -> Shared:
    t, ts = inp.target, inp.toolset
    pins, no_clockwait = glibc_pins(t, inp.sysroot_glibc)
    compat = (inp.compat_dir or inp.out_dir) / COMPAT_HEADER if (pins or no_clockwait) else None
    ldflags = link_flags(t, ts, inp.stdcxx_shim)
    names = wrapper_names(ts)
    # what defines the target travels with the compiler; flags that not every invocation
    # uses go to clang's config file (clang warns about unused command-line arguments)
    is_clang = ts.family is CompilerFamily.CLANG
    wrapper_flags = [*ts.target_flags, f"--sysroot={inp.sysroot}", *t.cpu_flags]
    implied = (["-include", str(compat)] if compat else []) + [
        f for f in ldflags if f not in ts.target_flags and f not in t.extra_ldflags]
    if not is_clang:
        wrapper_flags += implied
    return Shared(
        board=t.name,
        description=t.board.spec.description,
        sysroot=str(inp.sysroot),
        compat=compat,
        symvers=pins,
        no_clockwait=no_clockwait,
        cflags=compile_flags(t, ts, compat),
        cxxflags=list(t.extra_cxxflags),
        ldflags=ldflags,
        wrappers={"cc": str(inp.out_dir / names["bin/cc"]),
                  "cxx": str(inp.out_dir / names["bin/cxx"])},
        wrapper_flags=wrapper_flags,
        cfg=str(inp.out_dir / names["bin/cfg"]) if is_clang and implied else None,
        cfg_flags=implied if is_clang else [],
        tools={k: ts.tools.get(k, "") for k in
               ("cc", "cxx", "ar", "ranlib", "strip", "nm", "objcopy", "objdump", "readelf")},
        emulator=emulator_argv(inp.qemu, inp.sysroot),
        pkg_config=str(inp.out_dir / "pkg-config"),
        pc_dir=str(inp.out_dir / "pkgconfig"),
        provenance=provenance_lines(inp, wrapper_flags),
    )


# ---- one context per generated file -----------------------------------------------------------
def host_profile(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    t, ts = inp.target, inp.toolset
    return {
        "board": s.board, "description": s.description, "provenance": s.provenance,
        "compiler_name": t.compiler.name, "sysroot_name": t.sysroot.name,
        "sysroot_glibc": inp.sysroot_glibc or "?",
        "conan_arch": t.arch.conan_arch, "family": ts.family.value, "version": ts.version,
        "cppstd": t.cppstd, "build_type": t.build_type,
        "wrappers": s.wrappers, "wrappers_conan": {"c": s.wrappers["cc"], "cpp": s.wrappers["cxx"]},
        "sysroot": s.sysroot, "triple": ts.triple, "pkg_config": s.pkg_config, "tools": s.tools,
        "cflags": s.cflags, "cxxflags": s.cxxflags, "ldflags": s.ldflags,
        "cmake_processor": t.arch.cmake_processor,
        "cmake_extra_variables": cmake_extra_variables(ts, s.emulator),
        "can_run": "True" if inp.can_run else "False",
        "path_names": {str(p): n for p, n in inp.path_names},
        "debug_info": inp.debug_info,
        "package_id_conf": package_id_conf(inp, s.cflags, s.cxxflags, s.ldflags),
    }


def build_profile_context(host_gcc_version: str, host_compilers: dict[str, str],
                          cppstd: str) -> dict:
    return {"host_gcc_version": host_gcc_version, "host_compilers": host_compilers,
            "cppstd": cppstd}


def build_profile(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    return build_profile_context(inp.host_gcc_version, inp.host_compilers, inp.target.cppstd)


def cmake_toolchain(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    t, ts = inp.target, inp.toolset
    find_roots = [str(p) for p in inp.overlays.values()]
    if inp.conan_packages_dir:
        find_roots.append(str(inp.conan_packages_dir))
    return {
        "board": s.board, "description": s.description, "provenance": s.provenance,
        "self_path": path, "cmake_processor": t.arch.cmake_processor, "sysroot": s.sysroot,
        "wrappers": s.wrappers, "is_clang": ts.family is CompilerFamily.CLANG,
        "triple": ts.triple, "tools": s.tools,
        "cflags": s.cflags, "cxxflags": s.cxxflags, "ldflags": s.ldflags,
        "find_roots": find_roots, "multiarch": t.arch.multiarch, "pkg_config": s.pkg_config,
        "emulator": s.emulator, "ctest_env": str(inp.out_dir / CTEST_ENV),
    }


def ctest_env(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    return {"board": s.board, "sysroot": s.sysroot}


def pkg_config(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    ma, sysroot = inp.target.arch.multiarch, s.sysroot
    roots = [sysroot, str(inp.out_dir), str(inp.out_dir.parent)]
    if inp.conan_packages_dir:
        roots.append(str(inp.conan_packages_dir))
    return {
        "board": s.board, "pc_dir": s.pc_dir, "pc_path_roots": roots,
        "system_include_path": f"{sysroot}/usr/include:{sysroot}/usr/include/{ma}",
        "system_library_path": ":".join(
            f"{sysroot}{d}" for d in (f"/usr/lib/{ma}", f"/lib/{ma}", "/usr/lib", "/lib")),
        "host_pkg_config": inp.host_pkg_config,
    }


def meson_cross(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    t = inp.target
    return {
        "board": s.board, "description": s.description, "provenance": s.provenance,
        "self_path": path, "sysroot": s.sysroot, "wrappers": s.wrappers, "tools": s.tools,
        "pkg_config": s.pkg_config, "emulator": s.emulator,
        "optional_cflags": list(t.extra_cflags), "cxxflags": s.cxxflags,
        "optional_ldflags": list(t.extra_ldflags), "pc_dir": s.pc_dir,
        "meson_cpu_family": t.arch.meson_cpu_family, "cmake_processor": t.arch.cmake_processor,
    }


def environment_setup(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    t, ts = inp.target, inp.toolset
    sysroot, wrappers, tools, out = s.sysroot, s.wrappers, s.tools, inp.out_dir
    ld = tool_beside(ts.cc, ts.family, "ld")
    as_ = tool_beside(ts.cc, ts.family, "as")
    opt = BUILD_TYPE_FLAGS.get(t.build_type, [])
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
        ("CFLAGS", esc.sh_words(opt + list(t.extra_cflags))),
        ("CXXFLAGS", esc.sh_words(opt + list(t.extra_cflags) + list(t.extra_cxxflags))),
        ("LDFLAGS", esc.sh_words(list(t.extra_ldflags))),
        ("CONFIGURE_FLAGS", esc.sh_words([f"--host={ts.triple}", "--build=x86_64-linux-gnu",
                                          f"--with-sysroot={sysroot}"])),
        ("PKG_CONFIG", s.pkg_config),
        ("PKG_CONFIG_LIBDIR", s.pc_dir),
        ("CMAKE_TOOLCHAIN_FILE", str(out / "toolchain.cmake")),
        ("MESON_CROSS_FILE", str(out / "meson-cross.ini")),
        ("QEMU_LD_PREFIX", sysroot),
    ]
    return {"board": s.board, "description": s.description, "provenance": s.provenance,
            "self_path": path, "sysroot": sysroot, "bindir": str(out / "bin"),
            "env_vars": env_vars}


def _wrapper(inp: ToolchainInputs, s: Shared, real: str) -> dict:
    ts = inp.toolset
    return {
        "board": s.board, "family": ts.family.value, "version": ts.version,
        "triple": ts.triple, "cfg": s.cfg, "cfg_flags": s.cfg_flags,
        "path_maps": path_maps(inp), "debug_flags": DEBUG_FLAGS[inp.debug_info],
        "conan_built": str(inp.conan_packages_dir / "b") if inp.conan_packages_dir else None,
        "conan_name": pathnames.CONAN, "real": real, "wrapper_flags": s.wrapper_flags,
    }


def c_wrapper(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    return _wrapper(inp, s, s.tools["cc"])


def cxx_wrapper(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    return _wrapper(inp, s, s.tools["cxx"])


def clang_cfg(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    names = wrapper_names(inp.toolset)
    return {"board": s.board, "cfg_flags": s.cfg_flags,
            "wrapper_names": [Path(names["bin/cc"]).name, Path(names["bin/cxx"]).name]}


def compat_header(inp: ToolchainInputs, s: Shared, path: str) -> dict:
    return {"board": s.board, "sysroot_name": inp.target.sysroot.name,
            "sysroot_glibc": inp.sysroot_glibc or "?", "ceiling": inp.target.abi.glibc,
            "symvers": s.symvers, "no_clockwait": s.no_clockwait}


# ---- the blocks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """One generated file: where it goes (relative to the toolchain folder; a "bin/..." key
    gets the board's tool name, see wrapper_names), its template and its context."""

    key: str
    template: str
    context: Callable[[ToolchainInputs, Shared, str], dict]
    executable: bool = False
    #: rendered only when this says so (default: always)
    wanted: Callable[[Shared], bool] | None = None


BLOCKS = (
    Block("conan-host.profile", "conan-host.profile.j2", host_profile),
    Block("conan-build.profile", "conan-build.profile.j2", build_profile),
    Block("toolchain.cmake", "toolchain.cmake.j2", cmake_toolchain),
    Block(CTEST_ENV, "ctest-env.cmake.j2", ctest_env),
    Block("pkg-config", "pkg-config.sh.j2", pkg_config, executable=True),
    Block("meson-cross.ini", "meson-cross.ini.j2", meson_cross),
    Block(ENV_SCRIPT, "environment-setup.sh.j2", environment_setup),
    Block("bin/cc", "compiler-wrapper.sh.j2", c_wrapper, executable=True),
    Block("bin/cxx", "compiler-wrapper.sh.j2", cxx_wrapper, executable=True),
    Block("bin/cfg", "clang.cfg.j2", clang_cfg, wanted=lambda s: s.cfg is not None),
    Block("bin/pkg-config", "pkg-config.sh.j2", pkg_config, executable=True),
    # written into compat_dir, not the toolchain folder (see ToolchainInputs.compat_dir)
    Block(COMPAT_HEADER, "glibc-compat.h.j2", compat_header, wanted=lambda s: s.compat is not None),
)
#: block key -> template: every template is part of the toolchain step's inputs
TEMPLATES = {b.key: b.template for b in BLOCKS}


def output_names(toolset: Toolset) -> dict[str, str]:
    """Block key -> the file written (relative to the toolchain folder), for every block this
    compiler has (clang's config file is clang's only)."""
    bins = wrapper_names(toolset)
    return {b.key: bins.get(b.key, b.key) for b in BLOCKS
            if not b.key.startswith("bin/") or b.key in bins}


def render(inp: ToolchainInputs) -> dict[str, str]:
    """file name (relative to the toolchain folder) -> text, for every generated file."""
    check_values(inp)
    s = shared(inp)
    names = output_names(inp.toolset)
    out = {}
    for block in BLOCKS:
        name = names.get(block.key)
        if name is None or (block.wanted and not block.wanted(s)):
            continue
        try:
            text = _ENV.get_template(block.template).render(
                block.context(inp, s, str(inp.out_dir / name)))
        except esc.Unsafe as exc:  # check_values lets nothing through that gets here
            raise DescriptorError(f"cannot write {name} for {inp.target.name}: {exc}") from None
        out[name] = text
    return out


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
    names = output_names(inp.toolset)
    executable = {names[b.key] for b in BLOCKS if b.executable and b.key in names}
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
        build_profile_context(host_gcc_version, host_compilers, cppstd))
