"""Regenerate the lock files in this folder with the real tools, against a local index of small wheels.

    .venv/bin/python tests/data/inputs/generate.py --uv .venv/bin/uv --poetry /tmp/poetry-venv/bin/poetry

The project (``project/pyproject.toml``) is locked while the index holds exactly the wheels of :data:`AT_LOCK`;
the tests then serve more releases than that, so a lock that is honoured picks the older ones.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.support.index_server import IndexServer  # noqa: E402

# (name, version, make_wheel keyword arguments): what the index holds when the locks are written.
AT_LOCK: list[tuple[str, str, dict[str, Any]]] = [
    ("alpha", "1.0", {"requires_dist": ["zeta<2"]}),
    ("zeta", "1.5", {}),
    ("beta", "1.0", {"tag": "py3-none-manylinux_2_17_x86_64"}),
    ("gamma", "1.0", {}),
    ("delta", "1.0", {}),
    ("epsilon", "1.0", {}),
]


def serve(server: IndexServer) -> None:
    for name, version, kwargs in AT_LOCK:
        server.add_wheel(name, version, **kwargs)


def _scrub(text: str, url: str) -> str:
    # The port changes with every run: write a stable one, so regenerating shows only real differences.
    return text.replace(url.rstrip("/"), "http://127.0.0.1:8000")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uv", default=None)
    parser.add_argument("--poetry", default=None)
    args = parser.parse_args()
    with IndexServer() as server, tempfile.TemporaryDirectory() as tmp:
        serve(server)
        index = server.index_url.rstrip("/")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "POETRY_"))}
        if args.uv:
            work = Path(tmp, "uv")
            shutil.copytree(HERE / "project", work)
            env_uv = {**env, "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(Path(tmp, "uv-cache"))}
            subprocess.run(
                [args.uv, "lock", "--default-index", index, "--python", sys.executable],
                cwd=work,
                env=env_uv,
                check=True,
            )
            (HERE / "uv.lock").write_text(_scrub((work / "uv.lock").read_text(), server.url))
        if args.poetry:
            work = Path(tmp, "poetry")
            shutil.copytree(HERE / "project", work)
            pyproject = work / "pyproject.toml"
            pyproject.write_text(
                pyproject.read_text()
                + f'\n[[tool.poetry.source]]\nname = "local"\nurl = "{index}/"\npriority = "primary"\n'
            )
            env_poetry = {
                **env,
                "POETRY_CACHE_DIR": str(Path(tmp, "poetry-cache")),
                "POETRY_CONFIG_DIR": str(Path(tmp, "poetry-config")),
                "POETRY_VIRTUALENVS_CREATE": "false",
            }
            subprocess.run([args.poetry, "lock", "--no-interaction"], cwd=work, env=env_poetry, check=True)
            text = _scrub((work / "poetry.lock").read_text(), server.url)
            (HERE / "poetry.lock").write_text(text)


if __name__ == "__main__":
    main()
