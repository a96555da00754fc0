"""toolchain: sysroots (built, imported, packed), compilers, the libstdc++ shim, flags, the
fixed path names, and the generated toolchain files with their templates."""

from . import pathnames, stdcxx_compat, sysroot
from .compilers import (
    Toolset,
    locate_tools,
    probe,
)
from .files import (
    BLOCKS,
    COMPAT_HEADER,
    TEMPLATE_DIR,
    TEMPLATES,
    Block,
    ToolchainFiles,
    meson_literal,
    native_profile,
    render,
    write_toolchain,
)
from .flags import (
    compile_flags,
    link_flags,
)
from .inputs import (
    ToolchainInputs,
    present_overlays,
)
from .overview import (
    show_boards,
    show_sysroot,
    show_toolchain_files,
)
from .pcfiles import (
    relocate_pc,
    sysroot_pc_files,
)
from .sysroot import (
    STAMP,
    SysrootInfo,
    ensure_sysroot,
    make_links_relative,
    mmdebstrap_argv,
    pack_sysroot,
    project_key,
    sysroot_dir,
    sysroot_key,
)
from .systemlibs import (
    app_packages,
    installed_packages,
    system_library_problems,
    with_packages,
)

__all__ = [
    "stdcxx_compat",
    "sysroot",
    "BLOCKS",
    "Block",
    "TEMPLATE_DIR",
    "COMPAT_HEADER",
    "STAMP",
    "SysrootInfo",
    "TEMPLATES",
    "ToolchainFiles",
    "ToolchainInputs",
    "Toolset",
    "app_packages",
    "compile_flags",
    "ensure_sysroot",
    "installed_packages",
    "link_flags",
    "locate_tools",
    "make_links_relative",
    "meson_literal",
    "pathnames",
    "mmdebstrap_argv",
    "native_profile",
    "pack_sysroot",
    "present_overlays",
    "probe",
    "project_key",
    "relocate_pc",
    "render",
    "sysroot_dir",
    "sysroot_key",
    "sysroot_pc_files",
    "system_library_problems",
    "with_packages",
    "write_toolchain",
    "show_boards",
    "show_sysroot",
    "show_toolchain_files",
]
