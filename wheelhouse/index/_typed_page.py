"""A PEP 691 JSON project page decoded straight into typed entries (msgspec).

A large project's page is megabytes of JSON; decoding it into dictionaries and reading them back cost more than
anything else a cold download does with it. Kept apart from :mod:`wheelhouse.index.pages` so that msgspec is
imported only by a run that reads a JSON page.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["JsonFile", "JsonPage", "decode"]


# What a field absent from an entry reads as: no bytes at all, unlike any JSON value (``null`` included).
_ABSENT = msgspec.Raw(b"")


class JsonFile(msgspec.Struct, kw_only=True, gc=False):
    """One entry of a page's ``files``, as the common shape types it. An entry of another shape fails the typed
    decoding, and the page is then read with :mod:`json` and judged entry by entry.

    The nested objects (``hashes``, the core-metadata values) are kept as their raw JSON and decoded when an
    entry is built: a page lists tens of thousands of entries, and a run builds a few thousand of them.
    """

    filename: str
    url: str
    hashes_json: msgspec.Raw = msgspec.field(default=_ABSENT, name="hashes")
    requires_python: str | None = msgspec.field(default=None, name="requires-python")
    yanked: bool | str = False
    size: int | None = None
    # Absent and present-but-false differ (PEP 714: ``core-metadata`` wins over ``dist-info-metadata``).
    core_metadata_json: msgspec.Raw = msgspec.field(default=_ABSENT, name="core-metadata")
    dist_info_metadata_json: msgspec.Raw = msgspec.field(default=_ABSENT, name="dist-info-metadata")

    @property
    def hashes(self) -> Any:
        """The ``hashes`` value as decoded JSON (None when absent)."""
        return _value(self.hashes_json)

    def metadata_value(self) -> Any:
        """The PEP 658/714 core-metadata value the page gives, under either name (None when neither)."""
        if self.core_metadata_json:
            return _value(self.core_metadata_json)
        return _value(self.dist_info_metadata_json)


def _value(raw: msgspec.Raw) -> Any:
    # The page decoded as JSON already, so its parts do too.
    return msgspec.json.decode(raw) if raw else None


class JsonMeta(msgspec.Struct):
    api_version: str | None = msgspec.field(default=None, name="api-version")


class JsonPage(msgspec.Struct):
    files: list[JsonFile]
    meta: JsonMeta | None = None


_DECODER = msgspec.json.Decoder(JsonPage)


def decode(data: bytes) -> JsonPage | None:
    """The page in typed entries, or None when it is not of the common shape (another type for a field, invalid
    JSON): the :mod:`json` reading then says what is wrong."""
    try:
        return _DECODER.decode(data)
    except msgspec.MsgspecError:
        return None
