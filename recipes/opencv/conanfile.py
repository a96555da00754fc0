import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd, cross_building
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, get, load, patch, rmdir, save
from conan.tools.gnu import PkgConfigDeps

required_conan_version = ">=2.0"

# module -> OpenCV modules it needs (their own dependencies, as OpenCV declares them)
_MODULES = {
    "core": [],
    "imgproc": ["core"],
    "imgcodecs": ["core", "imgproc"],
    "videoio": ["core", "imgproc", "imgcodecs"],
    "flann": ["core"],
    "features2d": ["core", "imgproc", "flann"],
    "calib3d": ["core", "imgproc", "features2d", "flann"],
    "objdetect": ["core", "imgproc", "calib3d"],
    "dnn": ["core", "imgproc"],
}



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


class OpenCVConan(ConanFile):
    name = "opencv"
    description = "OpenCV for inference boxes: imgcodecs, videoio over FFmpeg, dnn with ONNX, objdetect"
    license = "Apache-2.0"
    homepage = "https://opencv.org"
    topics = ("computer-vision", "dnn", "video")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "with_ffmpeg": [True, False],
        "with_dnn": [True, False],
        "with_v4l": [True, False],
        "with_png": [True, False],
        "with_jpeg": [True, False],
        "enable_neon": [True, False],
    }
    default_options = {
        "shared": True,
        "fPIC": True,
        "with_ffmpeg": True,
        "with_dnn": True,
        "with_v4l": True,
        "with_png": True,
        "with_jpeg": True,
        "enable_neon": True,
    }

    @property
    def _is_arm(self):
        return str(self.settings.arch).startswith("arm")

    def config_options(self):
        if not self._is_arm:
            del self.options.enable_neon

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self, src_folder="src")

    def requirements(self):
        self.requires("zlib/1.2.13")
        if self.options.with_png:
            self.requires("libpng/1.6.39")
        if self.options.with_jpeg:
            self.requires("libjpeg-turbo/2.1.5")
        if self.options.with_ffmpeg:
            self.requires("ffmpeg/5.1.9")
        if self.options.with_dnn:
            self.requires("protobuf/3.21.12")

    def build_requirements(self):
        if self.options.with_dnn:
            self.tool_requires("protobuf/3.21.12")  # protoc, built for the build machine

    def validate(self):
        if self.settings.compiler.get_safe("cppstd"):
            check_min_cppstd(self, 11)
        if self._is_arm and self.settings.arch == "armv8" and not self.options.enable_neon:
            raise ConanInvalidConfiguration(
                "opencv: option enable_neon=False is not supported on armv8 (NEON is part of "
                "the baseline); remove the option")

    def source(self):
        main, packaging = self.conan_data["sources"][self.version]
        get(self, url=main["url"], sha256=main["sha256"], strip_root=True)
        get(self, url=packaging["url"], sha256=packaging["sha256"],
            destination=os.path.join(self.source_folder, packaging["destination"]))
        for p in self.conan_data.get("patches", {}).get(self.version, []):
            patch(self, patch_file=os.path.join(self.source_folder, p["patch_file"]),
                  base_path=self.source_folder)

    def _modules(self):
        wanted = ["core", "imgproc", "imgcodecs", "videoio", "objdetect"]
        if self.options.with_dnn:
            wanted.append("dnn")
        out: list[str] = []

        def add(module):
            for dep in _MODULES[module]:
                add(dep)
            if module not in out:
                out.append(module)

        for m in wanted:
            add(m)
        return out

    def generate(self):
        tc = CMakeToolchain(self)
        v = tc.variables
        v["BUILD_LIST"] = ",".join(self._modules())
        v["BUILD_SHARED_LIBS"] = bool(self.options.shared)
        for flag in ("BUILD_TESTS", "BUILD_PERF_TESTS", "BUILD_EXAMPLES", "BUILD_DOCS",
                     "BUILD_opencv_apps", "BUILD_JAVA", "BUILD_opencv_python2",
                     "BUILD_opencv_python3", "BUILD_ZLIB", "BUILD_PNG", "BUILD_JPEG", "BUILD_TIFF",
                     "BUILD_WEBP", "BUILD_OPENJPEG", "BUILD_JASPER", "BUILD_OPENEXR",
                     "BUILD_PROTOBUF", "BUILD_ITT", "BUILD_IPP_IW", "BUILD_WITH_DEBUG_INFO",
                     "WITH_TIFF", "WITH_WEBP", "WITH_OPENJPEG", "WITH_JASPER", "WITH_OPENEXR",
                     "WITH_GSTREAMER", "WITH_1394", "WITH_GTK", "WITH_QT", "WITH_OPENGL", "WITH_VTK",
                     "WITH_CUDA", "WITH_OPENCL", "WITH_EIGEN", "WITH_LAPACK", "WITH_TBB",
                     "WITH_OPENMP", "WITH_IPP", "WITH_ITT", "WITH_QUIRC", "WITH_CAROTENE",
                     "WITH_ADE", "WITH_VA", "WITH_VA_INTEL", "WITH_HALIDE", "WITH_OPENVX",
                     "WITH_GDAL", "WITH_GDCM", "WITH_IMGCODEC_SUNRASTER", "WITH_AVIF",
                     "WITH_OPENCLAMDFFT", "WITH_OPENCLAMDBLAS", "WITH_SPNG", "OPENCV_GENERATE_PKGCONFIG",
                     "OPENCV_ENABLE_NONFREE", "WITH_ONNX", "INSTALL_TESTS", "INSTALL_C_EXAMPLES"):
            v[flag] = False
        v["WITH_PTHREADS_PF"] = True
        v["WITH_ZLIB"] = True
        v["WITH_PNG"] = bool(self.options.with_png)
        v["WITH_JPEG"] = bool(self.options.with_jpeg)
        v["WITH_FFMPEG"] = bool(self.options.with_ffmpeg)
        v["WITH_V4L"] = bool(self.options.with_v4l)
        v["VIDEOIO_ENABLE_PLUGINS"] = False  # FFmpeg linked in, not a loadable plugin
        # no Python bindings and no build step needs Python: without this, the build machine's
        # interpreter is found and its path lands in getBuildInformation()
        v["OPENCV_PYTHON_SKIP_DETECTION"] = True
        v["WITH_PROTOBUF"] = bool(self.options.with_dnn)
        v["OPENCV_DNN_OPENCL"] = False
        v["OPENCV_INSTALL_FFMPEG_DOWNLOAD_SCRIPT"] = False
        v["OPENCV_SKIP_CMAKE_ROOT_CONFIG"] = True
        v["ENABLE_CCACHE"] = False
        v["ENABLE_PRECOMPILED_HEADERS"] = False
        # No RPATH at all: OpenCV would otherwise install RUNPATHs into this machine's Conan
        # cache (its lib dir and every dependency's), which do not exist on the device. The
        # application's own RUNPATH ($ORIGIN/../lib) finds the libraries there.
        v["CMAKE_SKIP_RPATH"] = True
        if self.options.with_dnn:
            v["PROTOBUF_UPDATE_FILES"] = True  # regenerate with our protoc (same version)
            protoc = os.path.join(self.dependencies.build["protobuf"].package_folder, "bin", "protoc")
            v["Protobuf_PROTOC_EXECUTABLE"] = protoc
        if self._is_arm:
            v["ENABLE_NEON"] = bool(self.options.enable_neon)
            if self.options.enable_neon:
                v["CPU_BASELINE"] = "NEON"
        if cross_building(self):
            v["OPENCV_ENABLE_PKG_CONFIG"] = True
        tc.generate()
        CMakeDeps(self).generate()
        PkgConfigDeps(self).generate()

    def _check_build_information(self):
        """The build must not silently lose its video backend or NEON."""
        info_file = os.path.join(self.build_folder, "modules", "core", "version_string.inc")
        with open(info_file, encoding="utf-8") as fh:
            info = fh.read()
        problems = []
        if self.options.with_ffmpeg and not re.search(r"FFMPEG:\s+YES", info):
            problems.append("option with_ffmpeg=True but the build information says FFMPEG is "
                            "not used (are FFmpeg's .pc files visible to pkg-config?)")
        if self.options.get_safe("enable_neon") and not re.search(r"Baseline:[^\n]*NEON", info):
            problems.append("option enable_neon=True but NEON is not in the CPU baseline")
        built = re.search(r"To be built:([^\n]*)", info)
        if self.options.with_dnn and not (built and re.search(r"\bdnn\b", built.group(1))):
            problems.append("option with_dnn=True but dnn is not among the modules to build")
        if problems:
            raise ConanException("opencv: " + "; ".join(problems) +
                                 f" (build information: {info_file})")

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        self._check_build_information()
        # getBuildInformation() and the data-file search hold compilers, flags and folders
        for generated in (os.path.join("modules", "core", "version_string.inc"),
                          "opencv_data_config.hpp"):
            unbuild_paths(self, os.path.join(self.build_folder, generated))
        cmake.build()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()
        for folder in ("share", os.path.join("lib", "cmake"), "bin"):
            rmdir(self, os.path.join(self.package_folder, folder))
        copy(self, "*.xml", os.path.join(self.source_folder, "data", "haarcascades"),
             os.path.join(self.package_folder, "res", "haarcascades"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "OpenCV")
        self.cpp_info.set_property("pkg_config_name", "opencv4")
        external = {
            "core": ["zlib::zlib"],
            "imgcodecs": (["libpng::libpng"] if self.options.with_png else [])
                         + (["libjpeg-turbo::jpeg"] if self.options.with_jpeg else []),
            "videoio": ["ffmpeg::avformat", "ffmpeg::avcodec", "ffmpeg::swscale", "ffmpeg::avutil"]
                       if self.options.with_ffmpeg else [],
            "dnn": ["protobuf::libprotobuf"],
        }
        for module in self._modules():
            comp = self.cpp_info.components[module]
            comp.set_property("cmake_target_name", f"opencv_{module}")
            comp.libs = [f"opencv_{module}"]
            comp.includedirs = [os.path.join("include", "opencv4")]
            comp.requires = list(_MODULES[module]) + external.get(module, [])
            comp.system_libs = ["m", "pthread", "dl", "rt"]
        self.cpp_info.components["core"].resdirs = ["res"]
