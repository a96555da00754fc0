"""A container image's base: an image the user has on disk (an OCI layout or a docker archive,
e.g. NVIDIA's L4T base saved with `docker save`), read as hostile input (read.py), checked to be
for the board's platform, its every layer scanned; and its history, carried into ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge.config import Arch, BaseSpec, expand_path
from edgeforge.core import DescriptorError

from ..scan import ContentScan
from . import layout as oci
from . import read as ociread


@dataclass(frozen=True)
class Base:
    """A base image read from disk, the index of its tree, and the image.yaml entry naming it."""

    image: ociread.SourceImage
    tree: ociread.TreeIndex
    spec: BaseSpec

    @property
    def label(self) -> str:
        return f"{self.image.name or self.image.source.name}@{self.image.digest}"


def check_base_platform(config: Mapping[str, Any], want: oci.Platform, where: str) -> None:
    got = oci.Platform(str(config.get("os", "")), str(config.get("architecture", "")),
                       config.get("variant") or None)
    if got.os != want.os or got.architecture != want.architecture or (
            want.variant and got.variant not in (None, want.variant)):
        raise DescriptorError(
            f"the base image {where} is for {got}, the board needs {want}; use the base built "
            f"for {want} (e.g. `docker save` after `docker pull --platform {want}`) or remove "
            "base: from image.yaml")
    env = config.get("config", {}).get("Env") if isinstance(config.get("config"), dict) else None
    if env is not None and (not isinstance(env, list) or not all(isinstance(e, str) for e in env)):
        raise DescriptorError(f"the base image {where}: its config's Env is not a list of texts")


def open_base(spec: BaseSpec, platform: oci.Platform, arch: Arch, work: Path,
              scan: ContentScan) -> Base:
    path = expand_path(spec.path)
    if "$" in str(path):
        raise DescriptorError(f"base.path {spec.path!r} in image.yaml names an environment "
                              "variable that is not set; set it to the base image's path")
    if not path.exists():
        raise DescriptorError(f"base.path {spec.path!r} in image.yaml: {path} does not exist; "
                              "point it at an OCI layout folder or a `docker save` tar")
    where = str(path)
    if spec.format == "oci":
        image = ociread.read_oci_layout(path, spec.ref, platform,
                                    check_config=lambda c: check_base_platform(c, platform, where),
                                    visit=lambda i: scan.visitor(f"base layer {i}"))
    else:
        image = ociread.read_docker_archive(path, spec.ref, work,
                                        check_config=lambda c: check_base_platform(c, platform,
                                                                                   where),
                                        visit=lambda i: scan.visitor(f"base layer {i}"))
    assert scan.tree is not None
    return Base(image, scan.tree, spec)



def base_history(base: Base) -> list[dict[str, Any]]:
    """The base's history when it matches its layers, else one line per layer."""
    hist = base.image.config.get("history")
    if isinstance(hist, list) and all(isinstance(h, dict) for h in hist) and \
            sum(1 for h in hist if not h.get("empty_layer")) == len(base.image.layers):
        return [dict(h) for h in hist]
    created = str(base.image.config.get("created", ""))
    return [{"created": created, "created_by": f"base image {base.label}, layer {i + 1}"}
            for i in range(len(base.image.layers))]

