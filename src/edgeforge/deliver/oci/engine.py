"""The local container engine: `docker load` of the container image's docker archive through
the docker SDK, then the engine is asked what it loaded: the image ID must be the config digest
and the platform the board's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeforge.core import HostSetupError, ImageLoadError
from edgeforge.host import DOCKER_SOCK

from .record import ContainerResult


def load_into_engine(result: ContainerResult) -> None:
    """`docker load` the archive through the docker SDK, then check the engine holds the image
    under its tag, with the config digest as its ID and the board's platform."""
    try:
        # the docker SDK costs ~75 ms of `invoke`'s ~400 ms (python -X importtime): imported
        # only when a release loads its container image, to keep start-up short
        import docker
        from docker.errors import DockerException  # lazily too, for start-up
    except ImportError:  # pragma: no cover - a dependency of the project
        raise HostSetupError("the docker Python SDK is missing: reinstall edgeforge "
                             "(./edgeforge setup)") from None
    if not DOCKER_SOCK.exists():
        raise HostSetupError(f"no container engine at {DOCKER_SOCK} to load {result.tag} into; "
                             "fix: invoke setup (starts dockerd)")
    try:
        client = docker.DockerClient(base_url=f"unix://{DOCKER_SOCK}", timeout=900)
    except DockerException as exc:
        raise HostSetupError(f"cannot talk to dockerd at {DOCKER_SOCK} ({exc}); fix: invoke "
                             "setup") from None
    try:
        with open(result.docker_archive, "rb") as fh:
            client.images.load(fh)
        image = client.images.get(result.tag)
        attrs = image.attrs
    except DockerException as exc:
        raise ImageLoadError(f"docker load of {result.docker_archive} failed: {exc}") from None
    finally:
        client.close()
    check_loaded(attrs, result)


def check_loaded(attrs: Mapping[str, Any], result: ContainerResult) -> None:
    got = "/".join(p for p in (attrs.get("Os"), attrs.get("Architecture"), attrs.get("Variant"))
                   if p)
    problems = []
    if attrs.get("Id") != result.config_digest:
        problems.append(f"image ID {attrs.get('Id')} (expected {result.config_digest})")
    if got != result.platform:
        problems.append(f"platform {got} (expected {result.platform})")
    if problems:
        raise ImageLoadError(f"the engine holds {result.tag} with " + " and ".join(problems)
                             + ": it did not load this archive as written")

