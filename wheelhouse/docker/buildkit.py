"""The install step of ``Dockerfile.offline`` for BuildKit: wheels mounted, not copied; uv or pip; bytecode.

Contract: pure text from the render options, used by :mod:`wheelhouse.docker.render`. The wheels, the
requirement files and the installer are bind-mounted (``RUN --mount=type=bind``) into the one ``RUN`` that
installs, so they are in no layer and need no second stage; Docker 20.10's built-in frontend reads these
mounts without a ``# syntax=`` line. The installer is chosen here, at render time:

* **uv**, when the folder holds a uv wheel for the target (and the lock is not a pylock.toml). The binary is
  taken out of the wheel in a stage of its own (kept in the build cache, never in the image). The virtualenv
  lives in a cache mount, so a rebuild syncs it (``uv pip sync``: what the requirements no longer need is
  removed, what they now need is added) and only the changed packages are unpacked and compiled; the synced
  virtualenv is then copied into the layer. uv makes it relocatable, so its scripts run from ``/opt/venv``.
* **pip** otherwise, into a virtualenv created in a layer of its own (cached while the base image stays).

Either way bytecode is compiled with ``compileall`` on every core after the install, skipping files whose
bytecode is current, so the image starts as fast as one where pip compiled while installing. A file that
does not compile is skipped, as pip skips it.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Sequence

__all__ = ["MOUNT_ROOT", "VENV_CACHE", "pip_install_step", "unsafe_mount_path", "uv_install_step", "venv_cache_id"]

# Where the mounted inputs appear inside the RUN: outside the app's and the virtualenv's directories.
MOUNT_ROOT = "/tmp/wheelhouse"
# The cache mount that keeps the virtualenv (and the pins it was synced to) between builds.
VENV_CACHE = "/var/cache/wheelhouse-venv"
_UV_DIR = f"{MOUNT_ROOT}/.uv"
# Characters the RUN --mount flag cannot carry in a path: it is one comma-separated, whitespace-ended word.
_MOUNT_UNSAFE = frozenset(" \t\n\r,\"'=")


def unsafe_mount_path(path: str) -> bool:
    """Whether ``path`` cannot be named in a ``--mount`` flag (whitespace, commas, quotes, ``=``)."""
    return any(c in _MOUNT_UNSAFE for c in path)


def venv_cache_id(target_name: str, base_image: str) -> str:
    """The id of the virtualenv's cache mount: one per target and base image, so a virtualenv is only ever
    synced for the interpreter it was made with. Projects that share both share the cache; the sync makes
    it exactly what each needs, and ``sharing=locked`` keeps two builds from syncing it at once."""
    digest = hashlib.sha256(f"{target_name}\0{base_image}".encode()).hexdigest()[:12]
    return f"wheelhouse-venv-{target_name}-{digest}"


def _mounts(wheels: str, inputs: Sequence[str]) -> list[str]:
    lines = [f"--mount=type=bind,source={wheels},target={MOUNT_ROOT}/{wheels}"]
    lines += [f"--mount=type=bind,source={path},target={MOUNT_ROOT}/{path}" for path in inputs]
    return lines


def _in_mount(path: str) -> str:
    return shlex.quote(f"{MOUNT_ROOT}/{path}")


def _install_args(lock: str | None, requirements: Sequence[str], constraints: Sequence[str]) -> str:
    if lock:
        return f"--require-hashes -r {_in_mount(lock)}"
    parts = [f"-r {_in_mount(p)}" for p in requirements] + [f"-c {_in_mount(p)}" for p in constraints]
    return " ".join(parts)


def _run(flags: str, mounts: Sequence[str], commands: str) -> str:
    """A RUN whose mount flags stand one per line before the commands."""
    lines = [f"RUN {flags}{mounts[0]} \\"] + [f"    {m} \\" for m in mounts[1:]]
    return "\n".join(lines) + "\n    " + commands


def _final(venv: str, final_lines: Sequence[str]) -> str:
    return "\n".join(
        [
            f"ENV PATH={venv}/bin:$PATH \\",
            f"    VIRTUAL_ENV={venv} \\",
            "    PYTHONUNBUFFERED=1",
            *final_lines,
        ]
    )


def _compile(python: str, lib: str, *, strip: str | None = None, prefix: str | None = None) -> str:
    where = f" -s {strip} -p {prefix}" if strip and prefix else ""
    return f"{{ {python} -m compileall -qq -j 0{where} {lib} || :; }}"


def uv_install_step(
    *,
    base_image: str,
    venv: str,
    wheels: str,
    uv_wheel: str,
    uv_data: str,
    inputs: Sequence[str],
    lock: str | None,
    requirements: Sequence[str],
    constraints: Sequence[str],
    cache_id: str,
    run_flags: str,
    final_lines: Sequence[str],
) -> str:
    """The stages of an offline Dockerfile that installs with uv from the folder's uv wheel."""
    links = f"--find-links={_in_mount(wheels)}"
    common = f"--offline --no-cache --no-index {links} --only-binary=:all:"
    venv_dir = f"{VENV_CACHE}/venv"
    python = f"--python={venv_dir}/bin/python"
    uv = f"{_UV_DIR}/uv"
    steps = [
        f"{{ [ -f {venv_dir}/pyvenv.cfg ] || {uv} venv --quiet --no-cache --relocatable "
        f'--python="$(command -v python3)" {venv_dir}; }}'
    ]
    if lock:
        # A lock pins every file with its hash: it is what the virtualenv is synced to.
        source = f"--require-hashes {_in_mount(lock)}"
    else:
        # Requirement files name only the top of the tree: resolve them to pins first (from the folder, for
        # this interpreter), then sync to the pins, which also removes what is no longer required.
        parts = [_in_mount(p) for p in requirements] + [f"-c {_in_mount(p)}" for p in constraints]
        steps.append(
            f"{uv} pip compile --quiet {common} \\\n        {python} --output-file={VENV_CACHE}/pins.txt "
            + " ".join(parts)
        )
        source = f"{VENV_CACHE}/pins.txt"
    steps.append(f"{uv} pip sync {common} \\\n        --link-mode=copy --strict {python} {source}")
    steps.append(_compile(f"{venv_dir}/bin/python", f"{venv_dir}/lib", strip=venv_dir, prefix=venv))
    steps.append(f"mkdir -p {posixpath.dirname(venv)} && cp -a {venv_dir} {venv}")
    mounts = [
        f"--mount=type=bind,from=uv,source=/uv/bin,target={_UV_DIR}",
        *_mounts(wheels, inputs),
        f"--mount=type=cache,id={cache_id},target={VENV_CACHE},sharing=locked",
    ]
    uv_stage = "\n".join(
        [
            f"FROM {base_image} AS uv",
            "# uv comes from its wheel in the folder (a zip that holds one static binary): nothing is downloaded.",
            _run(
                run_flags,
                [f"--mount=type=bind,source={uv_wheel},target=/tmp/uv.whl"],
                "python3 -m zipfile -e /tmp/uv.whl /tmp/uv \\\n"
                f"    && install -D -m 0755 /tmp/uv/{uv_data}/scripts/uv /uv/bin/uv \\\n"
                "    && rm -rf /tmp/uv",
            ),
        ]
    )
    install = [
        f"FROM {base_image}",
        "# Debian-based images mark the system Python as externally managed (PEP 668): install into a virtualenv.",
        "# It is kept in a cache mount between builds and synced to the requirements (what they no longer need is",
        "# removed), so a rebuild unpacks and compiles only what changed; then it is copied into this layer.",
        _run(run_flags, mounts, " \\\n    && ".join(steps)),
        _final(venv, final_lines),
    ]
    return uv_stage + "\n\n" + "\n".join(install)


def pip_install_step(
    *,
    base_image: str,
    venv: str,
    wheels: str,
    inputs: Sequence[str],
    lock: str | None,
    requirements: Sequence[str],
    constraints: Sequence[str],
    pylock_pip: str | None,
    run_flags: str,
    final_lines: Sequence[str],
) -> str:
    """The stage of an offline Dockerfile that installs with the pip of a fresh virtualenv."""
    links = f"--find-links={_in_mount(wheels)}"
    pip = f"{venv}/bin/python -m pip install --no-cache-dir --disable-pip-version-check"
    commands = []
    if pylock_pip:
        commands.append(f"{pip} \\\n        --no-index {links} --only-binary=:all: {shlex.quote(pylock_pip)}")
    commands.append(
        f"{pip} --no-compile \\\n        --no-index {links} --only-binary=:all: \\\n        "
        + _install_args(lock, requirements, constraints)
    )
    commands.append(_compile(f"{venv}/bin/python", f"{venv}/lib"))
    lines = [
        f"FROM {base_image}",
        "# Debian-based images mark the system Python as externally managed (PEP 668) and refuse pip: use a venv.",
        f"RUN python3 -m venv {venv}",
        "# pip compiles bytecode one file after another as it installs; compileall afterwards uses every core.",
    ]
    if pylock_pip:
        lines.append("# pip reads pylock.toml since 26.1: an older pip of the base image is upgraded from the wheels.")
    lines.append(_run(run_flags, _mounts(wheels, inputs), " \\\n    && ".join(commands)))
    lines.append(_final(venv, final_lines))
    return "\n".join(lines)
