"""A PEP 691 JSON project page decoded straight into typed entries (msgspec).

A large project's page is megabytes of JSON; decoding it into dictionaries and reading them back cost more than
anything else a cold download does with it. Kept apart from :mod:`wheelhouse.index.pages` so that msgspec is
imported only by a run that reads a JSON page.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["JsonFile", "JsonPage", "decode"]


class JsonFile(msgspec.Struct, kw_only=True):
    """One entry of a page's ``files``, as the common shape types it. An entry of another shape fails the typed
    decoding, and the page is then read with :mod:`json` and judged entry by entry."""

    filename: str
    url: str
    hashes: dict[str, str] | None = None
    requires_python: str | None = msgspec.field(default=None, name="requires-python")
    yanked: bool | str = False
    size: int | None = None
    # Absent and present-but-false differ (PEP 714: ``core-metadata`` wins over ``dist-info-metadata``).
    core_metadata: Any = msgspec.field(default=msgspec.UNSET, name="core-metadata")
    dist_info_metadata: Any = msgspec.field(default=None, name="dist-info-metadata")

    def metadata_value(self) -> Any:
        """The PEP 658/714 core-metadata value the page gives, under either name."""
        return self.core_metadata if self.core_metadata is not msgspec.UNSET else self.dist_info_metadata


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
