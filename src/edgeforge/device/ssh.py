"""SSH to a device or the virtual twin, written once: the target a user names
(ssh://user@host[:port]), ssh's command line for each, and running one command over it.

A device: BatchMode (never a prompt), a 20 s connect timeout, the known_hosts file given
(else ssh's own). The twin: its own known_hosts (its host keys are new at every first boot),
key authentication only, BatchMode unless a person types the command. ssh runs with the
caller's whole environment: its agent (SSH_AUTH_SOCK) and its configuration (HOME).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgeforge.core import Exchanged, Runner, UsageError, redact_url

#: the twin's SSH port is forwarded from here only
TWIN_HOST = "127.0.0.1"


def ssh_argv(user: str, host: str, port: int, *, identity: Path | None = None,
             known_hosts: Path | None = None, twin: bool = False,
             batch: bool = True) -> list[str]:
    """ssh's command line up to and including user@host."""
    argv = ["ssh", "-p", str(port)]
    if twin:
        argv += ["-o", f"UserKnownHostsFile={known_hosts}",
                 "-o", "StrictHostKeyChecking=accept-new", "-o", "PasswordAuthentication=no",
                 *(["-o", "BatchMode=yes"] if batch else [])]
    else:
        argv += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
        if known_hosts:
            argv += ["-o", f"UserKnownHostsFile={known_hosts}",
                     "-o", "StrictHostKeyChecking=accept-new"]
    if identity:
        argv += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
    return [*argv, f"{user}@{host}"]


def ssh_run(runner: Runner, ssh: Sequence[str], command: str, *, what: str,
            input: bytes | None = None, attach_stdin: bool = False,
            timeout: float | None = None) -> Exchanged:
    """One shell command line run on the other end of `ssh` (its argv up to user@host);
    stdout and stderr come back as bytes (Runner.exchange)."""
    return runner.exchange([*ssh, command], what=what, input=input, attach_stdin=attach_stdin,
                           env=dict(os.environ), timeout=timeout)


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int

    def argv(self, identity: Path | None, known_hosts: Path | None) -> list[str]:
        return ssh_argv(self.user, self.host, self.port, identity=identity,
                        known_hosts=known_hosts)


def parse_target(text: str) -> SshTarget:
    """ssh://user@host[:port] (user is required: deploying as root is not assumed). A message
    about the target never repeats a password it holds."""
    shown = redact_url(text)
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:  # an IPv6 address without its ']'
        raise UsageError(f"--target {shown!r}: expected ssh://user@host[:port] (an IPv6 "
                         "address in brackets: ssh://edge@[::1]:2222)") from None
    if parts.scheme != "ssh" or not hostname or parts.path not in ("", "/") or \
            parts.query or parts.fragment or parts.password is not None:
        raise UsageError(f"--target {shown!r}: expected ssh://user@host[:port], e.g. "
                         "ssh://edge@127.0.0.1:2222 (no password: log in with a key, "
                         "--identity KEY_FILE or ssh's own keys and agent)")
    if not parts.username or not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", parts.username):
        raise UsageError(f"--target {shown!r}: name the user, e.g. ssh://edge@{hostname}")
    try:
        port = parts.port or 22
    except ValueError:
        raise UsageError(f"--target {shown!r}: the port must be a number from 1 to 65535") from None
    return SshTarget(parts.username, hostname, port)
