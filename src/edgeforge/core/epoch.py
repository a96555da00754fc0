"""SOURCE_DATE_EPOCH: one rule for every artefact's time stamps.

- A release, an SDK and a device image take the time from the environment's
  SOURCE_DATE_EPOCH, else from the last commit (`source_date_epoch`). A value that is not
  whole seconds is a usage error, wherever it is read.
- Cached trees (sysroots, the device base root file system, the container base) do not
  depend on the checkout: they are built at one fixed time, `CACHED_TREE_EPOCH`, so every
  checkout and every machine shares them.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import gitinfo
from .errors import UsageError
from .runner import Runner

CACHED_TREE_EPOCH = 1700000000


def source_date_epoch(project_root: Path, runner: Runner, *, default: int | None = None) -> int:
    """SOURCE_DATE_EPOCH from the environment, else the last commit's time, else `default`
    (a usage error when there is no default)."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env is not None:
        if not (env.isascii() and env.isdigit()):  # not '²', which int() refuses
            raise UsageError(f"SOURCE_DATE_EPOCH={env[:40]!r} (from the environment): expected "
                             "whole seconds since 1970, e.g. SOURCE_DATE_EPOCH=1700000000")
        return int(env)
    when = gitinfo.commit_time(runner, project_root)
    if when is not None:
        return when
    if default is not None:
        return default
    raise UsageError("no SOURCE_DATE_EPOCH: this checkout has no git history to take the "
                     "release time from; set SOURCE_DATE_EPOCH (seconds since 1970)")
