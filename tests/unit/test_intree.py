"""Writes into a root file system stay inside it: links planted in a tree (absolute ones, as
Debian's own /etc/localtime, and ones that climb out with ..) never lead a write, a copy or a
deletion to a file outside the tree. Victim files outside are checked by their digests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from edgeforge.config import deviceimage as devicedefs
from edgeforge.core import UsageError, intree
from edgeforge.deliver import ImageContentError, scan_tree
from edgeforge.device import rootfs as devimage

ROOT = Path(__file__).resolve().parents[2]


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def planted(tmp_path: Path):
    """A tree shaped like a Debian base, with links that lead out of it if followed on the
    build machine, and victim files outside with their digests."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = {}
    for name in ("localtime", "cert.pem", "passwd", "lists", "shadow", "kernel"):
        f = outside / name
        f.write_text(f"victim {name}\n")
        victims[f] = digest(f)
    (outside / "victimdir").mkdir()
    keep = outside / "victimdir" / "keep"
    keep.write_text("keep\n")
    victims[keep] = digest(keep)
    tree = tmp_path / "tree"
    for d in ("etc/ssl/certs", "usr/share/zoneinfo/Etc", "var/lib/apt", "home/edge", "run",
              "boot", "tmp", "var/cache/apt"):
        (tree / d).mkdir(parents=True)
    (tree / "usr/share/zoneinfo/Etc/UTC").write_text("UTC in the tree\n")
    # Debian's own absolute link: on the build machine it leads to the machine's own zoneinfo
    os.symlink(f"{outside}/localtime", tree / "etc/localtime")
    # an absolute link to the victim's absolute path, and one that climbs out with ..
    os.symlink(f"{outside}/cert.pem", tree / "etc/ssl/certs/ca.pem")
    os.symlink("../../../../outside/victimdir", tree / "etc/ssl/private")
    os.symlink("/run", tree / "var/run")
    os.symlink(str(outside / "victimdir"), tree / "var/lib/apt/lists")
    os.symlink("../" * 8 + str(outside / "victimdir").lstrip("/"), tree / "var/cache/apt/x")
    os.symlink(str(outside), tree / "var/cache/apt/archives")
    (tree / "etc/group").write_text("root:x:0:\nedge:x:1000:\n")
    (tree / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nedge:x:1000:1000::/home/edge:/bin/sh\n")
    return tree, outside, victims


def unchanged(victims: dict[Path, str]) -> None:
    for f, d in victims.items():
        assert f.is_file() and digest(f) == d, f"{f} was written through a link"


def test_resolve_is_chroot_like(planted):
    tree, outside, _ = planted
    real = tree.resolve()
    # an absolute link starts again at the tree's root; .. stops at the root
    assert intree.resolve(tree, "/etc/localtime") == real / str(outside / "localtime").lstrip("/")
    assert intree.resolve(tree, "/var/run/x") == real / "run/x"
    assert intree.resolve(tree, "/../../etc/group") == real / "etc/group"
    assert intree.resolve(tree, "/etc/ssl/private/f") == real / "outside/victimdir/f"
    assert intree.resolve(tree, "/etc/localtime", follow_leaf=False) == real / "etc/localtime"


def test_files_written_at_linked_paths_stay_in_the_tree(planted):
    tree, outside, victims = planted
    for path in ("/etc/localtime", "/etc/ssl/certs/ca.pem", "/etc/ssl/private/key",
                 "/var/run/edge.pid", "/var/lib/apt/lists/keep", "/var/cache/apt/x/keep",
                 "/var/cache/apt/archives/passwd"):
        written = devimage.write_file(tree, path, f"new {path}\n")
        assert written.read_text() == f"new {path}\n"
        assert tree.resolve() in written.resolve().parents, path
    unchanged(victims)
    # a link at the leaf is replaced by the file, not written through
    assert not (tree / "etc/localtime").is_symlink()
    assert (tree / "etc/localtime").read_text() == "new /etc/localtime\n"
    assert (tree / "run/edge.pid").read_text() == "new /var/run/edge.pid\n"
    assert (tree / "usr/share/zoneinfo/Etc/UTC").read_text() == "UTC in the tree\n"


def test_a_link_loop_and_a_file_used_as_folder_are_refused(planted):
    tree, _, victims = planted
    os.symlink("loop2", tree / "etc/loop1")
    os.symlink("loop1", tree / "etc/loop2")
    with pytest.raises(UsageError, match="too many levels"):
        devimage.write_file(tree, "/etc/loop1/x", "x")
    with pytest.raises(UsageError, match="not a folder"):
        devimage.write_file(tree, "/etc/group/x", "x")
    unchanged(victims)


def test_device_files_sources_are_never_links_or_outside(planted, tmp_path: Path):
    tree, outside, victims = planted
    images = tmp_path / "images" / "edge-infer"
    images.mkdir(parents=True)
    (images / "tz").write_text("Europe/Berlin zone data\n")
    os.symlink(str(outside / "shadow"), images / "stolen")   # e.g. ~/.ssh/id_ed25519
    base = devicedefs.load(ROOT / "images" / "edge-infer")
    good = base.model_copy(update={"files": (
        devicedefs.FileSpec(path="/etc/localtime", source="tz", mode=0o644),)})
    devimage.write_files(None, tree, good, images)
    assert (tree / "etc/localtime").read_text() == "Europe/Berlin zone data\n"
    assert not (tree / "etc/localtime").is_symlink()
    bad = base.model_copy(update={"files": (
        devicedefs.FileSpec(path="/etc/secret", source="stolen", mode=0o600),)})
    with pytest.raises(UsageError, match=r"files\[0\].*symbolic link.*never followed"):
        devimage.write_files(None, tree, bad, images)
    assert not (tree / "etc/secret").exists()
    unchanged(victims)


def test_the_transient_files_are_removed_inside_the_tree_only(planted):
    tree, outside, victims = planted
    (tree / "etc/ssh").mkdir()
    (tree / "etc/ssh/ssh_host_ed25519_key").write_text("host key")
    (tree / "var/log").mkdir()
    os.symlink(str(outside / "victimdir"), tree / "var/log/apt")
    devimage.remove_transient(tree)
    assert not (tree / "etc/ssh/ssh_host_ed25519_key").exists()
    assert not (tree / "var/lib/apt/lists").is_symlink()       # the link itself went
    assert not os.path.lexists(tree / "var/log/apt")
    unchanged(victims)


def test_the_login_key_and_users_are_read_and_written_inside(planted):
    tree, outside, victims = planted
    os.symlink(str(outside / "victimdir"), tree / "home/edge/.ssh")
    intree.mkdirs(tree, "/home/edge/.ssh", 0o700)
    devimage.write_file(tree, "/home/edge/.ssh/authorized_keys", "ssh-ed25519 AAAA\n", 0o600)
    inside = tree / str(outside).lstrip("/") / "victimdir/authorized_keys"
    assert inside.read_text() == "ssh-ed25519 AAAA\n"
    assert not (outside / "victimdir/authorized_keys").exists()
    assert devimage._ids(tree, "edge") == (1000, 1000)
    # /etc/passwd itself a link out of the tree: the tree's own (absent) file is read, not the
    # build machine's
    (tree / "etc/passwd").unlink()
    os.symlink(str(outside / "passwd"), tree / "etc/passwd")
    with pytest.raises(UsageError, match="not a regular file"):
        devimage._ids(tree, "edge")
    unchanged(victims)


def test_removing_the_tree_itself_or_a_folder_path_is_refused(planted):
    tree, _, victims = planted
    with pytest.raises(UsageError):
        intree.remove(tree, "/")
    with pytest.raises(UsageError):
        intree.write_bytes(tree, "/", b"x")
    intree.remove(tree, "/var/lib/apt/lists")
    assert not os.path.lexists(tree / "var/lib/apt/lists")
    unchanged(victims)


KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       "-----END OPENSSH PRIVATE KEY-----\n")


@pytest.mark.parametrize("rel, text", [
    ("etc/edge/key.conf", KEY),                      # a key's content under any name
    ("home/edge/.ssh/id_ed25519", "anything"),       # a key's name
    ("root/.docker/config.json", "{}"),              # credentials by path
])
def test_the_secret_scan_covers_staged_trees(tmp_path: Path, rel: str, text: str):
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_bytes(b"\x7fELF" + b"\0" * 60)
    scan_tree(tree, "the device image of jetson-nx", "jetson-nx")       # clean: passes
    (tree / rel).parent.mkdir(parents=True, exist_ok=True)
    (tree / rel).write_text(text)
    with pytest.raises(ImageContentError, match=f"(?s)the device image of jetson-nx would carry.*/{rel}"):
        scan_tree(tree, "the device image of jetson-nx", "jetson-nx")


def test_the_secret_scan_does_not_follow_links(tmp_path: Path):
    outside = tmp_path / "id_rsa_outside"
    outside.write_text(KEY)
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    os.symlink(str(outside), tree / "etc/cert.pem")       # a link is not content of the tree
    scan_tree(tree, "the SDK", "jetson-nx")
