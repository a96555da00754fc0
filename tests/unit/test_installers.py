"""The installers' pure parts: images/edge-infer/installers.yaml, Depends parsing, the
dpkg-query shim, control text, unit file, maintainer scripts, RPM spec and Requires, the .run
header and payload. No dpkg-deb, rpmbuild or lintian here (tests/e2e/test_installers.py)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgeforge.build import (
    AbiRecord,
    CompilerRecord,
    DependenciesRecord,
    Manifest,
    PackageRecord,
    SysrootRecord,
)
from edgeforge.config import Arch, load_app
from edgeforge.context import Context
from edgeforge.core import DescriptorError, EdgeforgeError, Reporter, Runner
from edgeforge.deliver import ReleaseInput, shlibdeps
from edgeforge.deliver.packages import deb as debpkg
from edgeforge.deliver.packages import rpm as rpmpkg
from edgeforge.deliver.packages import run as runinstaller
from edgeforge.deliver.packages import staging as installers
from edgeforge.elf import ElfInfo

PROJECT = Path(__file__).resolve().parents[2]
EPOCH = 1700000000
SPEC_FILE = PROJECT / "images/edge-infer/installers.yaml"
APP = load_app(PROJECT, "edge-infer")


def fake_elf(soname=None, needed=(), versions=None) -> ElfInfo:
    return ElfInfo(path=Path("x"), machine="EM_AARCH64", elf_class=64, elf_type="ET_DYN",
                   interpreter=None, needed=tuple(needed), rpath=(), runpath=(), soname=soname,
                   version_needs=versions or {})


@pytest.fixture
def inp(tmp_path: Path) -> ReleaseInput:
    """A release of a tiny fake app for jetson-nx, with two graph packages (one test-only)."""
    app = tmp_path / "app"
    (app / "bin").mkdir(parents=True)
    (app / "bin/edge-infer").write_bytes(b"#!/bin/sh\necho fake\n")
    os.chmod(app / "bin/edge-infer", 0o700)
    (app / "lib").mkdir()
    (app / "lib/libopencv_core.so.406").write_bytes(b"not really a library")
    os.symlink("libopencv_core.so.406", app / "lib/libopencv_core.so")
    (app / "share/edge-infer").mkdir(parents=True)
    (app / "share/edge-infer/pedestrian-grid.onnx").write_bytes(b"model")
    lic = tmp_path / "pkg-opencv/licenses"
    lic.mkdir(parents=True)
    (lic / "LICENSE").write_text("Apache License\nVersion 2.0, January 2004\n")
    ctx = Context.create(project_root=PROJECT, build_root=tmp_path / "build",
                         cache_dir=tmp_path / "cache")
    target = ctx.catalog.resolve("jetson-nx", env={})
    deps = DependenciesRecord(lockfile="conan.lock", built_this_run=(), packages=(
        PackageRecord(ref="opencv/4.6.0#abc", package_id="1", context="host",
                      package_folder=str(tmp_path / "pkg-opencv")),
        PackageRecord(ref="googletest/1.12.1#def", package_id="2", context="host"),
        PackageRecord(ref="protobuf/3.21.12#123", package_id="3", context="build"),
    ))
    manifest = Manifest(board="jetson-nx", arch="arm64", triple="aarch64-linux-gnu",
                        compiler=CompilerRecord(name="clang14", family="clang", version="14"),
                        sysroot=SysrootRecord(name="s", key="k", glibc="2.31", glibcxx="3.4.28"),
                        abi=AbiRecord(glibc="2.31", glibcxx="3.4.28", cxxabi="1.3.12",
                                      strategy="sysroot-libstdcxx", max_needed={}),
                        artifacts=(), dependencies=deps)
    return ReleaseInput(target=target, app=ctx.app(), manifest=manifest, app_dir=app,
                        sysroot=tmp_path / "sysroot", project_root=PROJECT, version="1.2.0",
                        revision="abc1234", source_date_epoch=EPOCH, mirror_dir=tmp_path)


@pytest.fixture
def spec() -> installers.InstallersSpec:
    return installers.load_installers(PROJECT, APP)


# ---- installers.yaml ------------------------------------------------------------------------
def test_the_shipped_installers_yaml_is_valid(spec):
    assert spec.package == "edge-infer"
    assert spec.prefix == "/opt/edge-infer" and spec.run.default_prefix == "/opt/edge-infer"
    assert spec.service.user == "edge-infer" and spec.service.restart == "on-failure"
    with pytest.raises(ValidationError):
        spec.package = "other"  # frozen


def test_installers_yaml_errors_name_file_key_and_fix():
    rel = "images/edge-infer/installers.yaml"
    text = SPEC_FILE.read_text()
    with pytest.raises(DescriptorError,
                       match=r"unknown key 'service.restrat' in images/edge-infer/installers.yaml; "
                             r"did you mean 'restart'\?"):
        installers.parse_installers(text.replace("  restart: on-failure", "  restrat: on-failure"),
                                    rel)
    with pytest.raises(DescriptorError, match=r"key 'service.restart' in .*expected"):
        installers.parse_installers(text.replace("restart: on-failure", "restart: sometimes"), rel)
    with pytest.raises(DescriptorError, match=r"missing key 'maintainer' in"):
        installers.parse_installers(re.sub(r"(?m)^maintainer:.*\n", "", text), rel)
    with pytest.raises(DescriptorError, match=r"key 'service.args' .*one word"):
        installers.parse_installers(text.replace('args: [--timeout, "10"]',
                                                 'args: ["--x; rm -rf /"]'), rel)
    with pytest.raises(DescriptorError, match=r"key 'prefix' .*not of the expected form"):
        installers.parse_installers(text.replace("prefix: /opt/edge-infer", "prefix: /usr"), rel)
    with pytest.raises(DescriptorError, match="duplicate key"):
        installers.parse_installers(text + "package: again\n", rel)


def test_missing_installers_yaml_is_a_clear_error(tmp_path):
    # the file the app's descriptor names (deliver.installer_info), looked for in the project
    assert installers.installer_info(APP) == "images/edge-infer/installers.yaml"
    with pytest.raises(DescriptorError, match="missing images/edge-infer/installers.yaml"):
        installers.load_installers(tmp_path, APP)


def test_an_app_without_installer_info_has_no_installers():
    bare = APP.spec.model_copy(update={"deliver": APP.spec.deliver.model_copy(
        update={"installer_info": None, "formats": ()})})
    app = type(APP)(bare, APP.folder, APP.version)
    with pytest.raises(DescriptorError) as exc:
        installers.load_installers(PROJECT, app)
    assert exc.value.message == (
        "key 'deliver.installer_info' in apps/edge-infer/app.yaml is not set, and its "
        "installers need it; add installer_info: images/edge-infer/installers.yaml (or drop "
        "deb, rpm, run and dbg from deliver.formats)")


@pytest.mark.parametrize("given,expected", [
    ("1.0.0", "1.0.0"), ("v1.0.0-12-gabc1234", "1.0.0+12+gabc1234"),
    ("abc1234", "0~abc1234"), ("1.0.0-dirty", "1.0.0+dirty"), ("2.0_rc 1", "2.0+rc+1"),
])
def test_package_version_suits_dpkg_and_rpm(given, expected):
    assert installers.package_version(given) == expected


# ---- system dependencies --------------------------------------------------------------------
def test_depends_and_substvars_parse_into_relations():
    text = "shlibs:Depends=libc6 (>= 2.17), libgcc-s1 (>= 3.0), libstdc++6 (>= 9) | foo\n"
    deps = shlibdeps.parse_substvars("misc:Foo=bar\n" + text)
    assert deps[0] == (shlibdeps.Relation("libc6", ">=", "2.17"),)
    assert deps[2] == (shlibdeps.Relation("libstdc++6", ">=", "9"), shlibdeps.Relation("foo"))
    sd = shlibdeps.SystemDeps(depends=deps, libraries=())
    assert sd.depends_text() == "libc6 (>= 2.17), libgcc-s1 (>= 3.0), libstdc++6 (>= 9) | foo"
    assert shlibdeps.parse_substvars("misc:Depends=x\n") == ()


def test_dpkg_query_output_parsing():
    out = ("libc6:arm64: /lib/aarch64-linux-gnu/libc.so.6\n"
           "diversion by foo from: /usr/bin/x\n"
           "libfoo1:arm64, libfoo-dev:arm64: /usr/lib/aarch64-linux-gnu/libfoo.so.1\n"
           "dpkg-query: no path found matching pattern /nowhere\n")
    assert shlibdeps.parse_dpkg_search(out) == {
        "/lib/aarch64-linux-gnu/libc.so.6": ["libc6"],
        "/usr/lib/aarch64-linux-gnu/libfoo.so.1": ["libfoo1", "libfoo-dev"],
    }
    assert shlibdeps.parse_dpkg_show("libc6\t2.31-13+deb11u11\nbad line\n") == {
        "libc6": "2.31-13+deb11u11"}


def test_licence_from_copyright_files():
    dep5 = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "Upstream-Name: zlib\n\nFiles: *\nCopyright: 1995 Jean-loup Gailly\nLicense: Zlib\n"
            " text\n\nFiles: contrib/*\nCopyright: x\nLicense: other\n text\n")
    assert shlibdeps.copyright_licence(dep5) == "Zlib"
    gcc = "collection ... GNU General Public License (v3 or later) with version 3.1 of the GCC\n" \
          "Runtime Library Exception (included in this file):"
    assert shlibdeps.copyright_licence(gcc) == "GPL-3.0-or-later WITH GCC-exception-3.1"
    glibc = "under the terms of the GNU Lesser General Public\n License as published ...; either\n" \
            "    version 2.1 of the License, or (at your option) any later version."
    assert shlibdeps.copyright_licence(glibc) == "LGPL-2.1-or-later"
    assert shlibdeps.copyright_licence("Some free-form text, GPL maybe.") is None


def test_system_needs_leave_out_what_the_app_carries(tmp_path):
    files = {
        "bin/edge-infer": fake_elf(needed=("libopencv_core.so.406", "libc.so.6", "libstdc++.so.6"),
                                   versions={"libc.so.6": {"GLIBC_2.17": ("x",)},
                                             "libstdc++.so.6": {"GLIBCXX_3.4.21": ("y",)}}),
        "lib/libopencv_core.so.406": fake_elf("libopencv_core.so.406",
                                              ("libavutil.so.57", "libm.so.6", "libc.so.6"),
                                              {"libc.so.6": {"GLIBC_2.28": ("z",)}}),
        "lib/libavutil.so.57.28.100": fake_elf("libavutil.so.57", ("libc.so.6",)),
    }
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/libavutil.so.57").symlink_to("libavutil.so.57.28.100")
    private = shlibdeps.private_sonames(tmp_path, files)
    assert {"libopencv_core.so.406", "libavutil.so.57"} <= private
    needs = shlibdeps.system_needs(files, private)
    assert sorted(needs) == ["libc.so.6", "libm.so.6", "libstdc++.so.6"]
    users, versions = needs["libc.so.6"]
    assert users == {"bin/edge-infer", "lib/libopencv_core.so.406", "lib/libavutil.so.57.28.100"}
    assert versions == {"GLIBC_2.17", "GLIBC_2.28"}


def test_shlibdeps_argv_and_env_point_at_the_sysroot(tmp_path):
    root = tmp_path / "sysroot"
    argv = shlibdeps.shlibdeps_argv([tmp_path / "pkg/opt/x/bin/x"], root, Arch.ARM64,
                                    tmp_path / "substvars", "/opt/x/lib")
    assert argv[0] == "dpkg-shlibdeps" and "-l/opt/x/lib" in argv
    assert f"--admindir={root}/var/lib/dpkg" in argv
    assert f"-l{root}/lib/aarch64-linux-gnu" in argv and f"-l{root}/usr/lib/aarch64-linux-gnu" in argv
    assert argv[-1] == f"-e{tmp_path}/pkg/opt/x/bin/x"
    env = shlibdeps.shlibdeps_env(root, Arch.ARM64, tmp_path / "shim", "/usr/bin/dpkg-query")
    assert env["PATH"].split(":")[0] == str(tmp_path / "shim")
    assert env["DEB_HOST_ARCH"] == "arm64" and env["EDGEFORGE_SYSROOT"] == str(root)
    assert "CC" not in env


def test_dpkg_query_shim_strips_the_prefix_and_puts_it_back(tmp_path):
    """The shim dpkg-shlibdeps runs: the real dpkg-query sees device paths, dpkg-shlibdeps
    gets its own paths back."""
    real = tmp_path / "real-dpkg-query"
    real.write_text('#!/bin/sh\necho "args: $*" >&2\nfor a in "$@"; do case $a in\n'
                    '  /lib/*) echo "libc6:arm64: $a" ;;\n'
                    '  --search|--) ;;\n'
                    '  *) echo "dpkg-query: no path found matching pattern $a" >&2 ;;\n'
                    'esac; done\n')
    real.chmod(0o755)
    shim = tmp_path / "dpkg-query"
    shim.write_text(shlibdeps.SHIM)
    shim.chmod(0o755)
    root = "/cache/sysroots/bullseye tree"
    env = {"PATH": "/usr/bin:/bin", "EDGEFORGE_SYSROOT": root,
           "EDGEFORGE_REAL_DPKG_QUERY": str(real)}
    r = subprocess.run([str(shim), "--search", "--", f"{root}/lib/aarch64-linux-gnu/libc.so.6",
                        "/build/pkg/opt/edge-infer/lib/libx.so"],
                       env=env, capture_output=True, text=True)
    assert r.stdout == f"libc6:arm64: {root}/lib/aarch64-linux-gnu/libc.so.6\n"
    assert "args: --search -- /lib/aarch64-linux-gnu/libc.so.6 /build/pkg/" in r.stderr
    # anything but --search goes through untouched
    r = subprocess.run([str(shim), "-W", "libc6"], env=env, capture_output=True, text=True)
    assert "args: -W libc6" in r.stderr


# ---- the .deb -------------------------------------------------------------------------------
def test_control_text(spec):
    text = debpkg.control_text(spec, "1.2.0", "arm64",
                               "libc6 (>= 2.17), libstdc++6 (>= 9), adduser", 4321)
    fields = [line.split(":", 1)[0] for line in text.splitlines() if not line.startswith(" ")]
    assert fields == ["Package", "Version", "Architecture", "Maintainer", "Installed-Size",
                      "Depends", "Section", "Priority", "Description"]
    assert "\nDepends: libc6 (>= 2.17), libstdc++6 (>= 9), adduser\n" in text
    assert "\nInstalled-Size: 4321\n" in text
    desc = text.split("Description: ", 1)[1].splitlines()
    assert desc[0] == spec.summary
    assert all(line.startswith(" ") and len(line) <= 80 for line in desc[1:])
    assert " ." in desc  # paragraphs
    with pytest.raises(EdgeforgeError, match="Depends is empty"):
        debpkg.control_text(spec, "1.2.0", "arm64", " ", 1)


def test_merge_depends_adds_script_tools_once():
    assert debpkg.merge_depends("libc6 (>= 2.17)", ["adduser"]) == "libc6 (>= 2.17), adduser"
    assert debpkg.merge_depends("adduser (>= 3), libc6", ["adduser"]) == "adduser (>= 3), libc6"


def test_md5sums_installed_size_and_conffiles(tmp_path):
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text("x")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/b").write_bytes(b"b" * 1500)
    (root / "etc").mkdir()
    (root / "etc/a.conf").write_text("a\n")
    os.symlink("/usr/bin/b", root / "usr/bin/link")
    assert debpkg.md5sums_text(root) == (
        f"{hashlib.md5(b'a' + bytes([10])).hexdigest()}  etc/a.conf\n"
        f"{hashlib.md5(b'b' * 1500).hexdigest()}  usr/bin/b\n")
    assert debpkg.installed_size(root) == 3 + 2 + 1 + 1  # folders usr usr/bin etc, files, link
    assert debpkg.conffiles_text([Path("/etc/b.conf"), Path("/etc/a.conf")]) == \
        "/etc/a.conf\n/etc/b.conf\n"


def test_unit_file_runs_the_instance_stream_as_the_service_user(inp, spec):
    unit = installers.unit_text(inp, spec)
    for line in ("User=edge-infer", "Group=edge-infer", "SupplementaryGroups=video",
                 "EnvironmentFile=/etc/edge-infer/%i.conf",
                 "ExecStart=/opt/edge-infer/bin/edge-infer $EDGE_INFER_ARGS ${STREAM}",
                 "Restart=on-failure", "RestartSec=5", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "CapabilityBoundingSet=",
                 "AssertPathExists=/etc/edge-infer/%i.conf", "WantedBy=multi-user.target"):
        assert re.search(rf"(?m)^{re.escape(line)}$", unit), line
    assert "User=root" not in unit
    conf = installers.instance_conf_text(inp, spec)
    assert re.search(r"(?m)^STREAM=rtsp://camera.local/stream1$", conf)
    assert re.search(r"(?m)^EDGE_INFER_ARGS=--timeout 10$", conf)


def test_maintainer_scripts_are_valid_sh_and_manage_the_user(inp, spec):
    scripts = debpkg.maintainer_scripts(inp, spec)
    for name, text in scripts.items():
        assert text.startswith("#!/bin/sh\n") and "set -e" in text
        r = subprocess.run(["sh", "-n"], input=text, text=True, capture_output=True)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        # lintian: systemctl only for daemon-reload; actions through deb-systemd-invoke
        for line in text.splitlines():
            if re.match(r"^(?:.+;)?\s*systemctl\b", line):
                assert "daemon-reload" in line, f"{name}: {line}"
    assert "adduser --system --group --no-create-home --home /nonexistent" in scripts["postinst"]
    assert "deluser --system" in scripts["postrm"] and "purge" in scripts["postrm"]


def test_changelog_and_notices(inp, spec):
    log = debpkg.changelog_text(inp, spec)
    assert log.startswith("edge-infer (1.2.0) unstable; urgency=medium\n")
    assert log.rstrip().endswith("  Tue, 14 Nov 2023 22:13:20 +0000")
    notices = installers.notices_text(inp, spec)
    assert "License: Apache-2.0" in notices  # apps/edge-infer/conanfile.py
    assert "opencv 4.6.0: Apache-2.0" in notices and "Version 2.0, January 2004" in notices
    assert "googletest" not in notices and "protobuf" not in notices  # test-only, build-only
    assert "TERMS AND CONDITIONS FOR USE" in notices  # the repository's LICENSE, in full
    # a .deb points at Debian's copy of a common licence instead of repeating it
    deb = installers.notices_text(inp, spec, debian=True)
    assert "TERMS AND CONDITIONS FOR USE" not in deb
    assert "/usr/share/common-licenses/Apache-2.0" in deb


def test_gzip_is_reproducible():
    a = installers.gzip_bytes(b"hello" * 100)
    assert a == installers.gzip_bytes(b"hello" * 100)
    assert a[4:8] == b"\0\0\0\0" and a[8] == 2  # no time, maximum compression


def test_lintian_output_parsing():
    out = ("E: edge-infer: dir-or-file-in-opt [opt/edge-infer/]\n"
           "W: edge-infer arm64: hardening-no-fortify-functions [opt/x]\n"
           "N: explanation\nrunning with root privileges is not recommended!\n")
    tags = debpkg.parse_lintian(out)
    assert [(t.severity, t.tag) for t in tags] == [
        ("E", "dir-or-file-in-opt"), ("W", "hardening-no-fortify-functions")]
    assert debpkg.dpkg_deb_argv(Path("/r"), Path("/o.deb"))[:2] == ["dpkg-deb",
                                                                      "--root-owner-group"]


# ---- the .rpm -------------------------------------------------------------------------------
LIBS = (
    shlibdeps.SystemLibrary("libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "libc6", "2.31-13",
                            "LGPL-2.1-or-later", ("bin/edge-infer",), ("GLIBC_2.17", "GLIBC_2.28")),
    shlibdeps.SystemLibrary("libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", "libc6", "2.31-13",
                            None, ("lib/x.so",), ()),
)


def test_rpm_requires_are_soname_capabilities():
    assert rpmpkg.requires(LIBS, Arch.ARM64) == [
        "libc.so.6()(64bit)", "libc.so.6(GLIBC_2.17)(64bit)", "libc.so.6(GLIBC_2.28)(64bit)",
        "libm.so.6()(64bit)"]
    assert rpmpkg.requires(LIBS[1:], Arch.ARMHF) == ["libm.so.6()"]
    with pytest.raises(shlibdeps.DependencyError, match="empty"):
        rpmpkg.requires((), Arch.ARM64)


def test_rpm_spec(inp, spec):
    text = rpmpkg.spec_text(inp, spec, rpmpkg.requires(LIBS, Arch.ARM64))
    assert "\nAutoReqProv:    no\n" in text
    assert "\nRequires:       libc.so.6(GLIBC_2.28)(64bit)\n" in text
    assert "\nVersion:        1.2.0\n" in text and "\nLicense:        Apache-2.0\n" in text
    assert "%config(noreplace) /etc/edge-infer/default.conf" in text
    assert "/usr/lib/systemd/system/edge-infer@.service" in text
    assert "%global _buildhost edgeforge" in text
    assert "%global use_source_date_epoch_as_buildtime 1" in text
    assert "useradd -r -g edge-infer" in text
    argv = rpmpkg.rpmbuild_argv(Path("/w/x.spec"), Path("/w/top"), Path("/w/p"), Path("/o"),
                                Arch.ARM64)
    assert argv[:4] == ["rpmbuild", "-bb", "--target", "aarch64-linux"]
    assert rpmpkg.rpm_filename("edge-infer", "1.2.0", Arch.ARM64) == \
        "edge-infer-1.2.0-1.aarch64.rpm"


# ---- the .run -------------------------------------------------------------------------------
def test_run_layout_header_and_payload(inp, tmp_path):
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    out = runinstaller.write_run(inp, tmp_path / "out", runner)
    assert out.name == "edge-infer-1.2.0-jetson-nx.run"
    data = out.read_bytes()
    offset = int(re.search(rb"(?m)^PAYLOAD_OFFSET=(\d+) *$", data).group(1))
    header, payload = data[:offset], data[offset:]
    assert header.endswith(b"exit 0\n") and payload[:2] == b"\x1f\x8b"
    assert f"PAYLOAD_SHA256={hashlib.sha256(payload).hexdigest()}".encode() in header
    assert f"PAYLOAD_SIZE={len(payload)}\n".encode() in header
    assert b"GLIBC_MIN=2.31\n" in header and b"LOADER=/lib/ld-linux-aarch64.so.1\n" in header
    r = subprocess.run(["sh", "-n"], input=header.decode(), text=True, capture_output=True)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tf:
        members = tf.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names) and "." not in names
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
            (0, 0, "root", "root", EPOCH)}
        modes = {m.name: m.mode for m in members}
        assert modes["bin/edge-infer"] == 0o755 and modes["lib"] == 0o755
        assert modes["lib/libopencv_core.so.406"] == 0o644
        assert tf.getmember("lib/libopencv_core.so").issym()
        uninstaller = tf.extractfile("uninstall-edge-infer").read().decode()
        assert "share/doc/edge-infer/copyright" in names
    listed = uninstaller.split("<<'FILES'\n", 1)[1].split("\nFILES\n", 1)[0].splitlines()
    assert listed == sorted(n for n in names if n not in ("bin", "lib", "share", "share/doc",
                                                          "share/doc/edge-infer",
                                                          "share/edge-infer"))
    r = subprocess.run(["sh", "-n"], input=uninstaller, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr
    # rewritten elsewhere: the same bytes
    again = runinstaller.write_run(inp, tmp_path / "elsewhere", runner)
    assert again.read_bytes() == data


def test_run_header_refuses_this_machine(inp, tmp_path):
    """On the x86_64 build machine the aarch64 installer stops before touching anything."""
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    out = runinstaller.write_run(inp, tmp_path / "out", runner)
    r = subprocess.run(["sh", str(out), "--prefix", str(tmp_path / "p")], capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert "wrong CPU architecture: edge-infer for jetson-nx is built for aarch64" in r.stderr
    assert not (tmp_path / "p").exists()
    r = subprocess.run(["sh", str(out), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--prefix DIR" in r.stdout
    r = subprocess.run(["sh", str(out), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown option '--bogus'" in r.stderr


def test_run_platform_per_arch():
    arm64 = runinstaller.platform_for(Arch.ARM64, "2.31")
    assert arm64.machines == ("aarch64", "arm64") and arm64.loader == "/lib/ld-linux-aarch64.so.1"
    armhf = runinstaller.platform_for(Arch.ARMHF, "2.36")
    assert "armv7l" in armhf.machines and armhf.loader == "/lib/ld-linux-armhf.so.3"


def test_run_refuses_unsafe_file_names(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/ok").write_text("x")
    (tmp_path / "bin/bad name").write_text("x")
    with pytest.raises(runinstaller.InstallerError, match="bad name"):
        runinstaller.tree_entries(tmp_path)
