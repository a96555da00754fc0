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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import SourceError


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
