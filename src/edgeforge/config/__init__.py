"""config: the descriptor models and the one YAML reader (boards, compilers, sysroots, recipes,
apps, container image and device image definitions); runs no tool."""

# modules used as namespaces (module.function reads better than a re-exported name)
from . import containerimage, deviceimage, recipes, scaffold
from .app import (
    APP_FILE,
    APPS_DIR,
    SMOKE_PLACEHOLDERS,
    AppDef,
    DataSpec,
    SmokeSpec,
    app_schema,
    parse_app,
    write_app_schema,
)
from .apploader import (
    App,
    DepsList,
    app_names,
    deps_list,
    load_app,
    load_apps,
)
from .appversion import (
    app_version,
    cmake_project_version,
    meson_project_version,
)
from .containerimage import (
    BaseSpec,
    ContainerImageDef,
    tag_version,
)
from .descriptors import (
    MAX_BYTES,
    Catalog,
    Loaded,
    Target,
    expand_path,
    json_schemas,
    load_yaml,
    sysroot_json,
    write_schemas,
)
from .deviceimage import (
    DEVICE_FILE,
    IMAGES_DIR,
    DeviceDef,
    public_key_line,
)
from .editorschemas import (
    write_editor_schemas,
)
from .installers import (
    InstallersSpec,
    parse_installers,
)
from .model import (
    AbiCeiling,
    AbiStrategy,
    Arch,
    CompilerFamily,
    DebianSysroot,
    DirectorySysroot,
    TarballSysroot,
    version_tuple,
)
from .recipes import (
    conandata,
    recipe_licenses,
    recipe_requirement_calls,
)
from .yamlfile import (
    dump_pipeline,
    parse_model,
    read_descriptor,
)

__all__ = [
    "containerimage",
    "deviceimage",
    "scaffold",
    "recipes",
    "APPS_DIR",
    "APP_FILE",
    "AbiCeiling",
    "App",
    "AppDef",
    "DEVICE_FILE",
    "DataSpec",
    "IMAGES_DIR",
    "InstallersSpec",
    "SMOKE_PLACEHOLDERS",
    "SmokeSpec",
    "AbiStrategy",
    "Arch",
    "BaseSpec",
    "Catalog",
    "CompilerFamily",
    "ContainerImageDef",
    "DepsList",
    "DebianSysroot",
    "DeviceDef",
    "DirectorySysroot",
    "Loaded",
    "MAX_BYTES",
    "TarballSysroot",
    "Target",
    "app_names",
    "app_schema",
    "app_version",
    "cmake_project_version",
    "conandata",
    "deps_list",
    "dump_pipeline",
    "expand_path",
    "json_schemas",
    "load_app",
    "load_apps",
    "load_yaml",
    "meson_project_version",
    "parse_app",
    "parse_installers",
    "parse_model",
    "public_key_line",
    "read_descriptor",
    "recipe_licenses",
    "recipe_requirement_calls",
    "sysroot_json",
    "tag_version",
    "version_tuple",
    "write_app_schema",
    "write_schemas",
    "write_editor_schemas",
]
