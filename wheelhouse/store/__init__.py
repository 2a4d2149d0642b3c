"""The wheels/ folder: what is in it, and the only code that writes to it.

Contract: the files are the truth. ``wheels/.wheelhouse/manifest.json`` is a cache of each wheel's metadata and
a record of where each file came from; an entry that does not match its file (or is malformed) is dropped and the
file read again. Every write is atomic (temporary file, fsync, rename) under the folder's lock, and nothing here
follows a symlink out of the folder. Depends only on the shared vocabulary (``dists``, ``errors``).
"""
