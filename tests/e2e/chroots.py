"""An arm64 root file system of a board's stand-in Debian suite, made once into the cache, and
a copy of it per test to install packages into through binfmt (chroot), as a device would."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edgeforge.config import Arch
from edgeforge.context import Context, default_cache_dir
from edgeforge.core import canonical_hash, file_lock, rmtree
from edgeforge.host import binfmt_ok, debian_mirror
from tests.conftest import BUILD, PROJECT, require_tools

ROOTFS_FORMAT = 1
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def stand_in_rootfs(board: str) -> Path:
    """A minbase rootfs of the board's stand-in suite with apt's package lists, made once by
    mmdebstrap into the cache (built aside, renamed into place) and renewed every week, so its
    lists stay current with the archive."""
    require_tools("mmdebstrap", "chroot")
    if not binfmt_ok(Arch.ARM64):
        pytest.fail("binfmt has no qemu-aarch64 entry with the F flag: run invoke setup")
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    spec = ctx.catalog.resolve(board, env={}).sysroot.spec
    mirror = debian_mirror()
    if not mirror:
        pytest.fail("no Debian mirror in the host's apt sources (set EDGEFORGE_DEBIAN_MIRROR)")
    lines = [f"deb {mirror} {s} {' '.join(spec.components)}"
             for s in (spec.suite, *spec.extra_suites)]
    week = time.strftime("%G-%V")
    key = canonical_hash({"format": ROOTFS_FORMAT, "arch": spec.arch.value, "lines": lines,
                          "week": week})[:12]
    parent = default_cache_dir() / "installer-rootfs"
    final = parent / f"{spec.suite}-{spec.arch.value}-{key}"
    if (final / ".complete").is_file():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    with file_lock(parent / ".lock"):
        if (final / ".complete").is_file():
            return final
        for old in parent.glob(f"{spec.suite}-{spec.arch.value}-*"):
            rmtree(old)
        partial = parent / f".partial-{final.name}-{os.getpid()}"
        rmtree(partial)
        r = subprocess.run(
            ["mmdebstrap", f"--arch={spec.arch.value}", "--variant=minbase",
             "--skip=cleanup/apt/lists", spec.suite, str(partial), *lines],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
        if r.returncode != 0:
            rmtree(partial)
            pytest.fail("mmdebstrap failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
        (partial / ".complete").write_text(week + "\n")
        partial.rename(final)
    return final


class Chroot:
    """A copy of the cached rootfs for one test, with /proc mounted while it is used."""

    def __init__(self, base: Path, where: Path):
        self.root = where
        r = subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(where)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        (self.root / ".complete").unlink()
        shutil.copy2("/etc/resolv.conf", self.root / "etc/resolv.conf")
        subprocess.run(["mount", "-t", "proc", "proc", str(self.root / "proc")], check=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.root / "proc")], check=False)

    def run(self, *cmd: str, user: str | None = None, check: bool = True,
            timeout: float = 900) -> subprocess.CompletedProcess:
        argv = ["chroot", *([f"--userspec={user}"] if user else []), str(self.root), *cmd]
        env = {"PATH": CHROOT_PATH, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
               "HOME": "/root" if user is None else "/tmp"}
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            pytest.fail(f"in the arm64 rootfs: {' '.join(cmd)} -> exit {r.returncode}\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def put(self, src: Path, dest: str) -> str:
        target = self.root / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        return dest

    def snapshot(self) -> dict[str, tuple]:
        """Every path of the tree with its kind, mode, size and link target; what apt, dpkg and
        the shadow tools keep for themselves is left out (checked separately)."""
        skip = ("proc", "dev", "tmp", "run", "var/log", "var/cache", "var/lib/apt",
                "var/lib/dpkg", "root")
        state = {}
        for dirpath, dirs, files in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            dirs[:] = [d for d in dirs
                       if os.path.normpath(os.path.join(rel_dir, d)) not in skip]
            for name in dirs + files:
                p = Path(dirpath) / name
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if re.fullmatch(r"etc/(passwd|group|shadow|gshadow|subuid|subgid)-", rel):
                    continue  # the shadow tools' backups of the previous state
                st = p.lstat()
                link = os.readlink(p) if p.is_symlink() else None
                size = st.st_size if p.is_file() and not link else 0
                digest = (hashlib.sha256(p.read_bytes()).hexdigest()
                          if rel.startswith("etc/") and size and not link else None)
                state[rel] = (st.st_mode, size, link, digest)
        return state
