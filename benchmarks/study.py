#!/usr/bin/env python3
"""Time the study analyses at registry scale and write benchmarks/STUDY.md.

    PYTHONPATH=src .venv/bin/python benchmarks/study.py [--sizes 10000 100000] [--label after]

For each size, a simulated registry study (``ltfu simulate --out DIR``: patients, events,
assessments, therapies) goes through the steps a user waits for, each in a fresh process:

generate         the four tables in memory (``ltfu.simulate``, ``ltfu.simulate_study``)
write            ``ltfu simulate --out DIR`` as the command does it (generate, then write Parquet)
load+validate    ``ltfu.load_study(DIR)``: read and validate the four tables
safety section   the report's "Long-term safety" section (``ltfu.analysis.long_term.build``)
persistence      the report's "Persistence and immune reconstitution" section
analyse          ``ltfu.analysis.analyse(study)``: every section of the report (no files written)

The section steps start from the loaded study (pickled by the load step), so their time is the
section's alone; their peak memory is the whole process's (the study included).  Wall-clock
seconds of the step inside its process (imports of the step included, interpreter start-up not),
its CPU seconds (user + system: on a shared machine the wall clock also counts other work; the
load average at the start of each size is recorded) and the process's peak resident memory
(``getrusage``).  Results go to benchmarks/STUDY.json under ``--label`` (so a "before" and an
"after" run sit side by side; ``notes`` there are printed under the header) and STUDY.md is
rewritten from it (``--render``: only that).  Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = ("generate", "write", "load+validate", "safety section", "persistence section", "analyse")
TIMEOUT = 1800


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load_pickle(work: Path):
    with open(work / "study.pkl", "rb") as fh:
        return pickle.load(fh)


def run_step(step: str, n: int, work: Path) -> dict:
    """One step in this process; returns the counts it saw."""
    info = {}
    t0, c0 = time.perf_counter(), _cpu()
    if step == "generate":
        from ltfu.simulate import simulate
        from ltfu.simulate_study import simulate_tables

        patients = simulate(n, seed=1)
        tables = simulate_tables(patients, seed=1)
        info = {"patients": len(patients), **{k: len(v) for k, v in tables.items()}}
    elif step == "write":
        from ltfu.simulate import write_registry

        write_registry(work / "study", n, seed=1)
    elif step == "load+validate":
        import ltfu

        study = ltfu.load_study(work / "study")
        info = {"assessments": len(study.assessments), "events": len(study.events),
                "warnings": len(study.warnings)}
        elapsed, cpu = time.perf_counter() - t0, _cpu() - c0
        with open(work / "study.pkl", "wb") as fh:
            pickle.dump(study, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return {"seconds": elapsed, "cpu_s": cpu, **info}
    else:
        study = _load_pickle(work)
        from ltfu.analysis import AnalysisOptions, Plan

        t0, c0 = time.perf_counter(), _cpu()
        if step == "analyse":
            from ltfu.analysis import analyse

            analyse(study, AnalysisOptions())
        else:
            from ltfu.analysis import long_term, persistence

            plan = Plan.build(study.cohort, AnalysisOptions())
            (long_term if step == "safety section" else persistence).build(plan, study)
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c0, **info}


def child(step: str, n: int, work: Path) -> None:
    out = run_step(step, n, work)
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def measure(step: str, n: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    try:
        p = subprocess.run([sys.executable, __file__, "--child", step, "--n", str(n), "--work", str(work)],
                           capture_output=True, text=True, env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "peak_mib": None, "note": f"over {TIMEOUT} s"}
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    if p.returncode or line is None:
        return {"seconds": None, "peak_mib": None, "note": p.stderr.strip().splitlines()[-1:] or "failed"}
    return json.loads(line[len("RESULT "):])


def render(data: dict) -> str:
    labels = list(data["runs"])
    lines = ["# The study analyses at registry scale", "",
             f"Written by `benchmarks/study.py` on {data['date']}: {data['machine']}. Each step in a fresh process; "
             "seconds of the step (wall clock, imports of the step included), its CPU seconds (user + system: "
             "what the step costs when other work shares the machine, as the wall clock does not show), and the "
             "process's peak resident memory (MiB). The section steps start from the loaded study (unpickled), so "
             "the memory includes it. Targets (issues 17 and 18): each step under 30 s and 2 GB at 1e5 patients.",
             "", *[f"- {note}" for note in data.get("notes", [])], *([""] if data.get("notes") else [])]
    for n in sorted({int(k) for r in data["runs"].values() for k in r}):
        counts = next((r[str(n)].get("counts") for r in data["runs"].values() if str(n) in r), {}) or {}
        lines.append(f"## {n:,} patients" + (f" ({counts.get('assessments', 0):,} assessments, "
                                               f"{counts.get('events', 0):,} events, {counts.get('therapies', 0):,} "
                                               "therapies)" if counts else ""))
        loads = [f"{lab} {data['runs'][lab][str(n)]['load_average']}" for lab in labels
                 if "load_average" in data["runs"][lab].get(str(n), {})]
        if loads:
            lines += ["", f"Load average (1 min) when the size started, {os.cpu_count()} cores: {', '.join(loads)}."]
        lines.append("")
        head = "| step | " + " | ".join(f"{lab}: s | {lab}: CPU s | {lab}: peak MiB" for lab in labels) + " |"
        lines += [head, "|---|" + "---:|---:|---:|" * len(labels)]
        for step in STEPS:
            cells = []
            for lab in labels:
                cell = data["runs"][lab].get(str(n), {}).get("steps", {}).get(step)
                if cell is None:
                    cells += ["", "", ""]
                elif cell.get("seconds") is None:
                    cells += [str(cell.get("note", "failed")), "", ""]
                else:
                    cpu = cell.get("cpu_s")
                    cells += [f"{cell['seconds']:.2f}", "" if cpu is None else f"{cpu:.2f}", f"{cell['peak_mib']:,.0f}"]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--label", default="after")
    ap.add_argument("--steps", nargs="+", default=list(STEPS))
    ap.add_argument("--child")
    ap.add_argument("--n", type=int)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--render", action="store_true", help="only rewrite STUDY.md from STUDY.json")
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child, args.n, args.work)
    store = HERE / "STUDY.json"
    data = json.loads(store.read_text()) if store.exists() else {"runs": {}}
    if args.render:
        (HERE / "STUDY.md").write_text(render(data))
        return None
    data["date"] = time.strftime("%Y-%m-%d")
    data["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    run = data["runs"].setdefault(args.label, {})
    for n in args.sizes:
        entry = run.setdefault(str(n), {"steps": {}})
        entry["load_average"] = round(os.getloadavg()[0], 1)      # other work on the machine at the start
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            for step in STEPS:
                if step not in args.steps and step not in ("write", "load+validate"):
                    continue
                res = measure(step, n, work)
                print(f"{n:>7} {step:<20} {res}", flush=True)
                if step in args.steps:
                    entry["steps"][step] = {k: res.get(k) for k in ("seconds", "cpu_s", "peak_mib", "note")}
                if step == "generate" and "assessments" in res:
                    entry["counts"] = {k: res[k] for k in ("patients", "events", "assessments", "therapies")}
    tmp = store.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, store)
    md = HERE / "STUDY.md"
    md.with_suffix(".tmp").write_text(render(data))
    os.replace(md.with_suffix(".tmp"), md)
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
