from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeforge.context import BoardLayout, Context
from edgeforge.toolchain import sysroot_dir
from tests.conftest import BUILD, PROJECT, SUITE_APP, require_tools, run_invoke
from tests.e2e.registry_server import RegistryServer

BOARDS = ["jetson-nx", "jetson-nano", "jetson-orin", "rpi4", "rk3588", "atlas500",
          "sophon-se5", "a311d", "rpi3-armhf", "mlu220-edge"]


def build_board(board: str, smoke_only: bool = True) -> dict:
    """`invoke build --board B [--smoke-only]` in the repository; returns the manifest (of
    the board alone, or of its build of the suite's app)."""
    require_tools("mmdebstrap", "qemu-aarch64", "qemu-arm", "clang-14")
    r = run_invoke("build", "--board", board, *(["--smoke-only"] if smoke_only else []))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(manifest_path(BUILD / board, not smoke_only).read_text())


def manifest_path(board_dir: Path, app: bool = True) -> Path:
    """build/<board>/apps/<suite app>/manifest.json, or the board's own (`app` False)."""
    return BoardLayout(board_dir).for_app(SUITE_APP if app else "").manifest


def sysroot_of(board: str) -> Path:
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    return sysroot_dir(ctx, ctx.catalog.resolve(board, env={}).sysroot)


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory) -> Iterator[RegistryServer]:
    """A registry on 127.0.0.1 (htpasswd auth, a fresh random password) for `release --push`."""
    require_tools("docker-registry", "htpasswd", "skopeo")
    server = RegistryServer(tmp_path_factory.mktemp("registry"), "edge",
                            "pw-" + secrets.token_urlsafe(18)).start()
    try:
        yield server
    finally:
        server.stop()
