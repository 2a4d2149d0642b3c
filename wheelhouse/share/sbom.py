"""A software bill of materials: exactly the wheels each target installs, as a CycloneDX document.

Contract: :func:`build_sbom` resolves the requirements per target from the folder alone (as ``lock`` does) and
describes each wheel some target installs: project and version, its sha256 (the store's own hash, never one that
arrived with the folder), the licence its METADATA declares, the targets that install it, the requirement chains
that pull it in (what ``why`` shows) and the wheels it requires on those targets. Nothing is described when some
target is not covered (``sbom.report`` says why). :func:`cyclonedx_json` renders that as CycloneDX 1.6 JSON with
``cyclonedx-python-lib`` (the ``sbom`` extra), imported only there, so the rest needs no extra. Nothing here
writes a file or touches the network.

The licence is read as PEP 639 says: ``License-Expression`` when present (an SPDX expression, alone);
otherwise the ``License`` field and the ``License ::`` classifiers, each as an SPDX identifier where it names one,
else by name. A ``License`` field that holds a whole licence text is kept as that licence's text.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName

from wheelhouse import __version__, _log
from wheelhouse._markers import holds_or_not
from wheelhouse.dists import metadata_message
from wheelhouse.errors import StoreError, UsageError
from wheelhouse.requirements import RequirementSet
from wheelhouse.resolve.resolver import Pin, Resolution, format_chain, resolve
from wheelhouse.resolve.verify import VerifyReport
from wheelhouse.store.folder import Store, StoreFinder
from wheelhouse.store.metadata import MetadataProblem, read_metadata_member
from wheelhouse.targets import Target

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "Sbom",
    "SbomComponent",
    "build_sbom",
    "cyclonedx_available",
    "cyclonedx_json",
    "declared_licenses",
]

FORMATS = ("cyclonedx-json",)
INSTALL_HINT = "pip install 'wheelhouse-cli[sbom]'"
# Property names of the components, in wheelhouse's own namespace (CycloneDX property taxonomy).
TARGET_PROPERTY = "wheelhouse:target"
CHAIN_PROPERTY = "wheelhouse:required-by"
# A License field longer than this, or of several lines, is a licence text rather than a licence's name.
_LICENSE_NAME_MAX = 100

# The licence classifiers in common use that name one SPDX licence; any other is kept by its own name.
_CLASSIFIER_SPDX = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}


@dataclass(frozen=True)
class DeclaredLicense:
    """One licence as a wheel's METADATA declares it: an SPDX expression, an SPDX id, or a name (with text)."""

    kind: str  # "expression", "id" or "name"
    value: str
    text: str | None = None


@dataclass(frozen=True)
class SbomComponent:
    """One wheel that at least one target installs."""

    filename: str
    name: str  # as its METADATA spells it
    project: NormalizedName
    version: str
    sha256: str
    licenses: tuple[DeclaredLicense, ...]
    targets: tuple[str, ...]
    chains: tuple[str, ...]  # "requirements.txt:3 flask==3.0.0 -> werkzeug>=3.0.0", as ``why`` shows them
    requires: tuple[str, ...]  # file names of the wheels it requires on its targets
    direct: bool  # named by the requirements themselves


@dataclass(frozen=True)
class Sbom:
    """The bill of materials of a requirement set on some targets; empty when the folder does not cover them."""

    report: VerifyReport
    components: tuple[SbomComponent, ...] = ()

    @property
    def covered(self) -> bool:
        return self.report.covered

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(r.target for r in self.report.resolutions)


def declared_licenses(meta: Message) -> tuple[DeclaredLicense, ...]:
    """The licences a METADATA declares, by PEP 639's precedence (see the module docstring)."""
    expression = _header(meta, "License-Expression")
    if expression:
        return (DeclaredLicense("expression", expression),)
    found: list[DeclaredLicense] = []
    field = _header(meta, "License")
    if field and field.upper() not in ("UNKNOWN", "NONE"):
        if "\n" in field or len(field) > _LICENSE_NAME_MAX:
            text = _unfold(field)
            first = text.splitlines()[0].strip()[:_LICENSE_NAME_MAX] or "declared licence"
            found.append(DeclaredLicense("name", first, text=text))
        else:
            found.append(DeclaredLicense("name", field))
    for classifier in meta.get_all("Classifier") or ():
        text = str(classifier).strip()
        if not text.startswith("License ::") or text == "License :: OSI Approved":
            continue
        spdx = _CLASSIFIER_SPDX.get(text)
        found.append(DeclaredLicense("id", spdx) if spdx else DeclaredLicense("name", text.rsplit(" :: ", 1)[-1]))
    return tuple(dict.fromkeys(found))


def _unfold(field: str) -> str:
    """A multi-line METADATA field as written: continuation lines lose the indent (8 spaces, or 7 and a "|") that
    the core metadata format puts before them."""
    first, *rest = field.splitlines()
    lines = [first]
    for line in rest:
        if line.startswith("       |") or line.startswith(" " * 8):
            line = line[8:]
        lines.append(line.rstrip() if line.strip() else "")
    return "\n".join(lines)


def _header(meta: Message, name: str) -> str | None:
    value = meta.get(name)
    return (str(value).strip() or None) if value is not None else None


def build_sbom(
    requirements: RequirementSet, targets: Sequence[Target], store: Store, *, fix_args: Sequence[str] = ()
) -> Sbom:
    """Resolve every target from the folder alone and describe each wheel one of them installs.

    Returns an SBOM without components when some target is not covered (see ``sbom.report``). Raises
    StoreError when a chosen wheel cannot be read or hashed (the folder changed meanwhile).
    """
    scan = store.scan()
    finder = StoreFinder(scan)
    resolutions = tuple(resolve(requirements, t, [finder]) for t in targets)
    report = VerifyReport(str(store.root), resolutions, scan.problems, tuple(fix_args))
    if not report.covered:
        return Sbom(report)
    chosen = sorted({pin.dist.filename for res in resolutions for pin in res.pins})
    try:
        hashes = store.hashes(chosen)
    except OSError as exc:
        raise StoreError(
            f"cannot hash {getattr(exc, 'filename', '') or 'a wheel'}: {exc.strerror or exc}; "
            "was the folder changed meanwhile?",
            hint="run wheelhouse sbom again",
        ) from None
    metadata = {filename: _metadata(store, filename) for filename in chosen}
    targets_of: dict[str, list[str]] = {}
    chains_of: dict[str, dict[str, None]] = {}
    requires_of: dict[str, dict[str, None]] = {}
    direct: set[str] = set()
    for res in resolutions:
        for pin in res.pins:
            filename = pin.dist.filename
            targets_of.setdefault(filename, []).append(res.target.name)
            chains = chains_of.setdefault(filename, {})
            for chain in pin.chains:
                chains[format_chain(chain)] = None
                if len(chain) == 1:
                    direct.add(filename)
            requires = requires_of.setdefault(filename, {})
            for needed in _required_pins(metadata[filename], pin, res):
                requires[needed] = None
    components = []
    for filename in chosen:
        meta = metadata[filename]
        pin = next(p for res in resolutions for p in res.pins if p.dist.filename == filename)
        components.append(
            SbomComponent(
                filename=filename,
                name=_header(meta, "Name") or pin.name,
                project=pin.name,
                version=str(pin.version),
                sha256=hashes[filename],
                licenses=declared_licenses(meta),
                targets=tuple(targets_of[filename]),
                chains=tuple(chains_of[filename]),
                requires=tuple(sorted(requires_of[filename])),
                direct=filename in direct,
            )
        )
    return Sbom(report, tuple(components))


def _metadata(store: Store, filename: str) -> Message:
    """The METADATA of a wheel in the folder, through the store's one reader."""
    try:
        with zipfile.ZipFile(store.root / filename) as zf:
            return metadata_message(read_metadata_member(zf, filename))
    except (OSError, zipfile.BadZipFile, MetadataProblem) as exc:
        raise StoreError(
            f"cannot read the METADATA of {filename}: {exc}", hint="wheelhouse check --fix, then sbom again"
        ) from None


def _required_pins(meta: Message, pin: Pin, res: Resolution) -> list[str]:
    """The wheels pinned on ``res``'s target that ``pin``'s Requires-Dist names there (with its extras)."""
    environment = dict(res.target.marker_environment)
    extras = ("", *sorted(pin.extras))
    out = []
    for text in meta.get_all("Requires-Dist") or ():
        try:
            req = Requirement(str(text))
        except InvalidRequirement:
            continue
        applies = any(holds_or_not(req.marker, {**environment, "extra": e}) for e in extras)
        needed = res.pin(req.name) if applies else None
        if needed is not None and needed.name != pin.name:
            out.append(needed.dist.filename)
    return out


def cyclonedx_available() -> bool:
    """Whether ``cyclonedx-python-lib`` (the ``sbom`` extra) can be imported."""
    try:
        import cyclonedx  # noqa: F401
    except ImportError:
        return False
    return True


def cyclonedx_json(sbom: Sbom, *, name: str, timestamp: datetime.datetime | None = None) -> str:
    """The SBOM as a CycloneDX 1.6 JSON document; ``name`` names the application (the project) it describes.

    ``timestamp`` defaults to now. The serial number is derived from the content and the timestamp, so the same
    folder, requirements and time (``SOURCE_DATE_EPOCH`` for a reproducible build) give the same bytes.
    Raises UsageError, with the command that installs it, when cyclonedx-python-lib is missing.
    """
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
        from cyclonedx.model import AttachedText, HashAlgorithm, HashType, Property
        from cyclonedx.model.bom import Bom, BomMetaData
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
        from cyclonedx.output import make_outputter
        from cyclonedx.schema import OutputFormat, SchemaVersion
        from packageurl import PackageURL
    except ImportError:
        raise UsageError("wheelhouse sbom needs cyclonedx-python-lib", hint=INSTALL_HINT) from None

    factory = LicenseFactory()

    def licenses(declared: Sequence[DeclaredLicense]) -> list[License]:
        out: list[License] = []
        for lic in declared:
            if lic.kind == "expression":
                out.append(LicenseExpression(lic.value))
            elif lic.text is not None:
                out.append(DisjunctiveLicense(name=lic.value, text=AttachedText(content=lic.text)))
            else:
                made = factory.make_from_string(lic.value)
                # CycloneDX allows one expression alone, or licences by id or name; a License field that happens
                # to parse as a compound expression is kept as a name next to the others.
                out.append(DisjunctiveLicense(name=lic.value) if isinstance(made, LicenseExpression) else made)
        if any(isinstance(x, LicenseExpression) for x in out):
            return [next(x for x in out if isinstance(x, LicenseExpression))]
        return out

    when = timestamp or datetime.datetime.now(datetime.timezone.utc)
    digest = hashlib.sha256(when.isoformat().encode())
    root = Component(type=ComponentType.APPLICATION, name=name, bom_ref="root")
    bom = Bom(metadata=BomMetaData(component=root, timestamp=when))
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="wheelhouse", version=__version__))
    by_file: dict[str, Component] = {}
    for c in sbom.components:
        digest.update(f"{c.filename}\0{c.sha256}\0".encode())
        properties = [Property(name=TARGET_PROPERTY, value=t) for t in c.targets]
        properties += [Property(name=CHAIN_PROPERTY, value=chain) for chain in c.chains]
        # pkg:pypi/name@version?file_name=...: the package-url spec's form for one file of a release.
        purl = PackageURL(type="pypi", name=c.project, version=c.version, qualifiers={"file_name": c.filename})
        component = Component(
            type=ComponentType.LIBRARY,
            name=c.name,
            version=c.version,
            bom_ref=purl.to_string(),
            purl=purl,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=c.sha256)],
            licenses=licenses(c.licenses),
            properties=properties,
        )
        by_file[c.filename] = component
        bom.components.add(component)
    bom.register_dependency(root, [by_file[c.filename] for c in sbom.components if c.direct])
    for c in sbom.components:
        bom.register_dependency(by_file[c.filename], [by_file[f] for f in c.requires])
    bom.serial_number = uuid.UUID(bytes=digest.digest()[:16], version=4)
    outputter = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6)
    text = outputter.output_as_string(indent=2)
    if not text.endswith("\n"):
        text += "\n"
    _log.debug(f"sbom: {len(sbom.components)} components, serial {bom.serial_number}")
    return text
