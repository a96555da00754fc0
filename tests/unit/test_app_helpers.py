"""The app integration's pure parts: argv, the smoke run's arguments and checks, parity
comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeforge.build import (
    CONF,
    check_smoke_output,
    compare,
    conan_build_argv,
    detections,
    smoke_args,
)
from edgeforge.config import SMOKE_PLACEHOLDERS, SmokeSpec
from edgeforge.core import EdgeforgeError
from edgeforge.toolchain import native_profile


def line(i: int, dets: list[dict]) -> str:
    return json.dumps({"frame": i, "timestamp": i / 25, "detections": dets})


PERSON = {"class": 0, "label": "person", "score": 0.9, "box": [10.0, 20.0, 30.0, 60.0]}


def test_conan_build_uses_the_lockfile_and_never_builds_dependencies():
    argv = conan_build_argv(Path("/p/apps/edge-infer"), Path("/h"), Path("/b"), Path("/l.lock"),
                            Path("/o"), {f"{CONF}:board": "jetson-nx"})
    assert argv[:3] == ["conan", "build", "/p/apps/edge-infer"]
    assert argv[argv.index("--lockfile") + 1] == "/l.lock"
    assert "--build=never" in argv
    assert argv[argv.index("--deployer") + 1] == "runtime_deploy"
    assert argv[-2:] == ["-c", "user.edgeforge.app:board=jetson-nx"]


def test_the_conan_conf_namespace_names_no_app():
    assert CONF == "user.edgeforge.app"


# ---- the smoke run's arguments: tests.smoke.args with its placeholders ----------------------------
def smoke(*args: str) -> SmokeSpec:
    return SmokeSpec(program="bin/demo", sample="vtest.avi", args=args)


def test_every_smoke_placeholder_is_filled_in():
    assert set(SMOKE_PLACEHOLDERS) == {"prefix", "sample", "frames", "output"}
    argv = smoke_args(smoke("--model", "{prefix}/share/demo/net.onnx", "--frames={frames}",
                            "-o", "{output}", "{sample}"),
                      prefix=Path("/b/demo"), sample=Path("/c/vtest.avi"), frames=7,
                      output=Path("/b/run.jsonl"))
    assert argv == ["--model", "/b/demo/share/demo/net.onnx", "--frames=7", "-o",
                    "/b/run.jsonl", "/c/vtest.avi"]


def test_smoke_placeholders_may_repeat_and_other_text_stays_as_it_is():
    argv = smoke_args(smoke("{sample}:{sample}", "{{sample}}", "a{frames}b", "plain"),
                      prefix=Path("/p"), sample=Path("/s.avi"), frames=3, output=Path("/o"))
    # only the four names are replaced (never str.format): other braces reach the program
    assert argv == ["/s.avi:/s.avi", "{/s.avi}", "a3b", "plain"]


def test_a_value_holding_braces_is_not_expanded_again():
    argv = smoke_args(smoke("{prefix}", "{sample}"), prefix=Path("/odd/{sample}"),
                      sample=Path("/s.avi"), frames=1, output=Path("/o"))
    assert argv == ["/odd/{sample}", "/s.avi"]


def test_a_smoke_run_without_arguments_has_none():
    assert smoke_args(smoke(), prefix=Path("/p"), sample=Path("/s"), frames=1,
                      output=Path("/o")) == []


def test_an_unknown_smoke_placeholder_is_refused_when_the_descriptor_is_read():
    with pytest.raises(ValueError, match=r"unknown placeholder \{frame\}; did you mean 'frames'"):
        smoke("--max-frames", "{frame}")


def test_smoke_output_needs_every_frame_in_order_and_a_person():
    text = "\n".join(line(i, [PERSON] if i == 1 else []) for i in range(3)) + "\n"
    assert check_smoke_output(text, 3) == {"frames": 3, "people": 1}
    with pytest.raises(EdgeforgeError, match="printed 3 JSON lines, expected 4"):
        check_smoke_output(text, 4)
    with pytest.raises(EdgeforgeError, match="found no person"):
        check_smoke_output("\n".join(line(i, []) for i in range(3)), 3)
    with pytest.raises(EdgeforgeError, match="is frame 2, expected 1"):
        check_smoke_output(line(0, [PERSON]) + "\n" + line(2, []), 2)


def test_compare_reports_count_and_box_differences():
    a = detections(line(0, [PERSON]) + "\n" + line(1, []))
    moved = dict(PERSON, box=[10.4, 20.0, 30.0, 60.0])
    assert compare(a, detections(line(0, [moved]) + "\n" + line(1, [])), 0.5, 0.01) == []
    assert compare(a, detections(line(0, [moved]) + "\n" + line(1, [])), 0.0, 0.0)
    assert "frame 1: 0 detections vs 1" in compare(
        a, detections(line(0, [PERSON]) + "\n" + line(1, [PERSON])), 0.5, 0.01)
    assert compare(a, a[:1], 0, 0) == ["2 frames vs 1"]


def test_native_profile_is_the_x86_64_gcc():
    text = native_profile("12", {"c": "/usr/bin/gcc", "cpp": "/usr/bin/g++"}, "17")
    assert "arch=x86_64" in text and "compiler.version=12" in text and "compiler.cppstd=17" in text
