"""What every installer of the app (.deb, .rpm, .run) shares: the description in the file
its descriptor names (deliver.installer_info, e.g. images/<app>/installers.yaml, read into
config's InstallersSpec: the model lives in config/installers.py so that loading the app checks
it too), and the files they all carry (the systemd unit, the instance configuration, the manual
page, the licence notices), rendered from the templates next to it. debpkg, rpmpkg and
runinstaller only package them.

Everything else the installers need (version, architecture, dependencies, files) comes from
the release input, never from that file.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from edgeforge.config import App, InstallersSpec, parse_installers, read_descriptor, recipe_licenses
from edgeforge.core import DescriptorError, Runner, sh
from edgeforge.elf import elfinfo

from ..inputs import ReleaseInput
from ..scan import scan_tree


def installer_info(app: App) -> str:
    """The app's installer file (deliver.installer_info of its descriptor), as a path from the
    project's root; an app without one has no installers."""
    rel = app.spec.deliver.installer_info
    if rel is None:
        raise DescriptorError(f"key 'deliver.installer_info' in {app.rel}/app.yaml is not set, "
                              "and its installers need it; add installer_info: "
                              f"images/{app.name}/installers.yaml (or drop deb, rpm, run and dbg "
                              "from deliver.formats)")
    return rel


def load_installers(project_root: Path, app: App) -> InstallersSpec:
    """Read and validate the app's installer file (e.g. images/<app>/installers.yaml)."""
    rel = installer_info(app)
    text = read_descriptor(project_root / rel, rel, f"it describes the {app.name} installers "
                           "(package name, maintainer, service)", "an installer file")
    return parse_installers(text, rel)


# ---- the files every installer carries -------------------------------------------------------
#: edgeforge's own installer templates, for the ones an app's folder does not have
DEFAULT_TEMPLATES = Path(__file__).parent / "templates"


def template_env(project_root: Path, app: App) -> jinja2.Environment:
    """Templates of the installer file's folder, e.g. images/<app>/, then edgeforge's defaults
    for the ones it lacks (StrictUndefined: a missing variable is an error)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(str((project_root / installer_info(app)).parent)),
            jinja2.FileSystemLoader(str(DEFAULT_TEMPLATES))]),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )
    env.filters["sh"] = sh
    return env


def package_version(version: str) -> str:
    """A version both dpkg and rpm accept and order like git describe: `v1.0.0-12-gabc1234`
    becomes `1.0.0+12+gabc1234` (no '-': that separates Debian's revision and RPM's release);
    a version without a leading digit (a bare commit id) becomes `0~<id>`."""
    v = version.strip()
    if v[:1] in ("v", "V") and v[1:2].isdigit():
        v = v[1:]
    v = re.sub(r"[^A-Za-z0-9.+~]+", "+", v).strip("+")
    if not v:
        raise DescriptorError(f"version {version!r} has nothing a package version can use")
    return v if v[0].isdigit() else f"0~{v}"


def gzip_bytes(data: bytes) -> bytes:
    """gzip -9n: maximum compression, no name, no time (the same bytes on every build)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def app_licence(inp: ReleaseInput) -> str:
    """The app's licence, as its descriptor (apps/<app>/app.yaml) declares it."""
    return inp.app.spec.license


def template_vars(inp: ReleaseInput, spec: InstallersSpec) -> dict[str, Any]:
    """What every installer template may use."""
    svc = spec.service
    return {
        "licence": app_licence(inp),
        "spec": spec, "service": svc, "package": spec.package, "app": inp.app_name,
        "board": inp.board, "version": package_version(inp.version),
        "revision": inp.revision, "prefix": spec.prefix,
        "program": f"{spec.prefix}/{inp.app.program}",
        "conf_dir": f"/etc/{spec.package}",
        "unit": f"{spec.package}@.service",
        "date": time.strftime("%Y-%m-%d", time.gmtime(inp.source_date_epoch)),
    }


def unit_text(inp: ReleaseInput, spec: InstallersSpec) -> str:
    """The systemd template unit <package>@.service."""
    return template_env(inp.project_root, inp.app).get_template(
        "systemd/instance.service.j2").render(**template_vars(inp, spec))


def instance_conf_text(inp: ReleaseInput, spec: InstallersSpec) -> str:
    """/etc/<package>/<default instance>.conf, the shipped conffile."""
    return template_env(inp.project_root, inp.app).get_template(
        "systemd/instance.conf.j2").render(**template_vars(inp, spec))


def manpage_text(inp: ReleaseInput, spec: InstallersSpec) -> str:
    return template_env(inp.project_root, inp.app).get_template(
        "doc/manpage.1.j2").render(**template_vars(inp, spec))


@dataclass(frozen=True)
class Bundled:
    """A component of the dependency graph shipped inside the app (lib/, or linked in)."""

    name: str
    version: str
    licence: str
    texts: tuple[tuple[str, str], ...]  # (licence file name, its text)


def bundled_components(inp: ReleaseInput, spec: InstallersSpec) -> list[Bundled]:
    """The graph's packages for the board that ship in the app (host packages, less what the
    app only tests with), with their licences (from the recipes) and licence texts (from each
    package's licenses/ folder)."""
    deps = inp.manifest.dependencies
    if deps is None:
        return []
    test_only = set(inp.app.spec.build.test_requires)
    out = []
    for pkg in sorted(deps.packages, key=lambda p: p.ref):
        if pkg.context != "host":
            continue
        name, _, rest = pkg.ref.partition("/")
        version = rest.split("#", 1)[0].split("@", 1)[0]
        if name in test_only:
            continue
        licence = " AND ".join(recipe_licenses(inp.project_root / "recipes" / name))
        texts = []
        folder = Path(pkg.package_folder) / "licenses" if pkg.package_folder else None
        if folder and folder.is_dir():
            for f in sorted(p for p in folder.rglob("*") if p.is_file()):
                texts.append((str(f.relative_to(folder)), f.read_text(errors="replace")))
        out.append(Bundled(name, version, licence or "unknown", tuple(texts)))
    return out


#: licences whose full text Debian ships in /usr/share/common-licenses, by the words that
#: open that text; a .deb points there instead of repeating it (Debian policy 12.5)
COMMON_LICENCES = (
    ("Apache-2.0", re.compile(r"Apache License\s+Version 2\.0, January 2004.*TERMS AND "
                              r"CONDITIONS FOR USE", re.S)),
    ("LGPL-2.1", re.compile(r"GNU LESSER GENERAL PUBLIC LICENSE\s+Version 2\.1, February 1999"
                            r".*TERMS AND CONDITIONS", re.S)),
    ("LGPL-3", re.compile(r"GNU LESSER GENERAL PUBLIC LICENSE\s+Version 3, 29 June 2007", re.S)),
    ("GPL-2", re.compile(r"GNU GENERAL PUBLIC LICENSE\s+Version 2, June 1991.*TERMS AND "
                         r"CONDITIONS", re.S)),
    ("GPL-3", re.compile(r"GNU GENERAL PUBLIC LICENSE\s+Version 3, 29 June 2007.*TERMS AND "
                         r"CONDITIONS", re.S)),
)


def common_licence(text: str) -> str | None:
    """The /usr/share/common-licenses file whose full text `text` is, if any."""
    for name, pattern in COMMON_LICENCES:
        if pattern.search(text[:20000]):
            return name
    return None


def notices_text(inp: ReleaseInput, spec: InstallersSpec, *, debian: bool = False) -> str:
    """The licence notices: the app's licence, then each bundled component with the licence
    texts its source archive ships (the .deb's copyright file, the .rpm's %license file, the
    .run's share/doc/<package>/copyright). For a .deb (`debian`), a full licence text that
    Debian ships in /usr/share/common-licenses is replaced by a pointer to it."""
    def shown(text: str) -> str:
        common = common_licence(text) if debian else None
        return (f"The full text of this licence is in /usr/share/common-licenses/{common}."
                if common else text)

    bundled = [dataclasses.replace(b, texts=tuple((name, shown(text)) for name, text in b.texts))
               for b in bundled_components(inp, spec)]
    own = inp.project_root / "LICENSE"
    own_text = shown(own.read_text(errors="replace")) if own.is_file() else ""
    return template_env(inp.project_root, inp.app).get_template(
        "doc/copyright.j2").render(bundled=bundled, app_licence_text=own_text,
                                   **template_vars(inp, spec))


# ---- file trees -----------------------------------------------------------------------------
def copy_app(app_dir: Path, dest: Path) -> None:
    """The installed app into a package tree: links kept, ELF programs 0755, every other file
    0644, folders 0755 (whatever the build's umask was)."""
    shutil.copytree(app_dir, dest, symlinks=True)
    normalise_modes(dest)


def normalise_modes(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            info = elfinfo.inspect(p)
            executable = info is not None and info.kind == "executable"
            if info is None and p.stat().st_mode & 0o111 and p.read_bytes()[:2] == b"#!":
                executable = True
            os.chmod(p, 0o755 if executable else 0o644)


def folder_modes(root: Path) -> None:
    """Every folder of a package tree 0755, whatever the umask was."""
    for dirpath, _dirs, _files in os.walk(root):
        os.chmod(dirpath, 0o755)


def write_file(path: Path, data: str | bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    return path


def stage_system_files(inp: ReleaseInput, spec: InstallersSpec, root: Path, runner: Runner, *,
                       unit_dir: str, doc_file: str, debian: bool) -> dict[str, Path]:
    """The app under <prefix> (as built: stripped, with debuglinks), the /usr/bin link, the
    unit, the conffile, the manual page and the notices: the tree the .deb and the .rpm
    install. Returns the parts' paths."""
    app_root = root / spec.prefix.lstrip("/")
    copy_app(inp.app_dir, app_root)  # stripped when it was built (debuginfo.py)
    program = app_root / inp.app.program
    if not program.is_file():
        raise DescriptorError(f"{inp.app_dir} has no {inp.app.program}: is the app built?")
    link = root / "usr/bin" / inp.app_name  # the templates list /usr/bin/{{ app }}
    link.parent.mkdir(parents=True, exist_ok=True)
    # another top-level folder: an absolute link (Debian policy 10.5)
    os.symlink(f"{spec.prefix}/{inp.app.program}", link)
    conf = f"/etc/{spec.package}/{spec.service.default_instance}.conf"
    unit = f"{unit_dir}/{spec.package}@.service"
    write_file(root / unit.lstrip("/"), unit_text(inp, spec))
    write_file(root / conf.lstrip("/"), instance_conf_text(inp, spec))
    man = f"/usr/share/man/man1/{inp.app_name}.1.gz"
    write_file(root / man.lstrip("/"), gzip_bytes(manpage_text(inp, spec).encode()))
    write_file(root / doc_file.lstrip("/"), notices_text(inp, spec, debian=debian))
    scan_tree(root, f"the {spec.package} package", inp.board, elf_keys_under=spec.prefix)
    return {"app": app_root, "conffile": Path(conf), "unit": Path(unit), "man": Path(man),
            "doc": Path(doc_file)}
