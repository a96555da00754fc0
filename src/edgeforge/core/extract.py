"""Extract a tar archive so that nothing outside the destination is written, changed or removed.

Python's tarfile filters check a member's path with `os.path.realpath`, which gives up on
paths longer than PATH_MAX: a chain of symlinks can then point a later member (or a hard
link) outside the tree. So this module does not rely on a filter. Every member is created
relative to an open file descriptor of its parent folder, reached by walking the member's
name one component at a time with O_NOFOLLOW|O_DIRECTORY: a symlink (made by the archive
or not) is never followed, a member whose path crosses one is refused. Names with '..'
are refused; leading '/' and './' are stripped. tarfile's `data` filter still checks every
member as a second line.

With rootfs=True (a root file system), absolute symlink targets are rewritten relative to
the tree and device nodes and FIFOs are skipped; otherwise those are refused. Ownership is
never applied; setuid, setgid and sticky bits and group/other write bits are dropped.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from pathlib import Path

from .errors import SourceError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ExtractReport:
    def __init__(self) -> None:
        self.skipped_devices: list[str] = []
        self.relinked: int = 0


class _Refused(Exception):
    """A member that would not stay a plain entry inside the destination."""


def normalise(name: str, what: str = "name") -> tuple[str, ...]:
    """An archive name as path components inside the tree ('./a//b/' -> ('a', 'b'))."""
    if "\0" in name:
        raise _Refused(f"has a NUL byte in its {what}")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise _Refused(f"has a '..' component in its {what}")
    return parts


def file_mode(mode: int) -> int:
    """The `data` filter's rule: no high bits, no group/other write, owner rw, exec kept."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def safe_extract(archive: Path, dest: Path, rootfs: bool = False) -> ExtractReport:
    """Extract `archive` into `dest` (created when missing); refuse the archive on the first
    member that would leave it. On refusal `dest` may hold part of the archive, nothing
    outside it is touched; the caller removes `dest`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    report = ExtractReport()
    name = ""
    try:
        with tarfile.open(archive) as tf:
            ex = _Extractor(tf, dest, rootfs, report)
            try:
                for member in tf:
                    name = member.name
                    ex.extract(member)
            finally:
                ex.close()
    except _Refused as exc:
        raise SourceError(
            f"refusing to extract {archive}: member {name!r} {exc}; nothing outside {dest} was "
            "written. The archive is not a plain file tree: check where it came from, or unpack "
            "and repack it by hand"
        ) from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceError(f"cannot extract {archive} (at member {name!r}): {exc}") from None
    return report


class _Extractor:
    def __init__(self, tf: tarfile.TarFile, dest: Path, rootfs: bool, report: ExtractReport):
        self.tf = tf
        self.dest = str(dest)
        self.rootfs = rootfs
        self.report = report
        self.files: set[tuple[str, ...]] = set()  # regular files this archive created
        self.root_fd = os.open(dest, _DIR_FLAGS)

    def close(self) -> None:
        os.close(self.root_fd)

    def extract(self, m: tarfile.TarInfo) -> None:
        parts = normalise(m.name)
        if m.ischr() or m.isblk() or m.isfifo():
            if not self.rootfs:
                raise _Refused("is a device node or FIFO")
            self.report.skipped_devices.append("/".join(parts))
            return
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            raise _Refused(f"has an unsupported type {m.type!r}")
        if not parts:
            if m.isdir():
                return  # the tree's root itself ('./')
            raise _Refused("has an empty name")
        linkname = m.linkname
        if m.issym():
            linkname = self._symlink_target(parts, linkname)
        elif m.islnk():
            linkname = "/".join(normalise(linkname, "hard link target"))
        self._second_line(m.replace(name="/".join(parts), linkname=linkname, deep=False))

        parent = self._walk(parts[:-1], create=True)
        try:
            leaf = parts[-1]
            if m.isdir():
                self._make_dir(parent, leaf, parts)
            elif m.isreg():
                self._make_file(parent, leaf, parts, m)
            elif m.issym():
                self._clear(parent, leaf, parts)
                os.symlink(linkname, leaf, dir_fd=parent)
                self._set_mtime(parent, leaf, m)
            else:
                self._make_hardlink(parent, leaf, parts, linkname)
        finally:
            os.close(parent)

    # ---- checks -----------------------------------------------------------------------------
    def _symlink_target(self, parts: tuple[str, ...], target: str) -> str:
        if not target or "\0" in target:
            raise _Refused("is a symlink with an empty or NUL-containing target")
        here = "/".join(parts[:-1])
        if target.startswith("/"):
            if not self.rootfs:
                raise _Refused(f"is a symlink to the absolute path {target!r}")
            target = posixpath.relpath(posixpath.normpath("/" + target.lstrip("/")), "/" + here)
            self.report.relinked += 1
        lexical = posixpath.normpath(posixpath.join(here, target))
        if lexical == ".." or lexical.startswith("../"):
            raise _Refused(f"is a symlink to {target!r}, outside the tree")
        return target

    def _second_line(self, member: tarfile.TarInfo) -> None:
        """tarfile's own `data` filter, when this Python has one; never the only check."""
        data_filter = getattr(tarfile, "data_filter", None)
        if data_filter is None:
            return
        try:
            data_filter(member, self.dest)
        except tarfile.FilterError as exc:
            raise _Refused(f"fails tarfile's data filter ({exc})") from None

    def _walk(self, parts: tuple[str, ...], create: bool) -> int:
        """An fd of the folder dest/parts, never following a symlink; folders are made when
        `create`. The caller closes it."""
        fd = os.dup(self.root_fd)
        try:
            for i, comp in enumerate(parts):
                try:
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise _Refused(f"needs {'/'.join(parts[:i + 1])!r}, which the archive "
                                       "did not create") from None
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    raise _Refused(f"goes through {'/'.join(parts[:i + 1])!r}, which is a "
                                   "symlink or a file, not a folder") from None
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    # ---- making entries (all relative to the parent's fd) ----------------------------------
    def _clear(self, parent: int, leaf: str, parts: tuple[str, ...]) -> None:
        """Remove an earlier non-folder entry of the same name (the link itself, never what
        it points to); an earlier folder is never replaced."""
        try:
            st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise _Refused("would replace a folder made by an earlier member")
        os.unlink(leaf, dir_fd=parent)
        self.files.discard(parts)

    def _make_dir(self, parent: int, leaf: str, parts: tuple[str, ...]) -> None:
        try:
            st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            os.mkdir(leaf, 0o755, dir_fd=parent)
            return
        if not stat.S_ISDIR(st.st_mode):
            self._clear(parent, leaf, parts)
            os.mkdir(leaf, 0o755, dir_fd=parent)

    def _make_file(self, parent: int, leaf: str, parts: tuple[str, ...],
                   m: tarfile.TarInfo) -> None:
        self._clear(parent, leaf, parts)
        src = self.tf.extractfile(m)
        fd = os.open(leaf, _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        with open(fd, "wb") as out:
            if src is not None:
                shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fchmod(out.fileno(), file_mode(m.mode))
            self._set_mtime(out.fileno(), None, m)
        self.files.add(parts)

    def _make_hardlink(self, parent: int, leaf: str, parts: tuple[str, ...],
                       linkname: str) -> None:
        target = tuple(linkname.split("/")) if linkname else ()
        if target not in self.files or target == parts:
            raise _Refused(f"is a hard link to {linkname!r}, not a file extracted before it")
        src_parent = self._walk(target[:-1], create=False)
        try:
            st = os.stat(target[-1], dir_fd=src_parent, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                raise _Refused(f"is a hard link to {linkname!r}, which is no longer a file")
            self._clear(parent, leaf, parts)
            os.link(target[-1], leaf, src_dir_fd=src_parent, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            os.close(src_parent)
        self.files.add(parts)

    @staticmethod
    def _set_mtime(where: int, leaf: str | None, m: tarfile.TarInfo) -> None:
        try:
            if leaf is None:
                os.utime(where, (m.mtime, m.mtime))
            else:
                os.utime(leaf, (m.mtime, m.mtime), dir_fd=where, follow_symlinks=False)
        except (OSError, OverflowError, ValueError):
            pass  # a time the file system cannot hold is not worth failing for
