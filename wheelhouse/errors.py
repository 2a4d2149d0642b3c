"""One error hierarchy for the whole tool.

Every failure a user can cause or meet is a ``WheelhouseError`` subclass. Core code raises them with structured
fields; ``cli.main`` is the single place that turns them into a one-line message, an optional hint (the command
that fixes it) and the exit code below. Tracebacks are shown only with ``-v``.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, shared by every command."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_COVERED = 3
    INTERRUPTED = 130


class WheelhouseError(Exception):
    """Root of every error wheelhouse reports to a user."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(WheelhouseError):
    """Bad command-line input: an option value, a target string, a package argument."""

    exit_code = ExitCode.USAGE


class TargetError(UsageError):
    """A target specification that cannot be understood."""


class ConfigError(UsageError):
    """A configuration file with an unknown key or a bad value."""


class RequirementsError(UsageError):
    """A requirements input that cannot be parsed; names the file, the line and the text."""

    def __init__(self, reason: str, *, path: str | None, line: int | None, text: str, hint: str | None = None):
        self.reason = reason
        self.path = path
        self.line = line
        self.text = text
        super().__init__(self._render(), hint=hint)

    def _render(self) -> str:
        where = self.path or "command line"
        if self.line is not None:
            where = f"{where}:{self.line}"
        from wheelhouse._text import shorten

        text = shorten(self.text.strip())
        return f"{where}: {self.reason}: {text!r}" if text else f"{where}: {self.reason}"


class StoreError(WheelhouseError):
    """The wheels folder cannot be read or written."""


class LockTimeout(StoreError):
    """Another wheelhouse process holds the folder's lock."""


class NotCoveredError(WheelhouseError):
    """A requirement set does not resolve from what is available; carries the structured gaps."""

    exit_code = ExitCode.NOT_COVERED


class NetworkError(WheelhouseError):
    """An index or file could not be fetched after retries."""


class HashMismatchError(NetworkError):
    """A downloaded file's sha256 differs from the hash the index published."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.url = url
        self.expected = expected
        self.actual = actual
        super().__init__(f"hash mismatch for {url}: expected sha256 {expected}, got {actual}")


class DockerError(WheelhouseError):
    """Docker is missing, unreachable or the build failed."""
