"""Remote package indexes: settings, credentials, pages (PEP 503 HTML, PEP 691 JSON), the HTTP client, metadata
by PEP 658 or range requests, and the finder the resolver asks for candidates.

Contract: nothing here writes into wheels/ (downloads stream to a temporary file the caller commits); every URL
printed or logged is redacted; a page's files are checked for safe names before anyone sees them; warnings go to
:mod:`wheelhouse._log`, never to a list a caller must remember to read.

The modules, lowest first (each imports only those above it):

* ``config``: :class:`IndexConfig` and reading it from pip's configuration files and ``PIP_*`` variables.
* ``auth``: credentials taken out of the configured URLs, sent to their own host only, scrubbed from messages.
* ``keyring``: credentials from the ``keyring`` command, asked after a 401 (``--keyring-provider``).
* ``tls``: what HTTPS is verified against: a named CA bundle, else the system trust store (``truststore``).
* ``filenames``: which listed names are worth parsing and which are safe to write into the wheels folder.
* ``pages``: :class:`RemoteFile` and the parsing of HTML, JSON and find-links pages (no network).
* ``transport``: the one HTTP session, retries with back-off and ``Retry-After``, bounded and verified bodies.
* ``metadata``: a file's core metadata by PEP 658, by range requests into a wheel, or by a whole download.
* ``http``: :class:`IndexClient`, the facade the rest of wheelhouse uses (pages per project, metadata,
  downloads).
* ``finder``: :class:`IndexFinder`, the :class:`wheelhouse.dists.Finder` the resolver asks.
"""
