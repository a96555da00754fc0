"""An app's `system_libraries` come from the board's sysroot (issue 23): a Debian sysroot's
package list gets the packages of every app of the project (sorted, each once, after the
descriptor's own), so mmdebstrap's --include has them and the sysroot's key changes only when
an app adds a package the list does not have. With no app adding anything (edge-infer lists
none) every key, folder and sysroot step is what it was before apps could add packages. A
tarball or directory sysroot has no list: it must already hold them, by its dpkg status, or the
error names the app's descriptor, the key, the packages, the sysroot's descriptor and the fix.
Projects are written into tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeforge.config import DebianSysroot, sysroot_json
from edgeforge.context import Context
from edgeforge.core import Reporter, SysrootError, canonical_hash, write_json
from edgeforge.pipeline import board_plan
from edgeforge.toolchain import (
    STAMP,
    app_packages,
    ensure_sysroot,
    installed_packages,
    mmdebstrap_argv,
    project_key,
    sysroot,
    sysroot_dir,
    sysroot_key,
    with_packages,
)
from tests.conftest import PROJECT
from tests.unit.smallapps import add_app

VENDOR = """\
description: a vendor's root file system archive
kind: tarball
arch: arm64
sha256: "{sha}"
file: /nowhere/vendor-rootfs.tar.gz
"""
STATUS = """\
Package: libc6
Status: install ok installed
Architecture: arm64
Version: 2.31-13

Package: zlib1g-dev
Status: install ok installed
Architecture: arm64

Package: libcurl4
Status: deinstall ok config-files
Architecture: arm64
"""


def old_key(spec) -> str:
    """The key as it was computed before apps could add packages: the descriptor alone."""
    data = sysroot_json(spec)
    data.pop("description", None)
    data.pop("settings", None)
    return canonical_hash({"format": sysroot.FORMAT, "spec": data})[:16]


def project(tmp_path: Path, apps: dict[str, list[str]], *, vendor: bool = False) -> Context:
    """The checkout's toolchains and the smoke program, apps with their system libraries, and
    with `vendor` a tarball sysroot named vendor-rootfs."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "toolchains", root / "toolchains")
    shutil.copytree(PROJECT / "apps" / "smoke", root / "apps" / "smoke")
    for name, libs in apps.items():
        add_app(root, name, libs)
    if vendor:
        (root / "toolchains/sysroots/vendor-rootfs.yaml").write_text(VENDOR.format(sha="a" * 64))
    return Context.create(project_root=root, cache_dir=tmp_path / "cache",
                          build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                          reporter=Reporter(quiet=True))


def sysroot_names() -> list[str]:
    return sorted(p.stem for p in (PROJECT / "toolchains" / "sysroots").glob("*.yaml"))


# ---- nothing added: every key, folder and step as before -------------------------------------------
def test_the_checkout_s_sysroots_have_edge_uplink_s_library(tmp_path: Path):
    """edge-infer takes no system library, edge-uplink takes libmosquitto-dev: every Debian
    sysroot of the checkout is its descriptor plus that package, under the key of both."""
    ctx = Context.create(project_root=PROJECT, cache_dir=tmp_path / "cache",
                         build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                         reporter=Reporter(quiet=True))
    assert app_packages(ctx.apps()) == ("libmosquitto-dev",)
    assert sysroot_names()
    for name in sysroot_names():
        loaded = ctx.catalog.sysroot(name)
        assert "libmosquitto-dev" not in loaded.spec.packages
        spec = sysroot.project_spec(ctx, loaded)
        assert spec.packages == (*loaded.spec.packages, "libmosquitto-dev")
        key = old_key(spec)
        assert key != old_key(loaded.spec) and sysroot_key(spec) == key
        assert project_key(ctx, loaded) == key
        assert sysroot_dir(ctx, loaded) == ctx.sysroots_dir / f"{name}-{key}"
    for board in sorted(p.stem for p in (PROJECT / "toolchains" / "boards").glob("*.yaml")):
        t = ctx.catalog.resolve(board, env={})
        key = old_key(sysroot.project_spec(ctx, t.sysroot))
        step = board_plan(ctx, t, with_deps=False).steps[0]
        assert step.name == "sysroot"
        assert dict(step.inputs) == {
            "key": key, "path": str(ctx.sysroots_dir / f"{t.sysroot.name}-{key}")}


def test_packages_the_list_has_already_change_nothing(tmp_path: Path):
    ctx = project(tmp_path, {"demo": ["zlib1g-dev", "libc6-dev"], "other": []})
    for name in sysroot_names():
        loaded = ctx.catalog.sysroot(name)
        assert project_key(ctx, loaded) == old_key(loaded.spec)
        assert sysroot.project_spec(ctx, loaded) is loaded.spec
    spec = ctx.catalog.sysroot("debian-bullseye-arm64").spec
    assert with_packages(spec, ()) is spec and with_packages(spec, spec.packages) is spec


# ---- added: after the descriptor's own, sorted, once -------------------------------------------
def test_every_app_s_packages_join_a_debian_sysroot(tmp_path: Path):
    """Both apps' packages, whichever app a command works on: the sysroot is the board's."""
    ctx = project(tmp_path, {"uplink": ["libmosquitto-dev", "zlib1g-dev"],
                             "detector": ["libmosquitto-dev", "libcurl4-openssl-dev"]})
    assert app_packages(ctx.apps()) == ("libcurl4-openssl-dev", "libmosquitto-dev", "zlib1g-dev")
    loaded = ctx.catalog.sysroot("debian-bullseye-arm64")
    spec = sysroot.project_spec(ctx, loaded)
    assert isinstance(spec, DebianSysroot)
    assert spec.packages == ("libc6-dev", "libstdc++-10-dev", "zlib1g-dev",
                             "libcurl4-openssl-dev", "libmosquitto-dev")
    assert loaded.spec.packages == ("libc6-dev", "libstdc++-10-dev", "zlib1g-dev")  # untouched
    argv = mmdebstrap_argv(spec, Path("/t/root"), "http://mirror.example/debian")
    assert ("--include=libc6-dev,libstdc++-10-dev,zlib1g-dev,libcurl4-openssl-dev,"
            "libmosquitto-dev") in argv
    key = project_key(ctx, loaded)
    assert key != old_key(loaded.spec) and key == sysroot_key(spec)
    assert sysroot_dir(ctx, loaded) == ctx.sysroots_dir / f"debian-bullseye-arm64-{key}"
    t = ctx.catalog.resolve("jetson-nx", env={})
    assert board_plan(ctx, t, with_deps=False).steps[0].inputs["key"] == key


def test_the_key_follows_the_set_of_packages_not_the_apps(tmp_path: Path):
    one = project(tmp_path / "a", {"uplink": ["libmosquitto-dev"]})
    two = project(tmp_path / "b", {"x": ["libmosquitto-dev"], "y": ["libmosquitto-dev"]})
    other = project(tmp_path / "c", {"uplink": ["libmosquitto-dev", "libcurl4-openssl-dev"]})
    keys = [project_key(c, c.catalog.sysroot("debian-bookworm-arm64")) for c in (one, two, other)]
    assert keys[0] == keys[1] != keys[2]


def test_a_tarball_sysroot_keeps_its_key(tmp_path: Path):
    ctx = project(tmp_path, {"uplink": ["libmosquitto-dev"]}, vendor=True)
    loaded = ctx.catalog.sysroot("vendor-rootfs")
    assert sysroot.project_spec(ctx, loaded) is loaded.spec
    assert project_key(ctx, loaded) == sysroot_key(loaded.spec)


# ---- a vendor tree must hold them -----------------------------------------------------------------
def test_a_dpkg_status_says_what_is_installed():
    assert installed_packages(STATUS) == {"libc6", "zlib1g-dev"}
    assert installed_packages("") == frozenset()


def cached_vendor_tree(ctx: Context, status: str | None) -> Path:
    """The vendor sysroot as the cache holds it once imported (stamped), with `status` as its
    dpkg status (None: none)."""
    loaded = ctx.catalog.sysroot("vendor-rootfs")
    folder = sysroot_dir(ctx, loaded)
    write_json(folder / STAMP, {"name": "vendor-rootfs", "key": project_key(ctx, loaded),
                                "arch": "arm64", "glibc": "2.31", "glibcxx": "3.4.28"})
    if status is not None:
        (folder / "var/lib/dpkg").mkdir(parents=True)
        (folder / "var/lib/dpkg/status").write_text(status)
    return folder


def test_a_vendor_tree_without_an_app_s_package_is_an_error_naming_the_fix(tmp_path: Path):
    ctx = project(tmp_path, {"uplink": ["libmosquitto-dev", "zlib1g-dev"],
                             "detector": ["zlib1g-dev"]}, vendor=True)
    cached_vendor_tree(ctx, STATUS)
    with pytest.raises(SysrootError) as exc:
        ensure_sysroot(ctx, ctx.catalog.sysroot("vendor-rootfs"), "vendor-board")
    assert exc.value.exit_code == 7
    assert exc.value.message == (
        "key 'system_libraries' in apps/uplink/app.yaml: libmosquitto-dev is not installed in "
        "sysroot vendor-rootfs (toolchains/sysroots/vendor-rootfs.yaml, kind 'tarball'), says "
        "its var/lib/dpkg/status; fix: use a Debian sysroot (kind: debian), which installs an "
        "app's system libraries, or add libmosquitto-dev to the vendor tarball")


def test_a_vendor_tree_without_a_dpkg_status_cannot_be_checked(tmp_path: Path):
    ctx = project(tmp_path, {"uplink": ["libmosquitto-dev", "zlib1g-dev"]}, vendor=True)
    cached_vendor_tree(ctx, None)
    with pytest.raises(SysrootError) as exc:
        ensure_sysroot(ctx, ctx.catalog.sysroot("vendor-rootfs"))
    assert exc.value.message == (
        "key 'system_libraries' in apps/uplink/app.yaml: libmosquitto-dev, zlib1g-dev cannot be "
        "checked: sysroot vendor-rootfs (toolchains/sysroots/vendor-rootfs.yaml, kind 'tarball') "
        "has no var/lib/dpkg/status; fix: use a Debian sysroot (kind: debian), which installs an "
        "app's system libraries, or add libmosquitto-dev, zlib1g-dev to the vendor tarball, with "
        "its dpkg status (var/lib/dpkg/status)")


def test_a_vendor_tree_that_holds_them_or_apps_that_need_none_pass(tmp_path: Path):
    ctx = project(tmp_path, {"uplink": ["zlib1g-dev", "libc6"]}, vendor=True)
    folder = cached_vendor_tree(ctx, STATUS)
    assert ensure_sysroot(ctx, ctx.catalog.sysroot("vendor-rootfs")).path == folder
    bare = project(tmp_path / "bare", {"demo": []}, vendor=True)
    folder = cached_vendor_tree(bare, None)  # no dpkg status, and nothing to check
    assert ensure_sysroot(bare, bare.catalog.sysroot("vendor-rootfs")).path == folder


def test_a_directory_sysroot_names_its_own_fix(tmp_path: Path):
    ctx = project(tmp_path, {"uplink": ["libmosquitto-dev"]})
    device_tree = tmp_path / "device-root"
    (device_tree / "var/lib/dpkg").mkdir(parents=True)
    (device_tree / "var/lib/dpkg/status").write_text(STATUS)
    (ctx.project_root / "toolchains/sysroots/copied.yaml").write_text(
        f"kind: directory\narch: arm64\npath: {device_tree}\n")
    loaded = ctx.catalog.sysroot("copied")
    with pytest.raises(SysrootError) as exc:
        sysroot.check_system_libraries(ctx, loaded, device_tree, ctx.apps())
    assert exc.value.message == (
        "key 'system_libraries' in apps/uplink/app.yaml: libmosquitto-dev is not installed in "
        "sysroot copied (toolchains/sysroots/copied.yaml, kind 'directory'), says its "
        "var/lib/dpkg/status; fix: use a Debian sysroot (kind: debian), which installs an app's "
        f"system libraries, or install libmosquitto-dev on the device the tree was copied from "
        f"({device_tree}) and copy the tree again")
