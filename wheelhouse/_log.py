"""The one diagnostics channel: every layer reports warnings, notes and detail here, and only the CLI decides
how (and whether) they are shown.

Core code calls :func:`warning`, :func:`info` or :func:`debug`; it never prints, never keeps a list of messages
for its caller to remember to read, and never takes a ``warn`` callback. The channel is the standard library's
``logging`` under the ``wheelhouse`` logger, so a library user gets the messages through the usual handlers and
a test reads them with pytest's ``caplog``. ``cli`` installs the handler that writes ``warning: ...`` lines.

A message that would repeat for every file of a large index (one bad ``data-requires-python``, say) is said once
per process: pass ``once=`` a key.
"""

from __future__ import annotations

import logging
import threading

LOGGER_NAME = "wheelhouse"
logger = logging.getLogger(LOGGER_NAME)
# A library must not print by default: without a handler the messages go nowhere (the CLI installs one).
logger.addHandler(logging.NullHandler())
logger.propagate = True

_said: set[str] = set()
_said_lock = threading.Lock()


def _first_time(once: str | None) -> bool:
    if once is None:
        return True
    with _said_lock:
        if once in _said:
            return False
        _said.add(once)
        return True


def warning(message: str, *, once: str | None = None) -> None:
    """Something the user should know: a setting ignored, a file skipped, a source that does not exist."""
    if _first_time(once):
        logger.warning(message)


def info(message: str, *, once: str | None = None) -> None:
    """A note shown with ``-v``: what was assumed, where a value came from."""
    if _first_time(once):
        logger.info(message)


def debug(message: str) -> None:
    """Detail shown with ``-vv``: each request, each skipped file."""
    logger.debug(message)


def forget() -> None:
    """Forget which ``once`` messages were said (a long-lived caller running several commands, and tests)."""
    with _said_lock:
        _said.clear()
