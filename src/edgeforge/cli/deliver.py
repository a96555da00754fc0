"""Tasks of the deliver wing: a board's release (and the team's registry push) and its SDK."""

from __future__ import annotations

from invoke import task

from edgeforge import pipeline
from edgeforge.core import UsageError
from edgeforge.deliver import ReleaseOptions

from ._common import APP_HELP, APPS_HELP, handled, new_context, resolve_target, team_wing


@task(iterable=["board"], help={
    "board": "board name (repeat for several boards: one OCI image index holds them all)",
    "version": "release version (default: the app's version and the commit, from git)",
    "sign-key": "gpg key (id or fingerprint) to sign SHA256SUMS with "
                "(default: EDGEFORGE_SIGNING_KEY; unsigned without one)",
    "check-reproducible": "build the release a second time in another folder and compare",
    "sdk": "also ship the board's SDK archive (as `invoke sdk` writes it), listed in the SBOM",
    "dry-run": "print the plan, do nothing",
    "push": "then push the container image (several boards: the image index) to "
            "REGISTRY/REPO[:TAG] (tag: the version); credentials from EDGEFORGE_REGISTRY_USER "
            "and EDGEFORGE_REGISTRY_PASSWORD, or an auth file (REGISTRY_AUTH_FILE, docker login)",
    "app": APPS_HELP,
})
@handled
def release(c, board=None, version=None, sign_key=None, check_reproducible=False, sdk=False,
            dry_run=False, push=None, app=None):
    """Build what is not up to date, then write each app's release for the board.

    Into dist/<board>/<app>/<version>/ (only --app's, when given). A release holds the
    container image, the installers, the SBOM, legal/, SHA256SUMS and release.json."""
    ctx = new_context()
    opts = ReleaseOptions(version=version, sign_key=sign_key, sdk=bool(sdk))
    targets = [resolve_target(ctx, b) for b in (board or [None])]
    team = team_wing() if push is not None else None
    push_to = team.push_destination(push) if team else None  # checked before building
    apps = [a.name for a in pipeline.apps_for(ctx, app, release=opts) if a is not None]
    if push_to and len(apps) > 1:
        raise UsageError(f"--push sends one app's image; the project has {len(apps)} apps "
                         f"({', '.join(apps)}): name the one to push with --app NAME")
    if dry_run:
        for name in apps:
            for t in targets:
                ctx.reporter.info(pipeline.board_plan(ctx, t, release=opts, app=name).render())
        if push_to:
            ctx.reporter.info(team.describe_push(push_to, [t.name for t in targets]))
        return
    for name in apps:
        folders = [pipeline.release(ctx, t, opts, app=name) for t in targets]
        has_image = ctx.app(name).spec.deliver.container_image is not None
        index = pipeline.release_index(ctx, folders) if len(folders) > 1 and has_image else None
        if index:
            ctx.reporter.info(f"multi-board image index of {name}: {index}")
        if check_reproducible:
            for t, folder in zip(targets, folders, strict=True):
                pipeline.check_reproducible(ctx, t, opts, folder, app=name)
        if push_to:
            team.push_release(ctx, push_to, targets[0].name, folders[0], index)


@task(help={"board": "board name",
            "compiler": "override the board's compiler descriptor",
            "sysroot": "override the board's sysroot descriptor",
            "app": APP_HELP})
@handled
def sdk(c, board=None, compiler=None, sysroot=None, app=None):
    """Write the board's relocatable SDK archive into dist/<board>/, for building without edgeforge.

    The archive holds the sysroot with the built dependency packages installed into it, the
    toolchain files, the environment script and a README."""
    ctx = new_context()
    pipeline.sdk(ctx, resolve_target(ctx, board, compiler, sysroot), app=app)
