"""The source mirror shared over HTTP (EDGEFORGE_SOURCE_MIRROR_URL), served by a real nginx.

A throwaway project keeps two recipes: zlib (its real pin; the archive comes from the real
mirror, fetched into it first if it lacks it, then read only) and `tiny`, whose upstream URL
is the same nginx. An empty EDGEFORGE_CACHE is filled by `invoke sources`, as a user would;
nginx's access log says what was fetched, and apt-get is replaced by a stand-in that records
any call.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from edgeforge.context import Context, default_cache_dir
from edgeforge.core import sha256_file
from edgeforge.deps import fill, load_pins
from tests.conftest import BUILD, PROJECT, run_invoke
from tests.fileserver import Nginx, calls, closed_port, nginx, tripwires  # noqa: F401

pytestmark = pytest.mark.integration

ZLIB_SHA = "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1"
ZLIB = "zlib/1.2.13 zlib_1.2.13.dfsg.orig.tar.bz2"
VAR = "EDGEFORGE_SOURCE_MIRROR_URL"


@pytest.fixture(scope="module")
def real_zlib() -> Path:
    """zlib's archive in the real source mirror, fetched there first (as `invoke sources`
    does, for this one pin) when the mirror lacks it."""
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    fill(ctx, load_pins(PROJECT / "recipes", ["zlib"]))
    path = default_cache_dir() / "sources" / "s" / ZLIB_SHA
    assert path.is_file() and sha256_file(path) == ZLIB_SHA, path
    return path


def tiny_archive() -> bytes:
    """A small tar.gz with fixed bytes (the `tiny` recipe's upstream release)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.GNU_FORMAT) as tf:
        data = b"int tiny(void) { return 42; }\n"
        info = tarfile.TarInfo("tiny-1.0/tiny.c")
        info.size, info.mtime = len(data), 1700000000
        tf.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.fixture
def setup(tmp_project: Path, tmp_path: Path, nginx: Nginx):  # noqa: F811
    """The project (zlib + tiny), an empty cache, nginx with tiny's upstream release, and a PATH
    whose apt-get is a stand-in."""
    for d in (tmp_project / "recipes").iterdir():
        if d.is_dir() and d.name != "zlib":
            shutil.rmtree(d)
    tiny = tiny_archive()
    tiny_sha = hashlib.sha256(tiny).hexdigest()
    (nginx.root / "upstream").mkdir(parents=True)
    (nginx.root / "upstream" / "tiny-1.0.tar.gz").write_bytes(tiny)
    (tmp_project / "recipes" / "tiny").mkdir()
    (tmp_project / "recipes" / "tiny" / "conandata.yml").write_text(
        f'sources:\n  "1.0":\n    url: "{nginx.url}/upstream/tiny-1.0.tar.gz"\n'
        f'    sha256: "{tiny_sha}"\n')
    path, log = tripwires(tmp_path / "bin", "apt-get")
    cache = tmp_path / "cache"
    env = {"EDGEFORGE_CACHE": str(cache), "PATH": path}
    return tmp_project, cache, env, log, tiny_sha


def leftovers(cache: Path) -> list[str]:
    """Files in the mirror folder other than its lock files."""
    root = cache / "sources"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock")) if root.is_dir() else []


def test_missing_archives_come_from_the_team_mirror_verified(setup, nginx: Nginx,  # noqa: F811
                                                            real_zlib: Path):
    project, cache, env, apt_log, tiny_sha = setup
    (nginx.root / "s").mkdir()
    shutil.copy(real_zlib, nginx.root / "s" / ZLIB_SHA)
    env[VAR] = nginx.url + "/"  # a trailing slash is fine

    r = run_invoke("sources", cwd=project, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    zlib_url = f"{nginx.url}/s/{ZLIB_SHA}"
    assert f"fetched {ZLIB} from the team mirror ({zlib_url}) -> " in r.stdout
    # tiny is not on the team mirror (404): it comes from its upstream URL, verified too
    assert (f"tiny/1.0 tiny-1.0.tar.gz is not on the team mirror ({nginx.url}/s/{tiny_sha}: "
            "HTTP 404); fetching it from Debian's source archive or upstream") in r.stdout
    assert f"fetched tiny/1.0 tiny-1.0.tar.gz from {nginx.url}/upstream/tiny-1.0.tar.gz" in r.stdout
    assert "2 archives, all verified" in r.stdout
    mirror = cache / "sources" / "s"
    assert sha256_file(mirror / ZLIB_SHA) == ZLIB_SHA
    assert sha256_file(mirror / tiny_sha) == tiny_sha
    assert leftovers(cache) == sorted([f"s/{ZLIB_SHA}", f"s/{tiny_sha}"])
    assert nginx.requests() == [(f"/s/{tiny_sha}", 404), ("/upstream/tiny-1.0.tar.gz", 200),
                                (f"/s/{ZLIB_SHA}", 200)]
    assert calls(apt_log) == ""  # Debian's archive was never asked

    again = run_invoke("sources", cwd=project, env=env, timeout=600)  # filled: nothing fetched
    assert again.returncode == 0, again.stderr
    assert "fetched" not in again.stdout
    assert len(nginx.requests()) == 3


def test_a_lying_team_mirror_is_an_error_and_nothing_enters_the_mirror(
        setup, nginx: Nginx, real_zlib: Path):  # noqa: F811
    project, cache, env, apt_log, tiny_sha = setup
    (nginx.root / "s").mkdir()
    lie = bytearray(real_zlib.read_bytes())
    lie[len(lie) // 2] ^= 0xFF  # one byte changed in the middle
    (nginx.root / "s" / ZLIB_SHA).write_bytes(bytes(lie))
    bad = hashlib.sha256(lie).hexdigest()
    env[VAR] = nginx.url

    r = run_invoke("sources", cwd=project, env=env, timeout=600)
    assert r.returncode == 6, r.stdout + r.stderr
    url = f"{nginx.url}/s/{ZLIB_SHA}"
    assert (f"error: the team's source mirror sent the wrong file for {ZLIB}: {url} ({VAR}) has "
            f"sha256 {bad}, expected {ZLIB_SHA} (the pin in recipes/zlib/conandata.yml); it was "
            "not added to the mirror. Fix: ") in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert (f"/s/{ZLIB_SHA}", 200) in nginx.requests()  # it really came from nginx
    assert not (cache / "sources" / "s" / ZLIB_SHA).exists()
    assert leftovers(cache) == [f"s/{tiny_sha}"]  # the verified archive only; no temp file
    assert calls(apt_log) == ""  # no quiet fallback to Debian's archive


def test_an_unreachable_team_mirror_is_an_error(setup):
    project, cache, env, apt_log, tiny_sha = setup
    port = closed_port()
    env[VAR] = f"http://127.0.0.1:{port}"

    r = run_invoke("sources", cwd=project, env=env, timeout=600)
    assert r.returncode == 10, r.stdout + r.stderr
    assert (f"error: the team's source mirror ({VAR}) did not answer: cannot download "
            f"http://127.0.0.1:{port}/s/{tiny_sha} (tiny/1.0 tiny-1.0.tar.gz): connection "
            f"refused; nothing was added to the mirror. Fix: start the file server or correct "
            f"the URL; or unset {VAR} to fetch the archives") in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert leftovers(cache) == []
    assert calls(apt_log) == ""


def test_a_malformed_mirror_url_is_refused_before_anything_runs(setup):
    project, cache, env, apt_log, _ = setup
    env[VAR] = "ftp://127.0.0.1/mirror"
    r = run_invoke("sources", cwd=project, env=env, timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    assert (f"error: {VAR}='ftp://127.0.0.1/mirror' is not an http://, https:// or file:// URL; "
            "fix: set it to the URL of the folder that holds the source mirror's s/<sha256> "
            "files") in r.stderr
    assert leftovers(cache) == [] and calls(apt_log) == ""
