"""``wheelhouse init``: write wheelhouse.toml from what the project directory holds, asking nothing.

The content is :func:`wheelhouse.inputs.init.plan_init`'s; this module refuses to replace an existing file
unless ``--force`` is given, writes atomically, and says what it wrote.
"""

from __future__ import annotations

from pathlib import Path

import click

from wheelhouse.errors import UsageError

_NAME = "wheelhouse.toml"


@click.command("init")
@click.option("--force", is_flag=True, help="Replace an existing wheelhouse.toml.")
def init_command(force: bool) -> None:
    """Write wheelhouse.toml here: the requirements found (requirements.txt, else pylock.toml, else
    pyproject.toml, or the uv.lock/poetry.lock beside it) and the targets of the Dockerfile (its final FROM:
    python:3.12-slim is linux/amd64 with Python 3.12, --platform is honoured, alpine is musllinux)."""
    from wheelhouse.inputs.init import plan_init
    from wheelhouse.store.fs import atomic_write

    path = Path(_NAME)
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"{_NAME} already exists; pass --force to replace it")
    plan = plan_init(Path())
    atomic_write(path, plan.text.encode("utf-8"))
    click.echo(f"wrote {_NAME}")
    click.echo(plan.text, nl=False)
