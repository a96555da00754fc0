"""Release pieces that need no tools: versions, release time, SHA256SUMS, the SBOM's content,
the runtime graph and reproducibility of the documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edgeforge.build import AbiRecord, Artifact, CompilerRecord, Manifest, SysrootRecord
from edgeforge.config import load_app
from edgeforge.context import Context
from edgeforge.core import Reporter, Runner, UsageError, source_date_epoch
from edgeforge.deliver import (
    Component,
    ReleaseInput,
    SourceArchive,
    check_version,
    make_spec,
    render,
    runtime_graph,
    validate,
    write_sha256sums,
)
from edgeforge.deliver import sbom as releasesbom
from edgeforge.deliver.formats import ARTEFACTS, sbom_listing
from edgeforge.pipeline import differing_files
from tests.conftest import PROJECT


def runner(tmp_path: Path) -> Runner:
    return Runner(Reporter(quiet=True), tmp_path / "logs")


@pytest.mark.parametrize("good", ["1.0.0", "1.2.0~rc1", "1.0.0+git20261124.e79c14f0a1b2"])
def test_release_versions_that_every_format_accepts(good: str):
    assert check_version(good) == good


@pytest.mark.parametrize("bad", ["v1.0", "", "1.0 beta", "1.0/../../etc", "-1", "1.0\n"])
def test_bad_release_versions_are_refused_with_the_rule(bad: str):
    with pytest.raises(UsageError) as exc:
        check_version(bad)
    assert "starts with a digit" in exc.value.message and exc.value.exit_code == 2


def test_app_version_comes_from_the_apps_cmake_project():
    """The release's version is the app's, as its descriptor says where to read it (version:
    {from: cmake}: the VERSION of project() in its CMakeLists.txt)."""
    app = load_app(PROJECT, "edge-infer")
    assert app.spec.version.source == "cmake" and app.version == "1.0.0"


def test_release_time_is_source_date_epoch_or_the_last_commit(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert source_date_epoch(PROJECT, runner(tmp_path)) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH='yesterday'"):
        source_date_epoch(PROJECT, runner(tmp_path))
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert source_date_epoch(PROJECT, runner(tmp_path)) > 1700000000  # the last commit
    with pytest.raises(UsageError, match="no git history"):
        source_date_epoch(tmp_path, runner(tmp_path))


def test_sha256sums_list_every_file_sorted_and_not_themselves(tmp_path: Path):
    (tmp_path / "b.deb").write_bytes(b"deb")
    (tmp_path / "legal").mkdir()
    (tmp_path / "legal" / "README").write_text("x")
    (tmp_path / "SHA256SUMS.asc").write_text("old signature")
    sums = write_sha256sums(tmp_path).read_text().splitlines()
    assert [ln.split("  ")[1] for ln in sums] == ["b.deb", "legal/README"]
    assert sums[0] == hashlib.sha256(b"deb").hexdigest() + "  b.deb"


def test_differing_files_names_changed_missing_and_new_files(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "same").write_text("1")
    (a / "changed").write_text("1")
    (b / "changed").write_text("2")
    (a / "only-a").write_text("")
    assert differing_files(a, b) == ["changed", "only-a"]


def components() -> tuple[Component, list[Component]]:
    app = Component("app:edge-infer", "edge-infer", "1.0.0", "application",
                    licenses=("Apache-2.0",), needs=("libopencv_core.so.406", "libc.so.6"),
                    uses=("model:m",))
    cv = Component("conan:opencv", "opencv", "4.6.0", "library", purl="pkg:conan/opencv@4.6.0",
                   licenses=("Apache-2.0",), provides=("libopencv_core.so.406",),
                   needs=("libavcodec.so.59", "libstdc++.so.6"),
                   sources=(SourceArchive("opencv_4.6.0+dfsg.orig.tar.xz", "c" * 64,
                                          "opencv 4.6.0+dfsg-12"),))
    ff = Component("conan:ffmpeg", "ffmpeg", "5.1.9", "library", licenses=("LGPL-2.1-or-later",),
                   provides=("libavcodec.so.59",))
    std = Component("deb:libstdc++6", "libstdc++6", "10.2.1-6", "library",
                    purl="pkg:deb/debian/libstdc%2B%2B6@10.2.1-6?arch=arm64",
                    licenses=("GPL-3.0-or-later WITH GCC-exception-3.1",),
                    provides=("libstdc++.so.6",))
    model = Component("model:m", "m", "1", "machine-learning-model", licenses=("Apache-2.0",))
    return app, [cv, ff, std, model]


def test_runtime_graph_follows_dt_needed_and_explicit_uses():
    app, rest = components()
    graph = runtime_graph([app, *rest])
    assert graph["app:edge-infer"] == ("conan:opencv", "model:m")  # libc: nobody ships it
    assert graph["conan:opencv"] == ("conan:ffmpeg", "deb:libstdc++6")
    assert graph["conan:ffmpeg"] == ()


def test_sbom_validates_against_cyclonedx_and_is_byte_identical():
    app, rest = components()
    text = render(make_spec(app, rest, 1700000000, [("edgeforge:board", "jetson-nx")]))
    assert validate(text) == []
    assert render(make_spec(app, list(reversed(rest)), 1700000000,
                            [("edgeforge:board", "jetson-nx")])) == text
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6" and doc["metadata"]["timestamp"].startswith("2023-11-14")
    assert doc["metadata"]["component"]["name"] == "edge-infer"
    names = {c["name"]: c for c in doc["components"]}
    assert names["opencv"]["externalReferences"][0]["hashes"][0]["content"] == "c" * 64
    assert names["libstdc++6"]["purl"].startswith("pkg:deb/debian/libstdc%2B%2B6@10.2.1-6")
    assert names["m"]["type"] == "machine-learning-model"
    # another board's SBOM differs where the boards differ, and only there
    other = render(make_spec(app, rest, 1700000000, [("edgeforge:board", "rpi4")]))
    assert other != text and json.loads(other)["serialNumber"] != doc["serialNumber"]


def test_several_licences_with_an_expression_become_one_valid_expression():
    app, rest = components()
    k = Component("conan:k", "k", "1", "library", licenses=("BSD-3-Clause", "GPL-2.0-only OR MIT"))
    doc = json.loads(text := render(make_spec(app, [*rest, k], 1700000000)))
    assert validate(text) == []
    assert next(c for c in doc["components"] if c["name"] == "k")["licenses"] == \
        [{"expression": "BSD-3-Clause AND (GPL-2.0-only OR MIT)"}]


def release_input(tmp_path: Path) -> ReleaseInput:
    """The smallest real input of a jetson-nx release: an installed app (its program and model)
    and a manifest recording the program with its digest."""
    app = tmp_path / "board" / "edge-infer"
    (app / "bin").mkdir(parents=True)
    program = app / "bin" / "edge-infer"
    program.write_bytes(b"\x7fELF not really a program\n")
    (app / "share/edge-infer").mkdir(parents=True)
    (app / "share/edge-infer/pedestrian-grid.onnx").write_bytes(b"model")
    ctx = Context.create(project_root=PROJECT, build_root=tmp_path / "build",
                         cache_dir=tmp_path / "cache")
    manifest = Manifest(
        board="jetson-nx", arch="arm64", triple="aarch64-linux-gnu",
        compiler=CompilerRecord(name="clang14", family="clang", version="14"),
        sysroot=SysrootRecord(name="s", key="k", glibc="2.31", glibcxx="3.4.28"),
        abi=AbiRecord(glibc="2.31", glibcxx="3.4.28", cxxabi="1.3.12",
                      strategy="sysroot-libstdcxx", max_needed={}),
        artifacts=(Artifact(path="edge-infer/bin/edge-infer", role="app",
                            sha256=hashlib.sha256(program.read_bytes()).hexdigest(),
                            size=program.stat().st_size, kind="executable",
                            needed=("libc.so.6",)),))
    return ReleaseInput(target=ctx.catalog.resolve("jetson-nx", env={}), app=ctx.app(),
                        manifest=manifest,
                        app_dir=app, sysroot=tmp_path / "sysroot", project_root=PROJECT,
                        version="1.2.0", revision="abc1234", source_date_epoch=1700000000,
                        mirror_dir=tmp_path / "mirror")


def test_sbom_gives_shipped_files_their_sha256_in_the_standard_hashes(tmp_path: Path):
    """The release's .deb, debug tarball and program, as the SBOM describes them: the document
    loads with cyclonedx-python-lib, validates, and each file's SHA-256 is in `hashes` (of a
    nested `file` component) equal to the sha256 of the file on disk."""
    from cyclonedx.model import HashAlgorithm
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import ComponentType
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    inp = release_input(tmp_path)
    deb = tmp_path / "release" / "deb" / "edge-infer_1.2.0_arm64.deb"
    dbg = tmp_path / "release" / "dbg" / "edge-infer-1.2.0-jetson-nx-dbg.tar.xz"
    for f, data in ((deb, b"!<arch>\ndebian-binary"), (dbg, b"debug information")):
        f.parent.mkdir(parents=True)
        f.write_bytes(data)
    comps = [*releasesbom.data_components(inp),
             *releasesbom.artefact_components(inp, sbom_listing(ARTEFACTS), {"deb": deb.parent},
                                              [])]
    comps.append(releasesbom.dbg_component(inp, dbg.parent, comps))
    text = render(make_spec(releasesbom.app_component(inp), comps, inp.source_date_epoch))
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert str(tmp_path) not in text  # no machine paths
    bom = Bom.from_json(json.loads(text))
    files = {f.name: f for c in (bom.metadata.component, *bom.components)
             for f in c.components if f.type is ComponentType.FILE}
    for name, on_disk in ((deb.name, deb), (dbg.name, dbg),
                          ("edge-infer/bin/edge-infer", inp.app_dir / "bin/edge-infer")):
        assert [(h.alg, h.content) for h in files[name].hashes] == \
            [(HashAlgorithm.SHA_256, hashlib.sha256(on_disk.read_bytes()).hexdigest())], name
    # the installer is one file: the component carries its digest itself too
    installer = next(c for c in bom.components if c.name == "edge-infer-1.2.0-jetson-nx-deb")
    assert installer.type is ComponentType.FILE
    assert [h.content for h in installer.hashes] == [hashlib.sha256(deb.read_bytes()).hexdigest()]
    # and it needs the app it installs
    deps = {str(d.ref): {str(r.ref) for r in d.dependencies} for d in bom.dependencies}
    assert deps[str(installer.bom_ref)] == {"app:edge-infer"}


def test_the_sbom_describes_the_app_and_its_model_from_the_descriptor(tmp_path: Path):
    """The app's component and its model's come from apps/edge-infer/app.yaml (summary,
    licence, programs, data with its provenance), as the SBOM has always written them."""
    inp = release_input(tmp_path)
    app = releasesbom.app_component(inp)
    assert (app.ref, app.name, app.licenses) == ("app:edge-infer", "edge-infer", ("Apache-2.0",))
    assert app.description == "video analytics for edge boxes (FFmpeg decode, OpenCV dnn/HOG/Haar)"
    assert [f for f, _ in app.files] == ["edge-infer/bin/edge-infer"]
    assert app.uses == ("model:pedestrian-grid.onnx",)
    (model,) = releasesbom.data_components(inp)
    assert (model.ref, model.name, model.kind) == ("model:pedestrian-grid.onnx", "pedestrian-grid",
                                                   "machine-learning-model")
    assert model.description == (
        "single-shot pedestrian detector (ONNX), trained in this repository by "
        "apps/edge-infer/model/train_detector.py on OpenCV's vtest.avi, labelled by OpenCV's "
        "HOG people detector")
    assert model.files == (("edge-infer/share/edge-infer/pedestrian-grid.onnx",
                            hashlib.sha256(b"model").hexdigest()),)
    card = PROJECT / "apps/edge-infer/model/MODEL.md"
    assert model.properties == (
        ("edgeforge:model-card", "apps/edge-infer/model/MODEL.md"),
        ("edgeforge:model-card-sha256", hashlib.sha256(card.read_bytes()).hexdigest()))
