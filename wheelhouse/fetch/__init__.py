"""Downloading: plan what each target is missing, transfer it in parallel, speculate ahead of the resolver, and
commit verified files to the folder.

Contract: a file reaches wheels/ only after its sha256 matched the index, its own METADATA named the project and
version of its file name, and no wheel already in the folder serves the same release for the same tags with
other bytes; a run whose requirements are covered makes no request.

Modules, in the order a run uses them: ``plan`` (resolve every target over the folder and the index; the file
list), ``speculation`` (fetch what the resolver will ask next; start the transfer of what it pins), ``pools``
(the worker threads both use), ``transfers`` (stream into the temporary area; ``offload`` streams large files
in a child process), ``commit`` (move finished files into the folder, record them), ``ahead`` (the closing
verify, computed while the files arrive) and ``download`` (the entry point that runs them under the folder's
lock).
"""
