"""Sharing a folder: bundles for air-gapped transfer, a static PEP 503/691 index and its server, integrity
checks, and the inventory (list, show, why).

Contract: only regular files of the folder are exported, published or imported; an import never lets one wheel
shadow another.
"""
