"""deliver"""

from .cyclonedx import (
    Component,
    SourceArchive,
    make_spec,
    render,
    runtime_graph,
    validate,
)
from .inputs import (
    ReleaseInput,
    normalise_times,
)
from .release import (
    ReleaseOptions,
    ReleaseSteps,
    app_version,
    check_version,
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
    sdk_summary,
    write_sdk,
)

__all__ = [
    "Component",
    "FOLDER_FROM_CMAKE_DIR",
    "ImageContentError",
    "ReleaseInput",
    "ReleaseOptions",
    "ReleaseSteps",
    "SdkPackage",
    "SourceArchive",
    "app_version",
    "check_version",
    "cmake_package_files",
    "make_spec",
    "normalise_times",
    "render",
    "runtime_graph",
    "scan_tree",
    "sdk_summary",
    "validate",
    "write_sdk",
    "write_sha256sums",
]
