"""A team shares one Conan remote: a real `conan_server` on 127.0.0.1 (write and read-only
users), this suite's cache as the machine that pushes, and a second machine (a fresh copy of
the project with an empty EDGEFORGE_CACHE) that downloads instead of compiling.

One test walks the story in order, because each step needs the one before: push jetson-nx,
check that jetson-nano (same compiler and sysroot, other CPU flags and glibc pins) finds none of
its package IDs there, push jetson-nano, kill a build of the second machine midway, then build
both boards at once into that machine's single cache from the remote, and run the app's ctest
under qemu. Credentials are checked to appear nowhere in outputs, logs or manifests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BUILD, INVOKE, copy_project, require_tools, run_invoke
from tests.e2e.conan_server import ConanServer, pushing_cache

pytestmark = pytest.mark.e2e
REMOTE = "suiteteam"  # the name both machines give the remote
PASSWORD_VAR = "CONAN_PASSWORD_SUITETEAM"


@pytest.fixture(scope="module")
def conan_server(tmp_path_factory) -> Iterator[ConanServer]:
    server = ConanServer(tmp_path_factory.mktemp("conan-server")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def machine_a(conan_server: ConanServer, tmp_path_factory) -> Iterator[dict]:
    """The pushing machine: the suite's own builds and Conan packages, seen through a cache of
    its own (its Conan home shares the real one's package store, nothing else), so the team
    remote and its login never enter the suite's real Conan home."""
    cache = pushing_cache(tmp_path_factory.mktemp("machine-a") / "cache")
    env = {"EDGEFORGE_CACHE": str(cache)}
    r = run_invoke("remote", "add", "--name", REMOTE, "--url", conan_server.url, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_invoke("remote", "login", "--name", REMOTE, "--user", "writer",
                   env={**env, PASSWORD_VAR: conan_server.writer})
    assert r.returncode == 0, r.stdout + r.stderr
    yield {"env": env, "outputs": [r.stdout + r.stderr]}


def invoke_b(project: Path, cache: Path, *args: str, env: dict | None = None,
             timeout: float = 3600) -> subprocess.CompletedProcess:
    return run_invoke(*args, cwd=project, env={"EDGEFORGE_CACHE": str(cache), **(env or {})},
                      timeout=timeout)


def spawn_b(project: Path, cache: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "EDGEFORGE_CACHE": str(cache)}
    for var in ("EDGEFORGE_BUILD_DIR", "EDGEFORGE_DIST_DIR"):
        env.pop(var, None)
    return subprocess.Popen([str(INVOKE), "--search-root", str(project), *args], cwd=project,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (Conan runs in sessions of its own), the way a
    cancelled CI job or a crash ends a build: no handler gets to clean up."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    for p in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def deps_record(project: Path, board: str) -> dict:
    return json.loads((project / "build" / board / "deps.json").read_text())


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_second_machine_builds_from_the_team_remote(conan_server: ConanServer,
                                                   machine_a: dict, tmp_path: Path):
    require_tools("mmdebstrap", "qemu-aarch64", "clang-14")
    outputs, a_env = machine_a["outputs"], machine_a["env"]
    # ---- machine A (the suite's cache): both boards built, jetson-nx pushed
    for board in ("jetson-nx", "jetson-nano"):
        r = run_invoke("build", "--board", board)
        assert r.returncode == 0, r.stdout + r.stderr
    r = run_invoke("cache", "push", "--board", "jetson-nx", "--remote", REMOTE, env=a_env)
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    nx_ids = {n["package_id"] for n in json.loads((BUILD / "jetson-nx" / "deps.json").read_text())["nodes"]}
    assert nx_ids <= conan_server.package_ids()
    # the board's lockfile travels with the root recipes as Conan metadata
    assert list(conan_server.storage.rglob("metadata/edgeforge/jetson-nx/conan.lock"))

    # ---- machine B: a fresh copy of the project, an empty cache, read-only login
    project = copy_project(tmp_path / "machine-b")
    cache = tmp_path / "cache-b"
    r = invoke_b(project, cache, "remote", "add", "--name", REMOTE, "--url", conan_server.url)
    assert r.returncode == 0, r.stdout + r.stderr
    r = invoke_b(project, cache, "remote", "login", "--name", REMOTE, "--user", "reader",
                 env={PASSWORD_VAR: "not-" + conan_server.reader})
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 10 and "refused the credentials of user 'reader'" in r.stderr, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    r = invoke_b(project, cache, "remote", "login", "--name", REMOTE, "--user", "reader",
                 env={PASSWORD_VAR: conan_server.reader})
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr

    # package IDs are exact: jetson-nx's binaries are all there for B; none of them serves
    # jetson-nano, which shares the compiler and sysroot but not the CPU flags or glibc pins
    # (tools built for the build machine, protobuf's protoc, are the same for both: shared)
    r = invoke_b(project, cache, "cache", "status", "--board", "jetson-nx")
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    nx_lines = [ln for ln in r.stdout.splitlines() if "(host)" in ln or "(build)" in ln]
    assert nx_lines and all("will be downloaded" in ln for ln in nx_lines), r.stdout
    r = invoke_b(project, cache, "cache", "status", "--board", "jetson-nano")
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    nano_lines = [ln for ln in r.stdout.splitlines() if "(host)" in ln]
    assert len(nano_lines) >= 5 and all("will be built here" in ln for ln in nano_lines), r.stdout
    # status only looks: it leaves no lockfile or build order behind
    assert not (project / "build" / "jetson-nano" / "conan.lock").exists()

    r = run_invoke("cache", "push", "--board", "jetson-nano", "--remote", REMOTE, env=a_env)
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr

    # a build killed while it downloads leaves the cache usable
    victim = spawn_b(project, cache, "build", "--board", "jetson-nano")
    seen = []
    deadline = time.monotonic() + 900
    assert victim.stdout is not None
    for line in victim.stdout:
        seen.append(line)
        if "downloading" in line or time.monotonic() > deadline:
            break
    kill_tree(victim.pid)
    victim.wait(timeout=60)
    assert any("downloading" in ln for ln in seen), "".join(seen)

    # both boards at once into the one cache: every package downloaded, none compiled
    procs = {b: spawn_b(project, cache, "build", "--board", b) for b in ("jetson-nx", "jetson-nano")}
    done = {b: p.communicate(timeout=3600)[0] for b, p in procs.items()}
    for board, out in done.items():
        outputs.append(out)
        assert procs[board].returncode == 0, f"{board}:\n{out}"
        record = deps_record(project, board)
        assert record["built"] == [], f"{board} compiled {record['built']}"
        # downloaded now, or by the other board / the killed build before (then: in the cache)
        assert record["nodes"] and all(n["binary"] in ("Download", "Cache")
                                       for n in record["nodes"]), record
        logs = project / "build" / board / "logs"
        assert not list(logs.glob("conan-create-*")), "a dependency was compiled"
        assert "to download from the team's remotes, 0 to build" in out, out
    # Conan's environment scripts never land in the working directory (a checkout)
    assert not list(project.glob("conan*.sh")) and not list(project.glob("deactivate_*.sh"))
    # nothing was built from source: the only archive fetched is OpenCV's, for the sample
    # videos the app's tests play
    from edgeforge.build import opencv_pin
    from edgeforge.context import Context
    pin = opencv_pin(Context.create(project_root=project, cache_dir=cache,
                                    build_root=project / "build", dist_root=project / "dist"))
    assert sorted(p.name for p in (cache / "sources" / "s").glob("*")) == [pin.sha256]

    # the app built against the downloaded graph passes its ctest under qemu
    r = invoke_b(project, cache, "test", "--board", "jetson-nx")
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "100% tests passed" in r.stdout + r.stderr

    # the read-only user cannot upload
    r = invoke_b(project, cache, "cache", "push", "--board", "jetson-nx")
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 10, r.stdout + r.stderr
    assert "does not let user" in r.stderr or "does not let the logged-in user" in r.stderr, r.stderr
    assert "Traceback" not in r.stdout + r.stderr

    # an unreachable remote is named, with the fix
    r = invoke_b(project, cache, "remote", "add", "--name", "gone", "--url", "http://127.0.0.1:9")
    assert r.returncode == 0, r.stdout + r.stderr
    r = invoke_b(project, cache, "cache", "status", "--board", "rpi4")
    assert r.returncode == 10 and "cannot reach remote 'gone'" in r.stderr, r.stdout + r.stderr
    assert "remote disable gone" in r.stderr and "Traceback" not in r.stderr

    # credentials appear in no output, log, manifest or record of either machine
    secrets_ = (conan_server.writer, conan_server.reader)
    for text in outputs:
        assert not any(s in text for s in secrets_)
    for f in files_under(project / "build", cache / "conan2" / "p", BUILD / "jetson-nx" / "logs",
                         BUILD / "jetson-nano" / "logs", BUILD / "logs", BUILD / "jetson-nx" /
                         "deps.json", Path(a_env["EDGEFORGE_CACHE"]) / "logs"):
        data = f.read_bytes()
        assert not any(s.encode() in data for s in secrets_), f
