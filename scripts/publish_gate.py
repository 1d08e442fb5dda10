"""Stop publishing an inconsistent handbook: the rule data must pass `check` and every case must pass.

Run by `make book` before the chapters are executed. Prints a short Swedish summary (at most ten
problems, then how many more) and exits with status 1 when anything is wrong, so that no book is
built from rule data whose own cases disagree with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from patientavgift.cases import run_paths
from patientavgift.errors import RuleDataError
from patientavgift.rules import check_rules, load_rules

SHOWN = 10


def main() -> int:
    _, problems = check_rules()
    lines = [str(p) for p in problems]
    failed: list[str] = []
    if not problems:
        try:
            results = run_paths(load_rules(), [Path("cases")])
        except RuleDataError as exc:
            lines.append(str(exc))
            results = []
        failed = [r.entry.id for r in results if not r.passed]
    if not lines and not failed:
        print("Regeldata och fall stämmer: handboken kan byggas.")
        return 0
    print("Handboken byggs inte: regeldata och fall stämmer inte överens.")
    if lines:
        print(f"  patientavgift check hittade {len(lines)} fel:")
        print("\n".join(f"    {line}" for line in lines[:SHOWN]))
    if failed:
        print(f"  {len(failed)} fall stämmer inte med regeldatan: {', '.join(failed[:SHOWN])}")
    if len(lines) > SHOWN or len(failed) > SHOWN:
        print("  (fler finns; kör 'patientavgift check' och 'patientavgift cases cases' för hela listan)")
    else:
        print("  Kör 'patientavgift cases cases' för att se varje avvikelse och regelkedjan bakom den.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
