"""Problems in rule files and cases, worded for the person who edited the file.

Every problem names the file, the line, the field (as a dotted path such as
``contacts[1].booked``), what was wrong and what is allowed.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from .yamlio import line_of


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
    return expected.replace("'", "")


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic adds the member type of a union ("bool", "list[str]", "function-after[...]")
    # to the location; those are not keys of the file.
    return tuple(
        p
        for p in loc
        if not (
            isinstance(p, str)
            and (p in {"bool", "int", "str", "float", "list[str]", "none"} or "[" in p or p.startswith("literal"))
        )
    )


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
        return "check the spelling"
    close = difflib.get_close_matches(key, sorted(field_names(model)), n=1)
    return f"did you mean '{close[0]}'?" if close else "check the spelling against the documented keys"


def describe(
    exc: ValidationError, data: Any, path: str, base: tuple[int | str, ...] = (), model: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn a pydantic validation error into problems that point into the YAML `data`."""
    problems: list[Problem] = []
    seen: set[tuple[tuple[int | str, ...], str]] = set()
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]))
        kind = err["type"]
        value = err.get("input")
        shown = value.value if isinstance(value, Enum) else value
        ctx = err.get("ctx") or {}
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'; {_suggest(str(loc[-1]), model)}"
        elif kind == "missing":
            message = "is required but missing"
        elif kind == "bool_type":
            message = f"must be true or false, not '{shown}'"
        elif kind in {"int_type", "int_from_float", "int_parsing"}:
            message = f"must be a whole number, not '{shown}'"
        elif kind in {"float_type", "float_parsing"}:
            message = f"must be a number, not '{shown}'"
        elif kind in {"string_type"}:
            message = f"must be text, not '{shown}'"
        elif kind == "enum" or kind == "literal_error":
            message = f"'{shown}' is not allowed; allowed values: {_allowed(ctx)}"
        elif kind == "greater_than_equal":
            message = f"{shown} is not allowed: it must be {ctx.get('ge')} or more (no negative values)"
        elif kind == "less_than_equal":
            message = f"{shown} is not allowed: it must be at most {ctx.get('le')}"
        elif kind == "too_short":
            message = "must not be empty"
        elif kind in {"list_type"}:
            message = f"must be a list, e.g. [a, b], not '{shown}'"
        elif kind in {"model_type", "dict_type", "model_attributes_type"}:
            message = f"must be a block of keys and values, not '{shown}'"
        elif kind == "value_error":
            message = str(ctx.get("error", err["msg"]))
        else:
            message = err["msg"]
        field = field_path(loc)
        key = (loc, message if kind != "enum" else "enum")
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(path, line_of(data, base + loc), field, message))
    # A union (e.g. `undetermined: true | [keys]`) reports one error per member; keep the first
    # per field so the reader sees one clear sentence.
    first: dict[str, Problem] = {}
    for p in problems:
        first.setdefault(p.field, p)
    return list(first.values())
