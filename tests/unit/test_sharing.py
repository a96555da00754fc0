"""Team sharing over a static file server: URLs, checksum files, stamps, messages, the packer."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from edgeforge.core import (
    DescriptorError,
    SourceError,
    SysrootError,
    UsageError,
    base_url_from_env,
    check_base_url,
    download,
    join_url,
    safe_extract,
)
from edgeforge.deps import (
    MIRROR_URL_VAR,
    Pin,
    lying_mirror_message,
    shared_url,
    unreachable_message,
)
from edgeforge.toolchain import sysrootpack

SHA = "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1"
OTHER = "0" * 64


# ---- URLs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    ("http://127.0.0.1:8080/edgeforge/", "http://127.0.0.1:8080/edgeforge"),
    ("https://files.internal", "https://files.internal"),
    (" http://127.0.0.1/a// ", "http://127.0.0.1/a"),
    ("file:///srv/edgeforge/sources", "file:///srv/edgeforge/sources"),
])
def test_base_urls_are_accepted_without_their_trailing_slash(value, expected):
    assert check_base_url(value, "EDGEFORGE_X", "things") == expected


@pytest.mark.parametrize("value,problem", [
    ("ftp://127.0.0.1/m", "is not an http://, https:// or file:// URL"),
    ("127.0.0.1:8080/m", "is not an http://, https:// or file:// URL"),
    ("http:///m", "names no server"),
    ("http://u@127.0.0.1/m", "carries a user name or password (not supported: serve the "
                             "folder read-only)"),
    ("http://127.0.0.1/m?x=1", "has a '?' query or a '#' fragment"),
])
def test_bad_base_urls_name_the_variable_and_a_fix(value, problem):
    with pytest.raises(UsageError) as exc:
        check_base_url(value, "EDGEFORGE_SOURCE_MIRROR_URL", "the mirror's s/<sha256> files")
    msg = exc.value.message
    shown = value.replace("u@", "***@")  # a user name may be a token: never echoed either
    shown = shown.replace("?x=1", "?x=***")  # nor a query's values (a signed URL's signature)
    assert msg.startswith(f"EDGEFORGE_SOURCE_MIRROR_URL={shown!r} {problem}; fix: set it to the "
                          "URL of the folder that holds the mirror's s/<sha256> files")
    assert msg.endswith("or unset it")


def test_a_password_in_the_url_is_never_echoed():
    with pytest.raises(UsageError) as exc:
        check_base_url("http://u:s3cret@127.0.0.1/m", "EDGEFORGE_SYSROOT_URL", "x")
    assert "s3cret" not in exc.value.message
    assert exc.value.message.startswith("EDGEFORGE_SYSROOT_URL='http://***@127.0.0.1/m' carries")


def test_an_unset_or_empty_variable_means_no_server(monkeypatch):
    monkeypatch.delenv("EDGEFORGE_SYSROOT_URL", raising=False)
    assert base_url_from_env("EDGEFORGE_SYSROOT_URL", "x") is None
    monkeypatch.setenv("EDGEFORGE_SYSROOT_URL", "  ")
    assert base_url_from_env("EDGEFORGE_SYSROOT_URL", "x") is None
    monkeypatch.setenv("EDGEFORGE_SYSROOT_URL", "http://127.0.0.1:1/s/")
    assert base_url_from_env("EDGEFORGE_SYSROOT_URL", "x") == "http://127.0.0.1:1/s"


def test_urls_keep_the_mirror_layout_and_quote_each_part():
    assert shared_url("http://127.0.0.1:8080/team/", SHA) == f"http://127.0.0.1:8080/team/s/{SHA}"
    assert join_url("http://h/a", "x y", "b/c") == "http://h/a/x%20y/b%2Fc"
    assert join_url("http://h", "debian-bullseye-arm64-a3f3abdc120a76ce.tar.gz.sha256") == \
        "http://h/debian-bullseye-arm64-a3f3abdc120a76ce.tar.gz.sha256"


def test_download_tells_a_missing_file_from_a_failure(tmp_path: Path):
    src = tmp_path / "there"
    src.write_bytes(b"data")
    assert download(f"file://{src}", tmp_path / "out" / "a", "x").read_bytes() == b"data"
    assert download(f"file://{tmp_path}/absent", tmp_path / "out" / "b", "x",
                    missing_ok=True) is None
    with pytest.raises(SourceError, match=r"cannot download file://.*/absent \(the thing\): no "
                                          r"such file or directory"):
        download(f"file://{tmp_path}/absent", tmp_path / "out" / "c", "the thing")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a"]  # no partial file


# ---- messages -------------------------------------------------------------------------------
def test_the_lying_mirror_message_names_archive_url_both_checksums_and_a_fix():
    pin = Pin("zlib", "1.2.13", SHA, (), "zlib", "1:1.2.13.dfsg-1", "zlib_1.2.13.dfsg.orig.tar.bz2")
    url = f"http://127.0.0.1:8080/s/{SHA}"
    msg = lying_mirror_message(pin, url, OTHER)
    assert msg.startswith("the team's source mirror sent the wrong file for zlib/1.2.13 "
                          f"zlib_1.2.13.dfsg.orig.tar.bz2: {url} ({MIRROR_URL_VAR}) has sha256 "
                          f"{OTHER}, expected {SHA} (the pin in recipes/zlib/conandata.yml); it "
                          "was not added to the mirror. Fix: replace s/")
    assert f"or unset {MIRROR_URL_VAR}" in msg


def test_the_unreachable_message_keeps_the_problem_and_names_the_variable():
    msg = unreachable_message("cannot download http://127.0.0.1:9/s/x (p): connection refused")
    assert msg.startswith(f"the team's source mirror ({MIRROR_URL_VAR}) did not answer: cannot "
                          "download http://127.0.0.1:9/s/x (p): connection refused; nothing was "
                          "added to the mirror. Fix: start the file server or correct the URL")


# ---- checksum files and pins ----------------------------------------------------------------
NAME = "debian-bullseye-arm64-a3f3abdc120a76ce.tar.gz"


def test_archive_names_and_checksum_lines():
    assert sysrootpack.archive_name("debian-bullseye-arm64-a3f3abdc120a76ce") == NAME
    assert sysrootpack.sha256_line(SHA, NAME) == f"{SHA}  {NAME}\n"


@pytest.mark.parametrize("text", [f"{SHA}  {NAME}\n", f"{SHA} *{NAME}", f"{SHA.upper()}\n",
                                  f"{OTHER}  other.tar.gz\n{SHA}  {NAME}\n"])
def test_sha256_files_in_sha256sum_formats(text):
    assert sysrootpack.parse_sha256_file(text, NAME, "http://h/x.sha256") == SHA


@pytest.mark.parametrize("text", ["", "not a checksum", f"{OTHER}  other.tar.gz\n", SHA[:-1]])
def test_a_sha256_file_without_the_archive_says_where_and_what(text):
    with pytest.raises(SourceError) as exc:
        sysrootpack.parse_sha256_file(text, NAME, "http://h/x.sha256")
    assert exc.value.message.startswith(f"http://h/x.sha256 holds no sha256 for {NAME}")
    assert "invoke sysroot --pack DIR" in exc.value.message


def test_pins_file():
    text = f"# trusted\n\n{SHA}  {NAME}\n{OTHER}  b.tar.gz\n{SHA}  {NAME}\n"
    assert sysrootpack.parse_pins(text, "toolchains/sysroots/published.sha256") == {
        NAME: SHA, "b.tar.gz": OTHER}


@pytest.mark.parametrize("text,problem", [
    (f"{SHA}\n", "line 1: '" + SHA + "' is not '<sha256>  <name>-<key>.tar.gz'"),
    (f"# x\n{SHA}  {NAME}\n{OTHER}  {NAME}\n", f"line 3: {NAME} is pinned twice"),
])
def test_a_bad_pins_file_names_the_line(text, problem):
    with pytest.raises(DescriptorError) as exc:
        sysrootpack.parse_pins(text, "toolchains/sysroots/published.sha256")
    assert exc.value.message.startswith(f"toolchains/sysroots/published.sha256 {problem}")


# ---- stamps ---------------------------------------------------------------------------------
def test_the_stamp_must_name_the_sysroot_key_and_arch():
    good = {"name": "debian-bullseye-arm64", "key": "a3f3abdc120a76ce", "arch": "arm64"}
    sysrootpack.check_stamp(good, "debian-bullseye-arm64", "a3f3abdc120a76ce", "arm64", "U")
    with pytest.raises(SysrootError) as exc:
        sysrootpack.check_stamp({**good, "key": "0" * 16, "arch": "armhf"},
                                "debian-bullseye-arm64", "a3f3abdc120a76ce", "arm64", "U")
    assert exc.value.message.startswith(
        "the sysroot archive U holds another sysroot: its stamp has key '0000000000000000' "
        "(expected 'a3f3abdc120a76ce'), arch 'armhf' (expected 'arm64'); nothing was added")
    with pytest.raises(SysrootError, match="has no readable stamp"):
        sysrootpack.check_stamp(None, "n", "k", "arm64", "U")


# ---- the packer -----------------------------------------------------------------------------
def small_tree(root: Path, mtime: int) -> Path:
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libc.so.6").write_bytes(b"\x7fELF fake")
    os.link(root / "usr/lib/libc.so.6", root / "usr/lib/libc-2.31.so")
    (root / "lib").symlink_to("usr/lib")
    (root / ".edgeforge-sysroot.json").write_text("{}")
    os.mkfifo(root / "fifo")
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            os.utime(Path(dirpath) / n, (mtime, mtime), follow_symlinks=False)
    return root


def test_pack_is_reproducible_keeps_hard_links_and_extracts_safely(tmp_path: Path):
    a = small_tree(tmp_path / "a" / "sr-k", 1111)
    b = small_tree(tmp_path / "b" / "sr-k", 2222)  # same tree, other times
    pa = sysrootpack.pack(a, "sr-k", tmp_path / "out-a", 1700000000)
    pb = sysrootpack.pack(b, "sr-k", tmp_path / "out-b", 1700000000)
    assert pa.archive.name == "sr-k.tar.gz" and pa.archive.read_bytes() == pb.archive.read_bytes()
    assert pa.checksum_file.read_text() == f"{pa.sha256}  sr-k.tar.gz\n"
    assert pa.skipped == ("fifo",)
    assert sorted(os.listdir(tmp_path / "out-a")) == ["sr-k.tar.gz", "sr-k.tar.gz.sha256"]
    with tarfile.open(pa.archive) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert list(members) == ["sr-k", "sr-k/.edgeforge-sysroot.json", "sr-k/lib", "sr-k/usr",
                             "sr-k/usr/lib", "sr-k/usr/lib/libc-2.31.so",
                             "sr-k/usr/lib/libc.so.6"]
    assert members["sr-k/usr/lib/libc.so.6"].islnk()  # the second name of the same file
    assert members["sr-k/usr/lib/libc.so.6"].linkname == "sr-k/usr/lib/libc-2.31.so"
    assert members["sr-k/lib"].issym() and members["sr-k/lib"].linkname == "usr/lib"
    safe_extract(pa.archive, tmp_path / "x", rootfs=True)
    assert (tmp_path / "x/sr-k/usr/lib/libc.so.6").read_bytes() == b"\x7fELF fake"
    assert (tmp_path / "x/sr-k/usr/lib/libc.so.6").stat().st_nlink == 2
