"""The generated toolchain files, checked as text (no compiler needed)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from edgeforge.config import Catalog, CompilerFamily
from edgeforge.toolchain import ToolchainInputs, Toolset, link_flags, meson_literal, relocate_pc, render
from tests.conftest import PROJECT

SYSROOT = Path("/cache/sysroots/debian-bullseye-arm64-0123")


def inputs(board: str, cli=None) -> ToolchainInputs:
    t = Catalog(PROJECT / "toolchains", PROJECT).resolve(board, env={}, cli=cli or {})
    spec = t.compiler.spec
    tools = {role: f"/usr/bin/{name}" for role, name in spec.tool_names().items()}
    ts = Toolset(spec.family, spec.triple, spec.version or "12", tools, spec.effective_linker)
    return ToolchainInputs(
        target=t, toolset=ts, sysroot=SYSROOT, sysroot_glibc="2.31",
        out_dir=Path("/work/build") / board / "toolchain", qemu="/usr/bin/qemu-aarch64",
        host_pkg_config="/usr/bin/pkg-config", host_gcc_version="12",
        host_compilers={"c": "/usr/bin/gcc", "cpp": "/usr/bin/g++"}, can_run=True,
        conan_packages_dir=Path("/cache/conan2/p"),
    )


def conf(profile: str, key: str) -> str:
    m = re.search(rf"^{re.escape(key)}=(.*)$", profile, re.M)
    assert m, f"{key} missing from profile"
    return m.group(1)


def test_clang_host_profile_is_explicit_and_never_detected():
    p = render(inputs("jetson-nx"))["conan-host.profile"]
    assert "arch=armv8" in p and "os=Linux" in p
    assert "compiler=clang" in p and "compiler.version=14" in p
    assert "compiler.libcxx=libstdc++11" in p and "compiler.cppstd=17" in p
    tc = "/work/build/jetson-nx/toolchain"
    assert json.loads(conf(p, "tools.build:compiler_executables")) == {
        "c": f"{tc}/bin/aarch64-linux-gnu-clang", "cpp": f"{tc}/bin/aarch64-linux-gnu-clang++"}
    assert conf(p, "tools.build:sysroot") == str(SYSROOT)
    assert conf(p, "tools.gnu:host_triplet") == "aarch64-linux-gnu"
    cflags = json.loads(conf(p, "tools.build:cflags"))
    assert cflags == ["--target=aarch64-linux-gnu", "-mcpu=carmel"]
    # C++ sources get the same tuning: Conan does not pass cflags to the C++ compiler
    assert json.loads(conf(p, "tools.build:cxxflags"))[:2] == cflags
    assert json.loads(conf(p, "tools.build:exelinkflags")) == ["--target=aarch64-linux-gnu",
                                                               "-fuse-ld=lld"]
    assert conf(p, "tools.gnu:pkg_config") == "/work/build/jetson-nx/toolchain/pkg-config"
    assert conf(p, "tools.build.cross_building:can_run") == "True"
    assert conf(p, "tools.build:add_rpath_link") == "True"
    assert "tools.build:cflags" in json.loads(conf(p, "tools.info.package_id:confs"))
    emu = json.loads(conf(p, "tools.cmake.cmaketoolchain:extra_variables"))
    assert emu["CMAKE_CROSSCOMPILING_EMULATOR"] == f"/usr/bin/qemu-aarch64;-L;{SYSROOT}"
    assert emu["CMAKE_ASM_COMPILER_TARGET"] == "aarch64-linux-gnu"  # NEON .S files too
    assert f"QEMU_LD_PREFIX={SYSROOT}" in p
    assert f"CXX={tc}/bin/aarch64-linux-gnu-clang++" in p and "AR=/usr/bin/llvm-ar-14" in p


def test_gcc_profile_uses_gcc_cpu_flags_and_no_lld():
    p = render(inputs("jetson-orin"))["conan-host.profile"]
    assert "compiler=gcc" in p and "compiler.version=12" in p
    assert json.loads(conf(p, "tools.build:cflags")) == ["-mcpu=cortex-a78ae"]
    assert json.loads(conf(p, "tools.build:exelinkflags")) == []
    assert "CC=/work/build/jetson-orin/toolchain/bin/aarch64-linux-gnu-gcc" in p


def test_armhf_profile():
    p = render(inputs("rpi3-armhf"))["conan-host.profile"]
    assert "arch=armv7hf" in p
    assert conf(p, "tools.gnu:host_triplet") == "arm-linux-gnueabihf"
    assert "-mfloat-abi=hard" in conf(p, "tools.build:cflags")


def test_build_profile_is_the_x86_64_host():
    p = render(inputs("jetson-nx"))["conan-build.profile"]
    assert "arch=x86_64" in p and "compiler=gcc" in p and "compiler.version=12" in p


def test_cmake_toolchain_finds_libraries_in_sysroot_and_programs_on_host():
    c = render(inputs("jetson-nx"))["toolchain.cmake"]
    assert f'set(CMAKE_SYSROOT "{SYSROOT}")' in c
    assert "set(CMAKE_SYSTEM_NAME Linux)" in c and "set(CMAKE_SYSTEM_PROCESSOR aarch64)" in c
    assert "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)" in c
    for kind in ("LIBRARY", "INCLUDE", "PACKAGE"):
        assert f"set(CMAKE_FIND_ROOT_PATH_MODE_{kind} ONLY)" in c
    assert f'set(CMAKE_FIND_ROOT_PATH "{SYSROOT}" "/cache/conan2/p")' in c
    assert "set(CMAKE_CXX_COMPILER_TARGET aarch64-linux-gnu)" in c
    assert 'set(CMAKE_EXE_LINKER_FLAGS_INIT "--target=aarch64-linux-gnu -fuse-ld=lld")' in c
    assert f'set(CMAKE_CROSSCOMPILING_EMULATOR "/usr/bin/qemu-aarch64;-L;{SYSROOT}")' in c
    assert "-ffile-prefix-map=${CMAKE_SOURCE_DIR}=." in c


def test_cmake_toolchain_for_gcc_has_no_compiler_target():
    c = render(inputs("rpi4"))["toolchain.cmake"]
    assert "COMPILER_TARGET" not in c
    assert 'set(CMAKE_CXX_COMPILER "/work/build/rpi4/toolchain/bin/aarch64-linux-gnu-g++")' in c


def test_pkg_config_wrapper_sees_only_sysroot_and_given_paths():
    w = render(inputs("jetson-nx"))["pkg-config"]
    assert w.startswith("#!/bin/sh\n")
    assert "PKG_CONFIG_LIBDIR=/work/build/jetson-nx/toolchain/pkgconfig\n" in w
    assert f"PKG_CONFIG_SYSTEM_INCLUDE_PATH={SYSROOT}/usr/include:" in w
    assert "unset PKG_CONFIG_SYSROOT_DIR" in w
    assert "exec /usr/bin/pkg-config \"$@\"" in w
    assert "/usr/lib/x86_64-linux-gnu" not in w


def test_meson_cross_file():
    m = render(inputs("jetson-nx"))["meson-cross.ini"]
    # what defines the target is the compiler command (the wrapper), not c_args
    assert "c = ['/work/build/jetson-nx/toolchain/bin/aarch64-linux-gnu-clang']" in m
    # dependency() finds the board's pkg-config wrapper under both of Meson's names for it
    assert "\npkg-config = '/work/build/jetson-nx/toolchain/pkg-config'\n" in m
    assert "\npkgconfig = '/work/build/jetson-nx/toolchain/pkg-config'\n" in m
    assert "optional_cflags = []" in m and "optional_ldflags = []" in m
    assert "c_args = optional_cflags" in m and "cpp_link_args = optional_ldflags" in m
    assert "cpu_family = 'aarch64'" in m and "endian = 'little'" in m
    assert f"exe_wrapper = ['/usr/bin/qemu-aarch64', '-L', '{SYSROOT}']" in m


def test_meson_literal_escapes_quotes():
    assert meson_literal(["a'b", "c\\d"]) == "['a\\'b', 'c\\\\d']"


def test_static_libstdcxx_strategy_adds_link_flags():
    inp = inputs("rpi4")
    from dataclasses import replace

    board = inp.target.board
    from edgeforge.config import AbiStrategy, Loaded

    spec = board.spec.model_copy(update={"abi": board.spec.abi.model_copy(
        update={"strategy": AbiStrategy.STATIC_LIBSTDCXX})})
    t = replace(inp.target, board=Loaded(board.name, board.path, spec))
    assert link_flags(t, inp.toolset) == ["-static-libstdc++", "-static-libgcc"]


def test_rendering_is_deterministic():
    assert render(inputs("a311d")) == render(inputs("a311d"))


def test_relocate_pc_moves_paths_into_sysroot():
    pc = ("prefix=/usr\nincludedir=${prefix}/include\nlibdir=/usr/lib/aarch64-linux-gnu\n\n"
          "Name: zlib\nVersion: 1.2.11\nLibs: -L${libdir} -lz\nCflags: -I/usr/include/foo\n")
    out = relocate_pc(pc, "/s")
    assert "prefix=/s/usr\n" in out
    assert "includedir=${prefix}/include\n" in out
    assert "libdir=/s/usr/lib/aarch64-linux-gnu\n" in out
    assert "Cflags: -I/s/usr/include/foo\n" in out
    assert "Name: zlib\n" in out
    assert relocate_pc(out, "/s") == out  # idempotent


def test_family_enum_roundtrip():
    assert CompilerFamily("clang") is CompilerFamily.CLANG


def test_glibc_pins_only_where_the_ceiling_is_below_the_sysroot():
    from dataclasses import replace

    nano = render(replace(inputs("jetson-nano"), sysroot_glibc="2.31"))
    header = nano["glibc-compat.h"]
    assert '__asm__(".symver exp,exp@GLIBC_2.17");' in header
    assert '__asm__(".symver fcntl64,fcntl@GLIBC_2.17");' in header
    assert "#undef _GLIBCXX_USE_PTHREAD_COND_CLOCKWAIT" in header
    assert "#ifndef __ASSEMBLER__" in header  # FFmpeg's .S files see the same flags
    assert '"-include", "/work/build/jetson-nano/toolchain/glibc-compat.h"' in \
        nano["conan-host.profile"]
    # ... and the C++ compiles get it too (libstdc++'s clockwait is decided in C++ headers)
    cxx = json.loads(conf(nano["conan-host.profile"], "tools.build:cxxflags"))
    assert cxx[cxx.index("-include") + 1].endswith("glibc-compat.h")
    atlas = render(replace(inputs("atlas500"), sysroot_glibc="2.31"))["glibc-compat.h"]
    assert "fcntl64" not in atlas and "exp@GLIBC_2.17" in atlas  # 2.28 has fcntl64
    for board in ("jetson-nx", "rpi4", "jetson-orin", "rpi3-armhf"):
        assert "glibc-compat.h" not in render(replace(inputs(board), sysroot_glibc="2.36"
                                                      if board != "jetson-nx" else "2.31"))


def test_stdcxx_shim_members_only_between_the_ceiling_and_the_sysroot():
    from edgeforge.config import AbiStrategy
    from edgeforge.toolchain import stdcxx_compat as sc

    nano = sc.needed(AbiStrategy.SYSROOT_LIBSTDCXX, "3.4.25", "3.4.28")
    labels = [m.label for m in nano]
    assert "std::basic_stringstream<char>::basic_stringstream()" in labels
    assert "std::basic_ostringstream<wchar_t>::basic_ostringstream()" in labels
    assert all(m.introduced == "3.4.26" for m in nano)
    # the device already has them, or the sysroot's headers do not define them
    assert sc.needed(AbiStrategy.SYSROOT_LIBSTDCXX, "3.4.28", "3.4.28") == ()
    assert sc.needed(AbiStrategy.SYSROOT_LIBSTDCXX, "3.4.22", "3.4.25") == ()
    assert sc.needed(AbiStrategy.SYSROOT_LIBSTDCXX, "3.4.25", None) == ()
    # other strategies do not link the sysroot's libstdc++ at all
    assert sc.needed(AbiStrategy.COMPILER_RUNTIME, "3.4.25", "3.4.28") == ()
    srcs = sc.sources(nano)
    assert len(srcs) == len(nano) and all(t.count("template ") == 1 for t in srcs.values())
    assert "#include <sstream>\ntemplate std::basic_stringbuf<char>::basic_stringbuf();\n" in \
        srcs["m00.cpp"]


def test_stdcxx_shim_goes_first_and_stays_hidden():
    from dataclasses import replace

    from edgeforge.toolchain import stdcxx_compat as sc

    shim = Path("/cache/toolchains/jetson-nano/stdcxx-compat")
    p = render(replace(inputs("jetson-nano"), stdcxx_shim=shim))["conan-host.profile"]
    flags = json.loads(conf(p, "tools.build:sharedlinkflags"))
    assert f"-L{shim}" in flags
    assert "-Wl,--exclude-libs,libedgeforge-stdcxx-compat.a" in flags
    assert json.loads(conf(p, "tools.build:exelinkflags")) == flags
    script = sc.linker_script(shim / sc.ARCHIVE, SYSROOT / "usr/lib/aarch64-linux-gnu/libstdc++.so.6")
    assert script.rstrip().endswith(
        f"INPUT({shim}/libedgeforge-stdcxx-compat.a "
        f"{SYSROOT}/usr/lib/aarch64-linux-gnu/libstdc++.so.6)")
    assert "-Wl,--exclude-libs" not in render(inputs("jetson-nx"))["conan-host.profile"]


# ---- issue 10: hostile values, rendered and read back by each language's own parser --------
HOSTILE_FLAGS = ('-DGREETING="hello"', "-DQUOTE='it''s'", "-DSPACE=a b", "-DDOLLAR=$HOME",
                 "-DSEMI=a;b", "-DBACKSLASH=a\\b", "-DHASH=#x", "-DJINJA={{x}}{%y%}{#z#}",
                 "-DOPS=a+=b=+c=!d=~e*=f")
HOSTILE_DESCRIPTION = 'Board "X"\n  with $HOME, ${VAR}, {{ jinja }} {# c #} and ; # signs'


def hostile(board: str = "jetson-nx", sysroot: str | None = None, **flags) -> ToolchainInputs:
    from dataclasses import replace

    from edgeforge.config import Loaded

    inp = inputs(board)
    b = inp.target.board
    spec = b.spec.model_copy(update={"description": HOSTILE_DESCRIPTION})
    target = replace(inp.target, board=Loaded(b.name, b.path, spec),
                     extra_cflags=flags.get("cflags", HOSTILE_FLAGS),
                     extra_cxxflags=flags.get("cxxflags", ("-DCXX_ONLY=\"c++\"",)),
                     extra_ldflags=flags.get("ldflags", ("-Wl,-rpath,$ORIGIN/../lib",)))
    return replace(inp, target=target, sysroot=Path(sysroot) if sysroot else inp.sysroot)


def write_all(files: dict[str, str], folder: Path) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_hostile_values_survive_cmake(tmp_path: Path):
    import shlex
    import shutil
    import subprocess

    assert shutil.which("cmake"), "cmake is installed by `invoke setup`"
    weird = "/tmp/odd dir/\"q\"/$x/sys'root"
    files = render(hostile(sysroot=weird))
    write_all(files, tmp_path)
    script = tmp_path / "print.cmake"
    script.write_text(
        f'include("{tmp_path}/toolchain.cmake")\n'
        'foreach(v CMAKE_SYSROOT CMAKE_C_FLAGS_INIT CMAKE_CXX_FLAGS_INIT '
        'CMAKE_EXE_LINKER_FLAGS_INIT CMAKE_C_COMPILER)\n'
        '  message("${v}=${${v}}")\nendforeach()\n')
    r = subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = dict(line.split("=", 1) for line in r.stderr.splitlines() if "=" in line)
    assert got["CMAKE_SYSROOT"] == weird
    assert got["CMAKE_C_COMPILER"] == "/work/build/jetson-nx/toolchain/bin/aarch64-linux-gnu-clang"

    def words(flags: str) -> list[str]:  # what make/ninja ($$ -> $) and then sh make of it
        return shlex.split(flags.split(" -ffile-prefix-map")[0].replace("$$", "$"))

    assert words(got["CMAKE_C_FLAGS_INIT"])[-len(HOSTILE_FLAGS):] == list(HOSTILE_FLAGS)
    assert words(got["CMAKE_CXX_FLAGS_INIT"])[-1] == '-DCXX_ONLY="c++"'
    assert words(got["CMAKE_EXE_LINKER_FLAGS_INIT"])[-1] == "-Wl,-rpath,$ORIGIN/../lib"
    # the description stays inside one comment line
    head = files["toolchain.cmake"].splitlines()[0]
    assert head.startswith("# Generated") and "with $HOME" in head


def test_hostile_values_survive_the_shell(tmp_path: Path):
    import shlex
    import subprocess

    weird = f"{tmp_path}/odd dir/\"q\"/$x/sys'root"
    Path(weird).mkdir(parents=True)
    write_all(render(hostile(sysroot=weird)), tmp_path)
    env_script = tmp_path / "environment-setup"

    def sourced(var: str) -> str:
        r = subprocess.run(["sh", "-c", f'. "$1" && printf %s "${var}"', "sh", str(env_script)],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert sourced("EDGEFORGE_SYSROOT") == weird
    assert sourced("QEMU_LD_PREFIX") == weird
    assert shlex.split(sourced("CFLAGS"))[1:] == list(HOSTILE_FLAGS)  # after -O2
    assert shlex.split(sourced("LDFLAGS")) == ["-Wl,-rpath,$ORIGIN/../lib"]
    assert shlex.split(sourced("CONFIGURE_FLAGS"))[-1] == f"--with-sysroot={weird}"
    assert shlex.split(sourced("LD"))[1] == f"--sysroot={weird}"
    # the compiler wrapper passes the sysroot as one argument
    wrapper = (tmp_path / "bin/aarch64-linux-gnu-clang").read_text().splitlines()[-1]
    assert shlex.split(wrapper)[:4] == ["exec", "/usr/bin/clang-14", "--target=aarch64-linux-gnu",
                                        f"--sysroot={weird}"]
    # the pkg-config wrapper's own variables
    pc = (tmp_path / "pkg-config").read_text().replace('exec /usr/bin/pkg-config "$@"',
                                                         'printf %s "$PKG_CONFIG_SYSTEM_INCLUDE_PATH"')
    (tmp_path / "pc.sh").write_text(pc)
    r = subprocess.run(["sh", str(tmp_path / "pc.sh")], capture_output=True, text=True)
    assert r.stdout.split(":")[0] == f"{weird}/usr/include"


def test_hostile_values_survive_meson():
    import ast
    import configparser

    m = render(hostile())["meson-cross.ini"]
    # Meson reads machine files with this configparser, then each value as a Meson literal
    # (whose string escapes are Python's for these characters)
    parser = configparser.ConfigParser(delimiters=["="], interpolation=None)
    parser.read_string(m)
    consts, opts = parser["constants"], parser["built-in options"]
    assert ast.literal_eval(consts["optional_cflags"]) == list(HOSTILE_FLAGS)
    assert ast.literal_eval(consts["optional_cxxflags"]) == [*HOSTILE_FLAGS, '-DCXX_ONLY="c++"']
    assert ast.literal_eval(consts["optional_ldflags"]) == ["-Wl,-rpath,$ORIGIN/../lib"]
    assert (opts["c_args"], opts["cpp_args"], opts["c_link_args"]) == (
        "optional_cflags", "optional_cxxflags", "optional_ldflags")
    assert ast.literal_eval(parser["binaries"]["exe_wrapper"])[-1] == str(SYSROOT)


def test_hostile_values_survive_conan(tmp_path: Path):
    from conan.api.conan_api import ConanAPI

    weird = "/tmp/odd dir/\"q\"/x/sys'root"
    files = render(hostile(sysroot=weird))
    write_all(files, tmp_path / "tc")
    api = ConanAPI(cache_folder=str(tmp_path / "home"))
    profile = api.profiles.get_profile([str(tmp_path / "tc/conan-host.profile")])
    assert profile.conf.get("tools.build:cflags")[-len(HOSTILE_FLAGS):] == list(HOSTILE_FLAGS)
    assert profile.conf.get("tools.build:cxxflags")[-1] == '-DCXX_ONLY="c++"'
    assert profile.conf.get("tools.build:sysroot") == weird
    assert profile.settings["arch"] == "armv8"


def test_unchanged_boards_render_flags_as_before():
    # the values Conan hashes into package IDs keep their exact text for existing boards
    p = render(inputs("jetson-nx"))["conan-host.profile"]
    assert 'tools.build:cflags=["--target=aarch64-linux-gnu", "-mcpu=carmel"]\n' in p
    assert 'tools.build:exelinkflags=["--target=aarch64-linux-gnu", "-fuse-ld=lld"]\n' in p


def test_values_no_file_can_hold_are_refused_with_their_origin():
    import pytest

    from edgeforge.core import DescriptorError

    with pytest.raises(DescriptorError) as err:
        render(hostile(cflags=("-DA=1\n-DB=2",)))
    assert err.value.exit_code == 2
    assert "cflags (from " in err.value.message and "line break" in err.value.message
    with pytest.raises(DescriptorError) as err:
        render(hostile(sysroot="/tmp/a\nb"))
    assert "the sysroot folder (under EDGEFORGE_CACHE)" in err.value.message
    with pytest.raises(DescriptorError) as err:
        render(hostile(sysroot="/tmp/a;b"))
    assert "';'" in err.value.message


def test_env_var_flags_are_refused_naming_the_variable():
    import pytest

    from edgeforge.core import DescriptorError

    t = Catalog(PROJECT / "toolchains", PROJECT).resolve(
        "jetson-nx", env={"EDGEFORGE_LDFLAGS": "-Wl,-z,now\x0b-x"})
    from dataclasses import replace

    with pytest.raises(DescriptorError) as err:
        render(replace(inputs("jetson-nx"), target=t))
    assert "ldflags (from environment EDGEFORGE_LDFLAGS)" in err.value.message


def test_debug_info_is_added_to_every_compile_and_is_part_of_the_package_id(tmp_path: Path):
    import dataclasses
    import subprocess

    t = Catalog(PROJECT / "toolchains", PROJECT).resolve("jetson-nx", env={})
    assert t.debug_info == "full" and ("debug_info", "full", next(
        o for k, v, o in t.provenance if k == "debug_info")) in t.provenance
    lines = Catalog(PROJECT / "toolchains", PROJECT).resolve(
        "jetson-nx", env={"EDGEFORGE_DEBUG_INFO": "lines"})
    assert lines.debug_info == "lines"
    base = inputs("jetson-nx")
    files = render(dataclasses.replace(base, debug_info="full",
                                       path_names=((Path("/work"), "/edgeforge-project"),)))
    profile = files["conan-host.profile"]
    assert conf(profile, "user.edgeforge:debug_info") == "full"
    assert '"user.edgeforge:debug_info"' in conf(profile, "tools.info.package_id:confs")
    name = next(k for k in files if k.startswith("bin/") and k.endswith("clang"))
    wrapper = tmp_path / "cc"
    wrapper.write_text(files[name].replace("exec /usr/bin/clang-14", "exec echo"))
    wrapper.chmod(0o755)

    def args(*argv: str) -> list[str]:
        return subprocess.run([str(wrapper), *argv], capture_output=True, text=True,
                              check=True).stdout.split()

    assert "-g" in args("-c", "a.c", "-o", "a.o")            # compiling: debug information
    assert "-g" not in args("a.o", "-o", "a")                  # linking: nothing added
    compile_g = args("-g0", "-c", "a.c")
    assert compile_g.index("-g") < compile_g.index("-g0")       # a build's own -g0 still wins
    sdk = render(dataclasses.replace(base, debug_info="none"))
    assert "-g" not in sdk[name].split() and "user.edgeforge:debug_info" not in \
        sdk["conan-host.profile"]


def on_machine(board: str, cache: str, build: str) -> ToolchainInputs:
    """The board's inputs as a machine with its cache and build folders elsewhere sees them."""
    base = inputs(board)
    sysroot = Path(cache) / "sysroots" / SYSROOT.name
    return dataclasses.replace(
        base, sysroot=sysroot, out_dir=Path(build) / board / "toolchain",
        conan_packages_dir=Path(cache) / "conan2" / "p",
        compat_dir=Path(cache) / "toolchains" / board,
        stdcxx_shim=Path(cache) / "toolchains" / board / "stdcxx-compat",
        path_names=((Path(cache), "/edgeforge-cache"), (Path(build), "/edgeforge-build"),
                    (Path(cache) / "conan2" / "p", "/conan"), (PROJECT, "/edgeforge-project")))


def test_package_ids_see_the_board_not_the_machine():
    """Two machines with other cache and build folders give the same package-ID conf for a
    board (so one downloads what the other built); two boards sharing compiler and sysroot
    (Xavier NX, Nano) never do. The machine's real paths stay in the flags Conan passes on."""
    a = render(on_machine("jetson-nano", "/root/.cache/edgeforge", "/work/build"))
    b = render(on_machine("jetson-nano", "/home/ci/cache", "/builds/x/build"))
    nx = render(on_machine("jetson-nx", "/root/.cache/edgeforge", "/work/build"))
    key = "user.edgeforge:board_abi"
    ida, idb = conf(a["conan-host.profile"], key), conf(b["conan-host.profile"], key)
    assert ida == idb and "/home/ci" not in ida and "/root" not in ida
    assert "/edgeforge-cache/toolchains/jetson-nano/glibc-compat.h" in ida
    assert json.loads(ida)["sysroot"] == SYSROOT.name
    assert conf(nx["conan-host.profile"], key) != ida
    assert "/home/ci/cache/toolchains/jetson-nano/glibc-compat.h" in conf(b["conan-host.profile"],
                                                                         "tools.build:cflags")
    confs = json.loads(conf(a["conan-host.profile"], "tools.info.package_id:confs"))
    assert confs == [key, "user.edgeforge:path_maps", "user.edgeforge:debug_info"]


def test_the_abi_ceiling_is_part_of_the_package_id():
    base = on_machine("jetson-nx", "/c", "/b")
    board = base.target.board
    spec = board.spec.model_copy(update={"abi": board.spec.abi.model_copy(update={"glibc": "2.28"})})
    lower = dataclasses.replace(base, target=dataclasses.replace(
        base.target, board=dataclasses.replace(board, spec=spec)))
    key = "user.edgeforge:board_abi"
    assert conf(render(base)["conan-host.profile"], key) != conf(render(lower)["conan-host.profile"], key)
    assert json.loads(conf(render(lower)["conan-host.profile"], key))["abi"]["glibc"] == "2.28"


def test_package_ids_name_the_sysroot_by_its_descriptor_not_its_folder():
    """The sysroot's folder carries the key of the packages the project's apps add; package
    IDs carry the descriptor's name and key only, so an app adding a system library does not
    rebuild the Conan graph, and a machine without that app computes the same IDs."""
    from dataclasses import replace
    # (a machine's build: its folders have fixed names, and package IDs read board_abi)
    base = replace(inputs("jetson-nx"), path_names=((Path("/cache"), "/edgeforge-cache"),))
    one = replace(base, sysroot_identity="debian-bullseye-arm64-aaaa")
    other = replace(one, sysroot=SYSROOT.with_name("debian-bullseye-arm64-other-folder"))
    ids = [conf(render(i)["conan-host.profile"], "user.edgeforge:board_abi")
           for i in (one, other)]
    assert ids[0] == ids[1] and '"sysroot": "debian-bullseye-arm64-aaaa"' in ids[0]
    assert str(SYSROOT) not in ids[0]
    # without an identity (the SDK's own files), the folder's name
    assert f'"sysroot": "{SYSROOT.name}"' in conf(render(base)["conan-host.profile"],
                                                   "user.edgeforge:board_abi")
