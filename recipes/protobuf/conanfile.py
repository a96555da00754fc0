import os

from conan import ConanFile
from conan.tools.build import cross_building
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, get, load, rmdir, save

required_conan_version = ">=2.0"


class ProtobufConan(ConanFile):
    name = "protobuf"
    description = "Protocol Buffers: the library, and protoc when built for the build machine"
    license = "BSD-3-Clause"
    homepage = "https://protobuf.dev"
    topics = ("serialization", "onnx", "dnn")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "fPIC": [True, False], "with_rtti": [True, False]}
    default_options = {"shared": False, "fPIC": True, "with_rtti": True}
    exports_sources = "protobuf-generate.cmake.in"

    @property
    def _with_protoc(self):
        # protoc is a build-machine tool: consumers get it through tool_requires, so a
        # cross build of the library skips it (it could not run here anyway).
        return not cross_building(self)

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self, src_folder="src")

    def source(self):
        data = self.conan_data["sources"][self.version]
        get(self, url=data["url"], sha256=data["sha256"], strip_root=True)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.variables["protobuf_BUILD_TESTS"] = False
        tc.variables["protobuf_BUILD_EXAMPLES"] = False
        tc.variables["protobuf_BUILD_CONFORMANCE"] = False
        tc.variables["protobuf_BUILD_PROTOC_BINARIES"] = self._with_protoc
        tc.variables["protobuf_BUILD_LIBPROTOC"] = self._with_protoc
        tc.variables["protobuf_BUILD_SHARED_LIBS"] = bool(self.options.shared)
        tc.variables["protobuf_WITH_ZLIB"] = False
        tc.variables["protobuf_DISABLE_RTTI"] = not self.options.with_rtti
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        template = load(self, os.path.join(self.export_sources_folder, "protobuf-generate.cmake.in"))
        save(self, os.path.join(self.package_folder, self._module),
             template.replace("@PROTOBUF_VERSION@", self.version))

    @property
    def _module(self):
        return os.path.join("lib", "cmake", "protobuf-edgeforge", "protobuf-generate.cmake")

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "protobuf")
        self.cpp_info.set_property("cmake_find_mode", "both")
        self.cpp_info.set_property("cmake_module_file_name", "Protobuf")
        self.cpp_info.set_property("cmake_build_modules", [self._module])
        lib = self.cpp_info.components["libprotobuf"]
        lib.set_property("cmake_target_name", "protobuf::libprotobuf")
        lib.set_property("pkg_config_name", "protobuf")
        lib.libs = ["protobufd" if self.settings.build_type == "Debug" else "protobuf"]
        lib.system_libs = ["m", "pthread"]
        lib.builddirs = [os.path.join("lib", "cmake", "protobuf-edgeforge")]
        if self._with_protoc:
            protoc = self.cpp_info.components["libprotoc"]
            protoc.set_property("cmake_target_name", "protobuf::libprotoc")
            protoc.libs = ["protocd" if self.settings.build_type == "Debug" else "protoc"]
            protoc.requires = ["libprotobuf"]
