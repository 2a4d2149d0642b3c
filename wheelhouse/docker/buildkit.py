"""The install steps of ``Dockerfile.offline`` for BuildKit: wheels mounted, not copied; uv or pip; two layers.

Contract: pure text from the render options, used by :mod:`wheelhouse.docker.render`. The wheels, the
requirement files and the installer are bind-mounted (``RUN --mount=type=bind``) into the ``RUN`` steps that
install, so they are in no layer and need no second stage; Docker 20.10's built-in frontend reads these
mounts without a ``# syntax=`` line. The installer is chosen at render time:

* **uv**, when the folder holds a uv wheel for the target (and the lock is not a pylock.toml). The binary is
  taken out of the wheel in a stage of its own (kept in the build cache, never in the image).
* **pip** otherwise, the pip of the virtualenv ``python3 -m venv`` makes.

Either way the install is two ``RUN`` steps, two layers:

1. **The heavy wheels** (:func:`wheelhouse.docker.context.heavy_wheels`: the target's pinned wheels of 256 KiB
   or more). Each file is bind-mounted on its own, so BuildKit keys the step on those files' content and on
   nothing else: not on the rest of the folder, not on the requirement files. The step checks each file
   against the sha256 rendered into the Dockerfile (``sha256sum -c``), creates ``/opt/venv``, installs them
   there by their pins with ``--no-deps`` and compiles their bytecode on every core.
2. **The rest**: the whole folder and the requirement files (or the lock) are mounted and the requirements
   installed into the same virtualenv (uv: ``--exact --strict``, so the virtualenv is exactly the
   requirements' closure and consistent; pip: the heavy pins are already satisfied). Only what this step
   installed is compiled: with uv the files written after the step began, with pip pip's own compile.

A change of requirements that keeps the heavy set (adding or removing a small project) re-runs only the second
step, which unpacks and compiles a few small wheels; adding, removing or bumping a heavy wheel re-runs both. A
wheel of the heavy set that the rendering no longer matches fails the first step on its hash, so a stale
Dockerfile never installs other bytes than it names. A file that does not compile is skipped, as pip skips it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from wheelhouse.docker.context import HeavyWheel

__all__ = ["HEAVY_DIR", "MOUNT_ROOT", "InstallStep", "pip_install_step", "unsafe_mount_path", "uv_install_step"]

# Where the mounted inputs appear inside the RUN: outside the app's and the virtualenv's directories.
MOUNT_ROOT = "/tmp/wheelhouse"
# Where the heavy wheels are mounted, one file each, apart from the folder the second step mounts.
HEAVY_DIR = f"{MOUNT_ROOT}/heavy"
_UV_DIR = f"{MOUNT_ROOT}/.uv"
# Characters the RUN --mount flag cannot carry in a path: it is one comma-separated, whitespace-ended word.
_MOUNT_UNSAFE = frozenset(" \t\n\r,\"'=")


@dataclass(frozen=True)
class InstallStep:
    """What both installers' steps are rendered from (paths relative to the build context)."""

    base_image: str
    venv: str
    wheels: str
    # The requirement files (or the lock) the second step mounts, each once.
    inputs: tuple[str, ...]
    lock: str | None
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    heavy: tuple[HeavyWheel, ...]
    run_flags: str
    # What follows the install in the final stage (the app's WORKDIR, COPY and CMD).
    final_lines: tuple[str, ...]


def unsafe_mount_path(path: str) -> bool:
    """Whether ``path`` cannot be named in a ``--mount`` flag (whitespace, commas, quotes, ``=``)."""
    return any(c in _MOUNT_UNSAFE for c in path)


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


def _compile_all(python: str, lib: str) -> str:
    """Bytecode of every module under ``lib``, one ``compileall`` process per core, each given a batch of files.

    ``compileall -j 0`` sends every file to its workers one by one, and on a machine of few cores that traffic
    is a noticeable share of the work; batches of files handed out by ``xargs -P`` do not pay it.
    """
    # No pipe (its status would be the last command's): the list goes through a file. A module that does not
    # compile is skipped, as pip skips it, so the group's status is the clean-up's.
    find = f"find {lib} -name '*.py' -print0 >\"$modules\""
    xargs = f'xargs -0 -r -a "$modules" -P "$(nproc)" -n 400 {python} -m compileall -qq'
    return f'{{ modules="$(mktemp)"; {find}; {xargs}; rm -f "$modules"; }}'


def _compiled(step: InstallStep, *installs: str) -> list[str]:
    """``installs`` followed by the bytecode of what they installed.

    Without heavy wheels the virtualenv holds only what they wrote: ``compileall`` on every core. Over a heavy
    layer, only the modules written since ``$mark`` was made are compiled (one after another: they are few):
    a ``compileall`` of the whole virtualenv would spend longer checking the heavy layer's current bytecode
    than compiling the rest.
    """
    python = f"{step.venv}/bin/python"
    if not step.heavy:
        return [*installs, _compile_all(python, f"{step.venv}/lib")]
    newer = f"find {step.venv}/lib -newer \"$mark\" -name '*.py' -exec {python} -m compileall -qq {{}} +"
    return ['mark="$(mktemp)"', *installs, f"{{ {newer} || :; }}", 'rm -f "$mark"']


def _rest_comment(step: InstallStep, what: str) -> list[str]:
    if not step.heavy:
        return ["# The install, then its bytecode compiled on every core (pip would compile one file after another)."]
    return [f"# Layer 2, the rest: {what};", "# then the bytecode of the files this step wrote."]


def _heavy_mounts(heavy: Sequence[HeavyWheel]) -> list[str]:
    return [f"--mount=type=bind,source={w.path},target={HEAVY_DIR}/{w.filename}" for w in heavy]


def _heavy_check(heavy: Sequence[HeavyWheel]) -> str:
    """``sha256sum -c`` of the mounted heavy wheels against the hashes rendered from the folder. The pipe's
    status is sha256sum's, the last command of it (the reason for the hadolint pragma above the RUN)."""
    lines = " \\\n        ".join(shlex.quote(f"{w.sha256}  {HEAVY_DIR}/{w.filename}") for w in heavy)
    return f"printf '%s\\n' \\\n        {lines} \\\n    | sha256sum -c -"


def _heavy_comment(heavy: Sequence[HeavyWheel]) -> list[str]:
    if not heavy:
        return ["# No wheel of the target is heavy enough for a layer of its own: this layer holds the virtualenv."]
    return [
        "# Layer 1, the heavy wheels: each file is mounted on its own, so this step is cached until one of them",
        "# changes; a change of requirements that keeps them re-runs only the next step. Each is checked against",
        "# its sha256 as rendered, installed by its pin without dependencies (the next step checks them), compiled.",
        "# hadolint ignore=DL4006",
    ]


def _pins(heavy: Sequence[HeavyWheel]) -> str:
    return " ".join(shlex.quote(w.pin) for w in heavy)


def uv_install_step(step: InstallStep, *, uv_wheel: str, uv_data: str) -> str:
    """The stages of an offline Dockerfile that installs with uv from the folder's uv wheel."""
    uv = f"{_UV_DIR}/uv"
    python = f"{step.venv}/bin/python"
    common = f"--offline --no-cache --no-index --only-binary=:all: --python={python}"
    uv_mount = f"--mount=type=bind,from=uv,source=/uv/bin,target={_UV_DIR}"
    first = []
    if step.heavy:
        first.append(_heavy_check(step.heavy))
    first.append(f'{uv} venv --quiet --no-cache --python="$(command -v python3)" {step.venv}')
    if step.heavy:
        first.append(f"{uv} pip install {common} \\\n        --find-links={HEAVY_DIR} --no-deps {_pins(step.heavy)}")
        first.append(_compile_all(python, f"{step.venv}/lib"))
    # A lock pins every file with its hash; the heavy ones, already installed at their pins, are kept.
    source = _install_args(step.lock, step.requirements, step.constraints)
    install = f"{uv} pip install {common} \\\n        --find-links={_in_mount(step.wheels)} --exact --strict {source}"
    second = _compiled(step, install)
    uv_stage = "\n".join(
        [
            f"FROM {step.base_image} AS uv",
            "# uv comes from its wheel in the folder (a zip that holds one static binary): nothing is downloaded.",
            _run(
                step.run_flags,
                [f"--mount=type=bind,source={uv_wheel},target=/tmp/uv.whl"],
                "python3 -m zipfile -e /tmp/uv.whl /tmp/uv \\\n"
                f"    && install -D -m 0755 /tmp/uv/{uv_data}/scripts/uv /uv/bin/uv \\\n"
                "    && rm -rf /tmp/uv",
            ),
        ]
    )
    stage = [
        f"FROM {step.base_image}",
        "# Debian-based images mark the system Python as externally managed (PEP 668): install into a virtualenv.",
        *_heavy_comment(step.heavy),
        _run(step.run_flags, [uv_mount, *_heavy_mounts(step.heavy)], " \\\n    && ".join(first)),
        *_rest_comment(
            step,
            "the requirements installed exactly (what they do not need is removed) and consistent (--strict)",
        ),
        _run(step.run_flags, [uv_mount, *_mounts(step.wheels, step.inputs)], " \\\n    && ".join(second)),
        _final(step.venv, step.final_lines),
    ]
    return uv_stage + "\n\n" + "\n".join(stage)


def pip_install_step(step: InstallStep, *, pylock_pip: str | None) -> str:
    """The stage of an offline Dockerfile that installs with the pip of a fresh virtualenv."""
    python = f"{step.venv}/bin/python"
    pip = f"{python} -m pip install --no-cache-dir --disable-pip-version-check"
    lines = [
        f"FROM {step.base_image}",
        "# Debian-based images mark the system Python as externally managed (PEP 668) and refuse pip: use a venv.",
        *_heavy_comment(step.heavy),
    ]
    if step.heavy:
        first = [
            _heavy_check(step.heavy),
            f"python3 -m venv {step.venv}",
            f"{pip} --no-compile \\\n        --no-index --find-links={HEAVY_DIR} --only-binary=:all: --no-deps "
            + _pins(step.heavy),
            _compile_all(python, f"{step.venv}/lib"),
        ]
        lines.append(_run(step.run_flags, _heavy_mounts(step.heavy), " \\\n    && ".join(first)))
    else:
        lines.append(f"RUN {step.run_flags}python3 -m venv {step.venv}")
    links = f"--find-links={_in_mount(step.wheels)}"
    upgrade = []
    if pylock_pip:
        upgrade.append(f"{pip} \\\n        --no-index {links} --only-binary=:all: {shlex.quote(pylock_pip)}")
    install = f"{pip} --no-compile \\\n        --no-index {links} --only-binary=:all: \\\n        " + _install_args(
        step.lock, step.requirements, step.constraints
    )
    second = _compiled(step, *upgrade, install)
    lines += _rest_comment(step, "pip installs the requirements (the heavy pins are already satisfied)")
    if pylock_pip:
        lines.append("# pip reads pylock.toml since 26.1: an older pip of the base image is upgraded from the wheels.")
    lines.append(_run(step.run_flags, _mounts(step.wheels, step.inputs), " \\\n    && ".join(second)))
    lines.append(_final(step.venv, step.final_lines))
    return "\n".join(lines)
