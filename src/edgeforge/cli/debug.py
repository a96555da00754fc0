"""The debug wing's task: gdb-multiarch on the app, wherever it runs."""

from __future__ import annotations

from pathlib import Path

from invoke import task

from ._common import APP_HELP, handled, new_context, number, remainder, resolve_target, user_path


@task(help={
    "board": "board name; the program's arguments follow --",
    "emulate": "run the app here under qemu-user with its gdb stub (a Unix socket)",
    "vm": "run (or attach) on the board's running virtual twin",
    "target": "run (or attach) on a device: ssh://user@host[:port]",
    "attach": "attach to this PID on the device instead of starting the app",
    "service": "attach to the app's service instance (NAME, or a unit name)",
    "core": "open a core dump from the device with the matching binaries and debug files",
    "gdb": "start gdb-multiarch here (otherwise the command is printed)",
    "detach": "leave the debug server running (stop it with --stop)",
    "stop": "stop the board's debug server",
    "identity": "SSH private key file to log in with",
    "known-hosts": "known_hosts file for --target",
    "vscode": "folder of launch.json and tasks.json (default: the checkout's .vscode)",
    "app": APP_HELP,
})
@handled
def debug(c, board=None, emulate=False, vm=False, target=None, attach=None, service=None,
          core=None, gdb=False, detach=False, stop=False, identity=None, known_hosts=None,
          vscode=None, app=None):
    """Debug the app with gdb-multiarch, with every library's symbols.

    Under qemu-user (--emulate), on the virtual twin (--vm) or a device (--target), attached
    (--attach/--service), or on a core dump (--core); writes build/<board>/debug/gdbinit and
    VSCode launch/tasks entries."""
    # the debug wing (gdb, servers, VSCode files) is imported here, not at the top: it would
    # add 14 ms to every task's start-up (`python -X importtime -c "import edgeforge.cli"`)
    import edgeforge.debug as debugging

    pid = number("attach", attach)  # a process ID
    ctx = new_context()
    t = resolve_target(ctx, board)
    opts = debugging.DebugOptions(
        emulate=emulate, vm=vm, target=target, attach=int(pid) if pid is not None else None,
        service=service, core=Path(core) if core else None, gdb=gdb, detach=detach, stop=stop,
        args=tuple(remainder(c)), identity=user_path(identity), known_hosts=user_path(known_hosts),
        vscode=user_path(vscode))
    debugging.run(ctx, t, opts, app=app)
