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


def best_of(cmd, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "REPORT_TIMES.md")
    args = ap.parse_args(argv)
    rows = [("`ltfu --help`", best_of([*LTFU, "--help"], args.repeat * 3))]
    with tempfile.TemporaryDirectory() as d:
        rows.append(("`ltfu report --demo` (53 patients, all formats)",
                     best_of([*LTFU, "report", "--demo", "--out", f"{d}/demo", "--quiet"], args.repeat)))
        for n in args.sizes:
            reg = f"{d}/reg{n}.parquet"
            subprocess.run([*LTFU, "simulate", "--patients", str(n), "--seed", "1", "--out", reg], check=True,
                           stdout=subprocess.DEVNULL)
            rows.append((f"`ltfu report` on a simulated registry of {n:,} patients (all formats)",
                         best_of([*LTFU, "report", reg, "--out", f"{d}/r{n}", "--quiet"], max(1, args.repeat - 1))))
    lines = ["# Whole-job timings", "",
             f"Written by `benchmarks/report_times.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Wall-clock seconds, best of several runs, "
             "each a fresh process (imports included).", "", "| job | seconds |", "|---|---:|"]
    lines += [f"| {name} | {sec:.2f} |" for name, sec in rows]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
