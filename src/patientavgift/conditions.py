"""Conditions in rule data, evaluated in three-valued logic.

A rule row says *when* it applies with a small condition language that policy staff can read::

    when: {mode: written, medical_assessment: true}      # every key must hold
    when: {mode: [phone, video]}                         # a list means "one of"
    when: {any: [{initiated_by: patient}, {booked: true}]}
    when: {all: [...]}   when: {not: {...}}   when: {given: visit_form}   when: {ref: vgr.qualifies}

A fact that is not given is *unknown*, not false. `all` is false as soon as one part is false,
`any` is true as soon as one part is true; otherwise an unknown part makes the whole unknown and
the result carries the fact keys that are missing. That is how the engine can say "undetermined:
missing `booked`" exactly when the answer depends on it, and decide without it when it does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import FACT_TERMS, FACT_TYPES, Term

Lookup = Callable[[str], tuple[Any, frozenset[str]]]
"""Return (value, missing keys) for a fact key; value None means not given."""

OPERATORS = ("all", "any", "not", "given", "ref")
GIVEN_KEYS = (*FACT_TYPES, "programme", "kva_codes")
"""Keys that `given` may test: every fact, plus the programme block and the KVÅ code list."""


@dataclass(frozen=True)
class Tri:
    """A three-valued truth: True, False, or None (unknown, with the facts that are missing)."""

    value: bool | None
    missing: frozenset[str] = field(default_factory=frozenset)


TRUE = Tri(True)
FALSE = Tri(False)


class Condition:
    """A compiled condition."""

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        raise NotImplementedError

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        raise NotImplementedError

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        """Every fact key the condition reads."""
        raise NotImplementedError

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        """The condition with the known facts put in: True, False, or what is still open.

        A known value None is a fact left out for good. Evaluating what is still open on further
        facts gives the same answer, and names the same missing facts, as evaluating the whole
        condition on the known and the further facts together; so two sets of answers whose open
        conditions are equal lead the rules the same way whatever is answered next."""
        raise NotImplementedError


@dataclass(frozen=True)
class Equals(Condition):
    key: str
    values: tuple[Any, ...]

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        value, missing = facts(self.key)
        if value is None:
            return Tri(None, missing or frozenset({self.key}))
        return TRUE if value in self.values else FALSE

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        shown = " eller ".join(_sv_value(v) for v in self.values)
        return f"{FACT_TERMS.get(self.key, self.key)}: {shown}"

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return {self.key}

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        if self.key not in known:
            return self
        value = known[self.key]
        return LeftOut(self.key) if value is None else value in self.values


@dataclass(frozen=True)
class LeftOut(Condition):
    """A test of a fact that was left out for good: unknown, whatever else is answered."""

    key: str

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        return Tri(None, frozenset({self.key}))

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        return f"{FACT_TERMS.get(self.key, self.key)} (ej angiven)"

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return {self.key}

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        return self


@dataclass(frozen=True)
class Given(Condition):
    key: str

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        value, _ = facts(self.key)
        return TRUE if value is not None else FALSE

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        return f"{FACT_TERMS.get(self.key, self.key)} är angiven"

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return {self.key}

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        if self.key in known:
            return known[self.key] is not None
        if self.key == "programme" and any(k.startswith("programme.") and v is not None for k, v in known.items()):
            return True
        return self


@dataclass(frozen=True)
class Not(Condition):
    part: Condition

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        result = self.part.evaluate(facts, defs)
        return result if result.value is None else Tri(not result.value)

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        return f"inte ({self.part.swedish(defs)})"

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return self.part.facts(defs)

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        part = self.part.partial(known, defs)
        return (not part) if isinstance(part, bool) else Not(part)


@dataclass(frozen=True)
class All(Condition):
    parts: tuple[Condition, ...]

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        missing: set[str] = set()
        for part in self.parts:
            result = part.evaluate(facts, defs)
            if result.value is False:
                return FALSE
            if result.value is None:
                missing |= result.missing
        return Tri(None, frozenset(missing)) if missing else TRUE

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        if not self.parts:
            return "alltid"
        text = " och ".join(p.swedish(defs) for p in self.parts)
        return text if len(self.parts) == 1 else f"({text})"

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return set().union(*(p.facts(defs) for p in self.parts)) if self.parts else set()

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        return _joined(All, self.parts, known, defs, decisive=False)


@dataclass(frozen=True)
class Any_(Condition):
    parts: tuple[Condition, ...]

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        missing: set[str] = set()
        for part in self.parts:
            result = part.evaluate(facts, defs)
            if result.value is True:
                return TRUE
            if result.value is None:
                missing |= result.missing
        return Tri(None, frozenset(missing)) if missing else FALSE

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        return "(" + " eller ".join(p.swedish(defs) for p in self.parts) + ")"

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return set().union(*(p.facts(defs) for p in self.parts)) if self.parts else set()

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        return _joined(Any_, self.parts, known, defs, decisive=True)


def _joined(
    kind: type[All] | type[Any_],
    parts: tuple[Condition, ...],
    known: Mapping[str, Any],
    defs: Mapping[str, Condition],
    decisive: bool,
) -> Condition | bool:
    """`all` or `any` with the known facts put in: a part with the decisive value decides the
    whole, a part with the other value drops out, one open part stands alone."""
    still: list[Condition] = []
    for part in parts:
        found = part.partial(known, defs)
        if found is decisive:
            return decisive
        if not isinstance(found, bool):
            still.append(found)
    if not still:
        return not decisive
    return still[0] if len(still) == 1 else kind(tuple(still))


@dataclass(frozen=True)
class Ref(Condition):
    name: str

    def evaluate(self, facts: Lookup, defs: Mapping[str, Condition]) -> Tri:
        return defs[self.name].evaluate(facts, defs)

    def swedish(self, defs: Mapping[str, Condition]) -> str:
        return defs[self.name].swedish(defs)

    def facts(self, defs: Mapping[str, Condition]) -> set[str]:
        return defs[self.name].facts(defs)

    def partial(self, known: Mapping[str, Any], defs: Mapping[str, Condition]) -> Condition | bool:
        return defs[self.name].partial(known, defs)


def _sv_value(value: Any) -> str:
    if isinstance(value, Term):
        return value.label
    if value is True:
        return "ja"
    if value is False:
        return "nej"
    return str(value)


class ConditionError(ValueError):
    """A condition in rule data is malformed; `where` is the path inside the condition."""

    def __init__(self, where: tuple[int | str, ...], message: str) -> None:
        self.where = where
        super().__init__(message)


def _value(key: str, raw: Any, where: tuple[int | str, ...]) -> Any:
    kind = FACT_TYPES[key]
    if kind is bool:
        if not isinstance(raw, bool):
            raise ConditionError(where, f"'{raw}' är inte tillåtet för {key}; skriv true eller false")
        return raw
    assert issubclass(kind, Term)
    for member in kind:
        if member.value == raw:
            return member
    allowed = ", ".join(m.value for m in kind)
    raise ConditionError(where, f"'{raw}' är inte tillåtet för {key}; tillåtna värden: {allowed}")


def compile_condition(raw: Any, where: tuple[int | str, ...] = ()) -> Condition:
    """Check and compile a condition from rule data; raise `ConditionError` naming the bad part."""
    if raw is None:
        return All(())
    if not isinstance(raw, dict):
        raise ConditionError(where, "ett villkor ska vara ett block av nycklar, t.ex. {mode: written}")
    parts: list[Condition] = []
    for key, value in raw.items():
        here = (*where, key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(here, f"'{key}' behöver en lista med minst ett villkor")
            subs = tuple(compile_condition(v, (*here, i)) for i, v in enumerate(value))
            parts.append(All(subs) if key == "all" else Any_(subs))
        elif key == "not":
            parts.append(Not(compile_condition(value, here)))
        elif key == "given":
            if value not in GIVEN_KEYS:
                raise ConditionError(here, f"'{value}' är ingen uppgift om kontakten; kända: {', '.join(GIVEN_KEYS)}")
            parts.append(Given(value))
        elif key == "ref":
            if not isinstance(value, str):
                raise ConditionError(here, "'ref' anger en definition, t.ex. ref: vgr.qualifies")
            parts.append(Ref(value))
        elif key in FACT_TYPES:
            values = value if isinstance(value, list) else [value]
            if not values:
                raise ConditionError(here, "en tom lista kan aldrig stämma; ange minst ett värde")
            parts.append(Equals(key, tuple(_value(key, v, here) for v in values)))
        else:
            raise ConditionError(
                here,
                f"okänd nyckel '{key}' i ett villkor; använd en uppgift om kontakten ({', '.join(FACT_TYPES)}) "
                f"eller något av {', '.join(OPERATORS)}",
            )
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def refs(cond: Condition) -> set[str]:
    """Names of the definitions a condition refers to (directly)."""
    if isinstance(cond, Ref):
        return {cond.name}
    if isinstance(cond, Not):
        return refs(cond.part)
    if isinstance(cond, (All, Any_)):
        return set().union(*(refs(p) for p in cond.parts)) if cond.parts else set()
    return set()
