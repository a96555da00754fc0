"""`invoke vm`: a board's virtual twin booted for the user, waited on until Ctrl-C (or left
running with --detach), and stopped."""

from __future__ import annotations

import time

from edgeforge.config import App, Target
from edgeforge.context import Context

from .rootfs import stand_in_suite
from .twin import VmPaths, connect_hint, running_pid, start, stop


def stop_twin(ctx: Context, t: Target) -> None:
    """Stop the board's running twin, if one is."""
    was = stop(VmPaths(ctx.layout(t.name).vm))
    ctx.reporter.info(f"{t.name}: twin stopped" if was else f"{t.name}: no twin running")


def boot_twin(ctx: Context, t: Target, app: App, *, port: int | None = None,
              boot_timeout: float = 300, detach: bool = False) -> None:
    """Boot the twin from the board's last device image of `app` and say how to connect; then,
    unless `detach`, wait until it stops or Ctrl-C stops it."""
    layout = ctx.layout(t.name, app.name)
    paths = VmPaths(layout.vm)
    stand_in_suite(t)
    with ctx.reporter.step(f"booting the virtual twin of {t.name}"):
        state = start(layout.release_step("twin"), paths, ctx.runner(t.name), port=port,
                      boot_timeout=boot_timeout, reporter=ctx.reporter)
    ctx.reporter.info(f"{t.name} twin up in {state['boot_seconds']} s (PID {state['pid']}); "
                      f"console log: {paths.console}")
    ctx.reporter.info(f"connect: {connect_hint(state, paths)}")
    if detach:
        ctx.reporter.info(f"stop it with: ./edgeforge vm --board {t.name} --stop")
        return
    ctx.reporter.info("Ctrl-C stops the twin")
    try:
        while running_pid(paths):
            time.sleep(1)
    except KeyboardInterrupt:
        stop(paths)
        ctx.reporter.info(f"{t.name}: twin stopped")
