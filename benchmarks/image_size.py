"""The jetson-nx container image's size against NVIDIA's l4t-base. Target: at most 60 MB.

Builds what is missing (`invoke build --board jetson-nx`), writes the image from build/jetson-nx
into a temporary folder (not loaded into the engine) and prints its size compressed (what a
registry stores and a device downloads) and unpacked (what `docker images` shows), per layer,
and the ratio to l4t-base."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import APP, PROJECT, invoke, machine, timed

#: nvcr.io/nvidia/l4t-base (JetPack 5) as `docker images` shows it: the figure of issue 11
L4T_BASE_MB = 789
TARGET_MB = 60


def main() -> None:
    from edgeforge.build import read_manifest
    from edgeforge.config import containerimage as imagedefs
    from edgeforge.context import Context
    from edgeforge.core import Reporter, Runner
    from edgeforge.deliver import ReleaseInput
    from edgeforge.deliver.oci import image as container
    from edgeforge.deliver.oci import read as ociread
    from edgeforge.toolchain import sysroot_dir

    board = "jetson-nx"
    timed(invoke("build", "--board", board))
    ctx = Context.create(project_root=PROJECT)
    t = ctx.catalog.resolve(board, env={})
    app = ctx.app(APP)
    manifest = read_manifest(ctx.layout(board).root, app.name)
    if manifest is None:
        raise SystemExit(f"no manifest in {ctx.layout(board, app.name).records}: the build did "
                         "not finish")
    inp = ReleaseInput(target=t, app=app, manifest=manifest, app_dir=ctx.layout(board).app(app.name),
                       sysroot=sysroot_dir(ctx, t.sysroot), project_root=PROJECT,
                       version=app.version, revision="benchmark",
                       source_date_epoch=1_700_000_000, mirror_dir=ctx.mirror_dir)
    image_def = imagedefs.load(PROJECT / "images" / "edge-infer")
    with tempfile.TemporaryDirectory(prefix="edgeforge-image-size-") as tmp:
        t0 = time.monotonic()
        r = container.write_container_image(inp, image_def, Path(tmp),
                                            Runner(Reporter(quiet=True), Path(tmp) / "logs"),
                                            load=False)
        elapsed = time.monotonic() - t0
        image = ociread.read_oci_layout(r.oci_layout)
        layers = [la.size for la in image.layers]
    mb = r.uncompressed_size / 1e6
    system = [f for f in r.files if f.source == "sysroot" and f.kind == "file"]
    app = [f for f in r.files if f.source == "app" and f.kind == "file"]
    print(f"machine: {machine()}")
    print(f"image {r.tag} ({r.platform}), written in {elapsed:.1f} s")
    for size, what in zip(layers, ("system libraries, loader, user", "the app"), strict=False):
        print(f"  layer: {what}: {size / 1e6:.1f} MB compressed")
    print(f"  {len(system)} system library files ({sum(f.size for f in system) / 1e6:.1f} MB), "
          f"{len(app)} app files ({sum(f.size for f in app) / 1e6:.1f} MB)")
    print(f"size: {r.compressed_size / 1e6:.1f} MB compressed, {mb:.1f} MB unpacked")
    print(f"NVIDIA l4t-base: {L4T_BASE_MB} MB; l4t-base/image ratio: {L4T_BASE_MB / mb:.1f}x")
    print(f"image/{TARGET_MB} MB ratio: {mb / TARGET_MB:.2f} (target <= 1): "
          f"{'met' if mb <= TARGET_MB else 'NOT met'}")


if __name__ == "__main__":
    main()
