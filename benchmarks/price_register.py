"""Benchmark: price synthetic registers of 1 M and 10 M contacts, and the per-contact loop on a sample.

Run: `.venv/bin/python benchmarks/price_register.py` (or `make benchmark`). Sizes can be given:
`benchmarks/price_register.py 1000000 10000000 --sample 20000`. Every register is synthetic
(made-up patients, seeded). Each size runs in a fresh process so that its peak memory is its own.

Printed per size and input format (the median of `--repeat` runs, 3 by default, each in a fresh
process): contacts per second end to end (read, price, write), seconds, the highest peak resident
memory of the runs, seconds per step and every run's seconds; how many times longer CSV takes than
Parquet (the medians, and the median of the ratios of runs made one after the other: the formats
take turns, so that a machine busy for a while slows both runs of a pair); then the per-contact loop on a sample of the same
register, its rate, the speed-up, and whether the sample's fees are identical both ways.

The compiled loops are built once per installation and cached by numba; a first run on a small
register does that before anything is timed, and its time is printed as such.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _generate(args: argparse.Namespace) -> None:
    """Write the synthetic register (Parquet and CSV) and a sample of whole patients (CSV)."""
    import pyarrow.compute as pc

    from patientavgift import synthetic

    began = time.perf_counter()
    table = synthetic.benchmark_register(args.generate, seed=11)
    folder = Path(args.out)
    synthetic.write(table, folder / "register.parquet")
    synthetic.write(table, folder / "register.csv")
    ids = table.column("patient_id")
    keep = pc.is_in(ids, value_set=pc.unique(ids).slice(0, max(args.sample // 5, 1)))
    synthetic.write(table.filter(keep), folder / "sample.csv")
    print(json.dumps({"rows": table.num_rows, "seconds": time.perf_counter() - began}))


def _child(args: argparse.Namespace) -> None:
    """Price one register in this process and print one JSON line of figures."""
    from patientavgift import batch, register
    from patientavgift.engine import selection
    from patientavgift.rules import load_rules

    book = load_rules()
    source = Path(args.source)
    out = Path(args.out)
    if args.loop:
        began = time.perf_counter()
        summary = register.price_register(book, source, out, selection("none"), progress=None)
        seconds = time.perf_counter() - began
        print(json.dumps({"rows": summary.read, "seconds": seconds, "peak_mb": batch.peak_memory_mb()}))
        return
    summary, run = batch.price_register(book, source, out, selection("none"), progress=None)
    print(
        json.dumps(
            {
                "rows": summary.read,
                "seconds": run.seconds,
                "peak_mb": run.peak_mb,
                "buckets": run.buckets,
                "revenue": summary.revenue,
                "patients": summary.patients,
                "steps": run.steps,
            }
        )
    )


def _run(*argv: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _fees(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["patient_id"], r["date"], r["fee"]) for r in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--sample", type=int, default=20_000, help="contacts for the per-contact loop")
    parser.add_argument("--repeat", type=int, default=3, help="runs per register and format (the median is shown)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.generate:
        _generate(args)
        return
    if args.child:
        _child(args)
        return

    # Every step runs in its own process: the peak memory of a process carries over into the
    # processes it starts, so the parent never holds a register itself.
    with tempfile.TemporaryDirectory(prefix="patientavgift-bench-") as tmp:
        folder = Path(tmp)
        print(f"{'register':<28}{'contacts':>12}{'seconds':>10}{'contacts/s':>14}{'peak MB':>10}")
        for size in args.sizes:
            made = _run("--generate", str(size), "--sample", str(args.sample), "--out", str(folder))
            print(f"(generated {made['rows']:,.0f} synthetic contacts in {made['seconds']:.1f} s)")
            if size == args.sizes[0]:
                began = time.perf_counter()
                _run("--source", str(folder / "sample.csv"), "--out", str(folder / "warm.parquet"))
                print(f"(first run, building or loading the compiled loops: {time.perf_counter() - began:.1f} s)")
            formats = (
                ("Parquet → Parquet", "register.parquet", "priced.parquet"),
                ("CSV → CSV", "register.csv", "priced.csv"),
            )
            # (the formats take turns, Parquet then CSV, so that a machine slower for a while slows
            # both runs of a pair and the ratio is taken pair by pair)
            runs: list[list[dict[str, Any]]] = [[], []]
            for _ in range(args.repeat):
                for k, (_, source, out) in enumerate(formats):
                    runs[k].append(_run("--source", str(folder / source), "--out", str(folder / out)))
            ratios = sorted(float(c["seconds"]) / float(p["seconds"]) for p, c in zip(*runs, strict=True))
            rows = []
            for (label, _, _), done in zip(formats, runs, strict=True):
                ordered = sorted(done, key=lambda figures: float(figures["seconds"]))
                figures = ordered[len(ordered) // 2]  # the median run
                rate = figures["rows"] / figures["seconds"]
                rows.append(rate)
                peak = max(float(r["peak_mb"]) for r in done)
                line = f"{figures['rows']:>12,.0f}{figures['seconds']:>10.2f}{rate:>14,.0f}{peak:>10,.0f}"
                steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in figures["steps"].items())
                spread = ", ".join(f"{float(r['seconds']):.2f}" for r in done)
                print(f"{label:<28}{line}   ({steps}; runs in turn: {spread} s)")
            print(
                f"{'CSV / Parquet, seconds':<28}{rows[0] / rows[1]:>22.2f}×   (the median of the {len(ratios)} pairs' "
                f"ratios: {ratios[len(ratios) // 2]:.2f}×; all: {', '.join(f'{r:.2f}' for r in ratios)})"
            )
            sample = folder / "sample.csv"
            loop = _run("--loop", "--source", str(sample), "--out", str(folder / "loop.csv"))
            _run("--source", str(sample), "--out", str(folder / "fast.csv"))
            loop_rate = loop["rows"] / loop["seconds"]
            same = _fees(folder / "loop.csv") == _fees(folder / "fast.csv")
            line = f"{loop['rows']:>12,.0f}{loop['seconds']:>10.2f}{loop_rate:>14,.0f}{loop['peak_mb']:>10,.0f}"
            print(f"{'per-contact loop (sample)':<28}{line}")
            print(
                f"speed-up over the per-contact loop: Parquet {rows[0] / loop_rate:,.0f}×, CSV {rows[1] / loop_rate:,.0f}×; "
                f"sample fees identical both ways: {same}"
            )
            for name in ("register.parquet", "register.csv", "priced.parquet", "priced.csv"):
                (folder / name).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
