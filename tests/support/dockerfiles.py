"""Reading rendered Dockerfiles in tests: their instructions, continuation lines joined."""

from __future__ import annotations


def instructions(text: str) -> list[str]:
    """Instruction lines (continuations joined), without comments."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            out.append(pending.strip())
            pending = ""
    return out


def runs(text: str) -> list[str]:
    """The RUN instructions of a Dockerfile."""
    return [line for line in instructions(text) if line.startswith("RUN ")]
