"""The error hierarchy. Library code raises these; only the task layer turns them into exits.

Each class carries its own exit code so scripts can tell a bad descriptor (2) from a missing
host tool (3), a failed command (4), an ABI violation (5) or a source problem (6).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .redact import redact

#: exit codes that are not an error class's own
EXIT_BUG = 70  # an unexpected exception (EX_SOFTWARE): a bug in edgeforge
EXIT_INTERRUPTED = 130  # Ctrl-C


class EdgeforgeError(Exception):
    """Base class: a sentence for the user, and an exit code."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DescriptorError(EdgeforgeError):
    """A toolchain/sysroot/board descriptor is malformed or inconsistent."""

    exit_code = 2


class UsageError(EdgeforgeError):
    """A task was called with missing or contradictory arguments."""

    exit_code = 2


class ToolMissingError(EdgeforgeError):
    """A program that a descriptor or a step asked for is not installed."""

    exit_code = 3


class CommandFailedError(EdgeforgeError):
    """An external command exited non-zero. Its message (argv, output lines) is redacted;
    `argv` and `tail` keep what was run and said, for callers that look into them."""

    exit_code = 4

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path | None,
        returncode: int,
        tail: Sequence[str],
        log_path: Path | None,
        what: str | None = None,
    ):
        self.argv = list(argv)
        self.cwd = cwd
        self.returncode = returncode
        self.tail = list(tail)
        self.log_path = log_path
        self.what = what or "command"
        head = f"{what} failed" if what else "command failed"
        lines = [
            f"{head}: exit code {returncode}",
            f"  command: {' '.join(self.argv)}",
            f"  in: {cwd or Path.cwd()}",
        ]
        if self.tail:
            lines.append("  last lines of output:")
            lines.extend(f"    {t}" for t in self.tail)
        if log_path:
            lines.append(f"  full log: {log_path}")
        super().__init__(redact("\n".join(lines)))


class AbiViolationError(EdgeforgeError):
    """A produced file would not load on the board (wrong machine, symbol versions too new...)."""

    exit_code = 5


class SourceError(EdgeforgeError):
    """A source archive is missing, unreachable or fails its checksum."""

    exit_code = 6


class SysrootError(EdgeforgeError):
    """A sysroot cannot be built or imported."""

    exit_code = 7


class ReproducibilityError(EdgeforgeError):
    """Two builds of the same inputs gave different bytes."""

    exit_code = 9


class HostSetupError(EdgeforgeError):
    """The host lacks a prerequisite (binfmt, dockerd, ...) and it could not be fixed."""

    exit_code = 8


class DeviceError(EdgeforgeError):
    """A device or the virtual twin could not be reached, refused or failed the work asked of
    it (deploy, boot, a debug session)."""

    exit_code = 11


class CheckFailedError(EdgeforgeError):
    """A program edgeforge built ran and gave a wrong result (a smoke run, a tool's output)."""

    exit_code = 4


class RemoteError(EdgeforgeError):
    """A team remote (Conan server, registry, file server) refused or could not be reached."""

    exit_code = 10


class StateFileError(HostSetupError):
    """A state file edgeforge reads back (a debug session, the twin, a push record) is not one
    it wrote: nothing is run, killed or contacted on its word (an unusable build or dist
    folder: exit 8)."""


class EscapeError(UsageError):
    """A path inside a tree that would resolve outside it, or through something that is not a
    folder."""


# ---- container images and registries ---------------------------------------------------------
class ImageFormatError(SourceError):
    """A base image is damaged, not of a supported form, or unsafe to read (exit 6)."""


class ImageContentError(EdgeforgeError):
    """A file in the container image would not run on the board (an ELF file of another
    machine) or must never ship (a private key, credentials)."""

    exit_code = 5


class ImageLoadError(EdgeforgeError):
    """The container engine refused the container image or loaded something else."""

    exit_code = 4


class RegistryError(RemoteError):
    """A container registry could not be reached, or refused the credentials or the image."""


class DebugError(DeviceError):
    """A debug session could not be set up (on a device, the twin or under qemu-user): the
    device's exit code, 11."""


class ClosureError(EdgeforgeError):
    """A library the app needs is not in the sysroot, or the tree's links are broken."""

    exit_code = 7


# ---- installers ----------------------------------------------------------------------------------
class LintianError(EdgeforgeError):
    """lintian found errors in a package edgeforge wrote."""

    exit_code = 4


class InstallerError(EdgeforgeError):
    """An installer cannot be written as asked (a file name a .run cannot carry, no app)."""

    exit_code = 4


class DependencyError(EdgeforgeError):
    """The app's system dependencies cannot be computed (a library is not in the sysroot, not
    in a package, or dpkg-shlibdeps found nothing)."""

    exit_code = 7
