"""Configure, build and install a CMake project with a generated toolchain file."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from edgeforge.core import Runner, base_env
from edgeforge.toolchain import TEMPLATE_DIR, pathnames


def configure_argv(source: Path, build: Path, toolchain: Path, build_type: str,
                   prefix: Path, launcher: str | None = None,
                   extra: tuple[str, ...] = ()) -> list[str]:
    argv = [
        "cmake", "-S", str(source), "-B", str(build), "-G", "Ninja",
        f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
        f"-DCMAKE_BUILD_TYPE={build_type}",
        f"-DCMAKE_INSTALL_PREFIX={prefix}",
    ]
    if launcher:
        argv += [f"-DCMAKE_C_COMPILER_LAUNCHER={launcher}",
                 f"-DCMAKE_CXX_COMPILER_LAUNCHER={launcher}"]
    return [*argv, *extra]


def build_argv(build: Path, jobs: int | None = None) -> list[str]:
    argv = ["cmake", "--build", str(build)]
    if jobs:
        argv += ["--parallel", str(jobs)]
    return argv


def install_argv(build: Path, prefix: Path) -> list[str]:
    return ["cmake", "--install", str(build), "--prefix", str(prefix)]


def ccache_env(ccache_dir: Path, *path_scheme: Path) -> dict[str, str]:
    """ccache settings for every build edgeforge runs: one cache directory (in edgeforge's
    cache).

    No base_dir: ccache would hand the compiler paths relative to the build folder, and a
    relative path (../../../root/.cache/edgeforge/sysroots/...) escapes the compiler's
    -ffile-prefix-map and puts the build folder's depth into the debug information. With
    absolute paths every folder gets its fixed name and the objects are the same bytes from any
    checkout. ccache does not hash -ffile-prefix-map either, so an object compiled under other
    map names could come back from the cache: the files that define the names (the compiler
    wrapper's template, and `path_scheme`, e.g. the app's conanfile) name a cache namespace of
    their own."""
    digest = hashlib.sha256((TEMPLATE_DIR / "compiler-wrapper.sh.j2")
                            .read_bytes())
    for f in path_scheme:
        digest.update(f.read_bytes())
    return {"CCACHE_DIR": str(ccache_dir), "CCACHE_NAMESPACE": f"edgeforge-{digest.hexdigest()[:12]}"}


def cmake_env(ccache_dir: Path | None) -> dict[str, str]:
    return base_env(ccache_env(ccache_dir, Path(__file__)) if ccache_dir else {})


def project_path_maps(name: str, source: Path, build: Path) -> list[str]:
    """Fixed names for a project's source and build folders in its objects (__FILE__, debug
    information): ccache hands the compiler paths relative to the build folder, and the
    working folder is the build folder, so both spellings of both get a name."""
    src, out = pathnames.project_source(name), pathnames.project_build(name)
    return [f"-ffile-prefix-map={source}={src}",
            f"-ffile-prefix-map={os.path.relpath(source, build)}={src}",
            f"-ffile-prefix-map={build}={out}"]


def build_project(runner: Runner, *, name: str, board: str, source: Path, build: Path,
                  toolchain: Path, build_type: str, prefix: Path,
                  ccache_dir: Path | None = None, extra: tuple[str, ...] = (),
                  install_into: Path | None = None) -> None:
    """Configure with `prefix` (where the program runs) and install into `install_into`
    (default: the prefix itself)."""
    launcher = "ccache" if ccache_dir and shutil.which("ccache") else None
    env = cmake_env(ccache_dir if launcher else None)
    # CMake starts CMAKE_<LANG>_FLAGS from these (before the toolchain's own): the same
    # project gives the same bytes from any checkout and build folder
    maps = " ".join(project_path_maps(name, source.absolute(), build.absolute()))
    env = {**env, "CFLAGS": maps, "CXXFLAGS": maps}
    needed = f"building {name} for {board}"
    runner.run(configure_argv(source, build, toolchain, build_type, prefix, launcher, extra),
               what=f"configure {name} for {board}", needed_by=needed, env=env)
    runner.run(build_argv(build), what=f"compile {name} for {board}", needed_by=needed, env=env)
    runner.run(install_argv(build, install_into or prefix), what=f"install {name} for {board}",
               needed_by=needed, env=env)
