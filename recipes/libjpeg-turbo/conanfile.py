import os

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, get, rmdir

required_conan_version = ">=2.0"


class LibjpegTurboConan(ConanFile):
    name = "libjpeg-turbo"
    description = "SIMD-accelerated libjpeg-compatible JPEG codec library"
    license = ("IJG", "BSD-3-Clause", "Zlib")
    homepage = "https://libjpeg-turbo.org"
    topics = ("jpeg", "image", "simd")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "fPIC": [True, False], "enable_simd": [True, False],
               "with_turbojpeg": [True, False]}
    default_options = {"shared": False, "fPIC": True, "enable_simd": True, "with_turbojpeg": False}

    @property
    def _is_arm(self):
        return str(self.settings.arch).startswith("arm")

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")
        self.settings.rm_safe("compiler.libcxx")
        self.settings.rm_safe("compiler.cppstd")

    def layout(self):
        cmake_layout(self, src_folder="src")

    def source(self):
        data = self.conan_data["sources"][self.version]
        get(self, url=data["url"], sha256=data["sha256"], strip_root=True)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.variables["ENABLE_SHARED"] = bool(self.options.shared)
        tc.variables["ENABLE_STATIC"] = not self.options.shared
        tc.variables["WITH_SIMD"] = bool(self.options.enable_simd)
        # On ARM the NEON code needs no extra tool: a build without it is a bug, so fail.
        # On x86 it needs nasm, which a native build machine may lack: fall back there.
        tc.variables["REQUIRE_SIMD"] = bool(self.options.enable_simd) and self._is_arm
        tc.variables["WITH_TURBOJPEG"] = bool(self.options.with_turbojpeg)
        tc.variables["WITH_JAVA"] = False
        tc.variables["WITH_12BIT"] = False
        tc.variables["ENABLE_TESTING"] = False  # CMake's own option name in 2.1 is BUILD_TESTING
        tc.variables["BUILD_TESTING"] = False
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE.md", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()
        for folder in ("bin", "share", "doc", os.path.join("lib", "cmake"),
                       os.path.join("lib", "pkgconfig")):
            rmdir(self, os.path.join(self.package_folder, folder))

    def package_info(self):
        self.cpp_info.set_property("cmake_find_mode", "both")
        self.cpp_info.set_property("cmake_file_name", "JPEG")
        self.cpp_info.set_property("cmake_target_name", "JPEG::JPEG")
        self.cpp_info.set_property("pkg_config_name", "libjpeg")
        self.cpp_info.components["jpeg"].libs = ["jpeg"]
        self.cpp_info.components["jpeg"].set_property("cmake_target_name", "JPEG::JPEG")
        if self.options.with_turbojpeg:
            self.cpp_info.components["turbojpeg"].libs = ["turbojpeg"]
