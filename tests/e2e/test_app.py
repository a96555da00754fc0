"""The inference app, cross-built for jetson-nx and run under qemu-user.

`invoke build` builds and gates it; `invoke test` runs its ctest suite (unit tests + program
checks, all under qemu through CMAKE_CROSSCOMPILING_EMULATOR) and a smoke run; then the
installed program is fed bad input and must fail with the documented exit code and message,
within a bounded time, never with a crash.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgeforge.context import Context
from edgeforge.samples import sample
from tests.conftest import PROJECT, run_invoke
from tests.e2e.conftest import build_board, sysroot_of
from tests.e2e.rtsp_server import RtspServer, read_avi_video

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
APP = PROJECT / "build" / BOARD / "edge-infer"
MODEL = APP / "share" / "edge-infer" / "pedestrian-grid.onnx"


def samples(name: str) -> Path:
    return sample(Context.create(project_root=PROJECT), name)


def damaged_video(dest: Path) -> Path:
    """vtest.avi with 200 random bytes every 20 kB between 1.0 and 1.4 MB (frames ~100-140)."""
    import random

    data = bytearray(samples("vtest.avi").read_bytes())
    rnd = random.Random(1)
    for off in range(1_000_000, 1_400_000, 20_000):
        data[off:off + 200] = bytes(rnd.randrange(256) for _ in range(200))
    dest.write_bytes(bytes(data))
    return dest


def run_app(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The installed aarch64 program under qemu-user with the board's sysroot."""
    argv = ["qemu-aarch64", "-L", str(sysroot_of(BOARD)), "-E", f"LD_LIBRARY_PATH={APP / 'lib'}",
            str(APP / "bin" / "edge-infer"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def built() -> dict:
    return build_board(BOARD, smoke_only=False)


def test_build_installs_a_gated_aarch64_app(built: dict):
    apps = [a for a in built["artifacts"] if a["role"] == "app"]
    program = [a for a in apps if a["path"] == "edge-infer/bin/edge-infer"]
    assert program and program[0]["elf_machine"] == "EM_AARCH64"
    assert any(a["path"].startswith("edge-infer/lib/libopencv_dnn.so") for a in apps)
    assert MODEL.is_file() and MODEL.stat().st_size < 10 * 1024 * 1024


def test_invoke_test_runs_ctest_and_a_smoke_run_under_qemu(built: dict):
    r = run_invoke("test", "--board", BOARD, "--frames", "12")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "100% tests passed" in r.stdout
    assert "12 frames," in r.stdout and "person detections" in r.stdout
    lines = (PROJECT / "build" / BOARD / "smoke-run.jsonl").read_text().splitlines()
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
    assert r.returncode in (3, 4), r.stderr
    assert "edge-infer: error:" in r.stderr


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


def test_rtsp_camera_gives_the_same_detections_as_the_file(built: dict):
    # Megamind.avi served as an RTSP camera (MPEG-4 over RTP, interleaved after a refused UDP
    # SETUP): the decoded frames and so the detections equal the file's, frame by frame
    cascade = APP / "share" / "edge-infer" / "haarcascade_frontalface_default.xml"
    clip = samples("Megamind.avi")
    args = ("--backend", "haar", "--cascade", str(cascade), "--max-frames", "6")
    from_file = run_app(*args, str(clip))
    assert from_file.returncode == 0, from_file.stderr
    with RtspServer(read_avi_video(clip)) as camera:
        live = run_app(*args, "--timeout", "20", camera.url, timeout=300)
        requests = [r.split(" ", 1)[0] for r in camera.requests]
    assert live.returncode == 0, live.stderr
    assert requests[:5] == ["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "PLAY"]

    def detections(out: str) -> list:
        return [(f["frame"], f["detections"]) for f in map(json.loads, out.splitlines())]

    assert len(detections(live.stdout)) == 6
    assert detections(live.stdout) == detections(from_file.stdout)
    assert any(d for _, d in detections(live.stdout))  # the face is found


def test_rtsp_stream_is_read_to_its_end(built: dict):
    clip = read_avi_video(samples("Megamind.avi"))
    with RtspServer(clip) as camera:
        r = run_app("--backend", "none", "--summary", "--timeout", "20", camera.url, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(next(ln for ln in r.stderr.splitlines()
                              if ln.startswith('{"summary"')))["summary"]
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
