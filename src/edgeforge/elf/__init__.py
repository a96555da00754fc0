"""elf: reading ELF files and a tree's library folders, a program's library closure, split debug
information."""

# modules used as namespaces (module.function reads better than a re-exported name)
from . import closure, debuginfo, elfinfo
from .closure import (
    dpkg_status,
)
from .debuginfo import (
    BUILD_ID_DIR,
)
from .elfinfo import (
    ElfInfo,
    is_elf,
)
from .libdirs import (
    LinkLoop,
    find_in_tree,
    lib_dirs,
    probe_tree,
    walk_links,
)

__all__ = [
    "closure",
    "debuginfo",
    "elfinfo",
    "BUILD_ID_DIR",
    "ElfInfo",
    "LinkLoop",
    "dpkg_status",
    "find_in_tree",
    "is_elf",
    "lib_dirs",
    "probe_tree",
    "walk_links",
]
