"""The template language of personal texts (issue 17): `{name}` and nothing else.

`{{` and `}}` write literal braces; attribute access, indexing, format specs, conversions and
nested braces are refused. The parser is written out by hand: user text never reaches
`str.format`, whose mini-language reaches into objects (`{0.__class__.__init__.__globals__}`).

    template = parse_template("Hi {first_name}, your table at {time}")
    defaults = parse_defaults(["first_name=there"])
    template.render({"first_name": "Ana", "time": "8pm"})
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from attsms.core.errors import UsageError

# Characters that would make `{...}` more than a plain name in str.format's language.
_NOT_IN_NAME = {
    ".": "attribute access is",
    "[": "indexing is",
    "]": "indexing is",
    ":": "a format spec is",
    "!": "a conversion is",
    "{": "nested braces are",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Field:
    """A `{name}` in a template."""

    name: str


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and fields, in order."""

    source: str
    parts: tuple[str | Field, ...]

    @functools.cached_property  # asked for every row
    def fields(self) -> tuple[str, ...]:
        """The distinct field names, in order of first appearance."""
        return tuple(dict.fromkeys(p.name for p in self.parts if isinstance(p, Field)))

    @functools.cached_property
    def _pieces(self) -> tuple[tuple[str, int], ...]:
        """Each part as (literal, -1) or (field name, its index in `fields`): `render_fields`
        asks no isinstance and looks up no name."""
        index = {name: i for i, name in enumerate(self.fields)}
        return tuple((p, -1) if isinstance(p, str) else (p.name, index[p.name]) for p in self.parts)

    def render(self, values: Mapping[str, str]) -> str:
        """The text for one row; KeyError if `values` lacks a field."""
        return self.render_fields([values[name] for name in self.fields])

    def render_fields(self, values: Sequence[str]) -> str:
        """The text for one row from the values of `fields`, in their order."""
        return "".join([p if i < 0 else values[i] for p, i in self._pieces])


def _where(source: str, index: int) -> str:
    start = max(0, index - 10)
    snippet = source[start : index + 11]
    return f"at character {index + 1} ({snippet!r})"


def parse_template(source: str) -> Template:
    """Parse `source` once. Raises `UsageError` (exit 2) naming the problem and where it is."""
    parts: list[str | Field] = []
    literal: list[str] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "}":
            if source.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise UsageError(
                f"template: '}}' {_where(source, i)} closes nothing",
                hint="write }} for a literal brace",
            )
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        if source.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = i + 1
        while end < n and source[end] != "}":
            kind = _NOT_IN_NAME.get(source[end])
            if kind is not None:
                raise UsageError(
                    f"template: {kind} not allowed {_where(source, end)}",
                    hint="only {column} is substituted; write {{ and }} for literal braces",
                )
            end += 1
        if end == n:
            raise UsageError(
                f"template: '{{' {_where(source, i)} is never closed",
                hint="write {{ for a literal brace",
            )
        name = source[i + 1 : end].strip()
        if not name:
            raise UsageError(
                f"template: empty field {{}} {_where(source, i)}",
                hint="name a CSV column, e.g. {first_name}; write {{}} for literal braces",
            )
        if _CONTROL.search(name):
            raise UsageError(
                f"template: a field name holds a control character {_where(source, i)}"
            )
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Field(name))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return Template(source=source, parts=tuple(parts))


def parse_defaults(entries: Iterable[str]) -> dict[str, str]:
    """`--default NAME=VALUE` flags as a dict. The value may be empty (an explicit blank); the
    name may not. Raises `UsageError` for an entry without `=` or a name given twice."""
    defaults: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f"--default takes NAME=VALUE, not {entry!r}", hint="e.g. --default first_name=there"
            )
        if name in defaults:
            raise UsageError(f"--default {name} is given twice")
        defaults[name] = value
    return defaults
