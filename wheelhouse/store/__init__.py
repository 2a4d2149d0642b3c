"""The wheels/ folder: what is in it, and the only code that writes to it.

Contract: the files are the truth. ``wheels/.wheelhouse/manifest.json`` is a cache of each wheel's metadata and
a record of where each file came from; an entry that does not match its file (or is malformed) is dropped and the
file read again. Every write is atomic (temporary file, fsync, rename) under the folder's lock, no wheel lands
next to one it would shadow for pip, and nothing here follows a symlink in wheelhouse's own state.

Modules: ``folder`` (Store, StoreScan, StoreFinder: the one way in and out), ``manifest`` (the cache and the
provenance records), ``lock`` (the folder's lock and the partial files it vouches for), ``metadata`` (the one
reader of a wheel's METADATA), ``shadow`` (which wheel names collide), ``fs`` (atomic writes, hashing, refusing
links). Depends only on the shared vocabulary (``dists``, ``errors``, ``_log``).
"""
