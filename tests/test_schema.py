"""The JSON Schemas kept in `schemas/` are the ones the models give today, and they accept the
repository's own rule and case files (so an editor that checks with them agrees with `check`)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from patientavgift import schema
from patientavgift.rules import PACKAGE_RULES

ROOT = Path(__file__).resolve().parent.parent


def test_the_stored_schemas_are_current() -> None:
    for name, wanted in schema.schemas().items():
        stored = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert stored == schema.text(wanted), f"schemas/{name} is out of date: run `patientavgift schema`"


def _plain(value: object) -> object:
    """YAML values as JSON sees them (dates as ISO text)."""
    return json.loads(json.dumps(value, default=str))


def test_the_schemas_accept_the_repository_files() -> None:
    settings = json.loads((ROOT / ".vscode" / "settings.json").read_text(encoding="utf-8"))["yaml.schemas"]
    checked = 0
    for name, patterns in settings.items():
        validator = jsonschema.Draft202012Validator(json.loads((ROOT / name).read_text(encoding="utf-8")))
        for pattern in patterns:
            for path in sorted(ROOT.glob(pattern)):
                if "invalid" in path.parts:
                    continue
                errors = list(validator.iter_errors(_plain(yaml.safe_load(path.read_text(encoding="utf-8")))))
                assert errors == [], f"{path}: {errors[0].message}"
                checked += 1
    assert checked > 20 and (PACKAGE_RULES / "vgr" / "contacts.yaml").exists()
