"""Sysroots shared over a static file server: the archive, its name and its checksum files.

`invoke sysroot --pack DIR` writes the cached sysroot <name>-<key> as DIR/<name>-<key>.tar.gz
and DIR/<name>-<key>.tar.gz.sha256 (the line `sha256sum -c` reads). The archive is
reproducible: members in sorted order under one top folder <name>-<key>/, owner root (0:0),
one fixed mtime, GNU tar headers, gzip with mtime 0 and no file name; hard links inside the tree
stay hard links; device nodes (mmdebstrap's /dev) are left out, as extraction would skip them.
gzip level 1: a 160 MB tree packs in a few seconds into about a third of its size.

A team serves DIR and sets EDGEFORGE_SYSROOT_URL; `ensure_sysroot` then fetches the archive
before it would build the sysroot with mmdebstrap. The archive is verified against the
published .sha256 and, when the project pins it, against toolchains/sysroots/published.sha256
(the same line format, one per archive): only a pin kept in the project protects against a
server that lies about both files.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edgeforge.core import DescriptorError, SourceError, SysrootError, sha256_file, write_atomic

URL_VAR = "EDGEFORGE_SYSROOT_URL"
LAYOUT = "packed sysroots (<name>-<key>.tar.gz and .tar.gz.sha256, from `invoke sysroot --pack`)"
SUFFIX = ".tar.gz"
PINS_FILE = "published.sha256"  # in toolchains/sysroots/
GZIP_LEVEL = 1

_SHA_LINE = re.compile(r"^([0-9a-fA-F]{64})(?:[ \t]+\*?(\S.*))?$")


# ---- names and checksum files (pure) ------------------------------------------------------------
def archive_name(folder_name: str) -> str:
    """The archive of the cached sysroot folder <name>-<key>."""
    return folder_name + SUFFIX


def sha256_line(sha256: str, name: str) -> str:
    return f"{sha256}  {name}\n"


def parse_sha256_file(text: str, name: str, where: str) -> str:
    """The sha256 a .sha256 file gives for `name`: one line 'HEX  NAME' (or 'HEX *NAME', or a
    bare 'HEX'); SourceError naming `where` when it has none for that name."""
    for line in text.splitlines():
        m = _SHA_LINE.match(line.strip())
        if m and (m.group(2) is None or m.group(2).strip() == name):
            return m.group(1).lower()
    raise SourceError(f"{where} holds no sha256 for {name} (expected a line '<64 hex digits>  "
                      f"{name}'); fix: publish it again with `invoke sysroot --pack DIR`")


def parse_pins(text: str, rel: str) -> dict[str, str]:
    """toolchains/sysroots/published.sha256: archive name -> sha256 (comments with '#')."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _SHA_LINE.match(line)
        if not m or not m.group(2):
            raise DescriptorError(
                f"{rel} line {number}: {raw.strip()!r} is not '<sha256>  <name>-<key>{SUFFIX}'; "
                "fix: copy the line `invoke sysroot --pack DIR` prints")
        name = m.group(2).strip()
        if name in pins and pins[name] != m.group(1).lower():
            raise DescriptorError(f"{rel} line {number}: {name} is pinned twice, to different "
                                  "sha256; fix: keep one line")
        pins[name] = m.group(1).lower()
    return pins


def check_stamp(stamp: dict | None, name: str, key: str, arch: str, url: str) -> None:
    """The stamp inside a fetched archive must name the sysroot, key and arch asked for."""
    if stamp is None:
        raise SysrootError(f"the sysroot archive {url} has no readable stamp "
                           "(<name>-<key>/.edgeforge-sysroot.json): it was not made by "
                           f"`invoke sysroot --pack`; fix: publish it again, or unset {URL_VAR} "
                           "to build the sysroot here")
    wrong = [f"{k} {stamp.get(k)!r} (expected {v!r})"
             for k, v in (("name", name), ("key", key), ("arch", arch)) if stamp.get(k) != v]
    if wrong:
        raise SysrootError(f"the sysroot archive {url} holds another sysroot: its stamp has "
                           f"{', '.join(wrong)}; nothing was added to the cache. Fix: publish the "
                           f"right one with `invoke sysroot --pack DIR`, or unset {URL_VAR} to "
                           "build the sysroot here")


# ---- writing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Packed:
    archive: Path
    checksum_file: Path
    sha256: str
    size: int
    skipped: tuple[str, ...]  # device nodes, FIFOs, sockets left out


def members(root: Path) -> list[tuple[str, Path]]:
    """(name inside the tree, path) of every entry under root, root first, in sorted order."""
    out: list[tuple[str, Path]] = [("", root)]
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        for name in sorted([*dirs, *files]):
            out.append((f"{rel}/{name}" if rel != "." else name, here / name))
    return out


def tar_entry(arcname: str, st: os.stat_result, mtime: int) -> tarfile.TarInfo | None:
    """The header for one entry (None: not a file, folder or symlink); size, mode and type
    come from `st`, everything else is fixed."""
    info = tarfile.TarInfo(arcname)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.mode = 0o777
    else:
        return None
    return info


def pack(root: Path, top: str, out_dir: Path, mtime: int) -> Packed:
    """Write root/ as out_dir/<top>.tar.gz (members under top/) and its .sha256, each written
    aside and renamed into place."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / archive_name(top)
    tmp = out_dir / f".{dest.name}.partial-{os.getpid()}"
    skipped: list[str] = []
    first_of: dict[tuple[int, int], str] = {}  # inode -> the first name: later ones hard link
    try:
        with open(tmp, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                              compresslevel=GZIP_LEVEL) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for rel, path in members(root):
                st = path.stat() if not rel else path.lstat()  # root itself may be a symlink
                arcname = f"{top}/{rel}" if rel else top
                info = tar_entry(arcname, st, mtime)
                if info is None:
                    skipped.append(rel)
                elif info.isreg() and st.st_nlink > 1 and (st.st_dev, st.st_ino) in first_of:
                    info.type, info.size = tarfile.LNKTYPE, 0
                    info.linkname = first_of[(st.st_dev, st.st_ino)]
                    tar.addfile(info)
                elif info.isreg():
                    first_of.setdefault((st.st_dev, st.st_ino), arcname)
                    with open(path, "rb") as fh:
                        tar.addfile(info, fh)
                else:
                    if info.issym():
                        info.linkname = os.readlink(path)
                    tar.addfile(info)
        sha = sha256_file(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    sha_file = dest.with_name(dest.name + ".sha256")
    write_atomic(sha_file, sha256_line(sha, dest.name))
    return Packed(dest, sha_file, sha, dest.stat().st_size, tuple(skipped))
