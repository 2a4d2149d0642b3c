"""``wheelhouse render`` and ``wheelhouse build``: Dockerfiles from templates (:mod:`wheelhouse.docker.render`),
and ``docker build`` over them (:mod:`wheelhouse.docker.client`), verified first for an offline build. The
options of both and the render options they share live here; the steps of a build are in
:mod:`wheelhouse.cli._build_steps`."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wheelhouse import _log
from wheelhouse._text import plural
from wheelhouse.cli._common import (
    JSON_SCHEMA_VERSION,
    ProjectOptions,
    effective_settings,
    get_state,
    json_option,
    load_inputs,
    load_targets,
    option_group,
    print_json,
    project_options,
)
from wheelhouse.errors import UsageError, WheelhouseError

if TYPE_CHECKING:
    from wheelhouse.cli._common import State
    from wheelhouse.docker.images import BaseImage
    from wheelhouse.docker.render import RenderOptions, RenderResult, WriteReport
    from wheelhouse.requirements import RequirementSet
    from wheelhouse.settings import Settings
    from wheelhouse.targets import Target

F = TypeVar("F", bound=Callable[..., Any])

_MODES = {
    "offline": "Dockerfile.offline",
    "wheels": "Dockerfile.wheels",
    "cached": "Dockerfile.cached",
}


@dataclass(frozen=True)
class ImageOptions:
    """What render and build put in the image: the base image, the app, its command and the lock."""

    base_image: tuple[str, ...] = ()
    base_python: str | None = None
    app_dir: str | None = None
    cmd: str | None = None
    lock_file: str | None = None
    no_lock: bool = False
    run_network_none: bool = False
    classic: bool = False


def _image_options(func: F) -> Callable[..., Any]:
    """The image options of render and build, passed as one ``image_options: ImageOptions`` argument."""
    declared = [
        click.option(
            "--base-image",
            "base_image",
            multiple=True,
            metavar="[PLATFORM=]IMAGE",
            help="Base image (default: the official python:X.Y-slim of the target; python:X.Y-alpine for musl). "
            "PLATFORM=IMAGE gives the image of one platform, e.g. linux/arm64=acme/python:3.11-arm64; repeatable.",
        ),
        click.option(
            "--base-python",
            default=None,
            metavar="X.Y[.Z]",
            help="The Python of a --base-image whose tag does not say it (checked against the target).",
        ),
        click.option(
            "--app-dir",
            default=None,
            metavar="DIR",
            help="The app copied into the image's /app (default: ./app when it exists).",
        ),
        click.option(
            "--cmd", default=None, metavar='"CMD"', help='The command the image runs (default: "python main.py").'
        ),
        click.option(
            "--lock",
            "lock_file",
            default=None,
            metavar="FILE",
            help="Install from this lock with --require-hashes: pinned requirements with --hash, or a PEP 751 "
            "pylock.toml (pip 26.1 or newer reads it; an older pip of the image is upgraded from the wheels). "
            "Default: requirements.lock when it exists, else pylock.toml.",
        ),
        click.option(
            "--no-lock",
            is_flag=True,
            help="Ignore requirements.lock and pylock.toml even when they exist.",
        ),
        click.option(
            "--run-network-none",
            is_flag=True,
            help="Also put RUN --network=none on the offline install step (needs Docker Engine 23 or newer).",
        ),
        click.option(
            "--classic",
            is_flag=True,
            help="Render for the classic builder (no BuildKit): the wheels are copied into an install stage "
            "instead of bind-mounted, and pip installs. build picks it by itself when BuildKit is missing.",
        ),
    ]
    return option_group("image_options", ImageOptions, declared)(func)


# -- shared steps ------------------------------------------------------------------------------------------


def _one_target(settings: Settings, verb: str) -> Target:
    """The target to render for: the one given, or the first configured (a Dockerfile serves one platform)."""
    targets = load_targets(settings)
    from_command_line = [
        key
        for key in ("targets", "python")
        if settings.sources.get(key) == "command line" and len(getattr(settings, key)) > 1
    ]
    if len(targets) > 1 and from_command_line:
        names = ", ".join(t.name for t in targets)
        raise UsageError(
            f"{verb} one target at a time; the command line names {len(targets)}: {names}",
            hint=f"wheelhouse {verb} --target {targets[0].name}",
        )
    if len(targets) > 1:
        _log.info(
            f"{verb}: using {targets[0].name}, the first of {len(targets)} configured targets; "
            "choose another with --target"
        )
    return targets[0]


def _requirement_files(settings: Settings) -> tuple[str, ...]:
    if settings.requirements:
        return settings.requirements
    if Path("requirements.txt").is_file():
        return ("requirements.txt",)
    raise UsageError(
        "no requirements given and no requirements.txt here",
        hint="pass -r requirements.txt, or set requirements in wheelhouse.toml",
    )


def _lock_file(context: Path, image_options: ImageOptions) -> str | None:
    """The lock the image installs: --lock, else requirements.lock in the context when it exists, else
    pylock.toml; none with --no-lock. A requirements.lock wins over a pylock.toml next to it: it is what the
    image installed before there was a pylock.toml, and it needs no newer pip."""
    from wheelhouse.docker.render import DEFAULT_LOCK, DEFAULT_PYLOCK

    lock_file, no_lock = image_options.lock_file, image_options.no_lock
    if lock_file and no_lock:
        raise UsageError("--lock and --no-lock exclude each other")
    if no_lock:
        return None
    if lock_file:
        if not Path(lock_file).is_file():
            raise UsageError(f"the lock {lock_file} does not exist", hint="wheelhouse lock, or drop --lock")
        return lock_file
    for name in (DEFAULT_LOCK, DEFAULT_PYLOCK):
        default = context / name
        if default.is_file():
            if name == DEFAULT_PYLOCK:
                _log.info(f"installing from {default} (pip 26.1 or newer reads it); --no-lock to ignore it")
            return str(default)
    return None


def _lock_choice(image_options: ImageOptions) -> str:
    """How the lock was chosen, for the command in the rendered header: named, refused, or found."""
    if image_options.lock_file:
        return "given"
    return "refused" if image_options.no_lock else "default"


def _pylock_extra(lock: str, target: Target) -> tuple[str, ...]:
    """For a pylock.toml: refuse a target it cannot serve (naming the package), and ask for the pip that reads it."""
    from wheelhouse.docker.render import PYLOCK_PIP, is_pylock

    if not is_pylock(lock):
        return ()
    from wheelhouse.resolve.pylock import check_targets, read_pylock_constraints

    check_targets([read_pylock_constraints(lock)], [target])
    return (PYLOCK_PIP,)


def _install_inputs(
    settings: Settings, context: Path, lock: str | None, target: Target
) -> tuple[RequirementSet, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What the image installs: the parsed set (for verify) and the context-relative top-level requirement,
    constraint and included files."""
    from wheelhouse.docker.render import context_path

    top: tuple[str, ...] = () if lock is not None else _requirement_files(settings)
    constraints: tuple[str, ...] = () if lock is not None else settings.constraints
    # Refused before they are read: a link to a file outside the context would have its lines quoted in errors.
    relative_top = tuple(context_path(p, context, what="requirements file") for p in top)
    relative_constraints = tuple(context_path(p, context, what="constraints file") for p in constraints)
    if lock is not None:
        context_path(lock, context, what="lock")
        # The lock is what pip installs, so it is also what must be covered; a pylock.toml also needs the pip
        # that reads it, upgraded from the folder when the image's own is older.
        extra = _pylock_extra(lock, target)
        reqs = load_inputs(
            replace(settings, requirements=(lock,), constraints=()), extra, replace_configured=False, within=context
        )
    else:
        from wheelhouse.inputs import require_pip_format

        require_pip_format((*top, *constraints))
        # What the files include must be in the context too: anything else never reaches the image.
        reqs = load_inputs(replace(settings, requirements=top), (), within=context)
    named = {os.path.realpath(p) for p in (*top, *constraints, *([lock] if lock else []))}
    included = tuple(
        context_path(path, context, what="included requirements file")
        for path in reqs.files
        if os.path.realpath(path) not in named
    )
    return reqs, relative_top, relative_constraints, included


def _app_dir(context: Path, app_dir: str | None) -> str | None:
    from wheelhouse.docker.render import DEFAULT_APP_DIR, context_path

    if app_dir is not None:
        if not Path(app_dir).is_dir():
            raise UsageError(f"the app directory {app_dir} does not exist", hint="pass --app-dir DIR")
        return context_path(app_dir, context, what="app directory")
    default = context / DEFAULT_APP_DIR
    # Through context_path as a given one: a link named app that leads out of the context is refused.
    return context_path(default, context, what="app directory") if default.is_dir() else None


def _base_image(settings: Settings, target: Target | None, image_options: ImageOptions) -> BaseImage:
    """The base image for ``target`` (None: the target is to be read from the image): ``--base-image
    PLATFORM=IMAGE`` for its platform, else a plain ``--base-image``, the configured one, or the default."""
    from wheelhouse.docker.images import check_reference, default_base_image, parse_base_image
    from wheelhouse.targets import DOCKER_ARCHES

    plain: list[str] = []
    by_arch: dict[str, str] = {}
    for given in image_options.base_image:
        platform, sep, reference = given.partition("=")
        if not sep:
            plain.append(given)
            continue
        arch = DOCKER_ARCHES.get(platform.strip().lower())
        if arch is None:
            raise UsageError(
                f"bad --base-image {given!r}: {platform!r} is not a Docker platform",
                hint="--base-image linux/arm64=IMAGE, or --base-image IMAGE for every target",
            )
        by_arch[arch] = reference
    if len(plain) > 1:
        raise UsageError(
            f"--base-image is given {len(plain)} times without a platform",
            hint="name one image, or one per platform: --base-image linux/arm64=IMAGE",
        )
    if target is not None and target.arch in by_arch:
        reference = by_arch[target.arch]
    elif plain or settings.base_image:
        reference = plain[0] if plain else str(settings.base_image)
    elif target is not None:
        reference = default_base_image(target)
    elif by_arch:
        reference = next(iter(by_arch.values()))
    else:
        reference = _default_image_without_target(settings)
    image = parse_base_image(reference, declared_python=image_options.base_python)
    check_reference(image.reference)
    return image


def _default_image_without_target(settings: Settings) -> str:
    """The image a build reads its target from when neither it nor the target is named: the default image of
    the first configured target, else the official image of this interpreter's CPython (the host itself may
    not be Linux)."""
    import sys

    from wheelhouse.docker.images import default_base_image

    if settings.targets or settings.python:
        return default_base_image(load_targets(settings)[0])
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def _render_options(
    *,
    settings: Settings,
    target: Target,
    context: Path,
    image: BaseImage,
    app_dir: str | None,
    cmd: str | None,
    lock: str | None,
    lock_choice: str,
    run_network_none: bool,
    classic: bool = False,
) -> tuple[RenderOptions, RequirementSet]:
    from wheelhouse.docker.render import RenderOptions, context_path
    from wheelhouse.docker.secrets import index_passing

    reqs, top, constraints, included = _install_inputs(settings, context, lock, target)
    wheels = context_path(settings.wheels_path, context, what="wheels folder")
    if not settings.wheels_path.is_dir():
        _log.warning(f"the wheels folder {settings.wheels} does not exist yet; the Dockerfiles copy it")
    app = _app_dir(context, app_dir)
    command: tuple[str, ...] | None = None
    if cmd is not None:
        try:
            command = tuple(shlex.split(cmd))
        except ValueError as exc:
            raise UsageError(f"bad --cmd {cmd!r}: {exc}") from None
    elif app and not (context / app / "main.py").is_file():
        _log.warning(f"the image runs `python main.py` but there is no {app}/main.py; pass --cmd")
    options = RenderOptions(
        target=target,
        base_image=image,
        requirements=top,
        constraints=constraints,
        included=included,
        lock=context_path(lock, context, what="lock") if lock else None,
        lock_choice=lock_choice,
        wheels=wheels,
        app_dir=app,
        cmd=command,
        run_network_none=run_network_none,
        # The online Dockerfiles read a credentialed index from BuildKit secrets; render and build agree on it.
        index_secrets=index_passing(settings.index_url, settings.extra_index_urls).secret_variables,
        classic=classic,
        uv_wheel=_uv_wheel(settings, target, wheels),
        context_wheels=_context_wheels(settings, reqs, target, wheels),
    )
    if not classic:
        from wheelhouse.docker.context import heavy_wheels

        # The offline Dockerfile installs the large pinned wheels in a layer of their own, by their sha256.
        options = replace(options, heavy_wheels=heavy_wheels(context, options.context_wheels, lock=options.lock))
    return options, reqs


def _uv_wheel(settings: Settings, target: Target, wheels: str) -> str | None:
    """The folder's uv wheel for ``target`` (context-relative): the offline image then installs with uv."""
    from wheelhouse.docker.context import find_uv_wheel

    name = find_uv_wheel(settings.wheels_path, target)
    if name is None:
        _log.info(
            f"no uv wheel for {target.name} in {settings.wheels}: the offline image installs with pip "
            f"(wheelhouse download --with-uv adds uv)"
        )
        return None
    return f"{wheels}/{name}"


def _context_wheels(settings: Settings, reqs: RequirementSet, target: Target, wheels: str) -> tuple[str, ...] | None:
    """The wheels the build context carries: those the target's resolution over the folder picked, or None
    (the whole folder) when the folder does not cover the target."""
    if not settings.wheels_path.is_dir():
        return None
    from wheelhouse.resolve.verify import verify
    from wheelhouse.store.folder import Store

    resolution = verify(reqs, [target], Store(settings.wheels_path)).resolutions[0]
    if not resolution.covered:
        _log.info(f"{settings.wheels} does not cover {target.name}: the build context carries all of it")
        return None
    return tuple(sorted(f"{wheels}/{pin.dist.filename}" for pin in resolution.pins))


def _report_context(state: State, options: RenderOptions, context: Path) -> None:
    """Say how much the build context weighs: what every build sends to the builder before it starts."""
    from wheelhouse._text import size
    from wheelhouse.docker.context import context_size

    paths = [options.wheels] if options.context_wheels is None else list(options.context_wheels)
    paths += [p for p in (options.uv_wheel, options.lock, *options.requirements, *options.constraints) if p]
    paths += list(options.included)
    if options.app_dir:
        paths.append(options.app_dir)
    measured = context_size(context, paths)
    state.err.print(
        f"build context: {plural(measured.files, 'file')}, {size(measured.bytes)}; offline installer: "
        f"{options.installer}{' (classic builder)' if options.classic else ''}",
        markup=False,
    )


def _report_written(state: State, report: WriteReport, *, to_stderr: bool) -> None:
    out = state.err if to_stderr else state.console
    for path in report.written:
        out.print(f"wrote {path}", markup=False)
    for path in report.unchanged:
        _log.info(f"unchanged {path}")
    for path in report.kept:
        _log.warning(f"kept {path}: it was not written by wheelhouse render; make sure it lets the wheels through")


def _render_json(result: RenderResult, report: WriteReport | None, out_dir: Path, stale: Sequence[str]) -> None:
    status: dict[str, str] = {}
    if report is not None:
        status.update({p.name: "written" for p in report.written})
        status.update({p.name: "unchanged" for p in report.unchanged})
        status.update({p.name: "kept" for p in report.kept})
    else:
        status.update({name: ("stale" if name in stale else "unchanged") for name in result.files})
    print_json(
        {
            "schema": JSON_SCHEMA_VERSION,
            "target": result.options.target.name,
            "platform": result.options.target.docker_platform,
            "base_image": result.options.base_image.reference,
            "base_python": result.options.base_image.python_text,
            "lock": result.options.lock,
            "out": str(out_dir),
            "command": result.command,
            "files": [
                {"name": name, "path": str(out_dir / name), "status": status.get(name, "unchanged")}
                for name in result.files
            ],
            "warnings": list(result.warnings),
        }
    )


# -- render ------------------------------------------------------------------------------------------------


@click.command("render")
@project_options()
@_image_options
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    metavar="DIR",
    help="Where to write the files; it is the build context, so the wheels, requirements and app must be inside.",
)
@click.option("--force", is_flag=True, help="Overwrite files of the same name that wheelhouse did not write.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a rendered file is missing or out of date.")
@json_option
def render_command(
    project: ProjectOptions,
    image_options: ImageOptions,
    out_dir: str,
    force: bool,
    check: bool,
    as_json: bool,
) -> None:
    """Write Dockerfile.wheels, Dockerfile.offline, Dockerfile.cached, docker-compose.offline.yml and
    .dockerignore for one target (the one given, or the first configured).

    \b
    Dockerfile.offline  pip --no-index from wheels/ only; build it with --network=none
    Dockerfile.wheels   wheels/ first, the package index for what is missing (development)
    Dockerfile.cached   wheels/ plus the index, with pip's cache in a BuildKit cache mount
    The base image's Python, libc and architecture must match the target; requirements.lock, when it
    exists, is installed with --require-hashes. Rendering twice changes nothing.
    """
    from wheelhouse.docker.render import DOCKERIGNORE, differences, render, users_own, write_rendered

    state = get_state()
    settings = effective_settings(project)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out_dir} is not a directory")
    target = _one_target(settings, "render")
    options, _ = _render_options(
        settings=settings,
        target=target,
        context=out,
        image=_base_image(settings, target, image_options),
        app_dir=image_options.app_dir,
        cmd=image_options.cmd,
        lock=_lock_file(out, image_options),
        lock_choice=_lock_choice(image_options),
        run_network_none=image_options.run_network_none,
        classic=image_options.classic,
    )
    result = render(options)
    for warning in result.warnings:
        _log.warning(warning)
    if not as_json:
        _report_context(state, options, out)
    if check:
        stale = [
            name
            for name in differences(result, out)
            # A .dockerignore of the user's own is kept by design, never stale.
            if not (name == DOCKERIGNORE and (out / name).is_file() and users_own(out / name))
        ]
        if as_json:
            _render_json(result, None, out, stale)
        if stale:
            raise WheelhouseError(
                f"{plural(len(stale), 'rendered file')} in {out_dir} {'is' if len(stale) == 1 else 'are'} "
                f"missing or out of date: {', '.join(stale)}",
                hint=result.command,
            )
        if not as_json:
            state.console.print(f"up to date: {', '.join(result.files)}", markup=False)
        return
    report = write_rendered(result, out, force=force)
    if as_json:
        _render_json(result, report, out, ())
    else:
        _report_written(state, report, to_stderr=False)
        if not report.written:
            state.console.print(f"up to date: {', '.join(p.name for p in report.unchanged)}", markup=False)


# -- build -------------------------------------------------------------------------------------------------


@click.command("build")
@click.option(
    "--offline",
    "mode",
    flag_value="offline",
    default=True,
    help="Verify, then build Dockerfile.offline with --network=none (default).",
)
@click.option("--wheels", "mode", flag_value="wheels", help="Build Dockerfile.wheels (index fallback; needs network).")
@click.option("--cached", "mode", flag_value="cached", help="Build Dockerfile.cached (BuildKit pip cache; network).")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Name the image (repeatable).")
@project_options(wheels="--wheels-dir")
@_image_options
@click.option("--force", is_flag=True, help="Overwrite Dockerfiles of the same name that wheelhouse did not write.")
@click.option(
    "--write",
    is_flag=True,
    help="Write the rendered files here even over ones rendered for other options (default: only missing files "
    "are written, and a build for other options uses a temporary Dockerfile).",
)
@click.option(
    "--docker",
    "docker",
    default="docker",
    show_default=True,
    envvar="WHEELHOUSE_DOCKER",
    metavar="PATH",
    help="The Docker client to run (env WHEELHOUSE_DOCKER).",
)
@click.argument("docker_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- DOCKER_ARGS]...")
def build_command(
    mode: str,
    tags: tuple[str, ...],
    project: ProjectOptions,
    image_options: ImageOptions,
    force: bool,
    write: bool,
    docker: str,
    docker_args: tuple[str, ...],
) -> None:
    """Render the Dockerfiles if needed and run docker build in the current directory, streaming its output.

    \b
    --offline  verify first: when wheels/ does not cover the target, print the gaps and exit 3 without
               calling Docker; else docker build --network=none -f Dockerfile.offline. With no
               --target/--python/--libc, the target is read from the base image (its platform, CPython
               and libc), which must be on this machine (docker load it where no registry is reachable)
    --wheels   docker build -f Dockerfile.wheels (the configured index as a build arg; an index URL
               with credentials as a BuildKit secret instead, never in the image history)
    --cached   docker build -f Dockerfile.cached (needs BuildKit)
    Several --target values build one image each, tagged TAG-<arch> (e.g. app:1-arm64); another
    architecture runs under QEMU emulation. Give each its base image with --base-image PLATFORM=IMAGE.
    --platform is passed to Docker when the target is not the Docker daemon's own platform. Files already
    here that were rendered for other options are left as they are (--write updates them). Arguments
    after -- go to docker build as they are, e.g. -- --progress=plain --no-cache.
    """
    from wheelhouse.cli._build_steps import run_build

    run_build(
        mode=mode,
        tags=tags,
        project=project,
        image_options=image_options,
        force=force,
        write=write,
        docker=docker,
        docker_args=docker_args,
    )
