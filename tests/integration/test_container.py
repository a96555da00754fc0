"""The container image against a real sysroot, a real dockerd and skopeo, with a small stand-in
app: the sysroot's own `ls` installed as bin/edge-infer, with one of its libraries (libpcre2)
carried in the app's lib/ the way the real app carries OpenCV. Real closure, real layers, real
`docker load` and `docker run --platform` through binfmt; a base image made from the board's
stand-in suite by mmdebstrap; an index of an arm64 and an arm/v7 image. The real app's image is
tested in tests/e2e/test_container.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeforge.build import AbiRecord, CompilerRecord, Manifest, SysrootRecord
from edgeforge.config import Arch
from edgeforge.config import containerimage as imagedefs
from edgeforge.context import Context
from edgeforge.core import DescriptorError, Reporter, Runner
from edgeforge.deliver import ReleaseInput, write_container_index
from edgeforge.deliver import scan as imagescan
from edgeforge.deliver.oci import image as container
from edgeforge.deliver.oci import layout as oci
from edgeforge.deliver.oci import read as ociread
from tests import containerbase
from tests.conftest import BUILD, DIST, PROJECT, require_tools
from tests.integration.conftest import built_sysroot

pytestmark = pytest.mark.integration
EPOCH = 1_700_000_000
VERSION = "1.0.0+git20231114.abc1234"
SHIPPED = imagedefs.load(PROJECT / "images" / "edge-infer")
PREFIX = SHIPPED.prefix
#: the stand-in app has no RUNPATH to its lib/ as the real one has
IMAGE_DEF = SHIPPED.model_copy(update={"env": {"LD_LIBRARY_PATH": f"{PREFIX}/lib"}})


def ctx() -> Context:
    return Context.create(project_root=PROJECT, build_root=BUILD, dist_root=DIST)


def runner(tmp: Path) -> Runner:
    return Runner(Reporter(quiet=True), tmp / "logs")


def docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    require_tools("docker")
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def fake_app(sysroot: Path, dest: Path, arch: Arch) -> Path:
    """bin/edge-infer (the sysroot's ls), lib/ with its libpcre2, share/ with a model."""
    lib = sysroot / "usr/lib" / arch.multiarch
    pcre = sorted(p for p in lib.glob("libpcre2-8.so.0.*") if not p.is_symlink())[0]
    (dest / "bin").mkdir(parents=True)
    (dest / "lib").mkdir()
    (dest / "share/edge-infer").mkdir(parents=True)
    shutil.copy2(sysroot / "bin/ls", dest / "bin/edge-infer")
    shutil.copy2(pcre, dest / "lib" / pcre.name)
    (dest / "lib/libpcre2-8.so.0").symlink_to(pcre.name)
    (dest / "share/edge-infer/pedestrian-grid.onnx").write_bytes(b"model")
    return dest


def release_input(board: str, app: Path, sysroot: Path, epoch: int = EPOCH) -> ReleaseInput:
    c = ctx()
    t = c.catalog.resolve(board, env={})
    manifest = Manifest(
        board=board, arch=t.arch.value, triple=t.triple,
        compiler=CompilerRecord(name=t.compiler.name, family=t.family.value, version="14"),
        sysroot=SysrootRecord(name=t.sysroot.name, key="test", glibc=None, glibcxx=None),
        abi=AbiRecord(glibc=t.abi.glibc, glibcxx=t.abi.glibcxx, cxxabi=t.abi.cxxabi or "",
                      strategy=t.abi.strategy.value, max_needed={}),
        artifacts=())
    return ReleaseInput(target=t, app=c.app(), manifest=manifest, app_dir=app, sysroot=sysroot,
                        project_root=PROJECT, version=VERSION, revision="abc1234",
                        source_date_epoch=epoch, mirror_dir=c.mirror_dir)


def layer_members(result: container.ContainerResult) -> list[list[str]]:
    """The member names of every layer of the image, in order."""
    image = ociread.read_oci_layout(result.oci_layout)
    out: list[list[str]] = [[] for _ in image.layers]
    ociread.read_oci_layout(result.oci_layout,
                        visit=lambda i: lambda m, _d: out[i - 1].append("/" + m.name))
    return out


def config_of(result: container.ContainerResult) -> dict:
    image = ociread.read_oci_layout(result.oci_layout)
    return image.config


@pytest.fixture(scope="module")
def nx(bullseye: Path, tmp_path_factory) -> tuple[ReleaseInput, container.ContainerResult]:
    tmp = tmp_path_factory.mktemp("nx")
    inp = release_input("jetson-nx", fake_app(bullseye, tmp / "app", Arch.ARM64), bullseye)
    return inp, container.write_container_image(inp, IMAGE_DEF, tmp / "out", runner(tmp))


def test_image_holds_the_app_the_library_closure_and_the_user_only(nx):
    inp, r = nx
    files = {f.path: f for f in r.files}
    system = {Path(f.path).name for f in r.system_files()}
    assert {"ld-linux-aarch64.so.1", "libc.so.6", "libselinux.so.1", "libdl.so.2",
            "libnss_dns.so.2", "libnss_files.so.2", "libresolv.so.2"} <= system
    assert not any(n.startswith("libpcre2") for n in system)  # the app carries it
    assert f"{PREFIX}/lib/libpcre2-8.so.0" in files and f"{PREFIX}/bin/edge-infer" in files
    # each library keeps its link chain, and says which package of the sysroot ships it
    libc = files["/lib/aarch64-linux-gnu/libc.so.6"]
    assert libc.kind == "symlink" and libc.target.startswith("libc-2.")
    assert all(f.package for f in r.system_files()), [f.path for f in r.system_files()
                                                      if not f.package]
    assert files["/lib/aarch64-linux-gnu/libselinux.so.1"].package == "libselinux1"
    generated = sorted(f.path for f in r.files if f.source == "generated")
    assert generated == ["/etc/group", "/etc/nsswitch.conf", "/etc/passwd"]
    # nothing else: every non-folder member of the layers is a listed file
    members = [m for layer in layer_members(r) for m in layer]
    leaves = {m for m in members if not any(o.startswith(m + "/") for o in members)}
    assert leaves - set(files) == {"/tmp"}
    assert set(files) <= set(members)


def test_config_names_platform_user_entrypoint_and_labels(nx):
    inp, r = nx
    config = config_of(r)
    assert (config["os"], config["architecture"], config.get("variant")) == ("linux", "arm64", None)
    assert config["created"] == "2023-11-14T22:13:20Z"
    c = config["config"]
    assert c["User"] == "10001:10001" and c["Entrypoint"] == [f"{PREFIX}/bin/edge-infer"]
    labels = c["Labels"]
    for key in ("title", "version", "revision", "source", "created", "licenses"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert labels["org.opencontainers.image.version"] == VERSION
    assert "Apache-2.0" in labels["org.opencontainers.image.licenses"]
    assert labels["io.edgeforge.board"] == "jetson-nx"
    assert (labels["io.edgeforge.abi.glibc"], labels["io.edgeforge.abi.glibcxx"]) == ("2.31", "3.4.28")
    assert r.config_digest == "sha256:" + hashlib.sha256(
        (r.oci_layout / "blobs/sha256" / r.config_digest[7:]).read_bytes()).hexdigest()
    assert r.tag == "edge-infer:1.0.0_git20231114.abc1234-jetson-nx"


def test_the_engine_runs_it_read_only_as_the_non_root_user(nx):
    _, r = nx
    got = docker("image", "inspect", r.tag, "--format", "{{.Id}} {{.Os}}/{{.Architecture}}")
    assert got.stdout.split() == [r.config_digest, "linux/arm64"], got.stderr
    run = docker("run", "--rm", "--platform", "linux/arm64", "--read-only", r.tag, "--version")
    assert run.returncode == 0 and "GNU coreutils" in run.stdout, run.stderr
    # a process's /proc/self belongs to the user it runs as
    run = docker("run", "--rm", "--platform", "linux/arm64", "--read-only", r.tag,
                 "-lnd", "/proc/self/")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[2:4] == ["10001", "10001"]
    # the app is root's: its user cannot change it
    run = docker("run", "--rm", "--platform", "linux/arm64", r.tag, "-ln", f"{PREFIX}/bin")
    assert " 0 0 " in run.stdout


def test_a_rebuild_is_byte_identical(nx, tmp_path: Path):
    inp, r = nx
    for p in inp.app_dir.rglob("*"):
        os.utime(p, (EPOCH + 999, EPOCH + 999), follow_symlinks=False)
    again = container.write_container_image(inp, IMAGE_DEF, tmp_path / "out", runner(tmp_path),
                                            load=False)
    first, second = _tree_bytes(r.oci_layout.parent), _tree_bytes(again.oci_layout.parent)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert again.manifest_digest == r.manifest_digest


def _tree_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_skopeo_reads_the_layout_and_the_archive_alike(nx):
    require_tools("skopeo")
    _, r = nx
    ref = r.tag.split(":", 1)[1]
    outs = []
    for src in (f"oci:{r.oci_layout}:{ref}", f"docker-archive:{r.docker_archive}"):
        p = subprocess.run(["skopeo", "inspect", "--config", src], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout))
    assert outs[0] == outs[1] == config_of(r)


def test_every_layer_is_scanned_clean(nx):
    _, r = nx
    scan = imagescan.ContentScan(Arch.ARM64)
    ociread.read_oci_layout(r.oci_layout, None, oci.platform_for(Arch.ARM64),
                        visit=lambda i: scan.visitor(f"layer {i}"))
    scan.check("jetson-nx")
    assert not scan.foreign and not scan.secrets


# ---- a base image -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stand_in_base(bullseye: Path, tmp_path_factory) -> Path:
    require_tools("mmdebstrap")
    c = ctx()
    return containerbase.stand_in_base(c, c.catalog.resolve("jetson-nx", env={}),
                                       runner(tmp_path_factory.mktemp("base")))


def with_base(path: Path, fmt: str, ref: str | None = None) -> imagedefs.ContainerImageDef:
    return IMAGE_DEF.model_copy(update={"base": imagedefs.BaseSpec(path=str(path), format=fmt,
                                                                   ref=ref)})


def test_image_on_a_base_made_from_the_stand_in_suite(nx, stand_in_base: Path, tmp_path: Path):
    inp, _ = nx
    base = ociread.read_oci_layout(stand_in_base, None, oci.platform_for(Arch.ARM64))
    r = container.write_container_image(inp, with_base(stand_in_base, "oci"), tmp_path / "out",
                                        runner(tmp_path))
    config = config_of(r)
    base_ids = [la.diff_id for la in base.layers]
    assert config["rootfs"]["diff_ids"][:len(base_ids)] == base_ids  # its layers first
    assert len(config["rootfs"]["diff_ids"]) == len(base_ids) + 2
    assert config["config"]["Labels"]["org.opencontainers.image.base.digest"] == base.digest
    # the base has glibc, so the image's own layers bring only what it lacks
    system = {Path(f.path).name for f in r.system_files()}
    assert "libc.so.6" not in system and "libselinux.so.1" not in system
    passwd = next(f for f in r.files if f.path == "/etc/passwd")
    run = docker("run", "--rm", "--platform", "linux/arm64", "--read-only", r.tag, "--version")
    assert run.returncode == 0 and "GNU coreutils" in run.stdout, run.stderr
    run = docker("run", "--rm", "--platform", "linux/arm64", "--entrypoint", "/bin/cat", r.tag,
                 "/etc/passwd")
    assert run.stdout.startswith("root:x:0:0:") and "edge-infer:x:10001:10001" in run.stdout
    assert passwd.size == len(run.stdout.encode())


def test_the_same_base_from_a_docker_save_archive(nx, stand_in_base: Path, tmp_path: Path):
    """The base loaded into the engine and written back by `docker save`: the archive form a
    user has on disk."""
    import docker as docker_sdk

    from edgeforge.host import DOCKER_SOCK

    inp, _ = nx
    base = ociread.read_oci_layout(stand_in_base, None, oci.platform_for(Arch.ARM64))
    tars = []
    for i, layer in enumerate(base.layers):
        tar = tmp_path / f"l{i}.tar"
        oci.gunzip_file(layer.path, tar)
        tars.append((layer.diff_id, tar))
    ours = oci.write_docker_archive(tmp_path / "ours.tar", oci.canonical_json(base.config), tars,
                                    ["edgeforge-test-base:bullseye"], EPOCH)
    client = docker_sdk.DockerClient(base_url=f"unix://{DOCKER_SOCK}", timeout=600)
    try:
        with open(ours, "rb") as fh:
            client.images.load(fh)
        saved = tmp_path / "saved.tar"
        with open(saved, "wb") as out:
            for chunk in client.images.get("edgeforge-test-base:bullseye").save(named=True):
                out.write(chunk)
    finally:
        client.close()
    r = container.write_container_image(
        inp, with_base(saved, "docker-archive", "edgeforge-test-base:bullseye"), tmp_path / "out",
        runner(tmp_path), load=False)
    assert config_of(r)["rootfs"]["diff_ids"][:len(base.layers)] == [la.diff_id for la in base.layers]
    assert r.base.startswith("edgeforge-test-base:bullseye@sha256:")


def test_a_base_of_another_architecture_is_refused(nx, tmp_path: Path):
    inp, _ = nx
    layout = oci.Layout(tmp_path / "amd64.oci")
    work = tmp_path / "w"
    work.mkdir()
    blob = oci.write_layer(oci.layer_entries([oci.Entry("/etc/os-release", "file", data=b"x")]),
                           layout, work, EPOCH, "l")
    config = layout.put_json(oci.image_config(oci.Platform("linux", "amd64"), EPOCH, {},
                                              [blob.diff_id], [{}]), oci.MEDIA_CONFIG)
    m = layout.put_json(oci.image_manifest(config, [blob.descriptor]), oci.MEDIA_MANIFEST)
    layout.finish([m])
    with pytest.raises(DescriptorError, match="is for linux/amd64, the board needs linux/arm64"):
        container.write_container_image(inp, with_base(layout.root, "oci"), tmp_path / "out",
                                        runner(tmp_path), load=False)


# ---- several boards -----------------------------------------------------------------------------
def test_an_index_of_an_arm64_and_an_armv7_image(nx, tmp_path: Path):
    require_tools("skopeo")
    _, nx_result = nx
    armhf_root = built_sysroot("rpi3-armhf")
    inp = release_input("rpi3-armhf", fake_app(armhf_root, tmp_path / "app", Arch.ARMHF),
                        armhf_root)
    r = container.write_container_image(inp, IMAGE_DEF, tmp_path / "out", runner(tmp_path))
    config = config_of(r)
    assert (config["architecture"], config["variant"]) == ("arm", "v7")
    got = docker("image", "inspect", r.tag, "--format", "{{.Os}}/{{.Architecture}}/{{.Variant}}")
    assert got.stdout.strip() == "linux/arm/v7", got.stderr
    run = docker("run", "--rm", "--platform", "linux/arm/v7", "--read-only", r.tag, "--version")
    assert run.returncode == 0 and "GNU coreutils" in run.stdout, run.stderr

    layout = write_container_index([nx_result, r], tmp_path / "index")
    p = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{layout}:1.0.0_git20231114.abc1234"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    index = json.loads(p.stdout)
    assert index["mediaType"] == oci.MEDIA_INDEX
    assert sorted((d["platform"]["architecture"], d["platform"].get("variant"))
                  for d in index["manifests"]) == [("arm", "v7"), ("arm64", None)]
    for arch in ("arm64", "arm"):  # skopeo picks each board's image by platform
        p = subprocess.run(["skopeo", "--override-arch", arch, "inspect",
                            f"oci:{layout}:1.0.0_git20231114.abc1234"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and json.loads(p.stdout)["Architecture"] == arch, p.stderr
