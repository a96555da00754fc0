"""The release's SBOM (CycloneDX 1.6 JSON, written with cyclonedx-python-lib).

Pure part: `Component` records and the runtime dependency graph, computed from the board's
manifest (every shipped ELF file with its DT_NEEDED list), the pinned sources (archive sha256,
the Debian source package each came from), the recipes' licences, the system libraries taken
from the sysroot (Debian package, version, licence from its dpkg database) and the model's
provenance. Writer: a thin call into cyclonedx-python-lib; every file whose sha256 is known is a
nested component of type `file` with it in `hashes`, where standard tools look. Reproducible:
the serial number is derived from the content and the timestamp is SOURCE_DATE_EPOCH.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeforge.core import canonical_hash, write_atomic

_NAMESPACE = uuid.UUID("6f2b3c1e-8f44-4b7e-9a43-2f4c0f6d2a11")


@dataclass(frozen=True)
class SourceArchive:
    name: str
    sha256: str
    debian: str | None = None  # "package version" of Debian's source package


@dataclass(frozen=True)
class Component:
    ref: str                      # bom-ref, unique in the document
    name: str
    version: str
    kind: str                     # application, library, machine-learning-model, data ...
    purl: str | None = None
    licenses: tuple[str, ...] = ()
    description: str | None = None
    supplier: str | None = None
    files: tuple[tuple[str, str], ...] = ()      # (shipped path, sha256 or "" if not known)
    provides: tuple[str, ...] = ()               # sonames the component's files provide
    needs: tuple[str, ...] = ()                  # sonames its files need (DT_NEEDED)
    uses: tuple[str, ...] = ()                   # bom-refs it needs otherwise (a model)
    sources: tuple[SourceArchive, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SbomSpec:
    subject: Component                           # the release's own application
    components: tuple[Component, ...]
    dependencies: Mapping[str, tuple[str, ...]]  # bom-ref -> bom-refs it needs at run time
    timestamp: int
    properties: tuple[tuple[str, str], ...] = ()
    serial: str = field(default="")


def runtime_graph(components: Sequence[Component]) -> dict[str, tuple[str, ...]]:
    """Who needs whom: A needs B when a file of A has a DT_NEEDED entry that a file of B
    provides. Sonames nobody provides (the loader, libc on a device) are simply absent."""
    provider = {so: c.ref for c in components for so in c.provides}
    graph: dict[str, tuple[str, ...]] = {}
    for c in components:
        needed = {provider[so] for so in c.needs if so in provider and provider[so] != c.ref}
        graph[c.ref] = tuple(sorted(needed | set(c.uses)))
    return graph


def make_spec(subject: Component, components: Iterable[Component], timestamp: int,
              properties: Sequence[tuple[str, str]] = ()) -> SbomSpec:
    comps = tuple(sorted(components, key=lambda c: c.ref))
    refs = [subject.ref, *(c.ref for c in comps)]
    refs += [file_ref(c, p) for c in (subject, *comps) for p, h in c.files if h]
    if len(set(refs)) != len(refs):
        raise ValueError(f"duplicate bom-refs in {refs}")
    graph = runtime_graph([subject, *comps])
    spec = SbomSpec(subject, comps, graph, timestamp, tuple(properties))
    serial = uuid.uuid5(_NAMESPACE, canonical_hash(_spec_data(spec)))
    return SbomSpec(subject, comps, graph, timestamp, tuple(properties), f"urn:uuid:{serial}")


def _spec_data(spec: SbomSpec) -> dict:
    return {"subject": asdict(spec.subject), "components": [asdict(c) for c in spec.components],
            "dependencies": dict(spec.dependencies), "timestamp": spec.timestamp,
            "properties": list(spec.properties)}


def file_ref(c: Component, path: str) -> str:
    """The bom-ref of one of a component's files (a nested component of type `file`)."""
    return f"{c.ref}:{path}"


# ---- writer -----------------------------------------------------------------------------------
def render(spec: SbomSpec) -> str:
    """The CycloneDX JSON document (sorted keys: byte-identical for the same spec)."""
    from . import cdxwriter  # start-up: cyclonedx-python-lib costs ~60 ms; only the sbom step

    return cdxwriter.render(spec)


def validate(text: str) -> list[str]:
    """Schema errors of a CycloneDX 1.6 JSON document (empty: valid)."""
    # start-up: only a release validates an SBOM; the JSON schema machinery costs 1.5 s
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator  # start-up: as above

    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return [] if err is None else [str(err)]


def write_sbom(spec: SbomSpec, path: Path) -> Path:
    text = render(spec)
    problems = validate(text)
    if problems:  # a bug in edgeforge, not bad input: the data above is ours
        raise ValueError(f"generated SBOM does not validate: {problems[0][:500]}")
    write_atomic(path, text)
    return path
