"""The app (apps/<app>/, described by its app.yaml): a Conan consumer of the board's locked
dependency graph.

Built with `conan build` against the same lockfile and profiles as the dependencies, installed
into a staging folder with its runtime libraries next to it (RUNPATH $ORIGIN/../lib), gated
and renamed into place. Its ctest suite runs under qemu-user through the toolchain's
CMAKE_CROSSCOMPILING_EMULATOR; a smoke run executes an installed program on a sample, with the
arguments its descriptor gives (tests.smoke).

What edgeforge tells the app's conanfile goes in user confs of one app-neutral namespace
(`CONF`): board, git_revision, sample (the smoke run's sample file, for its tests), sanitize,
compiler_launcher.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import SMOKE_PLACEHOLDERS, App, SmokeSpec
from edgeforge.context import Context
from edgeforge.core import CheckFailedError, Runner, UsageError, gitinfo, rmtree, staging_for

from .cmakebuild import ccache_env
from .samples import sample

#: the Conan conf namespace the app's conanfile reads (`user.edgeforge.app:board`, ...)
CONF = "user.edgeforge.app"


@dataclass(frozen=True)
class AppBuild:
    name: str          # <app>, or <app>-<variant> (its folder name everywhere)
    work: Path         # Conan output folder (build tree, generators)
    staging: Path      # installed program + runtime libraries, before it is gated

    @property
    def build_dir(self) -> Path:
        return self.work / "build"


def git_revision(root: Path, runner: Runner, app: App) -> str:
    """The commit of the app's folder (with -dirty for local changes in it)."""
    return gitinfo.revision(runner, root, (app.rel,))


def conan_build_argv(app_dir: Path, host: Path, build: Path, lockfile: Path, out: Path,
                     confs: dict[str, str]) -> list[str]:
    argv = ["conan", "build", str(app_dir), "-pr:h", str(host), "-pr:b", str(build),
            "--lockfile", str(lockfile), "--build=never", "-of", str(out),
            "--deployer", "runtime_deploy", "--deployer-folder", str(out / "runtime")]
    for key, value in sorted(confs.items()):
        argv += ["-c", f"{key}={value}"]
    return argv


def ctest_argv(build_dir: Path, jobs: int = 2) -> list[str]:
    return ["ctest", "--test-dir", str(build_dir), "--output-on-failure", "--no-tests=error",
            "-j", str(jobs), "--timeout", "900"]


def deploy_runtime(runtime: Path, lib_dir: Path) -> list[str]:
    """Copy the shared libraries Conan's runtime_deploy gathered into the app's lib/."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for p in sorted(runtime.rglob("*.so*")):
        if p.is_dir():
            continue
        dest = lib_dir / p.name
        if p.is_symlink():
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            os.symlink(os.path.basename(os.readlink(p)), dest)
        else:
            shutil.copy2(p, dest)
        copied.append(p.name)
    return copied


def build_app(ctx: Context, app: App, board: str, host: Path, build: Path, lockfile: Path,
              runner: Runner, env: dict[str, str], *, sanitize: str | None = None,
              variant: str = "") -> AppBuild:
    layout = ctx.layout(board)
    name = app.name + (f"-{variant}" if variant else "")
    work = layout.work_for(name)
    confs = {
        f"{CONF}:board": board,
        f"{CONF}:git_revision": git_revision(ctx.project_root, runner, app),
    }
    smoke = app.spec.tests.smoke
    if smoke is not None:
        confs[f"{CONF}:sample"] = str(sample(ctx, smoke.sample))
    if sanitize:
        confs[f"{CONF}:sanitize"] = sanitize
    if shutil.which("ccache"):
        confs[f"{CONF}:compiler_launcher"] = "ccache"
        # the cache every other build uses; the conanfile names the app's source paths
        env = {**env, **ccache_env(ctx.ccache_dir, app.folder / "conanfile.py")}
    # the step runs because an input changed: a fresh build tree (make would keep objects
    # compiled under other flags, prefix maps or cache settings); ccache makes it quick
    rmtree(work)
    with ctx.reporter.step(f"building {name} for {board}"):
        runner.run(conan_build_argv(app.folder, host, build, lockfile, work, confs),
                   env=env, what=f"build {name} for {board}", log_name=f"conan-build-{name}",
                   timeout=3600)
    staging = staging_for(layout.app(name))
    runner.run(["cmake", "--install", str(layout.app_build(name)), "--prefix", str(staging)],
               env=env, what=f"install {name}", echo=False)
    libs = deploy_runtime(work / "runtime", staging / "lib")
    # the build tree mirrors the install layout (RUNPATH $ORIGIN/../lib): ctest runs from it
    deploy_runtime(work / "runtime", layout.app_build(name) / "lib")
    ctx.reporter.info(f"{name}: {len(libs)} runtime libraries deployed next to the program")
    return AppBuild(name, work, staging)


_PLACEHOLDER = re.compile(r"\{(" + "|".join(SMOKE_PLACEHOLDERS) + r")\}")


def smoke_args(smoke: SmokeSpec, *, prefix: Path, sample: Path, frames: int,
               output: Path) -> list[str]:
    """The smoke run's arguments (tests.smoke.args) with {prefix}, {sample}, {frames} and
    {output} replaced; any other text, braces included, stays as it is."""
    values = {"prefix": str(prefix), "sample": str(sample), "frames": str(frames),
              "output": str(output)}
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], word) for word in smoke.args]


def check_smoke_output(stdout: str, frames: int) -> dict:
    """The JSON Lines of a smoke run: one object per frame, in order, with people found."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if len(lines) != frames:
        raise CheckFailedError(f"smoke run printed {len(lines)} JSON lines, expected {frames}")
    people = 0
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if obj.get("frame") != i:
            raise CheckFailedError(f"smoke run line {i + 1} is frame {obj.get('frame')}, expected {i}")
        people += sum(1 for d in obj["detections"] if d["label"] == "person")
    if people == 0:
        raise CheckFailedError("smoke run found no person in the sample video")
    return {"frames": len(lines), "people": people}


def run_ctest(ctx: Context, app: App, build_dir: Path, runner: Runner, env: dict[str, str],
              board: str) -> str:
    if not (build_dir / "CTestTestfile.cmake").is_file():
        raise UsageError(f"{build_dir} holds no ctest suite; run `invoke build --board {board}`")
    result = runner.run(ctest_argv(build_dir), env=env, what=f"ctest for {app.name} on {board}",
                        log_name=f"ctest-{app.name}", timeout=3600)
    summary = [ln for ln in result.output.splitlines() if "tests passed" in ln]
    return summary[-1].strip() if summary else "ctest passed"


NATIVE = "host"  # build/host/: the x86_64 build of the app, for parity checks and sanitizers


def detections(jsonl: str) -> list[list[dict]]:
    return [json.loads(line)["detections"] for line in jsonl.splitlines() if line.strip()]


def compare(a: list[list[dict]], b: list[list[dict]], box_tolerance: float,
            score_tolerance: float) -> list[str]:
    """Differences between two runs' detections (empty = parity). Boxes are matched in order
    (both runs sort by score); a tolerance of 0 demands identical output."""
    problems = []
    if len(a) != len(b):
        problems.append(f"{len(a)} frames vs {len(b)}")
    for i, (fa, fb) in enumerate(zip(a, b, strict=False)):
        if len(fa) != len(fb):
            problems.append(f"frame {i}: {len(fa)} detections vs {len(fb)}")
            continue
        for da, db in zip(fa, fb, strict=False):
            worst = max(abs(x - y) for x, y in zip(da["box"], db["box"], strict=False))
            if worst > box_tolerance or abs(da["score"] - db["score"]) > score_tolerance \
                    or da["label"] != db["label"]:
                problems.append(f"frame {i}: {da} vs {db}")
    return problems
