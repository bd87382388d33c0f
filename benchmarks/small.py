#!/usr/bin/env python3
"""Small data stays fast: Kaplan-Meier and log-rank per call at N = 100, 1,000, 10,000, ltfu vs
statsmodels vs lifelines; writes benchmarks/SMALL.md.

    PYTHONPATH=src .venv/bin/python benchmarks/small.py [--sizes 100 1000 10000] [--repeats 15]

Most trials have fewer than 500 patients and resampling calls these functions thousands of times,
so per-call overhead is what counts here.  Data: ``benchmarks/run.py``'s ``make_data`` (exponential
times rounded to 0.1, about 30% censored, two groups).  Every tool is timed in the same process,
the tools interleaved within each repeat (so a busy machine slows them alike); a repeat is the mean
of as many calls as fill about 0.2 s; the table gives the median over repeats, in microseconds, of
CPU time of the thread (``time.thread_time``), which other processes on the machine do not add to.

Rows:
  km             the fit.  ltfu ``kaplan_meier(t, e)`` (estimate, Greenwood errors; the confidence
                 limits are computed when first read); statsmodels ``SurvfuncRight(t, e)`` (estimate
                 and errors, no limits); lifelines ``KaplanMeierFitter().fit(t, e)`` (with limits).
  km + median    the fit and the median with its 95% limits: ltfu ``.median`` (R's quantile rule on
                 the survival curve and both limits); statsmodels ``quantile(0.5)`` and
                 ``quantile_ci(0.5)``; lifelines ``median_survival_time_`` and
                 ``median_survival_times(confidence_interval_)``.
  logrank        two groups: ltfu ``logrank(t, e, g)``; statsmodels ``survdiff(t, e, g)``;
                 lifelines ``logrank_test``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def cases(n: int) -> dict:
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from lifelines.utils import median_survival_times
    from run import make_data
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    from ltfu.stats import kaplan_meier, logrank

    t, e, g, _, _ = make_data(n)
    g0, g1 = g == 0, g == 1

    def lifelines_median():
        k = KaplanMeierFitter().fit(t, e)
        return k.median_survival_time_, median_survival_times(k.confidence_interval_)

    def statsmodels_median():
        s = SurvfuncRight(t, e)
        return s.quantile(0.5), s.quantile_ci(0.5)

    return {
        "km": {"ltfu": lambda: kaplan_meier(t, e), "statsmodels": lambda: SurvfuncRight(t, e),
               "lifelines": lambda: KaplanMeierFitter().fit(t, e)},
        "km + median": {"ltfu": lambda: kaplan_meier(t, e).median, "statsmodels": statsmodels_median,
                        "lifelines": lifelines_median},
        "logrank": {"ltfu": lambda: logrank(t, e, g), "statsmodels": lambda: survdiff(t, e, g),
                    "lifelines": lambda: logrank_test(t[g0], t[g1], e[g0], e[g1])},
    }


def per_call(f, seconds: float = 0.2) -> tuple[int, float]:
    """(number of calls, CPU seconds per call) for a batch lasting about ``seconds``."""
    f()
    t0 = time.thread_time()
    f()
    one = max(time.thread_time() - t0, 1e-6)
    calls = max(1, int(seconds / one))
    t0 = time.thread_time()
    for _ in range(calls):
        f()
    return calls, (time.thread_time() - t0) / calls


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[100, 1_000, 10_000])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", type=Path, default=HERE / "SMALL.md")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    for n in args.sizes:
        for op, tools in cases(n).items():
            times = {tool: [] for tool in tools}
            for _ in range(args.repeats):
                for tool, f in tools.items():
                    times[tool].append(per_call(f)[1])
            med = {tool: statistics.median(v) for tool, v in times.items()}
            rows.append((op, n, med))
            print(op, n, {k: f"{v * 1e6:.0f} us" for k, v in med.items()}, flush=True)
    lines = ["# Small data: per-call times", "",
             f"Written by `benchmarks/small.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Microseconds per call, median of "
             f"{args.repeats} repeats, tools interleaved in one process, thread CPU time (see the script's docstring "
             "for what each row computes). `x ltfu`: the peer's time divided by ltfu's (above 1: ltfu is faster).",
             "", "| operation | N | ltfu us | statsmodels us | x ltfu | lifelines us | x ltfu |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for op, n, med in rows:
        lt = med["ltfu"]
        lines.append(f"| {op} | {n:,} | {lt * 1e6:.0f} | {med['statsmodels'] * 1e6:.0f} | "
                     f"{med['statsmodels'] / lt:.2f} | {med['lifelines'] * 1e6:.0f} | {med['lifelines'] / lt:.2f} |")
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
