#!/usr/bin/env bash
# The one command that runs the test suite on a fresh machine:
#   ./scripts/test.sh            (any pytest arguments may follow, e.g. -k verify, -m network)
# It creates .venv when missing, installs wheelhouse with its test and lint extras (again only when
# pyproject.toml changed), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
stamp=.venv/.wheelhouse-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing wheelhouse and its test dependencies into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
    echo "$want" > "$stamp"
fi
exec .venv/bin/python -m pytest "$@"
