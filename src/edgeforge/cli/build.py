"""Tasks of the build wing: a board cross-built (or part of it), its dependency graph and
sources, the app tested, and the user's own programs run and gated."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit, task

from edgeforge import pipeline
from edgeforge.build import sample as sample_path
from edgeforge.config import scaffold
from edgeforge.core import UsageError
from edgeforge.deps import fill_and_show_mirror, parse_only, recipe_names, show_deps
from edgeforge.toolchain import ensure_sysroot
from edgeforge.verify import gate_files, gate_targets, run_program

from ._common import APP_HELP, APPS_HELP, handled, new_context, number, remainder, resolve_target


@task(help={
    "board": "board name (default: toolchains/defaults.yaml)",
    "compiler": "override the board's compiler descriptor",
    "sysroot": "override the board's sysroot descriptor",
    "build-type": "Release, Debug, RelWithDebInfo or MinSizeRel",
    "dry-run": "print the resolution and the plan, do nothing",
    "force": "rebuild even when the plan is up to date",
    "smoke-only": "toolchain check only: sysroot, toolchain files, smoke program (no Conan deps)",
    "app": APPS_HELP,
})
@handled
def build(c, board=None, compiler=None, sysroot=None, build_type=None, dry_run=False,
          force=False, smoke_only=False, app=None):
    """Cross-build everything for a board; each app's outputs recorded in its manifest.json."""
    ctx = new_context()
    t = resolve_target(ctx, board, compiler, sysroot, build_type)
    if dry_run:
        ctx.reporter.info(t.describe_resolution())
        for plan in pipeline.board_plans(ctx, t, not smoke_only, app=app):
            ctx.reporter.info(plan.render())
        return
    pipeline.build(ctx, t, force=force, with_deps=not smoke_only, app=app)


@task(help={"board": "board name",
            "test": "also run the test_package of packages that were already built",
            "only": "build only these packages of the graph (recipe names, comma-separated: "
                    "one level of `invoke ci`'s pipeline); their dependencies must be built "
                    "or on the team's remote"})
@handled
def deps(c, board=None, compiler=None, sysroot=None, build_type=None, test=False, only=None):
    """Cross-build the dependency graph (FFmpeg, ...) for a board with Conan."""
    ctx = new_context()
    t = resolve_target(ctx, board, compiler, sysroot, build_type)
    ctx.reporter.info(t.describe_resolution())
    if only is not None:
        names = parse_only(only, recipe_names(ctx.project_root))
        result = pipeline.build_some_deps(ctx, t, names, deps_tests=test)
    else:
        # the graph is always asked again (seconds when everything is cached): `invoke deps`
        # is how a user checks that nothing is missing
        result = pipeline.run_until(ctx, t, "deps", rerun=("deps",), deps_tests=test)["deps"]
    show_deps(ctx, result)


@task
@handled
def sources(c):
    """Fill the offline source mirror and verify every pin.

    The archives come from the team's mirror (EDGEFORGE_SOURCE_MIRROR_URL), else Debian's
    source archive or upstream."""
    fill_and_show_mirror(new_context())


@task(help={"board": "board name",
            "frames": "frames of the sample video for the smoke run (default 16)",
            "app": APPS_HELP})
@handled
def test(c, board=None, frames=None, app=None):
    """Run the app's ctest suite under qemu-user, then a smoke run on the sample video."""
    n = int(number("frames", frames, 16))
    ctx = new_context()
    pipeline.run_tests(ctx, resolve_target(ctx, board), n, app=app)


@task(help={"name": "sample file name (vtest.avi, Megamind.avi)"})
@handled
def sample(c, name="vtest.avi"):
    """Print the path of a sample video (extracted from the pinned OpenCV source archive)."""
    print(sample_path(new_context(), name))


@task(help={"sanitize": "build the app with -fsanitize=address,undefined (into build/host/<app>-asan)",
            "test": "run the native ctest suite afterwards",
            "app": APP_HELP})
@handled
def native(c, sanitize=False, test=False, app=None):
    """Build the dependencies and the app for this x86_64 machine (parity and sanitizer checks)."""
    pipeline.build_native(new_context(), sanitize="address,undefined" if sanitize else None,
                          test=test, app=app)


@task(help={"board": "board name; the program and its arguments follow --",
            "timeout": "kill the program after this many seconds (exit 124)",
            "verbose": "print the qemu-user command line on stderr",
            "app": "run this app's installed program (apps/NAME/; built with `invoke build "
                   "--app NAME`); what follows -- is its arguments"})
@handled
def run(c, board=None, timeout=None, verbose=False, app=None):
    """Run a cross-built program under qemu-user.

    Usage: invoke run --board X -- PROGRAM ARGS...  (or --app NAME -- ARGS...)

    stdin, stdout and the exit code are the program's (pipelines work); edgeforge's own
    messages go to stderr."""
    argv = remainder(c)
    if not argv and not app:
        raise UsageError("nothing to run; usage: invoke run --board X -- PROGRAM [ARGS...] "
                         "(or --app NAME [-- ARGS...])")
    seconds = number("timeout", timeout, seconds=True)
    ctx = new_context()
    ctx.reporter.out = ctx.reporter.err  # stdout is the program's: edgeforge's own go to stderr
    code = run_program(ctx, resolve_target(ctx, board), argv, seconds, verbose, app=app)
    if code != 0:
        raise Exit(code=code)


@task(help={"board": "board name; files (or folders) to check follow --",
            "exclude": "skip files matching this pattern or inside a folder matching it "
                       "(e.g. 'meson-private', '*.exe', 'tests/*'); repeatable",
            "build-tree": "the folders are build trees: programs for the build machine (code "
                          "generators, Meson's sanity checks) are listed, not checked, and "
                          "RUNPATHs into the tree itself are accepted"},
      iterable=["exclude"])
@handled
def gate(c, board=None, exclude=None, build_tree=False):
    """Run the ABI gate on files.

    Usage: invoke gate --board X [--exclude PAT] -- FILE_OR_DIR..."""
    paths = [Path(p).absolute() for p in remainder(c)]
    if not paths:
        raise UsageError("usage: invoke gate --board X [--exclude PATTERN] [--build-tree] -- "
                         "FILE_OR_DIR...")
    ctx = new_context()
    t = resolve_target(ctx, board)
    info = ensure_sysroot(ctx, t.sysroot, t.name)
    found = gate_targets(paths, build_tree)
    policy = pipeline.gate_policy(ctx, t, info.path, found.own).with_build_trees(found.trees)
    gate_files(ctx.reporter, found.files, policy, exclude or (), build_tree)


@task(help={"name": "the new app's name: apps/NAME/ and images/NAME/",
            "kind": "cmake (C++17, the default) or meson (C11)",
            "summary": "its one-line summary",
            "license": "SPDX licence of its code (default Apache-2.0)",
            "maintainer": "'Full Name <mail@example.org>' for its packages"})
@handled
def new_app(c, name=None, kind=None, summary=None, license=None, maintainer=None):
    """Create a new app that builds, tests under qemu and releases for every board as it is.

    apps/NAME/ (app.yaml, sources, unit tests) and images/NAME/ (installer texts, systemd
    unit); nothing is written when the name is taken or refused."""
    ctx = new_context()
    new = scaffold.check(name, kind, summary, license, maintainer)
    folders = scaffold.write(ctx.project_root, new)
    ctx.reporter.info(f"new {new.kind} app {new.name}: "
                      + ", ".join(str(f.relative_to(ctx.project_root)) for f in folders))
    ctx.reporter.info(f"next: ./edgeforge build --board BOARD --app {new.name} && "
                      f"./edgeforge test --board BOARD --app {new.name} && "
                      f"./edgeforge release --board BOARD --app {new.name}")
