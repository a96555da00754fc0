"""The plan composer: a board's whole plan, in one place (like mkosi's build_image()).

    build:    sysroot -> toolchain -> smoke -> deps -> app -> manifest        (build/board.py)
    release:  image -> deb | rpm | run -> dbg [-> sdk]                         (deliver/formats.py)
    device:   [rootfs -> twin [-> l4t-rootfs | raspi-sd]]                     (device/steps.py)
    release:  sbom -> legal -> release                                         (deliver/formats.py)

Each step declares what it depends on and what it writes (core/steps.py); `invoke build` runs
the steps that are not up to date, `--dry-run` prints the same plan with each step's state, and
the tasks that do part of the job (`invoke sysroot`, `toolchain`, `deps`) run the plan up to
their step. This is the one module that puts steps of several wings into a Plan.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath

from edgeforge.build import (
    BoardBuild,
    NativeBuild,
    Prepared,
    gate_policy,
    prepare,
    run_app_tests,
    run_native_ctest,
)
from edgeforge.config import App, Target
from edgeforge.context import Context
from edgeforge.core import Execution, Plan, ReproducibilityError, UsageError
from edgeforge.deliver import (
    ARTEFACTS,
    DOCUMENTS,
    Release,
    ReleaseOptions,
    release_steps,
    write_board_sdk,
    write_release_index,
)
from edgeforge.deps import DepsResult
from edgeforge.device import DEVICE_FORMATS, image_apps
from edgeforge.toolchain import ensure_sysroot

__all__ = [
    "BOARD_STEPS",
    "Prepared",
    "app_for",
    "apps_for",
    "board_plan",
    "board_plans",
    "build",
    "build_native",
    "build_some_deps",
    "check_reproducible",
    "differing_files",
    "gate_policy",
    "native_plan",
    "prepare",
    "release",
    "release_index",
    "run_tests",
    "run_until",
    "sdk",
]


# ---- a board's plan ------------------------------------------------------------------------------
#: the board's own steps: a plan up to one of them builds no app, so it needs no --app
BOARD_STEPS = ("sysroot", "toolchain", "smoke")


def app_for(ctx: Context, app: str | None, with_deps: bool = True,
            release: ReleaseOptions | None = None) -> App | None:
    """The app a board's plan builds or ships: `app` (--app), else EDGEFORGE_APP, else the
    project's only one. None where none is built: a smoke-only build, or the board's own steps
    in a project without apps, need no app descriptor."""
    if release is not None or (with_deps and (app or ctx.apps())):
        return ctx.app(app)
    return None


def apps_for(ctx: Context, app: str | None, with_deps: bool = True,
             release: ReleaseOptions | None = None) -> tuple[App | None, ...]:
    """The apps of a board's plans, one plan each, for the commands that take several (build,
    test, release): the one `app` (--app) or EDGEFORGE_APP names, else every app of the
    project. (None,): the board's own steps alone (a smoke-only build, a project without
    apps); a release needs an app."""
    if release is None and not with_deps:
        return (None,)
    chosen = ctx.chosen_apps(app)
    if not chosen and release is not None:
        return (ctx.app(app),)  # the message that names the missing apps/<name>/app.yaml
    return chosen or (None,)


def board_plans(ctx: Context, target: Target, with_deps: bool = True,
                release: ReleaseOptions | None = None, *, app: str | None = None) -> list[Plan]:
    """The board's plans: one per app (`apps_for`); they share the board's own steps."""
    return [_board_plan(ctx, target, a, with_deps, release)
            for a in apps_for(ctx, app, with_deps, release)]


def board_plan(ctx: Context, target: Target, with_deps: bool = True,
               release: ReleaseOptions | None = None, *, deps_tests: bool = False,
               app: str | None = None) -> Plan:
    """The board's steps: its build, then (with `release`) the release and device steps;
    `app`: the app's name (--app)."""
    return _board_plan(ctx, target, app_for(ctx, app, with_deps, release), with_deps, release,
                       deps_tests=deps_tests)


def _board_plan(ctx: Context, target: Target, app: App | None, with_deps: bool = True,
                release: ReleaseOptions | None = None, *, deps_tests: bool = False) -> Plan:
    board = BoardBuild(ctx, target, app, with_deps=with_deps, deps_tests=deps_tests)
    steps = board.steps()  # sysroot, toolchain, smoke, [deps, app], manifest
    if release is not None:
        assert app is not None
        rel = Release.create(ctx, target, app, board.runner, release)
        formats = (
            *ARTEFACTS,        # image, deb | rpm | run, dbg, [sdk]
            *DEVICE_FORMATS,   # [rootfs, twin, l4t-rootfs | raspi-sd] (with `invoke image`)
            *DOCUMENTS,        # sbom, legal: they describe everything before them
        )
        steps += release_steps(rel, formats)  # ... and `release`, which assembles the folder
    return Plan(target.name, steps, board.layout.stamps)


def build(ctx: Context, target: Target, force: bool = False, with_deps: bool = True, *,
          app: str | None = None) -> list[Path]:
    """Run the board's plans: the app named `app` (--app), else every app (`apps_for`);
    returns their manifests."""
    return [_build(ctx, target, a, force and i == 0, with_deps, rerun_own=force and i > 0)
            for i, a in enumerate(apps_for(ctx, app, with_deps))]


def _build(ctx: Context, target: Target, app: App | None, force: bool = False,
           with_deps: bool = True, *, rerun_own: bool = False) -> Path:
    """One app's plan (`force`: every step; `rerun_own`: the app's own steps, when the board's
    shared steps were forced for the app before it)."""
    ctx.reporter.info(target.describe_resolution())
    plan = _board_plan(ctx, target, app, with_deps)
    ctx.reporter.info(plan.render())
    layout = ctx.layout(target.name, app.name if app else "")
    own = tuple(s.name for s in plan.steps if s.scope) if rerun_own else ()
    ex = plan.execute(ctx.reporter, force=force, rerun=own)
    manifest = ex["manifest"]
    if app is not None and any(s.name == "app" for s in plan.steps):
        ctx.reporter.info(app_summary(app, ex["app"]))
    ctx.reporter.info(f"outputs: {layout.root}\n  smoke program: {layout.smoke / 'bin' / 'smoke'}\n"
                      f"  toolchain files: {layout.toolchain}\n  manifest: {manifest}")
    return manifest


def run_tests(ctx: Context, target: Target, frames: int, *, app: str | None = None) -> None:
    """`invoke test`: for the app named `app` (--app), else for every app: build what is not
    up to date (nothing runs when it is), then its test suite under qemu-user and its smoke
    run of `frames` frames."""
    chosen = ctx.chosen_apps(app) or (ctx.app(app),)
    for a in chosen:
        _build(ctx, target, a)
        run_app_tests(ctx, a, target, frames)


def app_summary(app: App, folder: Path) -> str:
    """Where the built app's program, libraries and models are."""
    models = sorted({str(PurePosixPath(d.install).parent) for d in app.spec.data
                     if d.kind == "model"})
    return (f"app: {folder / app.program} (libraries in {folder / 'lib'}"
            + "".join(f", model in {folder / m}" for m in models) + ")")


def release(ctx: Context, target: Target, opts: ReleaseOptions, *,
            app: str | None = None) -> Path:
    """Build what is not up to date, then the board's release of `app` (--app; EDGEFORGE_APP;
    the only app); returns its folder."""
    chosen = app_for(ctx, app, release=opts)
    assert chosen is not None  # a release has its app
    ctx.reporter.info(target.describe_resolution())
    if opts.device:  # the other apps the device image holds: their .debs first
        for other in image_apps(ctx, chosen):
            packages_of(ctx, target, other, opts, chosen.device_image)
    plan = _board_plan(ctx, target, chosen, release=opts)
    ctx.reporter.info(plan.render())
    return plan.execute(ctx.reporter)["release"]


def packages_of(ctx: Context, target: Target, app: App, opts: ReleaseOptions,
                definition: str) -> None:
    """`app`'s plan up to its .deb (its own version; no device image, no SDK of its own)."""
    plan = _board_plan(ctx, target, app,
                       release=replace(opts, version=None, device=False, sdk=False))
    if "deb" not in [s.name for s in plan.steps]:
        raise UsageError(f"{definition} holds {app.name}, which gets no .deb for "
                         f"{target.name} (deliver.formats in {app.rel}/app.yaml, installers: "
                         "in the board's descriptor); add deb or remove it from apps:")
    with ctx.reporter.step(f"{app.name}'s package for {target.name} (the device image holds it)"):
        ctx.reporter.info(plan.render(upto="deb"))
        plan.execute(ctx.reporter, upto="deb")


def graph_app(ctx: Context) -> App:
    """An app whose plan holds the board's Conan graph (the graph is the project's, the same in
    every plan): the first app built with Conan."""
    for a in ctx.apps():
        if a.spec.build.kind == "conan":
            return a
    raise UsageError(f"no app of {ctx.project_root} builds with Conan (build.kind: conan in "
                     "apps/<name>/app.yaml): nothing uses a dependency graph")


def run_until(ctx: Context, target: Target, step: str, *, rerun: tuple[str, ...] = (),
              deps_tests: bool = False) -> Execution:
    """Run the board's plan up to one step (and what it needs); returns the results. Up to one
    of the board's own steps (sysroot, toolchain, smoke) the plan holds no app; beyond them
    (the Conan graph), the plan of an app that builds with it."""
    app = None if step in BOARD_STEPS else graph_app(ctx)
    plan = _board_plan(ctx, target, app, step not in BOARD_STEPS, deps_tests=deps_tests)
    return plan.execute(ctx.reporter, upto=step, rerun=rerun)


def build_some_deps(ctx: Context, target: Target, only: frozenset[str], *,
                    deps_tests: bool = False) -> DepsResult:
    """`invoke deps --only`: the named packages of the board's graph (one level of a CI
    pipeline). deps.json records just them (what `invoke cache push` uploads next); the deps
    step is not stamped, and its changed output makes the next build check the whole graph."""
    board = BoardBuild(ctx, target, graph_app(ctx), deps_tests=deps_tests)
    ex = Plan(target.name, board.steps(), board.layout.stamps).execute(ctx.reporter,
                                                                       upto="toolchain")
    return board.some_deps(ex, only)


def sdk(ctx: Context, target: Target, *, app: str | None = None) -> Path:
    """`invoke sdk`: the board's SDK archive, with the find_package() files of `app`'s build
    (--app); returns the archive."""
    chosen = ctx.app(app)
    runner = ctx.runner(target.name)
    prepared = prepare(ctx, target, ensure_sysroot(ctx, target.sysroot, target.name), runner)
    return write_board_sdk(ctx, target, chosen, prepared.toolchain.inputs, runner)


# ---- the build machine (x86_64): parity and sanitizer builds ------------------------------------
def native_plan(ctx: Context, *, sanitize: str | None = None, app: str | None = None) -> Plan:
    return _native_plan(ctx, ctx.app(app), sanitize)


def _native_plan(ctx: Context, app: App, sanitize: str | None) -> Plan:
    if app.spec.build.kind != "conan":
        raise UsageError(f"{app.name} is a {app.spec.build.kind} app: `invoke native` builds "
                         "apps that build with Conan (build.kind: conan) for this machine; "
                         f"build and test {app.name} for a board (`invoke test --board B --app "
                         f"{app.name}`)")
    native = NativeBuild(ctx, app, sanitize)
    return Plan(native.title, native.steps(), native.layout.stamps)


def build_native(ctx: Context, *, sanitize: str | None = None, test: bool = False,
                 app: str | None = None) -> Path:
    """Build the dependency graph and the app (--app) for this machine (x86_64), then with
    `test` run its native ctest suite; returns the app folder."""
    chosen = ctx.app(app)
    plan = _native_plan(ctx, chosen, sanitize)
    ctx.reporter.info(plan.render())
    ex = plan.execute(ctx.reporter)
    final = ex[plan.steps[-1].name]
    ctx.reporter.info(f"native app: {final / chosen.program}")
    if test:
        run_native_ctest(ctx, chosen, final.name)
    return final


# ---- several boards, and reproducibility ---------------------------------------------------------
def release_index(ctx: Context, folders: list[Path]) -> Path:
    """One OCI image layout holding every released board's image (an image index by platform),
    written beside the boards' releases: dist/index/<app>/<version>/."""
    return write_release_index(ctx.dist_root, folders)


def differing_files(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees (missing on one side, or other bytes)."""
    def files(root: Path) -> dict[str, Path]:
        return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}

    fa, fb = files(a), files(b)
    out = sorted(set(fa) ^ set(fb))
    out += sorted(rel for rel in set(fa) & set(fb)
                  if fa[rel].stat().st_size != fb[rel].stat().st_size
                  or fa[rel].read_bytes() != fb[rel].read_bytes())
    return sorted(out)


def check_reproducible(ctx: Context, target: Target, opts: ReleaseOptions, folder: Path, *,
                       app: str | None = None) -> Path:
    """Build the same release again in another build folder (so build paths differ) and
    compare it with `folder` byte for byte; on a mismatch name the files (and let diffoscope
    explain the first ones when it is installed)."""
    second_root = ctx.reproducible_root
    second = Context.create(project_root=ctx.project_root, cache_dir=ctx.cache_dir,
                            build_root=second_root, dist_root=second_root / "dist",
                            reporter=ctx.reporter)
    with ctx.reporter.step(f"rebuilding the {target.name} release in {second_root} to compare"):
        other = release(second, target, opts, app=app)
    diffs = differing_files(folder, other)
    if not diffs:
        ctx.reporter.info(f"reproducible: {folder} and {other} are byte-identical")
        return other
    runner = ctx.runner(target.name)
    explained = []
    for rel in diffs[:3]:
        if shutil.which("diffoscope") and (folder / rel).is_file() and (other / rel).is_file():
            r = runner.run(["diffoscope", str(folder / rel), str(other / rel)],
                           what=f"diffoscope {rel}", check=False, timeout=600)
            explained.append(f"{rel}: {r.log_path}")
    raise ReproducibilityError(
        f"the {target.name} release is not reproducible: {len(diffs)} files differ between "
        f"{folder} and {other}: {', '.join(diffs[:10])}"
        + (f"; diffoscope reports: {'; '.join(explained)}" if explained else ""))
