"""deliver.packages"""

from .staging import (
    installer_info,
    load_installers,
    parse_installers,
)

__all__ = [
    "installer_info",
    "load_installers",
    "parse_installers",
]
