"""build: a board's build steps (sysroot, toolchain, smoke, deps, app, manifest), the build
machine's, the app, the CMake builds and the manifest they record."""

from .app import (
    CONF,
    NATIVE,
    check_smoke_output,
    compare,
    conan_build_argv,
    detections,
    smoke_args,
)
from .apptests import (
    run_app_tests,
    run_native_ctest,
)
from .board import (
    SMOKE_APP,
    BoardBuild,
    Prepared,
    gate_policy,
    prepare,
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
from .native import (
    NativeBuild,
)
from .samples import (
    opencv_pin,
    sample,
)

__all__ = [
    "AbiRecord",
    "Artifact",
    "BoardBuild",
    "CONF",
    "CompilerRecord",
    "DependenciesRecord",
    "FAMILIES",
    "Manifest",
    "NATIVE",
    "NativeBuild",
    "PackageRecord",
    "Prepared",
    "SMOKE_APP",
    "SysrootRecord",
    "artifact_entry",
    "build_project",
    "check_smoke_output",
    "compare",
    "conan_build_argv",
    "configure_argv",
    "detections",
    "gate_policy",
    "opencv_pin",
    "prepare",
    "read_manifest",
    "sample",
    "smoke_args",
    "write_manifest",
    "run_app_tests",
    "run_native_ctest",
]
