"""wheelhouse: a wheels/ folder that provably covers a project's requirements for every target platform."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
