"""What git says about the checkout (revision, commit time), through the one runner.

A checkout without git, or a folder that is not a repository, is not an error: the answers
fall back to "unknown" and to no commit time."""

from __future__ import annotations

from pathlib import Path

from .errors import ToolMissingError
from .runner import Runner


def _git(runner: Runner, root: Path, *args: str) -> str | None:
    try:
        r = runner.capture(["git", "-C", str(root), *args], what=f"git {args[0]}", check=False)
    except ToolMissingError:
        return None
    return r.output.strip() if r.returncode == 0 else None


def revision(runner: Runner, root: Path, paths: tuple[str, ...] = ()) -> str:
    """Short id of the last commit that touched `paths` (default: HEAD), with "-dirty" when
    they (or the whole tree) have local changes. A commit elsewhere in the checkout leaves the
    revision of `paths` as it was, so what is built from them is not rebuilt for it."""
    if paths:
        rev = _git(runner, root, "log", "-1", "--abbrev=12", "--format=%h", "--", *paths)
    else:
        rev = _git(runner, root, "rev-parse", "--short=12", "HEAD")
    if not rev:
        return "unknown"
    dirty = _git(runner, root, "status", "--porcelain", "--", *paths)
    return rev + ("-dirty" if dirty else "")


def exact_tag(runner: Runner, root: Path) -> str | None:
    """The tag HEAD is at, if any."""
    return _git(runner, root, "describe", "--tags", "--exact-match") or None


def commit_time(runner: Runner, root: Path) -> int | None:
    """The last commit's time (seconds since the epoch), the default SOURCE_DATE_EPOCH."""
    out = _git(runner, root, "log", "-1", "--format=%ct")
    return int(out) if out and out.isdigit() else None
