"""Resolution over finders: the resolvelib provider, ``verify`` (the offline proof per target), lock files and
prune.

Contract: resolution is pure: it reads candidates through the ``dists.Finder`` seam and never touches the
network or the folder itself, so the same resolver serves ``verify`` (folder only) and ``download`` (folder
first, index second). A gap always says why, for which target, via which chain.
"""
