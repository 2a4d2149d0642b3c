"""The sdist benchmark: a download that must build source distributions, against ``pip wheel -r`` on the same
requirements, from a local index of sdists built in the run.

The projects are generated here and packed with setuptools itself (``build_meta.build_sdist``), so their
``PKG-INFO`` is what a real upload carries: the ``pyproject.toml`` projects have static metadata (PEP 643), the
``setup.py`` ones declare ``Requires-Dist`` dynamic (the backend must run to learn it), and one compiles a C
extension when a C compiler is there. The index also serves a wheel of the setuptools pinned in bench/peers.txt
(repacked from the peers' environment; with ``--peers system``, this interpreter's), which both tools' isolated
build environments install. Each contender
runs in a fresh environment (private HOME, so no cache survives), into an empty folder; the result must be a
wheel of every project.

A second row times a re-run for a foreign platform whose binary sdist cannot be built here (no Docker): the
answer is known from the first run, so the re-run builds nothing.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.utils import canonicalize_name, parse_wheel_filename

from bench.harness import Row, Run, Timing, run
from bench.lib import Context, side_by_side
from bench.server import serve_in_process
from bench.wheels import repack_installed

# name -> (build style, dependencies); "cext" compiles a C extension when a compiler is present.
PROJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "whb-alpha": ("pyproject", ("whb-beta>=1",)),
    "whb-beta": ("setup.py", ()),
    "whb-gamma": ("pyproject", ()),
    "whb-delta": ("setup.py", ("whb-gamma>=1",)),
    "whb-cext": ("cext", ()),
}
QUICK_PROJECTS = ("whb-alpha", "whb-beta", "whb-cext")
C_SOURCE = (
    "#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n"
    "static PyObject *add(PyObject *self, PyObject *args) {\n"
    '    long a, b;\n    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;\n'
    "    return PyLong_FromLong(a + b);\n}\n"
    'static PyMethodDef methods[] = {{"add", add, METH_VARARGS, ""}, {NULL, NULL, 0, NULL}};\n'
    'static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedup", NULL, -1, methods};\n'
    "PyMODINIT_FUNC PyInit__speedup(void) { return PyModule_Create(&module); }\n"
)


def bench_sdists(ctx: Context) -> None:
    """wheelhouse download vs pip wheel -r, both building every sdist of the requirements."""
    root = ctx.fresh("sdists")
    names = list(QUICK_PROJECTS if ctx.quick else PROJECTS)
    compiler = shutil.which("cc") is not None
    if not compiler:
        names = [n for n in names if PROJECTS[n][0] != "cext"]
    index = root / "index"
    site = ctx.peers_site()
    # Packed by the pinned setuptools too, so that PKG-INFO is what a current upload carries (Metadata 2.2+).
    built = _write_index(index, root / "projects", names, site, ctx.pip_python if site else sys.executable)
    requirements = root / "requirements.txt"
    requirements.write_text("".join(f"{n}\n" for n in names))
    expected = {str(canonicalize_name(n)) for n in names}
    with serve_in_process(index, root / "requests.log") as server:

        def projects_in(folder: Path) -> set[str]:
            return {str(parse_wheel_filename(p.name)[0]) for p in folder.glob("*.whl")}

        def wh_step(i: int) -> Run:
            dest = ctx.fresh(f"sdists/wh-{i}")
            argv = [
                ctx.wheelhouse,
                "download",
                "-r",
                str(requirements),
                "--wheels",
                str(dest),
                "--index-url",
                server.index_url,
                "--isolated",
            ]
            result = run(argv, env=ctx.env()).check()
            if projects_in(dest) != expected:
                raise RuntimeError(f"wheelhouse download built {sorted(projects_in(dest))}, not {sorted(expected)}")
            return result

        def pip_step(i: int) -> Run:
            dest = ctx.fresh(f"sdists/pip-{i}")
            argv = ctx.pip("wheel", "-r", str(requirements), "--wheel-dir", str(dest), "--index-url", server.index_url)
            result = run([*argv, "--disable-pip-version-check"], env=ctx.env()).check()
            if projects_in(dest) != expected:
                raise RuntimeError(f"pip wheel built {sorted(projects_in(dest))}, not {sorted(expected)}")
            return result

        timings = side_by_side(ctx.slow_repeat, {"wh": wh_step, "pip": pip_step})
        styles = ", ".join(f"{n} ({PROJECTS[n][0]})" for n in names)
        row = Row(
            "sdists",
            f"download that builds {len(names)} sdists",
            timings["wh"],
            "pip wheel -r",
            timings["pip"],
            goal="≤ pip wheel -r",
            note=f"{styles}; setuptools from the same local index",
            data={"sdists": built, "compiler": compiler},
        )
        row.passed = row.ratio is not None and row.ratio >= 1
        ctx.rows.append(row)
        if compiler:
            _foreign_rerun(ctx, server.index_url, root)


def _foreign_rerun(ctx: Context, index_url: str, root: Path) -> None:
    """A download for linux/arm64 whose C extension cannot be built here: first run, then the re-runs."""
    dest = ctx.fresh("sdists/foreign")
    foreign = "linux/arm64" if ctx.host.arch != "aarch64" else "linux/amd64"
    python = f"{ctx.host.python_version[0]}.{ctx.host.python_version[1]}"
    argv = [ctx.wheelhouse, "download", "whb-cext", "--wheels", str(dest), "--index-url", index_url, "--isolated"]
    argv += ["--target", foreign, "--python", python, "--build-in", "host"]
    home = ctx.env()
    first = run(argv, env=home).check(1)

    def build_logs() -> dict[str, int]:
        # Every build leaves its log (for its metadata, or for a target), named after the sdist.
        return {p.name: p.stat().st_mtime_ns for p in (dest / ".wheelhouse" / "logs").glob("*cext*.log")}

    built = build_logs()
    samples = [run(argv, env=home).check(1).seconds for _ in range(ctx.slow_repeat)]
    rebuilt = not built or build_logs() != built
    ctx.rows.append(
        Row(
            "sdists",
            f"re-run for {foreign}, binary sdist not buildable here",
            Timing(tuple(samples)),
            "its first run",
            Timing((first.seconds,)),
            goal="builds nothing again",
            passed=not rebuilt,
            note="the first run compiles it here, learns it is a binary and stops with the command for Docker",
        )
    )


# -- the index --------------------------------------------------------------------------------------------------


def _write_index(index: Path, projects: Path, names: list[str], site: str | None, python: str) -> list[str]:
    """Generate, pack and publish the projects' sdists and a setuptools wheel (the one pinned with the peers,
    installed in ``site``; else this interpreter's, with ``wheel`` when installed, which an older setuptools
    needs to build wheels), each sdist packed by ``python``'s setuptools; the sdist file names."""
    files = index / "files"
    files.mkdir(parents=True)
    pages: dict[str, list[dict[str, Any]]] = {}
    built: list[str] = []
    for name in names:
        style, deps = PROJECTS[name]
        sdist = _sdist(projects / name, name, style, deps, files, python)
        built.append(sdist.name)
        pages[name] = [_entry(sdist, None)]
    backend = ["setuptools"]
    if site is None and importlib.util.find_spec("wheel") is not None:
        backend.append("wheel")
    for project in backend:
        wheel_name, data = repack_installed(project, site)
        (files / wheel_name).write_bytes(data)
        metadata = _wheel_metadata(data)
        (files / f"{wheel_name}.metadata").write_bytes(metadata)
        pages[project] = [_entry(files / wheel_name, metadata)]
    _write_pages(index, pages)
    return built


def _sdist(project: Path, name: str, style: str, deps: tuple[str, ...], out: Path, python: str) -> Path:
    module = name.replace("-", "_")
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text("__version__ = '1.0'\n")
    if style == "pyproject":
        listed = ", ".join(json.dumps(d) for d in deps)
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\ndependencies = [{listed}]\n'
        )
    else:
        ext = ""
        if style == "cext":
            (project / module / "_speedup.c").write_text(C_SOURCE)
            ext = f", ext_modules=[Extension('{module}._speedup', ['{module}/_speedup.c'])]"
        (project / "setup.py").write_text(
            "from setuptools import Extension, setup\n"
            f"setup(name={name!r}, version='1.0', packages=[{module!r}], install_requires={list(deps)!r}{ext})\n"
        )
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        )
    script = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    done = subprocess.run([python, "-c", script], cwd=project, capture_output=True, text=True, check=True)
    return out / done.stdout.strip().splitlines()[-1]


def _entry(path: Path, metadata: bytes | None) -> dict[str, Any]:
    data = path.read_bytes()
    entry: dict[str, Any] = {
        "filename": path.name,
        "url": f"../../files/{quote(path.name, safe='')}",
        "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
        "requires-python": ">=3.8",
        "yanked": False,
        "size": len(data),
    }
    if metadata is not None:
        entry["core-metadata"] = {"sha256": hashlib.sha256(metadata).hexdigest()}
    return entry


def _write_pages(index: Path, pages: dict[str, list[dict[str, Any]]]) -> None:
    """PEP 503 HTML and PEP 691 JSON pages (core-metadata only for wheels, as PyPI does)."""
    simple = index / "simple"
    simple.mkdir(parents=True)
    names = sorted(pages)
    (simple / "index.json").write_text(
        json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
    )
    links = "".join(f'<a href="{quote(n)}/">{html.escape(n)}</a><br/>\n' for n in names)
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    for name, files in pages.items():
        page = simple / name
        page.mkdir()
        (page / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}))
        anchors = "".join(
            f'<a href="{f["url"]}#sha256={f["hashes"]["sha256"]}" data-requires-python="&gt;=3.8"'
            + (f' data-core-metadata="sha256={f["core-metadata"]["sha256"]}"' if "core-metadata" in f else "")
            + f">{html.escape(f['filename'])}</a><br/>\n"
            for f in files
        )
        (page / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{anchors}</body></html>\n")


def _wheel_metadata(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return zf.read(member)
