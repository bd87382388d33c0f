#!/usr/bin/env python3
"""Time the whole job a user runs and write benchmarks/REPORT_TIMES.md.

    .venv/bin/python benchmarks/report_times.py [--sizes 10000 100000] [--repeat 3]

Measures, each in a fresh process (best of --repeat): `ltfu --help` (start-up, lazy imports),
`ltfu report --demo` (53 patients, every output format), and `ltfu report` on simulated registries
(`ltfu simulate`) of the given sizes.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LTFU = [sys.executable, "-m", "ltfu.cli"]


# runs one command and prints its peak resident memory (its own measuring process, so that no other
# child's peak is counted)
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
         "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def best_of(cmd, repeat):
    """(best wall seconds, peak MiB of that run) over ``repeat`` fresh processes."""
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _PEAK, *cmd], check=True, capture_output=True, text=True)
        sec = time.perf_counter() - t0
        if sec < best:
            best, peak = sec, int(out.stdout.split()[-1]) / 1024.0
    return best, peak


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "REPORT_TIMES.md")
    ap.add_argument("--engines", nargs="+", default=["numpy"], choices=["auto", "numpy", "duckdb", "spark"],
                    help="report each registry with each of these --engine values")
    ap.add_argument("--quick", action="store_true", help="registries only (no --help, no demo)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        if not args.quick:
            rows.append(("`ltfu --help`", *best_of([*LTFU, "--help"], args.repeat * 3)))
            rows.append(("`ltfu report --demo` (53 patients, all formats)",
                         *best_of([*LTFU, "report", "--demo", "--out", f"{d}/demo", "--quiet"], args.repeat)))
        for n in args.sizes:
            reg = f"{d}/reg{n}.parquet"
            subprocess.run([*LTFU, "simulate", "--patients", str(n), "--seed", "1", "--out", reg], check=True,
                           stdout=subprocess.DEVNULL)
            for engine in args.engines:
                rows.append((f"`ltfu report --engine {engine}` on a simulated registry of {n:,} patients "
                             "(all formats)", *best_of([*LTFU, "report", reg, "--out", f"{d}/r{n}{engine}", "--quiet",
                                                        "--engine", engine], max(1, args.repeat - 1))))
                print(rows[-1], flush=True)
    try:
        load = f" Load average (1 min) at the end: {os.getloadavg()[0]:.1f}."
    except OSError:
        load = ""
    lines = ["# Whole-job timings", "",
             f"Written by `benchmarks/report_times.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Wall-clock seconds, best of several runs, "
             "each a fresh process (imports included); peak MiB: the resident memory of that run's process."
             f"{load}", "", "| job | seconds | peak MiB |", "|---|---:|---:|"]
    lines += [f"| {name} | {sec:.2f} | {mib:.0f} |" for name, sec, mib in rows]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
