"""Downloading: plan what each target is missing, transfer it in parallel, speculate ahead of the resolver, and
commit verified files to the folder.

Contract: a file reaches wheels/ only after its sha256 matched the index and its own metadata matched its name;
a run whose requirements are covered makes no request.
"""
