"""Docker: the engine client, base images, and the Dockerfiles/compose file rendered from ``templates/``.

Contract: rendering is pure text from options; only ``client`` runs the docker command (through the one
``_proc.Runner``), and it asks the engine what it is once per client.

- ``client``: find the client, probe the engine and BuildKit, inspect a base image, run ``docker build``.
- ``images``: what is known about a base image's Python, the default image of a target, and whether an image
  fits a target (used by the renderer, the ``build`` command and sdist builds in containers).
- ``render``: the Dockerfiles, compose file and ``.dockerignore``, and writing them.
"""
