"""Parity: the x86_64 build (invoke native) and the aarch64 build (jetson-nx, under qemu-user)
give the same answers on the same video; bad input under AddressSanitizer/UBSan.

Classical backend (HOG): identical detections. DNN backend: the same boxes within
DNN_BOX_TOLERANCE pixels and scores within DNN_SCORE_TOLERANCE (float summation order differs
between NEON and SSE/AVX kernels; decoding and resizing are bit-exact on both).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from edgeforge.build import compare, detections
from tests.conftest import BUILD, run_invoke
from tests.e2e.conftest import build_board
from tests.e2e.test_app import (
    APP,
    BOARD,
    CASCADE,
    MODEL,
    damaged_video,
    run_app,
    samples,
    summary_of,
)
from tests.e2e.udp_streams import free_udp_port, joining_camera, receive_live, start_ffmpeg

pytestmark = pytest.mark.e2e
NATIVE = BUILD / "host" / "edge-infer"
ASAN = BUILD / "host" / "edge-infer-asan"
DNN_BOX_TOLERANCE = 0.5     # pixels, in 768x576 frames
DNN_SCORE_TOLERANCE = 0.002
FRAMES = "24"
#: HOG's multi-scale search costs about 2 s a frame under qemu: 8 frames (with people in them)
#: keep the bit-for-bit comparison and save 40 s of the suite
HOG_FRAMES = "8"


@pytest.fixture(scope="module")
def aarch64() -> Path:
    """jetson-nx's app, built (a no-op when it is up to date) and installed in APP."""
    build_board(BOARD, smoke_only=False)
    return APP / "bin" / "edge-infer"


@pytest.fixture(scope="module")
def native() -> Path:
    r = run_invoke("native")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    return NATIVE / "bin" / "edge-infer"


def run_native(program: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def test_native_build_is_x86_64(native: Path):
    r = run_native(native, "--version")
    assert r.returncode == 0 and "board: host (x86_64)" in r.stdout and "compiler: gcc 12" in r.stdout


@pytest.mark.parametrize("backend", ["hog", "dnn"])
def test_same_detections_on_x86_64_and_aarch64(native: Path, aarch64: Path, backend: str):
    video = str(samples("vtest.avi"))
    frames = FRAMES if backend == "dnn" else HOG_FRAMES
    args = ["--max-frames", frames, video]
    # HOG on one OpenCV thread: one CI run (of many) saw a different score for the same box
    # on x86_64 with OpenCV's default threads, never reproduced in 72 reruns (native and
    # qemu, loaded and idle); the only order that varies between runs is the threads' order
    args = ["--model", str(MODEL), *args] if backend == "dnn" else [
        "--backend", "hog", "--threads", "1", *args]
    x86 = run_native(native, *args)
    arm = run_app(*args, timeout=1800)
    assert x86.returncode == 0, x86.stderr
    assert arm.returncode == 0, arm.stderr
    a, b = detections(x86.stdout), detections(arm.stdout)
    assert len(a) == int(frames) and sum(len(f) for f in a) > 0
    if backend == "hog":
        assert x86.stdout == arm.stdout, compare(a, b, 0, 0)[:5]
    else:
        problems = compare(a, b, DNN_BOX_TOLERANCE, DNN_SCORE_TOLERANCE)
        assert not problems, problems[:5]


@pytest.fixture(scope="module")
def asan(native: Path) -> Path:
    r = run_invoke("native", "--sanitize", "--test")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert "100% tests passed" in r.stdout
    return ASAN / "bin" / "edge-infer"


SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


@pytest.mark.parametrize("case, code", [
    ("missing", 3), ("junk", 3), ("truncated", 4), ("damaged", 4), ("bad-model", 5),
])
def test_bad_input_under_sanitizers(asan: Path, tmp_path: Path, case: str, code: int):
    # README's app exit codes: 3 input cannot be opened, 4 damaged stream (a file cut short:
    # its last frame decodes with errors), 5 invalid model
    model = str(ASAN / "share" / "edge-infer" / MODEL.name)  # the sanitizer build's own
    video = samples("vtest.avi")
    if case == "missing":
        args = ["--model", model, str(tmp_path / "nope.avi")]
    elif case == "junk":
        junk = tmp_path / "junk.avi"
        junk.write_bytes(b"RIFF" + bytes(range(256)) * 300)
        args = ["--model", model, str(junk)]
    elif case == "truncated":
        cut = tmp_path / "cut.avi"
        cut.write_bytes(video.read_bytes()[: 400 * 1024])
        args = ["--model", model, str(cut)]
    elif case == "damaged":
        args = ["--backend", "none", "--max-frames", "200", str(damaged_video(tmp_path / "d.avi"))]
    else:
        bad = tmp_path / "m.onnx"
        bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0f" * 50)
        args = ["--model", str(bad), str(video)]
    r = run_native(asan, *args, env=SAN_ENV)
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    assert r.returncode == code, r.stderr
    assert "edge-infer: error:" in r.stderr


def test_live_paths_under_sanitizers(asan: Path):
    # the threads' hand-off when frames are dropped, and the join rule, with ASan+UBSan
    native_cascade = str(ASAN / "share" / "edge-infer" / CASCADE.name)
    clip = samples("Megamind.avi")
    env = {**os.environ, **SAN_ENV}
    port = free_udp_port()
    url = f"rtp://127.0.0.1:{port}"
    argv = [str(asan), "--backend", "haar", "--cascade", native_cascade, "--queue", "1",
            "--max-frames", "96", "--summary", "--timeout", "20", url]
    dropping = receive_live(argv, port, start_ffmpeg(clip, "rtp_mpegts", url), prime=True,
                            env=env)
    port = free_udp_port()
    url = f"udp://127.0.0.1:{port}"
    joining = receive_live([str(asan), "--backend", "none", "--max-frames", "24", "--summary",
                            "--timeout", "10", url], port, joining_camera(clip, url), env=env)
    for r in (dropping, joining):
        assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
        assert r.returncode == 0, r.stderr
        assert summary_of(r.stderr)["decode_errors"] == 0
    assert summary_of(dropping.stderr)["dropped"] > 0
    assert summary_of(joining.stderr)["skipped_before_key_frame"] > 0  # joined mid-way
