"""The CI example in the docs names only commands and options the CLI has, and scripts the repository has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from wheelhouse.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / "ci.md", ROOT / "README.md"]
_FENCE_RE = re.compile(r"^```ya?ml\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RUN_RE = re.compile(r"^(?P<indent>\s*)(?:-\s+)?run:\s*(?P<value>.*)$")
_EXPRESSION_RE = re.compile(r"\$\{\{.*?\}\}")
_SHELL_SEPARATORS = {"&&", "||", ";", "|"}


def yaml_blocks(text: str) -> list[str]:
    """The fenced YAML blocks of a Markdown text."""
    return [m.group(1) for m in _FENCE_RE.finditer(text)]


def run_scripts(block: str) -> list[str]:
    """The shell text of every ``run:`` step: a one-line value, or the indented lines of a ``|`` block."""
    lines = block.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _RUN_RE.match(lines[i])
        i += 1
        if not match:
            continue
        value = match.group("value").strip()
        if value and value[0] not in "|>":
            out.append(value)
            continue
        body: list[str] = []
        indent = len(match.group("indent"))
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i].strip())
            i += 1
        out.append("\n".join(body))
    return out


def commands_in(script: str) -> list[list[str]]:
    """Each simple command of a script, as words (GitHub expressions replaced by a placeholder word)."""
    out: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(_EXPRESSION_RE.sub("EXPR", line), comments=True)
        current: list[str] = []
        for word in words:
            if word in _SHELL_SEPARATORS:
                if current:
                    out.append(current)
                current = []
            else:
                current.append(word)
        if current:
            out.append(current)
    return out


def option_names(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    names.update({"-h", "--help"})
    return names


def check_wheelhouse_command(words: list[str]) -> list[str]:
    """Problems with one ``wheelhouse ...`` command line: an unknown command or option."""
    problems: list[str] = []
    args = words[1:]
    group_options = option_names(cli)
    while args and args[0].startswith("-"):
        option = args.pop(0).split("=", 1)[0]
        if option not in group_options:
            problems.append(f"wheelhouse has no global option {option}")
    if not args:
        return [*problems, f"no command in {shlex.join(words)!r}"]
    name = args.pop(0)
    if name not in COMMANDS:
        return [*problems, f"wheelhouse has no command {name!r}"]
    command = cli.get_command(click.Context(cli), name)
    if command is None:
        return [*problems, f"the command {name!r} is registered but cannot be imported"]
    known = option_names(command)
    for word in args:
        if word == "--":
            break  # the rest goes to another program (docker build)
        if word.startswith("-") and word != "-":
            option = word.split("=", 1)[0]
            if option not in known:
                problems.append(f"wheelhouse {name} has no option {option}")
    return problems


def _examples() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for doc in DOCS:
        if doc.is_file():
            found += [(doc, block) for block in yaml_blocks(doc.read_text(encoding="utf-8")) if "run:" in block]
    return found


def test_the_ci_example_exists_and_runs_wheelhouse() -> None:
    blocks = [block for doc, block in _examples() if doc.name == "ci.md"]
    assert blocks, "docs/ci.md has no YAML block with run: steps"
    commands = [words for block in blocks for script in run_scripts(block) for words in commands_in(script)]
    names = [Path(words[0]).name for words in commands]
    assert "wheelhouse" in names
    assert any(words[0] == "./download-wheels.sh" for words in commands)
    built = [w for w in commands if Path(w[0]).name == "wheelhouse" and "build" in w]
    assert any("--offline" in w for w in built), "the example must build offline"


@pytest.mark.parametrize(("doc", "block"), _examples(), ids=lambda value: getattr(value, "name", "block"))
def test_every_wheelhouse_command_and_option_in_the_ci_example_exists(doc: Path, block: str) -> None:
    problems: list[str] = []
    for script in run_scripts(block):
        for words in commands_in(script):
            program = words[0]
            if Path(program).name == "wheelhouse":
                problems += check_wheelhouse_command(words)
            elif program.startswith("./") and not (ROOT / program).is_file():
                problems.append(f"{program} is not in the repository")
    assert problems == [], f"{doc.relative_to(ROOT)}: {problems}"


def test_the_checker_catches_unknown_commands_and_options() -> None:
    """The check above would fail on a stale example (guards against a checker that accepts everything)."""
    assert check_wheelhouse_command(["wheelhouse", "build", "--offline", "-t", "x", "--", "--no-cache"]) == []
    assert check_wheelhouse_command(["wheelhouse", "-v", "verify"]) == []
    assert check_wheelhouse_command(["wheelhouse", "build", "--offline-only"]) == [
        "wheelhouse build has no option --offline-only"
    ]
    assert check_wheelhouse_command(["wheelhouse", "deploy"]) == ["wheelhouse has no command 'deploy'"]
    assert check_wheelhouse_command(["wheelhouse", "--quiet", "verify"]) == ["wheelhouse has no global option --quiet"]
    script = run_scripts("steps:\n  - run: |\n      a && wheelhouse render --check\n      b\n  - run: c\n")
    assert script == ["a && wheelhouse render --check\nb", "c"]
    assert commands_in(script[0]) == [["a"], ["wheelhouse", "render", "--check"], ["b"]]
