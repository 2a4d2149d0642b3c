"""How ``docker build`` gets the configured index: a plain URL as a build argument, one with credentials as a
BuildKit secret.

Contract, the credential policy for images: index credentials never reach a command line, a build argument, a
layer or an image's history. Build arguments are recorded in ``docker history`` and shown on the docker command
line, so a URL that carries a user name or password is passed as a BuildKit secret instead: written to a private
file (mode 0600, in a directory only this user can enter) that lives as long as the build, named on the command
line by its path only (``--secret id=ID,src=FILE``). The Dockerfile mounts it (``RUN --mount=type=secret``) and
reads it into the ``PIP_*`` variable of the one command that needs it. The classic builder has no secrets, so such
a build needs BuildKit; URLs without credentials keep the build argument, which every builder understands.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from wheelhouse._text import redact_url
from wheelhouse.errors import UsageError

__all__ = [
    "SECRET_DIR",
    "SECRET_IDS",
    "IndexPassing",
    "has_credentials",
    "index_passing",
    "secret_files",
]

# The variables pip reads the index from, and the id of the secret that carries each when it holds credentials.
SECRET_IDS: dict[str, str] = {
    "PIP_INDEX_URL": "pip_index_url",
    "PIP_EXTRA_INDEX_URL": "pip_extra_index_url",
}
# Where BuildKit mounts a secret without a target: SECRET_DIR/ID.
SECRET_DIR = "/run/secrets"


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a password or a user name (usually an access token) before its host."""
    return redact_url(url) != url


@dataclass(frozen=True)
class IndexPassing:
    """The index settings of one build: plain ones as build arguments, credentialed ones as secrets.

    Both hold ``(variable, value)`` pairs; a variable is in one of them at most.
    """

    build_args: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()

    @property
    def secret_variables(self) -> tuple[str, ...]:
        """The variables that come from secrets, in a stable order (what the rendered Dockerfiles mount)."""
        return tuple(name for name, _value in self.secrets)


def index_passing(index_url: str | None, extra_index_urls: Sequence[str] = ()) -> IndexPassing:
    """How ``index_url`` and ``extra_index_urls`` reach pip in a build: each variable whose value carries
    credentials (any of the extra URLs counts for all of them, since pip reads them from one variable) becomes
    a secret; the others stay build arguments."""
    values: list[tuple[str, str, bool]] = []
    if index_url:
        values.append(("PIP_INDEX_URL", index_url, has_credentials(index_url)))
    if extra_index_urls:
        joined = " ".join(extra_index_urls)
        values.append(("PIP_EXTRA_INDEX_URL", joined, any(has_credentials(url) for url in extra_index_urls)))
    return IndexPassing(
        build_args=tuple((name, value) for name, value, secret in values if not secret),
        secrets=tuple((name, value) for name, value, secret in values if secret),
    )


@contextmanager
def secret_files(
    secrets: Sequence[tuple[str, str]], *, outside: str | os.PathLike[str] | None = None
) -> Iterator[tuple[tuple[str, str], ...]]:
    """Write each ``(variable, value)`` to a private file for the length of the ``with`` block; yields the
    ``(secret id, path)`` pairs ``docker build --secret`` takes. The files are removed on leaving the block,
    whether the build worked or not.

    ``outside`` is the build context: a temporary directory inside it (TMPDIR set into the project) is
    refused, since the context, and with it a file there, is sent to the builder."""
    if not secrets:
        yield ()
        return
    parent = os.path.realpath(tempfile.gettempdir())
    if outside is not None:
        context = os.path.realpath(outside)
        if os.path.commonpath([parent, context]) == context:
            raise UsageError(
                f"the temporary directory {parent} is inside the build context {os.fspath(outside)}: the index "
                "credentials written there for the build would be sent to the builder",
                hint="set TMPDIR to a directory outside the project",
            )
    # mkdtemp makes the directory 0700: no other user can list it or open a file in it.
    directory = tempfile.mkdtemp(prefix="wheelhouse-secrets-", dir=parent)
    try:
        pairs: list[tuple[str, str]] = []
        for variable, value in secrets:
            secret_id = SECRET_IDS[variable]
            path = os.path.join(directory, secret_id)
            # O_EXCL and O_NOFOLLOW: a file or link someone placed there first is never written through.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value)
            pairs.append((secret_id, path))
        yield tuple(pairs)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
