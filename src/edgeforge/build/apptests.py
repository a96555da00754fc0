"""`invoke test` and `invoke native --test`: the app's ctest suite (under qemu-user for a
board), then, for a board, a smoke run of the installed app on the sample video."""

from __future__ import annotations

from edgeforge.config import Target
from edgeforge.context import Context
from edgeforge.core import CheckFailedError
from edgeforge.deps import conan_env
from edgeforge.toolchain import ensure_sysroot
from edgeforge.verify import capture_emulated

from .app import APP_NAME, NATIVE, SAMPLE_VIDEO, check_smoke_output, run_ctest, smoke_args
from .samples import sample


def run_app_tests(ctx: Context, t: Target, frames: int = 16) -> None:
    """ctest of the board's built app, then a smoke run of `frames` frames; a failed one is a
    CheckFailedError."""
    runner = ctx.runner(t.name)
    layout = ctx.layout(t.name)
    with ctx.reporter.step(f"ctest for {APP_NAME} on {t.name} (under qemu-user)"):
        ctx.reporter.info(run_ctest(ctx, layout.app_build(APP_NAME), runner, conan_env(ctx),
                                    t.name))
    installed = layout.app(APP_NAME)
    video = sample(ctx, SAMPLE_VIDEO)
    info = ensure_sysroot(ctx, t.sysroot, t.name)
    with ctx.reporter.step(f"smoke run of {APP_NAME} on {video.name} ({frames} frames)"):
        out = layout.smoke_run
        out.unlink(missing_ok=True)
        result = capture_emulated(runner, t.arch, t.name, info.path, installed / "bin" / APP_NAME,
                                  smoke_args(installed, video, frames, out), what="smoke run")
        if result.returncode != 0 or not out.is_file():
            raise CheckFailedError(f"smoke run exited {result.returncode}; log: {result.log_path}")
        seen = check_smoke_output(out.read_text(), frames)
        ctx.reporter.info(f"{seen['frames']} frames, {seen['people']} person detections "
                          f"(JSON Lines: {out})")
        for line in result.output.splitlines():
            if line.startswith("edge-infer:"):
                ctx.reporter.info(line)


def run_native_ctest(ctx: Context, name: str) -> None:
    """The native build's ctest suite (`name`: the app's folder, edge-infer or a variant)."""
    with ctx.reporter.step(f"ctest for {name} (native)"):
        ctx.reporter.info(run_ctest(ctx, ctx.layout(NATIVE).app_build(name), ctx.runner(NATIVE),
                                    conan_env(ctx), NATIVE))
