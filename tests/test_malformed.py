"""Generated malformed rule and case files: every one gives messages naming the file, never a traceback."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from patientavgift.cli import main
from patientavgift.rules import PACKAGE_RULES

from .conftest import CASES

RULE_FILES = sorted(p.relative_to(PACKAGE_RULES) for p in PACKAGE_RULES.rglob("*.yaml"))
CASE_FILES = sorted(p for p in CASES.rglob("*.yaml") if p.parent.name != "invalid")

BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.sampled_from(["020", "0x2D", "4_5", "0240", "2026-02-30", "yes", ".inf", "1:30", "", "~"]),
)
SYNTAX = list(":[]{}&*!|>'\"%@`\t-#,?\n ")


def _places(data: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key or item of a loaded YAML tree, by its path."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        yield (*here, key)
        yield from _places(value, (*here, key))


def _mutated(draw: st.DrawFn, text: str) -> str:
    """The text with one mistake: a value replaced, a key deleted, or the YAML itself broken."""
    kind = draw(st.sampled_from(["value", "delete", "syntax", "truncate"]))
    if kind in ("syntax", "truncate"):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        if kind == "truncate":
            return text[:at]
        return text[:at] + draw(st.sampled_from(SYNTAX)) + text[at:]
    data = yaml.safe_load(text)
    places = list(_places(data))
    if not places:
        return yaml.safe_dump(draw(BAD_VALUES), allow_unicode=True)
    place = draw(st.sampled_from(places))
    parent = data
    for part in place[:-1]:
        parent = parent[part]
    if kind == "delete":
        del parent[place[-1]]
    else:
        parent[place[-1]] = draw(BAD_VALUES)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


WHOLE_FILE = (
    "filen är tom",
    "filen saknas",
    "filen är inte giltig YAML: ",
    "filen ska vara ett block av nycklar",  # (a file cut down to one word: the whole file is wrong)
    "ett fall ska vara ett block av nycklar",
)


RULES = Path(tempfile.mkdtemp()) / "rules"
"""One copy of the rule data for every example; the file an example breaks is put back after it."""
NO_CASES = RULES.parent / "no-cases"


@given(st.data())
def test_a_malformed_rule_file_is_named_with_its_line(data: st.DataObject) -> None:
    if not RULES.exists():
        shutil.copytree(PACKAGE_RULES, RULES)
        NO_CASES.mkdir()
    path = RULES / data.draw(st.sampled_from(RULE_FILES))
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(data.draw(st.composite(lambda d: _mutated(d, original))()), encoding="utf-8")
        code, out = _run(["--rules", str(RULES), "check", str(NO_CASES)])
    finally:
        path.write_text(original, encoding="utf-8")
    assert "Traceback" not in out
    lines = out.rstrip("\n").split("\n")  # (not `splitlines`: a bad value may hold e.g. \x1e, which it splits on)
    assert code in (0, 1)
    assert lines[-1] == ("regeldata och fall är giltiga" if code == 0 else f"{len(lines) - 1} fel hittades")
    for line in lines[:-1]:
        assert line.startswith(f"{RULES}/"), line
        assert re.match(r"\S+:\d+: ", line) or any(w in line for w in WHOLE_FILE), line


@given(st.data())
def test_a_malformed_case_file_is_named_with_its_line(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(CASE_FILES))
    text = data.draw(st.composite(lambda d: _mutated(d, source.read_text(encoding="utf-8")))())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / source.name
        path.write_text(text, encoding="utf-8")
        for command in ("cases", "explain", "check"):
            code, out = _run([command, str(path)])
            assert "Traceback" not in out
            assert code in (0, 1), out
            if code == 1:
                named = re.search(re.escape(str(path)) + r":\d+[:)]", out)
                assert named or any(f"{path}: {w}" in out for w in WHOLE_FILE), out
        code, out = _run(["cases", str(path)])
        assert re.fullmatch(r"\d+ passed, \d+ failed", out.splitlines()[-1])
