"""Damaged input is never "a bug in edgeforge" (exit 70).

1. A base image whose index, manifest or config has keys of the wrong type (a list for an
   object, a number for a digest, null for the config...) is an image-format error (exit 6)
   naming the document and the key, from an OCI layout and from a docker archive.
2. edgeforge's own records, truncated, nested thousands deep or of the wrong type: a cache (a
   step's stamp, the compiler probe cache, the libstdc++ shim's stamp, deps.json as a hint for
   gdb) is computed again after one warning naming the file; a record a later step needs
   (image.json, the debug index, a sysroot's stamp, a state file) is exit 8 naming the file
   and what to delete or run again.
3. `invoke deploy --package` naming a device, a folder or a named pipe says what it is (exit 2).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from edgeforge.config import Arch
from edgeforge.context import BoardLayout
from edgeforge.core import HostSetupError, Plan, Reporter, StateFileError, Step, SysrootError, statefile
from edgeforge.debug import session as debugsession
from edgeforge.deliver import (
    CONTAINER_RECORD,
    ContainerImageFile,
    ContainerResult,
    read_container_result,
)
from edgeforge.deliver.oci import base as ocibase
from edgeforge.deliver.oci import layout as oci
from edgeforge.deliver.oci import read as ociread
from edgeforge.elf import debuginfo
from edgeforge.toolchain import compilers, stdcxx_compat, sysroot, sysrootpack
from tests.conftest import run_invoke

EPOCH = 1_700_000_000
ARM64 = oci.platform_for(Arch.ARM64)
DEEP = b"[" * 50_000 + b"]" * 50_000  # far past Python's recursion limit
REF = oci.REF_NAME


# ---- 1. a base image with keys of the wrong type ----------------------------------------------
Doc = dict[str, Any]


def _base_layout(tmp_path: Path, *, index: Callable[[Doc], None] = lambda d: None,
                 manifest: Callable[[Doc], None] = lambda d: None,
                 config: Callable[[Doc], None] = lambda d: None) -> Path:
    """A valid one-layer OCI layout; each document is changed by its function before it is
    hashed and written, so every digest and size still matches."""
    layout = oci.Layout(tmp_path / "base.oci")
    work = tmp_path / "work"
    work.mkdir()
    blob = oci.write_layer(oci.layer_entries([oci.Entry("/bin/sh", "file", 0o755, data=b"#!")]),
                           layout, work, EPOCH, "l")
    cfg = oci.image_config(ARM64, EPOCH, {"Env": ["PATH=/bin"], "Labels": {"a": "b"}},
                           [blob.diff_id], [{"created": "x", "created_by": "y"}])
    config(cfg)
    cdesc = layout.put_json(cfg, oci.MEDIA_CONFIG)
    man = oci.image_manifest(cdesc, [blob.descriptor])
    manifest(man)
    mdesc = layout.put_json(man, oci.MEDIA_MANIFEST)
    root = layout.finish([oci.Descriptor(oci.MEDIA_MANIFEST, mdesc.digest, mdesc.size,
                                         annotations={REF: "base"}, platform=ARM64)])
    idx = json.loads((root / "index.json").read_text())
    index(idx)
    (root / "index.json").write_text(json.dumps(idx))
    return root


def _read_base(layout: Path) -> ociread.SourceImage:
    """As ocibase.open_base reads a base: for the board's platform, its config checked."""
    return ociread.read_oci_layout(
        layout, None, ARM64, check_config=lambda c: ocibase.check_base_platform(c, ARM64, "b"))


def _set(*path_and_value: Any) -> Callable[[Doc], None]:
    """A change: doc[k1][k2]... = value."""
    *keys, value = path_and_value

    def change(doc: Doc) -> None:
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value
    return change


# (document, change, the key named, what is said about it)
MALFORMED = {
    "manifests-object": ("index", _set("manifests", {}), "manifests", "is an object, expected a list"),
    "descriptor-text": ("index", _set("manifests", 0, "x"), "manifests[0]", "is a text"),
    "annotations-list": ("index", _set("manifests", 0, "annotations", ["x"]),
                         "manifests[0].annotations", "is a list, expected an object"),
    "ref-name-number": ("index", _set("manifests", 0, "annotations", {REF: 5}),
                        f"manifests[0].annotations.{REF}", "is the number 5, expected a text"),
    "digest-number": ("index", _set("manifests", 0, "digest", 5), "manifests[0].digest",
                      "is the number 5, expected a text"),
    "size-text": ("index", _set("manifests", 0, "size", "527"), "manifests[0].size",
                  "is a text, expected a whole number"),
    "size-true": ("index", _set("manifests", 0, "size", True), "manifests[0].size", "is true"),
    "platform-text": ("index", _set("manifests", 0, "platform", "linux/arm64"),
                      "manifests[0].platform", "is a text, expected an object"),
    "platform-arch-number": ("index", _set("manifests", 0, "platform", "architecture", 64),
                             "manifests[0].platform.architecture", "is the number 64"),
    "media-type-number": ("index", _set("manifests", 0, "mediaType", 2),
                          "manifests[0].mediaType", "is the number 2"),
    "config-null": ("manifest", _set("config", None), "config", "is missing"),
    "config-text": ("manifest", _set("config", "x"), "config", "is a text, expected an object"),
    "layers-text": ("manifest", _set("layers", "x"), "layers", "is a text, expected a list"),
    "config-size-text": ("manifest", _set("config", "size", "12"), "config.size", "is a text"),
    "layer-digest-number": ("manifest", _set("layers", 0, "digest", 7), "layers[0].digest",
                            "is the number 7"),
    "layer-not-object": ("manifest", _set("layers", ["x"]), "layers[0]", "is a text"),
    "rootfs-list": ("config", _set("rootfs", []), "rootfs", "is a list, expected an object"),
    "diff-ids-text": ("config", _set("rootfs", "diff_ids", "x"), "rootfs.diff_ids", "is a text"),
    "history-object": ("config", _set("history", {}), "history", "is an object, expected a list"),
    "history-item-text": ("config", _set("history", ["x"]), "history[0]", "is a text"),
    "run-config-list": ("config", _set("config", ["x"]), "config", "is a list, expected an object"),
    "env-text": ("config", _set("config", "Env", "PATH=/bin"), "config.Env", "is a text"),
    "labels-list": ("config", _set("config", "Labels", ["a"]), "config.Labels", "is a list"),
    "architecture-number": ("config", _set("architecture", 64), "architecture", "is the number 64"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_base_image_with_a_key_of_the_wrong_type_is_an_image_format_error(tmp_path: Path,
                                                                            case: str):
    document, change, key, says = MALFORMED[case]
    layout = _base_layout(tmp_path, **{document: change})
    with pytest.raises(oci.ImageFormatError) as info:
        _read_base(layout)
    err = info.value
    assert type(err) is oci.ImageFormatError and err.exit_code == 6
    named = {"index": f"the OCI layout {layout}: index.json: ",
             "manifest": f"the OCI layout {layout}: the manifest (blobs/sha256/",
             "config": f"the OCI layout {layout}: the config (blobs/sha256/"}[document]
    assert err.message.startswith(named), err.message
    assert f"'{key}' {says}" in err.message, err.message
    assert "save it again" in err.message and "\n" not in err.message


def test_the_valid_base_of_these_cases_reads(tmp_path: Path):
    image = _read_base(_base_layout(tmp_path))
    assert image.name == "base" and image.platform == ARM64 and len(image.layers) == 1


def _archive(tmp_path: Path, manifest: Callable[[Any], Any] | Any = lambda d: None,
             config: Callable[[Doc], None] = lambda d: None) -> Path:
    """A valid `docker save` archive of one layer, its manifest.json (changed by a function, or
    replaced by a value) and config changed."""
    layout = oci.Layout(tmp_path / "l")
    work = tmp_path / "work"
    work.mkdir()
    blob = oci.write_layer(oci.layer_entries([oci.Entry("/bin/sh", "file", 0o755, data=b"#!")]),
                           layout, work, EPOCH, "l")
    cfg = oci.image_config(ARM64, EPOCH, {}, [blob.diff_id], [{"created": "x"}])
    config(cfg)
    saved = oci.write_docker_archive(tmp_path / "saved.tar", oci.canonical_json(cfg),
                                     [(blob.diff_id, blob.tar)], ["base:1"], EPOCH)
    out = tmp_path / "base.tar"
    with tarfile.open(saved) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isreg() else None
            if m.name == "manifest.json":
                doc = json.loads(data)
                if callable(manifest):
                    manifest(doc)
                else:
                    doc = manifest
                data = json.dumps(doc).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return out


ARCHIVE_MALFORMED = {
    "top-object": ({"x": 1}, "manifest.json is an object, expected a list"),
    "entry-text": (lambda d: d.append("x"), "manifest.json: '[1]' is a text, expected an object"),
    "config-number": (_set(0, "Config", 5), "manifest.json: '[0].Config' is the number 5"),
    "repo-tags-text": (_set(0, "RepoTags", "base:1"), "manifest.json: '[0].RepoTags' is a text"),
    "repo-tag-number": (_set(0, "RepoTags", [1]), "manifest.json: '[0].RepoTags[0]' is the number"),
    "layers-object": (_set(0, "Layers", {}), "manifest.json: '[0].Layers' is an object"),
    "layers-missing": (lambda d: d[0].pop("Layers"), "manifest.json: '[0].Layers' is missing"),
}


@pytest.mark.parametrize("case", sorted(ARCHIVE_MALFORMED))
def test_a_docker_archive_with_a_key_of_the_wrong_type_is_an_image_format_error(
        tmp_path: Path, case: str):
    change, says = ARCHIVE_MALFORMED[case]
    archive = _archive(tmp_path, manifest=change)
    with pytest.raises(oci.ImageFormatError) as info:
        ociread.read_docker_archive(archive, None, tmp_path / "w")
    assert type(info.value) is oci.ImageFormatError and info.value.exit_code == 6
    assert info.value.message.startswith(f"the docker archive {archive}: {says}"), \
        info.value.message


def test_a_docker_archives_config_is_checked_like_a_layouts(tmp_path: Path):
    archive = _archive(tmp_path, config=_set("history", "x"))
    with pytest.raises(oci.ImageFormatError) as info:
        ociread.read_docker_archive(archive, None, tmp_path / "w")
    assert f"the docker archive {archive}: the config " in info.value.message
    assert "'history' is a text, expected a list" in info.value.message
    (tmp_path / "ok").mkdir()
    assert ociread.read_docker_archive(_archive(tmp_path / "ok"), None, tmp_path / "w2").name \
        == "base:1"


# ---- 2. edgeforge's own records, damaged -------------------------------------------------------
DAMAGE = ["truncated", "deep", "wrong-typed"]


def _damage(path: Path, how: str, good: Any, wrong: Any) -> None:
    """Write `good` cut in half, nested past any limit, or `wrong` (of the wrong types)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(good, indent=2).encode()
    path.write_bytes({"truncated": text[:len(text) // 2], "deep": DEEP,
                      "wrong-typed": json.dumps(wrong).encode()}[how])


def _warnings() -> tuple[Reporter, io.StringIO]:
    err = io.StringIO()
    return Reporter(quiet=True, stream=io.StringIO(), err_stream=err), err


def _one_warning(err: io.StringIO, *says: str) -> str:
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: "), lines
    for s in says:
        assert s in lines[0], lines[0]
    return lines[0]


# -- caches: computed again after one warning
@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_step_stamp_makes_the_step_run_again(tmp_path: Path, how: str):
    out = tmp_path / "out.txt"
    runs: list[int] = []

    def plan() -> Plan:
        return Plan("demo", [Step("a", "write a", lambda ex: runs.append(1) or out.write_text("a"),
                                  inputs={"v": 1}, outputs=(out,))], tmp_path / "stamps")

    plan().execute(Reporter(quiet=True))
    stamp = tmp_path / "stamps" / "a.json"
    good = json.loads(stamp.read_text())
    _damage(stamp, how, good, {**good, "files": [good["files"]]})
    (state,) = plan().states()
    assert not state.up_to_date
    assert state.reason.startswith(f"its stamp {stamp} is not one edgeforge wrote")
    assert state.reason.endswith(": it runs again")
    plan().execute(Reporter(quiet=True))
    again = json.loads(stamp.read_text())
    assert runs == [1, 1] and (again["step"], again["signature"]) == ("a", good["signature"])


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_deps_record_gives_gdb_no_source_folders_and_says_so(tmp_path: Path, how: str):
    record = tmp_path / "deps.json"
    _damage(record, how, {"package_dirs": {"zlib": "/c/p/b/zlib0123/p"}},
            {"package_dirs": ["zlib"]})
    rep, err = _warnings()
    assert debugsession.package_folders(tmp_path, rep) == {}
    _one_warning(err, f"the record {record}")
    assert debugsession.package_folders(tmp_path / "none", rep) == {}  # none: no warning
    _one_warning(err)


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_compiler_probe_cache_asks_the_compiler_again(tmp_path: Path, how: str):
    cache = tmp_path / "probes" / "0123.json"
    _damage(cache, how, {"machine": "aarch64-linux-gnu", "version": "12"},
            {"machine": ["aarch64-linux-gnu"], "version": 12})
    rep, err = _warnings()
    assert compilers._cached_probe(SimpleNamespace(reporter=rep), cache) is None
    _one_warning(err, f"the compiler probe cache {cache}", "asking the compiler again")
    cache.write_text(json.dumps({"machine": "aarch64-linux-gnu", "version": "12"}))
    assert compilers._cached_probe(SimpleNamespace(reporter=rep), cache) == {
        "machine": "aarch64-linux-gnu", "version": "12"}


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_shim_stamp_builds_the_shim_again(tmp_path: Path, how: str):
    stamp = tmp_path / "shim" / stdcxx_compat.STAMP
    _damage(stamp, how, {"key": "0" * 64, "members": ["GLIBCXX_3.4.30 x"]}, {"key": ["0" * 64]})
    rep, err = _warnings()
    assert stdcxx_compat._stamp_key(stamp, rep) is None
    _one_warning(err, f"the libstdc++ shim stamp {stamp}", "building the shim again")
    stamp.write_text(json.dumps({"key": "0" * 64}))
    assert stdcxx_compat._stamp_key(stamp, rep) == "0" * 64


# -- records a later step needs: exit 8, naming the file and the fix
def _image_record(folder: Path) -> dict:
    r = ContainerResult(
        board="jetson-nx", repository="edge-infer", version="1.0", tag="edge-infer:1.0-jetson-nx",
        platform="linux/arm64", oci_layout=folder / "x.oci", docker_archive=folder / "x.tar",
        manifest_digest="sha256:" + "1" * 64, manifest_size=500, config_digest="sha256:" + "2" * 64,
        compressed_size=10, uncompressed_size=20,
        files=(ContainerImageFile("/lib/libc.so.6", "file", "sysroot", "/lib/libc.so.6", "libc6",
                                   "2.31", "3" * 64, 5),))
    return r.to_json(folder)


@pytest.mark.parametrize("how", [*DAMAGE, "files-object", "outside"])
def test_a_damaged_image_record_is_an_unusable_build_folder(tmp_path: Path, how: str):
    good = _image_record(tmp_path)
    record = tmp_path / CONTAINER_RECORD
    wrong = {**good, "manifest_size": "500", "files": [{**good["files"][0], "size": "5"}]}
    if how == "files-object":
        how, wrong = "wrong-typed", {**good, "files": {"a": 1}}
    elif how == "outside":
        how, wrong = "wrong-typed", {**good, "oci_layout": "/etc"}
    _damage(record, how, good, wrong)
    with pytest.raises(HostSetupError) as info:
        read_container_result(tmp_path)
    assert info.value.exit_code == 8
    msg = info.value.message
    assert msg.startswith(f"the image record {record}") and "\n" not in msg
    assert msg.endswith(f"fix: delete {tmp_path} and run `invoke release` for its board again")
    record.write_text(json.dumps(good))
    assert read_container_result(tmp_path).oci_layout == tmp_path / "x.oci"


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_debug_index_is_an_unusable_build_folder(tmp_path: Path, how: str):
    symbols = BoardLayout(tmp_path / "jetson-nx").symbols
    good = [{"path": "bin/edge-infer", "build_id": "ab12", "debug_file": ".build-id/ab/12.debug"}]
    _damage(symbols / debuginfo.INDEX, how, good, [{**good[0], "build_id": 0xab12}])
    with pytest.raises(HostSetupError) as info:
        debuginfo.read_index(symbols)
    assert info.value.exit_code == 8
    assert info.value.message.startswith(f"the debug index {symbols / debuginfo.INDEX}")
    assert info.value.message.endswith(f"fix: delete {symbols} and build again (`invoke build "
                                       "--board jetson-nx` rebuilds the app and its debug files)")
    assert debuginfo.read_index(tmp_path / "none") == []  # never built: nothing, no error


SYSROOT_STAMP = {"name": "debian-bookworm-arm64", "key": "0123456789abcdef", "arch": "arm64",
                 "glibc": "2.36", "glibcxx": "3.4.30", "gcc_version": "12", "descriptor": {}}


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_sysroot_stamp_in_the_cache_is_an_unusable_cache(tmp_path: Path, how: str):
    tree = tmp_path / "debian-bookworm-arm64-0123456789abcdef"
    _damage(tree / sysroot.STAMP, how, SYSROOT_STAMP, {**SYSROOT_STAMP, "glibc": 236})
    with pytest.raises(HostSetupError) as info:
        sysroot.load_info(tree)
    assert info.value.exit_code == 8
    assert info.value.message.startswith(f"the sysroot stamp {tree / sysroot.STAMP}")
    assert f"fix: delete {tree} and run `invoke sysroot --board BOARD` again" in \
        info.value.message
    # the same stamp in an archive fetched from the team's server: a sysroot problem (exit 7)
    with pytest.raises(SysrootError) as fetched:
        stamp = sysroot._read_stamp(tree)
        sysrootpack.check_stamp(stamp, SYSROOT_STAMP["name"], SYSROOT_STAMP["key"], "arm64",
                                "http://127.0.0.1:8080/s.tar.gz")
        sysroot.load_info(tree, SysrootError, fix="fix: publish it again")
    assert fetched.value.exit_code == 7


def test_a_sysroot_without_a_stamp_is_unfinished_and_a_good_one_reads(tmp_path: Path):
    assert sysroot.load_info(tmp_path) is None
    (tmp_path / sysroot.STAMP).write_text(json.dumps(SYSROOT_STAMP))
    info = sysroot.load_info(tmp_path)
    assert (info.name, info.arch, info.glibc, info.gcc_version) == (
        "debian-bookworm-arm64", Arch.ARM64, "2.36", "12")


class _Record(BaseModel):
    model_config = ConfigDict(strict=True)
    pid: int


@pytest.mark.parametrize("how", [*DAMAGE, "huge"])
def test_a_damaged_state_file_is_refused_with_its_name(tmp_path: Path, how: str):
    path = tmp_path / "state.json"
    if how == "huge":  # well-formed, but larger than any state file edgeforge writes
        path.write_text(json.dumps({"pid": 1, "pad": "x" * (5 << 20)}))
    else:
        _damage(path, how, {"pid": 1}, {"pid": "1"})
    with pytest.raises(StateFileError) as info:
        statefile.load(path, _Record, "Delete it.")
    assert info.value.exit_code == 8
    assert info.value.message.startswith(f"{path} is not a state file edgeforge wrote (")
    assert info.value.message.endswith("nothing was done on its word. Delete it.")
    if how == "huge":
        assert "(larger than 4 MiB)" in info.value.message


# ---- 3. deploy --package that is not a file ------------------------------------------------------
@pytest.mark.parametrize("kind", ["device", "folder", "fifo", "missing"])
def test_deploy_package_that_is_not_a_file_says_what_it_is(tmp_path: Path, kind: str):
    package = {"device": Path("/dev/zero"), "folder": tmp_path,
               "fifo": tmp_path / "p.deb", "missing": tmp_path / "none.deb"}[kind]
    if kind == "fifo":
        os.mkfifo(package)
    r: subprocess.CompletedProcess = run_invoke(
        "deploy", "--board", "jetson-nx", "--target", "ssh://edge@127.0.0.1:2222", "--package",
        str(package), timeout=300, env={
            "EDGEFORGE_BUILD_DIR": str(tmp_path / "build"),
            "EDGEFORGE_DIST_DIR": str(tmp_path / "dist"), "EDGEFORGE_CACHE": str(tmp_path / "c")})
    out = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in out, out
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    says = {"device": "a character device, not a regular file", "folder": "a folder, not a "
            "regular file", "fifo": "a named pipe, not a regular file", "missing": "no such file"}
    assert errors == [f"error: --package {package}: {says[kind]}; give the board's .deb "
                      "(`./edgeforge release --board jetson-nx` writes it)"], out
