"""Sysroots shared over HTTP: `invoke sysroot --pack DIR` and EDGEFORGE_SYSROOT_URL, with a real
nginx.

The packed sysroot is jetson-nx's (Debian bullseye arm64), taken from the real cache read only
(built there first by the `bullseye` fixture, `invoke sysroot`, if it is missing): the tests'
cache links to it, so nothing else is ever written into the real cache. Fetching goes into
an empty EDGEFORGE_CACHE; mmdebstrap is replaced by a stand-in that records any call.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from edgeforge.context import Context, default_cache_dir
from edgeforge.toolchain import STAMP, sysroot_dir, sysrootpack
from tests.conftest import PROJECT, run_invoke
from tests.fileserver import Nginx, calls, closed_port, nginx, tripwires  # noqa: F401

pytestmark = pytest.mark.integration

BOARD = "jetson-nx"
VAR = "EDGEFORGE_SYSROOT_URL"


def real_sysroot(tmp: Path) -> Path:
    ctx = Context.create(project_root=PROJECT, cache_dir=default_cache_dir(),
                         build_root=tmp / "build", dist_root=tmp / "dist")
    path = sysroot_dir(ctx, ctx.catalog.resolve(BOARD, env={}).sysroot)
    if not (path / STAMP).is_file():
        pytest.fail(f"no cached {BOARD} sysroot at {path}: run `invoke sysroot --board {BOARD}`")
    return path


def isolated_env(tmp: Path, cache: Path, **extra: str) -> dict[str, str]:
    return {"EDGEFORGE_CACHE": str(cache), "EDGEFORGE_BUILD_DIR": str(tmp / "build"),
            "EDGEFORGE_DIST_DIR": str(tmp / "dist"), **extra}


@pytest.fixture(scope="module")
def packed(bullseye: Path, tmp_path_factory) -> dict:
    """The real jetson-nx sysroot (built by the `bullseye` fixture when the cache lacks it)
    packed twice, through `invoke sysroot --pack`."""
    tmp = tmp_path_factory.mktemp("pack")
    real = real_sysroot(tmp)
    assert real == bullseye
    cache = tmp / "cache"
    (cache / "sysroots").mkdir(parents=True)
    (cache / "sysroots" / real.name).symlink_to(real)  # read only: the real cache stays as it is
    runs = []
    for n in (1, 2):
        start = time.monotonic()
        r = run_invoke("sysroot", "--board", BOARD, "--pack", str(tmp / f"out{n}"),
                       env=isolated_env(tmp, cache), timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
        runs.append((r, time.monotonic() - start))
    name = sysrootpack.archive_name(real.name)
    return {"real": real, "name": name, "dirs": [tmp / "out1", tmp / "out2"], "runs": runs,
            "sha": hashlib.sha256((tmp / "out1" / name).read_bytes()).hexdigest()}


def publish(packed: dict, www: Path, archive: bytes | None = None) -> None:
    """Put the packed sysroot (or other bytes under its name) and its .sha256 on the server."""
    www.mkdir(parents=True, exist_ok=True)
    src = packed["dirs"][0] / packed["name"]
    if archive is None:
        os.link(src, www / packed["name"])
    else:
        (www / packed["name"]).write_bytes(archive)
    shutil.copy(src.with_name(packed["name"] + ".sha256"), www)


def usable_sysroots(cache: Path) -> list[str]:
    folder = cache / "sysroots"
    return sorted(p.name for p in folder.iterdir()
                  if not p.name.endswith(".lock")) if folder.is_dir() else []


def tree_names(root: Path) -> set[str]:
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            if p.is_symlink() or p.is_dir() or p.is_file():
                out.add(str(p.relative_to(root)))
    return out


def test_pack_is_reproducible_and_plain(packed: dict):
    name, (one, two) = packed["name"], packed["dirs"]
    assert (one / name).read_bytes() == (two / name).read_bytes()
    line = f"{packed['sha']}  {name}\n"
    assert (one / f"{name}.sha256").read_text() == line == (two / f"{name}.sha256").read_text()
    r, seconds = packed["runs"][0]
    assert f"packed {one / name} (" in r.stdout and f"  {packed['sha']}  {name}" in r.stdout
    print(f"pack: {seconds:.1f} s, {(one / name).stat().st_size / 1e6:.1f} MB")
    folder = packed["real"].name
    with tarfile.open(one / name) as tf:
        members = tf.getmembers()
    assert members[0].name == folder and members[0].isdir()
    assert all(m.name.startswith(folder + "/") for m in members[1:])
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 1700000000)}
    assert not any(m.ischr() or m.isblk() or m.isfifo() for m in members)
    assert f"{folder}/{STAMP}" in {m.name for m in members}


def test_an_empty_cache_gets_the_sysroot_from_the_server(packed: dict, nginx: Nginx,  # noqa: F811
                                                         tmp_path: Path):
    publish(packed, nginx.root)
    path, log = tripwires(tmp_path / "bin", "mmdebstrap")
    cache = tmp_path / "cache"
    env = isolated_env(tmp_path, cache, PATH=path, **{VAR: nginx.url})
    r = run_invoke("sysroot", "--board", BOARD, env=env, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    url = f"{nginx.url}/{packed['name']}"
    key = packed["real"].name.rsplit("-", 1)[1]
    assert (f"fetched sysroot debian-bullseye-arm64 from {url}: sha256 {packed['sha']} verified "
            f"(published .sha256), stamp key {key}, glibc 2.31, GLIBCXX_3.4.28") in r.stdout
    assert "building sysroot" not in r.stdout and "mmdebstrap" not in r.stdout
    assert calls(log) == ""  # mmdebstrap never ran
    assert nginx.requests() == [(f"/{packed['name']}.sha256", 200), (f"/{packed['name']}", 200)]
    assert usable_sysroots(cache) == [packed["real"].name]  # no partial left, nothing else
    got = cache / "sysroots" / packed["real"].name
    stamp = json.loads((got / STAMP).read_text())
    assert stamp == json.loads((packed["real"] / STAMP).read_text())
    assert stamp["key"] == key and stamp["arch"] == "arm64"
    assert tree_names(got) == tree_names(packed["real"])  # every entry but the device nodes
    assert "GROUP" in (got / "usr/lib/aarch64-linux-gnu/libc.so").read_text()

    again = run_invoke("sysroot", "--board", BOARD, env=env, timeout=900)  # cached: a no-op
    assert again.returncode == 0, again.stderr
    assert len(nginx.requests()) == 2 and "fetched" not in again.stdout


def test_a_tampered_archive_is_an_error_and_nothing_enters_the_cache(
        packed: dict, nginx: Nginx, tmp_path: Path):  # noqa: F811
    data = bytearray((packed["dirs"][0] / packed["name"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    publish(packed, nginx.root, bytes(data))
    path, log = tripwires(tmp_path / "bin", "mmdebstrap")
    cache = tmp_path / "cache"
    r = run_invoke("sysroot", "--board", BOARD, timeout=900,
                   env=isolated_env(tmp_path, cache, PATH=path, **{VAR: nginx.url}))
    assert r.returncode == 6, r.stdout + r.stderr
    url = f"{nginx.url}/{packed['name']}"
    assert (f"error: checksum mismatch for the sysroot archive {url} ({VAR}): expected sha256 "
            f"{packed['sha']} ({url}.sha256), got {hashlib.sha256(data).hexdigest()}; nothing "
            "was added to the cache. Fix: ") in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert (f"/{packed['name']}", 200) in nginx.requests()
    assert usable_sysroots(cache) == [] and calls(log) == ""


def fake_archive(folder: str, kind: str, tmp: Path) -> bytes:
    """A well-formed .tar.gz that must still be refused: another sysroot's stamp, or a member
    that climbs out of the tree."""
    if kind == "wrong key":
        tree = tmp / "fake" / folder
        (tree / "usr").mkdir(parents=True)
        (tree / STAMP).write_text(json.dumps({"name": "debian-bullseye-arm64",
                                              "key": "0" * 16, "arch": "arm64"}))
        p = sysrootpack.pack(tree, folder, tmp / "fake-out", 1700000000)
        return p.archive.read_bytes()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tf:
        for name in (folder, f"{folder}/../escaped"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
    return raw.getvalue()


@pytest.mark.parametrize("kind", ["wrong key", "climbs out"])
def test_an_archive_with_the_right_checksum_but_wrong_content_is_refused(
        kind: str, packed: dict, nginx: Nginx, tmp_path: Path):  # noqa: F811
    folder = packed["real"].name
    data = fake_archive(folder, kind, tmp_path)
    nginx.root.mkdir(parents=True, exist_ok=True)
    (nginx.root / packed["name"]).write_bytes(data)
    (nginx.root / f"{packed['name']}.sha256").write_text(
        sysrootpack.sha256_line(hashlib.sha256(data).hexdigest(), packed["name"]))
    path, log = tripwires(tmp_path / "bin", "mmdebstrap")
    cache = tmp_path / "cache"
    r = run_invoke("sysroot", "--board", BOARD, timeout=900,
                   env=isolated_env(tmp_path, cache, PATH=path, **{VAR: nginx.url}))
    url = f"{nginx.url}/{packed['name']}"
    if kind == "wrong key":
        assert r.returncode == 7, r.stdout + r.stderr
        assert (f"error: the sysroot archive {url} holds another sysroot: its stamp has key "
                f"'0000000000000000' (expected '{folder.rsplit('-', 1)[1]}'); nothing was added "
                "to the cache") in r.stderr
    else:
        assert r.returncode == 6, r.stdout + r.stderr
        assert f"member '{folder}/../escaped' has a '..' component" in r.stderr
        assert not (cache / "sysroots" / "escaped").exists()
    assert "Traceback" not in r.stdout + r.stderr
    assert usable_sysroots(cache) == [] and calls(log) == ""


def test_not_published_means_built_here(nginx: Nginx, tmp_path: Path):  # noqa: F811
    """A 404 is no error: the sysroot is built with mmdebstrap (here a stand-in that fails)."""
    path, log = tripwires(tmp_path / "bin", "mmdebstrap")
    cache = tmp_path / "cache"
    r = run_invoke("sysroot", "--board", BOARD, timeout=900,
                   env=isolated_env(tmp_path, cache, PATH=path, **{VAR: nginx.url}))
    name = f"{real_sysroot(tmp_path).name}.tar.gz"
    assert (f"no published sysroot at {nginx.url}/{name} (HTTP 404 for its .sha256): building "
            "it here") in r.stdout
    assert nginx.requests() == [(f"/{name}.sha256", 404)]
    assert r.returncode == 4, r.stdout + r.stderr  # the stand-in's failure, reported as such
    assert calls(log).startswith("mmdebstrap --arch=arm64")
    assert usable_sysroots(cache) == []


def test_an_unreachable_server_is_an_error(tmp_path: Path):
    path, log = tripwires(tmp_path / "bin", "mmdebstrap")
    cache = tmp_path / "cache"
    port = closed_port()
    r = run_invoke("sysroot", "--board", BOARD, timeout=900,
                   env=isolated_env(tmp_path, cache, PATH=path, **{VAR: f"http://127.0.0.1:{port}"}))
    assert r.returncode == 10, r.stdout + r.stderr
    assert (f"error: the team's sysroot server ({VAR}) did not answer: cannot download "
            f"http://127.0.0.1:{port}/") in r.stderr
    assert (f"connection refused; nothing was added to the cache. Fix: start the file server or "
            f"correct the URL; or unset {VAR} to build the sysroot here with mmdebstrap") in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert usable_sysroots(cache) == [] and calls(log) == ""


def test_the_projects_pin_decides(packed: dict, nginx: Nginx, tmp_project: Path,  # noqa: F811
                                  tmp_path: Path):
    """toolchains/sysroots/published.sha256: a server publishing another sha256 is refused
    before the archive is downloaded; with the right pin the archive is used."""
    publish(packed, nginx.root)
    pins = tmp_project / "toolchains" / "sysroots" / sysrootpack.PINS_FILE
    pins.write_text(f"# sysroots the team trusts\n{'0' * 64}  {packed['name']}\n")
    cache = tmp_path / "cache"
    env = {"EDGEFORGE_CACHE": str(cache), VAR: nginx.url}
    r = run_invoke("sysroot", "--board", BOARD, cwd=tmp_project, env=env, timeout=900)
    assert r.returncode == 6, r.stdout + r.stderr
    assert (f"error: {nginx.url}/{packed['name']}.sha256 publishes sha256 {packed['sha']} for "
            f"{packed['name']}, but toolchains/sysroots/published.sha256 pins {'0' * 64}") \
        in r.stderr
    assert nginx.requests() == [(f"/{packed['name']}.sha256", 200)]  # the archive never fetched
    assert usable_sysroots(cache) == []

    pins.write_text(f"{packed['sha']}  {packed['name']}\n")
    r = run_invoke("sysroot", "--board", BOARD, cwd=tmp_project, env=env, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"sha256 {packed['sha']} verified (pinned in toolchains/sysroots/published.sha256)"
            in r.stdout)
    assert usable_sysroots(cache) == [packed["real"].name]
