"""`invoke release` end to end for jetson-nx: the dist folder, its digests and record, the SBOM
and legal/ contents, a no-op second release, a signed release checked with a key the test
makes (also from EDGEFORGE_SIGNING_KEY), a failed release and one interrupted by Ctrl-C or
SIGTERM that leave the previous one intact, and `--check-reproducible` (exit 0, then 9)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edgeforge.deliver import validate
from tests.conftest import (
    BUILD,
    DIST,
    INVOKE,
    PROJECT,
    SUITE_APP,
    interrupt,
    release_dir,
    run_invoke,
    sigint_as_from_a_terminal,
)
from tests.e2e.conftest import build_board, sysroot_of

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
VERSION = "1.0.0"
EPOCH = "1700000000"


def release_unsigned() -> subprocess.CompletedProcess:
    return run_invoke("release", "--board", BOARD, "--version", VERSION, "--sdk",
                      env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)


@pytest.fixture(scope="module")
def released() -> Path:
    build_board(BOARD, smoke_only=False)
    r = release_unsigned()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    folder = release_dir(BOARD, VERSION)
    # assembled now, or already (a module reusing this fixture finds it up to date)
    assert f"release {VERSION} for {BOARD}: {folder}" in r.stdout or \
        "skip release: up to date" in r.stdout, r.stdout[-2000:]
    assert (folder / "release.json").is_file()
    return folder


@pytest.fixture
def unsigned(released: Path) -> Path:
    """The release as `released` made it (unsigned), whatever a test before this one left (a
    signature, another board's release): the same command again, a no-op when it is so."""
    r = release_unsigned()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert not (released / "SHA256SUMS.asc").exists()
    return released


def test_release_folder_holds_every_artefact_with_digests(released: Path):
    names = {p.name for p in released.iterdir()}
    assert {"SHA256SUMS", "release.json", "sbom.cdx.json", "legal"} <= names
    assert any(n.endswith("_arm64.deb") for n in names), names
    assert any(n.endswith(".run") for n in names), names
    assert any(n.endswith(".docker.tar") for n in names), names
    assert any(n.endswith(".oci") for n in names), names
    assert not any(n.endswith(".rpm") for n in names)  # jetson-nx asks for deb and run
    sums = dict(reversed(line.split("  ", 1)) for line in
                (released / "SHA256SUMS").read_text().splitlines())
    files = {str(p.relative_to(released)) for p in released.rglob("*")
             if p.is_file() and p.name not in ("SHA256SUMS", "SHA256SUMS.asc")}
    assert set(sums) == files
    for rel, digest in sums.items():
        assert hashlib.sha256((released / rel).read_bytes()).hexdigest() == digest
    record = json.loads((released / "release.json").read_text())
    assert record["version"] == VERSION and record["board"] == BOARD
    assert record["source_date_epoch"] == int(EPOCH)
    assert record["abi_ceiling"] == {"glibc": "2.31", "glibcxx": "3.4.28", "cxxabi": "1.3.12",
                                     "strategy": "sysroot-libstdcxx"}
    assert record["files"]["sbom.cdx.json"]["sha256"] == sums["sbom.cdx.json"]
    # every timestamp is the release's
    assert {int(p.stat().st_mtime) for p in released.rglob("*")} == {int(EPOCH)}
    assert not list(released.parent.glob(".*.new"))


def test_sbom_lists_what_ships_and_validates(released: Path):
    text = (released / "sbom.cdx.json").read_text()
    assert validate(text) == []
    doc = json.loads(text)
    assert doc["metadata"]["component"]["name"] == "edge-infer"
    assert doc["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert props["edgeforge:board"] == BOARD
    assert props["edgeforge:abi-ceiling"] == "GLIBC_2.31 GLIBCXX_3.4.28 CXXABI_1.3.12"
    comps = {c["bom-ref"]: c for c in doc["components"]}
    ffmpeg = comps["conan:ffmpeg"]
    assert ffmpeg["licenses"][0]["license"]["id"] == "LGPL-2.1-or-later"
    src = ffmpeg["externalReferences"][0]
    assert src["hashes"][0]["content"] == \
        "d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176"
    assert "ffmpeg 7:5.1.9-0+deb12u1" in src["comment"]
    # a test-only requirement is not part of the app (only of the SDK, which ships it)
    assert "conan:googletest" not in graph_of(doc)["app:edge-infer"]
    assert {"name": "edgeforge:in", "value": "sdk"} in comps["conan:googletest"]["properties"]
    assert comps["model:pedestrian-grid.onnx"]["type"] == "machine-learning-model"
    system = [c for ref, c in comps.items() if ref.startswith("deb:")]
    assert any(c["name"] == "libc6" and c["purl"].endswith("?arch=arm64") for c in system)
    graph = graph_of(doc)
    assert {"conan:opencv", "conan:ffmpeg", "model:pedestrian-grid.onnx"} <= graph["app:edge-infer"]
    assert "conan:ffmpeg" in graph["conan:opencv"]
    assert "password" not in text.lower() and "token" not in text.lower()


def test_sbom_gives_every_shipped_file_its_sha256_in_the_standard_hashes(released: Path):
    """Read by cyclonedx-python-lib's own deserializer, the SBOM has the .deb's sha256 in the
    standard `hashes` of a `file` component, and so every file SHA256SUMS lists but the
    release's own documents (release.json, the SBOM, legal/)."""
    from cyclonedx.model import HashAlgorithm
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import ComponentType

    bom = Bom.from_json(json.loads((released / "sbom.cdx.json").read_text()))
    hashes: dict[str, set[tuple[HashAlgorithm, str]]] = {}
    for c in (bom.metadata.component, *bom.components):
        for f in c.components:
            if f.type is ComponentType.FILE:
                hashes.setdefault(f.name, set()).update((h.alg, h.content) for h in f.hashes)
    deb = released / f"edge-infer_{VERSION}_arm64.deb"
    assert deb.is_file(), sorted(p.name for p in released.iterdir())
    assert (HashAlgorithm.SHA_256, hashlib.sha256(deb.read_bytes()).hexdigest()) in \
        hashes[deb.name]
    sums = dict(reversed(line.split("  ", 1)) for line in
                (released / "SHA256SUMS").read_text().splitlines())
    for rel, digest in sums.items():
        if rel in ("release.json", "sbom.cdx.json") or rel.startswith("legal/"):
            continue
        assert (HashAlgorithm.SHA_256, digest) in hashes.get(rel, set()), rel


def graph_of(doc: dict) -> dict[str, set[str]]:
    return {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}


def test_sdk_ships_and_the_sbom_lists_what_it_holds(released: Path):
    """`--sdk`: the SDK archive is in the release, and the SBOM lists it with its digest,
    every Debian package of its sysroot and the Conan packages installed into it."""
    archive = released / f"edgeforge-sdk-{BOARD}.tar.gz"
    assert archive.is_file()
    doc = json.loads((released / "sbom.cdx.json").read_text())
    comps = {c["bom-ref"]: c for c in doc["components"]}
    sdk = comps[f"sdk:edgeforge-sdk-{BOARD}"]
    assert sdk["type"] == "file"
    files = [p["value"] for p in sdk["properties"] if p["name"] == "edgeforge:file"]
    assert files == [f"{archive.name} sha256:{hashlib.sha256(archive.read_bytes()).hexdigest()}"]
    holds = graph_of(doc)[sdk["bom-ref"]]
    assert {"conan:opencv", "conan:ffmpeg", "conan:googletest", "deb:libc6",
            "deb:libc6-dev"} <= holds
    status = (sysroot_of(BOARD) / "var/lib/dpkg/status").read_text()
    installed = {para.split("\n", 1)[0].removeprefix("Package: ")
                 for para in status.split("\n\n")
                 if para.startswith("Package: ") and "\nStatus: install ok installed" in para}
    assert {h.removeprefix("deb:") for h in holds if h.startswith("deb:")} == installed
    dev = comps["deb:libc6-dev"]
    assert dev["purl"].startswith("pkg:deb/debian/libc6-dev@") and \
        {"name": "edgeforge:in", "value": "sdk"} in dev["properties"]


def test_two_boards_sboms_differ_where_the_boards_do(released: Path, tmp_path: Path):
    """rpi4 (gcc 12, bookworm) against jetson-nx (clang 14, bullseye): the same app and Conan
    packages, other binaries of them, other system libraries; the SBOM says so."""
    from edgeforge.build import read_manifest
    from edgeforge.context import Context
    from edgeforge.core import Reporter, Runner
    from edgeforge.deliver import ReleaseInput
    from edgeforge.deliver import sbom as releasesbom

    build_board("rpi4", smoke_only=False)
    nx = json.loads((released / "sbom.cdx.json").read_text())
    nx_props = {p["name"]: p["value"] for p in nx["metadata"]["properties"]}
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    manifest = read_manifest(BUILD / "rpi4", SUITE_APP)
    assert manifest is not None
    inp = ReleaseInput(target=ctx.catalog.resolve("rpi4", env={}), app=ctx.app(),
                       manifest=manifest,
                       app_dir=BUILD / "rpi4" / "edge-infer", sysroot=sysroot_of("rpi4"),
                       project_root=PROJECT, version=VERSION,
                       revision=nx_props["edgeforge:revision"], source_date_epoch=int(EPOCH),
                       mirror_dir=ctx.mirror_dir)
    path = releasesbom.write(inp, ctx, Runner(Reporter(quiet=True), tmp_path / "logs"),
                             tmp_path / "rpi4.cdx.json", shipped={})
    rpi = json.loads(path.read_text())
    assert validate(path.read_text()) == []
    rpi_props = {p["name"]: p["value"] for p in rpi["metadata"]["properties"]}
    assert (nx_props["edgeforge:board"], rpi_props["edgeforge:board"]) == ("jetson-nx", "rpi4")
    assert nx_props["edgeforge:compiler"] != rpi_props["edgeforge:compiler"]
    assert rpi_props["edgeforge:abi-ceiling"].startswith("GLIBC_2.36")

    def comps(doc: dict) -> dict[str, dict]:
        return {c["bom-ref"]: c for c in doc["components"]}

    a, b = comps(nx), comps(rpi)
    assert a["conan:opencv"]["version"] == b["conan:opencv"]["version"] == "4.6.0"

    def prop(c: dict, name: str) -> str:
        return next(p["value"] for p in c["properties"] if p["name"] == name)

    assert prop(a["conan:opencv"], "edgeforge:package_id") != \
        prop(b["conan:opencv"], "edgeforge:package_id")
    assert a["deb:libc6"]["version"].startswith("2.31") and \
        b["deb:libc6"]["version"].startswith("2.36")
    assert nx["serialNumber"] != rpi["serialNumber"]


def test_legal_has_licence_texts_and_copyleft_sources(released: Path):
    legal = released / "legal"
    rows = (legal / "manifest.csv").read_text()
    assert "ffmpeg,5.1.9,LGPL-2.1-or-later" in rows and "sources/ffmpeg/" in rows
    tarball = legal / "sources" / "ffmpeg" / "ffmpeg_5.1.9.orig.tar.xz"
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == \
        "d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176"
    assert (legal / "sources" / "ffmpeg" / "recipe" / "conanfile.py").is_file()
    assert list((legal / "licenses" / "opencv").iterdir())
    assert (legal / "licenses" / "edge-infer" / "LICENSE").is_file()
    assert (legal / "licenses" / "libc6" / "copyright").is_file()
    assert not (legal / "sources" / "opencv").exists()  # Apache-2.0: no source obligation


def test_second_release_changes_nothing(unsigned: Path):
    released = unsigned
    before = {p: p.read_bytes() for p in released.rglob("*") if p.is_file()}
    r = release_unsigned()
    assert r.returncode == 0, r.stderr
    assert "[up to date] release" in r.stdout and "0 steps ran" in r.stdout
    assert {p: p.read_bytes() for p in released.rglob("*") if p.is_file()} == before


def test_failed_release_keeps_the_previous_one(released: Path):
    before = {p: p.read_bytes() for p in released.rglob("*") if p.is_file()}
    r = run_invoke("release", "--board", BOARD, "--version", VERSION, "--sdk", "--sign-key",
                   "nobody@example.invalid", env={"SOURCE_DATE_EPOCH": EPOCH,
                                                  "GNUPGHOME": str(BUILD / "no-such-gnupg")})
    assert r.returncode == 4, r.stdout[-2000:] + r.stderr[-2000:]
    assert "sign SHA256SUMS with key nobody@example.invalid failed" in r.stderr
    assert "Traceback" not in r.stderr
    assert {p: p.read_bytes() for p in released.rglob("*") if p.is_file()} == before
    assert not list(released.parent.glob(".*"))


def test_signed_release_verifies_with_the_key_the_test_made(unsigned: Path, tmp_path: Path):
    """Signing the unsigned release: only the signature is added (the artefacts are not
    rebuilt, nothing else changes), and gpg verifies it with the key the test generated."""
    released = unsigned
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-generate-key",
                    "edgeforge test <test@example.invalid>", "ed25519", "sign", "never"],
                   env=env, check=True, capture_output=True)
    before = {p.relative_to(released): p.read_bytes() for p in released.rglob("*") if p.is_file()}
    r = run_invoke("release", "--board", BOARD, "--version", VERSION, "--sdk",
                   "--sign-key", "test@example.invalid",
                   env={"SOURCE_DATE_EPOCH": EPOCH, "GNUPGHOME": str(home)}, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "skip image: up to date" in r.stdout and "skip deb: up to date" in r.stdout
    after = {p.relative_to(released): p.read_bytes() for p in released.rglob("*") if p.is_file()}
    assert set(after) - set(before) == {Path("SHA256SUMS.asc")}
    assert {k: v for k, v in after.items() if k.name != "SHA256SUMS.asc"} == before
    v = subprocess.run(["gpg", "--batch", "--verify", str(released / "SHA256SUMS.asc"),
                        str(released / "SHA256SUMS")], env=env, capture_output=True, text=True)
    assert v.returncode == 0 and "Good signature" in v.stderr, v.stderr
    private = list(home.rglob("private-keys-v1.d/*"))
    assert private and not any(p.name.endswith(".key") for p in released.rglob("*"))
    assert b"PRIVATE KEY" not in b"".join(after.values())


def test_two_boards_release_one_index_and_the_armhf_image_runs(unsigned: Path, registry_server,
                                                              tmp_path: Path):
    """`release --board jetson-nx --board rpi3-armhf --push REGISTRY/REPO`: both releases, and
    dist/index/<version>/ with one OCI image index holding linux/arm64 and linux/arm/v7, pushed
    as it is (with both images) to a registry on 127.0.0.1; the armhf image, loaded into the
    engine, runs its program under binfmt."""
    import shutil

    released = unsigned

    for tool in ("skopeo", "docker"):
        assert shutil.which(tool), f"{tool} is missing: ./edgeforge setup installs it"
    build_board("rpi3-armhf", smoke_only=False)
    before = (released / "SHA256SUMS").read_bytes()
    repo = f"{registry_server.address}/edge/infer-all"
    r = run_invoke("release", "--board", BOARD, "--board", "rpi3-armhf", "--version", VERSION,
                   "--sdk", "--push", repo,
                   env={"SOURCE_DATE_EPOCH": EPOCH, "EDGEFORGE_REGISTRY_USER": registry_server.user,
                        "EDGEFORGE_REGISTRY_PASSWORD": registry_server.password},
                   timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert (release_dir("rpi3-armhf", VERSION) / f"edge-infer-{VERSION}-rpi3-armhf.docker.tar").is_file()
    assert (released / "SHA256SUMS").read_bytes() == before     # jetson-nx's: a no-op
    layouts = list((DIST / "index" / SUITE_APP / VERSION).glob("*.oci"))
    assert len(layouts) == 1, layouts
    p = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{layouts[0]}:{VERSION}"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    index = json.loads(p.stdout)
    assert sorted((d["platform"]["os"], d["platform"]["architecture"],
                   d["platform"].get("variant")) for d in index["manifests"]) == \
        [("linux", "arm", "v7"), ("linux", "arm64", None)]
    # the registry holds the index byte for byte (digests preserved) and both boards' images
    digest = "sha256:" + hashlib.sha256(p.stdout.encode()).hexdigest()
    assert f"pull by digest: {repo}@{digest}" in r.stdout, r.stdout[-2000:]
    assert registry_server.raw_manifest(f"{repo}:{VERSION}", tmp_path) == p.stdout.encode()
    for d in index["manifests"]:
        raw = registry_server.raw_manifest(f"{repo}@{d['digest']}", tmp_path)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == d["digest"]
    assert registry_server.password not in r.stdout + r.stderr
    run = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm/v7", "--read-only",
                          f"edge-infer:{VERSION}-rpi3-armhf", "--version"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("edge-infer "), run.stderr
    assert "board: rpi3-armhf" in run.stdout, run.stdout


# ---- the signing key from the environment, an interrupted release, --check-reproducible -------
def gpg_home(home: Path, uid: str) -> dict[str, str]:
    """A GNUPGHOME with one new signing key (no passphrase) for `uid`; its environment."""
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-generate-key", uid, "ed25519",
                    "sign", "never"], env=env, check=True, capture_output=True)
    return env


def test_signing_key_from_the_environment_signs_the_release(released: Path, tmp_path: Path):
    """EDGEFORGE_SIGNING_KEY (no --sign-key): the release is signed with that key and nothing
    else changes. The key is new on every run, so a signature left by an earlier run cannot
    pass for it."""
    uid = f"env-{secrets.token_hex(4)}@example.invalid"
    env = gpg_home(tmp_path / "gnupg", f"edgeforge env <{uid}>")
    sums = released / "SHA256SUMS"
    before = {p.relative_to(released): p.read_bytes() for p in released.rglob("*")
              if p.is_file() and p.name != "SHA256SUMS.asc"}
    try:
        r = run_invoke("release", "--board", BOARD, "--version", VERSION, "--sdk",
                       env={"SOURCE_DATE_EPOCH": EPOCH, "GNUPGHOME": env["GNUPGHOME"],
                            "EDGEFORGE_SIGNING_KEY": uid}, timeout=3600)
        v = subprocess.run(["gpg", "--batch", "--verify", str(released / "SHA256SUMS.asc"),
                            str(sums)], env=env, capture_output=True, text=True)
    finally:  # the agent gpg started for this home
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "release.json, signature)" in r.stdout  # the plan says it signs
    assert "skip image: up to date" in r.stdout and "skip deb: up to date" in r.stdout
    after = {p.relative_to(released): p.read_bytes() for p in released.rglob("*")
             if p.is_file() and p.name != "SHA256SUMS.asc"}
    assert after == before
    assert v.returncode == 0 and f'Good signature from "edgeforge env <{uid}>"' in v.stderr, v.stderr


#: stands in for a gpg that waits (for a pinentry, a smartcard): says it started, then blocks
SLOW_GPG = """#!/bin/sh
echo $$ > "{marker}"
exec sleep 600
"""


def digests(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_release_keeps_the_previous_one(released: Path, tmp_path: Path, signum):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM (to the
    process, as `kill` or a cancelled CI job sends it) while the release is being assembled
    (its staging folder filled, gpg signing): exit 130 and the one line `interrupted`, no
    traceback; the previous release is the same bytes, no staging folder is left, and the
    signing child is stopped."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "gpg.pid"
    (bin_dir / "gpg").write_text(SLOW_GPG.format(marker=marker))
    (bin_dir / "gpg").chmod(0o755)
    before = digests(released)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    env = {**os.environ, "EDGEFORGE_BUILD_DIR": str(BUILD), "EDGEFORGE_DIST_DIR": str(DIST),
           "SOURCE_DATE_EPOCH": EPOCH, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(
            [str(INVOKE), "--search-root", str(PROJECT), "release", "--board", BOARD,
             "--version", VERSION, "--sdk", "--sign-key",
             f"slow-{secrets.token_hex(4)}@example.invalid"],
            cwd=PROJECT, env=env, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
            start_new_session=True, preexec_fn=sigint_as_from_a_terminal)
    try:
        deadline = time.monotonic() + 1800
        while not marker.is_file() or not marker.read_text().strip():
            assert proc.poll() is None, out.read_text()[-3000:] + err.read_text()[-3000:]
            assert time.monotonic() < deadline, "gpg never started"
            time.sleep(0.1)
        # mid-assembly: the new release is staged beside the previous one
        assert (released.parent / f".{VERSION}.new" / "SHA256SUMS").is_file()
        code = interrupt(proc, signum)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stdout, stderr = out.read_text(), err.read_text()
    assert code == 130, stdout[-3000:] + stderr[-3000:]
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    assert lines[-1] == "interrupted" and lines.count("interrupted") == 1, stderr[-2000:]
    assert "Traceback" not in stdout + stderr
    assert digests(released) == before
    assert not list(released.parent.glob(".*"))
    gpg_pid = int(marker.read_text())
    for _ in range(50):
        if not alive(gpg_pid):
            break
        time.sleep(0.1)
    assert not alive(gpg_pid), f"the signing child {gpg_pid} outlived the release"


def test_check_reproducible_rebuilds_elsewhere_and_names_what_differs(released: Path):
    """`--check-reproducible` builds the same release again in another build folder
    (<build>/.reproducible) and compares the two folders byte for byte: identical, exit 0.
    Then one file of the release is changed with its size and time kept (so its step stays up
    to date, as make would judge it): the same command names that file
    and exits 9. The file is put back afterwards. The change goes into this build's release
    (the fixture's, up to date), not the second one: the second folder may be rebuilt by the
    command, and the comparison must still name the file."""
    args = ("release", "--board", BOARD, "--version", VERSION, "--sdk", "--check-reproducible")
    r = run_invoke(*args, env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    other = release_dir(BOARD, VERSION, BUILD / ".reproducible" / "dist")
    assert f"rebuilding the {BOARD} release in {BUILD / '.reproducible'} to compare" in r.stdout
    assert f"reproducible: {released} and {other} are byte-identical" in r.stdout
    assert digests(other).keys() == digests(released).keys()

    victim = released / "release.json"
    original, st = victim.read_bytes(), victim.stat()
    changed = original.replace(b'"app": "edge-infer"', b'"app": "edge-infxr"', 1)
    assert changed != original and len(changed) == len(original)
    try:
        victim.write_bytes(changed)
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        r = run_invoke(*args, env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    finally:
        victim.write_bytes(original)
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert r.returncode == 9, r.stdout[-3000:] + r.stderr[-3000:]
    assert (f"error: the {BOARD} release is not reproducible: 1 files differ between "
            f"{released} and {other}: release.json") in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stdout + r.stderr
