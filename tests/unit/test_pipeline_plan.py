"""The plan composer and the board layout: a board's whole plan in one list (build, release,
device steps), the delivery formats in their registry's order, every build/<board>/ path named
by the layout and spelled as before."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from edgeforge.context import BoardLayout, Context
from edgeforge.core import Reporter, UsageError
from edgeforge.deliver import ARTEFACTS, DOCUMENTS, Deliverable, ReleaseOptions
from edgeforge.deliver.formats import sbom_listing
from edgeforge.deliver.sbom import DEVICE_IMAGE
from edgeforge.device import DEVICE_FORMATS
from edgeforge.pipeline import board_plan

BUILD = ["sysroot", "toolchain", "smoke", "deps", "app", "manifest"]


def ctx_for(root: Path, tmp_path: Path) -> Context:
    return Context.create(project_root=root, cache_dir=tmp_path / "cache",
                          build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                          reporter=Reporter(quiet=True))


@pytest.fixture
def release_env(tmp_path: Path, monkeypatch) -> None:
    body = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes(32)
    key = tmp_path / "id_ed25519.pub"
    key.write_text(f"ssh-ed25519 {base64.b64encode(body).decode()} dev@laptop\n")
    monkeypatch.setenv("EDGEFORGE_SSH_KEY", str(key))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.delenv("EDGEFORGE_SIGNING_KEY", raising=False)


def test_the_board_layout_names_the_paths_of_today(tmp_path: Path):
    root = tmp_path / "build" / "jetson-nx"
    lay = BoardLayout(root)
    assert lay.stamps == root / ".stamps" and lay.logs == root / "logs"
    assert lay.toolchain == root / "toolchain" and lay.smoke == root / "smoke"
    assert lay.native_profile == root / "toolchain" / "conan-host.profile"
    assert lay.work == root / "work" and lay.work_for("smoke") == root / "work" / "smoke"
    assert lay.conan_download == root / "work" / "conan-download"
    assert lay.app("edge-infer") == root / "edge-infer"
    assert lay.app_build("edge-infer") == root / "work" / "edge-infer" / "build"
    assert lay.generators("edge-infer") == root / "work" / "edge-infer" / "build" / "generators"
    assert lay.symbols == root / "symbols" and lay.manifest == root / "manifest.json"
    assert lay.lockfile == root / "conan.lock" and lay.deps_record == root / "deps.json"
    assert lay.build_order == root / "conan-build-order.json"
    assert lay.smoke_run == root / "smoke-run.jsonl"
    assert lay.release_step("deb") == root / "release" / "deb"
    assert lay.rootfs_tree == root / "release" / "rootfs" / "tree"
    assert lay.vm == root / "vm" and lay.debug == root / "debug"


def test_an_app_s_records_are_apart_from_the_board_s_and_another_app_s(tmp_path: Path):
    root = tmp_path / "build" / "jetson-nx"
    board, app = BoardLayout(root), BoardLayout(root).for_app("edge-uplink")
    records = root / "apps" / "edge-uplink"
    assert app.symbols == records / "symbols" and app.manifest == records / "manifest.json"
    assert app.smoke_run == records / "smoke-run.jsonl"
    assert app.release_step("deb") == records / "release" / "deb"
    assert app.rootfs_tree == records / "release" / "rootfs" / "tree"
    # what the board's steps write stays the board's: one sysroot, toolchain, graph and twin
    for name in ("stamps", "toolchain", "smoke", "lockfile", "deps_record", "vm", "debug"):
        assert getattr(app, name) == getattr(board, name), name
    assert app.app("edge-uplink") == board.app("edge-uplink") == root / "edge-uplink"
    other = board.for_app("edge-infer")
    assert {other.manifest, other.symbols}.isdisjoint({app.manifest, app.symbols})


def test_the_context_gives_each_board_its_layout(tmp_project: Path, tmp_path: Path):
    ctx = ctx_for(tmp_project, tmp_path)
    assert ctx.layout("rpi4").root == ctx.build_root / "rpi4"
    assert ctx.logs_dir("rpi4") == ctx.build_root / "rpi4" / "logs"
    assert ctx.logs_dir() == ctx.build_root / "logs"
    assert ctx.dist_dir("rpi4") == ctx.dist_root / "rpi4"


def test_every_format_is_a_deliverable_registered_once():
    formats = (*ARTEFACTS, *DEVICE_FORMATS, *DOCUMENTS)
    members = {"name", "place", "described", "sbom_ref", "sbom_type", "sbom_text", "wanted", "step"}
    assert members == set(Deliverable.__annotations__) | {"wanted", "step"}
    assert all(all(hasattr(f, m) for m in members) for f in formats)
    assert all(f.place in ("", "legal", None) for f in formats)
    names = [f.name for f in formats]
    assert names == ["image", "deb", "rpm", "run", "dbg", "sdk", "rootfs", "twin", "l4t-rootfs",
                     "raspi-sd", "sbom", "legal"]
    assert len(set(names)) == len(names)


def test_each_format_says_how_the_sbom_lists_it():
    """The SBOM keeps no table of formats: each format carries its component's bom-ref prefix,
    CycloneDX type and description (all or none), and the SBOM step passes them on in the
    plan's order. The texts are those the SBOM has always written."""
    formats = (*ARTEFACTS, *DEVICE_FORMATS, *DOCUMENTS)
    for f in formats:
        given = (f.sbom_ref, f.sbom_type, f.sbom_text)
        assert given == (None, None, None) or (None not in given and f.described), f.name
    assert [tuple(vars(f).values()) for f in sbom_listing(formats)] == [
        ("image", "container-image", "container",
         "container image {tag}: OCI layout, docker archive and the image's record"),
        ("deb", "installer", "file", "Debian package of {app} for {board}"),
        ("rpm", "installer", "file", "RPM package of {app} for {board}"),
        ("run", "installer", "file", "self-extracting installer of {app} for {board}"),
        ("twin", DEVICE_IMAGE, "file", "disk image of the virtual twin of {board} (GPT, ext4 "
                                       "root) with its kernel and initramfs"),
        ("l4t-rootfs", DEVICE_IMAGE, "file", "root file system of {board} for NVIDIA's "
                                             "Linux_for_Tegra/rootfs (L4T's kernel comes from "
                                             "apply_binaries.sh)"),
        ("raspi-sd", DEVICE_IMAGE, "file", "SD-card image of {board}: raspi-firmware's boot "
                                           "partition and the root file system"),
    ]


def test_a_release_plan_is_the_build_then_the_formats_then_the_release(
        tmp_project: Path, tmp_path: Path, release_env):
    ctx = ctx_for(tmp_project, tmp_path)
    nx = ctx.catalog.resolve("jetson-nx", env={})
    plan = board_plan(ctx, nx, release=ReleaseOptions(version="1.0.0"))
    assert [s.name for s in plan.steps] == [*BUILD, "image", "deb", "run", "dbg", "sbom",
                                            "legal", "release"]
    full = board_plan(ctx, nx, release=ReleaseOptions(version="1.0.0", sdk=True, device=True))
    assert [s.name for s in full.steps] == [*BUILD, "image", "deb", "run", "dbg", "sdk", "rootfs",
                                            "twin", "l4t-rootfs", "sbom", "legal", "release"]
    steps = {s.name: s for s in full.steps}
    lay = ctx.layout("jetson-nx", "edge-infer")
    for name in ("image", "deb", "run", "dbg", "sdk", "rootfs", "twin", "l4t-rootfs", "sbom",
                 "legal"):
        assert steps[name].outputs == (lay.release_step(name),)
        assert steps[name].scope == "edge-infer"  # stamps in .stamps/edge-infer/
        assert full.stamp_path(steps[name]) == lay.stamps / "edge-infer" / f"{name}.json"
    assert [s.name for s in full.steps if not s.scope] == [
        "sysroot", "toolchain", "smoke", "deps"]  # the board's own: shared by its apps
    # the SBOM describes what ships, then the root file system the device images hold
    assert steps["sbom"].needs == ("deps", "image", "deb", "run", "dbg", "sdk", "twin",
                                   "l4t-rootfs", "rootfs")
    # the release folder gets everything placed (not the root file system)
    assert steps["release"].needs == ("image", "deb", "run", "dbg", "sdk", "twin", "l4t-rootfs",
                                      "sbom", "legal")
    assert steps["release"].outputs == (ctx.dist_dir("jetson-nx") / "edge-infer" / "1.0.0",)
    assert full.stamp_dir == lay.stamps
    atlas = ctx.catalog.resolve("atlas500", env={})
    assert [s.name for s in board_plan(ctx, atlas, release=ReleaseOptions(version="1.0.0")).steps
            ][len(BUILD):] == ["image", "rpm", "run", "dbg", "sbom", "legal", "release"]
    with pytest.raises(UsageError, match="installs the board's .deb"):
        board_plan(ctx, atlas, release=ReleaseOptions(version="1.0.0", device=True))
