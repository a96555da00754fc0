"""deliver.packages"""

from .staging import (
    parse_installers,
)

__all__ = [
    "parse_installers",
]
