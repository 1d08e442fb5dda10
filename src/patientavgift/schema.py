"""JSON Schemas of the rule files and case files, generated from the models that load them.

A YAML editor that knows JSON Schema (VS Code with its YAML extension, among others) then checks
and completes a rule or case file while it is typed, with the same keys, values and ranges that
`patientavgift check` enforces. The schemas are kept in the repository (`schemas/`) and
`.vscode/settings.json` maps each kind of file to its schema; a test regenerates them and fails
when a model changed without them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .model import Case
from .outputs import atomic
from .rules import NationalFile, RegionFile, SourcesFile, TableFile

SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "rule-table.schema.json": (TableFile, "En regeltabell: parametrar med daterade värden och rader med villkor"),
    "region.schema.json": (RegionFile, "En regions vårdtjänster och åldersbefrielser (region.yaml)"),
    "national.schema.json": (NationalFile, "Högkostnadsskyddet och de nationella åldersbefrielserna"),
    "sources.schema.json": (SourcesFile, "Källregistret: dokument och deras påståenden"),
}
CASE_SCHEMA = "case.schema.json"


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema by file name."""
    out: dict[str, dict[str, Any]] = {}
    for name, (model, title) in SCHEMAS.items():
        schema = model.model_json_schema()
        schema["title"] = title
        out[name] = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    case = Case.model_json_schema()
    defs = case.pop("$defs", {})
    out[CASE_SCHEMA] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Ett räknat fall, eller en lista av fall",
        "$defs": {**defs, "Case": case},
        "anyOf": [{"$ref": "#/$defs/Case"}, {"type": "array", "items": {"$ref": "#/$defs/Case"}}],
    }
    return out


def text(schema: dict[str, Any]) -> str:
    """A schema as it is stored: sorted keys, two-space indents, a final newline."""
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write(folder: Path) -> list[Path]:
    """Write every schema into `folder` (each file atomically); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    found = schemas()
    targets = [folder / name for name in found]
    with atomic(targets) as parts:
        for part, schema in zip(parts, found.values(), strict=True):
            part.write_text(text(schema), encoding="utf-8")
    return targets
