"""The CycloneDX writer: an SBOM spec (cyclonedx.py) as a CycloneDX 1.6 JSON document, through
cyclonedx-python-lib. Its own module because the library takes ~60 ms to import and only the
sbom step writes one (cyclonedx.render loads it then)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

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
from packageurl import PackageURL

from .cyclonedx import Component, SbomSpec, file_ref


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
