"""OCI images written without a container engine, byte for byte reproducibly.

Pure part: what goes into a layer (`Entry`, `layer_entries`), and the image config, manifest
and index JSON (canonical: sorted keys, no white space). Writer: layers as tar streams with
fixed order, owner (root), mode and mtime (SOURCE_DATE_EPOCH), gzip with mtime 0 and no file
name; blobs under blobs/sha256/, index.json and oci-layout. Docker 20.10 cannot load an OCI
layout, so `write_docker_archive` writes the `docker save` format (manifest.json, the config,
one uncompressed layer.tar per layer) from the same blobs, just as reproducibly.

Every layer member read from elsewhere (a root file system tarball here, a base image in
ociread.py) follows `check_member`: the rules of extract.py, without extracting anything.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edgeforge.config import Arch
from edgeforge.core import ImageFormatError

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
#: layer media types a base may use, and whether the blob is gzip-compressed
LAYER_TYPES = {
    MEDIA_LAYER: False,
    MEDIA_LAYER_GZIP: True,
    "application/vnd.docker.image.rootfs.diff.tar": False,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": True,
}
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_VERSION = "1.0.0"
#: JSON documents of an image are a few kB; anything larger is not one
MAX_JSON = 4 << 20
GZIP_LEVEL = 9
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_CHUNK = 1 << 20


# ---- pure: platforms, entries, JSON -------------------------------------------------------------
@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def platform_for(arch: Arch) -> Platform:
    """The OCI platform of a board's architecture: arm64, or arm/v7 for armhf (hard float)."""
    return {Arch.ARM64: Platform("linux", "arm64"),
            Arch.ARMHF: Platform("linux", "arm", "v7")}[arch]


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] | None = None
    platform: Platform | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                               "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = self.platform.to_json()
        return out

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class Entry:
    """One member of a layer. Content comes from `source` (a file on the build machine) or
    `data` (generated); everything is owned by root."""

    path: str                      # absolute in the image: /etc/passwd
    kind: str                      # "dir", "file" or "symlink"
    mode: int = 0o755
    source: Path | None = None
    data: bytes | None = None
    target: str | None = None

    @property
    def name(self) -> str:
        return self.path.lstrip("/")


def file_entry(path: str, source: Path) -> Entry:
    executable = os.stat(source).st_mode & 0o111
    return Entry(path, "file", 0o755 if executable else 0o644, source=source)


def layer_entries(entries: Iterable[Entry]) -> list[Entry]:
    """The entries with every missing parent folder added (0755), sorted by path (parents
    first), duplicates merged; two different entries at one path are an error."""
    by_path: dict[str, Entry] = {}
    for e in entries:
        norm = posixpath.normpath("/" + e.path.lstrip("/"))
        if norm != e.path or norm == "/" or "\0" in norm:
            raise ValueError(f"layer entry {e.path!r}: not a normal absolute path")
        old = by_path.get(e.path)
        if old is not None and old != e:
            raise ValueError(f"layer entry {e.path} given twice, differently")
        by_path[e.path] = e
    for path in list(by_path):
        parent = posixpath.dirname(path)
        while parent != "/":
            old = by_path.get(parent)
            if old is not None and old.kind != "dir":
                raise ValueError(f"{parent} is a {old.kind} in the layer, but {path} is "
                                 "inside it")
            by_path.setdefault(parent, Entry(parent, "dir", 0o755))
            parent = posixpath.dirname(parent)
    return [by_path[p] for p in sorted(by_path, key=lambda p: p.split("/"))]


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def image_config(platform: Platform, created: int, config: Mapping[str, Any],
                 diff_ids: Sequence[str], history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The OCI image config (the image's ID is its digest)."""
    out: dict[str, Any] = {
        "created": rfc3339(created),
        **platform.to_json(),
        "config": {k: v for k, v in config.items() if v not in (None, [], {})},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [dict(h) for h in history],
    }
    return out


def image_manifest(config: Descriptor, layers: Sequence[Descriptor],
                   annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.to_json(),
        "layers": [d.to_json() for d in layers],
    }
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def image_index(manifests: Sequence[Descriptor],
                annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                           "manifests": [d.to_json() for d in manifests]}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


# ---- writing --------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return "sha256:" + h.hexdigest()


class Layout:
    """An OCI image layout folder being written: blobs are content-addressed, so writing the
    same content twice is a no-op."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest_hex(digest, "blob digest")

    def put_bytes(self, data: bytes, media_type: str) -> Descriptor:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            _write_file(path, data)
        return Descriptor(media_type, digest, len(data))

    def put_json(self, data: Any, media_type: str) -> Descriptor:
        return self.put_bytes(canonical_json(data), media_type)

    def put_file(self, src: Path, media_type: str, digest: str | None = None,
                 move: bool = False) -> Descriptor:
        digest = digest or sha256_of(src)
        path = self.blob_path(digest)
        size = os.stat(src).st_size
        if not path.exists():
            if move:
                os.replace(src, path)
            else:
                _link_or_copy(src, path)
            os.chmod(path, 0o644)
        return Descriptor(media_type, digest, size)

    def finish(self, manifests: Sequence[Descriptor]) -> Path:
        """index.json and oci-layout; returns the layout folder."""
        _write_file(self.root / "oci-layout",
                    canonical_json({"imageLayoutVersion": LAYOUT_VERSION}))
        _write_file(self.root / "index.json", canonical_json(image_index(manifests)))
        return self.root


def _write_file(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _tarinfo(name: str, kind: str, mode: int, epoch: int, size: int = 0,
             target: str | None = None) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE}[kind]
    ti.mode = mode
    ti.size = size if kind == "file" else 0
    ti.linkname = target or ""
    ti.mtime = epoch
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def write_tar(entries: Sequence[Entry], out: IO[bytes], epoch: int) -> None:
    """A tar stream of the entries, in the given order, every time the same bytes."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            if e.kind == "file":
                if e.data is not None:
                    tf.addfile(_tarinfo(e.name, "file", e.mode, epoch, len(e.data)),
                               io.BytesIO(e.data))
                else:
                    assert e.source is not None
                    with open(e.source, "rb") as fh:
                        size = os.fstat(fh.fileno()).st_size
                        tf.addfile(_tarinfo(e.name, "file", e.mode, epoch, size), fh)
            else:
                tf.addfile(_tarinfo(e.name, e.kind, e.mode if e.kind == "dir" else 0o777,
                                    epoch, target=e.target))


def gzip_file(src: Path, dst: Path) -> None:
    """gzip with mtime 0 and no file name in the header: the same input gives the same bytes."""
    with open(src, "rb") as fin, open(dst, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL,
                          mtime=0) as gz:
        shutil.copyfileobj(fin, gz, _CHUNK)


def gunzip_file(src: Path, dst: Path) -> str:
    """Decompress; returns the sha256 digest of the output."""
    h = hashlib.sha256()
    with gzip.open(src, "rb") as fin, open(dst, "wb") as out:
        while block := fin.read(_CHUNK):
            h.update(block)
            out.write(block)
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class LayerBlob:
    """A layer in a layout: its descriptor (compressed), its diff_id and, while building, the
    uncompressed tar the docker archive is made of."""

    descriptor: Descriptor
    diff_id: str
    tar: Path | None = None


def write_layer(entries: Sequence[Entry], layout: Layout, work: Path, epoch: int,
                name: str) -> LayerBlob:
    """Write the entries as a gzip-compressed layer blob; the uncompressed tar stays in
    `work` as <name>.tar."""
    tar_path = work / f"{name}.tar"
    with open(tar_path, "wb") as fh:
        write_tar(entries, fh, epoch)
    diff_id = sha256_of(tar_path)
    gz = work / f"{name}.tar.gz"
    gzip_file(tar_path, gz)
    desc = layout.put_file(gz, MEDIA_LAYER_GZIP, move=True)
    return LayerBlob(desc, diff_id, tar_path)


def write_rootfs_layer(src: Path, layout: Layout, work: Path, epoch: int,
                       name: str = "rootfs") -> LayerBlob:
    """A root file system tarball (e.g. mmdebstrap's) as one layer: members in the tarball's
    order, owners and modes kept, times set to `epoch`; names checked as in `check_member`,
    device nodes and FIFOs left out (the engine makes /dev)."""
    tar_path = work / f"{name}.tar"
    if tar_path.resolve() == Path(src).resolve():
        raise ValueError(f"write_rootfs_layer would overwrite its input {src}")
    seen: set[str] = set()
    with tarfile.open(src, "r:*") as tin, open(tar_path, "wb") as fh, \
            tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            if m.ischr() or m.isblk() or m.isfifo():
                continue
            clean = check_member(m, seen, f"the root file system {src}")
            if not clean:
                continue
            linkname = m.linkname
            if m.islnk():
                linkname = "/".join(p for p in linkname.split("/") if p not in ("", "."))
            out = m.replace(name=clean, linkname=linkname, mtime=epoch, deep=False)
            out.pax_headers = {}
            tout.addfile(out, tin.extractfile(m) if m.isreg() else None)
    if "etc/passwd" not in seen:
        raise ImageFormatError(f"{src} has no etc/passwd: not a root file system (or cut short)")
    diff_id = sha256_of(tar_path)
    gz = work / f"{name}.tar.gz"
    gzip_file(tar_path, gz)
    return LayerBlob(layout.put_file(gz, MEDIA_LAYER_GZIP, move=True), diff_id, tar_path)


def write_docker_archive(out: Path, config: bytes, layers: Sequence[tuple[str, Path]],
                         repo_tags: Sequence[str], epoch: int) -> Path:
    """The `docker save` format docker 20.10 loads: the config as <hex>.json, each layer as
    <diff_id hex>/layer.tar (uncompressed), manifest.json; fixed order, owner and times."""
    config_hex = hashlib.sha256(config).hexdigest()
    names = [f"{digest_hex(diff_id, 'diff_id')}/layer.tar" for diff_id, _ in layers]
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": list(repo_tags), "Layers": names}]
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "wb") as fh, tarfile.open(fileobj=fh, mode="w|",
                                              format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(_tarinfo(f"{config_hex}.json", "file", 0o644, epoch, len(config)),
                   io.BytesIO(config))
        done: set[str] = set()
        for name, (_diff_id, path) in zip(names, layers, strict=True):
            if name in done:
                continue
            done.add(name)
            tf.addfile(_tarinfo(name.split("/")[0], "dir", 0o755, epoch))
            with open(path, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                tf.addfile(_tarinfo(name, "file", 0o644, epoch, size), src)
        data = canonical_json(manifest)
        tf.addfile(_tarinfo("manifest.json", "file", 0o644, epoch, len(data)), io.BytesIO(data))
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return out


# ---- the rules every layer member follows -----------------------------------------------------
def digest_hex(digest: str, what: str) -> str:
    m = _DIGEST.match(digest) if isinstance(digest, str) else None
    if not m:
        raise ImageFormatError(f"{what} {str(digest)[:100]!r} is not a sha256 digest "
                               "(sha256:<64 hex digits>)")
    return m.group(1)


def check_member(m: tarfile.TarInfo, seen: set[str], what: str) -> str:
    """The member's normal name; refuses what extract.py refuses (and devices, always)."""
    parts = [p for p in m.name.split("/") if p not in ("", ".")]
    name = "/".join(parts)
    if "\0" in m.name or ".." in parts:
        raise ImageFormatError(f"{what}: member {m.name[:100]!r} has a '..' component or a NUL "
                               "byte; refusing the image")
    if m.ischr() or m.isblk() or m.isfifo():
        raise ImageFormatError(f"{what}: member {name!r} is a device node or FIFO; images "
                               "carry none (the engine makes /dev): refusing the image")
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        raise ImageFormatError(f"{what}: member {name!r} has an unsupported type {m.type!r}")
    if m.islnk():
        target = "/".join(p for p in m.linkname.split("/") if p not in ("", "."))
        if target not in seen or ".." in target.split("/"):
            raise ImageFormatError(f"{what}: member {name!r} is a hard link to "
                                   f"{m.linkname[:100]!r}, not to an earlier file of the layer")
    if m.isreg() or m.islnk():
        seen.add(name)
    return name
