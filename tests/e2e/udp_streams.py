"""Live UDP sources for the app's network-input tests, all on 127.0.0.1.

Over UDP nothing waits for the receiver: a sender that starts before the app has bound its
port loses the stream's first packets (and with them the codec headers). So every sender here
starts only once the receiving socket shows in /proc/net/udp, and then sends at the clip's
frame rate, as a camera would.

- `ffmpeg_sender`: Debian's ffmpeg program (an apt package of the project's test set-up)
  re-muxes a clip, codec copied, to MPEG-TS over plain UDP or over RTP (payload type 33).
- `RtpSender`: MPEG-4 Part 2 over RTP (RFC 3016, dynamic payload type 96), described by an
  .sdp file, with the packetiser of the RTSP test camera.
- `joining_camera`: a camera the app joins mid-way. The receiver is ready first and the stream
  it gets begins JOIN_AT seconds into the clip, at whatever picture is there (no waiting for a
  key frame): what a receiver sees when it joins a running camera, decided by the clip's
  timestamps instead of by how long a sender ran before the app started.
"""

from __future__ import annotations

import math
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.e2e.rtsp_server import AviVideo, rtp_packets, session_description


def is_intra_vop(frame: bytes) -> bool:
    """An MPEG-4 Part 2 frame whose first picture (VOP) is intra-coded: a key frame."""
    vop = frame.find(b"\x00\x00\x01\xb6")
    return vop >= 0 and len(frame) > vop + 4 and frame[vop + 4] >> 6 == 0


def free_udp_port() -> int:
    """An even port whose odd neighbour is free too (RTP takes N for media and N+1 for RTCP)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1] & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                 socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of UDP ports")


def udp_socket_inodes(port: int) -> set[str]:
    """The inodes of the sockets bound to local UDP `port` (empty: nothing listens)."""
    found = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found |= {f[9] for f in map(str.split, lines) if f[1].endswith(f":{port:04X}")}
    return found


def udp_port_bound(port: int) -> bool:
    return bool(udp_socket_inodes(port))


def wait_until_bound(port: int, receiver: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not udp_port_bound(port):
        if receiver.poll() is not None:
            out, err = receiver.communicate()
            raise AssertionError(f"the receiver exited ({receiver.returncode}) before binding "
                                 f"UDP port {port}: {err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing bound UDP port {port} within {timeout} s")
        time.sleep(0.05)


def prime_rtp_receiver(port: int, receiver: subprocess.Popen, timeout: float = 120) -> None:
    """FFmpeg's rtp:// reader learns the payload type from the first packet, then closes the
    port and opens it again for the session: what arrives in between is lost. Send it one
    MPEG-TS null packet (payload type 33) and wait for the new socket before the stream."""
    before = udp_socket_inodes(port)
    null_ts = b"\x47\x1f\xff\x10" + b"\xff" * 184
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(bytes([0x80, 33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) + null_ts, ("127.0.0.1", port))
    deadline = time.monotonic() + timeout
    while not (udp_socket_inodes(port) - before):
        if receiver.poll() is not None:
            raise AssertionError(f"the receiver exited ({receiver.returncode}) while priming")
        if time.monotonic() > deadline:
            raise AssertionError(f"the RTP receiver did not re-open port {port}")
        time.sleep(0.05)


def ffmpeg_sender(clip: Path, muxer: str, url: str, headers_at_key_frames: bool = False,
                  start_at: float = 0) -> subprocess.Popen:
    """Debian's ffmpeg: the clip's video, codec copied, at its own pace (-re), to `url`;
    optionally with the codec headers repeated before every key frame, as cameras send, and
    from the first frame `start_at` seconds or later into the clip, key frame or not
    (-copyinkf: ffmpeg would otherwise wait for a key frame before it sends anything)."""
    headers = ["-bsf:v", "dump_extra=freq=keyframe"] if headers_at_key_frames else []
    join = ["-ss", str(start_at), "-copyinkf"] if start_at else []
    argv = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-fflags", "+genpts",
            "-i", str(clip), "-map", "0:v:0", "-c", "copy", *headers, *join, "-f", muxer, url]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


#: where a joining receiver's stream begins in the clip (Megamind.avi: frame 36, mid-way
#: between the key frames 1 and 98)
JOIN_AT = 1.5


def first_frame_sent(fps: float, start_at: float = JOIN_AT) -> int:
    """The index of the first frame ffmpeg_sender sends with `start_at` (timestamp >= it)."""
    return math.ceil(start_at * fps - 1e-9)


def joining_camera(clip: Path, url: str, start_at: float = JOIN_AT):
    """A start_sender for receive_live: MPEG-TS to the UDP `url` with the codec headers before
    every key frame, as a camera sends it, beginning `start_at` seconds into the clip, at a
    predicted picture: the app joins the stream between two key frames."""
    return start_ffmpeg(clip, "mpegts", url + "?pkt_size=1316", headers_at_key_frames=True,
                        start_at=start_at)


class RtpSender:
    """Sends the clip to 127.0.0.1:port, paced; `start` is a start_sender for receive_live."""

    def __init__(self, video: AviVideo, port: int, frames: Sequence[bytes] | None = None) -> None:
        """`frames`: what to send instead of all the clip's frames (the SDP still describes
        the clip: its codec headers come from the first frame)."""
        self.video, self.port = video, port
        self.frames = tuple(video.frames if frames is None else frames)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self.frames_sent = 0

    def sdp(self) -> str:
        """What a receiver needs: where the packets arrive and how to depacketise them."""
        return session_description(self.video, "127.0.0.1", self.port)

    def start(self):
        """Start sending; returns the function that stops it."""
        self._thread.start()
        return self.stop

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _send(self) -> None:
        step = 90000 / self.video.fps
        seq, t0 = 0, time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i, frame in enumerate(self.frames):
                if self._stop.wait(max(0.0, t0 + i / self.video.fps - time.monotonic())):
                    return
                packets = rtp_packets(frame, seq, round(i * step))
                seq += len(packets)
                for packet in packets:
                    try:
                        tx.sendto(packet, ("127.0.0.1", self.port))
                    except OSError:  # the receiver has gone (ICMP port unreachable)
                        return
                self.frames_sent = i + 1


def receive_live(argv: list[str], port: int, start_sender, timeout: float = 300,
                 prime: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Start the receiving program, start the sender once the program has bound `port` (and,
    with `prime`, re-opened it as an RTP session), wait for the program; start_sender()
    returns the function that stops the sender."""
    app = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        wait_until_bound(port, app)
        if prime:
            prime_rtp_receiver(port, app)
        stop = start_sender()
        try:
            out, err = app.communicate(timeout=timeout)
        finally:
            stop()
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    return subprocess.CompletedProcess(app.args, app.returncode, out, err)


def start_ffmpeg(clip: Path, muxer: str, url: str, headers_at_key_frames: bool = False,
                 start_at: float = 0):
    """A start_sender for receive_live: Debian's ffmpeg, stopped when the receiver is done."""
    def start():
        tx = ffmpeg_sender(clip, muxer, url, headers_at_key_frames, start_at)
        return lambda: (tx.terminate(), tx.wait(timeout=30))
    return start
