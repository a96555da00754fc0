"""The release's container image: what goes in, and writing it as an OCI image layout and a
docker archive (loaded into the local engine as <repository>:<version>-<board> by engine.py).

What goes in (`plan_container_image`, computed from the release input and
images/<name>/image.yaml, testable without an engine): the app under its prefix, the exact
DT_NEEDED closure of its system libraries with the loader (closure.py) taken from the board's
sysroot, /etc/passwd, /etc/group and /etc/nsswitch.conf for a non-root user, /tmp; nothing else.
With a base image (base.py) its layers come first, and the system libraries it already has are
left out. Two layers of our own, the system part and the app, so a new app version reuses the
first.

Writing (`write_container_image`): layout.py's deterministic writer; no engine is involved until
the archive is loaded, so rebuilding gives the same bytes (times come from SOURCE_DATE_EPOCH).
Every layer, the base's included, is scanned: an ELF file of another machine, or a private key
or a credentials file, stops the release. The result is recorded as image.json (record.py).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeforge import __version__
from edgeforge.config import Arch, ContainerImageDef, recipe_licenses, tag_version
from edgeforge.core import (
    DescriptorError,
    ImageContentError,
    Runner,
    UsageError,
    rmtree,
    sha256_file,
    write_atomic,
)
from edgeforge.elf import closure

from ..inputs import ReleaseInput, shipped_packages
from ..scan import ContentScan
from ..shlibdeps import package_licence
from . import layout as oci
from . import read as ociread
from .base import Base, base_history, open_base
from .engine import load_into_engine
from .record import CONTAINER_RECORD, ContainerImageFile, ContainerResult

LABEL_PREFIX = "io.edgeforge"
OCI_LABEL = "org.opencontainers.image"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NSSWITCH = b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"


# ---- users ----------------------------------------------------------------------------------------
def passwd_files(user_name: str, uid: int, gid: int, home: str, base_passwd: bytes | None,
                 base_group: bytes | None) -> tuple[bytes, bytes]:
    """/etc/passwd and /etc/group with the image's user and group: the base's lines (or root's
    alone) and ours; a base that gives the name or the id to someone else is refused."""
    passwd = (base_passwd or b"root:x:0:0:root:/root:/usr/sbin/nologin\n").decode(errors="replace")
    group = (base_group or b"root:x:0:\n").decode(errors="replace")

    def add(text: str, line: str, name: str, num: int, what: str) -> str:
        for row in text.splitlines():
            f = row.split(":")
            if len(f) < 3:
                continue
            if f[0] == name or f[2] == str(num):
                if f[0] == name and f[2] == str(num):
                    return text  # already there
                given = f"the name {name}" if f[0] == name else f"the id {num}"
                raise DescriptorError(
                    f"the base image's /etc/{what} gives {given} to {f[0]!r} (id {f[2]}); "
                    "choose another user name or id in image.yaml (user:)")
        return text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"

    passwd = add(passwd, f"{user_name}:x:{uid}:{gid}:{user_name}:{home}:/usr/sbin/nologin",
                 user_name, uid, "passwd")
    group = add(group, f"{user_name}:x:{gid}:", user_name, gid, "group")
    return passwd.encode(), group.encode()



# ---- what goes in -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContainerImagePlan:
    tag: str
    ref_name: str                                  # the tag's version-board part
    platform: oci.Platform
    layers: tuple[tuple[str, tuple[oci.Entry, ...]], ...]   # (what, entries)
    files: tuple[ContainerImageFile, ...]
    config: dict[str, Any]                         # User, Env, Entrypoint, Cmd, WorkingDir, Labels
    annotations: dict[str, str]


def system_entries(libs: closure.Closure, sysroot: Path, arch: Arch, base: Base | None
                   ) -> tuple[list[oci.Entry], list[ContainerImageFile]]:
    """The closure's links and files as layer entries, each with its package. On a base, only
    the libraries it lacks, put into the base's own folders (its /lib may be a folder where the
    sysroot has a link, or the other way round)."""
    owners = closure.dpkg_owners(sysroot)
    entries: list[oci.Entry] = []
    files: list[ContainerImageFile] = []

    def add(e: closure.TreeEntry, at: str | None = None) -> None:
        path = at or e.path
        pkg = closure.owner_of(owners, sysroot, e.path)
        package, version = (pkg.package, pkg.version) if pkg else (None, None)
        if e.kind == "file":
            entries.append(oci.file_entry(path, e.source))
            files.append(ContainerImageFile(path, "file", "sysroot", e.path, package, version,
                                   sha256_file(e.source), e.source.stat().st_size))
        else:
            entries.append(oci.Entry(path, "symlink", target=e.target))
            files.append(ContainerImageFile(path, "symlink", "sysroot", e.path, package, version,
                                   target=e.target))

    if base is None:
        for e in libs.entries:
            add(e)
        return entries, files
    dirs = (f"/lib/{arch.multiarch}", f"/usr/lib/{arch.multiarch}", "/lib", "/usr/lib")
    for lib in (libs.loader, *libs.libraries):
        name = posixpath.basename(lib.path)
        if base.tree.has_file(lib.path) or (lib is not libs.loader and any(
                base.tree.has_file(f"{d}/{name}") for d in dirs)):
            continue
        folder = posixpath.dirname(lib.path)
        folder = base.tree.resolve(folder) or folder
        real = closure.resolve(sysroot, lib.path)[-1]
        real_name = posixpath.basename(real.path)
        add(real, posixpath.join(folder, real_name))
        if name != real_name:
            add(closure.TreeEntry(lib.path, "symlink", real_name, real.source),
                posixpath.join(folder, name))
    return entries, files


def app_entries(app_dir: Path, prefix: str) -> tuple[list[oci.Entry], list[ContainerImageFile]]:
    """The installed app under `prefix`; a link leaving the app folder is refused."""
    entries: list[oci.Entry] = [oci.Entry(prefix, "dir", 0o755)]
    files: list[ContainerImageFile] = []
    for p in sorted(app_dir.rglob("*")):
        rel = str(p.relative_to(app_dir))
        path = f"{prefix}/{rel}"
        if p.is_symlink():
            target = p.readlink().as_posix()
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if target.startswith("/") or not resolved.startswith(prefix + "/"):
                raise ImageContentError(f"{p} links to {target!r}, outside the app folder: the "
                                        "container image would carry a dangling link")
            entries.append(oci.Entry(path, "symlink", target=target))
            files.append(ContainerImageFile(path, "symlink", "app", rel, target=target))
        elif p.is_dir():
            entries.append(oci.Entry(path, "dir", 0o755))
        elif p.is_file():
            entries.append(oci.file_entry(path, p))
            files.append(ContainerImageFile(path, "file", "app", rel, sha256=sha256_file(p),
                                   size=p.stat().st_size))
    return entries, files


def plan_container_image(inp: ReleaseInput, image_def: ContainerImageDef,
                         base: Base | None = None) -> ContainerImagePlan:
    arch = inp.target.arch
    prefix = image_def.prefix
    needed, private, interpreters = closure.app_needed(inp.app_dir, prefix)
    if not needed:
        raise UsageError(f"no ELF file in {inp.app_dir}: is the app built?")
    if len(interpreters) > 1:
        raise ImageContentError(f"the app's programs ask for different loaders: "
                                f"{', '.join(sorted(interpreters))}")
    libs = closure.closure(Path(inp.sysroot), arch, needed,
                           interpreter=next(iter(interpreters), arch.interpreter),
                           private=private, extra=image_def.extra_libraries, what=inp.app_name)
    system, files = system_entries(libs, Path(inp.sysroot), arch, base)

    user = image_def.user
    passwd, group = passwd_files(user.name, user.uid, user.gid, user.home,
                                 base.tree.contents.get("/etc/passwd") if base else None,
                                 base.tree.contents.get("/etc/group") if base else None)
    generated = {"/etc/passwd": passwd, "/etc/group": group}
    if base is None:
        generated["/etc/nsswitch.conf"] = NSSWITCH
        system.append(oci.Entry("/tmp", "dir", 0o1777))
    for path, data in generated.items():
        system.append(oci.Entry(path, "file", 0o644, data=data))
        files.append(ContainerImageFile(path, "file", "generated", "edgeforge",
                               sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    app, app_files = app_entries(inp.app_dir, prefix)
    files += app_files

    in_image = {f.path for f in files} | ({p for p in base.tree.entries} if base else set())
    program = image_def.entrypoint[0]
    if program not in in_image:
        programs = sorted(f.path for f in files if f.source == "app" and "/bin/" in f.path)
        raise DescriptorError(f"entrypoint in image.yaml: {program} is not a file of the "
                              f"container image (the app installs "
                              f"{', '.join(programs) or 'no program'})")

    labels = container_image_labels(inp, image_def, [f for f in files if f.source == "sysroot"],
                                    base)
    base_env = list((base.image.config.get("config") or {}).get("Env") or []) if base else []
    env = merge_env(base_env, prefix, image_def.env, libs.search_dirs if base is None else ())
    config = {
        "User": f"{user.uid}:{user.gid}",
        "Env": env,
        "Entrypoint": list(image_def.entrypoint),
        "Cmd": list(image_def.cmd),
        "WorkingDir": image_def.workdir,
        "Labels": labels,
    }
    annotations = {k: v for k, v in labels.items() if k.startswith(OCI_LABEL + ".")}
    layers = (("system libraries (DT_NEEDED closure and loader) from "
               f"{inp.target.sysroot.name}, user {user.name}", tuple(oci.layer_entries(system))),
              (f"{inp.app_name} {inp.version} in {prefix}", tuple(oci.layer_entries(app))))
    ref_name = f"{tag_version(inp.version)}-{inp.board}"
    return ContainerImagePlan(image_def.tag_for(inp.version, inp.board), ref_name,
                     oci.platform_for(arch), layers,
                     tuple(sorted(files, key=lambda f: f.path)), config, annotations)


def merge_env(base_env: Sequence[str], prefix: str, extra: Mapping[str, str],
              search_dirs: Sequence[str]) -> list[str]:
    """The base's environment, then the image's: PATH starts with the app's bin/; libraries
    outside the loader's default folders are found through LD_LIBRARY_PATH."""
    env: dict[str, str] = {}
    for item in base_env:
        k, _, v = item.partition("=")
        env[k] = v
    env["PATH"] = f"{prefix}/bin:" + env.get("PATH", DEFAULT_PATH)
    if search_dirs:
        env["LD_LIBRARY_PATH"] = ":".join([*search_dirs, *filter(None, [env.get("LD_LIBRARY_PATH")])])
    env.update(extra)
    return [f"{k}={v}" for k, v in env.items()]


def licence_expression(licences: Sequence[str]) -> str:
    """One SPDX expression for everything in the image: each licence once, AND-joined."""
    parts = set()
    for lic in licences:
        lic = " ".join(lic.split())
        if not lic:
            continue
        parts.add(f"({lic})" if " OR " in lic and not lic.startswith("(") else lic)
    return " AND ".join(sorted(parts))


def container_image_labels(inp: ReleaseInput, image_def: ContainerImageDef,
                           system: Sequence[ContainerImageFile], base: Base | None
                           ) -> dict[str, str]:
    licences = [image_def.license]
    for pkg in shipped_packages(inp):
        licences += recipe_licenses(pkg.recipe_dir)
    for package in sorted({f.package for f in system if f.package}):
        licences += [lic for lic in [package_licence(Path(inp.sysroot), package)] if lic]
    t = inp.target
    labels: dict[str, str] = {}
    if base is not None:
        inherited = (base.image.config.get("config") or {}).get("Labels") or {}
        labels.update({str(k): str(v) for k, v in inherited.items()})
        labels[f"{OCI_LABEL}.base.name"] = base.image.name or str(base.image.source)
        labels[f"{OCI_LABEL}.base.digest"] = base.image.digest
    labels.update({
        f"{OCI_LABEL}.title": image_def.title,
        f"{OCI_LABEL}.description": image_def.description,
        f"{OCI_LABEL}.vendor": image_def.vendor,
        f"{OCI_LABEL}.version": inp.version,
        f"{OCI_LABEL}.revision": inp.revision,
        f"{OCI_LABEL}.source": image_def.source,
        f"{OCI_LABEL}.created": oci.rfc3339(inp.source_date_epoch),
        f"{OCI_LABEL}.licenses": licence_expression(licences),
        f"{LABEL_PREFIX}.board": t.name,
        f"{LABEL_PREFIX}.board.device-os": t.board.spec.device_os,
        f"{LABEL_PREFIX}.arch": t.arch.value,
        f"{LABEL_PREFIX}.sysroot": t.sysroot.name,
        f"{LABEL_PREFIX}.abi.glibc": t.abi.glibc,
        f"{LABEL_PREFIX}.abi.glibcxx": t.abi.glibcxx,
        f"{LABEL_PREFIX}.abi.strategy": t.abi.strategy.value,
    })
    if t.abi.cxxabi:
        labels[f"{LABEL_PREFIX}.abi.cxxabi"] = t.abi.cxxabi
    labels.update(image_def.labels)
    return labels



# ---- writing --------------------------------------------------------------------------------------
def stem(repository: str, version: str, board: str | None = None) -> str:
    name = repository.rsplit("/", 1)[-1]
    return f"{name}-{tag_version(version)}" + (f"-{board}" if board else "")


def write_container_image(inp: ReleaseInput, image_def: ContainerImageDef, out_dir: Path,
                          runner: Runner, *, load: bool = True) -> ContainerResult:
    """Write the board's container image into `out_dir` (a staging folder): <stem>.oci/ (OCI layout),
    <stem>.docker.tar (docker archive) and image.json (this result); with `load`, load the
    archive into the local engine and check what it holds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reporter = runner.reporter
    arch = inp.target.arch
    platform = oci.platform_for(arch)
    work = out_dir / ".work"
    rmtree(work)
    work.mkdir()
    try:
        base = None
        spec = image_def.base
        if spec is not None and spec.applies_to(inp.board):
            with reporter.step(f"reading the base image {spec.path}"):
                scan = ContentScan(arch, spec.foreign_elf_allowed,
                                   ociread.TreeIndex(wanted=("/etc/passwd", "/etc/group")))
                base = open_base(spec, platform, arch, work, scan)
                scan.check(inp.board)
        plan = plan_container_image(inp, image_def, base)
        result = write_plan(plan, inp, image_def, out_dir, work, base)
    finally:
        rmtree(work)
    reporter.info(f"container image {result.tag} ({result.platform}): "
                  f"{result.compressed_size / 1e6:.1f} MB compressed, "
                  f"{result.uncompressed_size / 1e6:.1f} MB unpacked, "
                  f"id {result.config_digest[:19]}")
    if load:
        load_into_engine(result)
        result = replace(result, loaded=True)
    return result


def write_plan(plan: ContainerImagePlan, inp: ReleaseInput, image_def: ContainerImageDef,
               out_dir: Path, work: Path, base: Base | None) -> ContainerResult:
    epoch = inp.source_date_epoch
    name = stem(image_def.repository, inp.version, inp.board)
    layout_dir = out_dir / f"{name}.oci"
    rmtree(layout_dir)
    layout = oci.Layout(layout_dir)
    created = oci.rfc3339(epoch)
    layer_descs: list[oci.Descriptor] = []
    diff_ids: list[str] = []
    tars: list[tuple[str, Path]] = []
    history: list[dict[str, Any]] = []
    if base is not None:
        history += base_history(base)
        for i, layer in enumerate(base.image.layers):
            if layer.compressed:
                desc = layout.put_file(layer.path, oci.MEDIA_LAYER_GZIP, digest=layer.digest)
                tar = work / f"base-{i}.tar"
                oci.gunzip_file(layer.path, tar)
            else:
                gz = work / f"base-{i}.tar.gz"
                oci.gzip_file(layer.path, gz)
                desc = layout.put_file(gz, oci.MEDIA_LAYER_GZIP, move=True)
                tar = layer.path
            layer_descs.append(desc)
            diff_ids.append(layer.diff_id)
            tars.append((layer.diff_id, tar))
    own: list[oci.LayerBlob] = []
    for i, (what, entries) in enumerate(plan.layers):
        blob = oci.write_layer(entries, layout, work, epoch, f"layer-{i}")
        own.append(blob)
        layer_descs.append(blob.descriptor)
        diff_ids.append(blob.diff_id)
        assert blob.tar is not None
        tars.append((blob.diff_id, blob.tar))
        history.append({"created": created, "created_by": f"edgeforge {__version__}: {what}"})

    # every layer of our own is read back and scanned (the base's were, when it was read)
    scan = ContentScan(inp.target.arch, elf_keys_under=image_def.prefix)
    for i, blob in enumerate(own):
        digest, diff_id = ociread.layer_digests(layout.blob_path(blob.descriptor.digest), True,
                                                f"layer {i + 1} of {plan.tag}",
                                                visit=scan.visitor(plan.layers[i][0]))
        if (digest, diff_id) != (blob.descriptor.digest, blob.diff_id):
            raise RuntimeError(f"layer {i + 1} of {plan.tag} reads back differently: a bug")
    scan.check(inp.board)

    config = oci.image_config(plan.platform, epoch, plan.config, diff_ids, history)
    config_bytes = oci.canonical_json(config)
    config_desc = layout.put_bytes(config_bytes, oci.MEDIA_CONFIG)
    manifest_desc = layout.put_json(oci.image_manifest(config_desc, layer_descs, plan.annotations),
                                    oci.MEDIA_MANIFEST)
    layout.finish([oci.Descriptor(oci.MEDIA_MANIFEST, manifest_desc.digest, manifest_desc.size,
                                  annotations={oci.REF_NAME: plan.ref_name},
                                  platform=plan.platform)])
    archive = oci.write_docker_archive(out_dir / f"{name}.docker.tar", config_bytes, tars,
                                       [plan.tag], epoch)
    result = ContainerResult(
        board=inp.board, repository=image_def.repository, version=inp.version, tag=plan.tag,
        platform=str(plan.platform), oci_layout=layout_dir, docker_archive=archive,
        manifest_digest=manifest_desc.digest, manifest_size=manifest_desc.size,
        config_digest=config_desc.digest,
        compressed_size=config_desc.size + sum(d.size for d in layer_descs),
        uncompressed_size=sum(p.stat().st_size for _, p in tars),
        files=plan.files, base=base.label if base else None)
    write_atomic(out_dir / CONTAINER_RECORD,
                 json.dumps(result.to_json(out_dir), indent=2, sort_keys=True) + "\n")
    return result

