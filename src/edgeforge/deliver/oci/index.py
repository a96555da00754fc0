"""Several boards' container images in one OCI image layout, under one image index: an engine
or a registry picks the board's image by platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgeforge.config import tag_version
from edgeforge.core import UsageError, rmtree

from . import layout as oci
from .image import LABEL_PREFIX, stem
from .record import ContainerResult


def write_container_index(results: Sequence[ContainerResult], out_dir: Path) -> Path:
    """One OCI image layout holding every board's container image: its index.json names an image index
    (ref <version>) whose manifests carry each board's platform, and each board's image
    (ref <version>-<board>). Platforms must differ: an engine picks an image by platform."""
    if not results:
        raise UsageError("an image index needs at least one board's container image")
    results = sorted(results, key=lambda r: r.board)
    first = results[0]
    for r in results:
        if (r.repository, r.version) != (first.repository, first.version):
            raise UsageError(f"cannot index {r.tag} with {first.tag}: one index holds one "
                             "repository and version")
    by_platform: dict[str, list[str]] = {}
    for r in results:
        by_platform.setdefault(r.platform, []).append(r.board)
    clashes = {p: b for p, b in by_platform.items() if len(b) > 1}
    if clashes:
        p, boards = next(iter(clashes.items()))
        raise UsageError(f"boards {', '.join(boards)} are all {p}: an image index selects an "
                         "image by platform, so it can hold one of them only; release them in "
                         "separate runs (each keeps its own <version>-<board> tag)")
    out_dir = Path(out_dir)
    layout_dir = out_dir / f"{stem(first.repository, first.version)}.oci"
    rmtree(layout_dir)
    layout = oci.Layout(layout_dir)
    manifests = []
    for r in results:
        for blob in sorted((r.oci_layout / "blobs" / "sha256").iterdir()):
            layout.put_file(blob, "", digest="sha256:" + blob.name)
        parts = r.platform.split("/")
        platform = oci.Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
        manifests.append(oci.Descriptor(oci.MEDIA_MANIFEST, r.manifest_digest, r.manifest_size,
                                        platform=platform,
                                        annotations={f"{LABEL_PREFIX}.board": r.board}))
    index = layout.put_json(oci.image_index(manifests), oci.MEDIA_INDEX)
    version = tag_version(first.version)
    top = [oci.Descriptor(oci.MEDIA_INDEX, index.digest, index.size,
                          annotations={oci.REF_NAME: version})]
    top += [oci.Descriptor(oci.MEDIA_MANIFEST, m.digest, m.size, platform=m.platform,
                           annotations={oci.REF_NAME: f"{version}-{r.board}"})
            for m, r in zip(manifests, results, strict=True)]
    return layout.finish(top)
