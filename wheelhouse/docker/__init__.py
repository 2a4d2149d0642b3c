"""Docker: the engine client, base images, and the Dockerfiles/compose file rendered from ``templates/``.

Contract: rendering is pure text from options; only ``client`` runs the docker command (through the one
``_proc.Runner``), and it asks the engine what it is once per client.

- ``client``: find the client, probe the engine and BuildKit, inspect a base image, run ``docker build``.
- ``images``: what is known about a base image's Python, the default image of a target, and whether an image
  fits a target (used by the renderer, the ``build`` command and sdist builds in containers).
- ``render``: the Dockerfiles, compose file and ``.dockerignore``, and writing them.
- ``secrets``: how a build gets the configured index: a plain URL as a build argument, one with credentials as
  a BuildKit secret in a private temporary file, so credentials reach no command line and no image history.
"""
