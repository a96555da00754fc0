"""The ABI traps of ../shared/ENVIRONMENT.md, caught by the gate; the boards' strategies pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import BUILD, require_tools, run_invoke
from tests.e2e.conftest import build_board, sysroot_of

pytestmark = pytest.mark.e2e
TRAP = Path(__file__).parent / "trap"


def gxx(*args: str) -> None:
    require_tools("aarch64-linux-gnu-g++")
    subprocess.run(["aarch64-linux-gnu-g++", *args], check=True, capture_output=True)


def qemu(sysroot: Path, prog: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-aarch64", "-L", str(sysroot), str(prog)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def bullseye() -> Path:
    build_board("jetson-nx")
    return sysroot_of("jetson-nx")


def test_naive_gcc12_link_against_bullseye_is_caught(bullseye: Path, tmp_path: Path):
    naive = tmp_path / "naive"
    gxx("-std=c++17", f"--sysroot={bullseye}", "-O2", "-pthread", str(TRAP / "trap.cpp"),
        "-o", str(naive))
    # ground truth: it really does not load on the bullseye (glibc 2.31) root file system
    r = qemu(bullseye, naive)
    assert r.returncode != 0 and "version `GLIBC_2.34' not found" in r.stderr
    r = run_invoke("gate", "--board", "jetson-nx", "--", str(naive))
    assert r.returncode == 5, r.stdout + r.stderr
    assert "needs GLIBC_2.34 (from libc.so.6: " in r.stderr
    assert "above jetson-nx's ceiling GLIBC_2.31" in r.stderr
    assert "needs GLIBCXX_3.4.29 (from libstdc++.so.6: _ZSt8to_chars" in r.stderr
    assert "above jetson-nx's ceiling GLIBCXX_3.4.28" in r.stderr


def test_static_libstdcxx_is_no_escape_from_bookworm_glibc(bullseye: Path, tmp_path: Path):
    prog = tmp_path / "static-cxx"
    gxx("-std=c++17", f"--sysroot={bullseye}", "-O2", "-pthread", "-static-libstdc++",
        "-static-libgcc", str(TRAP / "trap.cpp"), "-o", str(prog))
    r = run_invoke("gate", "--board", "jetson-nx", "--", str(prog))
    assert r.returncode == 5
    assert "above jetson-nx's ceiling GLIBC_2.31" in r.stderr
    assert "GLIBCXX" not in r.stderr.split("violation(s)")[1]  # no libstdc++.so needed at all


def test_board_strategy_builds_the_same_program_within_the_ceiling(
        bullseye: Path, tmp_path: Path):
    # clang + the sysroot's libstdc++, through the generated CMake toolchain
    src = tmp_path / "src"
    src.mkdir()
    (src / "trap.cpp").write_text((TRAP / "trap.cpp").read_text())
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(trap CXX)\nset(CMAKE_CXX_STANDARD 17)\n"
        "find_package(Threads REQUIRED)\nadd_executable(trap trap.cpp)\n"
        "target_link_libraries(trap Threads::Threads)\n")
    toolchain = BUILD / "jetson-nx/toolchain/toolchain.cmake"
    subprocess.run(["cmake", "-S", str(src), "-B", str(tmp_path / "b"), "-G", "Ninja",
                    f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(tmp_path / "b")], check=True, capture_output=True)
    prog = tmp_path / "b" / "trap"
    r = run_invoke("gate", "--board", "jetson-nx", "--", str(prog))
    assert r.returncode == 0, r.stderr
    assert ": ok" in r.stdout
    r = qemu(bullseye, prog)
    assert r.returncode == 0 and r.stdout == "trap: 3.143\n"
    # and the naive gcc 12 build gives the same answer where its glibc exists (bookworm)
    build_board("rpi4")
    naive = tmp_path / "naive"
    gxx("-std=c++17", "-O2", "-pthread", str(TRAP / "trap.cpp"), "-o", str(naive))
    assert qemu(sysroot_of("rpi4"), naive).stdout == "trap: 3.143\n"


def test_stand_in_sysroot_newer_than_the_device_is_held_to_the_ceiling(
        bullseye: Path, tmp_path: Path):
    # statx exists in bullseye (glibc 2.31) but not on JetPack 4 (glibc 2.27)
    require_tools("clang-14")
    prog = tmp_path / "statx"
    subprocess.run(["clang-14", "--target=aarch64-linux-gnu", f"--sysroot={bullseye}",
                    "-fuse-ld=lld", str(TRAP / "statx.c"), "-o", str(prog)], check=True)
    assert run_invoke("gate", "--board", "jetson-nx", "--", str(prog)).returncode == 0
    r = run_invoke("gate", "--board", "jetson-nano", "--", str(prog))
    assert r.returncode == 5
    assert "needs GLIBC_2.28 (from libc.so.6: statx), above jetson-nano's ceiling GLIBC_2.27" \
        in r.stderr


def test_rpath_into_the_build_tree_and_missing_libraries_are_caught(
        bullseye: Path, tmp_path: Path):
    lib = tmp_path / "libhelper.so"
    (tmp_path / "helper.c").write_text("int helper(void) { return 7; }\n")
    (tmp_path / "main.c").write_text("int helper(void);\nint main(void) { return helper(); }\n")
    common = ["clang-14", "--target=aarch64-linux-gnu", f"--sysroot={bullseye}", "-fuse-ld=lld"]
    subprocess.run([*common, "-shared", "-fPIC", str(tmp_path / "helper.c"), "-o", str(lib)],
                   check=True)
    prog = tmp_path / "bin" / "app"
    prog.parent.mkdir()
    subprocess.run([*common, str(tmp_path / "main.c"), "-L", str(tmp_path), "-lhelper",
                    f"-Wl,-rpath,{tmp_path}", "-o", str(prog)], check=True)
    r = run_invoke("gate", "--board", "jetson-nx", "--", str(prog))
    assert r.returncode == 5
    assert f"has RPATH/RUNPATH {tmp_path}, inside /tmp" in r.stderr
    assert "needs libhelper.so, found neither in the sysroot nor among the package's own" \
        in r.stderr


def test_newer_libstdcxx_headers_are_held_to_a_jetpack4_ceiling(bullseye: Path, tmp_path: Path):
    # bullseye's libstdc++ 10 headers make string streams bind to GLIBCXX_3.4.26; the Nano's
    # board toolchain links those members from its shim instead (stdcxx_compat)
    require_tools("clang++-14")
    build_board("jetson-nano")
    naive = tmp_path / "naive"
    subprocess.run(["clang++-14", "--target=aarch64-linux-gnu", f"--sysroot={bullseye}",
                    "-fuse-ld=lld", "-O2", "-std=c++17", str(TRAP / "sstream.cpp"), "-o",
                    str(naive)], check=True)
    r = run_invoke("gate", "--board", "jetson-nano", "--", str(naive))
    assert r.returncode == 5
    assert "needs GLIBCXX_3.4.26 (from libstdc++.so.6: " in r.stderr
    assert "_ZNSt7__cxx1119basic_ostringstreamIcSt11char_traitsIcESaIcEEC1Ev" in r.stderr
    src = tmp_path / "src"
    src.mkdir()
    (src / "sstream.cpp").write_text((TRAP / "sstream.cpp").read_text())
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(sstream CXX)\n"
        "set(CMAKE_CXX_STANDARD 17)\nadd_executable(sstream sstream.cpp)\n")
    toolchain = BUILD / "jetson-nano/toolchain/toolchain.cmake"
    subprocess.run(["cmake", "-S", str(src), "-B", str(tmp_path / "b"), "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(tmp_path / "b")], check=True, capture_output=True)
    prog = tmp_path / "b" / "sstream"
    r = run_invoke("gate", "--board", "jetson-nano", "--", str(prog))
    assert r.returncode == 0, r.stderr
    dynsyms = subprocess.run(["llvm-nm-14", "-D", "--defined-only", str(prog)],
                             capture_output=True, text=True, check=True).stdout
    assert "basic_ostringstream" not in dynsyms  # linked in hidden, not re-exported
    for p in (naive, prog):
        r = qemu(bullseye, p)
        assert (r.returncode, r.stdout) == (0, "48 frames at 24.5 fps +7\n")
