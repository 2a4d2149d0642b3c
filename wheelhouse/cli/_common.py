"""Shared pieces of the command modules: options, settings, loading inputs, and the console."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from wheelhouse.errors import UsageError
from wheelhouse.settings import Settings, load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from wheelhouse.requirements import RequirementSet
    from wheelhouse.targets import Target

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """Per-invocation state shared by the group and its commands."""

    verbose: int = 0
    config_file: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _console: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(config_file=Path(self.config_file) if self.config_file else None)
        return self._settings

    @property
    def console(self) -> Console:
        # rich is imported only to render, never on a --json path.
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    @property
    def err_is_terminal(self) -> bool:
        """Whether stderr is a terminal, as rich decides it. rich is imported only to decide a case that could be
        one: a log or a pipe starts its work without paying for the import."""
        if not (os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None or _isatty(sys.stderr)):
            return False  # rich's own answer here: it forces a terminal only through those variables
        return self.err.is_terminal

    def warn(self, message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    def info(self, message: str) -> None:
        if self.verbose:
            click.echo(message, err=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def get_state() -> State:
    ctx = click.get_current_context()
    state = ctx.find_object(State)
    if state is None:  # a command invoked directly in tests
        state = ctx.ensure_object(State)
    return state


def requirement_options(func: F) -> F:
    """-r/--requirement, -c/--constraint and positional PKG arguments."""
    func = click.argument("packages", nargs=-1, metavar="[PKG]...")(func)
    return requirement_file_options(func)


def requirement_file_options(func: F) -> F:
    """-r/--requirement and -c/--constraint (for commands whose arguments are something else)."""
    func = click.option(
        "-c",
        "--constraint",
        "constraints",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Constraints file (pip format). Repeatable.",
    )(func)
    func = click.option(
        "-r",
        "--requirement",
        "requirement_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Requirements file (pip format). Repeatable. Default: the configured files, else ./requirements.txt.",
    )(func)
    return func


def target_options(func: F) -> F:
    """--target, --python and --libc."""
    func = click.option(
        "--libc",
        default=None,
        metavar="LIBC",
        help="manylinux_2_28 (default), manylinux_2_17, manylinux2014, or musllinux_1_2 for Alpine.",
    )(func)
    func = click.option(
        "--python",
        "pythons",
        multiple=True,
        metavar="X.Y[.Z]",
        help="Target CPython version (repeatable). X.Y means the newest patch release wheelhouse knows.",
    )(func)
    func = click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="TARGET",
        help="Where the wheels will be installed: linux/amd64, linux/arm64 (Docker's words), a compact "
        "cp312-manylinux_2_28_aarch64, or host (default). Repeatable.",
    )(func)
    return func


def wheels_option(func: F) -> F:
    return click.option(
        "--wheels",
        "wheels_dir",
        default=None,
        metavar="DIR",
        help="The wheels folder (default: ./wheels or the configured one).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON report.")(func)


def effective_settings(
    *,
    wheels_dir: str | None = None,
    requirement_files: Sequence[str] = (),
    constraints: Sequence[str] = (),
    targets: Sequence[str] = (),
    pythons: Sequence[str] = (),
    libc: str | None = None,
    **extra: Any,
) -> Settings:
    """Settings from the configuration file, overridden by what was given on the command line."""
    return (
        get_state()
        .settings()
        .with_cli(
            wheels=wheels_dir,
            requirements=tuple(requirement_files),
            constraints=tuple(constraints),
            targets=tuple(targets),
            python=tuple(pythons),
            libc=libc,
            **extra,
        )
    )


class Project(NamedTuple):
    """What most commands start from: the effective settings, the requirement set and the targets."""

    settings: Settings
    requirements: RequirementSet
    targets: tuple[Target, ...]


def load_project(
    packages: Sequence[str] = (),
    *,
    wheels_dir: str | None = None,
    requirement_files: Sequence[str] = (),
    constraints: Sequence[str] = (),
    targets: Sequence[str] = (),
    pythons: Sequence[str] = (),
    libc: str | None = None,
    required: bool = True,
    **extra: Any,
) -> Project:
    """Settings (configuration overridden by the command line), then the requirements, then the targets."""
    settings = effective_settings(
        wheels_dir=wheels_dir,
        requirement_files=requirement_files,
        constraints=constraints,
        targets=targets,
        pythons=pythons,
        libc=libc,
        **extra,
    )
    return Project(settings, load_inputs(settings, packages, required=required), load_targets(settings))


def load_targets(settings: Settings) -> tuple[Target, ...]:
    from wheelhouse.targets import parse_targets

    targets = parse_targets(settings.targets, pythons=settings.python, libc=settings.libc)
    state = get_state()
    for target in targets:
        state.info(f"target {target.describe()}")
    return targets


def load_inputs(settings: Settings, packages: Sequence[str], *, required: bool = True) -> RequirementSet:
    """The requirement set named by -r/-c/PKG, the configuration, or ./requirements.txt."""
    from wheelhouse.requirements import RequirementSet, load_requirements

    files = list(settings.requirements)
    if not files and not packages and Path("requirements.txt").is_file():
        files = ["requirements.txt"]
    if not files and not packages:
        if not required:
            return RequirementSet()
        raise UsageError(
            "no requirements given and no requirements.txt here",
            hint="pass -r requirements.txt or package names, or set requirements in wheelhouse.toml",
        )
    reqs = load_requirements(files, packages, constraints=settings.constraints, wheels_dir=settings.wheels_path)
    for warning in reqs.warnings:
        get_state().warn(warning)
    return reqs


def requirement_args(settings: Settings, packages: Sequence[str]) -> tuple[str, ...]:
    """The -r/-c/PKG part of a command line that reproduces this input (for "fix" commands)."""
    args: list[str] = []
    if settings.sources.get("requirements") == "command line":
        for f in settings.requirements:
            args += ["-r", f]
    if settings.sources.get("constraints") == "command line":
        for f in settings.constraints:
            args += ["-c", f]
    args += list(packages)
    return tuple(args)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
