"""The real app's container image: jetson-nx cross-built by `invoke build`, written as an OCI
layout and a docker archive, loaded into the local dockerd and run with `docker run --platform
linux/arm64` through binfmt: --version, the sample video mounted read-only with --summary, a
read-only root file system, a non-root uid. Byte-identical on rebuild, every layer free of ELF
files of another machine and of secrets, and small (the benchmark target: <= 60 MB)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeforge.build import read_manifest, sample
from edgeforge.config import Arch
from edgeforge.config import containerimage as imagedefs
from edgeforge.context import Context
from edgeforge.core import Reporter, Runner
from edgeforge.deliver import ReleaseInput
from edgeforge.deliver import scan as imagescan
from edgeforge.deliver.oci import image as container
from edgeforge.deliver.oci import read as ociread
from tests.conftest import BUILD, DIST, PROJECT, SUITE_APP, require_tools
from tests.e2e.conftest import build_board, sysroot_of

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
EPOCH = 1_700_000_000
MAX_IMAGE_MB = 60
IMAGE_DEF = imagedefs.load(PROJECT / "images" / "edge-infer")
APP = Context.create(project_root=PROJECT, build_root=BUILD, dist_root=DIST).app()


def release_input() -> ReleaseInput:
    ctx = Context.create(project_root=PROJECT, build_root=BUILD, dist_root=DIST)
    manifest = read_manifest(BUILD / BOARD, SUITE_APP)
    assert manifest is not None
    return ReleaseInput(
        target=ctx.catalog.resolve(BOARD, env={}), app=APP, manifest=manifest,
        app_dir=BUILD / BOARD / "edge-infer", sysroot=sysroot_of(BOARD), project_root=PROJECT,
        version=f"{APP.version}+e2e", revision="e2e", source_date_epoch=EPOCH,
        mirror_dir=ctx.mirror_dir)


def docker_run(tag: str, *args: str, mounts: tuple[tuple[Path, str], ...] = (),
               timeout: float = 900) -> subprocess.CompletedProcess:
    require_tools("docker")
    argv = ["docker", "run", "--rm", "--platform", "linux/arm64", "--read-only"]
    for host, inside in mounts:
        argv += ["-v", f"{host}:{inside}:ro"]
    return subprocess.run([*argv, tag, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> container.ContainerResult:
    build_board(BOARD, smoke_only=False)
    tmp = tmp_path_factory.mktemp("image")
    return container.write_container_image(release_input(), IMAGE_DEF, tmp / "out",
                                           Runner(Reporter(quiet=True), tmp / "logs"))


@pytest.fixture(scope="module")
def vtest() -> Path:
    return sample(Context.create(project_root=PROJECT, build_root=BUILD), "vtest.avi")


def test_version_in_the_engine(image: container.ContainerResult):
    r = docker_run(image.tag, "--version")
    assert r.returncode == 0, r.stderr
    assert f"edge-infer {APP.version}" in r.stdout
    assert "board: jetson-nx (aarch64)" in r.stdout


def test_sample_video_mounted_read_only_with_summary(image: container.ContainerResult,
                                                      vtest: Path):
    """No --model: the app finds the model installed beside it, in the image."""
    r = docker_run(image.tag, "--max-frames", "6", "--summary", "/data/vtest.avi",
                   mounts=((vtest, "/data/vtest.avi"),))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["frame"] for line in r.stdout.splitlines()] == list(range(6))
    summary = json.loads(next(ln for ln in r.stderr.splitlines()
                              if ln.startswith('{"summary"')))["summary"]
    assert summary["frames"] == 6 and summary["codec"] == "msmpeg4"


def test_runs_as_the_non_root_user(image: container.ContainerResult, vtest: Path,
                                   tmp_path: Path):
    assert json.loads((image.oci_layout / "blobs/sha256" / image.config_digest[7:])
                      .read_text())["config"]["User"] == "10001:10001"
    # a file only root may read is refused: the process is not root
    private = tmp_path / "private.avi"
    shutil.copyfile(vtest, private)
    private.chmod(0o600)
    r = docker_run(image.tag, "--max-frames", "2", "/data/v.avi", mounts=((private, "/data/v.avi"),))
    assert r.returncode == 3, r.stdout + r.stderr  # input error: cannot open it
    private.chmod(0o644)
    r = docker_run(image.tag, "--max-frames", "2", "/data/v.avi", mounts=((private, "/data/v.avi"),))
    assert r.returncode == 0, r.stderr


def test_image_is_the_app_and_its_closure_only_and_small(image: container.ContainerResult):
    app = {f.origin for f in image.files if f.source == "app"}
    assert {"bin/edge-infer", "share/edge-infer/pedestrian-grid.onnx",
            "share/edge-infer/haarcascade_frontalface_default.xml"} <= app
    system = {Path(f.path).name for f in image.system_files()}
    assert {"ld-linux-aarch64.so.1", "libc.so.6", "libstdc++.so.6", "libgcc_s.so.1",
            "libm.so.6"} <= system
    assert not any(n.startswith(("libopencv", "libav")) for n in system)  # the app's own
    assert all(f.package for f in image.system_files())
    mb = image.uncompressed_size / 1e6
    print(f"\nimage {image.tag}: {image.compressed_size / 1e6:.1f} MB compressed, {mb:.1f} MB "
          "unpacked")
    assert mb <= MAX_IMAGE_MB


def test_every_layer_holds_only_aarch64_elf_files_and_no_secret(image: container.ContainerResult):
    scan = imagescan.ContentScan(Arch.ARM64)
    elf = []

    def visitor(i: int):
        inner = scan.visitor(f"layer {i}")

        def visit(m, data):
            if data is not None and m.size >= 64:
                head = data.read(64)
                elf.append(imagescan.elf_header(head))
                data = _Prefixed(head, data)
            inner(m, data)
        return visit

    ociread.read_oci_layout(image.oci_layout, visit=visitor)
    scan.check(BOARD)
    machines = {h[1] for h in elf if h}
    assert machines == {183}, machines  # EM_AARCH64 only, and there are some


class _Prefixed:
    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.rest.read(n)


def test_a_rebuild_is_byte_identical(image: container.ContainerResult, tmp_path: Path):
    inp = release_input()
    staged = tmp_path / "app"
    shutil.copytree(inp.app_dir, staged, symlinks=True)  # the same files with new times
    for p in staged.rglob("*"):
        os.utime(p, (EPOCH + 7, EPOCH + 7), follow_symlinks=False)
    again = container.write_container_image(
        ReleaseInput(**{**inp.__dict__, "app_dir": staged}), IMAGE_DEF, tmp_path / "out",
        Runner(Reporter(quiet=True), tmp_path / "logs"), load=False)

    def digests(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    assert digests(again.oci_layout.parent) == digests(image.oci_layout.parent)
