"""A throwaway MQTT broker for edge-uplink's tests: Debian's mosquitto on 127.0.0.1 with its
own configuration and persistence file in the test's folder, started on a free port, stopped
(and started again on the same port) by its own PID.

Persistence is on: a subscriber with a session of its own (`-c -i NAME`, QoS 1) keeps its
queued messages across a restart of the broker, as a real deployment's would.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import listening, start_on_free_port, stop_by_pid

MOSQUITTO = "/usr/sbin/mosquitto"
CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {folder}/
autosave_interval 1
log_dest file {folder}/broker.log
log_type all
max_queued_messages 0
{user}"""


@dataclass
class MqttBroker:
    folder: Path
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def _argv(self, port: int) -> list[str]:
        conf = self.folder / "mosquitto.conf"
        # started by root (the suite's machine), mosquitto would drop to its own user, which
        # cannot write into the test's folder; otherwise it runs as whoever started it
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(CONFIG.format(port=port, folder=self.folder, user=user))
        return [MOSQUITTO, "-c", str(conf)]

    def start(self) -> MqttBroker:
        """On a free port the first time, on the same port after a stop."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.port:
            with open(self.folder / "stdout.log", "ab") as out:
                self.proc = subprocess.Popen(self._argv(self.port), stdout=out, stderr=out,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 30
            while not listening(self.port):
                assert self.proc.poll() is None, (self.folder / "broker.log").read_text()
                assert time.monotonic() < deadline, "mosquitto did not listen again"
                time.sleep(0.1)
            return self
        started = start_on_free_port(self._argv, self.folder / "stdout.log", listening)
        assert started, (self.folder / "stdout.log").read_text()
        self.proc, self.port = started
        return self

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        stop_by_pid(self.proc)
        self.proc = None

    def subscribe(self, topic: str, count: int, client_id: str, out: Path) -> subprocess.Popen:
        """mosquitto_sub with a session of its own: exits after `count` messages."""
        with open(out, "ab") as fh:
            return subprocess.Popen(
                ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic,
                 "-q", "1", "-c", "-i", client_id, "-C", str(count)],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
