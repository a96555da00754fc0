"""Tasks of the device wing: a board's device image, its virtual twin, and a running device
updated over SSH."""

from __future__ import annotations

from invoke import task

from edgeforge import pipeline
from edgeforge.deliver import ReleaseOptions
from edgeforge.device import boot_twin, stop_twin, update_device

from ._common import APP_HELP, handled, new_context, number, resolve_target


@task(help={
    "board": "board name",
    "version": "release version (default: the app's version and the commit, from git)",
    "ssh-key": "the login's public key, a .pub file (default: EDGEFORGE_SSH_KEY, then "
               "~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub)",
    "dry-run": "print the plan, do nothing",
    "app": APP_HELP,
})
@handled
def image(c, board=None, version=None, ssh_key=None, dry_run=False, app=None):
    """Write the release plus the board's device image into dist/<board>/<app>/<version>/.

    The device image is a root file system (stand-in suite, the .deb through apt, login,
    services) and the virtual twin's disk."""
    ctx = new_context()
    t = resolve_target(ctx, board)
    opts = ReleaseOptions(version=version, device=True, ssh_key=ssh_key)
    if dry_run:
        ctx.reporter.info(pipeline.board_plan(ctx, t, release=opts, app=app).render())
        return
    pipeline.release(ctx, t, opts, app=app)


@task(help={
    "board": "board name",
    "port": "SSH port on 127.0.0.1 (default: the first free one from 2222)",
    "detach": "leave the twin running in the background (stop it with --stop)",
    "stop": "stop the board's running twin",
    "timeout": "seconds to wait for SSH (default 300)",
    "app": "boot the device image of this app (`invoke image --app NAME`; default: "
           "EDGEFORGE_APP, else the project's only app)",
})
@handled
def vm(c, board=None, port=None, detach=False, stop=False, timeout=None, app=None):
    """Boot the board's virtual twin, SSH forwarded from 127.0.0.1; Ctrl-C or --stop stops it.

    The twin is qemu-system-aarch64 -M virt on a copy-on-write overlay of the board's disk
    image."""
    ssh_port = number("port", port, high=65535)
    boot_timeout = number("timeout", timeout, 300, seconds=True)
    ctx = new_context()
    t = resolve_target(ctx, board)
    if stop:
        stop_twin(ctx, t)
    else:
        boot_twin(ctx, t, ctx.app(app), port=ssh_port, boot_timeout=boot_timeout,
                  detach=detach)


@task(help={
    "board": "board name",
    "target": "the device: ssh://user@host[:port] (the user needs root or passwordless sudo)",
    "package": "the .deb to install (default: the board's current one, from its last release)",
    "identity": "SSH private key file to log in with (default: ssh's own choice)",
    "known-hosts": "known_hosts file for the device (default: ssh's own)",
    "app": APP_HELP,
})
@handled
def deploy(c, board=None, target=None, package=None, identity=None, known_hosts=None, app=None):
    """Install the board's current .deb on a running device over SSH and report its state.

    The app's instances are restarted and their state and the app's --version reported from
    the device; a failed install puts the previous package back."""
    ctx = new_context()
    update_device(ctx, ctx.app(app), resolve_target(ctx, board), target, package,
                  identity=identity, known_hosts=known_hosts)
