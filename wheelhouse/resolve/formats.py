"""pip's --no-binary / --only-binary, as the provider applies them: which projects' wheels from the index and
which projects' source distributions are refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name

__all__ = ["FormatControl", "parse_format_control"]


@dataclass(frozen=True)
class FormatControl:
    """pip's --no-binary / --only-binary: project names (canonical) or ``:all:``.

    ``no_binary`` refuses the index's wheels of those projects (they are built from source; wheels already in the
    folder, such as earlier builds, stay acceptable so runs remain incremental). ``only_binary`` refuses their
    source distributions, so they are never built.
    """

    no_binary: frozenset[str] = frozenset()
    only_binary: frozenset[str] = frozenset()

    def no_wheels(self, name: str) -> bool:
        return name in self.no_binary or (":all:" in self.no_binary and name not in self.only_binary)

    def binary_only(self, name: str) -> bool:
        return name in self.only_binary or (":all:" in self.only_binary and name not in self.no_binary)


def parse_format_control(no_binary: Sequence[str] = (), only_binary: Sequence[str] = ()) -> FormatControl:
    """pip's option values: comma-separated names, ``:all:`` and ``:none:`` (which clears what came before)."""

    def collect(values: Sequence[str]) -> frozenset[str]:
        names: set[str] = set()
        for value in values:
            for item in value.split(","):
                item = item.strip()
                if item == ":none:":
                    names.clear()
                elif item == ":all:":
                    names.add(":all:")
                elif item:
                    names.add(canonicalize_name(item))
        return frozenset(names)

    return FormatControl(collect(no_binary), collect(only_binary))
