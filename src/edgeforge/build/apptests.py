"""`invoke test` and `invoke native --test`: the app's ctest or meson test suite (under
qemu-user for a board, when its descriptor asks for it: tests.ctest, tests.meson_test), then,
for a board, the smoke run its descriptor gives (tests.smoke: an installed program on a
sample)."""

from __future__ import annotations

from edgeforge.config import App, Target
from edgeforge.context import Context
from edgeforge.core import CheckFailedError
from edgeforge.deps import conan_env
from edgeforge.toolchain import ensure_sysroot
from edgeforge.verify import capture_emulated

from .app import NATIVE, check_smoke_output, run_ctest, smoke_args
from .projectapp import run_meson_tests
from .samples import sample


def run_app_tests(ctx: Context, app: App, t: Target, frames: int = 16) -> None:
    """ctest of the board's built app, then a smoke run of `frames` frames; a failed one is a
    CheckFailedError."""
    runner = ctx.runner(t.name)
    layout = ctx.layout(t.name, app.name)
    tests = app.spec.tests
    if tests.ctest:
        with ctx.reporter.step(f"ctest for {app.name} on {t.name} (under qemu-user)"):
            ctx.reporter.info(run_ctest(ctx, app, layout.app_build(app.name), runner,
                                        conan_env(ctx), t.name))
    if tests.meson_test:
        with ctx.reporter.step(f"meson test for {app.name} on {t.name} (under qemu-user)"):
            ctx.reporter.info(run_meson_tests(ctx, app, layout.app_build(app.name), runner,
                                              t.name))
    smoke = tests.smoke
    if smoke is None:
        ctx.reporter.info(f"{app.name} has no smoke run (tests.smoke in {app.rel}/app.yaml)")
        return
    installed = layout.app(app.name)
    video = sample(ctx, smoke.sample)
    info = ensure_sysroot(ctx, t.sysroot, t.name)
    with ctx.reporter.step(f"smoke run of {app.name} on {video.name} ({frames} frames)"):
        out = layout.smoke_run
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        result = capture_emulated(runner, t.arch, t.name, info.path, installed / smoke.program,
                                  smoke_args(smoke, prefix=installed, sample=video,
                                             frames=frames, output=out),
                                  what="smoke run")
        if result.returncode != 0 or not out.is_file():
            raise CheckFailedError(f"smoke run exited {result.returncode}; log: {result.log_path}")
        seen = check_smoke_output(out.read_text(), frames)
        ctx.reporter.info(f"{seen['frames']} frames, {seen['people']} person detections "
                          f"(JSON Lines: {out})")
        # the program's own summary lines on stderr ("<program>: ...")
        program = smoke.program.rsplit("/", 1)[-1]
        for line in result.output.splitlines():
            if line.startswith(f"{program}:"):
                ctx.reporter.info(line)


def run_native_ctest(ctx: Context, app: App, name: str) -> None:
    """The native build's ctest suite (`name`: its folder, the app's name or <app>-<variant>)."""
    if not app.spec.tests.ctest:
        ctx.reporter.info(f"{app.name} has no ctest suite to run (tests.ctest in "
                          f"{app.rel}/app.yaml)")
        return
    with ctx.reporter.step(f"ctest for {name} (native)"):
        ctx.reporter.info(run_ctest(ctx, app, ctx.layout(NATIVE).app_build(name),
                                    ctx.runner(NATIVE), conan_env(ctx), NATIVE))
