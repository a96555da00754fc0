"""OCI images, written and read without a container engine, byte for byte reproducibly.

Pure part: what goes into a layer (`Entry`, `layer_entries`), and the image config, manifest
and index JSON (canonical: sorted keys, no white space). Writer: layers as tar streams with
fixed order, owner (root), mode and mtime (SOURCE_DATE_EPOCH), gzip with mtime 0 and no file
name; blobs under blobs/sha256/, index.json and oci-layout. Docker 20.10 cannot load an OCI
layout, so `write_docker_archive` writes the `docker save` format (manifest.json, the config,
one uncompressed layer.tar per layer) from the same blobs, just as reproducibly.

Reader: a base image from an OCI layout or a docker archive is hostile input. JSON files are
size-capped, digests must be sha256 and are recomputed for every blob (config, manifest and
layers) and every layer's uncompressed digest must match the config's diff_ids; blob paths are
checked to stay inside the layout; layers are never extracted: they are streamed, and a member
whose name has a '..' component or a NUL byte, a device node or FIFO, or a hard link to
anything but an earlier member, refuses the whole image (the same rules as extract.py).
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
import stat
import tarfile
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import SourceError
from .model import Arch

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


class ImageFormatError(SourceError):
    """A base image is damaged, not of a supported form, or unsafe to read (exit 6)."""


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
        return self.blobs / _hex(digest, "blob digest")

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
    names = [f"{_hex(diff_id, 'diff_id')}/layer.tar" for diff_id, _ in layers]
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


# ---- reading a base image (hostile input) ---------------------------------------------------------
@dataclass(frozen=True)
class LayerRef:
    path: Path             # the blob on disk (in the base's layout, or copied out of an archive)
    compressed: bool
    digest: str            # of the blob as stored
    diff_id: str           # of the uncompressed tar
    size: int


@dataclass(frozen=True)
class SourceImage:
    """A verified image read from a layout or an archive."""

    source: Path
    name: str | None               # the ref name or tag it was chosen by
    digest: str                    # its manifest's digest (OCI) or config digest (archive)
    config: dict[str, Any]
    layers: tuple[LayerRef, ...]

    @property
    def platform(self) -> Platform:
        return Platform(str(self.config.get("os", "")), str(self.config.get("architecture", "")),
                        self.config.get("variant") or None)


def _hex(digest: str, what: str) -> str:
    m = _DIGEST.match(digest) if isinstance(digest, str) else None
    if not m:
        raise ImageFormatError(f"{what} {str(digest)[:100]!r} is not a sha256 digest "
                               "(sha256:<64 hex digits>)")
    return m.group(1)


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageFormatError(f"{what} is not valid JSON ({exc})") from None


def _read_capped(fh: IO[bytes], what: str) -> bytes:
    data = fh.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ImageFormatError(f"{what} is larger than {MAX_JSON >> 20} MiB: not an image file")
    return data


ConfigCheck = Callable[[dict[str, Any]], None]
#: layer number (from 1) -> a visitor of its members, see `layer_digests`
Visit = Callable[[int], Callable[[tarfile.TarInfo, IO[bytes] | None], None]]


def read_oci_layout(root: Path, ref: str | None = None, platform: Platform | None = None,
                    check_config: ConfigCheck | None = None,
                    visit: Visit | None = None) -> SourceImage:
    """The image `ref` (or the only one) of an OCI layout, for `platform` when it is an index
    of several; every blob it uses is verified. `check_config` sees the config before any
    layer is read; `visit` sees every member of every layer."""
    root = Path(root)
    where = f"the OCI layout {root}"
    if not (root / "index.json").is_file():
        raise ImageFormatError(f"{where} has no index.json: not an OCI image layout (give "
                               "format: docker-archive for a `docker save` tar)")
    layout = _json(_read_file_capped(root / "oci-layout", f"{where}: oci-layout"),
                   f"{where}: oci-layout")
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != LAYOUT_VERSION:
        raise ImageFormatError(f"{where}: oci-layout does not say imageLayoutVersion "
                               f"{LAYOUT_VERSION}")
    index = _json(_read_file_capped(root / "index.json", f"{where}: index.json"),
                  f"{where}: index.json")
    candidates = _manifests_of(index, f"{where}: index.json")
    if ref is not None:
        candidates = [d for d in candidates
                      if (d.get("annotations") or {}).get(REF_NAME) == ref]
        if not candidates:
            raise ImageFormatError(f"{where} has no image named {ref!r} (names: "
                                   f"{', '.join(_ref_names(index)) or 'none'})")
    if len(candidates) != 1:
        raise ImageFormatError(f"{where} holds {len(candidates)} images; name one with `ref:` "
                               f"(names: {', '.join(_ref_names(index)) or 'none'})")
    desc = candidates[0]
    for _ in range(4):  # an index may point at an index (a multi-platform image)
        if desc.get("mediaType") not in (MEDIA_INDEX, DOCKER_MANIFEST_LIST):
            break
        nested = _json(_verified_blob(root, desc, f"{where}: image index"), f"{where}: index")
        matching = [d for d in _manifests_of(nested, f"{where}: image index")
                    if platform is None or _platform_matches(d.get("platform"), platform)]
        if len(matching) != 1:
            raise ImageFormatError(f"{where}: the image index has {len(matching)} images for "
                                   f"{platform or 'any platform'}; name one platform")
        desc = matching[0]
    if desc.get("mediaType") not in (MEDIA_MANIFEST, DOCKER_MANIFEST):
        raise ImageFormatError(f"{where}: unsupported manifest type {desc.get('mediaType')!r}")
    manifest = _json(_verified_blob(root, desc, f"{where}: manifest"), f"{where}: manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict) \
            or not isinstance(manifest.get("layers"), list):
        raise ImageFormatError(f"{where}: the manifest has no config or layers")
    config = _json(_verified_blob(root, manifest["config"], f"{where}: config"),
                   f"{where}: config")
    diff_ids = _diff_ids(config, where)
    if check_config is not None:
        check_config(config)
    if len(diff_ids) != len(manifest["layers"]):
        raise ImageFormatError(f"{where}: the manifest lists {len(manifest['layers'])} layers, "
                               f"the config {len(diff_ids)}")
    layers = []
    for i, (ld, diff_id) in enumerate(zip(manifest["layers"], diff_ids, strict=True)):
        what = f"{where}: layer {i + 1}"
        if not isinstance(ld, dict) or ld.get("mediaType") not in LAYER_TYPES:
            raise ImageFormatError(f"{what} has the unsupported media type "
                                   f"{ld.get('mediaType') if isinstance(ld, dict) else ld!r} "
                                   "(supported: uncompressed or gzip tar; convert with "
                                   "`skopeo copy --dest-compress-format gzip`)")
        path = _blob_file(root, ld.get("digest"), what)
        compressed = LAYER_TYPES[ld["mediaType"]]
        digest, actual_diff = layer_digests(path, compressed, what,
                                            visit(i + 1) if visit else None)
        _expect(ld.get("digest"), digest, what)
        _expect(diff_id, actual_diff, f"{what} (uncompressed, the config's diff_id)")
        layers.append(LayerRef(path, compressed, digest, actual_diff, path.stat().st_size))
    name = (desc.get("annotations") or {}).get(REF_NAME) or ref
    return SourceImage(root, name, desc["digest"], config, tuple(layers))


def _read_file_capped(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return _read_capped(fh, what)
    except OSError as exc:
        raise ImageFormatError(f"cannot read {what}: {exc.strerror}") from None


def _manifests_of(index: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list) \
            or not all(isinstance(d, dict) for d in index["manifests"]):
        raise ImageFormatError(f"{what} has no list of manifests")
    return index["manifests"]


def _ref_names(index: Any) -> list[str]:
    return sorted(str((d.get("annotations") or {}).get(REF_NAME)) for d in index["manifests"]
                  if (d.get("annotations") or {}).get(REF_NAME))


def _platform_matches(p: Any, want: Platform) -> bool:
    if not isinstance(p, dict):
        return False
    return (p.get("os") == want.os and p.get("architecture") == want.architecture
            and (want.variant is None or p.get("variant") in (None, want.variant)))


def _blob_file(root: Path, digest: Any, what: str) -> Path:
    path = root / "blobs" / "sha256" / _hex(digest, f"{what}: digest")
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ImageFormatError(f"{what}: blob {digest} is missing from {root}") from None
    if not real.is_relative_to(root.resolve()) or not real.is_file():
        raise ImageFormatError(f"{what}: blob {digest} is not a file inside {root}")
    return real


def _verified_blob(root: Path, desc: Any, what: str) -> bytes:
    if not isinstance(desc, dict):
        raise ImageFormatError(f"{what}: not a descriptor")
    path = _blob_file(root, desc.get("digest"), what)
    data = _read_file_capped(path, what)
    _expect(desc.get("digest"), "sha256:" + hashlib.sha256(data).hexdigest(), what)
    if isinstance(desc.get("size"), int) and desc["size"] != len(data):
        raise ImageFormatError(f"{what}: {len(data)} bytes, its descriptor says {desc['size']}")
    return data


def _expect(expected: Any, actual: str, what: str) -> None:
    if expected != actual:
        raise ImageFormatError(f"{what}: digest mismatch: expected {expected}, got {actual}; "
                               "the image is damaged or was changed: save it again")


def _diff_ids(config: Any, where: str) -> list[str]:
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        raise ImageFormatError(f"{where}: the image config has no rootfs.diff_ids")
    for d in ids:
        _hex(d, f"{where}: diff_id")
    return ids


def read_docker_archive(archive: Path, ref: str | None, work: Path,
                        check_config: ConfigCheck | None = None,
                        visit: Visit | None = None) -> SourceImage:
    """The image tagged `ref` (or the only one) of a `docker save` tar; its config and layers
    are copied into `work` and verified (`check_config` and `visit` as for an OCI layout)."""
    archive = Path(archive)
    where = f"the docker archive {archive}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tf:
            return _read_archive(tf, archive, where, ref, work, check_config, visit)
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise ImageFormatError(f"cannot read {where}: {exc}") from None


def _read_archive(tf: tarfile.TarFile, archive: Path, where: str, ref: str | None,
                  work: Path, check_config: ConfigCheck | None, visit: Visit | None
                  ) -> SourceImage:
    members = {}
    for m in tf.getmembers():
        members[_member_name(m.name, where)] = m

    def member_file(name: Any, what: str) -> IO[bytes]:
        if not isinstance(name, str):
            raise ImageFormatError(f"{where}: {what} is not named")
        m = members.get(_member_name(name, where))
        for _ in range(8):  # `docker save` links a layer it saved already
            if m is None or not m.issym():
                break
            m = members.get(_member_name(posixpath.normpath(
                posixpath.join(posixpath.dirname(m.name), m.linkname)), where))
        if m is None or not m.isreg():
            raise ImageFormatError(f"{where}: {what} ({name[:100]}) is missing or not a file")
        fh = tf.extractfile(m)
        assert fh is not None
        return fh

    manifest = _json(_read_capped(member_file("manifest.json", "manifest.json"),
                                  f"{where}: manifest.json"), f"{where}: manifest.json")
    if not isinstance(manifest, list) or not all(isinstance(e, dict) for e in manifest):
        raise ImageFormatError(f"{where}: manifest.json is not a list of images")
    if ref is not None:
        manifest = [e for e in manifest if ref in (e.get("RepoTags") or [])]
        if not manifest:
            raise ImageFormatError(f"{where} has no image tagged {ref!r}")
    if len(manifest) != 1:
        tags = sorted(t for e in manifest for t in (e.get("RepoTags") or []))
        raise ImageFormatError(f"{where} holds {len(manifest)} images; name one with `ref:` "
                               f"(tags: {', '.join(tags) or 'none'})")
    entry = manifest[0]
    config_bytes = _read_capped(member_file(entry.get("Config"), "the config"),
                                f"{where}: config")
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    named = re.search(r"([0-9a-f]{64})(?:\.json)?$", str(entry.get("Config")))
    if named and named.group(1) != config_digest.split(":")[1]:
        _expect("sha256:" + named.group(1), config_digest, f"{where}: config")
    config = _json(config_bytes, f"{where}: config")
    diff_ids = _diff_ids(config, where)
    if check_config is not None:
        check_config(config)
    names = entry.get("Layers")
    if not isinstance(names, list) or len(names) != len(diff_ids):
        raise ImageFormatError(f"{where}: manifest.json lists "
                               f"{len(names) if isinstance(names, list) else 'no'} layers, "
                               f"the config {len(diff_ids)}")
    layers = []
    for i, (name, diff_id) in enumerate(zip(names, diff_ids, strict=True)):
        what = f"{where}: layer {i + 1}"
        dest = work / f"base-layer-{i + 1}"
        with member_file(name, what) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
        compressed = _is_gzip(dest)
        digest, actual_diff = layer_digests(dest, compressed, what,
                                            visit(i + 1) if visit else None)
        _expect(diff_id, actual_diff, f"{what} (its config's diff_id)")
        layers.append(LayerRef(dest, compressed, digest, actual_diff, dest.stat().st_size))
    tags = entry.get("RepoTags") or []
    return SourceImage(archive, ref or (tags[0] if tags else None), config_digest, config,
                       tuple(layers))


def _member_name(name: str, where: str) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or "\0" in name:
        raise ImageFormatError(f"{where}: member {name[:100]!r} leaves the archive ('..')")
    return "/".join(parts)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes what passes through it."""

    def __init__(self, inner: IO[bytes]):
        self.inner = inner
        self.h = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.inner.read(len(buf))
        self.h.update(data)
        buf[:len(data)] = data
        return len(data)

    def drain(self) -> str:
        """Read to the end; the digest of everything that passed."""
        while self.read(_CHUNK):
            pass
        return "sha256:" + self.h.hexdigest()


def layer_digests(path: Path, compressed: bool, what: str,
                  visit: Callable[[tarfile.TarInfo, IO[bytes] | None], None] | None = None
                  ) -> tuple[str, str]:
    """(digest of the blob, digest of the uncompressed tar), reading the layer once; every
    member is checked (see the module's rules) and, with `visit`, shown to the caller with a
    reader of its data (files only)."""
    try:
        with open(path, "rb") as raw:
            outer = _Hashing(raw)
            inner_src: IO[bytes] = gzip.GzipFile(fileobj=outer, mode="rb") if compressed \
                else outer  # type: ignore[assignment]
            inner = _Hashing(inner_src)
            seen: set[str] = set()
            with tarfile.open(fileobj=inner, mode="r|") as tf:
                for m in tf:
                    check_member(m, seen, what)
                    if visit is not None:
                        visit(m, tf.extractfile(m) if m.isreg() else None)
            diff_id = inner.drain()
            digest = outer.drain() if compressed else diff_id
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ImageFormatError(f"{what} is not a readable tar layer ({exc})") from None
    return digest, diff_id


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


def mode_of(m: tarfile.TarInfo) -> int:
    return stat.S_IMODE(m.mode)


@dataclass
class TreeIndex:
    """The file tree a stack of layers makes (whiteouts applied): path -> (type, link target),
    plus the contents of a few small files the caller asked for."""

    entries: dict[str, tuple[str, str]] = field(default_factory=dict)
    wanted: tuple[str, ...] = ()
    contents: dict[str, bytes] = field(default_factory=dict)

    def add(self, m: tarfile.TarInfo) -> str:
        """Apply one layer member (whiteouts included); returns its absolute path. The caller
        stores the contents of the `wanted` files it reads."""
        path = "/" + "/".join(p for p in m.name.split("/") if p not in ("", "."))
        folder, base = posixpath.split(path)
        if base == ".wh..wh..opq":
            self._drop_below(folder)
            return path
        if base.startswith(".wh."):
            gone = posixpath.join(folder, base[4:])
            self.entries.pop(gone, None)
            self.contents.pop(gone, None)
            self._drop_below(gone)
            return path
        kind = "dir" if m.isdir() else "symlink" if m.issym() else "file"
        if kind != "dir":
            self._drop_below(path)
        self.entries[path] = (kind, m.linkname if m.issym() else "")
        self.contents.pop(path, None)
        return path

    def _drop_below(self, folder: str) -> None:
        prefix = folder.rstrip("/") + "/"
        for p in [p for p in self.entries if p.startswith(prefix)]:
            del self.entries[p]
            self.contents.pop(p, None)

    def resolve(self, path: str) -> str | None:
        """The real path `path` names in the tree (links followed inside it); None for a loop."""
        parts = [p for p in path.split("/") if p]
        cur = ""
        hops = 0
        while parts:
            comp = parts.pop(0)
            if comp == ".":
                continue
            if comp == "..":
                cur = cur.rpartition("/")[0]
                continue
            cand = f"{cur}/{comp}"
            kind, target = self.entries.get(cand, ("", ""))
            if kind == "symlink":
                hops += 1
                if hops > 40:
                    return None
                if target.startswith("/"):
                    cur = ""
                parts = [p for p in target.split("/") if p] + parts
                continue
            cur = cand  # a folder, or absent (layers need not list every folder)
        return cur or "/"

    def has_file(self, path: str) -> bool:
        real = self.resolve(path)
        return real is not None and self.entries.get(real, ("",))[0] == "file"
