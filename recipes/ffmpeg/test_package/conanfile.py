import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, cmake_layout


class TestPackageConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "CMakeToolchain"
    test_type = "explicit"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if can_run(self):
            clip = os.path.join(self.source_folder, "clip-h264.mp4")
            exe = os.path.join(self.cpp.build.bindir, "test_package")
            # 48 frames of 160x120 H.264 (see README.md beside the clip)
            self.run(f"{exe} {clip} 48 160 120", env="conanrun")
