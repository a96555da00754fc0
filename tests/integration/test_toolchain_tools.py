"""Generated toolchains against real tools: host leakage, compiler trees, CPU flags, Conan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BUILD, run_invoke

pytestmark = pytest.mark.integration
TOOLCHAIN = BUILD / "jetson-nx" / "toolchain"


@pytest.fixture(scope="module")
def nx_toolchain(bullseye: Path) -> Path:
    r = run_invoke("toolchain", "--board", "jetson-nx")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("conan-host.profile", "conan-build.profile", "toolchain.cmake", "pkg-config",
                 "meson-cross.ini"):
        assert str(TOOLCHAIN / name) in r.stdout
    return TOOLCHAIN


def test_host_only_library_is_invisible_and_sysroot_library_is_found(
        nx_toolchain: Path, bullseye: Path, tmp_path: Path):
    # precondition: the host really has libyaml for amd64 (installed by `invoke setup`)
    assert Path("/usr/include/yaml.h").is_file()
    assert Path("/usr/lib/x86_64-linux-gnu/libyaml.so").exists()
    assert subprocess.run(["pkg-config", "--exists", "yaml-0.1"]).returncode == 0
    build = tmp_path / "b"
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "CFLAGS", "PKG_CONFIG_PATH")}
    subprocess.run(["cmake", "-S", str(Path(__file__).parent / "leakcheck"), "-B", str(build),
                    "-G", "Ninja", f"-DCMAKE_TOOLCHAIN_FILE={nx_toolchain / 'toolchain.cmake'}"],
                   check=True, env=env, capture_output=True)
    found = dict(line.split("=", 1) for line in (build / "found.txt").read_text().splitlines())
    assert found["yaml_lib"] == "YAML_LIB-NOTFOUND"
    assert found["yaml_inc"] == "YAML_INC-NOTFOUND"
    assert found["pc_yaml"] in ("", "0")
    assert found["zlib_lib"].startswith(str(bullseye))
    assert found["zlib_inc"].startswith(str(bullseye))
    assert found["pc_zlib"].startswith(str(bullseye))
    assert found["program"] == "/usr/bin/cmake"  # programs come from the build machine
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    r = run_invoke("run", "--board", "jetson-nx", "--", str(build / "zver"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "zlib 1.2.11"  # bullseye's zlib


def test_pkg_config_wrapper_answers_from_the_sysroot_only(nx_toolchain: Path, bullseye: Path):
    wrapper = str(nx_toolchain / "pkg-config")
    env = {**os.environ, "PKG_CONFIG_PATH": ""}
    assert subprocess.run([wrapper, "--exists", "yaml-0.1"], env=env).returncode == 1
    out = subprocess.run([wrapper, "--cflags", "--libs", "zlib"], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["-lz"]  # sysroot system dirs filtered, nothing from the host
    libdir = subprocess.run([wrapper, "--variable=libdir", "zlib"], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    assert libdir == f"{bullseye}/usr/lib/aarch64-linux-gnu"


def test_conan_accepts_the_generated_profiles(nx_toolchain: Path, tmp_path: Path):
    conan = Path(sys.executable).with_name("conan")
    env = {**os.environ, "CONAN_HOME": str(tmp_path / "conan")}
    r = subprocess.run([str(conan), "profile", "show", "--format=json",
                        "-pr:h", str(nx_toolchain / "conan-host.profile"),
                        "-pr:b", str(nx_toolchain / "conan-build.profile")],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    profiles = json.loads(r.stdout)
    host, build = profiles["host"], profiles["build"]
    assert host["settings"]["arch"] == "armv8" and host["settings"]["compiler"] == "clang"
    assert host["settings"]["compiler.version"] == "14"
    assert host["conf"]["tools.gnu:host_triplet"] == "aarch64-linux-gnu"
    assert host["conf"]["tools.build:exelinkflags"] == ["--target=aarch64-linux-gnu", "-fuse-ld=lld"]
    assert build["settings"]["arch"] == "x86_64"


def write_tree(root: Path, target_prefix: str, real_prefix: str) -> Path:
    """A toolchain tree like Linaro's: bin/<prefix>gcc ..., here wrapping Debian's compiler."""
    bindir = root / "bin"
    bindir.mkdir(parents=True)
    for tool in ("gcc", "g++", "ar", "ranlib", "strip", "nm", "objcopy", "objdump", "readelf"):
        script = bindir / f"{target_prefix}{tool}"
        script.write_text(f'#!/bin/sh\nexec /usr/bin/{real_prefix}{tool} "$@"\n')
        script.chmod(0o755)
    return root


def tree_descriptor(project: Path, tree: Path) -> None:
    (project / "toolchains/compilers/tree-gcc.yaml").write_text(
        "family: gcc\ntriple: aarch64-linux-gnu\nprefix: aarch64-linux-gnu-\n"
        f"path: {tree}\n")


def test_compiler_from_a_tree_at_a_path_builds_and_runs(tmp_project: Path, tmp_path: Path):
    tree = write_tree(tmp_path / "gcc-tree", "aarch64-linux-gnu-", "aarch64-linux-gnu-")
    tree_descriptor(tmp_project, tree)
    r = run_invoke("build", "--board", "rpi4", "--smoke-only", "--compiler", "tree-gcc", cwd=tmp_project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compiler    tree-gcc" in r.stdout and "command line --compiler" in r.stdout
    toolchain = tmp_project / "build/rpi4/toolchain"
    host = (toolchain / "conan-host.profile").read_text()
    wrapper = toolchain / "bin" / "aarch64-linux-gnu-g++"
    assert f'"cpp": "{wrapper}"' in host  # the wrapper runs the tree's compiler
    assert f"exec {tree}/bin/aarch64-linux-gnu-g++ " in wrapper.read_text()
    r = run_invoke("run", "--board", "rpi4", "--",
                   str(tmp_project / "build/rpi4/smoke/bin/smoke"), cwd=tmp_project)
    assert r.returncode == 0 and "smoke: ok" in r.stdout


def test_compiler_tree_that_does_not_exist(tmp_project: Path, tmp_path: Path):
    tree_descriptor(tmp_project, tmp_path / "no-such-tree")
    r = run_invoke("toolchain", "--board", "rpi4", "--compiler", "tree-gcc", cwd=tmp_project)
    assert r.returncode == 2
    assert (f"key 'path' in toolchains/compilers/tree-gcc.yaml: toolchain tree "
            f"{tmp_path / 'no-such-tree'} does not exist") in r.stderr


def test_compiler_that_targets_another_triple_is_refused(tmp_project: Path, tmp_path: Path):
    # named like an aarch64 compiler, but really the armhf one
    tree = write_tree(tmp_path / "wrong-tree", "aarch64-linux-gnu-", "arm-linux-gnueabihf-")
    tree_descriptor(tmp_project, tree)
    r = run_invoke("toolchain", "--board", "rpi4", "--compiler", "tree-gcc", cwd=tmp_project)
    assert r.returncode == 2, r.stdout + r.stderr
    assert ("key 'triple' in toolchains/compilers/tree-gcc.yaml: declared aarch64-linux-gnu but "
            f"{tree}/bin/aarch64-linux-gnu-gcc -dumpmachine says arm-linux-gnueabihf") in r.stderr


def test_cpu_flags_the_compiler_rejects(tmp_project: Path):
    board = tmp_project / "toolchains/boards/rpi4.yaml"
    board.write_text(board.read_text().replace("gcc: [-mcpu=cortex-a72]", "gcc: [-mcpu=carmel]"))
    r = run_invoke("boards", "--check", cwd=tmp_project)
    assert r.returncode == 2
    assert ("rpi4: key 'cpu.gcc' in toolchains/boards/rpi4.yaml: aarch64-linux-gnu-g++ rejects "
            "-mcpu=carmel") in r.stderr
    assert "unknown value" in r.stderr  # the compiler's own words


def test_every_board_cpu_flags_are_accepted_by_its_compiler():
    r = run_invoke("boards", "--check")
    assert r.returncode == 0, r.stderr


def test_setup_is_idempotent_and_doctor_is_green():
    r = run_invoke("setup")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "setup: nothing to change, the host is ready" in r.stdout
    r = run_invoke("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MISSING" not in r.stdout
    # one line per check, its status first: each of these says ok
    lines = r.stdout.splitlines()
    for item in ("binfmt qemu-aarch64 with F flag", "binfmt qemu-arm with F flag",
                 "dockerd answering on ", "mmdebstrap (mmdebstrap)",
                 "gdb-multiarch (gdb-multiarch)"):
        assert any(line.startswith(f"ok      {item}") for line in lines), (item, r.stdout)


def _mapped_toolchain(board: str, sysroot: Path, root: Path):
    """The board's generated wrappers, with a Conan home and edgeforge folders in root."""
    from edgeforge.config import Catalog
    from edgeforge.toolchain import ToolchainInputs, Toolset, locate_tools, write_toolchain
    from tests.conftest import PROJECT
    t = Catalog(PROJECT / "toolchains", PROJECT).resolve(board, env={}, cli={})
    spec = t.compiler.spec
    ts = Toolset(spec.family, spec.triple, spec.version or "14", locate_tools(t),
                 spec.effective_linker)
    conan = root / "cache" / "conan2" / "p"
    inp = ToolchainInputs(
        target=t, toolset=ts, sysroot=sysroot, sysroot_glibc="2.31",
        out_dir=root / "build" / board / "toolchain", qemu="/usr/bin/qemu-aarch64",
        host_pkg_config="/usr/bin/pkg-config", host_gcc_version="12",
        host_compilers={"c": "/usr/bin/gcc", "cpp": "/usr/bin/g++"}, can_run=True,
        conan_packages_dir=conan,
        path_names=((root / "cache", "/edgeforge-cache"), (root / "build", "/edgeforge-build"),
                    (conan, "/conan")))
    files = write_toolchain(inp)
    return files.files[f"bin/{ts.triple}-clang"], conan


def _compile_in_package(cc: Path, conan: Path, build_id: str, dep_id: str) -> bytes:
    """A package's source compiled with debug info in Conan's random build folder, using a
    header of another built package whose inline function names its own __FILE__."""
    src = conan / "b" / build_id / "b" / "src"
    inc = conan / "b" / dep_id / "p" / "include"
    src.mkdir(parents=True)
    inc.mkdir(parents=True)
    (inc / "where.h").write_text(
        "#include <assert.h>\nstatic inline const char *dep_file(void) { return __FILE__; }\n")
    (src / "lib.c").write_text(
        '#include <where.h>\n#include <stdlib.h>\n'
        'int num(const char *s) { return atoi(s); }\n'  # glibc's inline atoi, at -O1
        'const char *dep(void) { return dep_file(); }\n'
        'const char *files(void) { assert(dep_file()); return __FILE__; }\n')
    obj = src.parent / "lib.o"
    subprocess.run([str(cc), "-g", "-O1", "-c", "src/lib.c", f"-I{inc}", "-o", str(obj)],
                   cwd=src.parent, check=True, capture_output=True, text=True)
    return obj.read_bytes()


def test_objects_hold_no_build_machine_path_and_match_across_build_folders(
        bullseye: Path, tmp_path: Path):
    """Conan builds every package in a random folder (p/b/<5 letters><13 hex>): the wrappers
    give those folders, the sysroot and edgeforge's folders fixed names, so the same source
    gives the same object whichever folder (or machine) built it."""
    cc, conan = _mapped_toolchain("jetson-nx", bullseye, tmp_path)
    one = _compile_in_package(cc, conan, "demo0123456789abc", "zlib0123456789abc")
    two = _compile_in_package(cc, conan, "demofedcba987654f", "zlibfedcba9876543")
    assert one == two
    assert str(tmp_path).encode() not in one and str(bullseye).encode() not in one
    for name in (b"/conan/demo/b", b"src/lib.c", b"/conan/zlib/p/include/where.h"):
        assert name in one, name
    # the sysroot's headers are named as on the device (a debugger there finds them)
    lines = subprocess.run(["llvm-dwarfdump-14", "--debug-line", "/dev/stdin"], input=one,
                           capture_output=True, check=True).stdout.decode()
    assert '"/usr/include"' in lines, lines
    # a link takes no map (clang would warn that it went unused)
    obj = conan / "b" / "demo0123456789abc" / "b" / "lib.o"
    r = subprocess.run([str(cc), "-shared", "-o", str(obj.with_suffix(".so")), str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "unused" not in r.stderr, r.stderr
