"""VSCode's side of a debug session: a launch configuration (cppdbg, gdb-multiarch with the
board's gdbinit, the session's socket) and the tasks that start and stop the debug server,
merged into the user's .vscode/launch.json and tasks.json beside their own entries."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeforge.core import UsageError, check_destination, jsonfile, read_limited, write_atomic

from .gdb import GDB


@dataclass(frozen=True)
class VscodeEntry:
    mode: str
    board: str
    program: Path
    gdbinit: Path
    address: str
    server_command: list[str]     # the pre-launch task: starts the remote side, detached
    stop_command: list[str]
    cwd: Path
    args_note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"edgeforge: {self.board} ({self.mode})"

    @property
    def task(self) -> str:
        return f"edgeforge: start debug server {self.board} ({self.mode})"

    @property
    def stop_task(self) -> str:
        return f"edgeforge: stop debug server {self.board}"

    def launch(self) -> dict:
        return {
            "name": self.name,
            "type": "cppdbg",
            "request": "launch",
            "program": str(self.program),
            "cwd": str(self.cwd),
            "MIMode": "gdb",
            "miDebuggerPath": f"/usr/bin/{GDB}",
            "miDebuggerArgs": f"-q -ix {self.gdbinit}",
            "miDebuggerServerAddress": self.address,
            "stopAtEntry": False,
            "preLaunchTask": self.task,
            "postDebugTask": self.stop_task,
        }

    def tasks(self) -> list[dict]:
        return [
            {"label": self.task, "type": "process", "command": self.server_command[0],
             "args": self.server_command[1:], "options": {"cwd": str(self.cwd)},
             "problemMatcher": []},
            {"label": self.stop_task, "type": "process", "command": self.stop_command[0],
             "args": self.stop_command[1:], "options": {"cwd": str(self.cwd)},
             "problemMatcher": []},
        ]


def load_jsonc(path: Path) -> dict:
    """A VSCode settings file (JSON with comments and trailing commas): size- and depth-capped,
    any problem a UsageError naming it."""
    fix = "fix it or move it away, and edgeforge adds its entries to a new one"
    if not path.exists():
        return {}
    raw = read_limited(path, str(path), limit=jsonfile.MAX_BYTES, fix=fix)
    if not raw.strip():
        return {}
    data = jsonfile.parse(raw, str(path), UsageError, fix=fix, comments=True)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected an object at the top ({{\"version\": ...}})")
    return data


def merge_entries(existing: list, ours: list[dict], key: str) -> list:
    """The user's entries stay where they are; ours replace those with the same name."""
    names = [e[key] for e in ours]  # a list: the user's value may be unhashable (a list)
    kept = [e for e in existing if not (isinstance(e, dict) and e.get(key) in names)]
    return [*kept, *ours]


def write_vscode(folder: Path, entry: VscodeEntry) -> tuple[Path, Path]:
    """Merge our launch configuration and tasks into .vscode/launch.json and tasks.json."""
    launch_path, tasks_path = folder / "launch.json", folder / "tasks.json"
    for path in (launch_path, tasks_path):  # replaced by a rename: a file or a link, no FIFO
        check_destination(path, "--vscode: the VSCode file")
    launch = load_jsonc(launch_path)
    tasks = load_jsonc(tasks_path)
    for path, data, key in ((launch_path, launch, "configurations"), (tasks_path, tasks, "tasks")):
        if not isinstance(data.get(key, []), list):
            raise UsageError(f"{path}: {key!r} is not a list; fix the file, and edgeforge adds "
                             "its entries to it")
    launch.setdefault("version", "0.2.0")
    launch["configurations"] = merge_entries(launch.get("configurations") or [],
                                             [entry.launch()], "name")
    tasks.setdefault("version", "2.0.0")
    tasks["tasks"] = merge_entries(tasks.get("tasks") or [], entry.tasks(), "label")
    try:
        for path in (launch_path, tasks_path):
            if path.exists() and re.search(rb"//|/\*", path.read_bytes()):
                backup = path.with_name(path.name + ".bak")
                n = 1
                # an earlier backup may hold the comments: keep it; anything there (a link, even
                # a dangling one) is left alone, and the backup is a new file renamed into place
                while os.path.lexists(backup):
                    backup = path.with_name(f"{path.name}.bak.{n}")
                    n += 1
                write_atomic(backup, path.read_bytes())
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(launch_path, json.dumps(launch, indent=2) + "\n")
        write_atomic(tasks_path, json.dumps(tasks, indent=2) + "\n")
    except OSError as exc:  # a folder under a file, a read-only one, a full disk
        raise UsageError(f"cannot write launch.json and tasks.json into {folder}: "
                         f"{exc.strerror or exc}; fix: give --vscode a writable folder") from None
    return launch_path, tasks_path
