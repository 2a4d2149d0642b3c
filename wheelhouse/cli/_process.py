"""The process-level shortcuts of the console script: every use of an interpreter internal, in one place.

Each shortcut saves time that a short-lived command pays on every run (measured with
``bench/run.py``); none changes what a command does or prints. Each one falls back to the ordinary behaviour
when the internal it leans on is missing, so another interpreter (or a future CPython) runs the command as
plain Python would, only a little slower.

- :func:`pause_collector`: the cyclic garbage collector does not run while a command does. A download from a
  large index allocates hundreds of thousands of objects that live until the end (parsed page entries,
  distribution files, versions), and the collector walks each of them once or more, holding the interpreter
  lock that every worker thread needs. Reference counting still frees everything that is not in a cycle at
  once; what is cyclic (the resolver's graph, a closure that names itself) is a few hundred objects per
  project resolved, kept until the process exits. ``serve`` runs until it is stopped, so it turns the
  collector back on (:func:`resume_collector`). (``gc.disable`` is public; it is here because it is a
  process-wide trade made for the command line, not for a library user.)
- :func:`exit_now`: leave without tearing the interpreter down. A normal exit frees every object one by one,
  every parsed index page and metadata record of a download among them, for nothing. Everything a normal
  exit does that matters is done first, in its order: other threads are joined (and thread pools told to
  stop) through ``threading._shutdown``, exit handlers run through ``atexit._run_exitfuncs``, output is
  flushed; then ``os._exit``. Without either internal it is ``sys.exit``.
- :func:`import_in_background`: a daemon thread imports modules the command will need later (rich, to render
  a download's summary) while the command waits on the network, instead of after it. A module that cannot be
  imported is left for the real import to report.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import sys
import threading
from typing import NoReturn


def pause_collector() -> None:
    """Stop the cyclic garbage collector for the rest of the command (see the module's docstring)."""
    gc.disable()


def resume_collector() -> None:
    """Run the cyclic garbage collector again, as a long-running command must."""
    gc.enable()


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` after joining threads, running exit handlers and flushing output, without the
    interpreter's teardown; ``sys.exit(code)`` when an internal it needs is missing.

    A stream that cannot be flushed (a reader that went away) turns a successful status into 1, as a normal
    exit would, but prints nothing: what was to be said is lost either way.
    """
    join_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if not callable(join_threads) or not callable(run_exit_handlers):
        sys.exit(code)
    join_threads()
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            # A closed pipe, or a stream closed by now.
            code = code or 1
    os._exit(code)


def import_in_background(*modules: str) -> None:
    """Import ``modules`` in a daemon thread, so that a later import finds them loaded."""
    threading.Thread(target=_import_quietly, args=modules, name="wheelhouse-preload", daemon=True).start()


def _import_quietly(*modules: str) -> None:
    for module in modules:
        # An import error is the real import's to report, with its traceback under -v.
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
