"""The example app: import every requirement, use it once, and print the installed versions.

Run inside the image built by `wheelhouse build --offline`; it needs no network.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import version

import attrs
import idna
from packaging.version import Version


@attrs.frozen
class Installed:
    """One installed distribution."""

    name: str
    version: Version


def main() -> int:
    """Print the interpreter, the platform and each requirement's version; exit 0 when all import."""
    installed = [Installed(name, Version(version(name))) for name in ("attrs", "idna", "packaging")]
    print(f"python {platform.python_version()} on {platform.machine()}")
    for item in installed:
        print(f"{item.name} {item.version}")
    # A real use of idna, so the import is not only for show.
    print(f"idna: {idna.encode('bücher.example').decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
