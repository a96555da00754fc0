"""What `invoke sources` and `invoke deps` show: the offline source mirror, filled and verified,
and the dependency graph a board's build uses."""

from __future__ import annotations

from edgeforge.context import Context

from .conan import DepsResult, prepare_sources
from .sources import load_pins, mirror_dir, status


def fill_and_show_mirror(ctx: Context) -> None:
    """Fill the offline source mirror, verify every pin, then list its archives."""
    pins = load_pins(ctx.project_root / "recipes")
    prepare_sources(ctx, ctx.runner())
    ctx.reporter.info(f"source mirror {mirror_dir(ctx)}: {len(pins)} archives, all verified")
    for st in status(ctx, pins):
        size = st.path.stat().st_size
        ctx.reporter.info(f"  {st.pin.recipe + '/' + st.pin.version:<22} {st.pin.name:<44} "
                          f"{size / 1e6:7.1f} MB  sha256 {st.pin.sha256[:16]}...")


def show_deps(ctx: Context, result: DepsResult) -> None:
    """The lockfile, each package's folder, and whether anything was compiled."""
    ctx.reporter.info(f"lockfile: {result.lockfile}")
    for name, folder in sorted(result.package_dirs.items()):
        ctx.reporter.info(f"  {name:<16} {folder}")
    if not result.built:
        ctx.reporter.info("all packages were already built: nothing compiled")
