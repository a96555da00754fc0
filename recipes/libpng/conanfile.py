import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, get, rm, rmdir

required_conan_version = ">=2.0"


class LibpngConan(ConanFile):
    name = "libpng"
    description = "The official PNG reference library"
    license = "libpng-2.0"
    homepage = "http://www.libpng.org"
    topics = ("png", "image")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "fPIC": [True, False], "enable_neon": [True, False]}
    default_options = {"shared": False, "fPIC": True, "enable_neon": True}

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
        cmake_layout(self, src_folder="src")

    def requirements(self):
        self.requires("zlib/1.2.13")

    def validate(self):
        if self._is_arm and not self.options.enable_neon and self.settings.arch == "armv8":
            raise ConanInvalidConfiguration(
                "libpng: option enable_neon=False is not supported on armv8 (NEON is part of "
                "the architecture); remove the option")

    def source(self):
        data = self.conan_data["sources"][self.version]
        get(self, url=data["url"], sha256=data["sha256"], strip_root=True)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.variables["PNG_SHARED"] = bool(self.options.shared)
        tc.variables["PNG_STATIC"] = not self.options.shared
        tc.variables["PNG_EXECUTABLES"] = False
        tc.variables["PNG_TESTS"] = False
        tc.variables["PNG_HARDWARE_OPTIMIZATIONS"] = True
        if self._is_arm:
            tc.variables["PNG_ARM_NEON"] = "on" if self.options.enable_neon else "off"
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()
        for folder in ("bin", "share", os.path.join("lib", "libpng"), os.path.join("lib", "pkgconfig")):
            rmdir(self, os.path.join(self.package_folder, folder))
        rm(self, "libpng.a", os.path.join(self.package_folder, "lib"))
        rm(self, "libpng.so", os.path.join(self.package_folder, "lib"))
        rm(self, "libpng-config", self.package_folder, recursive=True)

    def package_info(self):
        self.cpp_info.set_property("cmake_find_mode", "both")
        self.cpp_info.set_property("cmake_file_name", "PNG")
        self.cpp_info.set_property("cmake_target_name", "PNG::PNG")
        self.cpp_info.set_property("pkg_config_name", "libpng16")
        self.cpp_info.includedirs = ["include", os.path.join("include", "libpng16")]
        self.cpp_info.libs = ["png16"]
        self.cpp_info.system_libs = ["m"]
