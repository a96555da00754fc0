import os

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, get, rmdir

required_conan_version = ">=2.0"


class GoogleTestConan(ConanFile):
    name = "googletest"
    description = "Google's C++ test framework (gtest and gmock)"
    license = "BSD-3-Clause"
    homepage = "https://github.com/google/googletest"
    topics = ("testing", "unit-test")
    package_type = "static-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"fPIC": [True, False], "with_gmock": [True, False]}
    default_options = {"fPIC": True, "with_gmock": True}

    def layout(self):
        cmake_layout(self, src_folder="src")

    def source(self):
        data = self.conan_data["sources"][self.version]
        get(self, url=data["url"], sha256=data["sha256"], strip_root=True)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.variables["BUILD_GMOCK"] = bool(self.options.with_gmock)
        tc.variables["INSTALL_GTEST"] = True
        tc.variables["gtest_disable_pthreads"] = False
        tc.variables["gtest_force_shared_crt"] = False
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "GTest")
        gtest = self.cpp_info.components["gtest"]
        gtest.set_property("cmake_target_name", "GTest::gtest")
        gtest.libs = ["gtest"]
        gtest.system_libs = ["pthread", "m"]
        main = self.cpp_info.components["gtest_main"]
        main.set_property("cmake_target_name", "GTest::gtest_main")
        main.libs = ["gtest_main"]
        main.requires = ["gtest"]
        if self.options.with_gmock:
            gmock = self.cpp_info.components["gmock"]
            gmock.set_property("cmake_target_name", "GTest::gmock")
            gmock.libs = ["gmock"]
            gmock.requires = ["gtest"]
