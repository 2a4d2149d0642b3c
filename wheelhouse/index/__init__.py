"""Remote package indexes: settings, credentials, pages (PEP 503 HTML, PEP 691 JSON), the HTTP client, metadata
by PEP 658 or range requests, and the finder the resolver asks for candidates.

Contract: nothing here writes into wheels/ (downloads stream to a temporary file the caller commits); every URL
printed or logged is redacted; a page's files are checked for safe names before anyone sees them.
"""
