"""Problems in rule files and cases, worded for the person who edited the file.

Every problem names the file, the line, the field (as a dotted path such as
``contacts[1].booked``), what was wrong and what is allowed.
"""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from .yamlio import line_of, null_values


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class RuleDataError(ValueError):
    """The rule data has problems; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('contacts', 1, 'booked')`` → ``contacts[1].booked``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _allowed(ctx: dict[str, Any]) -> str:
    expected = str(ctx.get("expected", ""))
    return expected.replace("' or '", "', '").replace("'", "")


def _is_member_tag(part: str) -> bool:
    return (
        part in {"bool", "int", "str", "float", "decimal", "list[str]", "none"}
        or "[" in part
        or part.startswith(("literal", "constrained-"))
        or part[:1].isupper()
    )


def _clean_loc(loc: tuple[int | str, ...], data: Any) -> tuple[int | str, ...]:
    # pydantic adds the member type of a union ("bool", "list[str]", "function-after[...]",
    # "constrained-int", a model's name) to the location; those are not keys of the file. A part
    # that is a key or an item of the data is always kept.
    out: list[int | str] = []
    node = data
    for part in loc:
        inside = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if inside:
            node = node[part]
        elif isinstance(part, str) and _is_member_tag(part):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


NUMBER_LIKE = re.compile(r"^[-+]?(?:0[0-9_]+|[0-9][0-9_]*_[0-9_]*|0[xXoObB][0-9a-fA-F_]+|[0-9]+(?::[0-9]+)+)$")
"""Number forms of YAML 1.1 (leading zero, underscore, 0x/0o/0b, 1:30) that are read as text."""


def _number_hint(value: Any) -> str:
    if isinstance(value, str) and NUMBER_LIKE.match(value):
        return "; skriv talet med vanliga siffror utan inledande nolla, understreck eller 0x (t.ex. 20, inte 020)"
    return ""


def _shown(value: Any) -> str:
    text = str(value.value if isinstance(value, Enum) else value)
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every key a model (and the models inside it) accepts, to suggest a fix for a typo."""
    names: set[str] = set()
    pending: list[Any] = [model]
    seen: set[Any] = set()
    while pending:
        item = pending.pop()
        if item in seen:
            continue
        seen.add(item)
        if isinstance(item, type) and issubclass(item, BaseModel):
            for name, info in item.model_fields.items():
                names.add(name)
                pending.append(info.annotation)
        else:
            pending.extend(typing.get_args(item))
    return frozenset(names)


def _suggest(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return "kontrollera stavningen"
    close = difflib.get_close_matches(key, sorted(field_names(model) - {key}), n=1)
    return f"menade du '{close[0]}'?" if close else "kontrollera stavningen mot de dokumenterade nycklarna"


TYPE_ERRORS = frozenset(
    {
        "bool_type",
        "int_type",
        "int_from_float",
        "int_parsing",
        "float_type",
        "float_parsing",
        "decimal_type",
        "decimal_parsing",
        "string_type",
        "list_type",
        "model_type",
        "dict_type",
        "model_attributes_type",
    }
)


def _message(
    kind: str, value: Any, ctx: dict[str, Any], loc: tuple[int | str, ...], model: type[BaseModel] | None
) -> str:
    shown = _shown(value)
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        return f"okänd nyckel '{key}'; {_suggest(key, model)}"
    if kind == "missing":
        return "saknas men måste anges"
    if kind == "bool_type":
        return f"måste vara true eller false, inte '{shown}'"
    if kind in {"int_type", "int_from_float", "int_parsing"}:
        return f"måste vara ett heltal, inte '{shown}'" + _number_hint(value)
    if kind in {"float_type", "float_parsing", "decimal_type", "decimal_parsing"}:
        return f"måste vara ett tal, inte '{shown}'" + _number_hint(value)
    if kind == "string_type":
        return f"måste vara text, inte '{shown}'"
    if kind in {"enum", "literal_error"}:
        return f"'{shown}' är inte tillåtet; tillåtna värden: {_allowed(ctx)}"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"{shown} är inte tillåtet: värdet måste vara {'minst' if kind.endswith('equal') else 'större än'} {ctx.get('ge', ctx.get('gt'))}"
    if kind in {"less_than_equal", "less_than"}:
        return f"{shown} är inte tillåtet: värdet måste vara {'högst' if kind.endswith('equal') else 'mindre än'} {ctx.get('le', ctx.get('lt'))}"
    if kind == "too_short":
        return "får inte vara tom"
    if kind == "list_type":
        return f"måste vara en lista, t.ex. [a, b], inte '{shown}'"
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return f"måste vara ett block av nycklar och värden, inte '{shown}'"
    if kind == "value_error":
        return str(ctx.get("error", ""))
    return f"ogiltigt värde '{shown}'"


def describe(
    exc: ValidationError, data: Any, path: str, base: tuple[int | str, ...] = (), model: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn a pydantic validation error into problems that point into the YAML `data`."""
    found: list[tuple[str, str, Problem]] = []
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]), data_at(data, base))
        message = _message(err["type"], err.get("input"), err.get("ctx") or {}, loc, model)
        found.append((err["type"], field_path(loc), Problem(path, line_of(data, base + loc), field_path(loc), message)))
    # A union (e.g. `fee: 160 | {param: …}`, `undetermined: true | [keys]`) reports one error per
    # member. A member that fits the value's type and finds something deeper says what is wrong;
    # otherwise the first member's complaint is kept, so the reader sees one sentence per field.
    deeper = {f for _, f, _ in found}
    first: dict[str, Problem] = {}
    for kind, f, problem in found:
        nested = any(d != f and d.startswith((f + ".", f + "[")) for d in deeper) if f else False
        if kind in TYPE_ERRORS and nested:
            continue
        first.setdefault(f, problem)
    return list(first.values())


def null_problems(
    data: Any, path: str, base: tuple[int | str, ...] = (), allowed: frozenset[str] = frozenset()
) -> list[Problem]:
    """A problem for every key or item given without a value (except keys in `allowed`, where null means 'none')."""
    return [
        Problem(
            path,
            line_of(data, (*base, *loc)),
            field_path(loc),
            "har inget värde (null eller inget efter kolonet); ange ett värde eller ta bort nyckeln",
        )
        for loc in null_values(data_at(data, base))
        if loc[-1] not in allowed
    ]


def data_at(data: Any, base: tuple[int | str, ...]) -> Any:
    """The part of a loaded YAML tree at `base` (a case in a file of several)."""
    for part in base:
        data = data[part]
    return data
