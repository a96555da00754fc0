"""Deleting a tree never deletes through a mount inside it (a chroot's /proc, /sys or a bind
mount left by a killed mmdebstrap): the mounts are detached first."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgeforge.core import mounts_under, rmtree

pytestmark = pytest.mark.integration


def test_a_bind_mount_inside_a_tree_is_detached_not_emptied(tmp_path: Path):
    outside = tmp_path / "host-files"
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    tree = tmp_path / "partial-rootfs"
    (tree / "mnt" / "host").mkdir(parents=True)
    (tree / "etc").mkdir()
    (tree / "etc" / "hostname").write_text("x\n")
    subprocess.run(["mount", "--bind", str(outside), str(tree / "mnt" / "host")], check=True)
    try:
        assert mounts_under(tree) == [str(tree / "mnt" / "host")]
        rmtree(tree)
        assert not tree.exists()
        assert (outside / "precious").read_text() == "keep me\n"
    finally:
        subprocess.run(["umount", "-l", str(tree / "mnt" / "host")], capture_output=True)
