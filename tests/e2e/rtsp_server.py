"""A small RTSP server for the app's network-input tests: a camera stand-in on 127.0.0.1.

It serves one MPEG-4 Part 2 video track (RFC 3016, MP4V-ES) taken frame by frame from an AVI
file (OpenCV's Megamind.avi is XviD), RTP over the RTSP connection (interleaved, RFC 2326
section 10.12), and ends the stream with an RTCP BYE. A SETUP asking for UDP gets 461
Unsupported Transport, as from cameras behind NAT, so the client's fall-back to TCP is
exercised too. No RTSP server package is installed on this machine; this one speaks just
enough of the protocol for FFmpeg's client and keeps a log of the requests it saw.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

RTP_PAYLOAD = 1400
PT = 96
SSRC = 0x0EDF0E6E


@dataclass(frozen=True)
class AviVideo:
    frames: tuple[bytes, ...]
    fps: float
    fourcc: str


def read_avi_video(path: Path) -> AviVideo:
    """The first video stream's chunks ('00dc'/'00db') in file order, and its frame rate."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        raise ValueError(f"{path}: not an AVI file")
    fps, fourcc = 25.0, "?"
    strh = data.find(b"strh")
    if strh >= 0:
        fourcc = data[strh + 12:strh + 16].decode("latin-1")
        scale, rate = struct.unpack_from("<II", data, strh + 8 + 20)
        if scale:
            fps = rate / scale
    movi = data.find(b"movi")
    if movi < 0:
        raise ValueError(f"{path}: no movi list")
    size = struct.unpack_from("<I", data, movi - 4)[0]
    frames, pos, end = [], movi + 4, movi - 4 + size
    while pos + 8 <= min(end, len(data)):
        cid, n = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"LIST":  # 'rec ' groups: descend
            pos += 12
            continue
        if cid in (b"00dc", b"00db") and n:
            frames.append(data[pos + 8:pos + 8 + n])
        pos += 8 + n + (n & 1)
    return AviVideo(tuple(frames), fps, fourcc)


def mpeg4_config(first_frame: bytes) -> bytes:
    """Everything before the first VOP start code: the VOS/VO/VOL headers (SDP 'config')."""
    vop = first_frame.find(b"\x00\x00\x01\xb6")
    return first_frame[:vop] if vop > 0 else b""


def rtp_packets(frame: bytes, seq: int, timestamp: int) -> list[bytes]:
    """RFC 3016: a frame split into payload-sized fragments; the marker bit ends the frame."""
    chunks = [frame[i:i + RTP_PAYLOAD] for i in range(0, len(frame), RTP_PAYLOAD)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        marker = 0x80 if i == len(chunks) - 1 else 0
        header = struct.pack("!BBHII", 0x80, marker | PT, (seq + i) & 0xFFFF,
                             timestamp & 0xFFFFFFFF, SSRC)
        out.append(header + chunk)
    return out


def rtcp_goodbye(rtp_time: int, packets: int, octets: int) -> bytes:
    """A compound RTCP packet (RFC 3550 6.1: it starts with a report): sender report + BYE."""
    ntp = 0xE1F0_0000_0000_0000  # a fixed wall clock: the output must not depend on it
    report = struct.pack("!BBHIQIII", 0x80, 200, 6, SSRC, ntp, rtp_time & 0xFFFFFFFF,
                         packets, octets)
    return report + struct.pack("!BBHI", 0x81, 203, 1, SSRC)


def session_description(video: AviVideo, address: str = "0.0.0.0", port: int = 0) -> str:
    """The SDP of the MP4V-ES track: for RTSP's DESCRIBE (port 0) or a receiver's .sdp file."""
    config = mpeg4_config(video.frames[0]).hex().upper()
    return ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=edgeforge test camera\r\n"
            f"c=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=video {port} RTP/AVP {PT}\r\na=rtpmap:{PT} MP4V-ES/90000\r\n"
            f"a=fmtp:{PT} profile-level-id=1;config={config}\r\n"
            f"a=framerate:{video.fps:g}\r\n")


def interleaved(channel: int, packet: bytes) -> bytes:
    return b"$" + bytes([channel]) + struct.pack("!H", len(packet)) + packet


@dataclass
class RtspServer:
    """`with RtspServer(video) as srv: srv.url` - one thread per client connection."""

    video: AviVideo
    path: str = "camera"
    requests: list[str] = field(default_factory=list)
    frames_sent: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self._sock.getsockname()[1]}/{self.path}"

    def __enter__(self) -> RtspServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sock.close()

    def sdp(self) -> str:
        return session_description(self.video) + "a=control:track0\r\n"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""

        def need(n: int) -> bool:
            nonlocal buf
            while len(buf) < n:
                data = conn.recv(4096)
                if not data:
                    return False
                buf += data
            return True

        try:
            with conn:
                while not self._stop.is_set():
                    if not need(1):
                        return
                    if buf[:1] == b"$":  # the client's interleaved RTCP receiver reports
                        if not need(4):
                            return
                        size = 4 + struct.unpack_from("!H", buf, 2)[0]
                        if not need(size):
                            return
                        buf = buf[size:]
                        continue
                    while b"\r\n\r\n" not in buf:
                        if not need(len(buf) + 1):
                            return
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    text = head.decode("latin-1")
                    m = re.search(r"Content-Length:\s*(\d+)", text, re.I)
                    body_len = int(m.group(1)) if m else 0
                    if not need(body_len):
                        return
                    buf = buf[body_len:]
                    with self._lock:
                        self.requests.append(text.split("\r\n", 1)[0])
                    if not self._answer(conn, text):
                        return
        except OSError:
            return  # the client went away (it may stop after --max-frames)

    def _answer(self, conn: socket.socket, request: str) -> bool:
        method = request.split(" ", 1)[0]
        cseq = re.search(r"CSeq:\s*(\d+)", request, re.I)
        headers = [f"CSeq: {cseq.group(1) if cseq else 0}", "Server: edgeforge-test-camera"]

        def reply(status: str, extra: list[str] = (), body: str = "") -> None:
            lines = [f"RTSP/1.0 {status}", *headers, *extra]
            if body:
                lines += ["Content-Type: application/sdp", f"Content-Length: {len(body)}"]
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n" + body).encode())

        if method == "OPTIONS":
            reply("200 OK", ["Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"])
        elif method == "DESCRIBE":
            if f"/{self.path}" not in request.split("\r\n", 1)[0]:
                reply("404 Not Found")
                return True
            reply("200 OK", [f"Content-Base: {self.url}/"], self.sdp())
        elif method == "SETUP":
            transport = re.search(r"Transport:\s*(\S+)", request, re.I)
            if not transport or "RTP/AVP/TCP" not in transport.group(1):
                reply("461 Unsupported Transport")
                return True
            reply("200 OK", ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
                             "Session: 0EDF0E6E;timeout=60"])
        elif method == "PLAY":
            reply("200 OK", ["Session: 0EDF0E6E", "Range: npt=0.000-",
                             f"RTP-Info: url={self.url}/track0;seq=0;rtptime=0"])
            self._stream(conn)
        elif method == "TEARDOWN":
            reply("200 OK", ["Session: 0EDF0E6E"])
            return False
        else:
            reply("405 Method Not Allowed")
        return True

    def _stream(self, conn: socket.socket) -> None:
        seq, octets, step = 0, 0, 90000 / self.video.fps
        for i, frame in enumerate(self.video.frames):
            if self._stop.is_set():
                return
            packets = rtp_packets(frame, seq, round(i * step))
            seq += len(packets)
            octets += len(frame)
            conn.sendall(b"".join(interleaved(0, p) for p in packets))
            with self._lock:
                self.frames_sent = i + 1
        end = round(len(self.video.frames) * step)
        conn.sendall(interleaved(1, rtcp_goodbye(end, seq, octets)))
