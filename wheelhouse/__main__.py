"""``python -m wheelhouse``."""

from wheelhouse.cli import run

if __name__ == "__main__":
    run()
