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
        if not can_run(self):
            return
        opencv = self.dependencies["opencv"]
        cascade = os.path.join(opencv.package_folder, "res", "haarcascades",
                               "haarcascade_frontalface_default.xml")
        neon = "1" if str(self.settings.arch).startswith("arm") else "0"
        exe = os.path.join(self.cpp.build.bindir, "test_package")
        clip = os.path.join(self.source_folder, "clip-h264.mp4")
        model = os.path.join(self.source_folder, "tiny-conv.onnx")
        # clip: 48 frames of 160x120 H.264 (see ../../ffmpeg/test_package/README.md)
        self.run(f"{exe} {clip} 48 160 120 {model} {cascade} {neon}", env="conanrun")
