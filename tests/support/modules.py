"""What a wheelhouse command imports: it runs as the console script runs it, in a process of its own, and the
modules loaded when it exits are written to a file (the command's exit skips the interpreter's teardown, so the
spy sits on ``os._exit``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path


def run_listing_modules(argv: Sequence[str], cwd: Path, record: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``wheelhouse *argv`` in ``cwd``; the names of the modules it had loaded at its exit go to ``record``."""
    code = textwrap.dedent(
        f"""
        import os, sys
        exit_now = os._exit
        def spy(status):
            with open({str(record)!r}, "w") as fh:
                fh.write(" ".join(sorted(sys.modules)))
            exit_now(status)
        os._exit = spy
        sys.argv = ["wheelhouse", *{list(argv)!r}]
        from wheelhouse._entry import run
        run()
        """
    )
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, timeout=120, check=False)


def modules_in(record: Path) -> set[str]:
    """The module names :func:`run_listing_modules` wrote."""
    return set(record.read_text().split())
