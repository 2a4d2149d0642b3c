"""The private Docker engine of the tests: bench/docker_env.py, which the benchmarks share (bench imports no tests)."""

from bench.docker_env import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_CLIENT,
    DEFAULT_STATE_DIR,
    SETUP_SCRIPT,
    base_image,
    dangling_images,
    docker_available,
    docker_client,
    docker_env,
    docker_host,
    image_id,
    prune_build_cache,
    remove_images,
    socket_path,
    state_dir,
)

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_CLIENT",
    "DEFAULT_STATE_DIR",
    "SETUP_SCRIPT",
    "base_image",
    "dangling_images",
    "docker_available",
    "docker_client",
    "docker_env",
    "docker_host",
    "image_id",
    "prune_build_cache",
    "remove_images",
    "socket_path",
    "state_dir",
]
