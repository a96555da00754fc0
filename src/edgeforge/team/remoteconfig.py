"""`invoke remote.*`: the team's Conan remotes in edgeforge's Conan home, as a user manages
them. Every change ends with the remotes as they now are; a password never comes from the
command line."""

from __future__ import annotations

import getpass
import os
import sys

from edgeforge.context import Context
from edgeforge.core import UsageError
from edgeforge.deps import password_var, user_var

from .remotes import add, enable, list_remotes, login, remove

#: action -> what it needs (the older `invoke remote ACTION --name N [--url U]` spelling)
REMOTE_ACTIONS = {"add": ("name", "url"), "login": ("name",), "remove": ("name",),
                  "enable": ("name",), "disable": ("name",), "list": ()}


def remote_password(name: str) -> str:
    """From Conan's own variable, EDGEFORGE_CONAN_PASSWORD, or a prompt in a terminal; never
    from the command line (it would stay in the shell's history and in `ps`)."""
    for var in (password_var(name), "EDGEFORGE_CONAN_PASSWORD"):
        if os.environ.get(var):
            return os.environ[var]
    if sys.stdin.isatty():
        return getpass.getpass(f"password for remote {name}: ")
    return ""


def show_remotes(ctx: Context) -> None:
    """One line per remote: `NAME: URL`, ` (disabled)` after a disabled one."""
    for r in list_remotes(ctx, ctx.runner()):
        ctx.reporter.info(f"{r.name}: {r.url}{'' if r.enabled else ' (disabled)'}")


def add_remote(ctx: Context, name: str, url: str) -> None:
    """Add (or replace) the remote NAME at URL."""
    r = add(ctx, ctx.runner(), name, url)
    ctx.reporter.info(f"remote {r.name} -> {r.url}; log in with `invoke remote login "
                      f"{r.name} --user USER`")
    show_remotes(ctx)


def login_remote(ctx: Context, name: str, user: str | None = None) -> None:
    """Log in to NAME as `user` (default: CONAN_LOGIN_USERNAME_<NAME>), the password from
    `remote_password`."""
    login(ctx, ctx.runner(), name, user or os.environ.get(user_var(name), ""),
          remote_password(name))
    ctx.reporter.info(f"logged in to remote {name}")
    show_remotes(ctx)


def remove_remote(ctx: Context, name: str) -> None:
    remove(ctx, ctx.runner(), name)
    show_remotes(ctx)


def switch_remote(ctx: Context, name: str, on: bool) -> None:
    """Enable (`on`) or disable the remote NAME: a disabled one is never asked for binaries."""
    enable(ctx, ctx.runner(), name, on)
    show_remotes(ctx)


def remote_action(ctx: Context, action: str, name: str = "", url: str = "",
                  user: str = "") -> None:
    """The older spelling, `invoke remote ACTION --name N [--url U] [--user U]`: the action's
    arguments checked (a usage error naming what is missing), then the action run."""
    if action not in REMOTE_ACTIONS:
        raise UsageError(f"unknown remote action {action!r}; use one of: "
                         f"{', '.join(REMOTE_ACTIONS)}")
    given = {"name": name, "url": url}
    missing = [k.upper() for k in REMOTE_ACTIONS[action] if not given[k]]
    if missing:
        raise UsageError(f"`invoke remote {action}` needs {' and '.join(missing)}; e.g. "
                         "`./edgeforge remote add team https://conan.example.com` (or `invoke "
                         "remote add --name team --url https://conan.example.com`)")
    if action == "add":
        add_remote(ctx, name, url)
    elif action == "login":
        login_remote(ctx, name, user)
    elif action == "remove":
        remove_remote(ctx, name)
    elif action in ("enable", "disable"):
        switch_remote(ctx, name, action == "enable")
    else:
        show_remotes(ctx)
