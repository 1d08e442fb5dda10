"""Command line: `patientavgift cases|explain|check|price`."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from pathlib import Path
from types import FrameType

from .cases import case_files, error_expectations, price_case, read_case_file, run_paths
from .engine import checked_selection
from .errors import Problem, RuleDataError
from .explain import explain_case, failure_text
from .outputs import OutputError
from .register import CHUNK_ROWS, RegisterError, price_register, rejects_path
from .rules import build_date, check_rules, load_rules, review_warnings


def _cases(args: argparse.Namespace) -> int:
    book = load_rules(args.rules)
    missing = [p for p in args.paths if not p.exists()]
    for p in missing:
        print(f"{p}: filen eller mappen finns inte", file=sys.stderr)
    results = run_paths(book, [p for p in args.paths if p.exists()])
    if not results and not missing:
        print("inga fallfiler (.yaml/.yml) hittades under " + ", ".join(str(p) for p in args.paths), file=sys.stderr)
        return 1
    failed = [r for r in results if not r.passed]
    for result in failed:
        print(failure_text(result))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or missing else 0


def _explain(args: argparse.Namespace) -> int:
    book = load_rules(args.rules)
    if not args.case.is_file():
        print(f"{args.case}: explain tar en fallfil (.yaml); detta är ingen fil", file=sys.stderr)
        return 1
    status = 0
    for entry in read_case_file(args.case, book):
        if entry.case is None:
            print(f"Fall {entry.id} är ogiltigt:\n{entry.error}")
            status = 1
            continue
        outcomes, totals = price_case(book, entry.case)
        print(explain_case(entry.case, outcomes, totals))
        print()
    return status


def case_problems(paths: list[Path], book_rules: Path | None) -> list[Problem]:
    """Problems in case files: invalid cases that expect no error, unknown citations, duplicate ids."""
    book, _ = check_rules(book_rules)
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in case_files(paths):
        for entry in read_case_file(path, book):
            expects_error = any(True for _ in error_expectations(entry.raw))
            if entry.case is None:
                if not expects_error:
                    problems.extend(entry.problems)
                continue
            case = entry.case
            where = f"{path}:{entry.line}" if entry.line else str(path)
            if case.id in seen:
                problems.append(Problem(str(path), entry.line, "id", f"'{case.id}' används redan i {seen[case.id]}"))
            seen.setdefault(case.id, where)
            if not case.source and not case.cites:
                problems.append(
                    Problem(
                        str(path),
                        entry.line,
                        "source",
                        "fallet anger ingen källa; lägg till `source` (text) eller `cites` (påstående-id)",
                    )
                )
            for i, sid in enumerate(case.cites):
                if book.statements and sid not in book.statements:  # (without a source register, that is the problem)
                    problems.append(
                        Problem(str(path), entry.line, f"cites[{i}]", f"'{sid}' är inget påstående i källregistret")
                    )
    return problems


def _check(args: argparse.Namespace) -> int:
    book, problems = check_rules(args.rules)
    for warning in review_warnings(book, build_date()):
        print(f"Varning: {warning}")
    paths = args.paths or ([Path("cases")] if Path("cases").is_dir() else [])
    problems += case_problems([p for p in paths if p.exists()], args.rules)
    for p in paths:
        if not p.exists():
            problems.append(Problem(str(p), None, "", "filen eller mappen finns inte"))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} fel hittades")
        return 1
    print("regeldata och fall är giltiga")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from .diff import DiffError, diff, write_html

    try:
        report = diff(args.revision, args.rules, args.cases)
    except DiffError as exc:
        print(f"fel: {exc}", file=sys.stderr)
        return 2
    print(report.text(), end="")
    if args.html:
        write_html(report, args.html)
        print(f"sidan med konsekvenserna: {args.html}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .schema import write

    for path in write(args.out):
        print(f"skrev {path}")
    return 0


def _price(args: argparse.Namespace) -> int:
    book = load_rules(args.rules)
    try:
        chosen = checked_selection(book, args.proposals)
    except ValueError as exc:
        print(f"fel: --proposals: {exc}", file=sys.stderr)
        return 2
    try:
        if args.per_contact:
            summary = price_register(book, args.register, args.out, chosen, args.rejects)
            run = None
        else:
            from .batch import price_register as price_batch

            summary, run = price_batch(book, args.register, args.out, chosen, args.rejects, chunk_rows=args.chunk_rows)
    except (RegisterError, OutputError) as exc:
        print(f"fel: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    if run is not None:
        rate = summary.read / run.seconds if run.seconds else 0.0
        print(f"tid: {run.seconds:.2f} s ({rate:,.0f} kontakter per sekund), patientgrupper: {run.buckets} (time)")
        print(f"högsta minnesanvändning: {run.peak_mb:,.0f} MB (peak memory)")
    print(f"prissatt register: {args.out} (priced register)")
    print(f"avvisade rader: {args.rejects or rejects_path(args.out)} (rejected rows)")
    return 0


class Terminated(BaseException):
    """The process was asked to stop (TERM); raised in the main thread so that every output is cleaned up."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


WHAT_TO_DO = {
    errno.ENOENT: "filen eller mappen finns inte; kontrollera sökvägen (no such file or folder)",
    errno.EACCES: "saknar behörighet; välj en plats du får skriva i (permission denied)",
    errno.EPERM: "saknar behörighet; välj en plats du får skriva i (permission denied)",
    errno.EROFS: "filsystemet är skrivskyddat; välj en annan plats (read-only file system)",
    errno.EISDIR: "är en mapp; ge ett filnamn (is a folder)",
    errno.ENOTDIR: "en del av sökvägen är ingen mapp; kontrollera sökvägen (not a folder)",
    errno.ENOSPC: "disken är full; frigör utrymme och kör igen (no space left on device)",
}


def os_error_text(exc: OSError) -> str:
    """One line for an error of the operating system: the file, what happened, what to do."""
    where = exc.filename if exc.filename is not None else "(okänd fil)"
    what = WHAT_TO_DO.get(exc.errno or 0, f"{exc.strerror or exc}; kontrollera filen och kör igen")
    return f"fel: {where}: {what}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `patientavgift` command."""
    parser = argparse.ArgumentParser(
        prog="patientavgift", description="Swedish patient fees for distance contacts and internet-based treatment."
    )
    parser.add_argument(
        "--rules", type=Path, default=None, help="rule folder (default: the package's own, or $PATIENTAVGIFT_RULES)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("cases", help="run worked cases and report failures")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_cases)
    p = sub.add_parser("explain", help="explain every contact of a case, with the rules behind it")
    p.add_argument("case", type=Path, metavar="CASE.yaml")
    p.set_defaults(func=_explain)
    p = sub.add_parser("check", help="validate every rule file and case and report every problem")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="case files or folders (default: cases/)")
    p.set_defaults(func=_check)
    p = sub.add_parser("price", help="price a register of contacts (CSV or Parquet, one row per contact)")
    p.add_argument("register", type=Path, metavar="REGISTER", help="the register: a .csv or .parquet file")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PRICED",
        help="the priced register (.parquet gives Parquet, else CSV)",
    )
    p.add_argument("--proposals", default="none", help="none (default), all, or proposal ids separated by commas")
    p.add_argument(
        "--rejects", type=Path, default=None, help="where to write rejected rows (default: PRICED with .rejects.csv)"
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=CHUNK_ROWS,
        metavar="N",
        help=f"registers longer than this are priced in buckets of patients, to bound memory (default {CHUNK_ROWS})",
    )
    p.add_argument(
        "--per-contact",
        action="store_true",
        help="price contact by contact through the case engine instead (slow; CSV output; a cross-check)",
    )
    p.set_defaults(func=_price)
    p = sub.add_parser("diff", help="what an edit of the rule data changes, against a git revision (default HEAD)")
    p.add_argument("revision", nargs="?", default="HEAD", help="the git revision to compare with (default: HEAD)")
    p.add_argument("--cases", type=Path, default=Path("cases"), help="case folder (default: cases/)")
    p.add_argument("--html", type=Path, default=None, help="also write the report as an HTML page")
    p.set_defaults(func=_diff)
    p = sub.add_parser("schema", help="write the JSON Schemas of rule and case files (for editors that check YAML)")
    p.add_argument("--out", type=Path, default=Path("schemas"), help="folder (default: schemas/)")
    p.set_defaults(func=_schema)
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0
    except RuleDataError as exc:
        print("Regeldata har fel; inget har räknats ut:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("avbrutet (Ctrl-C): inga nya utfiler skrevs, tidigare är orörda (interrupted)", file=sys.stderr)
        return 130
    except Terminated:
        print("avbrutet (TERM): inga nya utfiler skrevs, tidigare är orörda (terminated)", file=sys.stderr)
        return 143
    except OSError as exc:
        print(os_error_text(exc), file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
