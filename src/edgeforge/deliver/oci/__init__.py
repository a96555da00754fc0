"""deliver.oci: the release's container image (OCI layout, docker archive, the local engine,
the multi-board image index)."""

from .engine import check_loaded, load_into_engine
from .image import plan_container_image, write_container_image
from .index import write_container_index
from .layout import MEDIA_INDEX, REF_NAME, Layout
from .record import (
    CONTAINER_RECORD,
    ContainerImageFile,
    ContainerResult,
    read_container_result,
)

__all__ = [
    "CONTAINER_RECORD",
    "ContainerImageFile",
    "ContainerResult",
    "Layout",
    "MEDIA_INDEX",
    "REF_NAME",
    "check_loaded",
    "load_into_engine",
    "plan_container_image",
    "read_container_result",
    "write_container_image",
    "write_container_index",
]
