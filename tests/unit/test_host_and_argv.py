"""Pure argv builders, apt-source parsing, the runner's contract, safe extraction, the plan."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from edgeforge.build import configure_argv
from edgeforge.config import AbiCeiling, AbiStrategy, Arch, Catalog
from edgeforge.core import (
    CommandFailedError,
    Reporter,
    Runner,
    SourceError,
    ToolMissingError,
    base_env,
    safe_extract,
    verify_sha256,
)
from edgeforge.host import deb_src_enabled, enable_deb_src
from edgeforge.host import debian_mirror as host_debian_mirror
from edgeforge.host import setup as hostsetup
from edgeforge.toolchain import make_links_relative, mmdebstrap_argv
from edgeforge.verify import Policy, gate, qemu_argv
from tests.conftest import PROJECT


def test_mmdebstrap_argv_uses_explicit_suites_from_the_given_mirror():
    spec = Catalog(PROJECT / "toolchains", PROJECT).sysroot("debian-bullseye-arm64").spec
    argv = mmdebstrap_argv(spec, Path("/t/root"), "http://mirror.example/debian")
    assert argv[:4] == ["mmdebstrap", "--arch=arm64", "--variant=minbase", "--components=main"]
    assert "--include=libc6-dev,libstdc++-10-dev,zlib1g-dev" in argv
    assert argv[-4:] == ["bullseye", "/t/root", "deb http://mirror.example/debian bullseye main",
                         "deb http://mirror.example/debian bullseye-updates main"]
    assert not any("security" in a for a in argv)


def test_host_mirror_read_from_deb822_skipping_security(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("EDGEFORGE_DEBIAN_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\nURIs: http://m.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert host_debian_mirror(tmp_path) == "http://m.example/debian"


def test_host_mirror_read_from_one_line_format(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("EDGEFORGE_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://one.example/debian bookworm main\n")
    assert host_debian_mirror(tmp_path) == "http://one.example/debian"
    monkeypatch.setenv("EDGEFORGE_DEBIAN_MIRROR", "http://override.example/debian/")
    assert host_debian_mirror(tmp_path) == "http://override.example/debian"


def test_deb_src_is_enabled_once(tmp_path: Path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    f = d / "debian.sources"
    f.write_text("Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\n"
                 "Components: main\n\nTypes: deb\nURIs: https://other.example/apt\n"
                 "Suites: stable\nComponents: main\n")
    assert not deb_src_enabled(tmp_path)
    assert enable_deb_src(tmp_path)
    assert deb_src_enabled(tmp_path)
    text = f.read_text()
    assert "Types: deb deb-src\nURIs: http://m.example/debian" in text
    assert "Types: deb\nURIs: https://other.example/apt" in text  # not a Debian entry
    before = f.read_text()
    assert not enable_deb_src(tmp_path)  # second run: nothing to change
    assert f.read_text() == before


def test_qemu_argv_and_cmake_argv():
    assert qemu_argv("qemu-aarch64", Path("/s"), Path("/b/bin/app"), ["-x"], ["/b/lib"]) == [
        "qemu-aarch64", "-L", "/s", "-E", "LD_LIBRARY_PATH=/b/lib", "/b/bin/app", "-x"]
    argv = configure_argv(Path("/src"), Path("/bld"), Path("/tc.cmake"), "Release",
                          Path("/pfx"), "ccache")
    assert "-DCMAKE_TOOLCHAIN_FILE=/tc.cmake" in argv and "-G" in argv
    assert "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache" in argv


def test_qemu_environment_is_one_option_per_variable_and_never_split_at_commas(tmp_path: Path):
    """qemu-user splits an -E value at ','; a program in a folder named 'q,BASH_ENV=...' must
    not set BASH_ENV for it: such a folder is refused, each variable has its own -E."""
    from edgeforge.core import UsageError
    from edgeforge.verify import env_options, library_path

    assert env_options({"A": "1", "B": "x:y"}) == ["-E", "A=1", "-E", "B=x:y"]
    with pytest.raises(UsageError, match="splits -E values at ','"):
        env_options({"LD_LIBRARY_PATH": "/x/q,BASH_ENV=/evil"})
    evil = tmp_path / "q,BASH_ENV=evil" / "bin"
    evil.mkdir(parents=True)
    (evil.parent / "lib").mkdir()
    program = evil / "app"
    with pytest.raises(UsageError, match=r"holds ','; qemu-user splits its -E values"):
        qemu_argv("qemu-aarch64", Path("/s"), program, [], library_path(program))
    with pytest.raises(UsageError, match="holds ':'"):
        qemu_argv("qemu-aarch64", Path("/s"), Path("/a:b/app"), [], ["/a:b"])


def test_qemu_user_really_sees_one_variable_per_option(tmp_path: Path):
    """The argv builder's -E options under a real qemu-aarch64: the program sees its
    LD_LIBRARY_PATH and no BASH_ENV; the comma-joined form it replaces would have set one."""
    import shutil
    import subprocess

    from tests.conftest import require_tools
    require_tools("qemu-aarch64", "aarch64-linux-gnu-gcc")  # fails (never skips) when missing
    qemu, cc = shutil.which("qemu-aarch64"), shutil.which("aarch64-linux-gnu-gcc")
    src = tmp_path / "env.c"
    src.write_text('#include <stdio.h>\n#include <stdlib.h>\nint main(void) {\n'
                   '  const char *a = getenv("LD_LIBRARY_PATH"), *b = getenv("BASH_ENV");\n'
                   '  printf("%s|%s\\n", a ? a : "-", b ? b : "-");\n  return 0;\n}\n')
    (tmp_path / "app" / "bin").mkdir(parents=True)
    (tmp_path / "app" / "lib").mkdir()
    program = tmp_path / "app" / "bin" / "env"
    subprocess.run([cc, "-static", "-O1", str(src), "-o", str(program)], check=True)
    argv = qemu_argv(qemu, Path("/nonexistent"), program, [], [str(tmp_path / "app" / "lib")])
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    assert out == f"{tmp_path / 'app' / 'lib'}|-\n"
    joined = subprocess.run([qemu, "-E", "LD_LIBRARY_PATH=/x/q,BASH_ENV=/evil", str(program)],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    assert joined == "/x/q|/evil\n"   # why a ',' is refused: qemu made two variables of it


def test_base_env_drops_host_compiler_variables(monkeypatch):
    monkeypatch.setenv("CC", "x86_64-linux-gnu-gcc")
    monkeypatch.setenv("CFLAGS", "-march=native")
    monkeypatch.setenv("PKG_CONFIG_PATH", "/usr/lib/x86_64-linux-gnu/pkgconfig")
    env = base_env({"FOO": "1"})
    assert "CC" not in env and "CFLAGS" not in env and "PKG_CONFIG_PATH" not in env
    assert env["FOO"] == "1" and env["LC_ALL"] == "C.UTF-8"


def test_runner_missing_tool_names_who_asked(tmp_path: Path):
    r = Runner(Reporter(quiet=True), tmp_path)
    with pytest.raises(ToolMissingError, match=r"no-such-tool-xyz not found \(needed by "
                                               r"compiler foo in toolchains/compilers/foo.yaml\)"):
        r.run(["no-such-tool-xyz"], what="probe",
              needed_by="compiler foo in toolchains/compilers/foo.yaml")


def test_runner_failure_carries_argv_code_tail_and_log(tmp_path: Path):
    r = Runner(Reporter(quiet=True), tmp_path)
    with pytest.raises(CommandFailedError) as exc:
        r.run(["sh", "-c", "echo line-one; echo boom >&2; exit 7"], what="failing step")
    e = exc.value
    assert e.returncode == 7 and e.argv[-1].endswith("exit 7")
    assert e.tail[-2:] == ["line-one", "boom"]
    assert e.log_path.is_file() and "boom" in e.log_path.read_text()
    assert f"full log: {e.log_path}" in str(e) and "exit code 7" in str(e)


def test_runner_stdin_is_closed_and_env_is_explicit(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CXX", "leaky")
    r = Runner(Reporter(quiet=True), tmp_path)
    out = r.run(["sh", "-c", "cat; echo CXX=${CXX:-unset}"], what="stdin check").output
    assert out.strip() == "CXX=unset"


def test_runner_timeout_kills(tmp_path: Path):
    r = Runner(Reporter(quiet=True), tmp_path)
    with pytest.raises(CommandFailedError, match="killed: no result after 1s"):
        r.run(["sleep", "30"], what="sleeper", timeout=1)


def _tar(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    return ti, data


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    return ti, None


def test_safe_extract_refuses_escaping_paths(tmp_path: Path):
    archive = _tar(tmp_path, [_file("ok.txt"), _file("../../evil.txt")])
    with pytest.raises(SourceError, match="refusing to extract"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_refuses_symlink_out_of_tree(tmp_path: Path):
    archive = _tar(tmp_path, [_link("etc/passwd-link", "../../../../etc/passwd")])
    with pytest.raises(SourceError, match="refusing to extract"):
        safe_extract(archive, tmp_path / "out", rootfs=True)


def test_rootfs_extract_rewrites_absolute_links_drops_devices_and_setuid(tmp_path: Path):
    dev = tarfile.TarInfo("dev/null")
    dev.type = tarfile.CHRTYPE
    archive = _tar(tmp_path, [
        _file("lib/aarch64-linux-gnu/libc.so.6", b"elf"),
        _link("usr/lib/aarch64-linux-gnu/libc.so", "/lib/aarch64-linux-gnu/libc.so.6"),
        _file("usr/bin/sudo", b"#!", 0o4755),
        (dev, None),
    ])
    out = tmp_path / "root"
    rep = safe_extract(archive, out, rootfs=True)
    link = out / "usr/lib/aarch64-linux-gnu/libc.so"
    assert os.readlink(link) == "../../../lib/aarch64-linux-gnu/libc.so.6"
    assert link.read_bytes() == b"elf"
    assert not (out / "usr/bin/sudo").stat().st_mode & 0o6000
    assert not (out / "dev/null").exists() and rep.skipped_devices == ["dev/null"]


def test_make_links_relative(tmp_path: Path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/libm.so.6").write_text("m")
    (tmp_path / "usr/lib").mkdir(parents=True)
    os.symlink("/lib/libm.so.6", tmp_path / "usr/lib/libm.so")
    assert make_links_relative(tmp_path) == 1
    assert os.readlink(tmp_path / "usr/lib/libm.so") == "../../lib/libm.so.6"
    assert make_links_relative(tmp_path) == 0


def test_checksum_mismatch_names_archive_expected_and_actual(tmp_path: Path):
    f = tmp_path / "x.tar.xz"
    f.write_bytes(b"corrupt")
    with pytest.raises(SourceError) as exc:
        verify_sha256(f, "0" * 64, "ffmpeg source")
    msg = str(exc.value)
    assert "ffmpeg source" in msg and "expected sha256 " + "0" * 64 in msg
    import hashlib

    assert hashlib.sha256(b"corrupt").hexdigest() in msg


def test_gate_rejects_a_host_binary_for_an_arm64_board(tmp_path: Path):
    policy = Policy("jetson-nx", Arch.ARM64,
                    AbiCeiling(glibc="2.31", glibcxx="3.4.28", strategy=AbiStrategy.SYSROOT_LIBSTDCXX),
                    tmp_path)
    report = gate([Path("/bin/true")], policy)
    assert not report.ok
    assert report.violations[0].rule == "machine"
    assert "EM_X86_64" in report.violations[0].message and "EM_AARCH64" in report.violations[0].message


def test_missing_binfmt_entry_names_the_fix(tmp_path: Path, monkeypatch):
    from edgeforge.core import HostSetupError

    monkeypatch.setattr(hostsetup, "BINFMT_DIR", tmp_path)
    assert not hostsetup.binfmt_ok(Arch.ARM64)
    with pytest.raises(HostSetupError, match=r"no enabled qemu-aarch64 entry with the F flag "
                                             r"\(tests run emulated\); fix: invoke setup"):
        hostsetup.require_binfmt(Arch.ARM64, why="tests run emulated")


def test_binfmt_entry_without_f_flag_is_not_ok(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(hostsetup, "BINFMT_DIR", tmp_path)
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /bin/sh\nflags: OC\noffset 0\nmagic 7f454c46\n")
    assert not hostsetup.binfmt_ok(Arch.ARM64)
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /bin/sh\nflags: POCF\noffset 0\nmagic 7f454c46\n")
    assert hostsetup.binfmt_ok(Arch.ARM64)


def test_an_exchange_keeps_the_programs_name_as_given_and_keeps_its_streams_apart(tmp_path: Path):
    """`ssh` shows as `ssh` in the process table (tests and users find the client by it), though
    the runner runs the program it found on PATH; stdout and stderr come back unmixed."""
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    r = runner.exchange(["cat", "/proc/self/cmdline"], what="cat")
    assert r.returncode == 0 and r.stdout == b"cat\0/proc/self/cmdline\0"
    r = runner.exchange(["sh", "-c", "echo out; echo err >&2; exit 3"], what="sh")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    with pytest.raises(TimeoutError):
        runner.exchange(["sleep", "5"], what="sleep", timeout=0.2)
