"""verify"""

from .abi import (
    Policy,
    gate,
)
from .emulation import (
    capture_emulated,
    env_options,
    exit_status,
    library_path,
    qemu_argv,
    run_emulated,
)

__all__ = [
    "Policy",
    "capture_emulated",
    "env_options",
    "exit_status",
    "gate",
    "library_path",
    "qemu_argv",
    "run_emulated",
]
