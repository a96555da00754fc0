"""deliver: what a board's release is made of. One `Deliverable` per delivery format (the
container image, deb, rpm, run, dbg, sdk, sbom, legal) in one registry (formats), each
step receiving a `Release` (a plain value); the release folder's assembly (release)."""

# modules used as namespaces (module.function reads better than a re-exported name)
from . import oci
from .cyclonedx import (
    Component,
    SourceArchive,
    make_spec,
    render,
    runtime_graph,
    validate,
)
from .formats import (
    ARTEFACTS,
    DOCUMENTS,
    Deliverable,
    release_steps,
)
from .inputs import (
    ReleaseInput,
    normalise_times,
)
from .oci import (
    CONTAINER_RECORD,
    ContainerImageFile,
    ContainerResult,
    read_container_result,
    write_container_image,
    write_container_index,
)
from .packages import (
    load_installers,
)
from .release import (
    Release,
    ReleaseOptions,
    check_version,
    write_release_index,
    write_sha256sums,
)
from .scan import (
    ImageContentError,
    scan_tree,
)
from .sdk import (
    FOLDER_FROM_CMAKE_DIR,
    SdkPackage,
    cmake_package_files,
    sdk_epoch,
    sdk_summary,
    write_board_sdk,
    write_sdk,
)

__all__ = [
    "oci",
    "ARTEFACTS",
    "CONTAINER_RECORD",
    "Component",
    "ContainerImageFile",
    "ContainerResult",
    "DOCUMENTS",
    "Deliverable",
    "FOLDER_FROM_CMAKE_DIR",
    "ImageContentError",
    "Release",
    "ReleaseInput",
    "ReleaseOptions",
    "SdkPackage",
    "SourceArchive",
    "check_version",
    "cmake_package_files",
    "load_installers",
    "make_spec",
    "normalise_times",
    "read_container_result",
    "release_steps",
    "render",
    "runtime_graph",
    "scan_tree",
    "sdk_epoch",
    "sdk_summary",
    "validate",
    "write_board_sdk",
    "write_container_image",
    "write_container_index",
    "write_release_index",
    "write_sdk",
    "write_sha256sums",
]
