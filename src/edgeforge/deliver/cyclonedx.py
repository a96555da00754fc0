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

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from packageurl import PackageURL

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
def _licenses(names: Sequence[str]) -> list:
    """CycloneDX takes licences or one expression, not both: when a component has several and
    one of them is an expression, they become one expression (all of them apply)."""
    lf = LicenseFactory()
    made = [lf.make_from_string(x) for x in names]
    if len(made) > 1 and any(isinstance(m, LicenseExpression) for m in made):
        return [lf.make_from_string(" AND ".join(f"({x})" if " " in x.strip() else x
                                                 for x in names))]
    return made


def _sha256(digest: str) -> list[HashType]:
    return [HashType(alg=HashAlgorithm.SHA_256, content=digest)]


def _cdx_component(c: Component):
    """Every file with a known digest is a nested component of type `file` with its SHA-256
    in `hashes` (the standard field tools read; the `edgeforge:file` properties stay); a
    component that is one file carries its digest itself too."""
    refs = [ExternalReference(type=ExternalReferenceType.DISTRIBUTION,
                              url=XsUri(f"urn:edgeforge:source:{s.name}"),
                              comment=(f"Debian source package {s.debian}" if s.debian else None),
                              hashes=_sha256(s.sha256))
            for s in c.sources]
    props = [Property(name=k, value=v) for k, v in c.properties]
    props += [Property(name="edgeforge:file", value=f"{p} sha256:{h}" if h else p)
              for p, h in c.files]
    files = [CdxComponent(name=p, type=ComponentType.FILE, bom_ref=file_ref(c, p),
                          hashes=_sha256(h)) for p, h in c.files if h]
    return CdxComponent(
        name=c.name, version=c.version, type=ComponentType(c.kind), bom_ref=c.ref,
        purl=PackageURL.from_string(c.purl) if c.purl else None,
        licenses=_licenses(c.licenses),
        supplier=OrganizationalEntity(name=c.supplier) if c.supplier else None,
        hashes=_sha256(c.files[0][1]) if len(c.files) == 1 and c.files[0][1] else None,
        description=c.description, external_references=refs, properties=props,
        components=files,
    )


def render(spec: SbomSpec) -> str:
    """The CycloneDX JSON document (sorted keys: byte-identical for the same spec)."""
    bom = Bom(serial_number=uuid.UUID(spec.serial.removeprefix("urn:uuid:")))
    bom.metadata.timestamp = datetime.fromtimestamp(spec.timestamp, tz=UTC)
    bom.metadata.component = subject = _cdx_component(spec.subject)
    bom.metadata.properties = [Property(name=k, value=v) for k, v in spec.properties]
    by_ref = {spec.subject.ref: subject}
    for c in spec.components:
        by_ref[c.ref] = cdx = _cdx_component(c)
        bom.components.add(cdx)
    for ref, needs in spec.dependencies.items():
        bom.register_dependency(by_ref[ref], [by_ref[n] for n in needs])
    text = JsonV1Dot6(bom).output_as_string()
    return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def validate(text: str) -> list[str]:
    """Schema errors of a CycloneDX 1.6 JSON document (empty: valid)."""
    # imported here, as only a release needs it: the JSON schema machinery costs a second
    # and a half at start-up
    from cyclonedx.validation.json import JsonStrictValidator

    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return [] if err is None else [str(err)]


def write_sbom(spec: SbomSpec, path: Path) -> Path:
    text = render(spec)
    problems = validate(text)
    if problems:  # a bug in edgeforge, not bad input: the data above is ours
        raise ValueError(f"generated SBOM does not validate: {problems[0][:500]}")
    write_atomic(path, text)
    return path
