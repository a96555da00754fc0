"""`invoke schema`: the JSON schemas editors use to check descriptors as they are typed."""

from __future__ import annotations

from pathlib import Path

from . import containerimage, deviceimage
from .app import APPS_DIR, write_app_schema
from .descriptors import write_schemas


def write_editor_schemas(project_root: Path) -> list[Path]:
    """toolchains/schema/*.schema.json, images/' container and device image schemas, then
    apps/app.schema.json."""
    images = project_root / "images"
    return [*write_schemas(project_root / "toolchains" / "schema"),
            containerimage.write_schema(images), deviceimage.write_schema(images),
            write_app_schema(project_root / APPS_DIR)]
