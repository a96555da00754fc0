"""An outside library packaged the way conan-center-index packages autotools projects
(AutotoolsToolchain, configure, libtool, make): nothing in it knows about edgeforge or the
board; the compiler, target and sysroot come from edgeforge's generated host profile."""

import json
import os
import tarfile

from conan import ConanFile
from conan.tools.files import copy
from conan.tools.gnu import Autotools, AutotoolsToolchain
from conan.tools.layout import basic_layout


class OutsideFribidiConan(ConanFile):
    name = "edgeforge-outside-fribidi"
    version = "1.0.8"
    package_type = "shared-library"
    settings = "os", "arch", "compiler", "build_type"
    exports = "source.json"

    def configure(self):
        self.settings.rm_safe("compiler.libcxx")
        self.settings.rm_safe("compiler.cppstd")

    def layout(self):
        basic_layout(self, src_folder="src")

    def source(self):
        # the pinned archive from edgeforge's source mirror (tests/e2e/outside/projects.yml)
        with open(os.path.join(self.recipe_folder, "source.json")) as fh:
            archive = json.load(fh)["archive"]
        # (mirror files are named by their sha256, without the suffix Conan's unzip() needs)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                member.name = member.name.split("/", 1)[1] if "/" in member.name else "."
            tar.extractall(self.source_folder, filter="data")

    def generate(self):
        tc = AutotoolsToolchain(self)
        tc.configure_args += ["--disable-static", "--enable-shared"]
        tc.generate()

    def build(self):
        autotools = Autotools(self)
        autotools.configure()
        autotools.make()

    def package(self):
        copy(self, "COPYING", self.source_folder, os.path.join(self.package_folder, "licenses"))
        autotools = Autotools(self)
        autotools.install()

    def package_info(self):
        self.cpp_info.libs = ["fribidi"]
