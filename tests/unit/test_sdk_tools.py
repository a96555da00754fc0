"""The pieces of the board SDK that need no compiler: the environment script, the pkg-config
wrapper's PATH filter, the compiler wrappers' text, the gate's exclusions, `invoke run`'s exit
status (issue 15)."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from edgeforge.config import AbiCeiling, AbiStrategy, Arch
from edgeforge.verify import abi, exit_status
from tests.unit.test_toolchain_render import inputs, render, write_all


def rendered(board: str, folder: Path, **changes) -> Path:
    """The board's files in `folder`; the sysroot (which the environment script checks) is
    folder/../sysroot unless given."""
    if "sysroot" not in changes:
        changes["sysroot"] = folder.parent / "sysroot"
        changes["sysroot"].mkdir(parents=True, exist_ok=True)
    inp = replace(inputs(board), out_dir=folder, **changes)
    return write_all(render(inp), folder)


def sh(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script, "sh", *args], capture_output=True, text=True,
                          env=env or {"PATH": "/usr/bin:/bin", "HOME": "/tmp"})


# ---- the environment script ----------------------------------------------------------------
def test_environment_script_sets_what_yocto_sets_and_more(tmp_path: Path):
    tc = rendered("jetson-nx", tmp_path / "nx")
    SYSROOT = tmp_path / "sysroot"  # noqa: N806
    r = sh('. "$1" && env', str(tc / "environment-setup"))
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    wrapper = f"{tc}/bin/aarch64-linux-gnu-clang"
    assert env["CC"] == wrapper and env["CXX"] == wrapper + "++"
    assert env["CPP"] == f"{wrapper} -E"
    for var in ("AR", "NM", "RANLIB", "STRIP", "OBJCOPY", "LD", "AS"):
        assert env[var], var
    assert env["LD"] == f"/usr/bin/ld.lld-14 --sysroot={SYSROOT}"
    assert shlex.split(env["CONFIGURE_FLAGS"]) == [
        "--host=aarch64-linux-gnu", "--build=x86_64-linux-gnu", f"--with-sysroot={SYSROOT}"]
    assert env["PKG_CONFIG"] == f"{tc}/pkg-config"
    assert env["PKG_CONFIG_LIBDIR"] == f"{tc}/pkgconfig"
    assert env["CMAKE_TOOLCHAIN_FILE"] == f"{tc}/toolchain.cmake"
    assert env["MESON_CROSS_FILE"] == f"{tc}/meson-cross.ini"
    assert env["QEMU_LD_PREFIX"] == str(SYSROOT)
    assert env["EDGEFORGE_BOARD"] == "jetson-nx"
    assert env["PATH"].startswith(f"{tc}/bin:")
    assert "PKG_CONFIG_PATH" not in env
    # the compiler command itself names the target and the sysroot
    line = (tc / "bin/aarch64-linux-gnu-clang").read_text().splitlines()[-1]
    assert shlex.split(line)[1:5] == ["/usr/bin/clang-14", "--target=aarch64-linux-gnu",
                                      f"--sysroot={SYSROOT}", "-mcpu=carmel"]


def test_environment_script_refuses_a_missing_sysroot(tmp_path: Path):
    tc = rendered("jetson-nx", tmp_path / "nx", sysroot=tmp_path / "moved-away")
    r = sh('. "$1"; echo "status=$? board=${EDGEFORGE_BOARD:-}"', str(tc / "environment-setup"))
    assert "does not exist (an SDK unpacked or moved: run its relocate-sdk.sh first)" in r.stderr
    assert "status=1 board=\n" in r.stdout + "\n"


def test_environment_script_refuses_a_second_board_until_reset(tmp_path: Path):
    nx = rendered("jetson-nx", tmp_path / "nx") / "environment-setup"
    rpi = rendered("rpi4", tmp_path / "rpi") / "environment-setup"
    r = sh('. "$1"; . "$2"; echo "status=$? board=$EDGEFORGE_BOARD cc=$CC"', str(nx), str(rpi))
    assert "already set up for board jetson-nx, not rpi4" in r.stderr
    assert "status=1 board=jetson-nx" in r.stdout and "clang" in r.stdout
    r = sh('. "$1"; edgeforge_reset; . "$2" && echo "board=$EDGEFORGE_BOARD cc=$CC"',
           str(nx), str(rpi))
    assert r.returncode == 0 and r.stderr == ""
    assert f"board=rpi4 cc={tmp_path}/rpi/bin/aarch64-linux-gnu-gcc" in r.stdout
    # the same board twice is fine and does not grow PATH; reset restores it
    r = sh('p=$PATH; . "$1"; . "$1"; echo "$PATH"; edgeforge_reset; '
           '[ "$PATH" = "$p" ] && [ -z "${CC+x}" ] && echo restored', str(nx))
    assert r.stdout.splitlines()[0] == f"{tmp_path}/nx/bin:/usr/bin:/bin"
    assert r.stdout.splitlines()[1] == "restored"


def test_environment_script_keeps_flags_optional_and_target_in_the_compiler(tmp_path: Path):
    tc = rendered("jetson-nano", tmp_path / "nano", sysroot_glibc="2.31")
    r = sh('. "$1" && printf "%s\\n" "$CFLAGS"', str(tc / "environment-setup"))
    assert r.stdout.strip() == "-O2"  # a user's CFLAGS=... replaces nothing essential
    cfg = (tc / "bin/aarch64-linux-gnu-clang.cfg").read_text()
    assert "-fuse-ld=lld" in cfg.splitlines()
    assert f"{tc}/glibc-compat.h" in cfg  # the ceiling's symbol pins travel with the compiler


def test_gcc_wrapper_and_where_its_libc_comes_from(tmp_path: Path):
    tc = rendered("rpi4", tmp_path / "rpi")
    SYSROOT = tmp_path / "sysroot"  # noqa: N806
    line = (tc / "bin/aarch64-linux-gnu-g++").read_text().splitlines()[-1]
    assert shlex.split(line)[1:] == ["/usr/bin/aarch64-linux-gnu-g++", f"--sysroot={SYSROOT}",
                                     "-mcpu=cortex-a72", "$@"]
    assert not (tc / "bin/aarch64-linux-gnu-clang.cfg").exists()
    cmake = (tc / "toolchain.cmake").read_text()
    # defect 8: the files say exactly what comes from where
    assert "the cross compiler's own target folder /usr/aarch64-linux-gnu" in cmake
    assert "sysroot only" not in cmake


# ---- the pkg-config wrapper ----------------------------------------------------------------
def test_pkg_config_wrapper_drops_host_paths_from_pkg_config_path(tmp_path: Path):
    fake = tmp_path / "fake-pkg-config"
    fake.write_text('#!/bin/sh\nprintf "LIBDIR=%s\\nPATH=%s\\n" "$PKG_CONFIG_LIBDIR" '
                    '"$PKG_CONFIG_PATH"\n')
    fake.chmod(0o755)
    sysroot = tmp_path / "sysroot"
    tc = rendered("jetson-nx", tmp_path / "board" / "toolchain", host_pkg_config=str(fake),
                  sysroot=sysroot)
    build = tmp_path / "outside" / "build"
    build.mkdir(parents=True)
    keep = [f"{sysroot}/usr/lib/pkgconfig", f"{build}/meson-uninstalled",
            f"{tmp_path}/board/work/app/generators", "/cache/conan2/p/b/zlib1/b/generators"]
    drop = ["/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/local/lib/pkgconfig",
            f"{sysroot}-other/lib"]
    env = {"PATH": "/usr/bin:/bin", "PKG_CONFIG_PATH": ":".join([drop[0], *keep, *drop[1:]])}
    r = subprocess.run(["sh", str(tc / "pkg-config"), "--cflags", "x"], capture_output=True,
                       text=True, env=env, cwd=build.parent)
    out = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert out["LIBDIR"] == f"{tc}/pkgconfig"
    assert out["PATH"].split(":") == keep
    for d in drop:
        assert f"ignoring PKG_CONFIG_PATH entry {d} " in r.stderr
    # run from a system folder, the current folder does not count as a build tree
    r = subprocess.run(["sh", str(tc / "pkg-config")], capture_output=True, text=True,
                       env={**env, "PKG_CONFIG_PATH": "/usr/lib/x86_64-linux-gnu/pkgconfig"},
                       cwd="/usr")
    assert "PATH=\n" in r.stdout


# ---- the gate ------------------------------------------------------------------------------
def test_exclusion_patterns_match_files_and_folders():
    p = Path("/tmp/b/meson-private/sanitycheckc.exe")
    assert abi.excluded_by(p, ["meson-private"]) == "meson-private"
    assert abi.excluded_by(p, ["*.exe"]) == "*.exe"
    assert abi.excluded_by(p, ["b/meson-private/"]) == "b/meson-private"
    assert abi.excluded_by(p, ["tests", "*.so"]) is None
    assert abi.excluded_by(Path("/x/CMakeFiles/3.25/CompilerIdC/a.out"), ["CMakeFiles"])


def policy() -> abi.Policy:
    return abi.Policy(board="jetson-nx", arch=Arch.ARM64, sysroot=Path("/nonexistent"),
                      ceiling=AbiCeiling(glibc="2.31", glibcxx="3.4.28",
                                         strategy=AbiStrategy.SYSROOT_LIBSTDCXX))


def test_build_machine_programs_are_listed_apart_not_counted():
    host_program = Path("/bin/true")
    assert abi.build_machine() == "EM_X86_64"
    strict = abi.gate([host_program], policy())
    assert not strict.ok and "program for the build machine" in strict.violations[0].message
    assert "needs no versioned symbols" in strict.summary()  # the host's glibc is not counted
    report = abi.gate([host_program], policy(), skip_machines=("EM_X86_64",))
    assert report.ok and report.checked == []
    assert report.skipped == [(host_program, "build-machine (EM_X86_64)")]
    assert report.summary().endswith("0 ELF files, needs no versioned symbols; ceiling "
                                     "GLIBC_2.31, GLIBCXX_3.4.28: ok (not checked: 1 "
                                     "build-machine)")
    excluded = abi.gate([host_program], policy(), exclude=("true",))
    assert excluded.ok and excluded.skipped == [(host_program, "excluded (true)")]


# ---- invoke run ----------------------------------------------------------------------------
@pytest.mark.parametrize(("returncode", "status"), [(0, 0), (3, 3), (-15, 143), (-9, 137)])
def test_run_exit_status_is_the_programs(returncode: int, status: int):
    assert exit_status(returncode) == status
