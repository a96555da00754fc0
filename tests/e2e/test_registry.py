"""`invoke release --push` end to end: the jetson-nx release (the one test_release.py builds)
pushed to a real registry (Debian's docker-registry 2.8 on 127.0.0.1, htpasswd auth), which
then holds exactly the release's manifest digest; pulled back by digest through dockerd and run
under binfmt. The password is nowhere in the output, the logs, the release or its record; a
wrong password, a docker login's auth file, an unreachable registry and a malformed destination
each give the sentence a user needs."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeforge.context import default_cache_dir
from edgeforge.host import DOCKER_SOCK
from tests.conftest import BUILD, DIST, SUITE_APP, run_invoke
from tests.e2e.registry_server import RegistryServer
from tests.e2e.test_release import BOARD, EPOCH, VERSION, released  # noqa: F401 (the fixture)
from tests.servers import free_port

pytestmark = pytest.mark.e2e
REPO = "edge/infer"


def release_push(dest: str, *, user: str = "", password: str = "", docker_config: str = "",
                 timeout: float = 3600) -> subprocess.CompletedProcess:
    """The release test_release.py makes (a no-op when it is up to date), then the push."""
    return run_invoke("release", "--board", BOARD, "--version", VERSION, "--sdk", "--push", dest,
                      env={"SOURCE_DATE_EPOCH": EPOCH, "EDGEFORGE_REGISTRY_USER": user,
                           "EDGEFORGE_REGISTRY_PASSWORD": password, "REGISTRY_AUTH_FILE": "",
                           "DOCKER_CONFIG": docker_config, "EDGEFORGE_REGISTRY_INSECURE": ""},
                      timeout=timeout)


def tail(r: subprocess.CompletedProcess) -> str:
    return r.stdout[-3000:] + r.stderr[-3000:]


def files_under(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}


@dataclass(frozen=True)
class Push:
    run: subprocess.CompletedProcess
    pinned: str                      # 127.0.0.1:PORT/edge/infer@sha256:...
    seconds: float
    started: float                   # time.time() before the command


@pytest.fixture(scope="module")
def pushed(released: Path, registry_server: RegistryServer) -> Push:  # noqa: F811
    started = time.time()
    t0 = time.monotonic()
    r = release_push(f"{registry_server.address}/{REPO}", user=registry_server.user,
                     password=registry_server.password)
    seconds = time.monotonic() - t0
    assert r.returncode == 0, tail(r)
    m = re.search(r"pull by digest: (\S+@sha256:[0-9a-f]{64})$", r.stdout, re.M)
    assert m, r.stdout[-2000:]
    return Push(r, m.group(1), seconds, started)


def test_the_registry_holds_the_release_digest_and_the_release_is_unchanged(
        pushed: Push, released: Path, registry_server: RegistryServer, tmp_path: Path):  # noqa: F811
    image = json.loads((released / "image.json").read_text())
    ref = f"{registry_server.address}/{REPO}:{VERSION}"
    assert pushed.pinned == f"{registry_server.address}/{REPO}@{image['manifest_digest']}"
    assert f"pushed the {BOARD} image (linux/arm64): {ref}" in pushed.run.stdout
    # the release itself was up to date and is left as it was: no record inside, same sums
    assert "[up to date] release" in pushed.run.stdout
    sums = {line.split("  ", 1)[1] for line in (released / "SHA256SUMS").read_text().splitlines()}
    assert sums == {str(p.relative_to(released)) for p in released.rglob("*")
                    if p.is_file() and p.name not in ("SHA256SUMS", "SHA256SUMS.asc")}
    assert not list(released.rglob("*push*"))
    record = json.loads((DIST / BOARD / SUITE_APP / f"{VERSION}.push.json").read_text())
    assert record["pushes"][ref]["digest"] == image["manifest_digest"]
    # what the registry serves is the release's manifest, byte for byte
    raw = registry_server.raw_manifest(ref, tmp_path)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == image["manifest_digest"]
    layout = released / image["oci_layout"]
    assert raw == (layout / "blobs" / "sha256" / image["manifest_digest"][7:]).read_bytes()


def test_pulled_by_digest_through_dockerd_it_runs_under_binfmt(pushed: Push, released: Path,  # noqa: F811
                                                               registry_server: RegistryServer):
    """The engine first forgets the image the release loaded (so every layer comes from the
    registry), pulls it by digest, and gets the release's image ID back; its tags are restored
    afterwards."""
    import docker

    image = json.loads((released / "image.json").read_text())
    client = docker.DockerClient(base_url=f"unix://{DOCKER_SOCK}", timeout=600)
    repo, digest = pushed.pinned.split("@")
    try:
        old_tags = client.images.get(image["config_digest"]).tags
    except docker.errors.ImageNotFound:
        old_tags = []
    try:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image["config_digest"], force=True)
        t0 = time.monotonic()
        img = client.images.pull(repo, tag=digest, platform="linux/arm64",
                                 auth_config={"username": registry_server.user,
                                              "password": registry_server.password})
        pull_seconds = time.monotonic() - t0
        assert img.id == image["config_digest"]          # the release's image, bit for bit
        assert img.attrs["Architecture"] == "arm64" and img.attrs["Os"] == "linux"
        assert pushed.pinned in img.attrs["RepoDigests"]
        run = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", "--read-only",
                              pushed.pinned, "--version"], capture_output=True, text=True,
                             timeout=300, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("edge-infer ") and f"board: {BOARD}" in run.stdout, run.stdout
        print(f"\npush (with a no-op release) {pushed.seconds:.1f} s; pull by digest "
              f"{pull_seconds:.1f} s: {image['compressed_size'] / 1e6:.1f} MB compressed, "
              f"{img.attrs['Size'] / 1e6:.1f} MB unpacked")
    finally:
        try:
            kept = client.images.get(image["config_digest"])
            for tag in old_tags:
                kept.tag(*tag.rsplit(":", 1))
        except docker.errors.ImageNotFound:
            with open(released / image["docker_archive"], "rb") as fh:
                client.images.load(fh)
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(pushed.pinned)  # the digest reference only; tags stay
        client.close()


def test_the_password_is_in_no_output_log_record_or_release(pushed: Push, released: Path,  # noqa: F811
                                                            registry_server: RegistryServer):
    secret = registry_server.password
    encoded = base64.b64encode(f"{registry_server.user}:{secret}".encode()).decode()
    out = pushed.run.stdout + pushed.run.stderr
    assert secret not in out and encoded not in out
    echo = next(line for line in pushed.run.stdout.splitlines() if "skopeo copy" in line)
    assert "--dest-authfile" in echo and "--dest-creds" not in echo and "--creds" not in echo
    authfile = Path(echo.split("--dest-authfile ", 1)[1].split()[0])
    assert not authfile.exists() and not authfile.parent.exists()   # deleted after the push
    logs = [*BUILD.glob("*/logs"), BUILD / "logs", default_cache_dir() / "logs", DIST / BOARD]
    looked = 0
    for folder in logs:
        for path, data in files_under(folder).items():
            if folder == DIST / BOARD or path.stat().st_mtime >= pushed.started - 1:
                looked += 1
                assert secret.encode() not in data and encoded.encode() not in data, path
    assert looked > 10
    skopeo_logs = [p for p in (BUILD / BOARD / "logs").glob("*push*")]
    assert skopeo_logs, "the push's log is kept"


def test_a_wrong_password_is_refused_with_a_sentence_and_a_fix(released: Path,  # noqa: F811
                                                               registry_server: RegistryServer):
    wrong = "not-" + registry_server.password
    r = release_push(f"{registry_server.address}/{REPO}", user=registry_server.user,
                     password=wrong)
    assert r.returncode == 10, tail(r)
    assert (f"error: registry {registry_server.address} refused the credentials for user edge "
            "(from EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD); fix: check "
            "EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD") in r.stderr, tail(r)
    assert "Traceback" not in r.stderr
    assert wrong not in r.stdout + r.stderr and registry_server.password not in r.stdout + r.stderr


def test_a_docker_login_auth_file_is_used(pushed: Push, registry_server: RegistryServer,
                                          tmp_path: Path):
    config = tmp_path / "docker-config"
    login = subprocess.run(["docker", "--config", str(config), "login", "--username",
                            registry_server.user, "--password-stdin", registry_server.address],
                           input=registry_server.password, capture_output=True, text=True,
                           timeout=120)
    assert login.returncode == 0, login.stderr
    r = release_push(f"{registry_server.address}/{REPO}:stable", docker_config=str(config))
    assert r.returncode == 0, tail(r)
    assert f"(user edge (auth file {config / 'config.json'} (from DOCKER_CONFIG)))" in r.stdout
    assert f"pull by digest: {pushed.pinned}" in r.stdout        # the same bytes, a second tag
    assert registry_server.password not in r.stdout + r.stderr


def test_an_unreachable_registry_is_named(released: Path):  # noqa: F811
    port = free_port()  # nothing listens there
    r = release_push(f"127.0.0.1:{port}/{REPO}", user="edge", password="unused-pw")
    assert r.returncode == 10, tail(r)
    assert (f"error: cannot reach registry 127.0.0.1:{port}: connection refused (nothing listens "
            "there); fix: check the host and port") in r.stderr, tail(r)
    assert "Traceback" not in r.stderr and "unused-pw" not in r.stdout + r.stderr


@pytest.mark.parametrize("dest, env, says", [
    ("Edge/Infer", {}, "error: --push 'Edge/Infer': 'Edge' looks like a repository, not a "
                       "registry host"),
    ("127.0.0.1:5000/Edge-Infer", {}, "(repository names are lower case)"),
    ("127.0.0.1:5000/edge-infer", {"EDGEFORGE_REGISTRY_USER": "edge"},
     "error: EDGEFORGE_REGISTRY_USER is set but EDGEFORGE_REGISTRY_PASSWORD is not"),
])
def test_a_bad_destination_fails_before_anything_is_built(dest: str, env: dict, says: str):
    t0 = time.monotonic()
    r = run_invoke("release", "--board", BOARD, "--version", VERSION, "--push", dest,
                   env={"EDGEFORGE_REGISTRY_USER": "", "EDGEFORGE_REGISTRY_PASSWORD": "", **env},
                   timeout=120)
    assert r.returncode == 2, tail(r)
    assert says in r.stderr and "Traceback" not in r.stderr
    assert "plan for" not in r.stdout and time.monotonic() - t0 < 60
