"""The .rpm (for the EulerOS board, atlas500): the same tree as the .deb (app under
/opt/<package>, /usr/bin link, template unit, instance conffile), packaged by rpmbuild for
aarch64 from a spec rendered from images/<app>/rpm/package.spec.j2.

Requires are computed the way the .deb's Depends are (shlibdeps.py): the libraries the app
loads from the OS, as the soname capabilities RPM distributions provide, with the symbol
versions the app uses (`libc.so.6(GLIBC_2.17)(64bit)`). rpm's own generator is off: it would
also require the private libraries the package carries. Built with SOURCE_DATE_EPOCH as build
time and clamped file times, a fixed build host and no build-id links, a rebuild gives the
same bytes. No signature (no key in any artefact): `rpm -K` checks the digests.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgeforge.config import Arch
from edgeforge.core import CheckFailedError, Runner, base_env

from .. import shlibdeps
from ..inputs import ReleaseInput, normalise_times
from .staging import (
    InstallersSpec,
    app_licence,
    bundled_components,
    folder_modes,
    load_installers,
    package_version,
    stage_system_files,
    template_env,
    template_vars,
)

UNIT_DIR = "/usr/lib/systemd/system"  # %{_unitdir} on RPM distributions
RELEASE = "1"


# ---- pure parts -----------------------------------------------------------------------------
def rpm_arch(arch: Arch) -> str:
    return {Arch.ARM64: "aarch64", Arch.ARMHF: "armv7hl"}[arch]


def rpm_filename(package: str, version: str, arch: Arch) -> str:
    return f"{package}-{version}-{RELEASE}.{rpm_arch(arch)}.rpm"


def capability_marker(arch: Arch) -> str:
    """rpm's marker on soname capabilities of 64-bit ELF files."""
    return "(64bit)" if arch.elf_class == 64 else ""


def requires(libraries: list[shlibdeps.SystemLibrary] | tuple[shlibdeps.SystemLibrary, ...],
             arch: Arch) -> list[str]:
    """Requires lines for the system libraries: `soname()(64bit)` and one per symbol version
    the app uses, the capabilities rpm's elfdeps gives a library's users."""
    marker = capability_marker(arch)
    out: set[str] = set()
    for lib in libraries:
        out.add(f"{lib.soname}(){marker}")
        for ver in lib.symbol_versions:
            out.add(f"{lib.soname}({ver}){marker}")
    if not out:
        raise shlibdeps.DependencyError("the .rpm's Requires is empty: the app needs at least glibc")
    return sorted(out)


def licence_expression(inp: ReleaseInput, spec: InstallersSpec) -> str:
    """The package's License tag: the app's licence and those of the components it bundles."""
    seen: list[str] = [app_licence(inp)]
    for b in bundled_components(inp, spec):
        for part in b.licence.split(" AND "):
            if part and part != "unknown" and part not in seen:
                seen.append(part)
    return " AND ".join(seen)


def spec_text(inp: ReleaseInput, spec: InstallersSpec, reqs: list[str]) -> str:
    return template_env(inp.project_root, inp.app).get_template(
        "rpm/package.spec.j2").render(
            requires=reqs, rpm_licence=licence_expression(inp, spec),
            unit_path=f"{UNIT_DIR}/{spec.package}@.service",
            conffile=f"/etc/{spec.package}/{spec.service.default_instance}.conf",
            man_path=f"/usr/share/man/man1/{inp.app_name}.1.gz",
            doc_path=f"/usr/share/licenses/{spec.package}/copyright",
            **template_vars(inp, spec))


def rpmbuild_argv(spec_file: Path, topdir: Path, payload: Path, out_dir: Path,
                  arch: Arch) -> list[str]:
    return [
        "rpmbuild", "-bb", "--target", f"{rpm_arch(arch)}-linux",
        "--define", f"_topdir {topdir}",
        "--define", f"_rpmdir {out_dir}",
        "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
        "--define", f"payload {payload}",
        "--define", "_tmppath %{_topdir}/tmp",
        str(spec_file),
    ]


# ---- writing --------------------------------------------------------------------------------
def write_rpm(inp: ReleaseInput, out_dir: Path, runner: Runner) -> Path:
    """Build the board's .rpm into out_dir; returns its path."""
    spec = load_installers(inp.project_root, inp.app)
    version = package_version(inp.version)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / rpm_filename(spec.package, version, inp.target.arch)
    with tempfile.TemporaryDirectory(prefix=".rpm-", dir=out_dir) as tmp:
        work = Path(tmp)
        payload = work / "payload"
        stage_system_files(inp, spec, payload, runner, unit_dir=UNIT_DIR,
                           doc_file=f"/usr/share/licenses/{spec.package}/copyright",
                           debian=False)
        folder_modes(payload)
        normalise_times(payload, inp.source_date_epoch)
        deps = shlibdeps.analyse(inp, runner, prefix=spec.prefix)
        spec_file = work / f"{spec.package}.spec"
        spec_file.write_text(spec_text(inp, spec, requires(deps.libraries, inp.target.arch)))
        topdir = work / "top"
        for sub in ("BUILD", "BUILDROOT", "SPECS", "SOURCES", "tmp"):
            (topdir / sub).mkdir(parents=True)
        # HOME in the work folder: no ~/.rpmmacros of the user changes the package
        env = base_env({**inp.env(), "HOME": str(work)})
        runner.run(rpmbuild_argv(spec_file, topdir, payload, work / "rpms", inp.target.arch),
                   what=f"rpmbuild {out.name}",
                   needed_by="the .rpm (fix: apt-get install rpm)", env=env, cwd=work,
                   log_name=f"rpmbuild-{inp.board}", timeout=1800)
        built = work / "rpms" / out.name
        if not built.is_file():
            raise CheckFailedError(f"rpmbuild wrote no {out.name} in {work / 'rpms'}")
        built.replace(out)
    return out
