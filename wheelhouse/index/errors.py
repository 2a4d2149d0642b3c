"""The errors of reading an index's metadata, apart from the HTTP stack that raises most of them: the finder
names them, and a download the folder covers must not import requests to do so."""

from __future__ import annotations

from wheelhouse.dists import UnusableMetadata
from wheelhouse.errors import WheelhouseError

__all__ = ["MetadataError", "MetadataMismatch"]


class MetadataError(WheelhouseError):
    """A distribution's core metadata cannot be obtained from the index or does not match the file."""


class MetadataMismatch(MetadataError, UnusableMetadata):
    """Metadata that cannot be parsed or names another project or version than its file: the resolver passes
    over that file and tries the next one (see :class:`wheelhouse.dists.UnusableMetadata`)."""
