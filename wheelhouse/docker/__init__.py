"""Docker: the engine client, base images, and the Dockerfiles/compose file rendered from ``templates/``.

Contract: rendering is pure text from options; only ``client`` runs the docker command.
"""
