"""debug"""

from .gdb import (
    DebugError,
)
from .session import (
    DebugOptions,
    device_for,
    package_folders,
    run,
)

__all__ = [
    "DebugError",
    "DebugOptions",
    "device_for",
    "package_folders",
    "run",
]
