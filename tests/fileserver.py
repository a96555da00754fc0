"""A throwaway static file server for the team-sharing tests: Debian's nginx (nginx-light) on
127.0.0.1, serving one folder, with its own configuration, pid, logs and temp folders inside the
test's folder (nothing under /var or /etc/nginx is read or written, root or not).

Started as `nginx -p PREFIX -c CONF -e ERRORLOG` in the foreground (`daemon off`), stopped by its
own PID. The access log tells which files a run really fetched.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tools
from tests.servers import LocalServer, free_port, listening, start_on_free_port

CONFIG = """\
{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        autoindex off;
    }}
}}
"""


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


def tripwires(folder: Path, *names: str) -> tuple[str, Path]:
    """A PATH that finds stand-ins for the programs `names` first: each appends its name and
    arguments to the returned log and exits 1 (proof that a run did, or did not, call it)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.log"
    for name in names:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 1\n')
        stub.chmod(0o755)
    return f"{folder}:{os.environ.get('PATH', '/usr/bin:/bin')}", log


def calls(log: Path) -> str:
    return log.read_text() if log.is_file() else ""


@dataclass
class Nginx(LocalServer):
    prefix: Path  # its configuration, pid, logs, temp folders
    root: Path  # the folder it serves
    stop_signal = signal.SIGQUIT  # graceful: the master stops its worker first

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    def requests(self) -> list[tuple[str, int]]:
        """(path, status) of every request logged so far (the combined log format)."""
        out = []
        if self.access_log.is_file():
            for line in self.access_log.read_text().splitlines():
                try:
                    request = line.split('"')[1]
                    status = int(line.split('"')[2].split()[0])
                except (IndexError, ValueError):
                    continue
                out.append((request.split()[1], status))
        return out

    def start(self) -> Nginx:
        require_tools("nginx")
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        # the workers must read the test's folders (0700 under pytest's tmp): as root, run them
        # as the same user (nginx warns only when not root, and there the workers are us anyway)
        user = ""
        if os.geteuid() == 0:
            user = (f"user {pwd.getpwuid(os.getuid()).pw_name} "
                    f"{grp.getgrgid(os.getgid()).gr_name};\n")

        def argv(port: int) -> list[str]:
            conf = self.prefix / "nginx.conf"
            conf.write_text(CONFIG.format(user=user, prefix=self.prefix, port=port,
                                          root=self.root))
            return [shutil.which("nginx") or "nginx", "-p", str(self.prefix), "-c", str(conf),
                    "-e", str(self.error_log)]

        started = start_on_free_port(argv, self.prefix / "stderr.log", self._ready, timeout=20)
        if started is None:
            log = self.error_log.read_text()[-2000:] if self.error_log.is_file() else ""
            raise RuntimeError(f"nginx did not come up on 127.0.0.1; {self.error_log}:\n{log}")
        self.proc, self.port = started
        return self

    @staticmethod
    def _ready(port: int) -> bool | None:
        return listening(port)



@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """nginx serving tmp_path/www (put the files there, before or after it starts)."""
    server = Nginx(prefix=tmp_path / "nginx", root=tmp_path / "www").start()
    try:
        yield server
    finally:
        server.stop()
