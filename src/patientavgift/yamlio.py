"""Strict YAML reading with line numbers.

Rule files and cases are edited by hand, so a mistake must be reported where it was made.
This loader differs from `yaml.safe_load` in three ways that matter for that:

* every mapping and list remembers the line of each key / item (`LineDict`, `LineList`),
  so a validation error can name ``file:line``;
* a key given twice in one mapping is an error (PyYAML would silently keep the last one);
* dates are *not* converted by YAML: ``2026-02-30`` stays text, so the models can reject it
  with a clear message instead of PyYAML crashing on the whole file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class YamlProblem(ValueError):
    """A YAML file could not be read (syntax error or duplicate key)."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class LineDict(dict[str, Any]):
    """A mapping that knows the line (1-based) of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A list that knows the line (1-based) of each of its items."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


# Drop the implicit timestamp resolver: dates arrive as strings and are validated by the models.
# Booleans and numbers are read as in YAML 1.2: only true/false are booleans (`yes`, `no`, `on`
# and `off` stay text, so `booked: yes` is rejected instead of read as true), and a number is
# written in plain decimal. The YAML 1.1 forms (`020` read as octal 16, `0x2D`, `4_5`, `1:30`)
# stay text, so a field that needs a number rejects them instead of reading another value.
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp", _BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise YamlProblem(
                loader.name,
                key_node.start_mark.line + 1,
                f"nyckeln '{key}' anges två gånger i samma block "
                f"(första gången på rad {result.key_lines[key]}); behåll bara en",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


PARSER_WORDS = [
    (r"found character '\\t' that cannot start any token", "ett tabbtecken står här; använd mellanslag för indrag"),
    (
        r"found character '(.)' that cannot start any token",
        "tecknet '{0}' kan inte inleda ett värde; sätt värdet inom citattecken",
    ),
    (
        r"mapping values are not allowed here",
        "ett kolon (:) står där ingen ny nyckel kan börja; kontrollera indraget, "
        "eller sätt texten inom citattecken om den innehåller ': '",
    ),
    (r"could not find expected ':'", "ett kolon (:) efter nyckeln saknas"),
    (r"expected ',' or '\]', but got", "listan inom [ ] avslutas inte; ett kommatecken eller ] saknas"),
    (r"expected ',' or '\}', but got", "blocket inom { } avslutas inte; ett kommatecken eller } saknas"),
    (r"expected <block end>, but found", "indraget stämmer inte med raderna ovanför"),
    (r"found unexpected end of stream", "ett citattecken avslutas aldrig"),
    (
        r"found undefined alias '(.*)'",
        "*{0} hänvisar till ett ankare (&{0}) som inte finns; sätt texten inom citattecken",
    ),
    (r"could not determine a constructor for the tag '(.*)'", "taggen '{0}' används inte i dessa filer; ta bort den"),
    (r"second occurrence", "samma ankare (&) anges två gånger"),
]
"""The YAML parser's complaints, in words a reader of the rule files understands."""


def _swedish(problem: str) -> str:
    for pattern, words in PARSER_WORDS:
        found = re.search(pattern, problem)
        if found:
            return words.replace("{0}", found[1]) if found.groups() else words
    return "texten kan inte läsas här; kontrollera indrag, kolon, citattecken och hakparenteser"


def load_text(text: str, name: str = "<text>") -> Any:
    """Parse YAML text; raise `YamlProblem` naming the line on a syntax error or duplicate key."""
    loader = _Loader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = f", kolumn {mark.column + 1}" if mark else ""
        problem = _swedish(exc.problem or "")
        raise YamlProblem(name, line, f"filen är inte giltig YAML{column}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(name, None, f"filen är inte giltig YAML: {_swedish(str(exc))}") from exc
    finally:
        loader.dispose()


def load_file(path: Path) -> Any:
    """Read and parse one YAML file (UTF-8)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(str(path), None, "filen är inte text i UTF-8") from exc
    return load_text(text, str(path))


def line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    """Return the line of the deepest part of `loc` that exists in `data` (a loaded YAML tree)."""
    line: int | None = getattr(data, "line", None) or None
    node = data
    for part in loc:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def null_values(data: Any, loc: tuple[int | str, ...] = ()) -> list[tuple[int | str, ...]]:
    """The place of every value that is null (`key:` with nothing after it, `~` or `null`)."""
    items: list[tuple[int | str, Any]] = (
        list(data.items()) if isinstance(data, dict) else list(enumerate(data)) if isinstance(data, list) else []
    )
    found: list[tuple[int | str, ...]] = []
    for key, value in items:
        found += [(*loc, key)] if value is None else null_values(value, (*loc, key))
    return found


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
