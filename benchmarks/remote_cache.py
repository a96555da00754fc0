"""A second machine with the team's Conan remote vs a cold build: `invoke deps --board
jetson-nx` in an empty Conan home (and an empty ccache), once building every package, once
downloading every binary from a real `conan_server` on 127.0.0.1 that this machine's cache
pushed to. Also the upload and download volume of the board's graph.

The sysroot, the source mirror and the probes are shared with the normal cache (they are not
what is measured). Target: the remote at least 10x faster than cold. The cold half takes
about as long as a cold graph build (10+ minutes on 2 cores); `--remote-only` skips it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _common import PROJECT, invoke, machine, timed

sys.path.insert(0, str(PROJECT))
from tests.e2e.conan_server import ConanServer, pushing_cache  # noqa: E402

from edgeforge.context import default_cache_dir  # noqa: E402

BOARD = "jetson-nx"
NAME = "benchteam"


def fresh_cache(real: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="edgeforge-bench-"))
    for shared in ("sysroots", "sources", "probes"):
        (tmp / shared).symlink_to(real / shared)
    return tmp


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> None:
    real = default_cache_dir()
    logs = Path(tempfile.mkdtemp(prefix="edgeforge-bench-logs-"))
    timed(invoke("build", "--board", BOARD), log=logs / "build.log")
    server = ConanServer(logs / "server").start()
    password = {f"CONAN_PASSWORD_{NAME.upper()}": server.writer}
    caches: list[Path] = []
    a_env = {"EDGEFORGE_CACHE": str(pushing_cache(logs / "machine-a"))}
    try:
        timed(invoke("remote", "add", "--name", NAME, "--url", server.url), env=a_env)
        timed(invoke("remote", "login", "--name", NAME, "--user", "writer"),
              env={**a_env, **password})
        timed(invoke("cache", "push", "--board", BOARD, "--remote", NAME), env=a_env,
              log=logs / "push.log")
        uploaded = server.stored_bytes()
        remote_cache = fresh_cache(real)
        caches.append(remote_cache)
        env = {"EDGEFORGE_CACHE": str(remote_cache), "EDGEFORGE_BUILD_DIR": str(logs / "b-remote")}
        timed(invoke("remote", "add", "--name", NAME, "--url", server.url), env=env)
        timed(invoke("remote", "login", "--name", NAME, "--user", "reader"),
              env={**env, f"CONAN_PASSWORD_{NAME.upper()}": server.reader})
        from_remote = timed(invoke("deps", "--board", BOARD), env=env, log=logs / "remote.log")
        downloaded = size_of(remote_cache / "conan2" / "p")
        cold = None
        if "--remote-only" not in sys.argv:
            cold_cache = fresh_cache(real)
            caches.append(cold_cache)
            cold = timed(invoke("deps", "--board", BOARD),
                         env={"EDGEFORGE_CACHE": str(cold_cache),
                              "EDGEFORGE_BUILD_DIR": str(logs / "b-cold")}, log=logs / "cold.log")
    finally:
        server.stop()
        for c in caches:
            shutil.rmtree(c, ignore_errors=True)
    print(f"machine: {machine()}; logs: {logs}")
    print(f"invoke deps --board {BOARD}: from the team remote             {from_remote:8.1f} s")
    if cold is not None:
        print(f"invoke deps --board {BOARD}: cold (empty Conan home and ccache) {cold:8.1f} s")
        print(f"cold/remote ratio: {cold / from_remote:.1f}x (target >= 10x): "
              f"{'met' if cold / from_remote >= 10 else 'NOT met'}")
    print(f"uploaded (server storage): {uploaded / 1e6:.1f} MB; downloaded and unpacked into the "
          f"second machine's Conan home: {downloaded / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
