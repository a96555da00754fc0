"""What a container image step leaves behind: `ContainerResult` (tag, platform, digests, sizes,
every file of the image's own layers and where it came from), recorded as image.json beside the
OCI layout and the docker archive, and read back (checked) by the SBOM, the multi-board index
and `release --push`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgeforge.core import HostSetupError, jsonfile

#: the record's file name in the image step's folder and in a release folder
CONTAINER_RECORD = "image.json"


@dataclass(frozen=True)
class ContainerImageFile:
    """A file or link of the container image's own layers, and where it came from (for the SBOM)."""

    path: str                        # in the image
    kind: str                        # file | symlink
    source: str                      # app | sysroot | generated
    origin: str                      # app: path in the app folder; sysroot: path in the sysroot
    package: str | None = None       # sysroot: the Debian package that ships it
    package_version: str | None = None
    sha256: str | None = None
    size: int = 0
    target: str | None = None        # a link's target


@dataclass(frozen=True)
class ContainerResult:
    board: str
    repository: str
    version: str
    tag: str                         # <app>:1.0.0_git20261124.e79c14f-jetson-nx
    platform: str                    # linux/arm64, linux/arm/v7
    oci_layout: Path                 # folder: oci-layout, index.json, blobs/
    docker_archive: Path             # `docker load -i` it
    manifest_digest: str
    manifest_size: int
    config_digest: str               # = the image ID in the engine
    compressed_size: int             # config and layer blobs, as a registry stores them
    uncompressed_size: int           # the layers' tar streams, as the engine unpacks them
    files: tuple[ContainerImageFile, ...]
    base: str | None = None          # name@digest of the base image, if any
    loaded: bool = False

    def to_json(self, folder: Path) -> dict[str, Any]:
        d = asdict(self)
        d["oci_layout"] = str(self.oci_layout.relative_to(folder))
        d["docker_archive"] = str(self.docker_archive.relative_to(folder))
        d["files"] = [{k: v for k, v in asdict(f).items() if v is not None} for f in self.files]
        d.pop("loaded")
        return d

    def system_files(self) -> list[ContainerImageFile]:
        return [f for f in self.files if f.source == "sysroot"]


def read_container_result(folder: Path) -> ContainerResult:
    """The ContainerResult recorded in `folder` (the image step's folder or a release folder)."""
    folder = Path(folder)
    path = folder / CONTAINER_RECORD
    fix = f"fix: delete {folder} and run `invoke release` for its board again"
    r = jsonfile.read_typed(path, ContainerResult, f"the image record {path}", HostSetupError,
                            fix=fix)
    for key in ("oci_layout", "docker_archive"):  # written as names inside the folder
        rel = getattr(r, key)
        if rel.is_absolute() or ".." in rel.parts:
            raise HostSetupError(f"the image record {path}: key '{key}' is not a name inside "
                                 f"{folder}; {fix}")
    return replace(r, oci_layout=folder / r.oci_layout, docker_archive=folder / r.docker_archive)

