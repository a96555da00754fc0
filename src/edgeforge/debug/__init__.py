"""debug: `invoke debug`, gdb-multiarch on the app under qemu-user, on the virtual twin, on a
device, or on a core dump, with the symbols of every library. What gdb is told (gdb), the VSCode
entries (vscode), the device side over SSH (remote), the local debug server and its session
record (servers), and the session put together (session)."""

from edgeforge.core import DebugError  # the debug wing's error (core.errors), for callers

from .gdb import (
    GDB,
    GdbSetup,
    check_build_id,
    core_program,
    gdb_argv,
    gdbinit_text,
    parse_unstrip,
    substitutions,
)
from .remote import (
    Device,
    Login,
    gdbserver_command,
    parse_sha256sum,
    remote_stop_command,
)
from .servers import (
    DEBUG_DIR,
    SESSION,
    SOCKET,
    emulate_argv,
    read_session,
    relay_argv,
    relay_script,
    save_session,
    session_pid,
    start_emulated,
    stop_session,
)
from .session import (
    DebugOptions,
    device_for,
    package_folders,
    run,
    server_command,
)
from .vscode import (
    VscodeEntry,
    write_vscode,
)

__all__ = [
    "DEBUG_DIR",
    "GDB",
    "SESSION",
    "SOCKET",
    "DebugError",
    "DebugOptions",
    "Device",
    "GdbSetup",
    "Login",
    "VscodeEntry",
    "check_build_id",
    "core_program",
    "device_for",
    "emulate_argv",
    "gdb_argv",
    "gdbinit_text",
    "gdbserver_command",
    "package_folders",
    "parse_sha256sum",
    "parse_unstrip",
    "read_session",
    "relay_argv",
    "relay_script",
    "remote_stop_command",
    "run",
    "save_session",
    "server_command",
    "session_pid",
    "start_emulated",
    "stop_session",
    "substitutions",
    "write_vscode",
]
