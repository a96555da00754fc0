"""The inference app, cross-built for jetson-nx and run under qemu-user.

`invoke build` builds and gates it; `invoke test` runs its ctest suite (unit tests + program
checks, all under qemu through CMAKE_CROSSCOMPILING_EMULATOR) and a smoke run; then the
installed program is fed bad input and must fail with the documented exit code and message,
within a bounded time, never with a crash.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgeforge.build import sample
from edgeforge.context import Context
from tests.conftest import BUILD, PROJECT, app_records, run_invoke
from tests.e2e.conftest import build_board, sysroot_of
from tests.e2e.rtsp_server import RtspServer, read_avi_video
from tests.e2e.udp_streams import (
    JOIN_AT,
    RtpSender,
    first_frame_sent,
    free_udp_port,
    is_intra_vop,
    joining_camera,
    receive_live,
    start_ffmpeg,
)

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
APP = BUILD / BOARD / "edge-infer"
MODEL = APP / "share" / "edge-infer" / "pedestrian-grid.onnx"
CASCADE = APP / "share" / "edge-infer" / "haarcascade_frontalface_default.xml"
HAAR = ("--backend", "haar", "--cascade", str(CASCADE), "--max-frames", "6")


def samples(name: str) -> Path:
    return sample(Context.create(project_root=PROJECT, build_root=BUILD), name)


def damaged_video(dest: Path) -> Path:
    """vtest.avi with 200 random bytes every 20 kB between 1.0 and 1.4 MB (frames ~100-140)."""
    import random

    data = bytearray(samples("vtest.avi").read_bytes())
    rnd = random.Random(1)
    for off in range(1_000_000, 1_400_000, 20_000):
        data[off:off + 200] = bytes(rnd.randrange(256) for _ in range(200))
    dest.write_bytes(bytes(data))
    return dest


def app_argv(*args: str) -> list[str]:
    """The installed aarch64 program under qemu-user with the board's sysroot."""
    return ["qemu-aarch64", "-L", str(sysroot_of(BOARD)), "-E", f"LD_LIBRARY_PATH={APP / 'lib'}",
            str(APP / "bin" / "edge-infer"), *args]


def run_app(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(app_argv(*args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def receive(args: list[str], port: int, start_sender, timeout: float = 300,
            prime: bool = False) -> subprocess.CompletedProcess:
    return receive_live(app_argv(*args), port, start_sender, timeout, prime)


def detections(out: str) -> list:
    return [(f["frame"], f["detections"]) for f in map(json.loads, out.splitlines())]


def summary_of(stderr: str) -> dict:
    return json.loads(next(ln for ln in stderr.splitlines()
                           if ln.startswith('{"summary"')))["summary"]


@pytest.fixture(scope="module")
def megamind_faces(built: dict) -> list:
    """The Haar face detections on the first 6 frames of Megamind.avi read from the file."""
    r = run_app(*HAAR, str(samples("Megamind.avi")))
    assert r.returncode == 0, r.stderr
    found = detections(r.stdout)
    assert len(found) == 6 and any(d for _, d in found)  # the face is found
    return found


@pytest.fixture(scope="module")
def built() -> dict:
    return build_board(BOARD, smoke_only=False)


def test_build_installs_a_gated_aarch64_app(built: dict):
    apps = [a for a in built["artifacts"] if a["role"] == "app"]
    program = [a for a in apps if a["path"] == "edge-infer/bin/edge-infer"]
    assert program and program[0]["elf_machine"] == "EM_AARCH64"
    assert any(a["path"].startswith("edge-infer/lib/libopencv_dnn.so") for a in apps)
    assert MODEL.is_file() and MODEL.stat().st_size < 10 * 1024 * 1024


def test_no_checkout_build_or_cache_path_in_what_ships(built: dict):
    """Nothing the app ships carries a path of the machine that built it (assertion messages'
    __FILE__, debug info, build-information strings): prefix maps for the checkout and the
    build folder in the app, and in the compiler wrappers and recipes for every package."""
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    machine = [str(p).encode() for p in (PROJECT, BUILD, ctx.cache_dir, ctx.conan_home)]
    installed = BUILD / BOARD / "edge-infer"
    elfs = [p for p in sorted(installed.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF"]
    assert len(elfs) > 10, elfs
    for elf in elfs:
        data = elf.read_bytes()
        for path in machine:
            assert path not in data, f"{path.decode()} is in {elf}"
        # Conan's random build folders (p/b/opencaf8621ae06ef6) are named by package instead
        assert not re.search(rb"/conan/b/\w{14,}", data), elf
    program = (installed / "bin" / "edge-infer").read_bytes()
    # the app's own sources under the fixed name gdb maps back to the checkout
    assert b"/edgeforge-project/apps/edge-infer/src/postprocess.cpp" in program
    core = next(p for p in elfs if p.name.startswith("libopencv_core.so")).read_bytes()
    # OpenCV's error messages name its sources under a fixed folder
    assert b"/conan/openc/b/src/modules/core/src/matrix.cpp" in core
    avcodec = next(p for p in elfs if p.name.startswith("libavcodec.so")).read_bytes()
    assert b"--sysroot=/edgeforge-cache/sysroots/" in avcodec  # avcodec_configuration()


def test_invoke_test_runs_ctest_and_a_smoke_run_under_qemu(built: dict):
    r = run_invoke("test", "--board", BOARD, "--frames", "12")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "100% tests passed" in r.stdout
    assert "12 frames," in r.stdout and "person detections" in r.stdout
    lines = (app_records(BOARD) / "smoke-run.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(12))


def test_version_names_board_compiler_and_libraries(built: dict):
    r = run_app("--version")
    assert r.returncode == 0, r.stderr
    assert "edge-infer 1.0.0" in r.stdout
    assert "board: jetson-nx (aarch64)" in r.stdout
    assert "compiler: clang 14" in r.stdout
    assert "opencv: 4.6.0" in r.stdout and "ffmpeg: 5.1.9" in r.stdout
    assert "git revision: " in r.stdout and "git revision: unknown" not in r.stdout


def test_summary_reports_every_stage(built: dict, tmp_path: Path):
    out = tmp_path / "dets.jsonl"
    r = run_app("--model", str(MODEL), "--max-frames", "6", "--summary", "--output", str(out),
                str(samples("vtest.avi")))
    assert r.returncode == 0, r.stderr
    summary = json.loads(next(ln for ln in r.stderr.splitlines() if ln.startswith('{"summary"')))
    s = summary["summary"]
    assert s["frames"] == 6 and s["codec"] == "msmpeg4" and s["width"] == 768
    assert set(s["stages"]) == {"decode", "preprocess", "inference", "postprocess"}
    assert all(v["p95_ms"] >= v["mean_ms"] * 0.5 > 0 for k, v in s["stages"].items()
               if k != "postprocess")
    assert 0 < s["peak_rss_mb"] < 400
    assert len(out.read_text().splitlines()) == 6


@pytest.mark.parametrize("args, code, message", [
    (["--backend", "hog", "/nonexistent/clip.mp4"], 3,
     "cannot open input '/nonexistent/clip.mp4': No such file or directory"),
    (["--model", "/nonexistent.onnx", "x.mp4"], 5, "cannot read model '/nonexistent.onnx'"),
    (["--bogus"], 2, "unknown option '--bogus'"),
    (["--backend", "hog", "--max-frames", "-3", "x.mp4"], 2, "--max-frames: -3 is out of range"),
])
def test_bad_input_gives_a_clear_error(built: dict, args, code, message):
    r = run_app(*args)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert "Segmentation" not in r.stderr and "core dumped" not in r.stderr


def test_installed_app_uses_its_own_model_and_cascade(built: dict, megamind_faces: list):
    # no --model: the installed program takes ../share/edge-infer/pedestrian-grid.onnx
    with_default = run_app("--max-frames", "3", str(samples("vtest.avi")))
    explicit = run_app("--model", str(MODEL), "--max-frames", "3", str(samples("vtest.avi")))
    assert with_default.returncode == 0, with_default.stderr
    assert with_default.stdout == explicit.stdout and len(with_default.stdout.splitlines()) == 3
    # no --cascade: the installed frontal-face cascade
    r = run_app("--backend", "haar", "--max-frames", "6", str(samples("Megamind.avi")))
    assert r.returncode == 0, r.stderr
    assert detections(r.stdout) == megamind_faces


def test_a_copied_program_without_its_share_folder_asks_for_a_model(built: dict, tmp_path: Path):
    lone = tmp_path / "bin" / "edge-infer"
    lone.parent.mkdir()
    shutil.copy2(APP / "bin" / "edge-infer", lone)
    r = subprocess.run(["qemu-aarch64", "-L", str(sysroot_of(BOARD)), "-E",
                        f"LD_LIBRARY_PATH={APP / 'lib'}", str(lone), "x.mp4"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr
    assert "--backend dnn needs --model FILE (no pedestrian-grid.onnx installed in" in r.stderr


def test_invalid_model_file(built: dict, tmp_path: Path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07" + b"not a protobuf" * 100)
    r = run_app("--model", str(bad), str(samples("vtest.avi")))
    assert r.returncode == 5, r.stderr
    assert f"'{bad}' is not a usable ONNX model" in r.stderr


def test_corrupt_video_is_reported_and_no_result_is_left(built: dict, tmp_path: Path):
    out = tmp_path / "dets.jsonl"
    bad = damaged_video(tmp_path / "damaged.avi")
    r = run_app("--backend", "none", "--max-frames", "200", "--output", str(out), str(bad))
    assert r.returncode == 4, r.stderr
    assert "is damaged" in r.stderr and "decode error(s)" in r.stderr and "--keep-going" in r.stderr
    assert not out.exists() and not Path(str(out) + ".part").exists()
    r = run_app("--backend", "none", "--max-frames", "200", "--keep-going", "--output", str(out),
                str(bad))
    assert r.returncode == 0 and "warning" in r.stderr
    assert len(out.read_text().splitlines()) == 200


def test_truncated_video(built: dict, tmp_path: Path):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(samples("vtest.avi").read_bytes()[: 300 * 1024])
    r = run_app("--model", str(MODEL), str(cut))
    # the frames before the cut decode; the last one, cut short, decodes with errors: a
    # damaged stream (exit 4, README's app exit codes), not an input that cannot be opened (3)
    assert r.returncode == 4, r.stderr
    assert f"edge-infer: error: '{cut}' is damaged: " in r.stderr, r.stderr
    assert "(--keep-going accepts damaged input)" in r.stderr


def test_unreachable_stream_times_out(built: dict):
    # a server that accepts the connection and never answers: the app must give up on its own
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    t0 = time.monotonic()
    r = run_app("--backend", "hog", "--timeout", "2", f"rtsp://127.0.0.1:{port}/cam", timeout=60)
    elapsed = time.monotonic() - t0
    srv.close()
    assert r.returncode == 3, r.stderr
    assert f"rtsp://127.0.0.1:{port}/cam" in r.stderr
    assert elapsed < 30


def test_haar_backend_finds_the_face_in_megamind(built: dict):
    cascade = APP / "share" / "edge-infer" / "haarcascade_frontalface_default.xml"
    r = run_app("--backend", "haar", "--cascade", str(cascade), "--max-frames", "4",
                str(samples("Megamind.avi")))
    assert r.returncode == 0, r.stderr
    frames = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(frames) == 4
    assert frames[0]["detections"] == []  # the clip fades in
    assert all(any(d["label"] == "face" for d in f["detections"]) for f in frames[1:])


def test_rtsp_camera_gives_the_same_detections_as_the_file(built: dict, megamind_faces: list):
    # Megamind.avi served as an RTSP camera (MPEG-4 over RTP, interleaved after a refused UDP
    # SETUP): the decoded frames and so the detections equal the file's, frame by frame
    # over TCP the camera can be made to wait: every frame, as from the file
    with RtspServer(read_avi_video(samples("Megamind.avi"))) as camera:
        live = run_app(*HAAR, "--drop-frames", "no", "--timeout", "20", camera.url, timeout=300)
        requests = [r.split(" ", 1)[0] for r in camera.requests]
    assert live.returncode == 0, live.stderr
    assert requests[:5] == ["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "PLAY"]
    assert detections(live.stdout) == megamind_faces


@pytest.mark.parametrize("scheme, muxer, demuxer", [
    ("udp", "mpegts", "mpegts"),  # MPEG-TS in UDP datagrams, as encoders multicast it
    ("rtp", "rtp_mpegts", "rtp"),  # MPEG-TS over RTP (payload type 33): no SDP needed
])
def test_mpegts_stream_gives_the_same_detections_as_the_file(built: dict, megamind_faces: list,
                                                             scheme, muxer, demuxer):
    port = free_udp_port()
    url = f"{scheme}://127.0.0.1:{port}"

    start = start_ffmpeg(samples("Megamind.avi"), muxer,
                         url + ("?pkt_size=1316" if scheme == "udp" else ""))
    # room for every frame asked for: nothing is dropped, and reading never stops
    live = receive([*HAAR, "--queue", "8", "--summary", "--timeout", "20", url], port, start,
                   prime=scheme == "rtp")
    assert live.returncode == 0, live.stderr
    summary = summary_of(live.stderr)
    assert (summary["format"], summary["codec"]) == (demuxer, "mpeg4")
    assert summary["decode_errors"] == 0
    assert detections(live.stdout) == megamind_faces


def test_live_source_faster_than_the_detector_drops_whole_frames(built: dict):
    # 24 frames/s over RTP (no flow control) into a Haar detector at ~2 frames/s under qemu:
    # the decode thread keeps reading and drops the oldest waiting frames, so no packet is lost
    # in the socket and every frame that reaches the detector decoded cleanly
    port = free_udp_port()
    url = f"rtp://127.0.0.1:{port}"

    start = start_ffmpeg(samples("Megamind.avi"), "rtp_mpegts", url)
    r = receive(["--backend", "haar", "--cascade", str(CASCADE), "--threads", "1",
                 "--max-frames", "48", "--summary", "--timeout", "20", url], port, start,
                prime=True)
    assert r.returncode == 0, r.stderr
    summary = summary_of(r.stderr)
    assert summary["decode_errors"] == 0
    assert summary["dropped"] > 0
    assert summary["frames"] + summary["dropped"] == 48
    indices = [f["frame"] for f in map(json.loads, r.stdout.splitlines())]
    assert len(indices) == summary["frames"]
    assert indices == sorted(set(indices)) and indices[-1] == 47  # the newest is never dropped
    assert f"{summary['dropped']} of 48 frames dropped" in r.stderr


def test_joining_a_running_stream_starts_at_its_next_key_frame(built: dict):
    # a camera in the middle of a picture group (headers before each key frame): the app
    # joins mid-picture-group; what it cannot decode before the next key frame is skipped,
    # not reported as damage, and from there every frame decodes cleanly
    port = free_udp_port()
    url = f"udp://127.0.0.1:{port}"
    clip = samples("Megamind.avi")
    video = read_avi_video(clip)
    # the app's stream begins 1.5 s into the clip (frame 36); the next key frame is frame 98
    joined = first_frame_sent(video.fps, JOIN_AT)
    key = next(i for i in range(joined, len(video.frames)) if is_intra_vop(video.frames[i]))
    assert not is_intra_vop(video.frames[joined])  # the join is between two key frames
    r = receive(["--backend", "none", "--max-frames", "24", "--summary", "--timeout", "10", url],
                port, joining_camera(clip, url, JOIN_AT))
    assert r.returncode == 0, r.stderr
    summary = summary_of(r.stderr)
    assert summary["decode_errors"] == 0 and summary["frames"] == 24
    frames = [json.loads(line) for line in r.stdout.splitlines()]
    # the frame numbers count from the key frame: the 24 frames from there, none dropped
    assert [f["frame"] for f in frames] == list(range(24)), r.stdout
    # the predicted pictures between the join and the key frame were decoded and skipped
    # (their errors are not damage): one for each frame sent before the key frame, but the
    # first few, which the decoder cannot decode at all (58 of 62 with FFmpeg 5.1)
    skipped = summary["skipped_before_key_frame"]
    assert key - joined - 8 <= skipped <= key - joined, summary
    # timestamps count from the first packet the app saw: its first frame is the key frame,
    # (key - joined) frames later (+-1: the decoder's reordering of packed B-frames)
    stamps = [f["timestamp"] for f in frames]
    assert abs(stamps[0] * video.fps - (key - joined)) <= 1.5, (stamps[0], key, joined)
    assert stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] <= 24 / video.fps  # consecutive pictures of the clip


def test_stream_without_a_key_frame_is_damaged_input_after_the_timeout(built: dict,
                                                                       tmp_path: Path):
    # only predicted pictures ever arrive: nothing can be decoded cleanly, and the app must
    # say so within --timeout instead of skipping frames forever
    video = read_avi_video(samples("Megamind.avi"))
    predicted = [f for f in video.frames if not is_intra_vop(f)]
    assert 0 < len(predicted) < len(video.frames) - 2
    port = free_udp_port()
    sender = RtpSender(video, port, frames=predicted)
    session = tmp_path / "camera.sdp"
    session.write_text(sender.sdp())

    t0 = time.monotonic()
    r = receive(["--backend", "none", "--timeout", "2", str(session)], port, sender.start,
                timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 4, r.stderr
    assert f"'{session}': no key frame decoded cleanly within 2 s (--timeout)" in r.stderr
    assert r.stdout == ""
    assert elapsed < 60 and sender.frames_sent < len(predicted)  # it did not wait for the end


def test_rtp_session_described_by_an_sdp_file(built: dict, megamind_faces: list, tmp_path: Path):
    # MPEG-4 over RTP with a dynamic payload type: the receiver learns the codec and its
    # headers from the session description, as from a camera's or GStreamer's .sdp
    port = free_udp_port()
    sender = RtpSender(read_avi_video(samples("Megamind.avi")), port)
    session = tmp_path / "camera.sdp"
    session.write_text(sender.sdp())

    live = receive([*HAAR, "--queue", "8", "--summary", "--timeout", "20", str(session)], port,
                   sender.start)
    assert live.returncode == 0, live.stderr
    summary = summary_of(live.stderr)
    assert (summary["format"], summary["codec"]) == ("sdp", "mpeg4")
    assert summary["decode_errors"] == 0
    assert detections(live.stdout) == megamind_faces


def test_rtp_with_a_dynamic_payload_type_and_no_sdp_is_explained(built: dict):
    port = free_udp_port()
    sender = RtpSender(read_avi_video(samples("Megamind.avi")), port)

    r = receive(["--backend", "none", "--timeout", "20", f"rtp://127.0.0.1:{port}"], port,
                sender.start, timeout=120)
    assert r.returncode == 3, r.stderr
    assert f"cannot open input 'rtp://127.0.0.1:{port}'" in r.stderr
    assert "payload type 96 without an SDP file" in r.stderr  # FFmpeg's own reason, passed on


@pytest.mark.parametrize("kind", ["udp", "sdp"])
def test_silent_live_source_times_out(built: dict, tmp_path: Path, kind: str):
    # nothing is ever sent: the app must give up on its own, with the bound it was given
    port = free_udp_port()
    source = f"udp://127.0.0.1:{port}"
    if kind == "sdp":
        session = tmp_path / "camera.sdp"
        session.write_text(RtpSender(read_avi_video(samples("Megamind.avi")), port).sdp())
        source = str(session)
    t0 = time.monotonic()
    r = run_app("--backend", "none", "--timeout", "2", source, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 3, r.stderr
    assert f"'{source}': no answer within 2 s (--timeout)" in r.stderr
    assert elapsed < 60


def test_rtsp_stream_is_read_to_its_end(built: dict):
    clip = read_avi_video(samples("Megamind.avi"))
    with RtspServer(clip) as camera:
        r = run_app("--backend", "none", "--summary", "--drop-frames", "no", "--timeout", "20",
                    camera.url, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = summary_of(r.stderr)
    assert (summary["format"], summary["codec"]) == ("rtsp", "mpeg4")
    assert (summary["width"], summary["height"]) == (720, 528)
    assert summary["frames"] == len(clip.frames) == 270  # the RTCP BYE ends the stream
    assert summary["decode_errors"] == 0
    assert len(r.stdout.splitlines()) == 270


def test_rtsp_unknown_stream_path_is_an_input_error(built: dict):
    with RtspServer(read_avi_video(samples("Megamind.avi"))) as camera:
        url = camera.url.replace("/camera", "/no-such-camera")
        r = run_app("--backend", "none", "--timeout", "20", url, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "edge-infer: error:" in r.stderr and "no-such-camera" in r.stderr
