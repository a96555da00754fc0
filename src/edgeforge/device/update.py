"""`invoke deploy`: a running device (or the twin) updated to the board's current .deb over
SSH, and what the device then runs."""

from __future__ import annotations

from pathlib import Path

from edgeforge.config import App, Target
from edgeforge.context import Context
from edgeforge.core import UsageError, not_a_file
from edgeforge.deliver import load_installers

from .deploy import Installed, deploy
from .ssh import parse_target


def board_package(ctx: Context, t: Target, app: App, package: str | None = None) -> Path:
    """The .deb to install: `package` when given (a regular file), else the board's current
    one from its last release."""
    if package:
        deb = Path(package).expanduser()
        if why := not_a_file(deb):  # a folder, /dev/zero or a FIFO would be read or wait forever
            raise UsageError(f"--package {package}: {why}; give the board's .deb (`./edgeforge "
                             f"release --board {t.name}` writes it)")
        return deb
    debs = sorted(ctx.layout(t.name, app.name).release_step("deb").glob("*.deb"))
    if not debs:
        raise UsageError(f"no .deb of {app.name} built for {t.name} yet: run `./edgeforge "
                         f"release --board {t.name} --app {app.name}` first (or give --package)")
    return debs[0]


def installed(ctx: Context, app: App) -> Installed:
    """What the app's .deb puts on a device: its package (the app's installer file), program
    and services (its descriptor)."""
    return Installed(package=load_installers(ctx.project_root, app).package,
                     program=f"{app.spec.install.prefix}/{app.program}",
                     services=tuple(s.name for s in app.spec.services))


def update_device(ctx: Context, app: App, t: Target, target: str | None,
                  package: str | None = None, *, identity: str | None = None,
                  known_hosts: str | None = None) -> None:
    """Install the app's package on the device at `target` (ssh://user@host[:port]), restart
    its instances and report their state and its version from the device."""
    if not target:
        raise UsageError("give the device: --target ssh://user@host[:port] (for the virtual "
                         f"twin `./edgeforge vm --board {t.name}` prints it)")
    dest = parse_target(target)
    deb = board_package(ctx, t, app, package)
    with ctx.reporter.step(f"deploying {deb.name} to {dest.user}@{dest.host}:{dest.port}"):
        result = deploy(deb, dest, ctx.runner(t.name), installed(ctx, app),
                        identity=Path(identity).expanduser() if identity else None,
                        known_hosts=Path(known_hosts).expanduser() if known_hosts else None)
    ctx.reporter.info(f"installed {result['installed']}; on the device: package "
                      f"{result['package']}, program {result['version']}")
    for unit, state in sorted(result["instances"].items()):
        ctx.reporter.info(f"  {unit}: {state}")
