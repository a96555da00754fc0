"""build"""

from .app import (
    APP_NAME,
    check_smoke_output,
    compare,
    conan_build_argv,
    detections,
    generators_dir,
)
from .cmakebuild import (
    build_project,
    configure_argv,
)
from .manifest import (
    FAMILIES,
    AbiRecord,
    Artifact,
    CompilerRecord,
    DependenciesRecord,
    Manifest,
    PackageRecord,
    SysrootRecord,
    artifact_entry,
    read_manifest,
    write_manifest,
)
from .samples import (
    opencv_pin,
    sample,
)

__all__ = [
    "APP_NAME",
    "AbiRecord",
    "Artifact",
    "CompilerRecord",
    "DependenciesRecord",
    "FAMILIES",
    "Manifest",
    "PackageRecord",
    "SysrootRecord",
    "artifact_entry",
    "build_project",
    "check_smoke_output",
    "compare",
    "conan_build_argv",
    "configure_argv",
    "detections",
    "generators_dir",
    "opencv_pin",
    "read_manifest",
    "sample",
    "write_manifest",
]
