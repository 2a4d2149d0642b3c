"""The short way of reading a requirement (:func:`wheelhouse.requirements.parse_pep508`) reads exactly what
packaging reads, and refuses what packaging refuses; its caches parse each distinct specifier once."""

from __future__ import annotations

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from wheelhouse import requirements as requirements_module
from wheelhouse.requirements import parse_pep508

TEXTS = [
    "six",
    "six>=1.5",
    "Six >= 1.5",
    "six>=1.5,<2",
    "six >= 1.5 , < 2",
    "six<2,>=1.5",
    "zope.interface~=5.4",
    "foo_bar-baz===1.0",
    "foo==1.0.*",
    "foo!=1.0.post1,>=0.9",
    "foo==1!2.0+local.7",
    "foo[bar]",
    "foo[bar,baz]>=1",
    "foo[ bar , baz ] >= 1",
    "Foo[Bar]==2",
    "foo>=1; python_version >= '3.8'",
    'foo>=1 ; sys_platform == "win32"',
    "foo ; extra == 'Fast_Thing'",
    "foo;extra=='x'",
    'foo[bar]>=1.0,<2 ; python_version < "3.12" and platform_machine == "x86_64"',
    "foo (>=1.0)",
    "foo @ https://example.com/foo-1.0-py3-none-any.whl",
    "foo@ file:///tmp/foo-1.0-py3-none-any.whl ; python_version > '3'",
    "a",
    "a1.b2-c3_d4",
    # What packaging refuses, the short way refuses too (by handing it over).
    "",
    "-foo",
    "foo.",
    "foo>=",
    "foo>=1,",
    "foo~=1",
    "foo>=1.0 abc",
    "foo[]",
    "foo[,]",
    "foo[bar",
    "foo;",
    "foo ; nonsense",
    "foo ; python_version >= ",
    "foo==1.0\nbar",
    "foo >>= 1",
    "foo==1.0 ; extra == 'x' ; extra == 'y'",
]


def _view(req: Requirement) -> tuple[object, ...]:
    return (req.name, req.url, sorted(req.extras), str(req.specifier), str(req.marker), str(req))


@pytest.mark.parametrize("text", TEXTS)
def test_short_way_reads_what_packaging_reads(text: str) -> None:
    try:
        expected: tuple[object, ...] | type[Exception] = _view(Requirement(text))
    except InvalidRequirement:
        expected = InvalidRequirement
    if expected is InvalidRequirement:
        with pytest.raises(InvalidRequirement):
            parse_pep508(text)
    else:
        assert _view(parse_pep508(text)) == expected
        assert parse_pep508(text) == Requirement(text)


def test_each_distinct_specifier_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requirements_module, "_SPECIFIERS", {})
    built = [0]
    original = SpecifierSet

    def counted(text: str = "") -> object:
        built[0] += 1
        return original(text)

    monkeypatch.setattr(requirements_module, "SpecifierSet", counted)
    for i in range(500):
        parse_pep508(f"project-{i}>=1.0,<2")
    assert built[0] == 1
