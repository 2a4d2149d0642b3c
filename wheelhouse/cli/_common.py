"""Shared pieces of the command modules: the per-invocation state and console, the shared options
(:class:`ProjectOptions`, :func:`index_options`), and loading settings, requirements and targets from them."""

from __future__ import annotations

import functools
import json
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from wheelhouse import _log
from wheelhouse.errors import StoreError, UsageError
from wheelhouse.settings import IndexOptions, Settings, effective_index_config, load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from wheelhouse.index.config import IndexConfig
    from wheelhouse.inputs import Inputs
    from wheelhouse.requirements import RequirementSet
    from wheelhouse.store.folder import Store
    from wheelhouse.targets import Target

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloat(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf``: ``nan`` passes every bound of click's
    own (no comparison with it is true), and an infinite timeout or age overflows where it is turned into time."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


# The "schema" of every --json report; raised when a report changes incompatibly.
JSON_SCHEMA_VERSION = 1


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

    def more_verbose(self, count: int) -> None:
        """Raise the verbosity by ``count`` (a -v given after the command adds to one given before it)."""
        self.verbose += count
        show_diagnostics(self.verbose)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def show_diagnostics(verbose: int) -> None:
    """Route the diagnostics channel to stderr: warnings always, notes with -v, detail with -vv."""
    from wheelhouse.cli import _show_diagnostics

    _show_diagnostics(verbose)


def get_state() -> State:
    ctx = click.get_current_context()
    state = ctx.find_object(State)
    if state is None:  # a command invoked directly in tests
        state = ctx.ensure_object(State)
        show_diagnostics(state.verbose)
    return state


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON report.")(func)


# -- the options most commands share -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectOptions:
    """The options most commands share: what to install (-r, -c, PKG), where (--target, --python, --libc) and
    the wheels folder (--wheels). Empty tuples and None mean "not given": the configuration file decides."""

    packages: tuple[str, ...] = ()
    requirement_files: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    pythons: tuple[str, ...] = ()
    libc: str | None = None
    wheels_dir: str | None = None

    @property
    def selects(self) -> bool:
        """Whether requirements or targets were given on the command line (``--libc`` alone selects nothing)."""
        return bool(
            self.packages
            or self.requirement_files
            or self.constraints
            or self.extras
            or self.groups
            or self.targets
            or self.pythons
        )


_REQUIREMENT_OPTIONS = [
    click.option(
        "-r",
        "--requirement",
        "requirement_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Requirements: a pip requirements file, pyproject.toml, pylock.toml, uv.lock or poetry.lock. "
        "Repeatable. Default: the configured files, else ./requirements.txt, ./pylock.toml or ./pyproject.toml.",
    ),
    click.option(
        "-c",
        "--constraint",
        "constraints",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Constraints: a pip constraints file, or a lock file whose versions constrain. Repeatable.",
    ),
    click.option(
        "--extra",
        "extras",
        multiple=True,
        metavar="NAME",
        help="Include the optional dependencies NAME of pyproject.toml or a lock file. Repeatable.",
    ),
    click.option(
        "--group",
        "groups",
        multiple=True,
        metavar="NAME",
        help="Include the dependency group NAME (PEP 735) of pyproject.toml or a lock file. Repeatable.",
    ),
]
_TARGET_OPTIONS = [
    click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="TARGET",
        help="Where the wheels will be installed: linux/amd64, linux/arm64 (Docker's words), a compact "
        "cp312-manylinux_2_28_aarch64, or host (default). Repeatable.",
    ),
    click.option(
        "--python",
        "pythons",
        multiple=True,
        metavar="X.Y[.Z]",
        help="Target CPython version (repeatable). X.Y means the newest patch release wheelhouse knows.",
    ),
    click.option(
        "--libc",
        default=None,
        metavar="LIBC",
        help="manylinux_2_28 (default), manylinux_2_17, manylinux2014, or musllinux_1_2 for Alpine.",
    ),
]


def option_group(
    argument: str, cls: type[Any], declared: Sequence[Callable[[Any], Any]]
) -> Callable[[F], Callable[..., Any]]:
    """A decorator that declares ``declared`` (click options and arguments) on a command and passes their values
    as one object, ``argument=cls(...)``: the command's signature names the group, not each option. The click
    parameter names must be fields of ``cls`` (a frozen dataclass); fields not declared keep their defaults."""
    names = {f.name for f in fields(cls)}

    def decorate(func: F) -> Callable[..., Any]:
        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            return func(*args, **{argument: cls(**given)}, **kwargs)

        wrapped: Callable[..., Any] = command
        for option in reversed(declared):
            wrapped = option(wrapped)
        return wrapped

    return decorate


def project_options(
    *, packages: bool = False, requirements: bool = True, targets: bool = True, wheels: str = "--wheels"
) -> Callable[[F], Callable[..., Any]]:
    """Declare the shared options on a command and pass them as one ``project: ProjectOptions`` argument.

    ``packages`` adds the positional PKG arguments, ``requirements`` -r/-c, ``targets`` --target/--python/--libc;
    ``wheels`` is the spelling of the folder option (``build`` keeps ``--wheels`` for a mode). Options not
    declared stay at their "not given" value. Arguments declared above this decorator come before PKG.
    """
    declared: list[Callable[[Any], Any]] = []
    if packages:
        declared.append(click.argument("packages", nargs=-1, metavar="[PKG]..."))
    if requirements:
        declared += _REQUIREMENT_OPTIONS
    if targets:
        declared += _TARGET_OPTIONS
    declared.append(
        click.option(
            wheels,
            "wheels_dir",
            default=None,
            metavar="DIR",
            callback=_folder_named,
            help="The wheels folder (default: ./wheels or the configured one).",
        )
    )

    return option_group("project", ProjectOptions, declared)


def _folder_named(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # An empty value is what an unset variable gives (--wheels "$WHEELS"): taken as a path it is the working
    # directory, whose files check --fix would then quarantine.
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty.", ctx, param)
    return value


def effective_settings(project: ProjectOptions = ProjectOptions(), **extra: Any) -> Settings:
    """Settings from the configuration file, overridden by what was given on the command line."""
    return (
        get_state()
        .settings()
        .with_cli(
            wheels=project.wheels_dir,
            requirements=project.requirement_files,
            constraints=project.constraints,
            extras=project.extras,
            groups=project.groups,
            targets=project.targets,
            python=project.pythons,
            libc=project.libc,
            **extra,
        )
    )


class Project(NamedTuple):
    """What most commands start from: the effective settings, the requirement set and the targets."""

    settings: Settings
    requirements: RequirementSet
    targets: tuple[Target, ...]


def load_project(project: ProjectOptions, *, required: bool = True, **extra: Any) -> Project:
    """Settings (configuration overridden by the command line, ``extra`` included), then the requirements,
    then the targets."""
    settings = effective_settings(project, **extra)
    inputs = _read_inputs(settings, project.packages, required=required)
    targets = load_targets(settings)
    from wheelhouse.inputs import check_scopes

    check_scopes(inputs.scopes, targets)
    return Project(settings, inputs.requirements, targets)


def load_targets(settings: Settings) -> tuple[Target, ...]:
    from wheelhouse.targets import parse_targets

    targets = parse_targets(settings.targets, pythons=settings.python, libc=settings.libc)
    for target in targets:
        _log.info(f"target {target.describe()}")
    return targets


def load_inputs(
    settings: Settings,
    packages: Sequence[str],
    *,
    required: bool = True,
    replace_configured: bool = True,
    within: str | os.PathLike[str] | None = None,
) -> RequirementSet:
    """The requirement set named by -r/-c/PKG (any input format), the configuration, or the input found here.

    ``replace_configured=False`` adds ``packages`` to the files instead of letting them stand for the configured
    ones: for a caller that adds what the image needs (the pip that reads a pylock.toml), not for a user's PKG.
    """
    return _read_inputs(
        settings, packages, required=required, replace_configured=replace_configured, within=within
    ).requirements


def _read_inputs(
    settings: Settings,
    packages: Sequence[str],
    *,
    required: bool = True,
    replace_configured: bool = True,
    within: str | os.PathLike[str] | None = None,
) -> Inputs:
    """:func:`load_inputs`, with the scopes of the lock files among the inputs (checked against the targets)."""
    from wheelhouse.inputs import Inputs, Selection, detect_format, find_default_input, load_inputs
    from wheelhouse.requirements import RequirementSet

    files = list(settings.requirements)
    if replace_configured and packages and files and settings.sources.get("requirements") != "command line":
        # Packages named on the command line replace the configured requirements, as `-r FILE` does: `download
        # six` is about six alone. Configured constraints still apply.
        _log.info(f"using the packages named ({', '.join(packages)}) instead of the configured requirements")
        files = []
    if not files and not packages:
        found = find_default_input(Path())
        if found is not None:
            _log.info(f"no requirements given: using {found}, found here")
            files = [found]
            lock = next((name for name in ("uv.lock", "poetry.lock") if Path(name).is_file()), None)
            if found == "pyproject.toml" and lock is not None:
                _log.info(f"{lock} is here too: pass -r {lock} to install the versions it locks")
    if not files and not packages:
        if not required:
            return Inputs(RequirementSet())
        raise UsageError(
            "no requirements given, and no requirements.txt, pylock.toml or pyproject.toml here",
            hint="pass -r FILE or package names, set requirements in wheelhouse.toml, or run wheelhouse init",
        )
    selection = Selection(settings.extras, settings.groups)
    configured = "command line" not in (settings.sources.get("extras"), settings.sources.get("groups"))
    if configured and all(detect_format(f) == "requirements" for f in files):
        # Configured extras and groups belong to the configured project file; an input without any (the
        # requirements.lock that render installs) leaves them unused instead of failing.
        selection = Selection()
    return load_inputs(
        files,
        packages,
        constraints=settings.constraints,
        selection=selection,
        wheels_dir=settings.wheels_path,
        within=within,
    )


def requirement_args(settings: Settings, packages: Sequence[str]) -> tuple[str, ...]:
    """The -r/-c/PKG part of a command line that reproduces this input (for "fix" commands)."""
    args: list[str] = []
    if settings.sources.get("requirements") == "command line":
        for f in settings.requirements:
            args += ["-r", f]
    if settings.sources.get("constraints") == "command line":
        for f in settings.constraints:
            args += ["-c", f]
    for key, option in (("extras", "--extra"), ("groups", "--group")):
        if settings.sources.get(key) == "command line":
            for name in getattr(settings, key):
                args += [option, name]
    args += list(packages)
    return tuple(args)


def reproduce(name: str, settings: Settings, packages: Sequence[str], *extra: str) -> str:
    """The command line that repeats this invocation (for hints and the lock file's header)."""
    argv = ["wheelhouse", name, *requirement_args(settings, packages)]
    if settings.sources.get("targets") == "command line":
        for spec in settings.targets:
            argv += ["--target", spec]
    if settings.sources.get("python") == "command line":
        for python in settings.python:
            argv += ["--python", python]
    if settings.sources.get("libc") == "command line" and settings.libc:
        argv += ["--libc", settings.libc]
    if settings.sources.get("wheels") == "command line":
        argv += ["--wheels", settings.wheels]
    return shlex.join([*argv, *extra])


def explicit_targets(settings: Settings) -> bool:
    """Whether --target, --python or --libc was given on the command line (configured targets do not count)."""
    return any(settings.sources.get(key) == "command line" for key in ("targets", "python", "libc"))


def existing_store(project: ProjectOptions) -> tuple[Settings, Store]:
    """The settings and the wheels folder, which must exist (for commands that read or repair it)."""
    from wheelhouse.store.folder import Store

    settings = effective_settings(project)
    store = Store(settings.wheels_path)
    if store.root.exists() and not store.root.is_dir():
        raise StoreError(f"{store.root} is not a directory", hint="pass --wheels DIR with the wheels folder")
    if not store.root.is_dir():
        raise StoreError(
            f"the wheels folder {store.root} does not exist",
            hint="wheelhouse download -r requirements.txt (or pass --wheels DIR)",
        )
    return settings, store


# -- index settings ----------------------------------------------------------------------------------------


def index_options(func: F) -> Callable[..., Any]:
    """The index options of ``download`` (and of ``config``, which shows their effect), passed as one
    ``index: IndexOptions`` argument."""
    declared = [
        click.option(
            "-i", "--index-url", default=None, metavar="URL", help="Base URL of the package index (PEP 503/691)."
        ),
        click.option(
            "--extra-index-url", "extra_index_urls", multiple=True, metavar="URL", help="Extra index. Repeatable."
        ),
        click.option(
            "-f",
            "--find-links",
            "find_links",
            multiple=True,
            metavar="DIR|URL",
            help="Flat folder or HTML page. Repeatable.",
        ),
        click.option("--no-index", is_flag=True, help="Ignore every index; use --find-links only."),
        click.option("--cert", default=None, metavar="PATH", help="CA bundle for HTTPS."),
        click.option(
            "--timeout",
            type=FiniteFloat(min=0, min_open=True),
            default=None,
            metavar="SECONDS",
            help="Seconds a connection may stay silent before the attempt fails (default 15, or pip's 'timeout').",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=None,
            metavar="N",
            help="Retries of a failed request, with exponential backoff (default 4, or pip's 'retries').",
        ),
        click.option(
            "--isolated", is_flag=True, help="Ignore pip's configuration files and PIP_* environment variables."
        ),
        click.option(
            "--keyring-provider",
            type=click.Choice(["auto", "subprocess", "disabled"]),
            default=None,
            help="Ask the keyring command for an index's credentials after a 401 (auto: when keyring is on PATH; "
            "default auto, or pip's 'keyring-provider').",
        ),
    ]

    return option_group("index", IndexOptions, declared)(func)


def index_config(
    settings: Settings, requirements: RequirementSet | None = None, options: IndexOptions | None = None
) -> IndexConfig:
    """:func:`wheelhouse.settings.effective_index_config`, with a note of the result under -v."""
    config = effective_index_config(settings, requirements, options or IndexOptions())
    _log.info(f"index: {config!r}")
    return config


def print_json(data: Any, *, elapsed: str | None = None) -> None:
    """``data`` as indented JSON on stdout. ``elapsed`` names a top-level key whose value is the command's elapsed
    time in seconds: written with three decimals, through :func:`wheelhouse._recording.elapsed` (so that an
    answer replayed from the proof cache gives its own time there)."""
    text = json.dumps(data, indent=2, sort_keys=False)
    if elapsed is not None:
        from wheelhouse import _recording

        seconds = float(data[elapsed])
        # A top-level key is the only one at this indentation; the value json wrote is replaced where it stands.
        written = f"\n  {json.dumps(elapsed)}: {json.dumps(data[elapsed])}"
        text = text.replace(written, f"\n  {json.dumps(elapsed)}: {_recording.elapsed(seconds, '.3f')}", 1)
    sys.stdout.write(text + "\n")
