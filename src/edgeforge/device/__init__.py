"""device"""

from .deploy import (
    KEEP_DIR,
    REMOTE_SCRIPT,
    SshTarget,
    parse_target,
)

__all__ = [
    "KEEP_DIR",
    "REMOTE_SCRIPT",
    "SshTarget",
    "parse_target",
]
