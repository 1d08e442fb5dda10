"""Run a handbook chapter outside Sphinx and reduce its outputs to comparable text.

Used by the chapter tests: every chapter is read with jupytext, executed with nbclient in its own
folder, and its outputs (text, tables as plain text, glued values; images only as a marker) are
compared with a recorded copy in ``tests/golden/``. A rule change therefore shows up as a reviewed
diff of the recorded outputs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jupytext
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

_VOLATILE = [
    (re.compile(r" at 0x[0-9a-f]+"), " at 0x…"),
    (re.compile(r"/tmp/[^\s'\"]+"), "/tmp/…"),
]


def toc_files() -> list[Path]:
    """Every page in the table of contents (chapters and analysis notebooks), in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"], *(entry["file"] for entry in toc.get("chapters", []))]
    found = []
    for name in names:
        matches = [ROOT / f"{name}{suffix}" for suffix in (".md", ".ipynb") if (ROOT / f"{name}{suffix}").exists()]
        assert len(matches) == 1, f"_toc.yml names {name}, found {matches}"
        found.append(matches[0])
    return found


def chapters() -> list[Path]:
    """Every MyST chapter in the table of contents (the analysis notebooks are checked by nbval)."""
    return [path for path in toc_files() if path.suffix == ".md"]


def execute(path: Path, env_rules: str | None = None) -> Any:
    """Execute a MyST chapter as a notebook (cwd = its folder); raises on the first failing cell."""
    nb = jupytext.read(path, fmt="md:myst")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if env_rules:
        setup = f"import os\nos.environ['PATIENTAVGIFT_RULES'] = {env_rules!r}\n"
        nb.cells.insert(0, jupytext.reads(f"```{{code-cell}} ipython3\n{setup}```", fmt="md:myst").cells[0])
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def _clean(text: str) -> str:
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text.rstrip()


def outputs(nb: Any) -> list[str]:
    """The text of every output, in order: streams, plain-text data, a marker for images."""
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                found.append(_clean(out["text"]))
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                glued = data.get("application/papermill.record/text/plain")
                if glued is not None:
                    name = out.get("metadata", {}).get("scrapbook", {}).get("name", "?")
                    found.append(f"{name} = {_clean(glued)}")
                elif "image/png" in data or "image/svg+xml" in data:
                    found.append("<bild>")
                elif "text/plain" in data:
                    found.append(_clean(data["text/plain"]))
            elif kind == "error":
                found.append(f"FEL: {out.get('ename')}: {out.get('evalue')}")
    return found


def golden_path(path: Path) -> Path:
    return GOLDEN / f"{path.stem}.json"


def read_golden(path: Path) -> list[str] | None:
    gp = golden_path(path)
    return json.loads(gp.read_text(encoding="utf-8")) if gp.exists() else None


def write_golden(path: Path, found: list[str]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    golden_path(path).write_text(json.dumps(found, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
