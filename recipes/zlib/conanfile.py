import os

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, get, rm, save

required_conan_version = ">=2.0"


class ZlibConan(ConanFile):
    name = "zlib"
    description = "General-purpose lossless data compression library"
    license = "Zlib"
    homepage = "https://zlib.net"
    topics = ("compression", "deflate")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "fPIC": [True, False]}
    default_options = {"shared": False, "fPIC": True}

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
        # zlib's CMakeLists renames an in-tree zconf.h during out-of-tree builds, which would
        # change the shared source folder under the second build; it generates its own.
        os.rename(os.path.join(self.source_folder, "zconf.h"),
                  os.path.join(self.source_folder, "zconf.h.included"))
        # Debian's repack dropped the Windows resource file that CMakeLists still lists
        rc = os.path.join(self.source_folder, "win32", "zlib1.rc")
        if not os.path.exists(rc):
            save(self, rc, "// not used on Linux\n")

    def generate(self):
        tc = CMakeToolchain(self)
        tc.variables["SKIP_INSTALL_FILES"] = True
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build(target="zlib" if self.options.shared else "zlibstatic")

    def package(self):
        save(self, os.path.join(self.package_folder, "licenses", "LICENSE"),
             _license_text(os.path.join(self.source_folder, "zlib.h")))
        copy(self, "zlib.h", self.source_folder, os.path.join(self.package_folder, "include"))
        copy(self, "zconf.h", self.build_folder, os.path.join(self.package_folder, "include"))
        pattern = "libz.so*" if self.options.shared else "libz.a"
        copy(self, pattern, self.build_folder, os.path.join(self.package_folder, "lib"),
             keep_path=False)
        rm(self, "*.cmake", self.package_folder, recursive=True)

    def package_info(self):
        self.cpp_info.set_property("cmake_find_mode", "both")
        self.cpp_info.set_property("cmake_file_name", "ZLIB")
        self.cpp_info.set_property("cmake_target_name", "ZLIB::ZLIB")
        self.cpp_info.set_property("pkg_config_name", "zlib")
        self.cpp_info.libs = ["z"]


def _license_text(header):
    with open(header, encoding="utf-8") as fh:
        text = fh.read()
    start = text.index("Copyright")
    return text[start:text.index("*/", start)].strip() + "\n"
