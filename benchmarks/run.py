#!/usr/bin/env python3
"""Time ltfu against its peers, each cell in its own process, and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py                       # N = 1e3 .. 1e6, every operation
    .venv/bin/python benchmarks/run.py --sizes 1000 100000 --ops km logrank

Operations: Kaplan-Meier with CI and median (km), two-group log-rank (logrank), Cox with Efron ties
and 4 covariates (cox), cumulative incidence with variance (cif), plus the one-sort numpy floor
for Kaplan-Meier; Fine-Gray regression with 4 covariates and crr's sandwich variance (finegray:
only R cmprsk::crr fits it); and reading a simulated registry CSV into a validated cohort (read:
ltfu's load + validation, against pandas and pyarrow merely parsing the same file, as floors).
Tools: ltfu, lifelines, scikit-survival, statsmodels and R (survival, cmprsk) when ``Rscript`` is
on the PATH.  Each cell reports seconds (best of --repeat fits, data generation and imports
excluded), the peak resident memory the fit added (MiB), and whether its answer matches ltfu's
(so that a fast wrong answer cannot win).  Data: exponential times rounded to 0.1 (about
1,150 distinct times), 30% censoring, a binary group, 4 covariates, 2 competing causes; the same
seed in every process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPS = ("km", "logrank", "cox", "cif", "finegray", "read")
TOOLS = {
    "km": ("ltfu", "numpy-floor", "statsmodels", "lifelines", "scikit-survival", "R"),
    "logrank": ("ltfu", "statsmodels", "lifelines", "scikit-survival", "R"),
    "cox": ("ltfu", "statsmodels", "lifelines", "lifelines-batch", "scikit-survival", "R"),
    "cif": ("ltfu", "scikit-survival", "lifelines", "R"),
    "finegray": ("ltfu", "R"),
    "read": ("ltfu", "pandas", "pyarrow"),
}
# the largest N at which a slow peer is still run (beyond it the cell says "skipped")
LIMITS = {("cox", "scikit-survival"): 100_000, ("cox", "lifelines"): 1_000_000,
          ("cif", "lifelines"): 100_000, ("cox", "statsmodels"): 1_000_000,
          ("finegray", "R"): 10_000}      # cmprsk::crr did not finish N = 1e5 within 600 s


def make_data(n: int, seed: int = 20180201):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.normal(size=n),
                         rng.integers(0, 2, n)]).astype(float)
    beta = np.array([0.3, -0.5, 0.2, 0.4])
    t_event = rng.exponential(20.0 * np.exp(-(x @ beta)))
    t_cens = rng.exponential(45.0, n)
    time_ = np.round(np.minimum(t_event, t_cens), 1) + 0.1
    event = (t_event <= t_cens).astype(int)
    cause = np.where(event == 1, rng.integers(1, 3, n), 0)
    group = x[:, 1].astype(int)
    return time_, event, group, x, cause


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------------------------
# one cell, run inside its own process

def _fit(op: str, tool: str, n: int):
    """Return (fit callable, answer-extractor). The callable does the whole timed computation."""
    import numpy as np

    if op == "read":
        return _read_fit(tool, n)
    t, e, g, x, cause = make_data(n)
    if op == "km":
        if tool == "ltfu":
            from ltfu.stats import kaplan_meier

            def f():
                r = kaplan_meier(t, e, conf_type="log")
                return r.median.value, r.ci_lower[-1]
            return f
        if tool == "numpy-floor":
            def f():
                u, inv = np.unique(t, return_inverse=True)
                d = np.bincount(inv, weights=e)
                c = np.bincount(inv)
                at_risk = c[::-1].cumsum()[::-1]
                s = np.cumprod(1 - d / at_risk)
                return float(u[np.argmax(s <= 0.5)]), None
            return f
        if tool == "statsmodels":
            from statsmodels.duration.survfunc import SurvfuncRight

            def f():
                r = SurvfuncRight(t, e)
                return r.quantile(0.5), None
            return f
        if tool == "lifelines":
            from lifelines import KaplanMeierFitter

            def f():
                k = KaplanMeierFitter().fit(t, e)
                return k.median_survival_time_, None
            return f
        if tool == "scikit-survival":
            from sksurv.nonparametric import kaplan_meier_estimator

            def f():
                tt, s, _ci = kaplan_meier_estimator(e.astype(bool), t, conf_type="log-log")
                return float(tt[np.argmax(s <= 0.5)]), None
            return f
    if op == "logrank":
        if tool == "ltfu":
            from ltfu.stats import logrank

            return lambda: (logrank(t, e, g).statistic,)
        if tool == "statsmodels":
            from statsmodels.duration.survfunc import survdiff

            return lambda: (survdiff(t, e, g)[0],)
        if tool == "lifelines":
            from lifelines.statistics import logrank_test

            return lambda: (logrank_test(t[g == 0], t[g == 1], e[g == 0], e[g == 1]).test_statistic,)
        if tool == "scikit-survival":
            from sksurv.compare import compare_survival
            from sksurv.util import Surv

            y = Surv.from_arrays(e.astype(bool), t)
            return lambda: (compare_survival(y, g)[0],)
    if op == "cox":
        if tool == "ltfu":
            from ltfu.stats import cox

            return lambda: tuple(cox(x, t, e, ties="efron").coef)
        if tool == "statsmodels":
            from statsmodels.duration.hazard_regression import PHReg

            return lambda: tuple(PHReg(t, x, status=e, ties="efron").fit().params)
        if tool in ("lifelines", "lifelines-batch"):
            import pandas as pd
            from lifelines import CoxPHFitter

            df = pd.DataFrame(x, columns=["x1", "x2", "x3", "x4"]).assign(T=t, E=e)
            mode = tool == "lifelines-batch"
            return lambda: tuple(CoxPHFitter().fit(df, "T", "E", batch_mode=mode).params_.to_numpy())
        if tool == "scikit-survival":
            from sksurv.linear_model import CoxPHSurvivalAnalysis
            from sksurv.util import Surv

            y = Surv.from_arrays(e.astype(bool), t)
            return lambda: tuple(CoxPHSurvivalAnalysis(ties="efron", tol=1e-9).fit(x, y).coef_)
    if op == "cif":
        probe = np.array([5.0, 10.0, 20.0, 40.0])
        if tool == "ltfu":
            from ltfu.stats import cumulative_incidence

            return lambda: tuple(cumulative_incidence(t, cause).at(probe, cause=1).estimate)
        if tool == "scikit-survival":
            from sksurv.nonparametric import cumulative_incidence_competing_risks

            def f():
                tt, cif = cumulative_incidence_competing_risks(cause, t)[:2]
                idx = np.searchsorted(tt, probe, side="right") - 1
                return tuple(cif[1][idx])
            return f
        if tool == "lifelines":
            from lifelines import AalenJohansenFitter

            def f():
                a = AalenJohansenFitter(calculate_variance=True, seed=1).fit(t, cause, event_of_interest=1)
                s = a.cumulative_density_.iloc[:, 0]
                return tuple(float(s[s.index <= p].iloc[-1]) for p in probe)
            return f
    if op == "finegray" and tool == "ltfu":
        from ltfu.stats import fine_gray

        def f():
            r = fine_gray(x, t, cause, cause=1)
            return (*r.coef, *r.se)
        return f
    raise KeyError((op, tool))


_READ_DIR = None


def _read_fit(tool: str, n: int):
    """A simulated registry written as CSV (outside the timing), then read by ``tool``."""
    global _READ_DIR
    _READ_DIR = tempfile.TemporaryDirectory()
    path = Path(_READ_DIR.name) / "registry.csv"
    # written by another process, so that this one's memory high-water mark is the reading alone
    subprocess.run([sys.executable, "-m", "ltfu.cli", "simulate", "--patients", str(n), "--seed", "20180201",
                    "--out", str(path)], check=True, capture_output=True)
    if tool == "ltfu":
        from ltfu.cohort import load_cohort

        return lambda: (float(load_cohort(path, cutoff="2026-06-30").n),)
    if tool == "pandas":
        import pandas as pd

        return lambda: (float(len(pd.read_csv(path))),)
    if tool == "pyarrow":
        import pyarrow.csv as pcsv

        return lambda: (float(pcsv.read_csv(path).num_rows),)
    raise KeyError(("read", tool))


def run_cell(op: str, tool: str, n: int, repeat: int) -> dict:
    if tool == "R":
        return run_r_cell(op, n, repeat)
    f = _fit(op, tool, n)          # imports and data are in memory before the baseline
    base = _maxrss_mib()
    f()                            # the first fit: its peak resident memory above the baseline
    peak = max(0.0, _maxrss_mib() - base)
    best = float("inf")
    answer = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = f()
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "peak_mib": peak, "answer": _plain(answer)}


def _plain(a):
    import numpy as np

    if a is None:
        return None
    return [None if v is None else float(np.asarray(v, dtype=float)) for v in a]


R_CODE = {
    "km": "f <- function() { s <- survfit(Surv(t, e) ~ 1); q <- quantile(s, 0.5)$quantile; c(q, NA) }",
    "logrank": "f <- function() { survdiff(Surv(t, e) ~ g)$chisq }",
    "cox": "f <- function() { coef(coxph(Surv(t, e) ~ x1 + x2 + x3 + x4, ties='efron')) }",
    "cif": ("f <- function() { r <- cmprsk::cuminc(t, cause); "
            "cmprsk::timepoints(r, c(5, 10, 20, 40))$est[1, ] }"),
    "finegray": ("f <- function() { z <- cmprsk::crr(t, cause, cbind(x1, x2, x3, x4), failcode = 1, "
                 "cencode = 0); c(z$coef, sqrt(diag(z$var))) }"),
}


def run_r_cell(op: str, n: int, repeat: int) -> dict:
    import numpy as np

    t, e, g, x, cause = make_data(n)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "d.csv"
        np.savetxt(data, np.column_stack([t, e, g, x, cause]), delimiter=",",
                   header="t,e,g,x1,x2,x3,x4,cause", comments="", fmt="%.10g")
        script = Path(tmp) / "cell.R"
        script.write_text(f"""
suppressMessages(library(survival))
d <- read.csv('{data}'); attach(d)
{R_CODE[op]}
invisible(f())
best <- Inf
for (i in seq_len({repeat})) {{
  t0 <- proc.time()[['elapsed']]; a <- f(); best <- min(best, proc.time()[['elapsed']] - t0)
}}
cat(jsonlite::toJSON(list(seconds = best, answer = as.numeric(a)), digits = NA, auto_unbox = TRUE))
""")
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    ans = res["answer"]
    return {"seconds": res["seconds"], "peak_mib": None,
            "answer": [None if v in (None, "NA") else float(v) for v in (ans if isinstance(ans, list) else [ans])]}


# ----------------------------------------------------------------------------------------------
# the driver

def _matches(op: str, ref, other) -> str:
    """Compare a peer's answer with ltfu's at the precision the operation allows."""
    import numpy as np

    if ref is None or other is None:
        return "-"
    a = np.array([np.nan if v is None else v for v in ref], float)
    b = np.array([np.nan if v is None else v for v in other], float)
    k = min(a.size, b.size)
    if op == "km":
        k = 1  # the median is comparable across tools; CIs differ by design
    a, b = a[:k], b[:k]
    tolerance = 1e-5 if op == "finegray" else 1e-6   # crr stops at its default gtol 1e-6
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return "-"
    rel = np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(a[ok]), 1e-12))
    return "yes" if rel < tolerance else f"no (rel. diff {rel:.1e})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--ops", nargs="+", choices=OPS, default=list(OPS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--cell", nargs=3, metavar=("OP", "TOOL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cell:
        op, tool, n = args.cell
        print(json.dumps(run_cell(op, tool, int(n), args.repeat)))
        return 0
    have_r = shutil.which("Rscript") is not None
    rows = []
    for op in args.ops:
        for n in args.sizes:
            cells = {}
            for tool in TOOLS[op]:
                if tool == "R" and not have_r:
                    continue
                if n > LIMITS.get((op, tool), float("inf")):
                    cells[tool] = {"skipped": f"not run above N = {LIMITS[(op, tool)]:,}"}
                    continue
                cmd = [sys.executable, str(Path(__file__).resolve()), "--repeat", str(args.repeat),
                       "--cell", op, tool, str(n)]
                try:
                    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                                         env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
                    cells[tool] = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                                   else {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:120]})
                except subprocess.TimeoutExpired:
                    cells[tool] = {"error": f"timeout after {args.timeout:.0f} s"}
                print(f"{op:8s} N={n:>9,d} {tool:16s} {cells[tool]}", file=sys.stderr, flush=True)
            rows.append((op, n, cells))
    kept = _rows_of_other_ops(args.out, set(args.ops))
    write_results(rows, args.out, args.repeat, kept)
    print(f"wrote {args.out}")
    return 0


def _rows_of_other_ops(path: Path, ran: set) -> dict:
    """Table lines of the operations not run this time, kept from the existing file."""
    kept = {}
    if path.exists():
        for line in path.read_text().splitlines():
            cells = line.split("|")
            if len(cells) > 2 and cells[1].strip() in OPS and cells[1].strip() not in ran:
                kept.setdefault(cells[1].strip(), []).append(line)
    return kept


def write_results(rows, path: Path, repeat: int, kept=None) -> None:
    import platform

    lines = ["# Benchmarks", "",
             f"Written by `benchmarks/run.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Best of {repeat} fits; each cell "
             "in its own process; data generation and imports excluded. Peak MiB: resident memory the first fit "
             "added above the process's baseline after imports and data (ru_maxrss). `x ltfu`: the peer's time divided "
             "by ltfu's (above 1: ltfu is faster). `matches`: the peer's answer equals ltfu's to a relative "
             "1e-6 (km: the median; logrank: the statistic; cox: the coefficients; cif: the estimates at 4 "
             "times; finegray: coefficients and standard errors, to 1e-5 because crr stops at its default "
             "gtol; read: the number of patients). The read peers only parse the file: they are floors, not "
             "equivalents (ltfu also validates every cell and derives the analysis times). A run of some "
             "operations only (--ops) keeps the other operations' rows from the previous run.", "",
             "| operation | N | tool | seconds | peak MiB added | x ltfu | matches ltfu |",
             "|---|---:|---|---:|---:|---:|---|"]
    kept = kept or {}
    ran = {op for op, _, _ in rows}
    table = []
    for op in OPS:
        if op in kept:
            table.extend(kept[op])
        elif op in ran:
            table.extend(_result_lines([r for r in rows if r[0] == op]))
    lines.extend(table)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _result_lines(rows):
    lines = []
    for op, n, cells in rows:
        ref = cells.get("ltfu", {})
        for tool, c in cells.items():
            if "seconds" in c:
                ratio = (f"{c['seconds'] / ref['seconds']:.2f}" if tool != "ltfu" and ref.get("seconds")
                         else "")
                peak = "-" if c.get("peak_mib") is None else f"{c['peak_mib']:.0f}"
                match = "" if tool == "ltfu" else _matches(op, ref.get("answer"), c.get("answer"))
                lines.append(f"| {op} | {n:,} | {tool} | {c['seconds']:.4f} | {peak} | {ratio} | {match} |")
            else:
                lines.append(f"| {op} | {n:,} | {tool} | {c.get('skipped') or c.get('error')} | | | |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
