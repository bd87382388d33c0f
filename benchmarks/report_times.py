#!/usr/bin/env python3
"""Time the whole job a user runs and write benchmarks/REPORT_TIMES.md.

    .venv/bin/python benchmarks/report_times.py [--sizes 10000 100000] [--repeat 3] [--workers 1 auto]

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


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def _kib(pid: int, path: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith(key)), 0)
    except OSError:
        return 0


def peak_memory(cmd, env=None):
    """(peak MiB summed over the command's process tree, proportional set size: a page shared by a
    forked worker and its parent counted once; the peak resident MiB of its largest process, exact,
    from the kernel's accounting at exit), in a run of its own: the sum is sampled every 0.05 s for
    the first 2 s, then every 0.25 s (sampling costs CPU: the timed runs are unsampled)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    start, pss = time.perf_counter(), 0
    while True:
        done, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if done:
            break
        tree, todo = [], [proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += _children(pid)
        pss = max(pss, sum(_kib(p, "smaps_rollup", "Pss:") for p in tree))
        time.sleep(0.05 if time.perf_counter() - start < 2 else 0.25)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return pss / 1024.0, usage.ru_maxrss / 1024.0


def best_of(cmd, repeat, env=None):
    """(best wall seconds over ``repeat`` fresh processes, then peak_memory's two figures)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        best = min(best, time.perf_counter() - t0)
    return (best, *peak_memory(cmd, env))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "REPORT_TIMES.md")
    ap.add_argument("--engines", nargs="+", default=["numpy"], choices=["auto", "numpy", "duckdb", "spark"],
                    help="report each registry with each of these --engine values")
    ap.add_argument("--quick", action="store_true", help="registries only (no --help, no demo)")
    ap.add_argument("--workers", nargs="+", default=["auto"],
                    help="report each registry with each of these LTFU_WORKERS values (auto: unset)")
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
                for workers in args.workers:
                    env = {k: v for k, v in os.environ.items() if k != "LTFU_WORKERS"}
                    if workers != "auto":
                        env["LTFU_WORKERS"] = workers
                    who = "" if workers == "auto" else f"`LTFU_WORKERS={workers}` "
                    out = f"{d}/r{n}{engine}{workers}"
                    rows.append((f"{who}`ltfu report --engine {engine}` on a simulated registry of {n:,} patients "
                                 "(all formats)", *best_of([*LTFU, "report", reg, "--out", out, "--quiet",
                                                            "--engine", engine], max(1, args.repeat - 1), env)))
                    print(rows[-1], flush=True)
    try:
        load = f" Load average (1 min) at the end: {os.getloadavg()[0]:.1f}."
    except OSError:
        load = ""
    lines = ["# Whole-job timings", "",
             f"Written by `benchmarks/report_times.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Wall-clock seconds, best of several runs, "
             "each a fresh process (imports included); memory from one more run: the peak of the proportional "
             "set size summed over the job's processes (pages a forked worker shares with its parent counted "
             "once; sampled every 0.05 s for 2 s, then every 0.25 s, so a start-up's peak may be missed), "
             "and the peak resident size of its largest process (exact, from the kernel at exit)."
             f"{load}", "", "| job | seconds | peak MiB, all processes (PSS) | peak MiB, largest process (RSS) |",
             "|---|---:|---:|---:|"]
    lines += [f"| {name} | {sec:.2f} | {pss:.0f} | {rss:.0f} |" for name, sec, pss, rss in rows]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
