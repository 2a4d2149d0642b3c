"""A gap says its real cause: every file needs a newer Python, every release is yanked, only an sdist fits, and
after a download, why the index's files could not serve (not just that the folder holds none)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import NormalizedName

from tests.conftest import Cli
from tests.support.index_server import IndexServer
from wheelhouse.dists import CoreMetadata, DistFile, parse_dist_filename
from wheelhouse.requirements import load_requirements
from wheelhouse.resolve.resolver import resolve
from wheelhouse.resolve.verify import verify_scan
from wheelhouse.store.folder import Store
from wheelhouse.targets import parse_target

PY311 = parse_target("linux/amd64", python="3.11")


class IndexLikeFinder:
    """Files as an index lists them: with data-requires-python and yanks known before any metadata is read."""

    def __init__(self, files: Sequence[tuple[str, str | None, str | None]]) -> None:
        self.listed = files

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        out = []
        for filename, requires_python, yanked in self.listed:
            project, version, kind, tags, build = parse_dist_filename(filename)
            if project == name:
                location = f"https://index.invalid/files/{filename}"
                out.append(
                    DistFile(filename, project, version, kind, tags, location, False, build, requires_python, yanked)
                )
        return out

    def metadata(self, dist: DistFile) -> CoreMetadata:
        return CoreMetadata(str(dist.name), str(dist.version), (), dist.requires_python)


def test_a_release_whose_files_all_need_a_newer_python_says_so() -> None:
    finder = IndexLikeFinder(
        [
            ("django-6.1-py3-none-any.whl", ">=3.12", None),
            ("django-6.1.tar.gz", ">=3.12", None),
            ("django-6.0-py3-none-any.whl", ">=3.10", None),
        ]
    )
    res = resolve(load_requirements([], ["Django==6.1"]), PY311, [finder])
    (gap,) = res.gaps
    assert gap.kind == "no-compatible"
    assert gap.summary == f"django==6.1 requires Python >=3.12; the target has {PY311.python_full_version}"


def test_a_python_limit_that_only_some_files_have_is_not_the_summary() -> None:
    finder = IndexLikeFinder(
        [
            ("lib-2.0-py3-none-any.whl", ">=3.12", None),
            ("lib-2.0-cp311-cp311-win_amd64.whl", None, None),
        ]
    )
    (gap,) = resolve(load_requirements([], ["lib==2.0"]), PY311, [finder]).gaps
    assert gap.summary == "no compatible file for lib==2.0"
    assert {r.filename for r in gap.rejected} == {"lib-2.0-py3-none-any.whl", "lib-2.0-cp311-cp311-win_amd64.whl"}


def test_a_wheel_for_another_python_that_also_needs_a_newer_one_counts_as_needing_it() -> None:
    finder = IndexLikeFinder([("numpy-2.3.0-cp312-cp312-manylinux_2_28_x86_64.whl", ">=3.12", None)])
    (gap,) = resolve(load_requirements([], ["numpy>=2.3"]), PY311, [finder]).gaps
    assert "requires Python >=3.12" in gap.summary


def test_a_yanked_only_release_says_it_is_yanked() -> None:
    finder = IndexLikeFinder([("lib-1.0-py3-none-any.whl", None, "broken"), ("lib-1.0.tar.gz", None, "broken")])
    (gap,) = resolve(load_requirements([], ["lib"]), PY311, [finder]).gaps
    assert gap.summary == "every release lib allows is yanked; a yanked release is used only when pinned with =="
    # Pinned, a yanked release is used (PEP 592).
    assert resolve(load_requirements([], ["lib==1.0"]), PY311, [finder]).covered


def test_verify_after_a_download_explains_a_gap_by_the_plan(project: Path) -> None:
    """The folder holds nothing for django; the plan over folder and index knows why: its Python limit."""
    finder = IndexLikeFinder([("django-6.1-py3-none-any.whl", ">=3.12", None)])
    reqs = load_requirements([], ["django==6.1"])
    plan = resolve(reqs, PY311, [finder])
    scan = Store(project / "wheels").scan()
    (alone,) = verify_scan(reqs, [PY311], scan).resolutions
    assert [g.kind for g in alone.gaps] == ["missing"]
    (explained,) = verify_scan(reqs, [PY311], scan, explained_by=[plan]).resolutions
    (gap,) = explained.gaps
    assert "requires Python >=3.12" in gap.summary
    assert gap.chains == alone.gaps[0].chains
    assert [r.filename for r in gap.rejected] == ["django-6.1-py3-none-any.whl"]


def test_download_says_why_the_index_could_not_serve(cli: Cli, index_server: IndexServer, project: Path) -> None:
    index_server.add_wheel("django", "6.1", requires_python=">=3.12")
    index_server.add_wheel("django", "6.0", requires_python=">=3.10")
    index_server.add_wheel("lib", "1.0", yanked="broken")
    args = ("download", "--index-url", index_server.index_url, "--target", "linux/amd64", "--python", "3.11")
    result = cli(*args, "django==6.1", "lib")
    assert result.exit_code == 3, result.output
    assert "in any source" not in result.output
    assert "django==6.1 requires Python >=3.12" in result.output
    assert "every release lib allows is yanked" in result.output
    data = json.loads(cli(*args, "--json", "django==6.1").stdout)
    (target,) = data["verify"]["targets"]
    (gap,) = target["gaps"]
    assert gap["kind"] == "no-compatible"
    assert gap["rejected"][0]["reason"].startswith("requires Python >=3.12")
