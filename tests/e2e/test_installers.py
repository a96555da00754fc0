"""The installers, for real: the jetson-nx app packaged as .deb, .rpm and .run, then installed
into a fresh arm64 rootfs of the board's stand-in suite (Debian bullseye, mmdebstrap minbase,
cached) through binfmt: apt resolving Depends, the app run on the sample video, an upgrade
keeping an edited conffile, remove and purge leaving nothing behind; rpm --root; the .run as
root and as an unprivileged user, damaged, on the wrong CPU and on a too old glibc. And the
artefacts: byte-identical on rebuild, lintian without errors, no secret inside.

The rpm and run writers do not depend on the board beyond its architecture and ceilings; they
are exercised with the jetson-nx build (the atlas500 board shares its sysroot).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from edgeforge.build import check_smoke_output, read_manifest, sample
from edgeforge.config import Arch
from edgeforge.context import Context
from edgeforge.core import Reporter, Runner, rmtree
from edgeforge.deliver import ReleaseInput, shlibdeps
from edgeforge.deliver.packages import deb as debpkg
from edgeforge.deliver.packages import rpm as rpmpkg
from edgeforge.deliver.packages import run as runinstaller
from edgeforge.elf import is_elf
from tests.conftest import BUILD, PROJECT, SUITE_APP, require_tools
from tests.e2e.chroots import Chroot, stand_in_rootfs
from tests.e2e.conftest import build_board, sysroot_of

pytestmark = pytest.mark.e2e

BOARD = "jetson-nx"
EPOCH = 1700000000
V1, V2 = "1.0.0", "1.0.1"
#: lintian warnings the .deb may keep, each with the reason (the README repeats them)
EXPLAINED_WARNINGS: dict[str, str] = {}


# ---- the arm64 rootfs ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def rootfs_base() -> Path:
    return stand_in_rootfs(BOARD)


@pytest.fixture
def chroot(rootfs_base: Path, tmp_path: Path):
    c = Chroot(rootfs_base, tmp_path / "rootfs")
    try:
        yield c
    finally:
        c.close()


# ---- the release inputs and artefacts -------------------------------------------------------
def release_input(board: str, app_dir: Path, version: str) -> ReleaseInput:
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    target = ctx.catalog.resolve(board, env={})
    manifest = read_manifest(BUILD / BOARD, SUITE_APP)
    assert manifest is not None, f"no manifest in {BUILD / BOARD}"
    return ReleaseInput(target=target, app=ctx.app(), manifest=manifest, app_dir=app_dir,
                        sysroot=sysroot_of(board), project_root=PROJECT, version=version,
                        revision="0123456789abcdef0123456789abcdef01234567",
                        source_date_epoch=EPOCH, mirror_dir=ctx.mirror_dir)


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Runner:
    return Runner(Reporter(quiet=True), tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def app_dir() -> Path:
    require_tools("dpkg-deb", "dpkg-shlibdeps", "lintian", "rpmbuild", "rpm", "rpm2cpio", "cpio")
    build_board(BOARD, smoke_only=False)
    app = BUILD / BOARD / "edge-infer"
    assert (app / "bin/edge-infer").is_file()
    return app


@pytest.fixture(scope="module")
def made(app_dir: Path, runner: Runner, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    inp1 = release_input(BOARD, app_dir, V1)
    return {
        "deb": debpkg.write_deb(inp1, out / "v1", runner, lint=False),
        "deb2": debpkg.write_deb(release_input(BOARD, app_dir, V2), out / "v2", runner,
                                 lint=False),
        "rpm": rpmpkg.write_rpm(inp1, out / "v1", runner),
        "run": runinstaller.write_run(inp1, out / "v1", runner),
        # the ceiling of a bookworm-class board (glibc 2.36) on the bullseye rootfs (2.31)
        "run-rpi4": runinstaller.write_run(release_input("rpi4", app_dir, V1), out / "rpi4",
                                           runner),
    }


@pytest.fixture(scope="module")
def video(app_dir: Path) -> Path:
    return sample(Context.create(project_root=PROJECT, build_root=BUILD), "vtest.avi")


def run_app(chroot: Chroot, video: Path, program: str, user: str | None = None) -> dict:
    """The installed program on 8 frames of the sample video, with its installed model."""
    chroot.put(video, "/tmp/vtest.avi")
    r = chroot.run(program, "--max-frames", "8", "/tmp/vtest.avi", user=user, timeout=600)
    return check_smoke_output(r.stdout, 8)


# ---- .deb -----------------------------------------------------------------------------------
def control_of(deb: Path) -> dict[str, str]:
    text = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    fields, key = {}, None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def test_deb_depends_come_from_the_sysroot(made, app_dir, runner):
    control = control_of(made["deb"])
    deps = shlibdeps.analyse(release_input(BOARD, app_dir, V1), runner)
    assert control["Depends"].startswith(deps.depends_text())
    names = {g[0].package for g in deps.depends}
    assert {"libc6", "libstdc++6", "libgcc-s1"} <= names, control["Depends"]
    assert "adduser" in control["Depends"]  # the maintainer scripts' tool, listed in the data
    assert not any(n.startswith(("libopencv", "libav", "libsw")) for n in names)
    # every minimum is met by the sysroot's own packages (the device's stand-in)
    admindir = sysroot_of(BOARD) / "var/lib/dpkg"
    for group in deps.depends:
        rel = group[0]
        have = subprocess.run(["dpkg-query", f"--admindir={admindir}", "-W", "-f=${Version}",
                               rel.package], capture_output=True, text=True, check=True).stdout
        if rel.op:
            op = {">=": "ge", ">>": "gt", "=": "eq", "<=": "le", "<<": "lt"}[rel.op]
            assert subprocess.run(["dpkg", "--compare-versions", have, op, rel.version]).returncode == 0
    # the private libraries are the app's own, found through $ORIGIN
    assert any(s.startswith("libopencv_core") for s in deps.private)
    libs = {lib.soname: lib for lib in deps.libraries}
    assert libs["libc.so.6"].package == "libc6" and libs["libc.so.6"].version.startswith("2.31")
    assert libs["libc.so.6"].licence == "LGPL-2.1-or-later"


def test_deb_lintian_reports_no_error(made, runner):
    tags = debpkg.lintian_gate(made["deb"], runner)
    assert not [t for t in tags if t.severity == "E"]
    unexplained = sorted({t.tag for t in tags if t.severity == "W"} - set(EXPLAINED_WARNINGS))
    assert not unexplained, f"lintian warnings without an explanation: {unexplained}"


def deb_member(deb: Path, part: str, name: str) -> str:
    """A file of a .deb's control (--ctrl-tarfile) or data (--fsys-tarfile) part, as text."""
    tar = subprocess.run(["dpkg-deb", part, str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        return tf.extractfile(name).read().decode()


def test_deb_contents_and_service_unit(made):
    listing = subprocess.run(["dpkg-deb", "-c", str(made["deb"])], capture_output=True,
                             text=True, check=True).stdout
    assert "./opt/edge-infer/bin/edge-infer" in listing
    assert re.search(r"\./opt/edge-infer/lib/libopencv_core\.so", listing)
    assert "./usr/bin/edge-infer -> /opt/edge-infer/bin/edge-infer" in listing
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}
    conffiles = deb_member(made["deb"], "--ctrl-tarfile", "./conffiles")
    assert conffiles == "/etc/edge-infer/default.conf\n"
    text = deb_member(made["deb"], "--fsys-tarfile", "./lib/systemd/system/edge-infer@.service")
    assert "User=edge-infer" in text and "Restart=on-failure" in text
    assert "EnvironmentFile=/etc/edge-infer/%i.conf" in text
    assert "ExecStart=/opt/edge-infer/bin/edge-infer $EDGE_INFER_ARGS ${STREAM}" in text


def test_deb_install_run_upgrade_remove_purge(made, chroot: Chroot, video):
    before = chroot.snapshot()
    # minbase has every library the app needs and adduser (apt needs them too): take adduser
    # away (keeping its conffiles), so that apt has a dependency to fetch from the archive
    # (--fix-broken: apt's own dependency on adduser is broken meanwhile)
    chroot.run("dpkg", "--remove", "--force-depends", "adduser")
    deb1 = chroot.put(made["deb"], "/tmp/" + made["deb"].name)
    r = chroot.run("apt-get", "install", "-y", "--no-install-recommends", "--fix-broken", deb1,
                   timeout=1800)
    assert re.search(r"NEW packages will be installed:\s+adduser edge-infer", r.stdout), r.stdout
    assert chroot.run("dpkg-query", "-W", "-f=${Status}", "adduser").stdout == \
        "install ok installed"
    chroot.run("apt-get", "check")  # every dependency met

    # the app, through /usr/bin and $ORIGIN, with its installed model
    result = run_app(chroot, video, "edge-infer")
    assert result["people"] > 0
    # the service user: a system account without a shell or home, in the video group
    user = chroot.run("getent", "passwd", "edge-infer").stdout.strip().split(":")
    assert int(user[2]) < 1000 and user[5] == "/nonexistent" and user[6].endswith("nologin")
    assert "video" in chroot.run("id", "-nG", "edge-infer").stdout.split()
    assert (chroot.root / "lib/systemd/system/edge-infer@.service").is_file()

    # upgrade keeps an edited conffile
    conf = chroot.root / "etc/edge-infer/default.conf"
    edited = conf.read_text().replace("STREAM=rtsp://camera.local/stream1",
                                      "STREAM=rtsp://10.0.0.7/live")
    assert edited != conf.read_text()
    conf.write_text(edited)
    deb2 = chroot.put(made["deb2"], "/tmp/" + made["deb2"].name)
    chroot.run("apt-get", "install", "-y", "--no-install-recommends", deb2, timeout=1800)
    assert chroot.run("dpkg-query", "-W", "-f=${Version}", "edge-infer").stdout == V2
    assert conf.read_text() == edited
    assert not list(conf.parent.glob("default.conf.dpkg-*"))
    chroot.run("edge-infer", "--version")

    # remove: the program goes, the conffile stays
    chroot.run("apt-get", "remove", "-y", "edge-infer")
    assert not (chroot.root / "opt/edge-infer").exists()
    assert not (chroot.root / "usr/bin/edge-infer").exists()
    assert conf.read_text() == edited
    # purge: nothing left (adduser stays: apt itself depends on it)
    chroot.run("apt-get", "purge", "-y", "edge-infer")
    assert chroot.run("getent", "passwd", "edge-infer", check=False).returncode == 2
    assert chroot.run("getent", "group", "edge-infer", check=False).returncode == 2
    assert chroot.run("dpkg-query", "-W", "edge-infer", check=False).returncode != 0
    assert not list((chroot.root / "var/lib/dpkg/info").glob("edge-infer.*"))
    after = chroot.snapshot()
    # no package owns /opt on Debian: dpkg removes it with the package when it is empty
    if not any(p.startswith("opt/") for p in before):
        before.pop("opt", None)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"left behind or changed after purge: {changed[:10]}"


# ---- .rpm -----------------------------------------------------------------------------------
RPMDB = "/var/lib/rpm"  # as on an RPM distribution (Debian's rpm defaults to ~/.rpmdb)


def rpm(*args: str, root: Path | None = None, check: bool = True,
        timeout: float = 900) -> subprocess.CompletedProcess:
    """rpm on the build machine; queries never touch the user's own rpm database."""
    where = ["--root", str(root), "--dbpath", RPMDB] if root else [
        "--dbpath", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"rpmdb-{os.getpid()}")]
    r = subprocess.run(["rpm", *where, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"rpm {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


def test_rpm_requires_and_digests(made, app_dir, runner):
    pkg = str(made["rpm"])
    reqs = [r.strip() for r in rpm("-qpR", pkg).stdout.splitlines() if r.strip()]
    deps = shlibdeps.analyse(release_input(BOARD, app_dir, V1), runner)
    ours = rpmpkg.requires(deps.libraries, Arch.ARM64)
    assert set(ours) <= set(reqs)
    assert "libc.so.6()(64bit)" in reqs and "libstdc++.so.6()(64bit)" in reqs
    assert any(re.fullmatch(r"libc\.so\.6\(GLIBC_2\.\d+\)\(64bit\)", r) for r in reqs)
    assert not [r for r in reqs if "opencv" in r or r.startswith(("libav", "libsw"))]
    # the same set rpm's own ELF dependency generator gives, less the private libraries
    files = sorted(str(p) for p in app_dir.rglob("*")
                   if p.is_file() and not p.is_symlink() and is_elf(p))
    elfdeps = subprocess.run(["/usr/lib/rpm/elfdeps", "--requires"], input="".join(f + "\n" for f in files),
                             capture_output=True, text=True, check=True).stdout.split()
    generated = {r for r in elfdeps
                 if r.split("(", 1)[0] not in deps.private and not r.startswith("rtld(")}
    assert generated == set(ours)
    assert "digests OK" in rpm("-K", pkg).stdout
    info = rpm("-qpi", pkg).stdout
    assert re.search(r"^Architecture: aarch64$", info, re.M)
    assert re.search(r"^Signature\s*: \(none\)$", info, re.M)  # no key anywhere
    owners = rpm("-qp", "--qf", "[%{FILEUSERNAME}:%{FILEGROUPNAME}\n]", pkg).stdout
    assert set(owners.split()) == {"root:root"}
    assert rpm("-qpc", pkg).stdout.split() == ["/etc/edge-infer/default.conf"]


def test_rpm_installs_into_a_root(made, chroot: Chroot, video):
    """rpm --root into the arm64 rootfs: --ignorearch (the host is x86_64) and --nodeps (that
    root's libraries belong to dpkg, its rpm database is empty); the scriptlets run inside it
    through binfmt."""
    # folders an RPM distribution's filesystem and systemd packages own (rpm creates missing
    # parents of a package's files and leaves them when the package goes)
    for folder in ("usr/lib/systemd/system", "usr/share/licenses"):
        (chroot.root / folder).mkdir(parents=True, exist_ok=True)
    before = chroot.snapshot()
    rpm("-i", "--ignorearch", "--nodeps", str(made["rpm"]), root=chroot.root)
    assert rpm("-q", "edge-infer", root=chroot.root).stdout.strip() == \
        "edge-infer-1.0.0-1.aarch64"
    assert (chroot.root / "usr/lib/systemd/system/edge-infer@.service").is_file()
    assert chroot.run("getent", "passwd", "edge-infer").returncode == 0
    assert run_app(chroot, video, "/usr/bin/edge-infer")["people"] > 0
    rpm("-e", "edge-infer", root=chroot.root)
    assert not (chroot.root / "opt/edge-infer").exists()
    assert chroot.run("getent", "passwd", "edge-infer", check=False).returncode == 2
    rmtree(chroot.root / RPMDB.lstrip("/"))  # rpm's own database, made by the install
    after = chroot.snapshot()
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"left behind after rpm -e: {changed[:10]}"


# ---- .run -----------------------------------------------------------------------------------
def test_run_as_root_installs_runs_and_uninstalls(made, chroot: Chroot, video):
    run = chroot.put(made["run"], "/tmp/edge-infer.run")
    before = chroot.snapshot()
    r = chroot.run("sh", run, "--check")
    assert "checksum ok" in r.stdout
    r = chroot.run("sh", run)
    assert "installed edge-infer" in r.stdout
    assert (chroot.root / "opt/edge-infer/uninstall-edge-infer").is_file()
    assert run_app(chroot, video, "/opt/edge-infer/bin/edge-infer")["people"] > 0
    chroot.run("sh", "/opt/edge-infer/uninstall-edge-infer")
    assert not (chroot.root / "opt/edge-infer").exists()
    assert sorted(set(before.items()) ^ set(chroot.snapshot().items())) == []


def test_run_without_root_into_a_writable_prefix(made, chroot: Chroot, video):
    run = chroot.put(made["run"], "/tmp/edge-infer.run")
    os.chmod(chroot.root / "tmp/edge-infer.run", 0o755)
    home = chroot.root / "tmp/u"
    home.mkdir()
    (home / "prefix").mkdir()
    (home / "prefix/notes.txt").write_text("the user's own file\n")
    subprocess.run(["chown", "-R", "65534:65534", str(home)], check=True)
    # the default prefix is root's: a clear refusal
    r = chroot.run("sh", run, user="nobody:nogroup", check=False)
    assert r.returncode != 0 and "cannot create /opt/edge-infer" in r.stderr, r.stderr
    assert not (chroot.root / "opt/edge-infer").exists()
    # a folder of its own works
    chroot.run("sh", run, "--prefix", "/tmp/u/prefix", user="nobody:nogroup")
    assert run_app(chroot, video, "/tmp/u/prefix/bin/edge-infer",
                   user="nobody:nogroup")["people"] > 0
    st = (home / "prefix/bin/edge-infer").stat()
    assert st.st_uid == 65534
    # installing again replaces the earlier installation
    chroot.run("sh", run, "--prefix=/tmp/u/prefix/", "--quiet", user="nobody:nogroup")
    chroot.run("sh", "/tmp/u/prefix/uninstall-edge-infer", user="nobody:nogroup")
    assert sorted(p.name for p in (home / "prefix").iterdir()) == ["notes.txt"]
    # a prefix the installer created goes with the uninstaller
    chroot.run("sh", run, "--prefix", "/tmp/u/new/edge", user="nobody:nogroup")
    chroot.run("sh", "/tmp/u/new/edge/uninstall-edge-infer", user="nobody:nogroup")
    assert not (home / "new/edge").exists() and (home / "new").is_dir()


def test_run_refuses_damage_wrong_cpu_and_old_glibc(made, chroot: Chroot, tmp_path: Path):
    data = bytearray(made["run"].read_bytes())
    data[-1000] ^= 0xFF  # a byte of the payload
    damaged = tmp_path / "damaged.run"
    damaged.write_bytes(bytes(data))
    run = chroot.put(damaged, "/tmp/damaged.run")
    r = chroot.run("sh", run, "--prefix", "/opt/x", check=False)
    assert r.returncode != 0 and "checksum mismatch" in r.stderr, r.stderr
    assert not (chroot.root / "opt/x").exists()
    truncated = tmp_path / "truncated.run"
    truncated.write_bytes(made["run"].read_bytes()[:-5000])
    r = chroot.run("sh", chroot.put(truncated, "/tmp/truncated.run"), check=False)
    assert r.returncode != 0 and "damaged or incomplete" in r.stderr, r.stderr

    # this machine (x86_64) is not the board's CPU
    r = subprocess.run(["sh", str(made["run"]), "--prefix", str(tmp_path / "host")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "wrong CPU architecture" in r.stderr, r.stderr
    assert "this machine is x86_64" in r.stderr and not (tmp_path / "host").exists()

    # the rpi4 installer (glibc 2.36) on the bullseye rootfs (glibc 2.31)
    run = chroot.put(made["run-rpi4"], "/tmp/rpi4.run")
    r = chroot.run("sh", run, check=False)
    assert r.returncode != 0, r.stdout
    assert "glibc too old" in r.stderr and "needs glibc 2.36" in r.stderr \
        and "has glibc 2.31" in r.stderr, r.stderr
    assert not (chroot.root / "opt/edge-infer").exists()


# ---- every artefact -------------------------------------------------------------------------
def test_rebuild_is_byte_identical(made, app_dir: Path, runner, tmp_path: Path):
    """From a copy of the app with other file times, into another folder: the same bytes."""
    copy = tmp_path / "app"
    shutil.copytree(app_dir, copy, symlinks=True)
    for p in copy.rglob("*"):
        os.utime(p, (EPOCH + 12345, EPOCH + 12345), follow_symlinks=False)
    inp = release_input(BOARD, copy, V1)
    out = tmp_path / "again"
    again = {
        "deb": debpkg.write_deb(inp, out, runner, lint=False),
        "rpm": rpmpkg.write_rpm(inp, out, runner),
        "run": runinstaller.write_run(inp, out, runner),
    }
    for kind, path in again.items():
        assert path.name == made[kind].name
        assert path.read_bytes() == made[kind].read_bytes(), f"{kind} differs on rebuild"


SECRET = re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"
                    rb"|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}|xox[baprs]-[A-Za-z0-9-]{10,}")


def test_no_secret_or_key_in_any_artefact(made, tmp_path: Path):
    trees = {}
    deb = tmp_path / "deb"
    subprocess.run(["dpkg-deb", "-R", str(made["deb"]), str(deb)], check=True)
    trees["deb"] = deb
    rpm_tree = tmp_path / "rpm"
    rpm_tree.mkdir()
    cpio = tmp_path / "payload.cpio"
    with open(cpio, "wb") as fh:
        subprocess.run(["rpm2cpio", str(made["rpm"])], stdout=fh, check=True)
    with open(cpio, "rb") as fh:
        subprocess.run(["cpio", "-idm", "--quiet"], stdin=fh, cwd=rpm_tree, check=True)
    trees["rpm"] = rpm_tree
    run = tmp_path / "run"
    run.mkdir()
    data = made["run"].read_bytes()
    offset = int(re.search(rb"^PAYLOAD_OFFSET=(\d+)", data, re.M).group(1))
    (tmp_path / "payload.tgz").write_bytes(data[offset:])
    with tarfile.open(tmp_path / "payload.tgz") as tf:
        tf.extractall(run, filter="data")
    trees["run"] = run
    for kind, tree in trees.items():
        names = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
        assert names, kind
        for p in names:
            assert not re.search(r"(^|/)(id_[a-z0-9]+|.*\.pem|.*\.key|\.netrc|\.pypirc)$",
                                 str(p.relative_to(tree))), f"{kind}: {p}"
            assert not SECRET.search(p.read_bytes()), f"{kind}: a key or token in {p}"
    scripts = made["run"].read_bytes()[:offset] + rpm("-qp", "--scripts",
                                                      str(made["rpm"])).stdout.encode()
    assert not SECRET.search(scripts)
    assert str(Path.home()).encode() + b"/" not in scripts


def test_artefact_names(made):
    assert made["deb"].name == "edge-infer_1.0.0_arm64.deb"
    assert made["rpm"].name == "edge-infer-1.0.0-1.aarch64.rpm"
    assert made["run"].name == "edge-infer-1.0.0-jetson-nx.run"

