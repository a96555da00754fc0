"""File-system helpers: hashing, atomic writes, locks."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import EdgeforgeError, SourceError, UsageError


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def not_a_file(path: Path) -> str | None:
    """Why `path` is no regular file to read ("no such file", "a character device, not a
    regular file"...); None when it is one. Links are followed; nothing is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if stat.S_ISREG(st.st_mode) else f"{_kind(st.st_mode)}, not a regular file"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def read_limited(path: Path, what: str | None = None, *, limit: int = 1 << 20,
                 error: type[EdgeforgeError] = UsageError, fix: str = "") -> bytes:
    """A file someone else chose (an option's file, a server's, a user's settings) read whole,
    safely: a regular file only (never a folder, /dev/zero or a named pipe that would block),
    at most `limit` bytes. Any problem is one `error` sentence naming `what` (default: the
    path) and `fix`."""
    what = what or str(path)
    tail = f"; {fix}" if fix else ""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused below)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}{tail}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what}: {_kind(st.st_mode)}, not a regular file{tail}")
        data = b""
        while st.st_size <= limit and len(data) <= limit and (
                block := os.read(fd, limit + 1 - len(data))):
            data += block
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}{tail}") from None
    finally:
        os.close(fd)
    if st.st_size > limit or len(data) > limit:
        raise error(f"{what}: larger than {_size(limit)}{tail}")
    return data


def write_atomic(path: Path, text: str | bytes, mode: int | None = None) -> None:
    """Write next to the target and rename over it: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def check_destination(path: Path, what: str) -> None:
    """A file a user named for edgeforge to write (--out, a --vscode folder's files): absent,
    a regular file, or a symbolic link (write_atomic replaces the link, never writes through
    it). A folder, named pipe, device or socket there is refused (UsageError): writing would
    block, reach a device, or replace something that is not a file."""
    try:
        st = os.lstat(path)
    except OSError:  # nothing there (or no way there: the writer says why)
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise UsageError(f"{what} {path}: {_kind(st.st_mode)}, not a regular file; give the "
                         "path of a file to write")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` (deepest first), from /proc/self/mountinfo."""
    real = os.path.realpath(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == real or point.startswith(real.rstrip("/") + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount_under(path: Path) -> None:
    """Detach whatever is mounted inside a tree (a chroot's /proc, /sys, /dev left by a killed
    mmdebstrap) so that deleting the tree never reaches the host's files."""
    points = mounts_under(path)
    if not points:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for point in points:
        libc.umount2(point.encode(), 2)  # MNT_DETACH
    left = mounts_under(path)
    if left:
        raise OSError(errno.EBUSY, f"cannot delete {path}: {left[0]} is still mounted; "
                      f"unmount it (umount -l {left[0]}) and try again")


def rmtree(path: Path) -> None:
    """Delete a file or a tree; a tree is first cleared of mounts, never deleted through one."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        unmount_under(path)
        shutil.rmtree(path)


def checksum_mismatch(path: Path, expected: str, what: str, fix: str) -> str | None:
    """None when the file matches its pinned sha256, else the sentence that says so."""
    actual = sha256_file(path)
    if actual == expected.lower():
        return None
    return (f"checksum mismatch for {what} ({path}): expected sha256 {expected}, got {actual}; "
            f"{fix}")


def verify_sha256(path: Path, expected: str, what: str) -> None:
    problem = checksum_mismatch(
        path, expected, what, "the file is corrupt or not the pinned one: delete it and fetch "
        "it again, or fix the pinned sha256 if the new archive is trusted")
    if problem:
        raise SourceError(problem)
