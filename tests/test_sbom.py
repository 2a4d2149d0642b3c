"""``wheelhouse sbom``: a CycloneDX document of exactly the wheels each target installs, validated against the
CycloneDX JSON schema."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import Cli
from tests.support.wheels import write_wheel
from wheelhouse.dists import metadata_message
from wheelhouse.share.sbom import DeclaredLicense, declared_licenses

X86 = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM = "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64"
X86_310 = "cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM_310 = "cp310-cp310-manylinux_2_17_aarch64.manylinux2014_aarch64"
TARGETS = ("--target", "linux/amd64", "--target", "linux/arm64", "--python", "3.10", "--python", "3.12")
MARKUPSAFE_LICENSE = "Copyright 2010 Pallets\n\nRedistribution and use in source and binary forms are permitted."


def extra_headers(*lines: str) -> str:
    """A Summary that brings more METADATA headers (the test wheel factory writes one line per field)."""
    return "\n".join(["A test package", *lines])


@pytest.fixture
def flask_folder(project: Path) -> Path:
    def add_wheel(name: str, version: str, **kwargs: Any) -> Path:
        return write_wheel(project / "wheels", name, version, **kwargs)

    add_wheel(
        "Flask",
        "3.0.0",
        requires_dist=["werkzeug>=3.0.0", "jinja2>=3.1.2", 'tomli; python_version < "3.11"', "pytest; extra == 'x'"],
        summary=extra_headers("License-Expression: BSD-3-Clause", "Classifier: License :: OSI Approved :: BSD License"),
    )
    add_wheel(
        "werkzeug",
        "3.0.1",
        requires_dist=["markupsafe>=2.1.1"],
        summary=extra_headers("Classifier: License :: OSI Approved :: BSD License"),
    )
    add_wheel("jinja2", "3.1.2", requires_dist=["markupsafe>=2.0"], license="BSD-3-Clause")
    add_wheel(
        "tomli", "2.0.1", license="MIT", summary=extra_headers("Classifier: License :: OSI Approved :: MIT License")
    )
    for tag in (X86, ARM, X86_310, ARM_310):
        add_wheel("markupsafe", "2.1.5", tag=tag, license=MARKUPSAFE_LICENSE.replace("\n", "\n        "))
    add_wheel("markupsafe", "2.0.0", tag=X86)  # an older release no target installs
    add_wheel("unused", "1.0")  # a project nothing requires
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    return project / "wheels"


def sbom_json(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("sbom", *TARGETS, *args)
    assert result.exit_code == 0, result.output
    # The document is valid CycloneDX 1.6, by the CycloneDX project's own schema and validator.
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.stdout) is None
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_file(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for component in data["components"]:
        qualifier = component["purl"].split("?file_name=")[1]
        out[qualifier] = component
    return out


def properties(component: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in component.get("properties", []) if p["name"] == name]


def test_the_sbom_lists_exactly_the_wheels_each_target_installs(cli: Cli, flask_folder: Path) -> None:
    data = sbom_json(cli)
    assert data["bomFormat"] == "CycloneDX"
    assert data["specVersion"] == "1.6"
    components = by_file(data)
    assert sorted(components) == sorted(
        [
            "flask-3.0.0-py3-none-any.whl",
            "werkzeug-3.0.1-py3-none-any.whl",
            "jinja2-3.1.2-py3-none-any.whl",
            "tomli-2.0.1-py3-none-any.whl",
            *(f"markupsafe-2.1.5-{tag}.whl" for tag in (X86, ARM, X86_310, ARM_310)),
        ]
    )
    flask = components["flask-3.0.0-py3-none-any.whl"]
    assert flask["name"] == "Flask"
    assert flask["version"] == "3.0.0"
    assert flask["purl"] == "pkg:pypi/flask@3.0.0?file_name=flask-3.0.0-py3-none-any.whl"
    assert flask["bom-ref"] == flask["purl"]
    # The hash is the file's, as the store computes it.
    for filename, component in components.items():
        digest = hashlib.sha256((flask_folder / filename).read_bytes()).hexdigest()
        assert component["hashes"] == [{"alg": "SHA-256", "content": digest}]
    assert data["metadata"]["component"]["name"] == "project"
    assert any(t["name"] == "wheelhouse" for t in data["metadata"]["tools"]["components"])


def test_targets_and_requirement_chains_are_properties(cli: Cli, flask_folder: Path) -> None:
    components = by_file(sbom_json(cli))
    tomli = components["tomli-2.0.1-py3-none-any.whl"]
    # Only the Python 3.10 targets install tomli (python_version < "3.11").
    assert sorted(properties(tomli, "wheelhouse:target")) == [
        "cp310-manylinux_2_28_aarch64",
        "cp310-manylinux_2_28_x86_64",
    ]
    assert properties(tomli, "wheelhouse:required-by") == ["requirements.txt:1 flask==3.0.0 -> tomli"]
    arm = components[f"markupsafe-2.1.5-{ARM}.whl"]
    assert properties(arm, "wheelhouse:target") == ["cp312-manylinux_2_28_aarch64"]
    assert sorted(properties(arm, "wheelhouse:required-by")) == [
        "requirements.txt:1 flask==3.0.0 -> jinja2>=3.1.2 -> markupsafe>=2.0",
        "requirements.txt:1 flask==3.0.0 -> werkzeug>=3.0.0 -> markupsafe>=2.1.1",
    ]


def test_the_dependency_graph_follows_each_wheels_requirements(cli: Cli, flask_folder: Path) -> None:
    data = sbom_json(cli)
    refs = {c["bom-ref"]: c["purl"].split("?file_name=")[1] for c in data["components"]}
    refs["root"] = "root"
    graph = {refs[d["ref"]]: sorted(refs[r] for r in d.get("dependsOn", [])) for d in data["dependencies"]}
    assert graph["root"] == ["flask-3.0.0-py3-none-any.whl"]
    # tomli where a target needs it; pytest (an extra nobody asked for) nowhere.
    assert graph["flask-3.0.0-py3-none-any.whl"] == [
        "jinja2-3.1.2-py3-none-any.whl",
        "tomli-2.0.1-py3-none-any.whl",
        "werkzeug-3.0.1-py3-none-any.whl",
    ]
    assert graph["werkzeug-3.0.1-py3-none-any.whl"] == sorted(
        f"markupsafe-2.1.5-{tag}.whl" for tag in (X86, ARM, X86_310, ARM_310)
    )
    assert graph["tomli-2.0.1-py3-none-any.whl"] == []


def test_licences_come_from_metadata(cli: Cli, flask_folder: Path) -> None:
    components = by_file(sbom_json(cli))
    licences = {name.split("-")[0]: c.get("licenses") for name, c in components.items()}
    # License-Expression wins alone over the classifiers.
    assert licences["flask"] == [{"expression": "BSD-3-Clause"}]
    assert licences["werkzeug"] == [{"license": {"id": "BSD-3-Clause"}}]
    assert licences["jinja2"] == [{"license": {"id": "BSD-3-Clause"}}]
    # The License field and the classifier name the same licence once.
    assert licences["tomli"] == [{"license": {"id": "MIT"}}]
    markupsafe = licences["markupsafe"]
    assert markupsafe is not None
    assert markupsafe[0]["license"]["name"] == "Copyright 2010 Pallets"
    assert markupsafe[0]["license"]["text"]["content"] == MARKUPSAFE_LICENSE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("License-Expression: MIT OR Apache-2.0\nLicense: BSD", [DeclaredLicense("expression", "MIT OR Apache-2.0")]),
        ("License: UNKNOWN", []),
        ("Classifier: License :: OSI Approved", []),
        (
            "Classifier: License :: OSI Approved :: Apache Software License\n"
            "Classifier: License :: Other/Proprietary License",
            [DeclaredLicense("id", "Apache-2.0"), DeclaredLicense("name", "Other/Proprietary License")],
        ),
        ("License: GPL-2.0-or-later", [DeclaredLicense("name", "GPL-2.0-or-later")]),
        ("Summary: no licence at all", []),
    ],
)
def test_declared_licences(headers: str, expected: list[DeclaredLicense]) -> None:
    meta = metadata_message(f"Metadata-Version: 2.4\nName: demo\nVersion: 1.0\n{headers}\n\n".encode())
    assert list(declared_licenses(meta)) == expected


def test_the_same_folder_and_time_give_the_same_bytes(
    cli: Cli, flask_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = cli("sbom", *TARGETS)
    second = cli("sbom", *TARGETS)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"


def test_output_to_a_file(cli: Cli, flask_folder: Path, project: Path) -> None:
    result = cli("sbom", *TARGETS, "-o", "sbom.cdx.json")
    assert result.exit_code == 0, result.output
    assert "wrote sbom.cdx.json: 8 components, 4 targets" in result.stdout
    document = (project / "sbom.cdx.json").read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None


def test_one_target(cli: Cli, flask_folder: Path) -> None:
    result = cli("sbom", "--target", "linux/arm64", "--python", "3.12")
    assert result.exit_code == 0, result.output
    files = sorted(by_file(json.loads(result.stdout)))
    assert files == [
        "flask-3.0.0-py3-none-any.whl",
        "jinja2-3.1.2-py3-none-any.whl",
        f"markupsafe-2.1.5-{ARM}.whl",
        "werkzeug-3.0.1-py3-none-any.whl",
    ]


def test_a_folder_that_does_not_cover_the_targets_writes_nothing(cli: Cli, flask_folder: Path, project: Path) -> None:
    (flask_folder / "werkzeug-3.0.1-py3-none-any.whl").unlink()
    result = cli("sbom", *TARGETS, "-o", "sbom.json")
    assert result.exit_code == 3
    assert "refusing to write an SBOM" in result.output
    assert not (project / "sbom.json").exists()
    # Standard output carries the document only: the report of the gaps goes to standard error.
    to_stdout = cli("sbom", *TARGETS)
    assert to_stdout.exit_code == 3
    assert to_stdout.stdout == ""
    assert "not covered" in to_stdout.stderr


def test_without_the_extra_the_command_says_how_to_install_it(
    cli: Cli, flask_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cyclonedx", None)  # what an installation without the extra looks like
    result = cli("sbom", *TARGETS)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "error: wheelhouse sbom needs cyclonedx-python-lib" in result.output
    assert "pip install 'wheelhouse-cli[sbom]'" in result.output
