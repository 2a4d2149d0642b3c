"""The steps of ``wheelhouse build`` (:mod:`wheelhouse.cli.render_build` declares the command): which targets and
base images, verify before Docker, one ``docker build`` per target, and where the rendered Dockerfile is placed.

Contract: nothing is built until every target is verified and every base image an offline build needs was found
on this machine and judged by what it runs. With no target on the command line an offline build reads it from
the base image. Rendered files already in the build context are never rewritten unless asked (``--write``): a
build for other options uses a temporary Dockerfile. After a classic build, the install stage's image (it holds
the wheels) is removed. Errors are :class:`~wheelhouse.errors.WheelhouseError` for ``cli.main`` to print.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wheelhouse import _log
from wheelhouse._text import redact
from wheelhouse.cli._common import (
    ProjectOptions,
    effective_settings,
    explicit_targets,
    get_state,
    load_targets,
    requirement_args,
)
from wheelhouse.cli.render_build import (
    _MODES,
    ImageOptions,
    _base_image,
    _lock_choice,
    _lock_file,
    _one_target,
    _render_options,
    _report_context,
    _report_written,
)
from wheelhouse.errors import DockerError, ExitCode, UsageError

if TYPE_CHECKING:
    from wheelhouse.cli._common import State
    from wheelhouse.docker.client import DockerClient, DockerInfo
    from wheelhouse.docker.render import RenderOptions, RenderResult
    from wheelhouse.requirements import RequirementSet
    from wheelhouse.settings import Settings
    from wheelhouse.targets import Target

__all__ = ["run_build"]


def run_build(
    *,
    mode: str,
    tags: tuple[str, ...],
    project: ProjectOptions,
    image_options: ImageOptions,
    force: bool,
    write: bool,
    docker: str,
    docker_args: tuple[str, ...],
) -> None:
    """``wheelhouse build``: see the command's help."""
    from wheelhouse.docker.client import DockerClient
    from wheelhouse.docker.images import check_base_image, target_from_image

    state = get_state()
    settings = effective_settings(project)
    context = Path(".")
    client = DockerClient(docker)
    offline = mode == "offline"
    from_image = offline and not explicit_targets(settings)
    if from_image:
        # No target given: the base image says what it is, and verify checks exactly that.
        image = _base_image(settings, None, image_options)
        probed = client.probe_image(image.reference, offline=True)
        found = target_from_image(probed)
        _log.info(f"target read from the base image {image.reference}: {found.describe()}")
        plans = [(found, probed if image.python is None else image)]
    else:
        plans = [(target, _base_image(settings, target, image_options)) for target in _build_targets(settings)]
    several = len(plans) > 1
    if several and write:
        raise UsageError("--write renders one target's files; a build of several targets leaves them as they are")
    builds: list[tuple[Target, RenderOptions]] = []
    for target, image in plans:
        if image.python is not None:
            # Known without Docker: refuse a mismatch before verifying or calling Docker.
            check_base_image(image, target)
        lock = _lock_file(context, image_options)
        options, reqs = _render_options(
            settings=settings,
            target=target,
            context=context,
            image=image,
            app_dir=image_options.app_dir,
            cmd=image_options.cmd,
            lock=lock,
            lock_choice=_lock_choice(image_options),
            run_network_none=image_options.run_network_none,
            classic=image_options.classic,
        )
        if offline:
            _verify_or_exit(state, settings, reqs, target, lock)
        builds.append((target, options))
    info = client.info()
    if mode == "cached":
        client.require_buildkit("Dockerfile.cached (RUN --mount=type=cache)")
    if not offline and builds[0][1].index_secrets and not info.buildkit:
        raise _refuse_classic_builder_secrets(mode, info.buildkit_reason)
    if image_options.run_network_none and offline:
        client.require_run_network()
    ready: list[tuple[Target, RenderOptions]] = []
    # Every target's image is checked before the first build: one that cannot be built stops them all.
    for target, options in builds:
        if not info.buildkit and not options.classic:
            # RUN --mount needs BuildKit: without it, the files are rendered for the classic builder.
            _log.info(f"BuildKit is not available ({info.buildkit_reason}): rendering for the classic builder")
            options = replace(options, classic=True)
        image = options.base_image
        if not from_image and (offline or image.python is None):
            # An offline build cannot pull: the image must be here, and is judged by what it runs.
            probed = client.probe_image(image.reference, offline=offline)
            _log.info(f"base image {probed.reference}: CPython {probed.python_text} on {probed.arch}")
            check_base_image(probed, target)
            if image.python is None:
                options = replace(options, base_image=probed)
        ready.append((target, options))
    for target, options in ready:
        _build_one(
            state, settings, client, info, mode, target, options, context, tags, docker_args, several, write, force
        )


def _build_targets(settings: Settings) -> tuple[Target, ...]:
    """The targets to build: every one the command line names (one image each), else the first configured."""
    targets = load_targets(settings)
    if len(targets) > 1 and explicit_targets(settings):
        return targets
    return (_one_target(settings, "build"),)


def _build_one(
    state: State,
    settings: Settings,
    client: DockerClient,
    info: DockerInfo,
    mode: str,
    target: Target,
    options: RenderOptions,
    context: Path,
    tags: Sequence[str],
    docker_args: Sequence[str],
    several: bool,
    write: bool,
    force: bool,
) -> None:
    """Render for ``target``, place the files (see :func:`_place_rendering`) and run one ``docker build``."""
    from wheelhouse.docker.client import build_argv, build_request, platform_tag, stage_names
    from wheelhouse.docker.render import render
    from wheelhouse.docker.secrets import IndexPassing, index_passing, secret_files

    result = render(options)
    for warning in result.warnings:
        _log.warning(warning)
    _report_context(state, options, context)
    dockerfile = _MODES[mode]
    image_tags = [platform_tag(tag, target.docker_platform) for tag in tags] if several else list(tags)
    # The offline build never reaches an index; the others get it, credentials only ever as BuildKit secrets.
    passing = index_passing(settings.index_url, settings.extra_index_urls) if mode != "offline" else IndexPassing()
    with tempfile.TemporaryDirectory(prefix="wheelhouse-build-") as scratch:
        path = _place_rendering(
            state, result, dockerfile, context, Path(scratch), several=several, write=write, force=force, info=info
        )
        with secret_files(passing.secrets, outside=context) as secrets:
            request = build_request(
                dockerfile=path,
                target=target,
                info=info,
                offline=mode == "offline",
                tags=image_tags,
                build_args=passing.build_args,
                secrets=secrets,
                extra_args=docker_args,
            )
            if several:
                # Each target's own platform, also the daemon's: one image per platform, never a guess.
                request = replace(request, platform=target.docker_platform)
            # Arguments after -- are the user's own and may hold anything: the log redacts URLs in them.
            _log.info("running: " + redact(shlex.join(build_argv(client.executable, request))))
            client.build(request, hint=_failure_hint(mode, target, request.platform, info.server_platform))
            if not request.buildkit:
                for image_id in client.remove_stage_images(request, stage_names(result.files[dockerfile])):
                    short = image_id.removeprefix("sha256:")[:12]
                    _log.info(f"removed the install stage's image {short}: it holds the wheels it copied")
    if several:
        state.err.print(f"built {target.docker_platform}: {', '.join(image_tags) or 'untagged'}", markup=False)


def _place_rendering(
    state: State,
    result: RenderResult,
    dockerfile: str,
    context: Path,
    scratch: Path,
    *,
    several: bool,
    write: bool,
    force: bool,
    info: DockerInfo,
) -> str:
    """Write what is missing here and return the Dockerfile to build.

    A file already here that was rendered for other options (committed for the project's usual build, or a
    user's own) stays as it is unless ``write``: a one-off build (another base image, another target, several
    targets) renders into ``scratch`` instead, with BuildKit's Dockerfile-specific ignore file beside it, so
    the context is filtered for this rendering too.
    """
    from wheelhouse.docker.render import DOCKERIGNORE, differences, users_own, write_rendered

    if write:
        _report_written(state, write_rendered(result, context, force=force), to_stderr=True)
        return dockerfile
    differing = set(differences(result, context))
    present = {name for name in result.files if (context / name).exists()}
    # Several targets: a file here could serve only one of them (the .dockerignore lets through one target's
    # wheels, and the classic builder would apply it to every build), so nothing is written.
    skip = [name for name in result.files if name in present or several]
    _report_written(state, write_rendered(result, context, force=force, skip=skip), to_stderr=True)
    own_ignore = DOCKERIGNORE in present and users_own(context / DOCKERIGNORE)
    ignore_differs = DOCKERIGNORE in differing and DOCKERIGNORE in present and not own_ignore
    if not several and dockerfile not in (differing & present) and not (ignore_differs and info.buildkit):
        return dockerfile
    path = scratch / dockerfile
    path.write_text(result.files[dockerfile], encoding="utf-8")
    if info.buildkit and not own_ignore:
        # BuildKit reads <Dockerfile>.dockerignore beside a Dockerfile in place of the context's own.
        (scratch / f"{dockerfile}.dockerignore").write_text(result.files[DOCKERIGNORE], encoding="utf-8")
    elif ignore_differs:
        _log.warning(
            f"the classic builder reads ./{DOCKERIGNORE}, which was rendered for other options; --write updates it"
        )
    if not several:
        _log.info(
            f"{dockerfile} here was rendered for other options: building from a temporary rendering and leaving "
            "it as it is (--write updates it)"
        )
    return str(path.resolve())


def _verify_or_exit(state: State, settings: Settings, reqs: RequirementSet, target: Target, lock: str | None) -> None:
    """Prove the folder covers ``target``; else print the gap report and exit 3 before Docker runs."""
    from wheelhouse.cli._reports import render_verify
    from wheelhouse.resolve.verify import verify
    from wheelhouse.store.folder import Store

    store = Store(settings.wheels_path)
    fix_args: tuple[str, ...] = ("-r", lock, *_pylock_pip(lock)) if lock else requirement_args(settings, ())
    report = verify(reqs, [target], store, fix_args=fix_args)
    if not report.covered:
        render_verify(state, report)
        state.err.print(f"not building: {settings.wheels} does not cover {target.name} (see above)", markup=False)
        click.get_current_context().exit(ExitCode.NOT_COVERED)
    _log.info(f"verified: {settings.wheels} covers {target.name}")


def _pylock_pip(lock: str) -> tuple[str, ...]:
    from wheelhouse.docker.render import PYLOCK_PIP, is_pylock

    return (PYLOCK_PIP,) if is_pylock(lock) else ()


def _refuse_classic_builder_secrets(mode: str, reason: str) -> DockerError:
    """Credentials in the index URL cannot reach the classic builder but as a build argument, which the image
    history records: refuse rather than leak them."""
    return DockerError(
        f"not building Dockerfile.{mode}: the configured index URL carries credentials, which only BuildKit can "
        f"pass as a secret (a build argument would record them in the image history), and BuildKit is not "
        f"available ({reason}); build with BuildKit, or configure an index URL without credentials"
    )


def _failure_hint(mode: str, target: Target, platform: str | None, daemon_platform: str) -> str:
    hints: list[str] = []
    if mode == "offline":
        hints.append(
            f"the offline install uses only the wheels folder: check it with `wheelhouse verify --target {target.name}`"
        )
    if platform is not None:
        hints.append(
            f"building {platform} on a {daemon_platform} daemon runs the target's programs under emulation: "
            "apt-get install qemu-user-static binfmt-support"
        )
    return "; ".join(hints) or "see Docker's output above"
