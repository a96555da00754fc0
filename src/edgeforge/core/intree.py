"""Writes into a root file system that never leave it.

A Debian root file system is full of absolute symbolic links (`/etc/localtime ->
/usr/share/zoneinfo/Etc/UTC`, `/var/run -> /run`, `/etc/ssl/certs/*.pem -> /usr/share/...`).
On the build machine such a link, followed by an ordinary `open()`, leads to the build
machine's own file. Every path edgeforge writes into a tree (a device image's files, users,
services, first-boot units, the .deb it installs) goes through here: the path is resolved the
way `chroot` would resolve it (an absolute link starts again at the tree's root, `..` stops at
the root), and a file is written by creating a new one beside the target and renaming it over,
which replaces a link at the leaf instead of following it. Whatever still resolves outside the
tree is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path, PurePosixPath

from .errors import EscapeError, UsageError
from .fsutil import rmtree

#: Linux's own limit of links followed in one lookup (ELOOP)
MAX_LINKS = 40
#: the most a device image's file source may weigh (a configuration file, a model, a video)
MAX_SOURCE_BYTES = 4 << 30


def _parts(path: str) -> list[str]:
    return [p for p in PurePosixPath("/" + str(path)).parts[1:] if p not in ("", ".")]


def resolve(root: Path, path: str, *, follow_leaf: bool = True) -> Path:
    """The build machine's path of `path` inside `root`, every link resolved as chroot would.

    Components that do not exist yet are kept as they are (a later mkdir makes them inside the
    tree); a link that loops, or a component that is neither a folder nor the leaf, is refused.
    """
    root = Path(os.path.realpath(root))
    todo = _parts(path)
    done: list[str] = []
    hops = 0
    while todo:
        comp = todo.pop(0)
        if comp == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, comp)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            done.append(comp)
            continue
        except NotADirectoryError:
            raise EscapeError(f"{path}: /{'/'.join(done)} in the tree is not a folder") from None
        if stat.S_ISLNK(st.st_mode) and (todo or follow_leaf):
            hops += 1
            if hops > MAX_LINKS:
                raise EscapeError(f"{path}: too many levels of symbolic links in the tree "
                                  f"(a loop at /{'/'.join([*done, comp])})")
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
            continue
        if todo and not stat.S_ISDIR(st.st_mode):
            raise EscapeError(f"{path}: /{'/'.join([*done, comp])} in the tree is not a folder")
        done.append(comp)
    found = root.joinpath(*done)
    _inside(root, found, path)
    return found


def _inside(root: Path, host_path: Path, path: str) -> None:
    """The last guard: the deepest existing ancestor really is inside the tree."""
    probe = host_path
    while not os.path.lexists(probe) and probe != root:
        probe = probe.parent
    real = (Path(os.path.realpath(probe.parent)) / probe.name if os.path.islink(probe)
            else Path(os.path.realpath(probe)))
    if real != root and root not in real.parents:
        raise EscapeError(f"{path} resolves to {real}, outside the image's tree {root}; "
                          "refusing to write there")


def mkdirs(root: Path, path: str, mode: int = 0o755) -> Path:
    """Make the folder `path` inside the tree (and its missing parents); its build-machine
    path."""
    where = resolve(root, path)
    base = Path(os.path.realpath(root))
    missing = []
    probe = where
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir() or probe.is_symlink():
        raise EscapeError(f"{path}: {probe} in the tree is not a folder")
    for folder in reversed(missing):
        os.mkdir(folder, mode)
    _inside(base, where, path)
    return where


def write_bytes(root: Path, path: str, data: bytes, mode: int = 0o644) -> Path:
    """Write a file at `path` inside the tree: its folder resolved inside the tree, the file
    itself new (a link or a file already there is replaced, never written through)."""
    parts = _parts(path)
    if not parts:
        raise EscapeError(f"{path}: not a file path")
    parent = mkdirs(root, "/".join(parts[:-1]))
    name = parts[-1]
    if name == "..":
        raise EscapeError(f"{path}: not a file path")
    leaf = parent / name
    if os.path.lexists(leaf) and stat.S_ISDIR(os.lstat(leaf).st_mode):
        raise EscapeError(f"{path}: a folder of that name is already in the image")
    dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = f".{name}.edgeforge-new"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                os.fchmod(fh.fileno(), mode)
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)
    return leaf


def write_text(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    return write_bytes(root, path, text.encode("utf-8"), mode)


def read_text(root: Path, path: str) -> str:
    """Read a file of the tree, links resolved inside it."""
    where = resolve(root, path)
    if not where.is_file():
        raise EscapeError(f"{path}: not a regular file in the image")
    return where.read_text(encoding="utf-8", errors="replace")


def remove(root: Path, path: str) -> None:
    """Remove a file, a link (never what it points at) or a folder of the tree."""
    parts = _parts(path)
    if not parts:
        raise EscapeError(f"{path}: refusing to remove the tree itself")
    parent = resolve(root, "/".join(parts[:-1]))
    leaf = parent / parts[-1]
    if os.path.lexists(leaf):
        rmtree(leaf)


def copy_in(root: Path, path: str, source: Path, mode: int, *, allowed: Path, what: str) -> Path:
    """Copy a regular file of the project (`source`, which must lie under `allowed` and must not
    be a link) into the tree at `path`."""
    source = Path(source)
    try:
        st = os.lstat(source)
    except OSError as exc:
        raise UsageError(f"{what}: {source}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{what}: {source} is a symbolic link (to {os.readlink(source)}); "
                         "a link is never followed into an image: copy the file itself into "
                         f"{allowed}")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what}: {source} is not a regular file")
    real = Path(os.path.realpath(source))
    base = Path(os.path.realpath(allowed))
    if base not in real.parents:
        raise UsageError(f"{what}: {source} lies outside {allowed}; keep the image's files "
                         "in its own folder")
    if st.st_size > MAX_SOURCE_BYTES:
        raise UsageError(f"{what}: {source} is {st.st_size} bytes, more than "
                         f"{MAX_SOURCE_BYTES} (a device image's file)")
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    return write_bytes(root, path, data, mode)
