"""Reading an image someone else made (a base image): an OCI layout or a docker archive.

It is hostile input. JSON files are size- and depth-capped and every key edgeforge uses is
type-checked where its document is read (a wrong type is ImageFormatError naming the key);
digests must be sha256 and are recomputed for every blob (index, manifest, config, layers),
and every layer's uncompressed digest must match the config's diff_ids; blob paths must stay
inside the layout. Layers are never extracted: they are streamed once, every member checked
by oci.check_member (a '..' component or a NUL byte, a device node or FIFO, a hard link to
anything but an earlier member refuse the whole image) and shown to the caller's visitor
(content scans, the tree index below).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import re
import shutil
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edgeforge.core import ImageFormatError, jsonfile
from edgeforge.elf import LinkLoop, walk_links

from .layout import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    LAYER_TYPES,
    LAYOUT_VERSION,
    MAX_JSON,
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    REF_NAME,
    Platform,
    check_member,
    digest_hex,
)

_CHUNK = 1 << 20


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


def _json(data: bytes, what: str) -> Any:
    """Capped by the caller; too deep or not JSON is ImageFormatError (exit 6)."""
    return jsonfile.parse(data, what, ImageFormatError)


def _read_capped(fh: IO[bytes], what: str) -> bytes:
    data = fh.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ImageFormatError(f"{what} is larger than {MAX_JSON >> 20} MiB: not an image file")
    return data


# ---- the documents' shapes: every key edgeforge uses, checked once where a document is read ----
_AGAIN = "; the image is damaged or was not written by an image tool: save it again"
_TEXT, _COUNT, _OBJECT, _LIST, _FLAG = "a text", "a whole number", "an object", "a list", \
    "true or false"
_IS: dict[str, Callable[[Any], bool]] = {
    _TEXT: lambda v: isinstance(v, str),
    _COUNT: lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    _OBJECT: lambda v: isinstance(v, dict),
    _LIST: lambda v: isinstance(v, list),
    _FLAG: lambda v: isinstance(v, bool),
}


def _json_kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return f"the number {str(value)[:40]}"
    return {str: "a text", list: "a list", dict: "an object"}.get(type(value), "a value")


def _wrong(what: str, key: str, expected: str, value: Any) -> ImageFormatError:
    return ImageFormatError(f"{what}: '{key}' is {_json_kind(value)}, expected {expected}{_AGAIN}")


def _field(doc: dict[str, Any], key: str, expected: str, what: str, prefix: str = "", *,
           required: bool = False) -> Any:
    """doc[key] when it is of the `expected` kind; None when absent or null (unless
    `required`); anything else is ImageFormatError naming `what` and the key."""
    value = doc.get(key)
    if value is None:
        if required:
            raise ImageFormatError(f"{what}: '{prefix}{key}' is missing{_AGAIN}")
        return None
    if not _IS[expected](value):
        raise _wrong(what, prefix + key, expected, value)
    return value


def _top(doc: Any, expected: str, what: str) -> Any:
    if not _IS[expected](doc):
        raise ImageFormatError(f"{what} is {_json_kind(doc)}, expected {expected}{_AGAIN}")
    return doc


def _texts(doc: dict[str, Any], key: str, what: str, prefix: str = "") -> None:
    """doc[key], when present, a list of texts (Env, RepoTags, Layers)."""
    for i, v in enumerate(_field(doc, key, _LIST, what, prefix) or []):
        if not isinstance(v, str):
            raise _wrong(what, f"{prefix}{key}[{i}]", _TEXT, v)


def _descriptor(d: Any, what: str, key: str) -> dict[str, Any]:
    """An OCI descriptor: mediaType, digest (sha256), size, annotations, platform."""
    if not isinstance(d, dict):
        raise _wrong(what, key, "an object (a descriptor)", d)
    p = key + "."
    _field(d, "mediaType", _TEXT, what, p)
    digest_hex(_field(d, "digest", _TEXT, what, p, required=True), f"{what}: '{p}digest'")
    _field(d, "size", _COUNT, what, p)
    for k, v in (_field(d, "annotations", _OBJECT, what, p) or {}).items():
        if not isinstance(v, str):
            raise _wrong(what, f"{p}annotations.{k}", _TEXT, v)
    platform = _field(d, "platform", _OBJECT, what, p)
    for k in ("os", "architecture", "variant"):
        _field(platform or {}, k, _TEXT, what, f"{p}platform.")
    return d


def _index(doc: Any, what: str) -> list[dict[str, Any]]:
    """The descriptors of an image index (index.json or a nested index blob)."""
    manifests = _field(_top(doc, _OBJECT, what), "manifests", _LIST, what, required=True)
    return [_descriptor(d, what, f"manifests[{i}]") for i, d in enumerate(manifests)]


def _manifest(doc: Any, what: str) -> dict[str, Any]:
    _top(doc, _OBJECT, what)
    _descriptor(_field(doc, "config", _OBJECT, what, required=True), what, "config")
    for i, d in enumerate(_field(doc, "layers", _LIST, what, required=True)):
        _descriptor(d, what, f"layers[{i}]")
    return doc


def _config(doc: Any, what: str) -> dict[str, Any]:
    """An image config: platform, the run config's Env and Labels, rootfs, history."""
    _top(doc, _OBJECT, what)
    for k in ("os", "architecture", "variant", "created"):
        _field(doc, k, _TEXT, what)
    run = _field(doc, "config", _OBJECT, what) or {}
    _texts(run, "Env", what, "config.")
    for k, v in (_field(run, "Labels", _OBJECT, what, "config.") or {}).items():
        if not isinstance(v, str):
            raise _wrong(what, f"config.Labels.{k}", _TEXT, v)
    rootfs = _field(doc, "rootfs", _OBJECT, what, required=True)
    for i, d in enumerate(_field(rootfs, "diff_ids", _LIST, what, "rootfs.", required=True)):
        digest_hex(d, f"{what}: 'rootfs.diff_ids[{i}]'")
    for i, h in enumerate(_field(doc, "history", _LIST, what) or []):
        if not isinstance(h, dict):
            raise _wrong(what, f"history[{i}]", _OBJECT, h)
        _field(h, "empty_layer", _FLAG, what, f"history[{i}].")
        for k in ("created", "created_by", "author", "comment"):
            _field(h, k, _TEXT, what, f"history[{i}].")
    return doc


def _archive_manifest(doc: Any, what: str) -> list[dict[str, Any]]:
    """`docker save`'s manifest.json: [{Config, RepoTags, Layers}]."""
    for i, e in enumerate(_top(doc, _LIST, what)):
        if not isinstance(e, dict):
            raise _wrong(what, f"[{i}]", _OBJECT, e)
        _field(e, "Config", _TEXT, what, f"[{i}].", required=True)
        _texts(e, "RepoTags", what, f"[{i}].")
        _field(e, "Layers", _LIST, what, f"[{i}].", required=True)
        _texts(e, "Layers", what, f"[{i}].")
    return doc


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
    candidates = _index(index, f"{where}: index.json")
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
        what = f"{where}: the image index {_blob_name(desc)}"
        nested = _json(_verified_blob(root, desc, what), what)
        matching = [d for d in _index(nested, what)
                    if platform is None or _platform_matches(d.get("platform"), platform)]
        if len(matching) != 1:
            raise ImageFormatError(f"{where}: the image index has {len(matching)} images for "
                                   f"{platform or 'any platform'}; name one platform")
        desc = matching[0]
    if desc.get("mediaType") not in (MEDIA_MANIFEST, DOCKER_MANIFEST):
        raise ImageFormatError(f"{where}: unsupported manifest type {desc.get('mediaType')!r}")
    what = f"{where}: the manifest {_blob_name(desc)}"
    manifest = _manifest(_json(_verified_blob(root, desc, what), what), what)
    what = f"{where}: the config {_blob_name(manifest['config'])}"
    config = _config(_json(_verified_blob(root, manifest["config"], what), what), what)
    diff_ids = config["rootfs"]["diff_ids"]
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


def _blob_name(desc: dict[str, Any]) -> str:
    """Where a checked descriptor's blob is in a layout."""
    return f"(blobs/sha256/{str(desc['digest']).removeprefix('sha256:')})"


def _ref_names(index: Any) -> list[str]:
    return sorted(str((d.get("annotations") or {}).get(REF_NAME)) for d in index["manifests"]
                  if (d.get("annotations") or {}).get(REF_NAME))


def _platform_matches(p: Any, want: Platform) -> bool:
    if not isinstance(p, dict):
        return False
    return (p.get("os") == want.os and p.get("architecture") == want.architecture
            and (want.variant is None or p.get("variant") in (None, want.variant)))


def _blob_file(root: Path, digest: Any, what: str) -> Path:
    path = root / "blobs" / "sha256" / digest_hex(digest, f"{what}: digest")
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

    manifest = _archive_manifest(_json(_read_capped(
        member_file("manifest.json", "manifest.json"), f"{where}: manifest.json"),
        f"{where}: manifest.json"), f"{where}: manifest.json")
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
    what = f"{where}: the config {entry['Config'][:100]}"
    config = _config(_json(config_bytes, what), what)
    diff_ids = config["rootfs"]["diff_ids"]
    if check_config is not None:
        check_config(config)
    names = entry["Layers"]
    if len(names) != len(diff_ids):
        raise ImageFormatError(f"{where}: manifest.json lists {len(names)} layers, the config "
                               f"{len(diff_ids)}")
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
        def readlink(p: str) -> str | None:
            kind, target = self.entries.get(p, ("", ""))
            return target if kind == "symlink" else None

        try:  # a folder may be absent: layers need not list every folder
            return walk_links(path, readlink, 40)[1]
        except LinkLoop:
            return None

    def has_file(self, path: str) -> bool:
        real = self.resolve(path)
        return real is not None and self.entries.get(real, ("",))[0] == "file"
