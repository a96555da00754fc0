import os
import re
import shlex

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import cross_building
from conan.tools.env import VirtualBuildEnv
from conan.tools.files import copy, get, load, rm, rmdir, save
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"

_ARCH = {"armv8": "aarch64", "armv7hf": "arm", "armv7": "arm", "x86_64": "x86_64"}



def unbuild_paths(conanfile, path):
    """This machine's folders, in a generated file whose text ends up in the libraries, become
    the fixed names edgeforge gives them (conf user.edgeforge:path_names): the package is then
    the same bytes whichever machine, checkout or Conan folder built it. A folder Conan built a
    package in has a random name (p/b/opencaf8621ae06ef6): it becomes /conan/<first 5 letters>,
    as the compiler wrappers map it."""
    names = conanfile.conf.get("user.edgeforge:path_names", default={}, check_type=dict)
    if not names or not os.path.isfile(path):
        return
    text = load(conanfile, path)
    for old in sorted(names, key=len, reverse=True):
        text = text.replace(old, names[old])
    conan = names.get(os.path.dirname(os.path.dirname(os.path.dirname(
        conanfile.package_folder.rstrip("/")))))
    if conan:
        text = re.sub(re.escape(conan) + r"/b/([^/\s\"'\\]{14,})",
                      lambda m: f"{conan}/{m.group(1)[:-13]}", text)
    save(conanfile, path, text)


class FFmpegConan(ConanFile):
    name = "ffmpeg"
    description = "Demuxing, decoding and scaling of audio and video (a lean, decode-first build)"
    license = "LGPL-2.1-or-later"
    homepage = "https://ffmpeg.org"
    topics = ("video", "decoding", "demuxing", "rtsp")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "decoders": ["ANY"],
        "encoders": ["ANY"],
        "parsers": ["ANY"],
        "demuxers": ["ANY"],
        "muxers": ["ANY"],
        "protocols": ["ANY"],
        "bsfs": ["ANY"],
        "enable_neon": [True, False],
        "enable_asm": [True, False],
        "with_zlib": [True, False],
    }
    default_options = {
        "shared": True,
        "fPIC": True,
        # msmpeg4v3: DivX 3, the codec of OpenCV's pedestrian sample (vtest.avi) the app is tested on
        "decoders": "h264,hevc,mpeg4,msmpeg4v3,mjpeg,vp8,vp9,rawvideo",
        "encoders": "",
        "parsers": "h264,hevc,mpeg4video,mjpeg,vp8,vp9",
        # mpegts: what encoders and cameras send over udp:// and RTP (payload type 33)
        "demuxers": "mov,matroska,avi,h264,hevc,mpegts,rtsp,rtp,sdp",
        "muxers": "",
        "protocols": "file,tcp,udp,rtp",
        "bsfs": "h264_mp4toannexb,hevc_mp4toannexb",
        "enable_neon": True,
        "enable_asm": True,
        "with_zlib": False,
    }
    _LISTS = ("decoders", "encoders", "parsers", "demuxers", "muxers", "protocols", "bsfs")

    @property
    def _is_arm(self):
        return str(self.settings.arch).startswith("arm")

    def config_options(self):
        if not self._is_arm:
            del self.options.enable_neon

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")
        self.settings.rm_safe("compiler.libcxx")
        self.settings.rm_safe("compiler.cppstd")

    def layout(self):
        basic_layout(self, src_folder="src")

    def requirements(self):
        if self.options.with_zlib:
            self.requires("zlib/1.2.13")

    def _list(self, option):
        return [x for x in str(self.options.get_safe(option) or "").split(",") if x]

    def validate(self):
        if str(self.settings.os) != "Linux":
            raise ConanInvalidConfiguration("ffmpeg: this recipe builds for os=Linux only")
        if str(self.settings.arch) not in _ARCH:
            raise ConanInvalidConfiguration(f"ffmpeg: arch={self.settings.arch} is not supported")
        for option in self._LISTS:
            for name in self._list(option):
                if not re.fullmatch(r"[a-z0-9_]+", name):
                    raise ConanInvalidConfiguration(
                        f"ffmpeg: option '{option}' has an invalid component name {name!r}: "
                        "give comma-separated FFmpeg component names, e.g. h264,hevc")
        if not self._list("decoders"):
            raise ConanInvalidConfiguration(
                "ffmpeg: option 'decoders' is empty; an inference build needs at least one "
                "video decoder (e.g. decoders=h264)")
        if not self._list("demuxers"):
            raise ConanInvalidConfiguration(
                "ffmpeg: option 'demuxers' is empty; give at least one container format "
                "(e.g. demuxers=mov,matroska)")
        if "file" not in self._list("protocols"):
            raise ConanInvalidConfiguration(
                "ffmpeg: option 'protocols' lacks 'file'; the inference app reads video files "
                "(e.g. protocols=file,udp)")

    def source(self):
        data = self.conan_data["sources"][self.version]
        get(self, url=data["url"], sha256=data["sha256"], strip_root=True)

    def _configure_args(self):
        conf = self.conf
        buildenv = VirtualBuildEnv(self).vars()
        compilers = conf.get("tools.build:compiler_executables", default={}, check_type=dict)
        cc = compilers.get("c") or buildenv.get("CC") or "cc"
        cxx = compilers.get("cpp") or buildenv.get("CXX") or "c++"
        cflags = conf.get("tools.build:cflags", default=[], check_type=list)
        ldflags = conf.get("tools.build:sharedlinkflags", default=[], check_type=list)
        args = [
            "--prefix=/",
            f"--cc={cc}",
            f"--cxx={cxx}",
            "--disable-autodetect",
            "--disable-everything",
            "--disable-programs",
            "--disable-doc",
            "--disable-debug",  # the toolchain decides the debug information (-g)
            "--disable-stripping",  # releases split debug information from what ships
            "--disable-avdevice",
            "--disable-avfilter",
            "--disable-postproc",
            "--enable-avcodec",
            "--enable-avformat",
            "--enable-swscale",
            "--enable-swresample",
            "--enable-network",
            "--enable-pic" if self.options.get_safe("fPIC", True) else "--disable-pic",
            "--enable-shared" if self.options.shared else "--disable-shared",
            "--disable-static" if self.options.shared else "--enable-static",
            "--enable-asm" if self.options.enable_asm else "--disable-asm",
        ]
        if self._is_arm:
            args.append("--enable-neon" if self.options.enable_neon else "--disable-neon")
        for option in self._LISTS:
            kind = option[:-1] if option != "bsfs" else "bsf"
            args += [f"--enable-{kind}={name}" for name in self._list(option)]
        if self.options.with_zlib:
            args.append("--enable-zlib")
            z = self.dependencies["zlib"].cpp_info
            cflags = cflags + [f"-I{d}" for d in z.includedirs]
            ldflags = ldflags + [f"-L{d}" for d in z.libdirs]
        for tool, env in (("ar", "AR"), ("ranlib", "RANLIB"), ("nm", "NM"), ("strip", "STRIP")):
            if buildenv.get(env):
                args.append(f"--{tool}={buildenv.get(env)}")
        pkg_config = conf.get("tools.gnu:pkg_config")
        if pkg_config:
            args.append(f"--pkg-config={pkg_config}")
        if cross_building(self):
            args += ["--enable-cross-compile", f"--arch={_ARCH[str(self.settings.arch)]}",
                     "--target-os=linux"]
            sysroot = conf.get("tools.build:sysroot")
            if sysroot:
                args.append(f"--sysroot={sysroot}")
        if cflags:
            args.append("--extra-cflags=" + " ".join(cflags))
        if ldflags:
            args.append("--extra-ldflags=" + " ".join(ldflags))
        return args

    def build(self):
        configure = os.path.join(self.source_folder, "configure")
        cmd = " ".join(shlex.quote(a) for a in [configure, *self._configure_args()])
        self.run(cmd, cwd=self.build_folder, env="conanbuild")
        # FFMPEG_CONFIGURATION (avcodec_configuration()) holds the configure command line
        unbuild_paths(self, os.path.join(self.build_folder, "config.h"))
        self.run(f"make -j{os.cpu_count() or 1}", cwd=self.build_folder, env="conanbuild")

    def package(self):
        copy(self, "COPYING.LGPLv2.1", self.source_folder,
             os.path.join(self.package_folder, "licenses"))
        self.run(f"make install DESTDIR={shlex.quote(self.package_folder)}",
                 cwd=self.build_folder, env="conanbuild")
        rmdir(self, os.path.join(self.package_folder, "share"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))
        rm(self, "*.a" if self.options.shared else "*.so*", os.path.join(self.package_folder, "lib"))

    def _lib_version(self, name):
        parts = {}
        for header in ("version_major.h", "version.h"):
            path = os.path.join(self.package_folder, "include", f"lib{name}", header)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                for part in ("MAJOR", "MINOR", "MICRO"):
                    m = re.search(rf"#define\s+LIB{name.upper()}_VERSION_{part}\s+(\d+)", text)
                    if m:
                        parts[part] = m.group(1)
        return ".".join(parts.get(p, "0") for p in ("MAJOR", "MINOR", "MICRO"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "FFMPEG")
        self.cpp_info.set_property("pkg_config_name", "ffmpeg")
        libs = {
            "avutil": [],
            "swresample": ["avutil"],
            "swscale": ["avutil"],
            "avcodec": ["avutil", "swresample"],
            "avformat": ["avcodec", "avutil"],
        }
        for name, deps in libs.items():
            comp = self.cpp_info.components[name]
            comp.set_property("pkg_config_name", f"lib{name}")
            # each library has its own version (libavcodec 59.x in FFmpeg 5.1); consumers
            # such as OpenCV check it through pkg-config
            comp.set_property("component_version", self._lib_version(name))
            comp.set_property("cmake_target_name", f"FFMPEG::{name}")
            comp.libs = [name]
            comp.requires = deps
            comp.system_libs = ["m", "pthread"]
        if self.options.with_zlib:
            self.cpp_info.components["avformat"].requires.append("zlib::zlib")
            self.cpp_info.components["avcodec"].requires.append("zlib::zlib")
