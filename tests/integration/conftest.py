from __future__ import annotations

from pathlib import Path

import pytest

from edgeforge.context import Context
from edgeforge.toolchain import sysroot_dir
from tests.conftest import BUILD, PROJECT, require_tools, run_invoke


def built_sysroot(board: str) -> Path:
    """Build (or reuse) a board's sysroot through `invoke sysroot`, as a user would."""
    require_tools("mmdebstrap", "qemu-aarch64-static")
    r = run_invoke("sysroot", "--board", board)
    assert r.returncode == 0, r.stdout + r.stderr
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    t = ctx.catalog.resolve(board, env={})
    return sysroot_dir(ctx, t.sysroot)


@pytest.fixture(scope="session")
def bullseye() -> Path:
    return built_sysroot("jetson-nx")


@pytest.fixture(scope="session")
def bookworm() -> Path:
    return built_sysroot("rpi4")
