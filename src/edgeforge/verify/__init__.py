"""verify: the ABI gate and runs under qemu-user (`invoke run`, `invoke gate`)."""

# modules used as namespaces (module.function reads better than a re-exported name)
from edgeforge.host import env_options  # qemu-user's -E options (host.qemu), for callers

from . import abi
from .abi import (
    Policy,
    gate,
)
from .crossrun import (
    GateTargets,
    app_program,
    gate_files,
    gate_targets,
    run_program,
)
from .emulation import (
    capture_emulated,
    exit_status,
    library_path,
    qemu_argv,
    run_emulated,
)

__all__ = [
    "abi",
    "Policy",
    "capture_emulated",
    "env_options",
    "exit_status",
    "gate",
    "library_path",
    "qemu_argv",
    "run_emulated",
    "GateTargets",
    "app_program",
    "gate_files",
    "gate_targets",
    "run_program",
]
