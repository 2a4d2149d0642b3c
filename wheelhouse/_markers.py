"""Environment markers evaluated in one place, with packaging's one evaluation failure made ours.

A marker parses but cannot always be evaluated: ``python_version ~= "abc"`` or ``platform_release ~= "x.y"``
compare with an operator that needs versions on both sides, and packaging raises ``UndefinedComparison``. A
requirements file or a wheel's ``Requires-Dist`` may hold such a marker; each caller says what it means where
it reads one (a requirement line it cannot evaluate is an error naming the line, a dependency's is ignored with
a warning), through :class:`UnevaluableMarker`.
"""

from __future__ import annotations

import re

from packaging.markers import Marker, UndefinedComparison

from wheelhouse._text import shorten

__all__ = ["UnevaluableMarker", "failed_comparison", "holds", "holds_or_not"]

# packaging's message: "Undefined <Op('~=')> on '3.12' and 'abc'." (compiled when first needed, by re's cache)
_UNDEFINED = r"Undefined <Op\('(?P<op>[^']*)'\)> on (?P<lhs>.*) and (?P<rhs>.*)\."


class UnevaluableMarker(ValueError):
    """A marker that cannot be evaluated in an environment: ``why`` is the comparison that fails."""

    def __init__(self, marker: Marker, why: str) -> None:
        super().__init__(f"the marker {str(marker)!r} cannot be evaluated ({why})")
        self.marker = marker
        self.why = why


def holds(marker: Marker, environment: dict[str, str]) -> bool:
    """Whether ``marker`` holds in ``environment`` (which names ``extra``); UnevaluableMarker when packaging
    cannot compare its values."""
    try:
        return marker.evaluate(environment)
    except UndefinedComparison as exc:
        raise UnevaluableMarker(marker, failed_comparison(exc)) from None


def failed_comparison(exc: UndefinedComparison) -> str:
    """packaging's ``UndefinedComparison`` in words: ``~= cannot compare '3.12' with 'abc'``."""
    match = re.fullmatch(_UNDEFINED, str(exc))
    if match is None:
        return shorten(str(exc))
    return f"{match['op']} cannot compare {shorten(match['lhs'], 60)} with {shorten(match['rhs'], 60)}"


def holds_or_not(marker: Marker | None, environment: dict[str, str]) -> bool:
    """:func:`holds`, where a marker that cannot be evaluated counts as not holding: for work done ahead of the
    resolver, which reports such a marker itself."""
    if marker is None:
        return True
    try:
        return holds(marker, environment)
    except UnevaluableMarker:
        return False
