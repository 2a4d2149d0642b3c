"""``wheelhouse export`` / ``import``: bundles for air-gapped networks, and hostile bundles that add nothing."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.wheels import make_wheel, write_wheel
from wheelhouse.share.bundle import BundleError, export_bundle, import_bundle
from wheelhouse.store.folder import FileRecord, Store

X86 = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM = "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64"


@pytest.fixture
def web(project: Path) -> Path:
    """A folder with a small web stack for two architectures and an unrelated extra wheel."""
    wheels = project / "wheels"
    write_wheel(wheels, "flask", "3.0.0", requires_dist=["werkzeug>=3.0.0", "markupsafe>=2.1"])
    write_wheel(wheels, "werkzeug", "3.0.1", requires_dist=["markupsafe>=2.1.1"])
    write_wheel(wheels, "markupsafe", "2.1.5", tag=X86)
    write_wheel(wheels, "markupsafe", "2.1.5", tag=ARM)
    write_wheel(wheels, "unrelated", "1.0")
    (project / "requirements.txt").write_text("flask==3.0.0\n")
    return wheels


def _members(bundle: Path) -> list[str]:
    with tarfile.open(bundle) as tf:
        return tf.getnames()


def _read(bundle: Path, name: str) -> bytes:
    with tarfile.open(bundle) as tf:
        fh = tf.extractfile(name)
        assert fh is not None
        return fh.read()


def _snapshot(wheels: Path) -> dict[str, bytes]:
    """Everything a user or pip can see in the folder, plus the records and leftovers in the temp directory."""
    seen = {p.name: p.read_bytes() for p in wheels.iterdir() if p.is_file() and not p.name.startswith(".")}
    seen["<records>"] = json.dumps({k: v.sha256 for k, v in Store(wheels).records().items()}).encode()
    tmp = wheels / ".wheelhouse" / "tmp"
    seen["<tmp>"] = repr(sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []).encode()
    return seen


# -- export -------------------------------------------------------------------------------------------------


def test_export_everything_with_checksums_and_manifest(cli: Cli, web: Path, project: Path) -> None:
    store = Store(web)
    flask = "flask-3.0.0-py3-none-any.whl"
    sha = hashlib.sha256((web / flask).read_bytes()).hexdigest()
    store.update_records({flask: FileRecord(sha256=sha, url="https://files.example/flask.whl", targets=("t1",))})
    result = cli("export", "all.tar")
    assert result.exit_code == 0, result.output
    assert "wrote all.tar: 5 wheels" in result.output
    assert "wheelhouse import all.tar" in result.output
    bundle = project / "all.tar"
    names = _members(bundle)
    wheels = sorted(p.name for p in web.glob("*.whl"))
    assert names == [f"wheels/{w}" for w in wheels] + ["SHA256SUMS", "manifest.json"]
    sums = _read(bundle, "SHA256SUMS").decode().splitlines()
    # The format of sha256sum: "<hex>  <path>", so `sha256sum -c SHA256SUMS` works after `tar xf`.
    assert sums == [f"{hashlib.sha256((web / w).read_bytes()).hexdigest()}  wheels/{w}" for w in wheels]
    manifest = json.loads(_read(bundle, "manifest.json"))
    assert manifest["format"] == 1
    assert manifest["files"][flask]["url"] == "https://files.example/flask.whl"
    assert manifest["files"][flask]["targets"] == ["t1"]
    first = bundle.read_bytes()
    assert cli("export", "all.tar").exit_code == 0
    assert bundle.read_bytes() == first  # deterministic: same folder, same bytes


def test_export_for_requirements_and_targets_takes_exactly_the_closure(cli: Cli, web: Path, project: Path) -> None:
    result = cli("export", "arm.tar", "-r", "requirements.txt", "--target", "linux/arm64", "--python", "3.12", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["targets"] == ["cp312-manylinux_2_28_aarch64"]
    assert sorted(f["file"] for f in data["files"]) == [
        "flask-3.0.0-py3-none-any.whl",
        f"markupsafe-2.1.5-{ARM}.whl",
        "werkzeug-3.0.1-py3-none-any.whl",
    ]
    assert json.loads(_read(project / "arm.tar", "manifest.json"))["targets"] == ["cp312-manylinux_2_28_aarch64"]


def test_export_for_targets_alone_takes_compatible_wheels(cli: Cli, web: Path, project: Path) -> None:
    (project / "requirements.txt").unlink()
    result = cli("export", "x86.tar", "--target", "linux/amd64", "--python", "3.12", "--json")
    assert result.exit_code == 0, result.output
    files = sorted(f["file"] for f in json.loads(result.stdout)["files"])
    assert f"markupsafe-2.1.5-{X86}.whl" in files
    assert f"markupsafe-2.1.5-{ARM}.whl" not in files
    assert "unrelated-1.0-py3-none-any.whl" in files


def test_export_refuses_an_uncovered_target(cli: Cli, web: Path, project: Path) -> None:
    (web / f"markupsafe-2.1.5-{ARM}.whl").unlink()
    result = cli("export", "arm.tar", "--target", "linux/arm64", "--python", "3.12")
    assert result.exit_code == 3, result.output
    assert "does not cover cp312-manylinux_2_28_aarch64" in result.output
    assert "hint: wheelhouse download --target cp312-manylinux_2_28_aarch64" in result.output
    assert not (project / "arm.tar").exists()


def test_export_refuses_a_wheel_that_changed_since_download(web: Path, tmp_path: Path) -> None:
    store = Store(web)
    store.update_records({"unrelated-1.0-py3-none-any.whl": FileRecord(sha256="0" * 64)})
    with pytest.raises(BundleError, match="differs from the file that was downloaded"):
        export_bundle(store, tmp_path / "b.tar")
    assert list(tmp_path.glob("*b.tar*")) == []  # no bundle and no partial file left behind


# -- import -------------------------------------------------------------------------------------------------


def test_import_adds_wheels_and_merges_records(cli: Cli, web: Path, project: Path, tmp_path: Path) -> None:
    store = Store(web)
    flask = "flask-3.0.0-py3-none-any.whl"
    sha = hashlib.sha256((web / flask).read_bytes()).hexdigest()
    store.update_records({flask: FileRecord(sha256=sha, url="https://files.example/f.whl", sources=("r.txt:1",))})
    export_bundle(store, tmp_path / "b.tar", targets=("cp312-manylinux_2_28_x86_64",))
    target = tmp_path / "airgap" / "wheels"
    result = cli("import", str(tmp_path / "b.tar"), "--wheels", str(target))
    assert result.exit_code == 0, result.output
    assert "imported 5 wheels" in result.output
    assert "wheelhouse verify --target cp312-manylinux_2_28_x86_64" in result.output
    assert sorted(p.name for p in target.glob("*.whl")) == sorted(p.name for p in web.glob("*.whl"))
    record = Store(target).records()[flask]
    assert (record.sha256, record.url, record.sources) == (sha, "https://files.example/f.whl", ("r.txt:1",))
    assert cli("check", "--wheels", str(target)).exit_code == 0

    again = cli("import", str(tmp_path / "b.tar"), "--wheels", str(target), "--json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["added"] == []
    assert len(data["present"]) == 5


def test_import_reads_a_compressed_bundle(web: Path, tmp_path: Path) -> None:
    export_bundle(Store(web), tmp_path / "b.tar")
    (tmp_path / "b.tar.gz").write_bytes(gzip.compress((tmp_path / "b.tar").read_bytes()))
    result = import_bundle(Store(tmp_path / "new"), tmp_path / "b.tar.gz")
    assert len(result.added) == 5


def test_import_never_replaces_a_different_file(cli: Cli, web: Path, tmp_path: Path) -> None:
    export_bundle(Store(web), tmp_path / "b.tar")
    target = tmp_path / "other"
    write_wheel(target, "flask", "3.0.0", requires_dist=["something-else"])
    before = _snapshot(target)
    result = cli("import", str(tmp_path / "b.tar"), "--wheels", str(target))
    assert result.exit_code == 1
    assert "flask-3.0.0-py3-none-any.whl is already in" in result.output
    assert "with different content" in result.output
    assert _snapshot(target) == before


# -- hostile bundles: refused whole, nothing added ---------------------------------------------------------


def _hostile(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], sums: dict[str, bytes] | None) -> Path:
    """A tar of ``members`` (TarInfo for special ones, (name, data) for files) plus a SHA256SUMS for ``sums``."""
    with tarfile.open(path, "w") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        if sums is not None:
            text = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sums.items()).encode()
            info = tarfile.TarInfo("SHA256SUMS")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
    return path


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


GOOD_NAME, GOOD = make_wheel("good", "1.0")
BROKEN = GOOD[: len(GOOD) // 2]


@pytest.mark.parametrize(
    ("members", "sums", "message"),
    [
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD), ("../evil-1.0-py3-none-any.whl", GOOD)],
            {f"wheels/{GOOD_NAME}": GOOD, "../evil-1.0-py3-none-any.whl": GOOD},
            "has an unsafe path",
            id="parent-traversal",
        ),
        pytest.param(
            [(f"wheels/../../{GOOD_NAME}", GOOD)],
            {f"wheels/../../{GOOD_NAME}": GOOD},
            "has an unsafe path",
            id="nested-traversal",
        ),
        pytest.param(
            [(f"/tmp/{GOOD_NAME}", GOOD)], {f"/tmp/{GOOD_NAME}": GOOD}, "has an unsafe path", id="absolute-path"
        ),
        pytest.param(
            [
                (f"wheels/{GOOD_NAME}", GOOD),
                _special("wheels/evil-1.0-py3-none-any.whl", tarfile.SYMTYPE, "/etc/passwd"),
            ],
            {f"wheels/{GOOD_NAME}": GOOD},
            "is a link",
            id="symlink",
        ),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD), _special("wheels/x-1.0-py3-none-any.whl", tarfile.LNKTYPE, "SHA256SUMS")],
            {f"wheels/{GOOD_NAME}": GOOD},
            "is a link",
            id="hardlink",
        ),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD), _special("wheels/dev-1.0-py3-none-any.whl", tarfile.CHRTYPE)],
            {f"wheels/{GOOD_NAME}": GOOD},
            "is not a regular file",
            id="device",
        ),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD), ("wheels/install.sh", b"rm -rf /")],
            {f"wheels/{GOOD_NAME}": GOOD, "wheels/install.sh": b"rm -rf /"},
            "'wheels/install.sh' is not a wheel",
            id="non-wheel",
        ),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD), ("setup.py", b"import os")],
            {f"wheels/{GOOD_NAME}": GOOD},
            "unexpected member 'setup.py'",
            id="stray-top-level",
        ),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD)],
            {f"wheels/{GOOD_NAME}": GOOD + b"tampered"},
            f"checksum mismatch for {GOOD_NAME}",
            id="bad-checksum",
        ),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD), ("wheels/other-1.0-py3-none-any.whl", make_wheel("other", "1.0")[1])],
            {f"wheels/{GOOD_NAME}": GOOD},
            "other-1.0-py3-none-any.whl has no checksum",
            id="missing-checksum",
        ),
        pytest.param([(f"wheels/{GOOD_NAME}", GOOD)], None, "it has no SHA256SUMS", id="no-checksum-file"),
        pytest.param(
            [(f"wheels/{GOOD_NAME}", GOOD)],
            {f"wheels/{GOOD_NAME}": GOOD, "wheels/gone-1.0-py3-none-any.whl": b"x"},
            "lists gone-1.0-py3-none-any.whl but the bundle does not hold it",
            id="listed-but-absent",
        ),
        pytest.param(
            [("wheels/broken-1.0-py3-none-any.whl", BROKEN)],
            {"wheels/broken-1.0-py3-none-any.whl": BROKEN},
            "broken-1.0-py3-none-any.whl is broken",
            id="corrupt-wheel-with-matching-checksum",
        ),
    ],
)
def test_hostile_bundle_adds_nothing(
    cli: Cli,
    web: Path,
    tmp_path: Path,
    members: list[tarfile.TarInfo | tuple[str, bytes]],
    sums: dict[str, bytes] | None,
    message: str,
) -> None:
    bundle = _hostile(tmp_path / "hostile.tar", members, sums)
    before = _snapshot(web)
    result = cli("import", str(bundle))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: "), result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _snapshot(web) == before
    assert not (tmp_path / "evil-1.0-py3-none-any.whl").exists()


def test_not_a_tar_file(cli: Cli, web: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"this is not a tar file at all" * 100)
    before = _snapshot(web)
    result = cli("import", str(bogus))
    assert result.exit_code == 1
    assert "is not a readable tar file" in result.output
    assert _snapshot(web) == before


def test_truncated_bundle_adds_nothing(cli: Cli, web: Path, tmp_path: Path) -> None:
    export_bundle(Store(web), tmp_path / "b.tar")
    data = (tmp_path / "b.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    target = tmp_path / "fresh"
    result = cli("import", str(tmp_path / "cut.tar"), "--wheels", str(target))
    assert result.exit_code == 1, result.output
    assert list(target.glob("*.whl")) == []
