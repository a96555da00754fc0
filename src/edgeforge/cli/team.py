"""Tasks of the team wing: the CI pipeline, the team's Conan remotes (`remote.*`), a board's
graph shared through them (`cache.*`), and edgeforge's own test suite.

`invoke remote ACTION ...` and `invoke cache ACTION ...`, the older spellings, are each
collection's default task: they keep working as they did. The team wing is imported when a
task first needs it (`team_wing()`: 18 ms of every task's start-up otherwise)."""

from __future__ import annotations

from invoke import Collection, Exit, task

from edgeforge import pipeline
from edgeforge.core import UsageError

from ._common import handled, new_context, resolve_target, team_wing

NAME_HELP = "the remote's name (e.g. team)"


@task(iterable=["board"], help={
    "provider": "gitlab or github",
    "out": "file to write (default: .gitlab-ci.yml or .github/workflows/edgeforge.yml in the "
           "project)",
    "board": "only this board (repeatable; default: every board in toolchains/boards/)",
    "levels": "where the dependency levels come from: conan (default: `conan graph "
              "build-order` on each board's settings, seconds) or recipes (the recipes' own "
              "requirements, no Conan)",
    "remote": "the team's Conan remote's name in CI (default: team); it names Conan's login "
              "variables CONAN_LOGIN_USERNAME_<NAME> and CONAN_PASSWORD_<NAME>",
    "push": "on tags, also push each board's release image to $EDGEFORGE_REGISTRY/PUSH/<board>",
})
@handled
def ci(c, provider=None, out=None, board=None, levels="conan", remote="team", push=None):
    """Write the team's CI pipeline for GitLab or GitHub.

    Per board: a job per dependency level, the app built and tested under qemu, binaries
    pushed to the team's Conan remote, and on tags the release."""
    ctx = new_context()
    team = team_wing()
    opts = team.CiOptions(remote=remote, push=push, levels_from=levels)
    ctx.reporter.info(f"wrote {team.write_ci_pipeline(ctx, provider, out, board or None, opts)}")


@task(help={"tier": "unit, integration, e2e or all (default)", "k": "pytest -k expression"})
@handled
def suite(c, tier="all", k=None):
    """Run the test suite (what CI runs)."""
    code = team_wing().run_suite(new_context(), tier, k)
    if code != 0:
        raise Exit(code=code)


# ---- remote.*: the team's Conan remotes in edgeforge's Conan home -----------------------------
@task(name="add", positional=["name", "url"], help={
    "name": NAME_HELP,
    "url": "the remote's URL (a Conan server, Artifactory or Nexus Conan repository)"})
@handled(name="remote.add")
def remote_add(c, name=None, url=None):
    """Add (or replace) a team's Conan remote: invoke remote.add NAME URL."""
    team_wing().add_remote(new_context(), name, url)


@task(name="login", positional=["name"], help={
    "name": NAME_HELP,
    "user": "the user (default: CONAN_LOGIN_USERNAME_<NAME>); the password comes from "
            "CONAN_PASSWORD_<NAME>, EDGEFORGE_CONAN_PASSWORD or a prompt"})
@handled(name="remote.login")
def remote_login(c, name=None, user=None):
    """Log in to a remote: invoke remote.login NAME --user USER (never a password here)."""
    team_wing().login_remote(new_context(), name, user)


@task(name="remove", positional=["name"], help={"name": NAME_HELP})
@handled(name="remote.remove")
def remote_remove(c, name=None):
    """Remove a remote from edgeforge's Conan home."""
    team_wing().remove_remote(new_context(), name)


@task(name="enable", positional=["name"], help={"name": NAME_HELP})
@handled(name="remote.enable")
def remote_enable(c, name=None):
    """Enable a remote: builds ask it for binaries again."""
    team_wing().switch_remote(new_context(), name, True)


@task(name="disable", positional=["name"], help={"name": NAME_HELP})
@handled(name="remote.disable")
def remote_disable(c, name=None):
    """Disable a remote: builds no longer ask it for binaries."""
    team_wing().switch_remote(new_context(), name, False)


@task(name="list")
@handled(name="remote.list")
def remote_list(c):
    """List the team's Conan remotes in edgeforge's Conan home."""
    team_wing().show_remotes(new_context())


@task(name="action", positional=["action"], default=True, help={
    "action": "list, add --name N --url U, login --name N --user U, remove --name N, "
              "enable --name N, disable --name N",
    "name": NAME_HELP,
    "url": "add: the remote's URL",
    "user": "login: the user (the password comes from CONAN_PASSWORD_<NAME>, "
            "EDGEFORGE_CONAN_PASSWORD or a prompt)",
})
@handled(name="remote")
def remote_any(c, action, name="", url="", user=""):
    """Run a remote action by name, the older spelling.

    Usage: invoke remote ACTION --name N ..."""
    team_wing().remote_action(new_context(), action, name, url, user)


remote = Collection("remote", remote_add, remote_login, remote_remove, remote_enable,
                    remote_disable, remote_list, remote_any)


# ---- cache.*: a board's Conan graph shared through the team's remote --------------------------
@task(name="push", help={"board": "board name",
                         "remote": "remote name (default: the only enabled one)"})
@handled(name="cache.push")
def cache_push(c, board=None, remote=None):
    """Upload the board's recipes, binaries and lockfile to the team's remote."""
    ctx = new_context()
    team_wing().push_board_graph(ctx, resolve_target(ctx, board).name, remote)


@task(name="status", help={"board": "board name"})
@handled(name="cache.status")
def cache_status(c, board=None):
    """Show what `invoke build` would download, build or find cached for the board."""
    ctx = new_context()
    t = resolve_target(ctx, board)
    files = pipeline.run_until(ctx, t, "toolchain")["toolchain"].toolchain
    team_wing().show_board_graph_status(ctx, t.name, files)


@task(name="action", positional=["action"], default=True, help={
    "action": "push or status", "board": "board name",
    "remote": "push: remote name (default: the only enabled one)"})
@handled(name="cache")
def cache_any(c, action, board=None, remote=None):
    """Run a cache action by name, the older spelling: invoke cache ACTION --board X."""
    if action == "push":
        cache_push(c, board=board, remote=remote)
    elif action == "status":
        cache_status(c, board=board)
    else:
        raise UsageError(f"unknown cache action {action!r}; use push or status")


cache = Collection("cache", cache_push, cache_status, cache_any)
