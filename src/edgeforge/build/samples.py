"""Sample media for the app's tests, benchmarks and model: taken from OpenCV's pinned source archive.

OpenCV's source ships `samples/data/` (vtest.avi: pedestrians, 768x576 MPEG-4 part 2;
Megamind.avi: a face, for the Haar backend). The archive comes from the source mirror
(fetched and sha256-verified when missing), so the samples are pinned too.
Extracted once to <cache>/samples/<archive sha256>/<name>, aside and renamed into place.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

from edgeforge.context import Context
from edgeforge.core import SourceError, file_lock, verify_sha256
from edgeforge.deps import Pin, fill, load_pins, mirror_path

#: file name -> path inside the archive (below its top directory)
SAMPLES = {
    "vtest.avi": "samples/data/vtest.avi",
    "Megamind.avi": "samples/data/Megamind.avi",
}


def opencv_pin(ctx: Context) -> Pin:
    for pin in load_pins(ctx.project_root / "recipes", ["opencv"]):
        if ".orig." in pin.name:
            return pin
    raise SourceError("recipes/opencv/conandata.yml pins no orig source archive")


def samples_dir(ctx: Context, pin: Pin) -> Path:
    return ctx.samples_dir / pin.sha256[:16]


def sample(ctx: Context, name: str) -> Path:
    """Path to a sample file, extracting it from the mirrored OpenCV archive if needed."""
    if name not in SAMPLES:
        raise SourceError(f"unknown sample {name!r}; known: {', '.join(sorted(SAMPLES))}")
    pin = opencv_pin(ctx)
    out_dir = samples_dir(ctx, pin)
    out = out_dir / name
    if out.is_file():
        return out
    archive = mirror_path(ctx, pin)
    if not archive.is_file():  # e.g. a machine whose graph came from the team's remote
        for line in fill(ctx, [pin]):
            ctx.reporter.info(f"fetched {line} (for its sample videos)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(out_dir / ".lock"):
        if out.is_file():
            return out
        verify_sha256(archive, pin.sha256, pin.describe())
        wanted = {f"opencv-{pin.version}/{inner}": n for n, inner in SAMPLES.items()}
        with tarfile.open(archive) as tf:
            for member in tf:
                fname = wanted.get(member.name)
                if fname is None or not member.isfile():
                    continue
                src = tf.extractfile(member)
                assert src is not None
                fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{fname}.")
                with os.fdopen(fd, "wb") as fh:
                    while chunk := src.read(1 << 20):
                        fh.write(chunk)
                os.chmod(tmp, 0o644)
                os.utime(tmp, (member.mtime, member.mtime))
                os.replace(tmp, out_dir / fname)
    if not out.is_file():
        raise SourceError(f"{name} not found in {pin.describe()} (looked for {SAMPLES[name]})")
    return out
