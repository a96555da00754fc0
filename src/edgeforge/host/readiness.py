"""`invoke setup` and `invoke doctor`: make the host ready, or say what it lacks."""

from __future__ import annotations

from edgeforge.context import Context
from edgeforge.core import HostSetupError

from .setup import doctor, setup


def make_host_ready(ctx: Context) -> None:
    """Install and start what is missing, say what changed, then check nothing still is."""
    changed = setup(ctx.reporter, ctx.host_logs_dir)
    if changed:
        for line in changed:
            ctx.reporter.info(f"changed: {line}")
    else:
        ctx.reporter.info("setup: nothing to change, the host is ready")
    if not doctor(ctx.reporter, only_missing=True):
        raise HostSetupError("prerequisites still missing after setup (see above)")


def check_host(ctx: Context) -> None:
    """One line per prerequisite; a missing required one is a HostSetupError."""
    if not doctor(ctx.reporter):
        raise HostSetupError("required prerequisites are missing; run `invoke setup`")
