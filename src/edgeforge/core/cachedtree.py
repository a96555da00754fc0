"""Cached trees: an expensive folder (a sysroot, the device base root file system, the
container base image) built once into edgeforge's cache, aside, under a lock, and renamed into
place whole. Another process waiting on the lock finds it done; a failed or interrupted build
leaves nothing but its partial folder, which the next build removes (it names its owner's PID).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .fsutil import file_lock, rmtree


def _clean_stale_partials(final: Path) -> None:
    for p in final.parent.glob(f".partial-{final.name}-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            rmtree(p)


def cached_tree(final: Path, is_complete: Callable[[Path], bool],
                build: Callable[[Path], Path], *, replaces: str | None = None,
                on_unfinished: Callable[[Path], None] | None = None) -> Path:
    """`final` when `is_complete(final)`; else, under `<parent>/.<name>.lock`, `build(partial)`
    in an empty `<parent>/.partial-<name>-<pid>/`, returning the folder inside it (or itself)
    to rename to `final`. `replaces`: a glob of older versions in the same parent, removed once
    the new tree is built. A `final` that exists but is not complete is removed first
    (`on_unfinished` is told)."""
    if is_complete(final):
        return final
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    with file_lock(parent / f".{final.name}.lock"):
        if is_complete(final):  # someone else finished it while we waited
            return final
        if final.exists() or final.is_symlink():
            if on_unfinished:
                on_unfinished(final)
            rmtree(final)
        _clean_stale_partials(final)
        partial = parent / f".partial-{final.name}-{os.getpid()}"
        rmtree(partial)
        partial.mkdir()
        try:
            built = build(partial)
            if replaces:
                for old in parent.glob(replaces):
                    if old != final:
                        rmtree(old)
            os.rename(built, final)
        finally:
            rmtree(partial)
    return final
