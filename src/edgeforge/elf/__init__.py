"""elf"""

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
