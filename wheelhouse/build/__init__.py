"""Turning source distributions into wheels (on this machine, or in a container of the target's image) and
running pip as an alternative download engine.

Contract: pip runs only as a subprocess with explicit flags, through an injected ``_proc.Runner``; index
credentials reach it only through the environment, never a command line or an image's history
(``pip_options``); whether a build worked is judged from the files it left.

Modules, in the order a download uses them:

- ``model``: the vocabulary (BuildOptions, SdistBuild, BuiltWheel, BuildFailure, BuildOutcome, BuildReporter).
- ``archive``: reading an sdist of any format pip accepts without building it: a member, the trusted
  ``PKG-INFO``, the static build requirements.
- ``metadata``: sdist metadata during resolution (kept sdists, the prepare-metadata hook) and the finder that
  adds it to another finder.
- ``plan``: which targets a wheel built here may serve, the base image of a target, one sdist's attempts.
- ``containers``: whether Docker answers (the Docker client's probe) and the ``docker run`` that runs pip.
- ``pip_options``: the one translation of index settings into pip's environment, with the credential policy.
- ``logs``: build logs and their last lines.
- ``memo``: what earlier builds of an sdist gave, per place (a wheel is built once; a failure waits for
  ``--retry-builds``).
- ``interpreters``: a CPython of a target's version on this machine (``python3.X``, pyenv, ``uv python find``).
- ``frontend``: an sdist's PEP 517 backend called directly, in a build environment shared by every sdist with the
  same build requirements (else ``pip wheel``).
- ``wheeltags``: the glibc a binary built here needs (its ELF files), and the tag that says so.
- ``attempts``: one build in one place (remembered, run, judged, retagged) and what the places share.
- ``builder``: the build stage (``build_sdists``): where each target's wheel is built, in parallel, and commit.
- ``pip_engine``: ``download --engine pip``.
"""
