"""toolchain"""

from .compilers import (
    Toolset,
    locate_tools,
    probe,
)
from .files import (
    COMPAT_HEADER,
    TEMPLATE_DIR,
    TEMPLATES,
    ToolchainFiles,
    ToolchainInputs,
    compile_flags,
    link_flags,
    meson_literal,
    native_profile,
    present_overlays,
    relocate_pc,
    render,
    sysroot_pc_files,
    write_toolchain,
)
from .sysroot import (
    SOURCE_DATE_EPOCH,
    STAMP,
    make_links_relative,
    mmdebstrap_argv,
    sysroot_dir,
)

__all__ = [
    "TEMPLATE_DIR",
    "COMPAT_HEADER",
    "SOURCE_DATE_EPOCH",
    "STAMP",
    "TEMPLATES",
    "ToolchainFiles",
    "ToolchainInputs",
    "Toolset",
    "compile_flags",
    "link_flags",
    "locate_tools",
    "make_links_relative",
    "meson_literal",
    "mmdebstrap_argv",
    "native_profile",
    "present_overlays",
    "probe",
    "relocate_pc",
    "render",
    "sysroot_dir",
    "sysroot_pc_files",
    "write_toolchain",
]
