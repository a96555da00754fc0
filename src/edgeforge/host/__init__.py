"""host"""

from .aptsources import (
    deb_src_enabled,
    debian_mirror,
    enable_deb_src,
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
    "require_binfmt",
]
