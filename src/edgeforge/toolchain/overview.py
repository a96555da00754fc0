"""What `invoke boards`, `invoke sysroot` and `invoke toolchain` show: the boards as resolved,
where a board's sysroot is (and its pack for a team file server), the generated files."""

from __future__ import annotations

from pathlib import Path

from edgeforge.config import Target
from edgeforge.context import Context
from edgeforge.core import DescriptorError, EdgeforgeError

from .compilers import probe
from .files import ToolchainFiles
from .sysroot import SysrootInfo, pack_sysroot

BOARD_COLUMNS = ("board", "compiler", "sysroot", "triple", "ceiling", "strategy", "cpu flags",
                 "overlays")


def board_rows(ctx: Context, check: bool = False) -> tuple[list[tuple[str, ...]], list[str]]:
    """One row per board (the default one marked `*`) and the problems of those that do not
    resolve (misnamed files, folders, broken links: named, not listed)."""
    cat = ctx.catalog
    defaults = cat.defaults().spec
    errors = cat.problems("boards")
    rows = []
    for name in cat.names("boards"):
        try:
            t = cat.resolve(name, env={})
            if check:
                probe(ctx, t)
            ov = ", ".join(t.board.spec.overlays) or "-"
            rows.append((name + (" *" if name == defaults.default_board else ""),
                         t.compiler.name, t.sysroot.name, t.triple,
                         f"GLIBC_{t.abi.glibc} GLIBCXX_{t.abi.glibcxx}",
                         t.abi.strategy.value, " ".join(t.cpu_flags), ov))
        except EdgeforgeError as exc:
            errors.append(f"{name}: {exc.message}")
    return rows, errors


def show_boards(ctx: Context, check: bool = False) -> None:
    """The board table; boards that do not resolve are a DescriptorError after it."""
    rows, errors = board_rows(ctx, check)
    widths = [max(len(r[i]) for r in [BOARD_COLUMNS, *rows]) for i in range(len(BOARD_COLUMNS))]
    for r in [BOARD_COLUMNS, *rows]:
        ctx.reporter.info("  ".join(col.ljust(w) for col, w in zip(r, widths, strict=True)).rstrip())
    ctx.reporter.info("(* default board)")
    if errors:
        raise DescriptorError("\n".join(errors))


def show_sysroot(ctx: Context, t: Target, info: SysrootInfo, pack: str | None = None) -> None:
    """Where the board's sysroot is; with `pack` (a folder), also write it there as an archive
    a team file server can serve, and say how to pin it."""
    ctx.reporter.info(f"{t.name}: sysroot {info.name} at {info.path} (glibc {info.glibc}, "
                      f"GLIBCXX_{info.glibcxx})")
    if pack:
        p = pack_sysroot(ctx, t.sysroot, info, Path(pack).expanduser().resolve())
        ctx.reporter.info(f"packed {p.archive} ({p.size / 1e6:.1f} MB), sha256 {p.sha256} in "
                          f"{p.checksum_file.name}; serve {p.archive.parent} and set "
                          "EDGEFORGE_SYSROOT_URL to its URL. To pin it, add this line to "
                          f"toolchains/sysroots/published.sha256:\n  {p.sha256}  {p.archive.name}")


def show_toolchain_files(ctx: Context, t: Target, files: ToolchainFiles) -> None:
    """The generated files, and the environment script for building other projects."""
    ctx.reporter.info(f"toolchain files for {t.name} in {files.out_dir}:")
    width = max(map(len, files.files))
    for name, path in sorted(files.files.items()):
        ctx.reporter.info(f"  {name:<{width}} {path}")
    ctx.reporter.info(f"build other projects for {t.name} in a shell set up with: "
                      f". {files.env_script}")
