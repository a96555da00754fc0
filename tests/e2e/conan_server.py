"""A throwaway Conan server for the team-remote tests: Conan's own `conan_server` (the
conan-server package from PyPI) on 127.0.0.1, a write user and a read-only user with fresh
random passwords, its storage in the test's folder.

conan-server ships its own copy of Conan's modules, so it gets a virtual environment of its own
(kept in the cache: <cache>/tools/conan-server-VERSION) instead of edgeforge's. Its launcher
binds every address; the fixture starts the same server object bound to 127.0.0.1 only. The
server is stopped by its own PID.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from edgeforge.context import default_cache_dir
from tests.servers import LocalServer, start_on_free_port

VERSION = "2.33.0"
CONFIG = """\
[server]
jwt_secret: {jwt}
jwt_expire_minutes: 120
ssl_enabled: False
port: {port}
public_port:
host_name: 127.0.0.1
authorize_timeout: 1800
disk_storage_path: {storage}
disk_authorize_timeout: 1800
updown_secret: {updown}

[write_permissions]
*/*@*/*: writer

[read_permissions]
*/*@*/*: writer,reader

[users]
writer: {writer}
reader: {reader}
"""
LAUNCH = ("import sys\nfrom conans.server.launcher import ServerLauncher\n"
          "ServerLauncher(server_dir=sys.argv[1]).server.run(host='127.0.0.1')\n")


def server_python() -> Path:
    """The conan-server venv's interpreter, made once (pip from PyPI) and kept in the cache."""
    venv = default_cache_dir() / "tools" / f"conan-server-{VERSION}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"conan-server=={VERSION}"],
                       check=True, capture_output=True, timeout=900)
        (venv / ".complete").write_text(VERSION)
    return python


@dataclass
class ConanServer(LocalServer):
    root: Path
    writer: str = field(default_factory=lambda: "w-" + secrets.token_hex(12), repr=False)
    reader: str = field(default_factory=lambda: "r-" + secrets.token_hex(12), repr=False)

    @property
    def storage(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self) -> ConanServer:
        python = server_python()
        self.root.mkdir(parents=True, exist_ok=True)

        def argv(port: int) -> list[str]:
            self.port = port
            (self.root / "server.conf").write_text(CONFIG.format(
                jwt=secrets.token_hex(16), updown=secrets.token_hex(16), port=port,
                storage=self.storage, writer=self.writer, reader=self.reader))
            return [str(python), "-c", LAUNCH, str(self.root)]

        started = start_on_free_port(argv, self.log, self._ready)
        if started is None:
            raise RuntimeError(f"conan_server did not come up on 127.0.0.1; see {self.log}:\n"
                               + self.log.read_text()[-2000:])
        self.proc, self.port = started
        return self

    @staticmethod
    def _ready(port: int) -> bool | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/ping", timeout=2) as resp:
                return resp.status == 200
        except urllib.error.HTTPError:
            return False
        except OSError:
            return None

    def package_ids(self) -> set[str]:
        """Package IDs the server stores (its disk layout: .../package/<id>/<prev>/...)."""
        out = set()
        for d in self.storage.rglob("package"):
            if d.is_dir():
                out |= {p.name for p in d.iterdir() if p.is_dir()}
        return out

    def stored_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.storage.rglob("*") if f.is_file())



def pushing_cache(folder: Path) -> Path:
    """An EDGEFORGE_CACHE for the machine that pushes: its Conan home shares the real one's
    package store (and the sysroots, sources, probes and toolchain files), nothing else, so a
    test's remote and login never enter the real Conan home."""
    real = default_cache_dir()
    (folder / "conan2").mkdir(parents=True)
    (folder / "conan2" / "p").symlink_to(real / "conan2" / "p")
    for shared in ("sysroots", "sources", "probes", "toolchains"):
        (folder / shared).symlink_to(real / shared)
    return folder
