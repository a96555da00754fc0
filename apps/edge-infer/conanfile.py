import os

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain


class EdgeInferConan(ConanFile):
    name = "edge-infer"
    version = "1.0.0"
    description = "Video analytics for edge boxes: FFmpeg decode, OpenCV dnn/HOG/Haar, JSON Lines"
    license = "Apache-2.0"
    package_type = "application"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "CMakeLists.txt", "include/*", "src/*", "tests/*", "model/*"

    def layout(self):
        self.folders.build = "build"
        self.folders.generators = os.path.join("build", "generators")

    def requirements(self):
        self.requires("opencv/4.6.0")
        self.requires("ffmpeg/5.1.9")

    def build_requirements(self):
        self.test_requires("googletest/1.12.1")

    def validate(self):
        check_min_cppstd(self, 17)

    def generate(self):
        tc = CMakeToolchain(self)
        # edgeforge passes what --version shows and the test inputs as user confs of its
        # app namespace (user.edgeforge.app:*; sample: the smoke run's sample, tests.smoke in
        # app.yaml)
        for conf, var in (("user.edgeforge.app:board", "EDGE_INFER_BOARD"),
                          ("user.edgeforge.app:git_revision", "EDGE_INFER_GIT_REVISION"),
                          ("user.edgeforge.app:sanitize", "EDGE_INFER_SANITIZE"),
                          ("user.edgeforge.app:sample", "EDGE_INFER_SAMPLE_VIDEO")):
            value = self.conf.get(conf)
            if value:
                tc.cache_variables[var] = str(value)
        launcher = self.conf.get("user.edgeforge.app:compiler_launcher")
        if launcher:
            tc.cache_variables["CMAKE_CXX_COMPILER_LAUNCHER"] = str(launcher)
        # no checkout or build path reaches the binaries (__FILE__ in assertions, debug info):
        # the same sources give the same bytes from any checkout and any build folder
        # (a ccache with a base dir would hand the compiler paths relative to the build folder).
        # The fixed names are the ones edgeforge's debugger setup maps back to the checkout.
        src = "/edgeforge-project/apps/edge-infer"
        maps = [f"-ffile-prefix-map={self.source_folder}={src}",
                f"-ffile-prefix-map={os.path.relpath(self.source_folder, self.build_folder)}={src}",
                f"-ffile-prefix-map={self.build_folder}=/edgeforge-build/edge-infer"]
        tc.extra_cflags += maps
        tc.extra_cxxflags += maps
        core = self.dependencies["opencv"].cpp_info.components["core"]
        if core.resdirs:
            tc.cache_variables["EDGE_INFER_CASCADE_DIR"] = os.path.join(core.resdirs[0], "haarcascades")
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        CMake(self).install()
