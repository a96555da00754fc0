"""The container image's pure parts: image.yaml, the closure's link chains, layer entries,
deterministic tar/gzip/JSON, the docker archive, reading hostile base images, the ELF and
secret scans, users, labels and the multi-board index. No engine, no sysroot: milliseconds."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import struct
import tarfile
from pathlib import Path

import pytest

from edgeforge.config import Arch
from edgeforge.config import containerimage as imagedefs
from edgeforge.core import DescriptorError, SourceError, UsageError
from edgeforge.deliver import (
    CONTAINER_RECORD,
    ContainerImageFile,
    ContainerResult,
    read_container_result,
    write_container_index,
)
from edgeforge.deliver import scan as imagescan
from edgeforge.deliver.oci import base as ocibase
from edgeforge.deliver.oci import image as container
from edgeforge.deliver.oci import layout as oci
from edgeforge.deliver.oci import read as ociread
from edgeforge.elf import closure

PROJECT = Path(__file__).resolve().parents[2]
EPOCH = 1_700_000_000
ARM64 = oci.platform_for(Arch.ARM64)


# ---- image.yaml ---------------------------------------------------------------------------------
GOOD = """\
repository: edge-infer
title: edge-infer
description: People detection on video files
vendor: edgeforge
source: https://example.org/edge-infer
license: Apache-2.0
prefix: /opt/edge-infer
entrypoint: [/opt/edge-infer/bin/edge-infer]
user: {name: edge-infer, uid: 10001, gid: 10001}
"""


def test_the_shipped_image_definition_loads():
    d = imagedefs.load(PROJECT / "images" / "edge-infer")
    assert d.entrypoint == ("/opt/edge-infer/bin/edge-infer",)
    assert d.user.uid >= 1000 and d.base is None
    assert d.prefix == imagedefs.load(PROJECT / "images" / "edge-infer").prefix


def test_the_committed_schema_is_up_to_date():
    committed = json.loads((PROJECT / "images" / imagedefs.SCHEMA_FILE).read_text())
    assert committed == imagedefs.container_image_schema(), "regenerate with imagedefs.write_schema"


def test_unknown_key_names_the_file_and_a_fix():
    with pytest.raises(DescriptorError) as exc:
        imagedefs.parse(GOOD.replace("entrypoint:", "entrypont:"), "images/x/image.yaml")
    assert exc.value.exit_code == 2
    assert "unknown key 'entrypont' in images/x/image.yaml; did you mean 'entrypoint'?" \
        in str(exc.value)


def test_unknown_key_in_the_user_block_is_named_too():
    with pytest.raises(DescriptorError, match="unknown key 'user.uidd'.*did you mean 'uid'"):
        imagedefs.parse(GOOD.replace("uid: 10001", "uidd: 10001"), "images/x/image.yaml")


@pytest.mark.parametrize("change, message", [
    (("uid: 10001", "uid: 0"), "greater than or equal to 1000"),
    (("user:", "env: {API_TOKEN: abc}\nuser:"), "looks like a secret"),
    (("user:", "env: {PATH: /bin}\nuser:"), "PATH is set by edgeforge"),
    (("user:", "labels: {org.opencontainers.image.version: '9'}\nuser:"), "computed by the release"),
    (("user:", "extra_libraries: [nss]\nuser:"), "not a library file name"),
    (("[/opt/edge-infer/bin/edge-infer]", "[bin/edge-infer]"), "absolute, normal path"),
    (("user:", "base: {path: /x, format: tar}\nuser:"), "expected 'oci' or 'docker-archive'"),
])
def test_bad_values_are_refused_with_the_reason(change, message):
    with pytest.raises(DescriptorError, match=re.escape(message)):
        imagedefs.parse(GOOD.replace(*change), "images/x/image.yaml")


def test_missing_image_yaml_says_what_it_is_for(tmp_path: Path):
    with pytest.raises(DescriptorError, match="missing images/edge-infer/image.yaml"):
        imagedefs.load(tmp_path / "images" / "edge-infer")


@pytest.mark.parametrize("version, tag", [
    ("1.0.0", "1.0.0"), ("1.0.0+git20261124.e79c14f", "1.0.0_git20261124.e79c14f"),
    ("1.2.0~rc1", "1.2.0-rc1")])
def test_release_versions_become_valid_docker_tags(version, tag):
    assert imagedefs.tag_version(version) == tag
    assert re.fullmatch(r"[\w][\w.-]{0,127}", imagedefs.tag_version(version) + "-jetson-nx")


# ---- closure: link chains inside a tree ---------------------------------------------------------
def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr/lib/aarch64-linux-gnu").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")  # merged /usr
    lib = root / "usr/lib/aarch64-linux-gnu"
    (lib / "libfoo.so.6.0.30").write_bytes(b"\x7fELF")
    (lib / "libfoo.so.6").symlink_to("libfoo.so.6.0.30")
    (lib / "abs.so.1").symlink_to("/usr/lib/aarch64-linux-gnu/libfoo.so.6")
    (lib / "up.so.1").symlink_to("../../../../../../usr/lib/aarch64-linux-gnu/libfoo.so.6")
    (lib / "loop.so.1").symlink_to("loop.so.1")
    return root


def test_resolve_keeps_every_link_folders_included(tmp_path: Path):
    root = _tree(tmp_path)
    chain = closure.resolve(root, "/lib/aarch64-linux-gnu/libfoo.so.6")
    assert [(e.path, e.kind, e.target) for e in chain] == [
        ("/lib", "symlink", "usr/lib"),
        ("/usr/lib/aarch64-linux-gnu/libfoo.so.6", "symlink", "libfoo.so.6.0.30"),
        ("/usr/lib/aarch64-linux-gnu/libfoo.so.6.0.30", "file", None)]
    assert chain[-1].source == root / "usr/lib/aarch64-linux-gnu/libfoo.so.6.0.30"


def test_resolve_stays_inside_the_tree(tmp_path: Path):
    root = _tree(tmp_path)
    for name in ("abs.so.1", "up.so.1"):  # absolute targets and '..' mean the tree's root
        chain = closure.resolve(root, f"/usr/lib/aarch64-linux-gnu/{name}")
        assert chain[-1].source == root / "usr/lib/aarch64-linux-gnu/libfoo.so.6.0.30"
    with pytest.raises(closure.ClosureError, match="a loop"):
        closure.resolve(root, "/usr/lib/aarch64-linux-gnu/loop.so.1")
    with pytest.raises(closure.ClosureError, match="does not exist"):
        closure.resolve(root, "/lib/aarch64-linux-gnu/libmissing.so.1")


def test_dpkg_owners_meet_across_a_merged_usr(tmp_path: Path):
    root = _tree(tmp_path)
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / "libfoo6:arm64.list").write_text("/.\n/lib/aarch64-linux-gnu/libfoo.so.6\n"
                                             "/lib/aarch64-linux-gnu/libfoo.so.6.0.30\n")
    (root / "var/lib/dpkg/status").write_text(
        "Package: libfoo6\nStatus: install ok installed\nVersion: 6.0-1\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n")
    owners = closure.dpkg_owners(root)
    got = closure.owner_of(owners, root, "/usr/lib/aarch64-linux-gnu/libfoo.so.6.0.30")
    assert got == closure.PackageFile("libfoo6", "6.0-1")
    assert closure.owner_of(owners, root, "/usr/lib/aarch64-linux-gnu/abs.so.1") is None


# ---- layers: entries, tar, gzip, JSON -----------------------------------------------------------
def test_layer_entries_add_parents_and_sort_them_first():
    entries = oci.layer_entries([oci.Entry("/opt/app/bin/x", "file", data=b"x"),
                                 oci.Entry("/etc/passwd", "file", data=b"p"),
                                 oci.Entry("/opt/app-data", "dir")])
    assert [e.path for e in entries] == ["/etc", "/etc/passwd", "/opt", "/opt/app",
                                         "/opt/app/bin", "/opt/app/bin/x", "/opt/app-data"]


@pytest.mark.parametrize("entries, message", [
    ([oci.Entry("/a", "file", data=b"1"), oci.Entry("/a", "file", data=b"2")], "twice"),
    ([oci.Entry("/a", "symlink", target="b"), oci.Entry("/a/x", "file", data=b"")], "inside it"),
    ([oci.Entry("/a/../etc", "file", data=b"")], "not a normal absolute path"),
])
def test_layer_entries_refuse_contradictions(entries, message):
    with pytest.raises(ValueError, match=message):
        oci.layer_entries(entries)


def test_tar_bytes_do_not_depend_on_file_times_or_owners(tmp_path: Path):
    f = tmp_path / "prog"
    f.write_bytes(b"\x7fELF program")
    f.chmod(0o750)
    entries = oci.layer_entries([oci.file_entry("/opt/a/bin/prog", f),
                                 oci.Entry("/opt/a/lib/libx.so.1", "symlink", target="libx.so.1.2"),
                                 oci.Entry("/etc/passwd", "file", 0o644, data=b"root\n")])
    first = io.BytesIO()
    oci.write_tar(entries, first, EPOCH)
    os.utime(f, (1, 1))
    second = io.BytesIO()
    oci.write_tar(entries, second, EPOCH)
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tf:
        members = {m.name: m for m in tf}
    assert all(m.mtime == EPOCH and m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["opt/a/bin/prog"].mode == 0o755  # executable kept, group write dropped
    assert members["etc/passwd"].mode == 0o644 and members["opt"].isdir()
    assert members["opt/a/lib/libx.so.1"].linkname == "libx.so.1.2"


def test_gzip_is_reproducible_and_names_no_file_or_time(tmp_path: Path):
    src = tmp_path / "layer.tar"
    src.write_bytes(b"a" * 10000)
    a, b = tmp_path / "a.gz", tmp_path / "b.gz"
    oci.gzip_file(src, a)
    os.utime(src, (5, 5))
    oci.gzip_file(src, b)
    assert a.read_bytes() == b.read_bytes()
    header = a.read_bytes()[:10]
    assert struct.unpack("<I", header[4:8])[0] == 0 and not header[3] & 0x08  # mtime 0, no name
    assert gzip.decompress(a.read_bytes()) == src.read_bytes()


def test_config_and_manifest_are_canonical_json():
    config = oci.image_config(oci.platform_for(Arch.ARMHF), EPOCH,
                              {"User": "10001:10001", "Cmd": [], "Labels": {"b": "2", "a": "1"}},
                              ["sha256:" + "1" * 64], [{"created": oci.rfc3339(EPOCH)}])
    data = oci.canonical_json(config)
    assert data == oci.canonical_json(json.loads(data))  # sorted, compact
    assert config["architecture"] == "arm" and config["variant"] == "v7" and config["os"] == "linux"
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert "Cmd" not in config["config"]  # empty values are left out
    desc = oci.Descriptor(oci.MEDIA_CONFIG, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    manifest = oci.image_manifest(desc, [], {"org.opencontainers.image.version": "1"})
    assert manifest["config"]["digest"] == desc.digest and manifest["schemaVersion"] == 2


def test_platforms_of_the_boards():
    assert str(oci.platform_for(Arch.ARM64)) == "linux/arm64"
    assert oci.platform_for(Arch.ARMHF).to_json() == {"architecture": "arm", "os": "linux",
                                                      "variant": "v7"}


# ---- a small image written, then read back as a base ----------------------------------------
def _image(tmp_path: Path, platform: oci.Platform = ARM64, files: dict[str, bytes] | None = None,
           name: str = "img") -> tuple[Path, Path]:
    """An OCI layout and a docker archive of a one-layer image holding `files`."""
    work = tmp_path / f"{name}-work"
    work.mkdir()
    layout = oci.Layout(tmp_path / f"{name}.oci")
    files = files or {"/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n", "/bin/sh": b"#!"}
    blob = oci.write_layer(oci.layer_entries(oci.Entry(p, "file", 0o755, data=d)
                                             for p, d in files.items()), layout, work, EPOCH, "l")
    config = oci.canonical_json(oci.image_config(platform, EPOCH, {"Env": ["PATH=/bin"]},
                                                 [blob.diff_id], [{"created": "x"}]))
    cdesc = layout.put_bytes(config, oci.MEDIA_CONFIG)
    mdesc = layout.put_json(oci.image_manifest(cdesc, [blob.descriptor]), oci.MEDIA_MANIFEST)
    layout.finish([oci.Descriptor(oci.MEDIA_MANIFEST, mdesc.digest, mdesc.size,
                                  annotations={oci.REF_NAME: "base"}, platform=platform)])
    archive = oci.write_docker_archive(tmp_path / f"{name}.tar", config, [(blob.diff_id, blob.tar)],
                                       ["base:1"], EPOCH)
    return layout.root, archive


def test_docker_archive_has_the_save_format_and_is_reproducible(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, a = _image(tmp_path / "a")
    _, b = _image(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        names = tf.getnames()
        config = tf.extractfile(manifest[0]["Config"]).read()
        layer = tf.extractfile(manifest[0]["Layers"][0]).read()
    assert manifest[0]["RepoTags"] == ["base:1"]
    assert manifest[0]["Config"] == hashlib.sha256(config).hexdigest() + ".json"
    assert json.loads(config)["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert names[-1] == "manifest.json"


def test_a_base_reads_back_from_both_forms_with_its_files(tmp_path: Path):
    layout, archive = _image(tmp_path)
    from_layout = ociread.read_oci_layout(layout, None, ARM64)
    from_archive = ociread.read_docker_archive(archive, "base:1", tmp_path / "work")
    assert from_layout.name == "base" and from_archive.name == "base:1"
    assert from_layout.config == from_archive.config
    assert [la.diff_id for la in from_layout.layers] == [la.diff_id for la in from_archive.layers]
    tree = ociread.TreeIndex(wanted=("/etc/passwd",))
    scan = imagescan.ContentScan(Arch.ARM64, tree=tree)
    ociread.read_oci_layout(layout, None, ARM64, visit=lambda i: scan.visitor(f"base layer {i}"))
    assert tree.has_file("/bin/sh") and tree.contents["/etc/passwd"].startswith(b"root:")


def test_a_damaged_blob_is_refused(tmp_path: Path):
    layout, _ = _image(tmp_path)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    layer = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    layer.chmod(0o644)
    layer.write_bytes(gzip.compress(b"\0" * 1024, mtime=0))
    with pytest.raises(SourceError, match="digest mismatch") as exc:
        ociread.read_oci_layout(layout, None, ARM64)
    assert exc.value.exit_code == 6


@pytest.mark.parametrize("digest", ["sha256:../../../etc/passwd", "md5:" + "0" * 32,
                                    "sha256:" + "A" * 64])
def test_digests_that_are_not_sha256_hex_are_refused(tmp_path: Path, digest: str):
    layout, _ = _image(tmp_path)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = digest
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(SourceError, match="is not a sha256 digest"):
        ociread.read_oci_layout(layout, None, ARM64)


def test_a_blob_linking_out_of_the_layout_is_refused(tmp_path: Path):
    layout, _ = _image(tmp_path)
    index = json.loads((layout / "index.json").read_text())
    blob = layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]
    outside = tmp_path / "outside.json"
    outside.write_bytes(blob.read_bytes())
    blob.unlink()
    blob.symlink_to(outside)
    with pytest.raises(SourceError, match="not a file inside"):
        ociread.read_oci_layout(layout, None, ARM64)


def _hostile_layer(tmp_path: Path, member: tarfile.TarInfo) -> Path:
    path = tmp_path / "hostile.tar"
    with tarfile.open(path, "w") as tf:
        tf.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)
    return path


@pytest.mark.parametrize("name, kind, linkname, message", [
    ("../../etc/cron.d/x", tarfile.REGTYPE, "", "'..' component"),
    ("dev/sda", tarfile.BLKTYPE, "", "device node"),
    ("dev/fifo", tarfile.FIFOTYPE, "", "device node or FIFO"),
    ("etc/shadow", tarfile.LNKTYPE, "/etc/shadow", "hard link"),
])
def test_hostile_layer_members_refuse_the_image(tmp_path: Path, name, kind, linkname, message):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, linkname
    ti.size = 1 if kind == tarfile.REGTYPE else 0
    with pytest.raises(SourceError, match=message):
        ociread.layer_digests(_hostile_layer(tmp_path, ti), False, "base layer 1")


def test_an_archive_member_climbing_out_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        data = json.dumps([{"Config": "../../c.json", "RepoTags": [], "Layers": []}]).encode()
        ti = tarfile.TarInfo("manifest.json")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    with pytest.raises(SourceError, match="leaves the archive"):
        ociread.read_docker_archive(bad, None, tmp_path / "w")


def test_a_base_of_another_architecture_is_refused_before_its_layers_are_read(tmp_path: Path):
    layout, archive = _image(tmp_path, oci.Platform("linux", "amd64"))
    check = lambda c: ocibase.check_base_platform(c, ARM64, "l4t-base")  # noqa: E731
    for read in (lambda: ociread.read_oci_layout(layout, None, oci.Platform("linux", "amd64"),
                                             check_config=check),
                 lambda: ociread.read_docker_archive(archive, None, tmp_path / "w", check_config=check)):
        with pytest.raises(DescriptorError, match="is for linux/amd64, the board needs linux/arm64"):
            read()


def test_an_armhf_board_refuses_an_arm_v6_base():
    config = {"os": "linux", "architecture": "arm", "variant": "v6"}
    with pytest.raises(DescriptorError, match="linux/arm/v6, the board needs linux/arm/v7"):
        ocibase.check_base_platform(config, oci.platform_for(Arch.ARMHF), "base")
    ocibase.check_base_platform({"os": "linux", "architecture": "arm"},
                                  oci.platform_for(Arch.ARMHF), "base")


def test_tree_index_applies_whiteouts():
    tree = ociread.TreeIndex()
    for name, kind, link in [("lib", tarfile.SYMTYPE, "usr/lib"),
                             ("usr/lib/libc.so.6", tarfile.REGTYPE, ""),
                             ("usr/lib/libz.so.1", tarfile.REGTYPE, ""),
                             ("usr/lib/.wh.libz.so.1", tarfile.REGTYPE, "")]:
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname = kind, link
        tree.add(ti)
    assert tree.has_file("/lib/libc.so.6") and tree.resolve("/lib") == "/usr/lib"
    assert not tree.has_file("/usr/lib/libz.so.1")
    ti = tarfile.TarInfo("usr/lib/.wh..wh..opq")
    tree.add(ti)
    assert not tree.has_file("/lib/libc.so.6")


# ---- content scans --------------------------------------------------------------------------------
def _elf(cls: int, machine: int, e_type: int = 3, flags: int = 0) -> bytes:
    head = bytearray(64)
    head[:6] = b"\x7fELF" + bytes([1 if cls == 32 else 2, 1])
    struct.pack_into("<HH", head, 16, e_type, machine)
    struct.pack_into("<I", head, 36 if cls == 32 else 48, flags)
    return bytes(head)


def test_foreign_elf_files_are_named():
    assert imagescan.foreign_elf(_elf(64, 183), Arch.ARM64) is None
    assert "x86-64" in imagescan.foreign_elf(_elf(64, 62), Arch.ARM64)
    assert imagescan.foreign_elf(_elf(32, 40, flags=0x400), Arch.ARMHF) is None
    assert "soft-float" in imagescan.foreign_elf(_elf(32, 40, flags=0), Arch.ARMHF)
    assert "AArch64" in imagescan.foreign_elf(_elf(64, 183), Arch.ARMHF)
    assert imagescan.foreign_elf(b"#!/bin/sh\n" + b"\0" * 60, Arch.ARM64) is None


def test_every_layer_is_scanned_for_foreign_elf_files_and_secrets(tmp_path: Path):
    key = (b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
           b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
           b"-----END OPENSSH PRIVATE KEY-----\n")
    pgp = (b"-----BEGIN PGP PRIVATE KEY BLOCK-----\nComment: test\n\n"
           b"lQOYBF8AAAABCAC7zvG3+ZsmkEB1kXIvrOKo3ZLQ7Ud0a1AjFhE0cbbwZ3Mr9RlT\n")
    # a library naming the armour (GnuTLS, OpenSSL) holds no key
    library = _elf(64, 183) + b"\0-----BEGIN RSA PRIVATE KEY-----\0-----BEGIN PRIVATE KEY-----\n\0"
    files = {"/bin/tool": _elf(64, 62), "/etc/app.conf": b"x" * 100 + key,
             "/etc/signing.asc": pgp, "/usr/lib/libgnutls.so.30": library,
             "/root/.ssh/id_ed25519": b"k", "/lib/firmware/r5.elf": _elf(32, 40)}
    layout, _ = _image(tmp_path, files=files)
    scan = imagescan.ContentScan(Arch.ARM64, allowed_foreign=("/lib/firmware/*",))
    ociread.read_oci_layout(layout, None, ARM64, visit=lambda i: scan.visitor(f"layer {i}"))
    with pytest.raises(imagescan.ImageContentError) as exc:
        scan.check("jetson-nx")
    text = str(exc.value)
    assert exc.value.exit_code == 5
    assert "/bin/tool (layer 1): an ELF file for x86-64" in text
    assert "/etc/app.conf (layer 1): holds a private key" in text
    assert "/etc/signing.asc (layer 1): holds a private key" in text
    assert "/root/.ssh/id_ed25519" in text and "firmware" not in text.split("fix:")[0]
    assert "libgnutls" not in text



def test_embedded_keys_count_in_the_apps_programs_not_in_distribution_libraries(tmp_path: Path):
    """GnuTLS carries the private keys of its FIPS self-tests, armour, body and all: a library
    from a distribution package is not a leak; the same bytes in the app's own program are."""
    key = (b"\0-----BEGIN RSA PRIVATE KEY-----\n"
           b"MIIEogIBAAKCAQEA6yCv+BLrRP/dMPBXJWK21c0aqxIX6JkODL4K+zlyEURt8/Wp\n"
           b"-----END RSA PRIVATE KEY-----\n\0")
    files = {"/usr/lib/aarch64-linux-gnu/libgnutls.so.30": _elf(64, 183) + key,
             "/opt/edge-infer/bin/edge-infer": _elf(64, 183) + key}
    layout, _ = _image(tmp_path, files=files)
    scan = imagescan.ContentScan(Arch.ARM64, elf_keys_under="/opt/edge-infer")
    ociread.read_oci_layout(layout, None, ARM64, visit=lambda i: scan.visitor(f"layer {i}"))
    assert scan.secrets == ["/opt/edge-infer/bin/edge-infer (layer 1): holds a private key"]
    base_scan = imagescan.ContentScan(Arch.ARM64)
    ociread.read_oci_layout(layout, None, ARM64, visit=lambda i: base_scan.visitor(f"layer {i}"))
    assert base_scan.secrets == []
    base_scan.check("jetson-nx")

# ---- users, environment, labels -----------------------------------------------------------------
def test_passwd_and_group_for_a_bare_image():
    passwd, group = container.passwd_files("edge-infer", 10001, 10001, "/nonexistent", None, None)
    assert passwd.decode().splitlines() == [
        "root:x:0:0:root:/root:/usr/sbin/nologin",
        "edge-infer:x:10001:10001:edge-infer:/nonexistent:/usr/sbin/nologin"]
    assert group.decode().splitlines() == ["root:x:0:", "edge-infer:x:10001:"]


def test_passwd_keeps_the_base_users_and_refuses_a_taken_id():
    base = b"root:x:0:0:root:/root:/bin/bash\nnvidia:x:10001:10001::/home/nvidia:/bin/bash\n"
    with pytest.raises(DescriptorError, match="gives the id 10001 to 'nvidia'"):
        container.passwd_files("edge-infer", 10001, 10001, "/nonexistent", base, None)
    passwd, _ = container.passwd_files("edge-infer", 10002, 10002, "/nonexistent", base, None)
    assert passwd.startswith(base) and passwd.endswith(b"edge-infer:/nonexistent:/usr/sbin/nologin\n")


def test_environment_puts_the_app_first_and_keeps_the_base():
    env = container.merge_env(["PATH=/usr/bin:/bin", "CUDA_HOME=/usr/local/cuda"], "/opt/app",
                              {"LANG": "C.UTF-8"}, ["/usr/lib/aarch64-linux-gnu/tegra"])
    assert env == ["PATH=/opt/app/bin:/usr/bin:/bin", "CUDA_HOME=/usr/local/cuda",
                   "LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu/tegra", "LANG=C.UTF-8"]


def test_licence_expression_lists_each_once():
    assert container.licence_expression(
        ["Apache-2.0", "LGPL-2.1-or-later OR GPL-2.0-or-later", "Apache-2.0",
         "GPL-3.0-or-later WITH GCC-exception-3.1"]) == (
        "(LGPL-2.1-or-later OR GPL-2.0-or-later) AND Apache-2.0 AND "
        "GPL-3.0-or-later WITH GCC-exception-3.1")


# ---- the multi-board index ------------------------------------------------------------------------
def _result(tmp_path: Path, board: str, platform: oci.Platform) -> ContainerResult:
    layout, archive = _image(tmp_path, platform, name=board)
    index = json.loads((layout / "index.json").read_text())["manifests"][0]
    return ContainerResult(
        board=board, repository="edge-infer", version="1.0.0+git1.abc",
        tag=f"edge-infer:1.0.0_git1.abc-{board}", platform=str(platform), oci_layout=layout,
        docker_archive=archive, manifest_digest=index["digest"], manifest_size=index["size"],
        config_digest="sha256:" + "0" * 64, compressed_size=1, uncompressed_size=1, files=())


def test_index_holds_one_image_per_platform(tmp_path: Path):
    results = [_result(tmp_path, "rpi3-armhf", oci.platform_for(Arch.ARMHF)),
               _result(tmp_path, "jetson-nx", ARM64)]
    layout = write_container_index(results, tmp_path / "out")
    assert layout.name == "edge-infer-1.0.0_git1.abc.oci"
    top = json.loads((layout / "index.json").read_text())["manifests"]
    assert [d["annotations"][oci.REF_NAME] for d in top] == [
        "1.0.0_git1.abc", "1.0.0_git1.abc-jetson-nx", "1.0.0_git1.abc-rpi3-armhf"]
    nested = ociread.read_oci_layout(layout, "1.0.0_git1.abc", oci.platform_for(Arch.ARMHF))
    assert nested.platform == oci.platform_for(Arch.ARMHF)
    assert ociread.read_oci_layout(layout, "1.0.0_git1.abc", ARM64).platform == ARM64
    again = write_container_index(results, tmp_path / "again")
    assert (again / "index.json").read_bytes() == (layout / "index.json").read_bytes()


def test_index_refuses_two_boards_of_one_platform(tmp_path: Path):
    results = [_result(tmp_path, "jetson-nx", ARM64), _result(tmp_path, "rpi4", ARM64)]
    with pytest.raises(UsageError, match="jetson-nx, rpi4 are all linux/arm64"):
        write_container_index(results, tmp_path / "out")


def test_result_record_round_trips(tmp_path: Path):
    r = _result(tmp_path, "jetson-nx", ARM64)
    r = ContainerResult(**{**r.__dict__, "files": (ContainerImageFile(
        "/lib/libc.so.6", "symlink", "sysroot", "/lib/libc.so.6", "libc6", "2.31", target="x"),)})
    (tmp_path / CONTAINER_RECORD).write_text(json.dumps(r.to_json(tmp_path)))
    assert read_container_result(tmp_path) == r


def test_a_rootfs_tarball_becomes_one_layer_without_device_nodes(tmp_path: Path):
    src = tmp_path / "rootfs.tar"
    with tarfile.open(src, "w", format=tarfile.GNU_FORMAT) as tf:
        for name, kind, link, data in [("./", tarfile.DIRTYPE, "", None),
                                       ("./dev/null", tarfile.CHRTYPE, "", None),
                                       ("./etc/", tarfile.DIRTYPE, "", None),
                                       ("./etc/passwd", tarfile.REGTYPE, "", b"root:x:0:0::/:\n"),
                                       ("./etc/passwd-", tarfile.LNKTYPE, "./etc/passwd", None),
                                       ("./bin", tarfile.SYMTYPE, "usr/bin", None)]:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mtime, ti.uid = kind, link, 12345, 0
            ti.size = len(data) if data else 0
            tf.addfile(ti, io.BytesIO(data) if data else None)
    work = tmp_path / "w"
    work.mkdir()
    blob = oci.write_rootfs_layer(src, oci.Layout(tmp_path / "l"), work, EPOCH)
    with tarfile.open(blob.tar) as tf:
        members = {m.name: m for m in tf}
    assert list(members) == ["etc", "etc/passwd", "etc/passwd-", "bin"]
    assert members["etc/passwd-"].linkname == "etc/passwd"
    assert all(m.mtime == EPOCH for m in members.values())
    (tmp_path / "empty").mkdir()
    with tarfile.open(tmp_path / "nopasswd.tar", "w") as tf:
        tf.add(tmp_path / "empty", arcname="./usr")
    with pytest.raises(SourceError, match="no etc/passwd"):
        oci.write_rootfs_layer(tmp_path / "nopasswd.tar", oci.Layout(tmp_path / "l2"), work, EPOCH)
