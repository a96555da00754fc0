"""FFmpeg built (a) with edgeforge's cross toolchain for jetson-nx and (b) natively inside an
arm64 Debian bullseye rootfs under qemu-user (binfmt), the way `docker buildx --platform
linux/arm64` builds. Same source archive (from the mirror), same component flags (the ffmpeg
recipe's defaults), `make -j<cores>` both times. Prints both times and the ratio.
Target: the cross build at least 8x faster.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from _common import PROJECT, invoke, machine, timed

from edgeforge.config import DebianSysroot
from edgeforge.context import Context
from edgeforge.deps import load_pins, mirror_path
from edgeforge.host import debian_mirror as host_debian_mirror
from edgeforge.pipeline import prepare
from edgeforge.toolchain import compile_flags, link_flags, mmdebstrap_argv


def recipe_component_flags() -> list[str]:
    spec = importlib.util.spec_from_file_location("ffmpeg_recipe", PROJECT / "recipes/ffmpeg/conanfile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    opts = mod.FFmpegConan.default_options
    flags = ["--disable-autodetect", "--disable-everything", "--disable-programs", "--disable-doc",
             "--disable-debug", "--disable-avdevice", "--disable-avfilter", "--disable-postproc",
             "--enable-avcodec", "--enable-avformat", "--enable-swscale", "--enable-swresample",
             "--enable-network", "--enable-pic", "--enable-shared", "--disable-static",
             "--enable-asm", "--enable-neon"]
    for option in mod.FFmpegConan._LISTS:
        kind = option[:-1] if option != "bsfs" else "bsf"
        flags += [f"--enable-{kind}={n}" for n in opts[option].split(",") if n]
    return flags


def extract(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tf:
        tf.extractall(dest, filter="data")
    return next(dest.iterdir())


def main() -> None:
    jobs = str(os.cpu_count() or 2)
    timed(invoke("sources"))
    ctx = Context.create(project_root=PROJECT)
    target = ctx.catalog.resolve("jetson-nx")
    prepared = prepare(ctx, target)
    pin = next(p for p in load_pins(PROJECT / "recipes") if p.recipe == "ffmpeg")
    archive = mirror_path(ctx, pin)
    flags = recipe_component_flags()
    logs = PROJECT / "build" / "benchmarks"
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="edgeforge-bench-"))
    try:
        # (a) cross
        src = extract(archive, work / "cross")
        ts = prepared.toolset
        cross = [
            "--enable-cross-compile", "--arch=aarch64", "--target-os=linux",
            f"--cc={ts.cc}", f"--cxx={ts.cxx}", f"--ar={ts.tools['ar']}",
            f"--ranlib={ts.tools['ranlib']}", f"--nm={ts.tools['nm']}",
            f"--strip={ts.tools['strip']}", f"--sysroot={prepared.sysroot.path}",
            "--extra-cflags=" + " ".join(compile_flags(target, ts)),
            "--extra-ldflags=" + " ".join(link_flags(target, ts)),
        ]
        t_cross = timed(["sh", "-c", f"./configure {' '.join(map(repr, flags + cross))} && make -j{jobs}"],
                        cwd=src, log=logs / "ffmpeg-cross.log")

        # (b) emulated: a bullseye arm64 build rootfs (cached), the same source inside it
        rootfs = ctx.cache_dir / "bench" / "bullseye-arm64-buildd"
        if not (rootfs / "usr/bin/gcc").exists():
            shutil.rmtree(rootfs, ignore_errors=True)
            rootfs.parent.mkdir(parents=True, exist_ok=True)
            spec = DebianSysroot(kind="debian", suite="bullseye", arch="arm64", variant="buildd",
                                 extra_suites=("bullseye-updates",), packages=("pkg-config",))
            timed(mmdebstrap_argv(spec, rootfs, host_debian_mirror()), log=logs / "rootfs.log")
        inside = rootfs / "src"
        shutil.rmtree(inside, ignore_errors=True)
        shutil.move(str(extract(archive, work / "emu")), str(inside))
        t_emu = timed(["chroot", str(rootfs), "sh", "-c",
                       f"cd /src && ./configure {' '.join(map(repr, flags))} && make -j{jobs}"],
                      log=logs / "ffmpeg-emulated.log")
        shutil.rmtree(inside, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {machine()}")
    print(f"FFmpeg {pin.version}, {len(flags)} configure flags, make -j{jobs}")
    print(f"(a) cross, clang 14 -> aarch64 (edgeforge jetson-nx toolchain): {t_cross:8.1f} s")
    print(f"(b) native gcc inside arm64 bullseye rootfs under qemu-user:    {t_emu:8.1f} s")
    print(f"emulated/cross ratio: {t_emu / t_cross:.1f}x (target >= 8x): "
          f"{'met' if t_emu / t_cross >= 8 else 'NOT met'}")


if __name__ == "__main__":
    main()
