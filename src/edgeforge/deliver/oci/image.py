"""The release's container image: an OCI image layout, a docker archive, and the image loaded
into the local engine as <repository>:<version>-<board>.

What goes in (`plan_image`, computed from the release input and images/<name>/image.yaml,
testable without an engine): the app under its prefix, the exact DT_NEEDED closure of its system
libraries with the loader (closure.py) taken from the board's sysroot, /etc/passwd, /etc/group
and /etc/nsswitch.conf for a non-root user, /tmp; nothing else. With a base image its layers come
first, and the system libraries it already has are left out. Two layers of our own, the system
part and the app, so a new app version reuses the first.

Writing (`write_container_image`): oci.py's deterministic writer; no engine is involved until the
archive is loaded, so rebuilding gives the same bytes (times come from SOURCE_DATE_EPOCH). Every
layer, the base's included, is scanned: an ELF file of another machine, or a private key or a
credentials file, stops the release. After `docker load` the engine is asked what it loaded:
the image ID must be the config digest and the platform the board's.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeforge import __version__
from edgeforge.config import Arch, BaseSpec, ImageDef, expand_path, tag_version
from edgeforge.core import (
    DescriptorError,
    EdgeforgeError,
    HostSetupError,
    Runner,
    UsageError,
    rmtree,
    sha256_file,
    write_atomic,
)
from edgeforge.elf import closure

from ..inputs import ReleaseInput, shipped_packages
from ..scan import ContentScan, ImageContentError
from . import layout as oci
from . import read as ociread

if TYPE_CHECKING:
    from edgeforge.config import Target
    from edgeforge.context import Context

RECORD = "image.json"
LABEL_PREFIX = "io.edgeforge"
OCI_LABEL = "org.opencontainers.image"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NSSWITCH = b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"


class ImageLoadError(EdgeforgeError):
    """The container engine refused the image or loaded something else."""

    exit_code = 4


# ---- the result ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageFile:
    """A file or link of the image's own layers, and where it came from (for the SBOM)."""

    path: str                        # in the image
    kind: str                        # file | symlink
    source: str                      # app | sysroot | generated
    origin: str                      # app: path in the app folder; sysroot: path in the sysroot
    package: str | None = None       # sysroot: the Debian package that ships it
    package_version: str | None = None
    sha256: str | None = None
    size: int = 0
    target: str | None = None        # a link's target


@dataclass(frozen=True)
class ContainerResult:
    board: str
    repository: str
    version: str
    tag: str                         # edge-infer:1.0.0_git20261124.e79c14f-jetson-nx
    platform: str                    # linux/arm64, linux/arm/v7
    oci_layout: Path                 # folder: oci-layout, index.json, blobs/
    docker_archive: Path             # `docker load -i` it
    manifest_digest: str
    manifest_size: int
    config_digest: str               # = the image ID in the engine
    compressed_size: int             # config and layer blobs, as a registry stores them
    uncompressed_size: int           # the layers' tar streams, as the engine unpacks them
    files: tuple[ImageFile, ...]
    base: str | None = None          # name@digest of the base image, if any
    loaded: bool = False

    def to_json(self, folder: Path) -> dict[str, Any]:
        d = asdict(self)
        d["oci_layout"] = str(self.oci_layout.relative_to(folder))
        d["docker_archive"] = str(self.docker_archive.relative_to(folder))
        d["files"] = [{k: v for k, v in asdict(f).items() if v is not None} for f in self.files]
        d.pop("loaded")
        return d

    def system_files(self) -> list[ImageFile]:
        return [f for f in self.files if f.source == "sysroot"]


def read_result(folder: Path) -> ContainerResult:
    """The ContainerResult recorded in `folder` (the image step's folder or a release folder)."""
    from edgeforge.core import jsonfile

    folder = Path(folder)
    path = folder / RECORD
    fix = f"fix: delete {folder} and run `invoke release` for its board again"
    r = jsonfile.read_typed(path, ContainerResult, f"the image record {path}", HostSetupError,
                            fix=fix)
    for key in ("oci_layout", "docker_archive"):  # written as names inside the folder
        rel = getattr(r, key)
        if rel.is_absolute() or ".." in rel.parts:
            raise HostSetupError(f"the image record {path}: key '{key}' is not a name inside "
                                 f"{folder}; {fix}")
    return replace(r, oci_layout=folder / r.oci_layout, docker_archive=folder / r.docker_archive)


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


# ---- the base image -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Base:
    image: ociread.SourceImage
    tree: ociread.TreeIndex
    spec: BaseSpec

    @property
    def label(self) -> str:
        return f"{self.image.name or self.image.source.name}@{self.image.digest}"


def check_base_platform(config: Mapping[str, Any], want: oci.Platform, where: str) -> None:
    got = oci.Platform(str(config.get("os", "")), str(config.get("architecture", "")),
                       config.get("variant") or None)
    if got.os != want.os or got.architecture != want.architecture or (
            want.variant and got.variant not in (None, want.variant)):
        raise DescriptorError(
            f"the base image {where} is for {got}, the board needs {want}; use the base built "
            f"for {want} (e.g. `docker save` after `docker pull --platform {want}`) or remove "
            "base: from image.yaml")
    env = config.get("config", {}).get("Env") if isinstance(config.get("config"), dict) else None
    if env is not None and (not isinstance(env, list) or not all(isinstance(e, str) for e in env)):
        raise DescriptorError(f"the base image {where}: its config's Env is not a list of texts")


def open_base(spec: BaseSpec, platform: oci.Platform, arch: Arch, work: Path,
              scan: ContentScan) -> Base:
    path = expand_path(spec.path)
    if "$" in str(path):
        raise DescriptorError(f"base.path {spec.path!r} in image.yaml names an environment "
                              "variable that is not set; set it to the base image's path")
    if not path.exists():
        raise DescriptorError(f"base.path {spec.path!r} in image.yaml: {path} does not exist; "
                              "point it at an OCI layout folder or a `docker save` tar")
    where = str(path)
    if spec.format == "oci":
        image = ociread.read_oci_layout(path, spec.ref, platform,
                                    check_config=lambda c: check_base_platform(c, platform, where),
                                    visit=lambda i: scan.visitor(f"base layer {i}"))
    else:
        image = ociread.read_docker_archive(path, spec.ref, work,
                                        check_config=lambda c: check_base_platform(c, platform,
                                                                                   where),
                                        visit=lambda i: scan.visitor(f"base layer {i}"))
    assert scan.tree is not None
    return Base(image, scan.tree, spec)


# ---- what goes in -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImagePlan:
    tag: str
    ref_name: str                                  # the tag's version-board part
    platform: oci.Platform
    layers: tuple[tuple[str, tuple[oci.Entry, ...]], ...]   # (what, entries)
    files: tuple[ImageFile, ...]
    config: dict[str, Any]                         # User, Env, Entrypoint, Cmd, WorkingDir, Labels
    annotations: dict[str, str]


def system_entries(libs: closure.Closure, sysroot: Path, arch: Arch, base: Base | None
                   ) -> tuple[list[oci.Entry], list[ImageFile]]:
    """The closure's links and files as layer entries, each with its package. On a base, only
    the libraries it lacks, put into the base's own folders (its /lib may be a folder where the
    sysroot has a link, or the other way round)."""
    owners = closure.dpkg_owners(sysroot)
    entries: list[oci.Entry] = []
    files: list[ImageFile] = []

    def add(e: closure.TreeEntry, at: str | None = None) -> None:
        path = at or e.path
        pkg = closure.owner_of(owners, sysroot, e.path)
        package, version = (pkg.package, pkg.version) if pkg else (None, None)
        if e.kind == "file":
            entries.append(oci.file_entry(path, e.source))
            files.append(ImageFile(path, "file", "sysroot", e.path, package, version,
                                   sha256_file(e.source), e.source.stat().st_size))
        else:
            entries.append(oci.Entry(path, "symlink", target=e.target))
            files.append(ImageFile(path, "symlink", "sysroot", e.path, package, version,
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


def app_entries(app_dir: Path, prefix: str) -> tuple[list[oci.Entry], list[ImageFile]]:
    """The installed app under `prefix`; a link leaving the app folder is refused."""
    entries: list[oci.Entry] = [oci.Entry(prefix, "dir", 0o755)]
    files: list[ImageFile] = []
    for p in sorted(app_dir.rglob("*")):
        rel = str(p.relative_to(app_dir))
        path = f"{prefix}/{rel}"
        if p.is_symlink():
            target = p.readlink().as_posix()
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if target.startswith("/") or not resolved.startswith(prefix + "/"):
                raise ImageContentError(f"{p} links to {target!r}, outside the app folder: the "
                                        "image would carry a dangling link")
            entries.append(oci.Entry(path, "symlink", target=target))
            files.append(ImageFile(path, "symlink", "app", rel, target=target))
        elif p.is_dir():
            entries.append(oci.Entry(path, "dir", 0o755))
        elif p.is_file():
            entries.append(oci.file_entry(path, p))
            files.append(ImageFile(path, "file", "app", rel, sha256=sha256_file(p),
                                   size=p.stat().st_size))
    return entries, files


def plan_image(inp: ReleaseInput, image_def: ImageDef, base: Base | None = None) -> ImagePlan:
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
        files.append(ImageFile(path, "file", "generated", "edgeforge",
                               sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    app, app_files = app_entries(inp.app_dir, prefix)
    files += app_files

    in_image = {f.path for f in files} | ({p for p in base.tree.entries} if base else set())
    program = image_def.entrypoint[0]
    if program not in in_image:
        programs = sorted(f.path for f in files if f.source == "app" and "/bin/" in f.path)
        raise DescriptorError(f"entrypoint in image.yaml: {program} is not a file of the image "
                              f"(the app installs {', '.join(programs) or 'no program'})")

    labels = image_labels(inp, image_def, [f for f in files if f.source == "sysroot"], base)
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
    return ImagePlan(image_def.tag_for(inp.version, inp.board), ref_name,
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


def image_labels(inp: ReleaseInput, image_def: ImageDef, system: Sequence[ImageFile],
                 base: Base | None) -> dict[str, str]:
    from edgeforge.config import recipe_licenses

    from ..shlibdeps import package_licence

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


def write_container_image(inp: ReleaseInput, image_def: ImageDef, out_dir: Path, runner: Runner,
                          *, load: bool = True) -> ContainerResult:
    """Write the board's image into `out_dir` (a staging folder): <stem>.oci/ (OCI layout),
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
        plan = plan_image(inp, image_def, base)
        result = write_plan(plan, inp, image_def, out_dir, work, base)
    finally:
        rmtree(work)
    reporter.info(f"image {result.tag} ({result.platform}): {result.compressed_size / 1e6:.1f} MB "
                  f"compressed, {result.uncompressed_size / 1e6:.1f} MB unpacked, "
                  f"id {result.config_digest[:19]}")
    if load:
        load_into_engine(result)
        result = replace(result, loaded=True)
    return result


def write_plan(plan: ImagePlan, inp: ReleaseInput, image_def: ImageDef, out_dir: Path,
               work: Path, base: Base | None) -> ContainerResult:
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
    write_atomic(out_dir / RECORD, json.dumps(result.to_json(out_dir), indent=2, sort_keys=True)
                 + "\n")
    return result


def base_history(base: Base) -> list[dict[str, Any]]:
    """The base's history when it matches its layers, else one line per layer."""
    hist = base.image.config.get("history")
    if isinstance(hist, list) and all(isinstance(h, dict) for h in hist) and \
            sum(1 for h in hist if not h.get("empty_layer")) == len(base.image.layers):
        return [dict(h) for h in hist]
    created = str(base.image.config.get("created", ""))
    return [{"created": created, "created_by": f"base image {base.label}, layer {i + 1}"}
            for i in range(len(base.image.layers))]


# ---- the engine -----------------------------------------------------------------------------------
def load_into_engine(result: ContainerResult) -> None:
    """`docker load` the archive through the docker SDK, then check the engine holds the image
    under its tag, with the config digest as its ID and the board's platform."""
    from edgeforge.host import DOCKER_SOCK

    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - a dependency of the project
        raise HostSetupError("the docker Python SDK is missing: reinstall edgeforge "
                             "(./edgeforge setup)") from None
    if not DOCKER_SOCK.exists():
        raise HostSetupError(f"no container engine at {DOCKER_SOCK} to load {result.tag} into; "
                             "fix: invoke setup (starts dockerd)")
    try:
        client = docker.DockerClient(base_url=f"unix://{DOCKER_SOCK}", timeout=900)
    except DockerException as exc:
        raise HostSetupError(f"cannot talk to dockerd at {DOCKER_SOCK} ({exc}); fix: invoke "
                             "setup") from None
    try:
        with open(result.docker_archive, "rb") as fh:
            client.images.load(fh)
        image = client.images.get(result.tag)
        attrs = image.attrs
    except DockerException as exc:
        raise ImageLoadError(f"docker load of {result.docker_archive} failed: {exc}") from None
    finally:
        client.close()
    check_loaded(attrs, result)


def check_loaded(attrs: Mapping[str, Any], result: ContainerResult) -> None:
    got = "/".join(p for p in (attrs.get("Os"), attrs.get("Architecture"), attrs.get("Variant"))
                   if p)
    problems = []
    if attrs.get("Id") != result.config_digest:
        problems.append(f"image ID {attrs.get('Id')} (expected {result.config_digest})")
    if got != result.platform:
        problems.append(f"platform {got} (expected {result.platform})")
    if problems:
        raise ImageLoadError(f"the engine holds {result.tag} with " + " and ".join(problems)
                             + ": it did not load this archive as written")


# ---- a base made from the board's stand-in suite ------------------------------------------------
def stand_in_base(ctx: Context, target: Target, runner: Runner) -> Path:
    """An OCI layout of the board's stand-in Debian suite (mmdebstrap --variant=minbase, no
    extra packages) written by oci.py: a base image like a vendor's, made from what is
    reachable. Built once into <cache>/images/ (aside, then renamed) and reused."""
    from edgeforge.config import DebianSysroot, sysroot_json
    from edgeforge.core import base_env, canonical_hash, file_lock
    from edgeforge.host import debian_mirror, require_binfmt
    from edgeforge.toolchain import SOURCE_DATE_EPOCH, mmdebstrap_argv

    spec = target.sysroot.spec
    if not isinstance(spec, DebianSysroot):
        raise UsageError(f"the sysroot of {target.name} ({target.sysroot.name}) is not made from "
                         "a Debian suite: there is no stand-in suite to make a base image from")
    spec = spec.model_copy(update={"packages": (), "variant": "minbase"})
    key = canonical_hash({"format": 1, "spec": sysroot_json(spec)})[:16]
    name = f"debian-{spec.suite}-{spec.arch.value}-minbase-{key}"
    folder = ctx.cache_dir / "images"
    final = folder / f"{name}.oci"
    if (final / "index.json").is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / f".{name}.lock"):
        if (final / "index.json").is_file():
            return final
        mirror = debian_mirror()
        if not mirror:
            raise HostSetupError("cannot tell which Debian mirror to use: set "
                                 "EDGEFORGE_DEBIAN_MIRROR to the mirror's URL")
        require_binfmt(spec.arch, why=f"mmdebstrap runs {spec.arch.value} maintainer scripts")
        work = folder / f".partial-{name}"
        rmtree(work)
        work.mkdir()
        try:
            rootfs = work / "mmdebstrap.tar"
            epoch = int(SOURCE_DATE_EPOCH)
            runner.run(mmdebstrap_argv(spec, rootfs, mirror),
                       what=f"mmdebstrap {spec.suite} {spec.arch.value} base image",
                       needed_by="the stand-in base image", timeout=3600,
                       env=base_env({"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}))
            layout = oci.Layout(work / "layout")
            layer = oci.write_rootfs_layer(rootfs, layout, work, epoch)
            platform = oci.platform_for(spec.arch)
            config = layout.put_json(oci.image_config(
                platform, epoch, {"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["/bin/bash"]},
                [layer.diff_id], [{"created": oci.rfc3339(epoch),
                                   "created_by": f"mmdebstrap --variant=minbase {spec.suite}"}]),
                oci.MEDIA_CONFIG)
            manifest = layout.put_json(oci.image_manifest(config, [layer.descriptor]),
                                       oci.MEDIA_MANIFEST)
            layout.finish([oci.Descriptor(oci.MEDIA_MANIFEST, manifest.digest, manifest.size,
                                          annotations={oci.REF_NAME: spec.suite},
                                          platform=platform)])
            rmtree(final)
            (work / "layout").rename(final)
        finally:
            rmtree(work)
    return final


# ---- several boards -------------------------------------------------------------------------------
def write_index(results: Sequence[ContainerResult], out_dir: Path) -> Path:
    """One OCI image layout holding every board's image: its index.json names an image index
    (ref <version>) whose manifests carry each board's platform, and each board's image
    (ref <version>-<board>). Platforms must differ: an engine picks an image by platform."""
    if not results:
        raise UsageError("an image index needs at least one board's image")
    results = sorted(results, key=lambda r: r.board)
    first = results[0]
    for r in results:
        if (r.repository, r.version) != (first.repository, first.version):
            raise UsageError(f"cannot index {r.tag} with {first.tag}: one index holds one "
                             "repository and version")
    by_platform: dict[str, list[str]] = {}
    for r in results:
        by_platform.setdefault(r.platform, []).append(r.board)
    clashes = {p: b for p, b in by_platform.items() if len(b) > 1}
    if clashes:
        p, boards = next(iter(clashes.items()))
        raise UsageError(f"boards {', '.join(boards)} are all {p}: an image index selects an "
                         "image by platform, so it can hold one of them only; release them in "
                         "separate runs (each keeps its own <version>-<board> tag)")
    out_dir = Path(out_dir)
    layout_dir = out_dir / f"{stem(first.repository, first.version)}.oci"
    rmtree(layout_dir)
    layout = oci.Layout(layout_dir)
    manifests = []
    for r in results:
        for blob in sorted((r.oci_layout / "blobs" / "sha256").iterdir()):
            layout.put_file(blob, "", digest="sha256:" + blob.name)
        parts = r.platform.split("/")
        platform = oci.Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
        manifests.append(oci.Descriptor(oci.MEDIA_MANIFEST, r.manifest_digest, r.manifest_size,
                                        platform=platform,
                                        annotations={f"{LABEL_PREFIX}.board": r.board}))
    index = layout.put_json(oci.image_index(manifests), oci.MEDIA_INDEX)
    version = tag_version(first.version)
    top = [oci.Descriptor(oci.MEDIA_INDEX, index.digest, index.size,
                          annotations={oci.REF_NAME: version})]
    top += [oci.Descriptor(oci.MEDIA_MANIFEST, m.digest, m.size, platform=m.platform,
                           annotations={oci.REF_NAME: f"{version}-{r.board}"})
            for m, r in zip(manifests, results, strict=True)]
    return layout.finish(top)
