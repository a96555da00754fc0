"""The .deb: the app under /opt/<package>, /usr/bin/<app>, the template unit, an instance
conffile, maintainer scripts for the service user; Depends computed by dpkg-shlibdeps from
the board's sysroot (shlibdeps.py).

Pure parts (control text, conffiles, md5sums, maintainer scripts, argv) are computed from the
release input and images/<app>/; `write_deb` stages the tree and runs `dpkg-deb
--root-owner-group --build` with SOURCE_DATE_EPOCH, so a rebuild gives the same bytes, then
gates the package with lintian (no error; warnings reported).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

from edgeforge.core import CheckFailedError, LintianError, Runner, base_env

from .. import shlibdeps
from ..inputs import ReleaseInput, normalise_times
from .staging import (
    InstallersSpec,
    folder_modes,
    gzip_bytes,
    load_installers,
    package_version,
    stage_system_files,
    template_env,
    template_vars,
    write_file,
)

UNIT_DIR = "/lib/systemd/system"  # bullseye/focal devices: systemd looks here (not merged /usr)
SCRIPTS = ("postinst", "prerm", "postrm")


# ---- pure parts -----------------------------------------------------------------------------
def deb_filename(package: str, version: str, arch: str) -> str:
    return f"{package}_{version.split(':', 1)[-1]}_{arch}.deb"


def description_field(spec: InstallersSpec) -> str:
    """Debian's Description: the summary, then the paragraphs as indented lines ('.' between)."""
    lines = [spec.summary]
    for i, para in enumerate(spec.paragraphs()):
        if i:
            lines.append(".")
        lines.extend(_wrap(para, 78))
    return "\n ".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(line)
    return out


def control_text(spec: InstallersSpec, version: str, arch: str, depends: str,
                 installed_size_kib: int) -> str:
    """DEBIAN/control."""
    if not depends.strip():
        raise CheckFailedError("the .deb's Depends is empty: dependencies are computed from the "
                             "sysroot and an app always needs glibc")
    fields = Deb822()
    fields["Package"] = spec.package
    fields["Version"] = version
    fields["Architecture"] = arch
    fields["Maintainer"] = spec.maintainer
    fields["Installed-Size"] = str(installed_size_kib)
    fields["Depends"] = depends
    fields["Section"] = spec.section
    fields["Priority"] = "optional"
    if spec.homepage:
        fields["Homepage"] = spec.homepage
    fields["Description"] = description_field(spec)
    return fields.dump()


def merge_depends(computed: str, extra: Iterable[str]) -> str:
    """The computed library dependencies, then the maintainer scripts' tools not already in."""
    names = {re.split(r"[\s(:]", part.strip(), maxsplit=1)[0] for part in computed.split(",")}
    parts = [computed.strip()] + [e for e in extra if e not in names]
    return ", ".join(p for p in parts if p)


def installed_size(root: Path) -> int:
    """Installed-Size in KiB the way dpkg-gencontrol counts it: each file rounded up to a KiB,
    each folder and link one KiB; DEBIAN/ left out."""
    total = 0
    for dirpath, dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts[:1] == ("DEBIAN",):
            continue
        dirs[:] = [d for d in dirs if not (rel == Path(".") and d == "DEBIAN")]
        total += len(dirs)
        for name in files:
            p = Path(dirpath) / name
            total += 1 if p.is_symlink() else max(1, -(-p.stat().st_size // 1024))
    return total


def md5sums_text(root: Path) -> str:
    """DEBIAN/md5sums: every regular file outside DEBIAN/, sorted."""
    lines = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts[:1] == ("DEBIAN",):
            continue
        for name in sorted(files):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            lines.append(f"{hashlib.md5(p.read_bytes()).hexdigest()}  {rel_dir / name}")
    return "".join(sorted(line + "\n" for line in lines))


def conffiles_text(conffiles: Iterable[Path]) -> str:
    return "".join(f"{p}\n" for p in sorted(str(c) for c in conffiles))


def maintainer_scripts(inp: ReleaseInput, spec: InstallersSpec) -> dict[str, str]:
    env = template_env(inp.project_root, inp.app)
    return {name: env.get_template(f"deb/{name}.j2").render(**template_vars(inp, spec))
            for name in SCRIPTS}


def changelog_text(inp: ReleaseInput, spec: InstallersSpec) -> str:
    return template_env(inp.project_root, inp.app).get_template("deb/changelog.j2").render(
        rfc2822=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(inp.source_date_epoch)),
        **template_vars(inp, spec))


def lintian_overrides_text(inp: ReleaseInput, spec: InstallersSpec) -> str:
    return template_env(inp.project_root, inp.app).get_template(
        "deb/lintian-overrides.j2").render(**template_vars(inp, spec))


def dpkg_deb_argv(root: Path, out: Path) -> list[str]:
    return ["dpkg-deb", "--root-owner-group", "-Zxz", "-z9", "--build", str(root), str(out)]


def lintian_argv(deb: Path) -> list[str]:
    return ["lintian", "--fail-on", "error", "--display-level", ">=warning",
            "--tag-display-limit", "0", str(deb)]


@dataclass(frozen=True)
class LintianTag:
    severity: str   # E, W, I, P, X, O (overridden)
    tag: str
    detail: str


def parse_lintian(output: str) -> list[LintianTag]:
    tags = []
    for line in output.splitlines():
        m = re.match(r"^([EWIPXON]): \S+?(?: \w+)?: (\S+)\s*(.*)$", line)
        if m:
            tags.append(LintianTag(m.group(1), m.group(2), m.group(3)))
    return tags


# ---- writing --------------------------------------------------------------------------------
def stage_deb(inp: ReleaseInput, spec: InstallersSpec, root: Path, runner: Runner) -> str:
    """The package tree under `root` (DEBIAN/ included); returns the computed Depends."""
    version = package_version(inp.version)
    (root / "DEBIAN").mkdir(parents=True)
    parts = stage_system_files(inp, spec, root, runner, unit_dir=UNIT_DIR,
                               doc_file=f"/usr/share/doc/{spec.package}/copyright", debian=True)
    doc = root / "usr/share/doc" / spec.package
    write_file(doc / "changelog.gz", gzip_bytes(changelog_text(inp, spec).encode()))
    write_file(root / "usr/share/lintian/overrides" / spec.package,
               lintian_overrides_text(inp, spec))
    deps = shlibdeps.analyse(inp, runner, pkgroot=root, prefix=spec.prefix)
    depends = merge_depends(deps.depends_text(), spec.script_depends)
    for name, text in maintainer_scripts(inp, spec).items():
        write_file(root / "DEBIAN" / name, text, 0o755)
    write_file(root / "DEBIAN/conffiles", conffiles_text([parts["conffile"]]))
    write_file(root / "DEBIAN/md5sums", md5sums_text(root))
    write_file(root / "DEBIAN/control", control_text(
        spec, version, inp.target.arch.value, depends, installed_size(root)))
    folder_modes(root)
    normalise_times(root, inp.source_date_epoch)
    return depends


def write_deb(inp: ReleaseInput, out_dir: Path, runner: Runner, *, lint: bool = True) -> Path:
    """Build the board's .deb into out_dir; returns its path. With `lint`, lintian must find
    no error (warnings are printed)."""
    spec = load_installers(inp.project_root, inp.app)
    return build_deb(inp, spec.package, out_dir, lambda root: stage_deb(inp, spec, root, runner),
                     runner, lint=lint)


def build_deb(inp: ReleaseInput, package: str, out_dir: Path, stage: Callable[[Path], object],
              runner: Runner, *, lint: bool = True) -> Path:
    """Stage a package tree aside (`stage(root)`), build it with dpkg-deb into out_dir and
    gate it with lintian; returns the .deb."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / deb_filename(package, package_version(inp.version), inp.target.arch.value)
    with tempfile.TemporaryDirectory(prefix=f".{package}-", dir=out_dir) as tmp:
        root = Path(tmp) / "root"
        stage(root)
        runner.run(dpkg_deb_argv(root, out), what=f"dpkg-deb {out.name}",
                   needed_by=f"the {package} .deb (fix: apt-get install dpkg)",
                   env=base_env(inp.env()), log_name=f"dpkg-deb-{package}-{inp.board}")
    if lint:
        lintian_gate(out, runner)
    return out


def lintian_gate(deb: Path, runner: Runner) -> list[LintianTag]:
    """lintian on a written package: errors fail, the rest is returned (and printed)."""
    r = runner.run(lintian_argv(deb), what=f"lintian {deb.name}",
                   needed_by="the .deb gate (fix: apt-get install lintian)",
                   env=base_env({"LC_ALL": "C.UTF-8"}), check=False,
                   log_name=f"lintian-{deb.stem}", timeout=1800)
    tags = parse_lintian(r.output)
    errors = [t for t in tags if t.severity == "E"]
    if errors or r.returncode != 0:
        listed = "\n".join(f"  {t.tag} {t.detail}" for t in errors) or r.output[-2000:]
        raise LintianError(f"lintian finds errors in {deb.name}:\n{listed}\n"
                           f"full report: {r.log_path}")
    for t in tags:
        if t.severity in ("W",):
            runner.reporter.warn(f"lintian: {t.tag} {t.detail}")
    return tags

