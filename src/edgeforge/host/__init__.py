"""host: what the build machine needs (`invoke setup`, `invoke doctor`), its apt sources, the
qemu-user command line."""

from .aptsources import (
    deb_src_enabled,
    debian_mirror,
    enable_deb_src,
)
from .qemu import (
    env_options,
    qemu_user_argv,
)
from .readiness import (
    check_host,
    make_host_ready,
)
from .setup import (
    DOCKER_SOCK,
    binfmt_ok,
    require_binfmt,
)

__all__ = [
    "DOCKER_SOCK",
    "binfmt_ok",
    "deb_src_enabled",
    "debian_mirror",
    "enable_deb_src",
    "env_options",
    "qemu_user_argv",
    "require_binfmt",
    "check_host",
    "make_host_ready",
]
