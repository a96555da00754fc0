"""images/<name>/image.yaml: what goes into a container image, read into a frozen model.

The file says what the image holds besides the app and the system libraries it loads (which
are computed, never listed), how it starts (entry point, arguments, user, environment), its
extra labels, and optionally a base image the user has on disk (an OCI layout or a docker
archive, e.g. NVIDIA's L4T base saved with `docker save`). Without a base the image holds only
the app, the exact DT_NEEDED closure of its system libraries with the loader, and the files
that define its non-root user.

The YAML goes through the descriptors' loader (no anchors, no duplicate keys) and the same error
formatter, so a mistake names the file, the key and a likely fix:

    error: unknown key 'entrypont' in images/<name>/image.yaml; did you mean 'entrypoint'?

Version, revision, creation time, architecture and board come from the release, never from
here.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .yamlfile import model_schema, parse_model, read_descriptor, write_model_schema

IMAGE_FILE = "image.yaml"
SCHEMA_FILE = "image.schema.json"

_REPO = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
_USER = r"^[a-z_][a-z0-9_-]{0,30}$"
_ABS = r"^/[A-Za-z0-9._/+@-]*$"
_ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
_LABEL_KEY = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*(?:\.[a-z0-9]+(?:[.-][a-z0-9]+)*)+$"
#: labels the release computes; image.yaml may not set them
COMPUTED_LABELS = ("org.opencontainers.image.version", "org.opencontainers.image.revision",
                   "org.opencontainers.image.created", "org.opencontainers.image.licenses",
                   "org.opencontainers.image.base.name", "org.opencontainers.image.base.digest")
#: environment names that say they carry a secret: an image is not the place for one
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|CREDENTIAL", re.I)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserSpec(_Frozen):
    """The non-root user the container runs as: /etc/passwd and /etc/group entries in a layer
    and the image's `User` set to "uid:gid"."""

    name: str = Field(pattern=_USER, description="user (and group) name in /etc/passwd and /etc/group")
    uid: int = Field(ge=1000, le=65533, description="numeric user id (not root, not a system id)")
    gid: int = Field(ge=1000, le=65533, description="numeric group id of its own group")
    home: str = Field("/nonexistent", pattern=_ABS, description="home folder in /etc/passwd "
                      "(not created: the app needs none)")


class BaseSpec(_Frozen):
    """A base image on disk: its layers go first, then the image's own."""

    path: str = Field(description="an OCI image layout folder or a docker archive (docker save); "
                      "~ and ${VAR} are expanded")
    format: Literal["oci", "docker-archive"] = Field(
        description="oci: an OCI image layout (folder with index.json); docker-archive: a tar "
        "written by `docker save`")
    ref: str | None = Field(None, max_length=200, description="which image in the layout or archive "
                            "(an OCI ref name such as 'r35.4.1', or a docker tag such as "
                            "'nvcr.io/nvidia/l4t-base:r35.4.1'); needed when it holds several")
    boards: tuple[str, ...] = Field(
        (), description="boards whose images use this base (empty: every board)")
    foreign_elf_allowed: tuple[str, ...] = Field(
        (), description="glob patterns of base files that may be ELF files of another machine "
        "(e.g. /lib/firmware/* co-processor firmware); every other ELF file must be the board's")

    def applies_to(self, board: str) -> bool:
        return not self.boards or board in self.boards


class ContainerImageDef(_Frozen):
    """images/<name>/image.yaml"""

    repository: str = Field(pattern=_REPO, max_length=80,
                            description="image name of the tag <repository>:<version>-<board>")
    title: str = Field(min_length=1, max_length=80,
                       description="org.opencontainers.image.title")
    description: str = Field(min_length=10, max_length=300,
                             description="org.opencontainers.image.description (one line)")
    vendor: str = Field(min_length=1, max_length=80, description="org.opencontainers.image.vendor")
    source: str = Field(pattern=r"^https?://\S+$", description="org.opencontainers.image.source: "
                        "where the image's sources are (a URL)")
    license: str = Field(pattern=r"^[A-Za-z0-9.+-]+$", description="SPDX id of the app's own "
                         "licence; the label adds the bundled and system libraries' licences")
    prefix: str = Field(pattern=r"^/opt/[a-z0-9][a-z0-9.+-]*$",
                        description="where the app's bin/, lib/ and share/ go")
    entrypoint: tuple[str, ...] = Field(
        min_length=1, description="the program and its fixed arguments; the program must be "
        "a file of the image (e.g. /opt/<app>/bin/<app>)")
    cmd: tuple[str, ...] = Field((), description="default arguments (replaced by the arguments of "
                                 "`docker run IMAGE ARGS`)")
    workdir: str = Field("/", pattern=_ABS, description="working folder of the program")
    env: dict[str, str] = Field(default_factory=dict,
                                description="environment variables (PATH is set by edgeforge)")
    user: UserSpec
    labels: dict[str, str] = Field(default_factory=dict,
                                   description="extra labels (reverse-DNS keys); the OCI "
                                   "version, revision, created, licences and base are computed")
    extra_libraries: tuple[str, ...] = Field(
        (), description="system libraries the app loads at run time without a DT_NEEDED entry "
        "(e.g. libnss_dns.so.2 for host names); taken from the sysroot with their own closure")
    base: BaseSpec | None = Field(None, description="an optional base image (default: none, "
                                  "the image holds only what the app needs)")

    @field_validator("title", "description", "vendor")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v or "\r" in v:
            raise ValueError("must be one line")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not re.fullmatch(_ENV_KEY, key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if key == "PATH":
                raise ValueError("PATH is set by edgeforge (the app's bin/ first); remove it")
            if _SECRET_NAME.search(key):
                raise ValueError(f"{key} looks like a secret; an image's environment is readable "
                                 "by anyone who has the image: pass it at run time (docker run "
                                 "-e or a secret mount)")
            if "\0" in value or "\n" in value:
                raise ValueError(f"the value of {key} must be one line")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not re.fullmatch(_LABEL_KEY, key):
                raise ValueError(f"label {key!r} is not a reverse-DNS key such as "
                                 "org.example.team")
            if key in COMPUTED_LABELS:
                raise ValueError(f"label {key} is computed by the release; remove it")
        return v

    @field_validator("extra_libraries")
    @classmethod
    def _sonames(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not re.fullmatch(r"lib[A-Za-z0-9_.+-]+\.so(\.[0-9]+)*", name):
                raise ValueError(f"{name!r} is not a library file name such as libnss_dns.so.2")
        return v

    @field_validator("entrypoint", "cmd")
    @classmethod
    def _words(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for word in v:
            if "\0" in word or "\n" in word:
                raise ValueError(f"{word!r} must be one line")
        return v

    @model_validator(mode="after")
    def _entrypoint_absolute(self) -> ContainerImageDef:
        program = self.entrypoint[0]
        if not program.startswith("/") or posixpath.normpath(program) != program:
            raise ValueError(f"entrypoint: the program {program!r} must be an absolute, normal "
                             f"path such as {self.prefix}/bin/<program>")
        return self

    def tag_for(self, version: str, board: str) -> str:
        return f"{self.repository}:{tag_version(version)}-{board}"


def tag_version(version: str) -> str:
    """A release version as a tag: Docker tags allow letters, digits, '_', '.' and '-', so
    SemVer's '+' (build metadata) becomes '_' (the OCI community's usage) and Debian's '~'
    becomes '-'."""
    return version.replace("+", "_").replace("~", "-")


def container_image_schema() -> dict:
    return model_schema(ContainerImageDef, "edgeforge container image definition")


def write_schema(images_dir: Path) -> Path:
    return write_model_schema(images_dir / SCHEMA_FILE, ContainerImageDef,
                              "edgeforge container image definition")


def load(folder: Path) -> ContainerImageDef:
    """Read and validate <folder>/image.yaml (folder: images/<name>)."""
    return load_file(Path(folder) / IMAGE_FILE,
                     f"{Path(folder).parent.name}/{Path(folder).name}/{IMAGE_FILE}")


def load_file(path: Path, rel: str) -> ContainerImageDef:
    """Read and validate a container image definition (`rel`: its path in messages, e.g. an
    app descriptor's deliver.container_image)."""
    text = read_descriptor(path, rel, "it defines the container image (entry point, user, "
                           "labels, optional base)", "an image definition")
    return parse(text, rel)


def parse(text: str, rel: str) -> ContainerImageDef:
    return parse_model(text, rel, ContainerImageDef)
