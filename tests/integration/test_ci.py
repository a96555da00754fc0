"""`invoke ci` as a user runs it: the real Conan build order, the files validated against the
providers' schemas by check-jsonschema (bundled schemas, offline), byte-identical reruns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_invoke

pytestmark = pytest.mark.integration

CHECK = Path(sys.executable).with_name("check-jsonschema")
SCHEMA = {"gitlab": "vendor.gitlab-ci", "github": "vendor.github-workflows"}


def validate(provider: str, path: Path) -> subprocess.CompletedProcess:
    if not CHECK.is_file():
        pytest.fail(f"missing {CHECK}: install the test extras (pip install -e '.[test]')")
    return subprocess.run([str(CHECK), "--builtin-schema", SCHEMA[provider], str(path)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ci")
    paths = {"gitlab": out / "gitlab" / ".gitlab-ci.yml",
             "github": out / "github" / ".github" / "workflows" / "edgeforge.yml"}
    for provider, path in paths.items():
        r = run_invoke("ci", "--provider", provider, "--out", str(path), "--push", "team/edge-infer",
                       timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"wrote {path}" in r.stdout
    return paths


@pytest.mark.parametrize("provider", ["gitlab", "github"])
def test_generated_pipelines_validate_against_the_providers_schemas(generated, provider):
    r = validate(provider, generated[provider])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok -- validation done" in r.stdout


def test_the_levels_are_conans_build_order(generated):
    gl = yaml.safe_load(generated["gitlab"].read_text())
    assert gl["stages"] == ["deps-1", "deps-2", "deps-3", "app", "release"]
    # FFmpeg requires zlib only with its (default off) option: Conan puts it on the first level
    assert "--only ffmpeg,googletest,libjpeg-turbo,protobuf,zlib" in gl["jetson-nx-deps-1"]["script"][0]
    assert gl["jetson-nx-deps-2"]["script"][0] == "./edgeforge deps --board jetson-nx --only libpng"
    assert gl["jetson-nx-deps-3"]["script"][0] == "./edgeforge deps --board jetson-nx --only opencv"
    gh = yaml.safe_load(generated["github"].read_text())
    # the project's two apps: the Conan app waits for the graph, the Meson app for nothing
    assert gh["jobs"]["rpi3-armhf-app-edge-infer"]["needs"] == ["rpi3-armhf-deps-3"]
    assert "needs" not in gh["jobs"]["rpi3-armhf-app-edge-uplink"] or \
        gh["jobs"]["rpi3-armhf-app-edge-uplink"]["needs"] == []
    assert gh["jobs"]["rpi3-armhf-release-edge-infer"]["needs"] == ["rpi3-armhf-app-edge-infer"]


@pytest.mark.parametrize("provider", ["gitlab", "github"])
def test_a_broken_pipeline_fails_validation(generated, provider, tmp_path: Path):
    doc = yaml.safe_load(generated[provider].read_text())
    job = "jetson-nx-app-edge-infer"
    if provider == "gitlab":
        doc[job]["stagee"] = doc[job].pop("stage")  # a typo
    else:
        del doc["jobs"][job]["runs-on"]
    broken = tmp_path / generated[provider].name
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = validate(provider, broken)
    assert r.returncode == 1, r.stdout + r.stderr
    assert job in r.stdout


def test_a_rerun_writes_the_same_bytes(generated, tmp_path: Path):
    again = tmp_path / "again.yml"
    r = run_invoke("ci", "--provider", "gitlab", "--out", str(again), "--push", "team/edge-infer",
                   timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert again.read_bytes() == generated["gitlab"].read_bytes()
