#!/usr/bin/env bash
# download-wheels.sh - the one command a newcomer runs: fill wheels/ for this project's targets.
#
#   ./download-wheels.sh                     # requirements.txt (+ requirements-dev.txt) for the configured targets
#   ./download-wheels.sh --target linux/arm64 --python 3.12     # extra arguments go to `wheelhouse download`
#
# It creates a virtualenv with wheelhouse when there is none (WHEELHOUSE_VENV, default .venv), then runs
# `wheelhouse download`. Targets, the wheels folder and index URLs come from wheelhouse.toml or
# [tool.wheelhouse] in pyproject.toml; requirement files too, when configured there.
set -euo pipefail
cd "$(dirname "$0")"

venv=${WHEELHOUSE_VENV:-.venv}
python=${PYTHON:-python3}

if ! "$venv/bin/wheelhouse" --version >/dev/null 2>&1; then
    if [ ! -x "$venv/bin/python" ]; then
        echo "download-wheels: creating $venv with $("$python" --version 2>&1)" >&2
        "$python" -m venv "$venv"
    fi
    if grep -q '^name = "wheelhouse-cli"' pyproject.toml 2>/dev/null; then
        spec=.   # this is wheelhouse's own checkout
    else
        spec=${WHEELHOUSE_SPEC:-wheelhouse-cli}
    fi
    echo "download-wheels: installing wheelhouse into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
fi

args=()
configured=0
for config in wheelhouse.toml pyproject.toml; do
    if [ -f "$config" ] && grep -qE '^[[:space:]]*requirements[[:space:]]*=' "$config"; then
        configured=1
    fi
done
given=0
for arg in "$@"; do
    case "$arg" in -r|--requirement|--requirement=*|-r*) given=1 ;; esac
done
if [ "$configured" = 0 ] && [ "$given" = 0 ]; then
    for file in requirements.txt requirements-dev.txt; do
        if [ -f "$file" ]; then
            args+=(-r "$file")
        fi
    done
fi

exec "$venv/bin/wheelhouse" download "${args[@]}" "$@"
