"""safe_extract against hostile archives, and tarball/directory sysroots kept inside their staging
folder. Every hostile case runs twice: with this Python's tarfile `data` filter as the second
line, and with that filter replaced by one that lets everything through (our own checks alone
must hold). Each asserts the refusal and that nothing outside the destination changed."""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import stat
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgeforge.config import DirectorySysroot, Loaded, TarballSysroot
from edgeforge.core import SourceError, SysrootError, file_mode, normalise, safe_extract, sha256_file
from edgeforge.core.extract import _Refused
from edgeforge.toolchain import sysroot

Member = tuple[tarfile.TarInfo, bytes | None]
DESC = "toolchains/sysroots/vendor.yaml"


# ---- crafting archives -------------------------------------------------------------------------
def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> Member:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode, 1_600_000_000
    return ti, data


def _entry(name: str, kind: bytes, linkname: str = "", mode: int = 0o755) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = kind, linkname, mode
    return ti, None


def _dir(name: str, mode: int = 0o755) -> Member:
    return _entry(name, tarfile.DIRTYPE, mode=mode)


def _sym(name: str, target: str) -> Member:
    return _entry(name, tarfile.SYMTYPE, target)


def _hard(name: str, target: str) -> Member:
    return _entry(name, tarfile.LNKTYPE, target)


def _tar(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _pathmax_chain(outside: Path, ending: str) -> list[Member]:
    """The CVE-2025-4517 shape: symlinks through 247-character folders until the real path
    passes PATH_MAX (realpath then gives up and the data filter judges the rest lexically),
    an 'escape' link that is lexically inside but really reaches `outside`, then a write
    through it (a file, or a hard link that a later file member overwrites)."""
    comp, steps = "d" * 247, "abcdefghijklmnop"
    members: list[Member] = []
    path = ""
    for step in steps:
        members += [_dir(posixpath.join(path, comp)), _sym(posixpath.join(path, step), comp)]
        path = posixpath.join(path, comp)
    linkpath = posixpath.join("/".join(steps), "l" * 254)
    members.append(_sym(linkpath, "../" * len(steps)))
    members.append(_sym("escape", linkpath + "/" + "../" * (len(steps) + 1)
                        + str(outside).lstrip("/")))
    if ending == "file":
        members.append(_file("escape/victim.txt", b"pwned"))
    else:
        members += [_hard("hl", "escape/victim.txt"), _file("hl", b"pwned")]
    return members


# ---- the site: a victim file and a watched folder next to the destination ---------------------
def snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Every entry under root except `skip`: type, mode, inode, link count, size, mtime,
    content hash or link target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        for n in dirs + files:
            p = Path(dirpath, n)
            st = p.lstat()
            body = (os.readlink(p) if stat.S_ISLNK(st.st_mode) else
                    hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else "")
            out[str(p.relative_to(root))] = (st.st_mode, st.st_ino, st.st_nlink, st.st_size,
                                             st.st_mtime_ns, body)
    return out


class Site:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.outside = tmp / "outside"
        (self.outside / "keep").mkdir(parents=True)
        self.victim = self.outside / "victim.txt"
        self.victim.write_bytes(b"precious")
        (self.outside / "keep" / "other.txt").write_bytes(b"also precious")
        self.dest = tmp / "dest"
        self.dest.mkdir()

    def run(self, members: list[Member], rootfs: bool = False):
        archive = _tar(self.tmp / "a.tar.gz", members)
        before = snapshot(self.tmp, self.dest)
        try:
            return safe_extract(archive, self.dest, rootfs=rootfs)
        finally:
            assert self.victim.read_bytes() == b"precious"
            assert snapshot(self.tmp, self.dest) == before


@pytest.fixture(params=["tarfile-filter", "no-filter"])
def site(request, tmp_path: Path, monkeypatch) -> Site:
    if request.param == "no-filter":  # a Python whose filter lets everything through
        monkeypatch.setattr(tarfile, "data_filter", lambda member, dest: member, raising=False)
    return Site(tmp_path)


# ---- refusals ----------------------------------------------------------------------------------
HOSTILE = {
    "dotdot": (lambda o: [_file("../outside/victim.txt", b"pwned")],
               r"'\.\./outside/victim\.txt' has a '\.\.' component in its name"),
    "dotdot-nested": (lambda o: [_dir("a"), _file("a/../../outside/victim.txt", b"pwned")],
                      r"has a '\.\.' component"),
    "empty-name": (lambda o: [_file(".", b"pwned")], r"has an empty name"),
    "symlink-out-relative": (lambda o: [_sym("lnk", "../outside"), _file("lnk/victim.txt")],
                             r"member 'lnk' is a symlink to '\.\./outside', outside the tree"),
    "symlink-out-absolute": (lambda o: [_sym("lnk", str(o)), _file("lnk/victim.txt")],
                             r"member 'lnk' is a symlink to the absolute path"),
    "symlink-to-inside-then-file-through-it": (
        lambda o: [_dir("inner"), _sym("lnk", "inner"), _file("lnk/f", b"x")],
        r"member 'lnk/f' goes through 'lnk', which is a symlink"),
    "symlink-lexically-inside-really-outside": (
        lambda o: [_dir("d1/d2"), _sym("d1/d2/s", "../.."), _sym("x", "d1/d2/s/../outside"),
                   _file("x/victim.txt", b"pwned")],
        r"member 'x' fails tarfile's data filter|member 'x/victim.txt' goes through 'x'"),
    "pathmax-chain-file": (lambda o: _pathmax_chain(o, "file"), r"goes through 'a', which is a symlink"),
    "pathmax-chain-hardlink": (lambda o: _pathmax_chain(o, "hardlink"),
                               r"goes through 'a', which is a symlink"),
    "hardlink-dotdot": (lambda o: [_hard("hl", "../outside/victim.txt"), _file("hl", b"pwned")],
                        r"member 'hl' has a '\.\.' component in its hard link target"),
    "hardlink-absolute": (lambda o: [_hard("hl", str(o / "victim.txt")), _file("hl", b"pwned")],
                          r"member 'hl' is a hard link to .*victim\.txt', not a file extracted"),
    "hardlink-through-symlink": (
        lambda o: [_file("inner/f"), _sym("s", "inner"), _hard("hl", "s/f")],
        r"member 'hl' is a hard link to 's/f', not a file extracted before it"),
    "hardlink-to-folder": (lambda o: [_dir("d"), _hard("hl", "d")],
                           r"is a hard link to 'd', not a file"),
    "hardlink-to-symlink": (lambda o: [_sym("s", "f"), _hard("hl", "s")],
                            r"is a hard link to 's', not a file"),
    "hardlink-to-file-later-replaced-by-symlink": (
        lambda o: [_file("f"), _sym("f", "g"), _hard("hl", "f")], r"is a hard link to 'f', not a file"),
    "file-over-folder": (lambda o: [_dir("d"), _file("d", b"x")],
                         r"member 'd' would replace a folder made by an earlier member"),
    "char-device": (lambda o: [_entry("dev/null", tarfile.CHRTYPE)], r"is a device node or FIFO"),
    "block-device": (lambda o: [_entry("dev/sda", tarfile.BLKTYPE)], r"is a device node or FIFO"),
    "fifo": (lambda o: [_entry("run/initctl", tarfile.FIFOTYPE)], r"is a device node or FIFO"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_archive_is_refused_and_nothing_outside_changes(site: Site, case: str):
    build, expected = HOSTILE[case]
    with pytest.raises(SourceError, match="refusing to extract") as exc:
        site.run(build(site.outside))
    assert exc.value.exit_code == 6
    assert re.search(expected, str(exc.value)), str(exc.value)


@pytest.mark.parametrize("case", ["symlink-out-relative", "symlink-lexically-inside-really-outside",
                                  "pathmax-chain-file", "pathmax-chain-hardlink", "hardlink-dotdot",
                                  "hardlink-absolute", "hardlink-through-symlink"])
def test_hostile_archive_is_refused_in_rootfs_mode_too(site: Site, case: str):
    with pytest.raises(SourceError, match="refusing to extract"):
        site.run(HOSTILE[case][0](site.outside), rootfs=True)


def test_absolute_rootfs_symlink_is_rewritten_and_never_written_through(site: Site):
    with pytest.raises(SourceError, match=r"member 'lnk/victim.txt' goes through 'lnk'"):
        site.run([_sym("lnk", str(site.outside)), _file("lnk/victim.txt", b"pwned")], rootfs=True)
    assert os.readlink(site.dest / "lnk") == str(site.outside).lstrip("/")


def test_file_member_replaces_a_symlink_instead_of_writing_through_it(site: Site):
    rep = site.run([_sym("f", str(site.victim)), _file("f", b"new")], rootfs=True)
    assert rep.relinked == 1
    assert not (site.dest / "f").is_symlink() and (site.dest / "f").read_bytes() == b"new"


def test_absolute_member_names_land_inside(site: Site):
    site.run([_file(str(site.victim), b"pwned"), _file("/etc/passwd", b"root")])
    assert (site.dest / str(site.victim).lstrip("/")).read_bytes() == b"pwned"
    assert (site.dest / "etc/passwd").read_bytes() == b"root"


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_rootfs_skips_device_nodes_and_fifos(site: Site, kind: bytes):
    rep = site.run([_dir("./dev"), _entry("./dev/node", kind), _file("./etc/hostname", b"h")],
                   rootfs=True)
    assert rep.skipped_devices == ["dev/node"]
    assert os.listdir(site.dest / "dev") == [] and (site.dest / "etc/hostname").is_file()


@pytest.mark.parametrize("rootfs", [False, True])
def test_setuid_setgid_sticky_and_group_write_bits_are_dropped(site: Site, rootfs: bool):
    site.run([_file("bin/su", b"#!", 0o6775), _file("bin/ro", b"r", 0o444), _dir("tmp", 0o1777)],
             rootfs=rootfs)
    assert stat.S_IMODE((site.dest / "bin/su").stat().st_mode) == 0o755
    assert stat.S_IMODE((site.dest / "bin/ro").stat().st_mode) == 0o644
    assert not (site.dest / "tmp").stat().st_mode & (stat.S_ISVTX | 0o022)


def test_normalise_names():
    assert normalise("./a//b/") == ("a", "b")
    assert normalise("/abs/x") == ("abs", "x")
    assert normalise("./") == ()
    for bad in ("a/../b", "..", "a\0b"):
        with pytest.raises(_Refused):
            normalise(bad)
    assert file_mode(0o4755) == 0o755 and file_mode(0o640) == 0o640 and file_mode(0o070) == 0o640


def test_garbage_is_a_source_error(tmp_path: Path):
    (tmp_path / "junk.tar").write_bytes(b"not a tar archive" * 100)
    with pytest.raises(SourceError, match="cannot extract"):
        safe_extract(tmp_path / "junk.tar", tmp_path / "out")


# ---- a normal root file system ---------------------------------------------------------------
def test_rootfs_archive_extracts_links_modes_and_times(tmp_path: Path):
    archive = _tar(tmp_path / "rootfs.tar.gz", [
        _dir("./"),
        _dir("./lib/aarch64-linux-gnu"),
        _file("./lib/aarch64-linux-gnu/libc.so.6", b"\x7fELF", 0o755),
        _dir("./usr/lib/aarch64-linux-gnu"),
        _sym("./usr/lib/aarch64-linux-gnu/libc.so", "/lib/aarch64-linux-gnu/libc.so.6"),
        _sym("./lib64", "/lib"),
        _sym("./etc/mtab", "/proc/self/mounts"),
        _sym("./sbin", "usr/sbin"),
        _file("./usr/bin/sudo", b"sudo", 0o4755),
        _hard("./usr/bin/sudoedit", "./usr/bin/sudo"),
        _file("./etc/a", b"one"),
        _hard("./etc/b", "etc/a"),
        _file("./etc/b", b"two"),  # replaces the link, never writes into etc/a
        _entry("./dev/console", tarfile.CHRTYPE),
    ])
    out = tmp_path / "root"
    rep = safe_extract(archive, out, rootfs=True)
    assert rep.relinked == 3 and rep.skipped_devices == ["dev/console"]
    libc_so = out / "usr/lib/aarch64-linux-gnu/libc.so"
    assert os.readlink(libc_so) == "../../../lib/aarch64-linux-gnu/libc.so.6"
    assert libc_so.read_bytes() == b"\x7fELF"
    assert os.readlink(out / "lib64") == "lib" and os.readlink(out / "sbin") == "usr/sbin"
    assert os.readlink(out / "etc/mtab") == "../proc/self/mounts"
    sudo, sudoedit = (out / "usr/bin/sudo").stat(), (out / "usr/bin/sudoedit").stat()
    assert sudo.st_ino == sudoedit.st_ino and stat.S_IMODE(sudo.st_mode) == 0o755
    assert sudo.st_mtime == 1_600_000_000
    assert (out / "etc/a").read_bytes() == b"one" and (out / "etc/b").read_bytes() == b"two"
    assert not (out / "dev/console").exists()


# ---- sysroots: 'subdir:' and directory imports stay inside the staging folder ----------------
def _ctx(tmp_path: Path, messages: list[str]) -> SimpleNamespace:
    return SimpleNamespace(catalog=SimpleNamespace(rel=lambda p: DESC),
                           reporter=SimpleNamespace(info=messages.append),
                           downloads_dir=tmp_path / "downloads")


def _import_tarball(tmp_path: Path, archive: Path, subdir: str | None) -> Path:
    spec = TarballSysroot(kind="tarball", arch="arm64", file=str(archive),
                          sha256=sha256_file(archive), subdir=subdir)
    partial = tmp_path / "staging"
    partial.mkdir()
    tree = partial / "root"
    sysroot._import_tarball(_ctx(tmp_path, []), Loaded("vendor", tmp_path / DESC, spec),
                            spec, partial, tree)
    return tree


@pytest.mark.parametrize("subdir", ["/some/dir", "../rootfs", "rootfs/../../x", "/"])
def test_subdir_must_be_relative_without_dotdot(subdir: str):
    with pytest.raises(SysrootError) as exc:
        sysroot.subdir_parts(subdir, DESC)
    assert exc.value.exit_code == 7
    assert str(exc.value) == (
        f"key 'subdir' in {DESC}: {subdir!r} must be a relative path inside the archive "
        "(no '/' at the start, no '..'); fix: e.g. 'subdir: rootfs'")


def test_subdir_parts_of_good_values():
    assert sysroot.subdir_parts(None, DESC) == () and sysroot.subdir_parts("", DESC) == ()
    assert sysroot.subdir_parts("./Linux_for_Tegra/rootfs/", DESC) == ("Linux_for_Tegra", "rootfs")


def test_archive_subdir_never_follows_a_symlink(tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    extracted = tmp_path / "extract"
    (extracted / "real").mkdir(parents=True)
    os.symlink(outside, extracted / "rootfs")
    os.symlink("real", extracted / "inner")
    for subdir in ("rootfs", "inner", "rootfs/lib"):
        with pytest.raises(SysrootError, match=r"is a symlink in the archive .*name the real folder"):
            sysroot.archive_subdir(extracted, subdir, DESC)
    (extracted / "file").write_text("x")
    for subdir in ("file", "missing", "file/x"):
        with pytest.raises(SysrootError, match="is not a folder in the archive"):
            sysroot.archive_subdir(extracted, subdir, DESC)
    assert sysroot.archive_subdir(extracted, "./real/", DESC) == extracted / "real"
    assert sysroot.archive_subdir(extracted, None, DESC) == extracted


@pytest.mark.parametrize("subdir", [None, "/abs", "rootfs"])
def test_tarball_subdir_never_moves_a_folder_outside_the_staging_area(tmp_path: Path, subdir):
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    (outside / "lib/libc.so.6").write_text("host")
    if subdir == "/abs":
        subdir = str(outside)
    archive = _tar(tmp_path / "vendor.tar.gz",
                   [_sym("rootfs", str(outside)), _file("lib/libc.so.6", b"elf")])
    before = snapshot(tmp_path, tmp_path / "staging")
    if subdir is None:
        tree = _import_tarball(tmp_path, archive, subdir)
        assert (tree / "lib/libc.so.6").read_bytes() == b"elf"
        assert os.readlink(tree / "rootfs") == str(outside).lstrip("/")
    else:
        with pytest.raises(SysrootError, match=f"key 'subdir' in {DESC}: {subdir!r}"):
            _import_tarball(tmp_path, archive, subdir)
        assert not (tmp_path / "staging/root").exists()
    assert snapshot(tmp_path, tmp_path / "staging") == before


def test_directory_import_skips_special_files(tmp_path: Path):
    src = tmp_path / "device"
    (src / "lib").mkdir(parents=True)
    (src / "lib/libc.so.6").write_text("elf")
    os.symlink("/lib/libc.so.6", src / "lib/libc.so")
    os.mkfifo(src / "lib/initctl")
    messages: list[str] = []
    spec = DirectorySysroot(kind="directory", arch="arm64", path=str(src))
    tree = tmp_path / "cache/staging/root"
    tree.parent.mkdir(parents=True)
    sysroot._import_directory(_ctx(tmp_path, messages), Loaded("dev", tmp_path / DESC, spec),
                              spec, tree)
    assert (tree / "lib/libc.so.6").read_text() == "elf"
    assert os.readlink(tree / "lib/libc.so") == "/lib/libc.so.6"
    assert not (tree / "lib/initctl").exists()
    assert messages == [f"skipped 1 device nodes, FIFOs or sockets in {src}"]


def test_directory_import_refuses_a_tree_holding_the_cache(tmp_path: Path):
    spec = DirectorySysroot(kind="directory", arch="arm64", path=str(tmp_path))
    tree = tmp_path / "cache/staging/root"
    tree.parent.mkdir(parents=True)
    with pytest.raises(SysrootError, match=r"holds edgeforge's cache .*EDGEFORGE_CACHE") as exc:
        sysroot._import_directory(_ctx(tmp_path, []), Loaded("dev", tmp_path / DESC, spec),
                                  spec, tree)
    assert exc.value.exit_code == 7 and not tree.exists()
