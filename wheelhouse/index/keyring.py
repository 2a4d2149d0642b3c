"""Index credentials from the ``keyring`` command, as pip's and uv's ``--keyring-provider subprocess`` get them.

Contract: :func:`keyring_lookup` turns a provider name (``auto``, ``subprocess``, ``disabled``) into a
:class:`KeyringLookup`, or None when no keyring is to be asked. :meth:`KeyringLookup.credentials` runs the
command through :mod:`wheelhouse._proc` (no standard input, so a backend that wants to prompt gets end-of-file
instead of hanging a download) and returns a (user, password) pair or None. What the command prints is never
logged, quoted in a message or written anywhere; the caller keeps the pair in memory for the run.

Provider names are checked where the settings are read (:data:`wheelhouse.index.config.KEYRING_PROVIDERS`).
The command lines are keyring's own interface, the ones pip and uv run:

* with a user name (from ``https://user@host/simple``): ``keyring get SERVICE USER``, the password on the first
  line of standard output (every keyring version);
* without one: ``keyring --mode=creds --output=json get SERVICE``, a JSON object with ``username`` and
  ``password`` (keyring 25.2 and later; an older one refuses the options and is taken as "nothing found").

Services are tried in order: the index URL (more specific), then ``host:port``, as pip does. pip's ``import``
provider (the ``keyring`` module imported into the installer) is not offered: wheelhouse does not depend on
keyring, and the command serves the same backends.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence

from wheelhouse import _log
from wheelhouse._proc import TIMEOUT_STATUS, Runner, subprocess_runner
from wheelhouse.index.auth import netloc

__all__ = ["KeyringLookup", "keyring_lookup", "service_names"]

# A backend may wait for an unlock dialog; past this the run goes on without the keyring rather than hang.
_TIMEOUT = 60.0


def service_names(url: str, index_urls: Sequence[str]) -> tuple[str, ...]:
    """The services to ask for a request to ``url`` (without credentials): the configured index URL it lies under
    (the longest such), then its ``host:port``. A file on another host than its index gets the host only."""
    host = netloc(url)
    under = [u for u in index_urls if netloc(u) == host and (url == u or url.startswith(u.rstrip("/") + "/"))]
    best = max(under, key=len, default=None)
    return (best, host) if best else (host,)


class KeyringLookup:
    """The ``keyring`` command at ``command``, asked for the credentials of index URLs and hosts.

    Not thread-safe by itself: the transport asks once per host (its own cache) and keeps the answer.
    """

    def __init__(
        self,
        command: str,
        *,
        runner: Runner = subprocess_runner,
        environ: Mapping[str, str] | None = None,
        timeout: float = _TIMEOUT,
    ) -> None:
        self.command = command
        self._runner = runner
        self._environ = os.environ if environ is None else environ
        self._timeout = timeout
        self._broken = False

    def credentials(self, services: Sequence[str], username: str | None) -> tuple[str, str] | None:
        """The first (user, password) the keyring holds for one of ``services``, tried in order, or None.

        ``username`` (from the index URL) is passed to the keyring, which then answers the password only.
        A command that cannot be run or does not answer in time is said once and not asked again.
        """
        for service in services:
            if self._broken:
                return None
            found = self._ask(service, username)
            if found is not None:
                _log.info(f"credentials for {service} from the keyring")
                return found
        return None

    def _ask(self, service: str, username: str | None) -> tuple[str, str] | None:
        if username:
            argv = [self.command, "get", service, username]
        else:
            argv = [self.command, "--mode=creds", "--output=json", "get", service]
        # keyring is a Python program: make it answer in UTF-8 whatever the locale, as pip does.
        env = {**self._environ, "PYTHONIOENCODING": "utf-8"}
        try:
            result = self._runner(argv, env=env, timeout=self._timeout)
        except OSError as exc:
            self._broken = True
            _log.warning(f"cannot run the keyring command {self.command}: {exc.strerror or exc}; keyring not used")
            return None
        if result.returncode == TIMEOUT_STATUS:
            self._broken = True
            _log.warning(f"the keyring command gave no answer within {self._timeout:.0f} s; keyring not used")
            return None
        if not result.ok:
            # keyring exits 1 when it holds nothing for the service; its output is never quoted (it may echo).
            _log.debug(f"keyring has nothing for {service} (exit status {result.returncode})")
            return None
        if username:
            password = result.stdout.splitlines()[0] if result.stdout else ""
            return (username, password) if password else None
        return _parse_creds(result.stdout, service)


def _parse_creds(stdout: str, service: str) -> tuple[str, str] | None:
    try:
        data = json.loads(stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        _log.debug(f"keyring's answer for {service} is not a JSON object; ignored")
        return None
    user, password = data.get("username"), data.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not (user or password):
        return None
    return user, password


def keyring_lookup(
    provider: str,
    *,
    which: Callable[[str], str | None] = shutil.which,
    runner: Runner = subprocess_runner,
    environ: Mapping[str, str] | None = None,
) -> KeyringLookup | None:
    """The keyring to ask under ``provider``, or None.

    ``disabled``: None. ``auto`` (the default, pip's): the ``keyring`` command when one is on ``PATH``, else None
    without a word. ``subprocess``: the same, but a missing command is said once, since the user asked for it.
    """
    if provider == "disabled":
        return None
    command = which("keyring")
    if command is None:
        if provider == "subprocess":
            _log.warning("--keyring-provider subprocess: no keyring command on PATH; keyring not used", once="keyring")
        return None
    _log.debug(f"keyring provider {provider}: {command}")
    return KeyringLookup(command, runner=runner, environ=environ)
