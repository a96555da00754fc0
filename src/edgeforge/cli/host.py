"""Tasks of the host and toolchain wings: the machine made ready, the boards, their sysroots
and toolchain files, the editors' schemas."""

from __future__ import annotations

from invoke import task

from edgeforge import pipeline
from edgeforge.config import write_editor_schemas
from edgeforge.host import check_host, make_host_ready
from edgeforge.toolchain import show_boards, show_sysroot, show_toolchain_files

from ._common import handled, new_context, resolve_target


@task
@handled
def setup(c):
    """Install and start what the host needs (apt packages, deb-src, binfmt, dockerd)."""
    make_host_ready(new_context())


@task
@handled
def doctor(c):
    """Check each prerequisite and print the command that fixes a missing one."""
    check_host(new_context())


@task(help={"check": "also probe each board's compiler and CPU flags"})
@handled
def boards(c, check=False):
    """List every board with its resolved compiler, sysroot, triple and ABI ceilings."""
    show_boards(new_context(), check)


@task(help={"board": "board name (default: toolchains/defaults.yaml)",
            "pack": "also write the sysroot as a reproducible DIR/<name>-<key>.tar.gz and its "
                    ".sha256, for a team file server (EDGEFORGE_SYSROOT_URL)"})
@handled
def sysroot(c, board=None, compiler=None, sysroot=None, pack=None):
    """Build or import the board's sysroot into the cache (a no-op when it is cached).

    With EDGEFORGE_SYSROOT_URL, a Debian sysroot the team published is fetched instead of
    built."""
    ctx = new_context()
    t = resolve_target(ctx, board, compiler, sysroot)
    show_sysroot(ctx, t, pipeline.run_until(ctx, t, "sysroot")["sysroot"], pack)


@task(help={"board": "board name"})
@handled
def toolchain(c, board=None, compiler=None, sysroot=None, build_type=None):
    """Write the board's toolchain files for building other projects for it.

    They are its Conan profiles, CMake toolchain, pkg-config wrapper, Meson file, compiler
    wrappers and environment script."""
    ctx = new_context()
    t = resolve_target(ctx, board, compiler, sysroot, build_type)
    ctx.reporter.info(t.describe_resolution())
    prepared = pipeline.run_until(ctx, t, "toolchain", rerun=("toolchain",))["toolchain"]
    show_toolchain_files(ctx, t, prepared.toolchain)


@task
@handled
def schema(c):
    """Write JSON schemas for editors into toolchains/schema/, images/ and apps/."""
    ctx = new_context()
    for p in write_editor_schemas(ctx.project_root):
        ctx.reporter.info(f"wrote {p}")
