"""A session check that the Docker tests leave no dangling image behind.

A rebuild under the same tag leaves the previous image untagged ("dangling"); a test that removed only its tags
left one such image per rebuild, gigabytes over many runs. The tests' engine (``tests.test_docker.Engine``)
removes every image id it built; this check holds it to that: when the session ran Docker tests, the engine's
dangling images after them may not outnumber those before, and the new ones are named. Another build on the same
engine at the same time (someone else's) can leave images too: the message says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import docker_env


@pytest.fixture(scope="session", autouse=True)
def _docker_tests_leave_no_dangling_image(request: pytest.FixtureRequest) -> Iterator[None]:
    docker_tests = [item for item in request.session.items if item.get_closest_marker("docker")]
    if not docker_tests or not docker_env.docker_available()[0]:
        yield
        return
    before = docker_env.dangling_images()
    yield
    after = docker_env.dangling_images()
    if len(after) > len(before):
        new = sorted(after - before)
        pytest.fail(
            f"the Docker tests left {len(after) - len(before)} more dangling image(s) than there were before them: "
            f"{', '.join(i.removeprefix('sha256:')[:12] for i in new)} (remove each image a build made, by id; "
            "another build on this engine at the same time can leave some too)",
            pytrace=False,
        )
