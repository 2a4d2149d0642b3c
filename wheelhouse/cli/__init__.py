"""The ``wheelhouse`` command line: parse, call the core, render. The only place that prints or exits.

Each command lives in a module named after it (or after the pair it belongs to: ``list_show``, ``index_serve``,
``export_import``, ``render_build``), listed in :data:`COMMANDS` and imported only when invoked
(``_LazyGroup``), so ``wheelhouse verify`` never pays for importing requests or pip. The options most commands
share are declared once (:class:`wheelhouse.cli._common.ProjectOptions`); every command also takes ``-v``
after its name.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from wheelhouse import __version__
from wheelhouse.errors import ExitCode, WheelhouseError

# command name -> (module, attribute, one-line help shown by `wheelhouse --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "verify": (
        "wheelhouse.cli.verify",
        "verify_command",
        "Prove offline that wheels/ covers the requirements for every target.",
    ),
    "download": (
        "wheelhouse.cli.download",
        "download_command",
        "Fill wheels/ for every target, in parallel and verified.",
    ),
    "render": (
        "wheelhouse.cli.render_build",
        "render_command",
        "Write Dockerfiles and a compose file that install from wheels/.",
    ),
    "build": (
        "wheelhouse.cli.render_build",
        "build_command",
        "Verify, render and run docker build (offline by default).",
    ),
    "list": ("wheelhouse.cli.list_show", "list_command", "List the wheels in the folder."),
    "show": ("wheelhouse.cli.list_show", "show_command", "Show a wheel's metadata, tags, hash and files."),
    "why": ("wheelhouse.cli.why", "why_command", "Show every requirement chain that needs a project."),
    "prune": ("wheelhouse.cli.prune", "prune_command", "Remove wheels no target needs."),
    "lock": (
        "wheelhouse.cli.lock",
        "lock_command",
        "Write pinned requirements with hashes of the wheels in the folder.",
    ),
    "sbom": (
        "wheelhouse.cli.sbom",
        "sbom_command",
        "Write a CycloneDX SBOM of the wheels each target installs.",
    ),
    "check": ("wheelhouse.cli.check", "check_command", "Check every wheel's integrity."),
    "index": ("wheelhouse.cli.index_serve", "index_command", "Write a static PEP 503/691 index over the folder."),
    "serve": ("wheelhouse.cli.index_serve", "serve_command", "Serve the folder as a package index on 127.0.0.1."),
    "export": ("wheelhouse.cli.export_import", "export_command", "Write a bundle of the wheels some targets need."),
    "import": (
        "wheelhouse.cli.export_import",
        "import_command",
        "Add the wheels of a bundle, verifying every checksum.",
    ),
    "publish": (
        "wheelhouse.cli.publish",
        "publish_command",
        "Upload what the targets need to a package index server and prove it covers them.",
    ),
    "config": (
        "wheelhouse.cli.config",
        "config_command",
        "Print the effective configuration and where each value came from.",
    ),
    "init": ("wheelhouse.cli.init", "init_command", "Write wheelhouse.toml from the inputs and Dockerfile found here."),
}


class _Interrupted(Exception):
    """Ctrl-C inside a command, carried past click to :func:`main`.

    click answers a KeyboardInterrupt by printing an empty line and raising Abort; in a log that blank line
    breaks the promise of exactly one line (``error: interrupted``).
    """


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS) + sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        command: click.Command | None = getattr(module, spec[1], None)
        if command is not None and not any(param.name == "verbose" for param in command.params):
            # -v after the command (`wheelhouse download -v`), as pip takes it; it adds to a -v before it.
            command.params.append(
                click.Option(
                    ["-v", "--verbose"],
                    count=True,
                    expose_value=False,
                    callback=_more_verbose,
                    help="More detail; -v also shows tracebacks of errors.",
                )
            )
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show the short help without importing every command module.
        rows = [(name, COMMANDS[name][2]) for name in COMMANDS]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="wheelhouse")
@click.option("-v", "--verbose", count=True, help="More detail; -v also shows tracebacks of errors.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file (default: wheelhouse.toml, or [tool.wheelhouse] in pyproject.toml, found upwards).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int, config_file: str | None) -> None:
    """Keep a wheels/ folder that provably covers your requirements for every platform you ship to,
    and build Docker images from it with no network.

    \b
    Typical use:
      wheelhouse download -r requirements.txt --target linux/amd64 --target linux/arm64 --python 3.12
      wheelhouse verify   -r requirements.txt --target linux/amd64 --target linux/arm64 --python 3.12
      wheelhouse build --offline -t myapp
    """
    from wheelhouse.cli._common import State

    _show_diagnostics(verbose)
    ctx.obj = State(verbose=verbose, config_file=config_file)


def _more_verbose(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    from wheelhouse.cli._common import get_state

    if count:
        get_state().more_verbose(count)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn every failure into a message and an exit code."""
    verbose = _verbosity(argv if argv is not None else sys.argv[1:])
    try:
        # standalone_mode=False: click returns ctx.exit() codes instead of exiting, and raises the rest to us.
        code = cli.main(args=argv, prog_name="wheelhouse", standalone_mode=False)
    except WheelhouseError as exc:
        _fail(str(exc), exc.hint, exc.exit_code, verbose)
    except _Interrupted:
        # On a terminal the echoed "^C" has no line end; in a log an empty line would only be noise.
        if sys.stderr.isatty():
            click.echo(err=True)
        _fail("interrupted", None, ExitCode.INTERRUPTED, 0)
    except click.exceptions.Abort:
        _fail("interrupted", None, ExitCode.INTERRUPTED, 0)
    except KeyboardInterrupt:
        _fail("interrupted", None, ExitCode.INTERRUPTED, 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        # Usage errors: click's own message (it already names the option), on one line, exit 2.
        message = exc.format_message().replace("\n", " ")
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            message += f" (see '{exc.ctx.command_path} --help')"
        _fail(message, None, ExitCode.USAGE if isinstance(exc, click.UsageError) else ExitCode(exc.exit_code), 0)
    except BrokenPipeError:
        sys.exit(ExitCode.FAILURE)
    except OSError as exc:
        if exc.filename is not None and exc.strerror:
            # The file system refused a path the user gave (a name too long, a loop of links, no permission)
            # where no check of our own came first: what and where, in one line, as for every other bad path.
            _fail(f"{exc.filename}: {exc.strerror}", None, ExitCode.FAILURE, verbose)
        _internal(exc, verbose)
    except Exception as exc:
        _internal(exc, verbose)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)


def _internal(exc: BaseException, verbose: int) -> NoReturn:
    _fail(
        f"internal error: {type(exc).__name__}: {exc}",
        "rerun with -v and report the traceback",
        ExitCode.FAILURE,
        verbose,
    )


def run(finish: Callable[[int], int] | None = None) -> NoReturn:
    """:func:`main`, then a quick exit: the command line behind the console script (:mod:`wheelhouse._entry`).

    ``finish`` is called with the exit status once the command is done, before the exit, and returns the
    status to exit with (the console script stores a verify's answer in the proof cache there). The shortcuts
    on interpreter internals (no cyclic garbage collection while the command runs, an exit without the
    teardown) are :mod:`wheelhouse.cli._process`'s, each explained there.
    """
    from wheelhouse.cli import _process

    _process.pause_collector()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_status(exc.code)
    if finish is not None:
        code = finish(code)
    _process.exit_now(code)


class _DiagnosticsHandler(logging.Handler):
    """Writes the core's diagnostics (:mod:`wheelhouse._log`) to stderr: ``warning: ...`` for warnings, the bare
    message for notes and detail, each redacted and made safe for a terminal, one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        from wheelhouse._text import redact, safe

        text = " ".join(safe(redact(record.getMessage())).split("\n"))
        if record.levelno >= logging.WARNING:
            text = f"warning: {text}"
        # stderr went away: a diagnostic is not worth failing the command for.
        with contextlib.suppress(OSError, ValueError):
            click.echo(text, err=True)


def _show_diagnostics(verbose: int) -> None:
    """Route the ``wheelhouse`` logger to stderr once: warnings always, notes with -v, detail with -vv."""
    from wheelhouse._log import logger

    if not any(isinstance(h, _DiagnosticsHandler) for h in logger.handlers):
        logger.addHandler(_DiagnosticsHandler())
    logger.setLevel(logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG)


def _exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` would give (printing a message, as it would, for a non-number)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _verbosity(argv: list[str]) -> int:
    count = 0
    for arg in argv:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count


def _fail(message: str, hint: str | None, code: int, verbose: int) -> NoReturn:
    if verbose:
        import traceback

        traceback.print_exc()
    from wheelhouse._text import redact, safe

    # The one place every failure becomes text: nothing it prints may carry a secret or a terminal escape.
    first_line = " ".join(safe(redact(message)).split("\n")).strip() or "failed"
    click.echo(f"error: {first_line}", err=True)
    if hint:
        click.echo(f"hint: {safe(redact(hint))}", err=True)
    sys.exit(code)
