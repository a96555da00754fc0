"""The team's Conan remotes: add, list, log in, and push a board's graph.

Binary sharing is Conan's own. edgeforge's Conan home (in the cache) gets the team's remotes
(`./edgeforge remote add NAME URL`, a Conan server, Artifactory or Nexus); `invoke build` then asks
Conan for the build order and downloads every binary whose package ID matches before it builds
anything (package IDs carry the board's settings, CPU flags, sysroot and ABI ceiling through the
profile, so a binary is never reused for another board); `invoke cache push --board X` uploads
the board's recipes and binaries, with the board's lockfile as the root recipes' metadata.

Credentials never appear in argv, in files edgeforge writes, or in logs: `invoke remote login`
hands the password to Conan through Conan's own variable (CONAN_PASSWORD_<REMOTE>) in the
child's environment, and Conan keeps only the token it gets back. CI sets Conan's
CONAN_LOGIN_USERNAME_<REMOTE> / CONAN_PASSWORD_<REMOTE> secrets, which edgeforge passes to
Conan unchanged.
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeforge.context import Context
from edgeforge.core import CommandFailedError, RemoteError, Runner, UsageError, redact_url, write_atomic
from edgeforge.deps import (
    DepsResult,
    PackageNode,
    classify_failure,
    conan_env,
    conan_lock,
    ensure_conan_home_files,
    graph_order,
    password_var,
    root_requires,
)

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
LOCK_METADATA = "edgeforge"  # metadata folder of the root recipes: edgeforge/<board>/conan.lock


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    enabled: bool = True


# ---- checks and argv (pure) -------------------------------------------------------------------
def check_name(name: str) -> str:
    if not name or not NAME_RE.match(name):
        raise UsageError(f"remote name {name!r} is not usable: letters, digits, '-' and '_', "
                         "starting with a letter; fix: e.g. `./edgeforge remote add team URL`")
    return name


def check_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url or "")
        hostname = parts.hostname
    except ValueError:  # an IPv6 address without its ']'
        parts, hostname = urllib.parse.urlsplit(""), None
    if parts.scheme not in ("http", "https") or not hostname:
        raise UsageError(f"remote URL {redact_url(url)!r} is not an http(s) URL; fix: e.g. "
                         "https://conan.example.com/artifactory/api/conan/edge (Artifactory) or "
                         "http://127.0.0.1:9300 (conan_server)")
    if parts.username or parts.password:
        raise UsageError("the remote URL carries credentials; they would be stored in the Conan "
                         "home in clear. Fix: give the URL without user:password@ and log in with "
                         "`./edgeforge remote login NAME --user USER` (password from "
                         "CONAN_PASSWORD_<NAME> or a prompt)")
    if parts.query or parts.fragment:
        raise UsageError(f"remote URL {redact_url(url)!r} has a '?' query or a '#' fragment (a "
                         "token there would be stored in the Conan home in clear); fix: give the "
                         "repository's URL alone and log in with `./edgeforge remote login NAME "
                         "--user USER`")
    return url


def add_argv(name: str, url: str) -> list[str]:
    return ["conan", "remote", "add", name, url, "--force"]


def login_argv(name: str, user: str) -> list[str]:
    return ["conan", "remote", "login", name, user]  # the password comes from the environment


def upload_argv(pkglist: Path, remote: str, no_backup_dir: Path) -> list[str]:
    # the source archives live in edgeforge's mirror, shared by URL (EDGEFORGE_SOURCE_MIRROR_URL),
    # not as Conan "backup sources": an empty download cache keeps Conan from uploading them
    return ["conan", "upload", "--list", str(pkglist), "-r", remote, "--confirm",
            "--metadata", f"{LOCK_METADATA}/*", "--format=json",
            "-cc", f"core.sources:download_cache={no_backup_dir}"]


def package_list(deps: DepsResult, prevs: dict[tuple[str, str], str]) -> dict:
    """Conan's package-list JSON for the board's graph: each recipe revision and each binary
    (with its package revision) the build used."""
    out: dict = {}
    for node in deps.nodes:
        name, rrev = node.ref.split("#", 1)
        entry = out.setdefault(name, {"revisions": {}})["revisions"].setdefault(
            rrev, {"packages": {}})
        prev = prevs.get((node.ref, node.package_id))
        if prev:
            entry["packages"][node.package_id] = {"revisions": {prev: {}}}
    return {"Local Cache": out}


# ---- running ---------------------------------------------------------------------------------------
def _conan(ctx: Context, runner: Runner, argv: Sequence[str], what: str, *,
           remote: str | None = None, user: str | None = None, extra_env: dict | None = None,
           echo: bool = True):
    ensure_conan_home_files(ctx)
    env = conan_env(ctx, credentials=True)
    env.update(extra_env or {})
    try:
        return runner.run(argv, env=env, what=what, echo=echo)
    except CommandFailedError as exc:
        known = classify_failure("\n".join(exc.tail), remote or "?", user) if remote else None
        if known:
            raise RemoteError(f"{what}: {known} (log: {exc.log_path})") from None
        raise


def list_remotes(ctx: Context, runner: Runner) -> list[Remote]:
    result = _conan(ctx, runner, ["conan", "remote", "list", "--format=json"],
                    "list the Conan remotes", echo=False)
    text = result.output[result.output.find("["):]
    try:
        data = json.loads(text)
    except ValueError:
        raise RemoteError(f"cannot read `conan remote list` output (log: {result.log_path})") \
            from None
    return [Remote(r["name"], r["url"], bool(r.get("enabled", True))) for r in data]


def find(ctx: Context, runner: Runner, name: str | None) -> Remote:
    remotes = list_remotes(ctx, runner)
    if not remotes:
        raise UsageError("no Conan remote is configured; fix: `./edgeforge remote add NAME URL`")
    if name is None:
        enabled = [r for r in remotes if r.enabled]
        if len(enabled) != 1:
            raise UsageError("several remotes are configured ("
                             + ", ".join(r.name for r in remotes) + "); fix: name one with "
                             "--remote NAME")
        return enabled[0]
    for r in remotes:
        if r.name == name:
            return r
    raise UsageError(f"no remote named {name!r} (configured: "
                     f"{', '.join(r.name for r in remotes)}); fix: `./edgeforge remote add {name} URL`")


def add(ctx: Context, runner: Runner, name: str, url: str) -> Remote:
    check_name(name)
    check_url(url)
    with conan_lock(ctx):
        _conan(ctx, runner, add_argv(name, url), f"add remote {name}")
    if url.startswith("http://") and urllib.parse.urlsplit(url).hostname not in (
            "127.0.0.1", "localhost", "::1"):
        ctx.reporter.warn(f"remote {name} is plain HTTP: logins and binaries cross the network "
                          "unencrypted; use https outside a trusted network")
    return Remote(name, url)


def remove(ctx: Context, runner: Runner, name: str) -> None:
    find(ctx, runner, check_name(name))
    with conan_lock(ctx):
        _conan(ctx, runner, ["conan", "remote", "remove", name], f"remove remote {name}")


def enable(ctx: Context, runner: Runner, name: str, on: bool) -> None:
    find(ctx, runner, check_name(name))
    with conan_lock(ctx):
        _conan(ctx, runner, ["conan", "remote", "enable" if on else "disable", name],
               f"{'enable' if on else 'disable'} remote {name}")


def login(ctx: Context, runner: Runner, name: str, user: str, password: str) -> None:
    remote = find(ctx, runner, check_name(name))
    if not user:
        raise UsageError("no user given; fix: `./edgeforge remote login NAME --user USER`")
    if not password:
        raise UsageError(f"no password for {user!r}: set {password_var(name)} (or "
                         "EDGEFORGE_CONAN_PASSWORD), or run the command in a terminal to be asked")
    with conan_lock(ctx):
        _conan(ctx, runner, login_argv(remote.name, user), f"log in to remote {name}",
               remote=name, user=user, extra_env={password_var(name): password})


def _prevs(ctx: Context, runner: Runner, deps: DepsResult) -> dict[tuple[str, str], str]:
    """The package revision of each binary of the graph in the local cache."""
    out: dict[tuple[str, str], str] = {}
    for node in deps.nodes:
        r = _conan(ctx, runner, ["conan", "list", f"{node.ref}:{node.package_id}#latest",
                                 "--format=json"], f"find {node.name}'s binary", echo=False)
        try:
            data = json.loads(r.output[r.output.find("{"):])
        except ValueError:
            raise RemoteError(f"cannot read `conan list` output for {node.name} "
                              f"(log: {r.log_path})") from None
        revs = data.get("Local Cache", {}).get(node.ref.split("#")[0], {}).get("revisions", {})
        pkgs = revs.get(node.ref.split("#", 1)[1], {}).get("packages", {})
        prevs = pkgs.get(node.package_id, {}).get("revisions", {})
        if prevs:
            out[(node.ref, node.package_id)] = next(iter(prevs))
    return out


def push(ctx: Context, runner: Runner, board: str, remote_name: str | None) -> dict:
    """Upload the board's recipes, binaries and lockfile; returns what went where."""
    record = ctx.layout(board).deps_record
    deps = DepsResult.read(record)  # checked: its lockfile is uploaded
    if not deps:
        raise UsageError(f"no dependency build recorded for {board} ({record}); fix: "
                         f"`invoke build --board {board}` first")
    remote = find(ctx, runner, remote_name)
    with conan_lock(ctx):
        prevs = _prevs(ctx, runner, deps)
        missing = [f"{n.name} ({n.context})" for n in deps.nodes if (n.ref, n.package_id) not in prevs]
        if missing:
            raise UsageError(f"the Conan cache lacks binaries of {board}'s graph: "
                             f"{', '.join(missing)}; fix: `invoke build --board {board}` first")
        _attach_lockfile(ctx, runner, deps, board)
        with tempfile.TemporaryDirectory(prefix="edgeforge-push-") as tmp:
            pkglist = Path(tmp) / "pkglist.json"
            write_atomic(pkglist, json.dumps(package_list(deps, prevs), indent=1))
            (Path(tmp) / "no-backup").mkdir()
            with ctx.reporter.step(f"upload {board}'s graph ({len(deps.nodes)} binaries) to "
                                   f"remote {remote.name}"):
                _conan(ctx, runner, upload_argv(pkglist, remote.name, Path(tmp) / "no-backup"),
                       f"upload {board}'s packages to {remote.name}", remote=remote.name)
    refs = sorted({n.ref for n in deps.nodes})
    ctx.reporter.info(f"pushed to {remote.name}: {len(refs)} recipes, {len(deps.nodes)} binaries "
                      f"({', '.join(f'{n.name}:{n.package_id[:8]}' for n in deps.nodes)}), "
                      f"lockfile as metadata {LOCK_METADATA}/{board}/conan.lock")
    return {"remote": remote.name, "recipes": refs,
            "binaries": [f"{n.ref}:{n.package_id}" for n in deps.nodes]}


def _attach_lockfile(ctx: Context, runner: Runner, deps: DepsResult, board: str) -> None:
    """The board's lockfile goes with the root recipes as Conan metadata, so another machine
    can fetch the exact graph (`conan download REF --metadata='edgeforge/*'`)."""
    lock = Path(deps.lockfile)
    if not lock.is_file():
        return
    names = {r.split("/", 1)[0] for r in root_requires(ctx.project_root)}
    roots = sorted({n.ref for n in deps.nodes if n.context == "host" and n.name in names})
    for ref in roots:
        r = _conan(ctx, runner, ["conan", "cache", "path", ref, "--folder=metadata"],
                   f"metadata folder of {ref}", echo=False)
        folder = Path(r.output.strip().splitlines()[-1]) / LOCK_METADATA / board
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / "conan.lock", lock.read_text())


STATE = {"Cache": "in the local cache", "Download": "on a remote: will be downloaded",
         "Update": "on a remote: will be downloaded", "Build": "missing: will be built here",
         "Missing": "missing: will be built here", "Skip": "not needed"}


def status(ctx: Context, runner: Runner, board: str, host: Path, build: Path) -> list[PackageNode]:
    """What `invoke build` would do with each package of the board's graph, without doing it."""
    with conan_lock(ctx), tempfile.TemporaryDirectory(prefix="edgeforge-status-") as tmp:
        # a look only: the board's own lockfile and build order stay as its last build left them
        _requires, _lock, nodes = graph_order(ctx, board, host, build, runner, Path(tmp))
    for n in nodes:
        ctx.reporter.info(f"  {n.name}/{n.version} ({n.context}) {n.package_id[:12]}: "
                          f"{STATE.get(n.binary, n.binary)}")
    return nodes
