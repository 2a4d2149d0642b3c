"""The wheel and sdist factory of the tests: bench/wheels.py, which the benchmarks share (bench imports no tests)."""

from bench.wheels import (
    make_sdist,
    make_wheel,
    metadata_text,
    repack_installed,
    tags_of,
    wheel_filename,
    write_wheel,
)

__all__ = [
    "make_sdist",
    "make_wheel",
    "metadata_text",
    "repack_installed",
    "tags_of",
    "wheel_filename",
    "write_wheel",
]
