"""State files edgeforge writes under build/ and dist/ and reads back later: data, never commands.

A debug session, the virtual twin and a release's push record each keep facts only (a PID and
the time its process started, a parsed SSH login, digests); the commands that act on them are
built in code from those facts. What is read back must be what edgeforge would have written:
a typed record (pydantic, strict: no extra keys, no "5" for 5, no true for 1), with ranges and
name syntax checked. Anything else is refused with the file's name and the fix, and nothing is
run, killed or contacted on its word.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import StateFileError
from .fsutil import read_limited
from .jsonfile import MAX_BYTES

#: a login name as useradd accepts it (deploy's --target says the same)
USER_NAME = r"^[a-z_][a-z0-9_-]{0,31}$"
#: a DNS name or IPv4 address (never a leading '-': ssh would read an option), or an IPv6 address
HOST_NAME = (r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?"
             r"|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]{1,15})?)$")
#: the largest PID Linux hands out (/proc/sys/kernel/pid_max can be at most 2**22)
PID_MAX = 1 << 22

M = TypeVar("M", bound=BaseModel)


def refused(path: Path, why: str, fix: str) -> StateFileError:
    return StateFileError(f"{path} is not a state file edgeforge wrote ({why}); nothing was done "
                          f"on its word. {fix}")


def load(path: Path, model: type[M], fix: str) -> M | None:
    """The record in `path` (None when there is no such file), or StateFileError."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refused(path, f"cannot be read: {exc.strerror}", fix) from None
    if not stat.S_ISREG(st.st_mode):  # a link, FIFO or device: edgeforge writes plain files
        raise refused(path, "not a regular file", fix)
    try:  # size-capped: a state file is a few lines
        raw = read_limited(path, "it", limit=MAX_BYTES, error=StateFileError)
    except StateFileError as exc:
        raise refused(path, exc.message.removeprefix("it: "), fix) from None
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "the top"
        raise refused(path, f"{where}: {err.get('msg', 'invalid')}", fix) from None


def proc_start_time(pid: int) -> int | None:
    """When the process started (clock ticks after boot, /proc/PID/stat field 22): with the
    PID it names one process, never a later one that was given the same number."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
        return int(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def proc_argv(pid: int) -> list[bytes] | None:
    """The process's command line, or None when there is no such process (or it is not ours to
    read)."""
    try:
        data = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
        if os.stat(f"/proc/{int(pid)}").st_uid != os.getuid():
            return None  # another user's process is never edgeforge's
    except (OSError, ValueError):
        return None
    return data.rstrip(b"\0").split(b"\0") if data else None
