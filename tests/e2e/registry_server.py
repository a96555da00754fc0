"""A throwaway container registry for `release --push`: Debian's docker-registry (Distribution
2.8) on 127.0.0.1 with htpasswd (bcrypt) auth, its storage in the test's folder.

No registry can be pulled from here, so the registry is the Debian package's program started
directly: `docker-registry serve CONFIG`. The password file is made by `htpasswd -B` (apache2-
utils) with the password on stdin, never in argv. The server is stopped by its own PID.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import start_on_free_port, stop_by_pid

REGISTRY = "/usr/bin/docker-registry"
CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {address}
  secret: edgeforge-test-only
auth:
  htpasswd:
    realm: edgeforge-test
    path: {htpasswd}
"""


@dataclass
class RegistryServer:
    root: Path
    user: str
    password: str = field(repr=False)
    address: str = ""
    proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def start(self) -> RegistryServer:
        self.root.mkdir(parents=True, exist_ok=True)
        htpasswd = self.root / "htpasswd"
        subprocess.run(["htpasswd", "-B", "-i", "-c", str(htpasswd), self.user],
                       input=self.password, text=True, check=True, capture_output=True)

        def argv(port: int) -> list[str]:
            self.address = f"127.0.0.1:{port}"
            config = self.root / "config.yml"
            config.write_text(CONFIG.format(storage=self.root / "storage", address=self.address,
                                            htpasswd=htpasswd))
            return [REGISTRY, "serve", str(config)]

        started = start_on_free_port(argv, self.log, self._ready, timeout=20)
        if started is None:
            raise RuntimeError(f"{REGISTRY} did not come up on 127.0.0.1; see {self.log}:\n"
                               + self.log.read_text()[-2000:])
        self.proc, port = started
        self.address = f"127.0.0.1:{port}"
        return self

    @staticmethod
    def _ready(port: int) -> bool | None:
        """Ready when /v2/ answers 401 (it asks for the credentials); 200 means auth is off."""
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return None
        return False

    def raw_manifest(self, ref: str, folder: Path) -> bytes:
        """The manifest (or index) the registry serves for REF, read by skopeo with the
        credentials in an auth file (never in argv)."""
        auth = folder / "registry-auth.json"
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        auth.write_text(json.dumps({"auths": {self.address: {"auth": token}}}))
        auth.chmod(0o600)
        p = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile",
                            str(auth), f"docker://{ref}"], capture_output=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"skopeo inspect {ref}: {p.stderr.decode()[-2000:]}")
        return p.stdout

    def stop(self) -> None:
        """Stop the server by its own PID (its session holds only it)."""
        stop_by_pid(self.proc)
        self.proc = None
