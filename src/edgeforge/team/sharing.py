"""Sharing a board's builds with the team: its Conan graph through the team's remote
(`invoke cache.push`, `cache.status`) and its release image through a registry
(`invoke release --push`)."""

from __future__ import annotations

from pathlib import Path

from edgeforge.context import Context
from edgeforge.toolchain import ToolchainFiles

from .registry import Pushed, PushTarget, index_source, prepare, push, release_source
from .remotes import push as push_graph
from .remotes import status as graph_status


def push_board_graph(ctx: Context, board: str, remote: str | None = None) -> dict:
    """Upload the board's recipes, binaries and lockfile to `remote` (default: the only
    enabled one)."""
    return push_graph(ctx, ctx.runner(board), board, remote)


def show_board_graph_status(ctx: Context, board: str, files: ToolchainFiles) -> None:
    """Per package of the board's graph: cached, on the remote, or to build."""
    graph_status(ctx, ctx.runner(board), board, files.host_profile, files.build_profile)


def push_destination(text: str) -> PushTarget:
    """--push REGISTRY/REPO[:TAG], checked with its credentials before anything is built."""
    return prepare(text)


def describe_push(dest: PushTarget, boards: list[str]) -> str:
    """What --dry-run says the push would do."""
    return dest.describe("the image index" if len(boards) > 1 else f"the {boards[0]} image")


def push_release(ctx: Context, dest: PushTarget, board: str, folder: Path,
                 index: Path | None = None) -> Pushed:
    """Push the multi-board image index when there is one, else `board`'s image (its release
    in `folder`)."""
    source = index_source(index) if index else release_source(folder)
    return push(ctx, dest, source, ctx.runner(None if index else board))
