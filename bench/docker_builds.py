"""Docker image builds: the offline build from wheels/ against the two usual ways of caching pip in Docker.

Three images of the same application (the generated requirements plus a one-file app), each built twice: first
with no build cache, then after a one-line change to requirements.txt, which is what invalidates the install
step in practice. The contenders:

* ``wheelhouse build --offline`` - Dockerfile.offline, pip ``--no-index`` from wheels/, ``--network=none``;
* Dockerfile.cached as ``wheelhouse render`` writes it, with an empty wheels/ - pip downloads from the index
  and keeps its cache in a BuildKit cache mount (the "volume caching" of the usual comparison tables);
* a plain Dockerfile that runs ``pip install -r requirements.txt`` against the index ("layer caching").

The index is the benchmark server on 127.0.0.1, reached with ``docker build --network=host`` and a
``PIP_INDEX_URL`` build argument. Every run writes a unique comment into requirements.txt and a unique cache
mount id into the Dockerfile, so no build reuses a layer or a pip cache from an earlier run.

Needs the engine of ``scripts/docker-test-env.sh up``; without it the benchmark is skipped, saying why.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from bench import docker_env
from bench import generate as gen
from bench.harness import Row, Timing, fmt_seconds, run
from bench.lib import Context
from wheelhouse.targets import parse_targets

PLAIN_DOCKERFILE = """\
FROM {base}
RUN python3 -m venv /opt/venv
WORKDIR /app
COPY requirements.txt .
ARG PIP_INDEX_URL
RUN /opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY app/ ./
ENV PATH=/opt/venv/bin:$PATH
CMD ["python", "main.py"]
"""

APP = """\
import importlib
import sys

# The application imports its top-level requirements, proving the image installed them.
for name in sys.argv[1:] or {modules!r}:
    importlib.import_module(name)
print("ok")
"""

_CACHE_MOUNT = "--mount=type=cache,target=/root/.cache/pip"


def docker_benchmark(ctx: Context) -> None:
    """Build the three images twice each and add the rows and the build-time table to ``ctx``."""
    ok, why = docker_env.docker_available()
    if not ok:
        ctx.rows.append(Row("docker", "docker builds: skipped", None, note=why))
        ctx.log(f"docker: skipped: {why}")
        return
    client = docker_env.docker_client()
    base = docker_env.base_image()
    env = {**ctx.env(), **{k: v for k, v in docker_env.docker_env().items() if k.startswith("DOCKER")}}
    env["WHEELHOUSE_DOCKER"] = client
    arch_platform = ctx.host.docker_platform
    target = parse_targets((arch_platform,), pythons=("3.11",), libc=None)[0]
    expected = sorted(ctx.expected_for(target).values())
    run_id = uuid.uuid4().hex[:10]
    tops = [m["name"] for m in ctx.model if m["layer"] == 0]
    modules = [t.replace("-", "_") for t in tops]
    transitive = sorted(set(ctx.expected_for(target)) - set(tops))[0]
    contexts: dict[str, Path] = {}
    for name in ("offline", "cached", "plain"):
        root = ctx.fresh(f"docker/{name}")
        (root / "app").mkdir()
        (root / "app" / "main.py").write_text(APP.format(modules=modules))
        (root / "wheels").mkdir()
        requirements = (ctx.index / "requirements.txt").read_text() + f"# benchmark run {run_id}\n"
        (root / "requirements.txt").write_text(requirements)
        contexts[name] = root
    gen.link_files([ctx.file_path(f) for f in expected], contexts["offline"] / "wheels")

    common = ["--base-image", base, "--base-python", "3.11", "--target", arch_platform, "--python", "3.11"]
    render = run([ctx.wheelhouse, "render", *common, "--out", "."], env=env, cwd=contexts["cached"]).check()
    del render
    cached_file = contexts["cached"] / "Dockerfile.cached"
    text = cached_file.read_text()
    if _CACHE_MOUNT not in text:
        raise RuntimeError("Dockerfile.cached has no pip cache mount where the benchmark expects one")
    cached_file.write_text(
        text.replace(_CACHE_MOUNT, f"--mount=type=cache,id=bench-pip-{run_id},target=/root/.cache/pip")
    )
    (contexts["plain"] / "Dockerfile").write_text(PLAIN_DOCKERFILE.format(base=base))
    index_args = ["--network=host", "--build-arg", f"PIP_INDEX_URL={ctx.server.index_url}", "--progress=plain"]

    def build(name: str, no_cache: bool) -> float:
        tag = f"wheelhouse-bench-{name}:{run_id}"
        root = contexts[name]
        extra = ["--no-cache"] if no_cache else []
        if name == "offline":
            argv = [
                ctx.wheelhouse,
                "build",
                "--offline",
                "-t",
                tag,
                *common,
                "--docker",
                client,
                "--",
                "--progress=plain",
                *extra,
            ]
        elif name == "cached":
            argv = [client, "build", "-f", "Dockerfile.cached", "-t", tag, *index_args, *extra, "."]
        else:
            argv = [client, "build", "-f", "Dockerfile", "-t", tag, *index_args, *extra, "."]
        result = run(argv, env=env, cwd=root, timeout=1800).check()
        # The image must run, with no network, and import what it installed.
        run([client, "run", "--rm", "--network=none", tag], env=env).check()
        return result.seconds

    first: dict[str, float] = {}
    rebuild: dict[str, float] = {}
    sizes: dict[str, int] = {}
    tags = []
    try:
        for name in contexts:
            ctx.log(f"docker: {name}: first build")
            first[name] = build(name, no_cache=True)
            with open(contexts[name] / "requirements.txt", "a") as fh:
                fh.write(f"{transitive}\n")
            ctx.log(f"docker: {name}: rebuild after a one-line requirements change")
            rebuild[name] = build(name, no_cache=False)
            tag = f"wheelhouse-bench-{name}:{run_id}"
            tags.append(tag)
            out = run([client, "image", "inspect", "-f", "{{.Size}}", tag], env=env).check().stdout
            sizes[name] = int(out.strip())
    finally:
        for tag in tags:
            run([client, "image", "rm", "-f", tag], env=env)
        shutil.rmtree(ctx.work / "docker", ignore_errors=True)

    labels = {
        "offline": "wheelhouse build --offline (wheels/, --network=none)",
        "cached": "Dockerfile.cached (pip cache mount, index)",
        "plain": "plain Dockerfile (pip install from the index)",
    }
    for peer in ("cached", "plain"):
        row = Row(
            "docker",
            "rebuild after a one-line requirements change",
            Timing((rebuild["offline"],)),
            labels[peer],
            Timing((rebuild[peer],)),
        )
        row.note = "wheelhouse with --network=none"
        ctx.rows.append(row)
        ctx.rows.append(
            Row(
                "docker",
                "first build, no build cache",
                Timing((first["offline"],)),
                labels[peer],
                Timing((first[peer],)),
            )
        )
    lines = [
        "### Docker builds\n",
        f"Base image `{base}`, {len(expected)} wheels ({ctx.bytes_of(expected) / 1e6:.0f} MB); one build of each.\n",
        "| Dockerfile | first build (s) | rebuild after a one-line requirements change (s) | image size "
        "| network needed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in contexts:
        lines.append(
            f"| {labels[name]} | {fmt_seconds(first[name])} | {fmt_seconds(rebuild[name])} | "
            f"{sizes[name] / 1e6:.0f} MB | {'no' if name == 'offline' else 'yes'} |"
        )
    ctx.details.append("\n".join(lines) + "\n")
