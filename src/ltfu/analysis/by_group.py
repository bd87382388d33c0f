"""Event-free and overall survival across the levels of one baseline column (``ltfu report --by
centre``): per level the patients, events, median and rates at the report's months, and the
log-rank test across the levels.  Each endpoint's curves come from one count over every level (one
scan with an engine), R's time merging pooled over the levels as ``survfit(Surv(...) ~ centre)``.
Shown in the survival section."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltfu.analysis.common import fmt_ci, num
from ltfu.analysis.plan import Plan
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import Table


def _labels(values) -> tuple[np.ndarray, np.ndarray]:
    """(text label per patient, known): yes/no columns read "yes" and "no"."""
    s = pd.Series(values, dtype=object)
    known = s.notna().to_numpy()
    labels = np.array(["yes" if v is True else "no" if v is False else str(v) for v in s[known]], dtype=object)
    out = np.full(len(s), None, dtype=object)
    out[known] = labels
    return out, known


def build(plan: Plan) -> tuple[dict, tuple]:
    """(numbers, tables) of the comparison across ``options.by``; nothing without it."""
    from ltfu.analysis.survival import fmt_rate, km_entry

    column, opts = plan.options.by, plan.options
    if column is None:
        return {}, ()
    name = f"survival_by_{column}"
    title = f"Event-free and overall survival by {column}"
    numbers: dict[str, Any] = {"column": column}
    if column not in plan.cohort.data.columns or plan.cohort.data[column].isna().all():
        numbers["note"] = f"{column}: no value in the data, so survival is not compared across it"
        return numbers, (Table(name, title, ("endpoint", column), (), notes=(numbers["note"],)),)
    rows, notes = [], []
    for key in ("efs", "os"):
        e = plan.survival_endpoints[key]
        labels, known = _labels(plan.aligned(e, column))
        entry: dict[str, Any] = {"n_missing": int((~known).sum()), "levels": {}}
        numbers[key] = entry
        if entry["n_missing"]:
            notes.append(f"{e.label}: {entry['n_missing']} patient(s) without a {column} value are not in this "
                         "table (they are in every other one).")
        if not known.any():
            continue
        group = labels[known].astype(str)
        kms = plan.counter.kaplan_meier_by(e.time[known], e.status[known], group, conf_type=opts.conf_type,
                                           conf_level=opts.conf_level)
        for level, km in kms.items():
            got = entry["levels"][str(level)] = km_entry(km, opts)
            rows.append((e.label, str(level), got["n"], got["events"],
                         fmt_ci(got["median_months"], got["median_lower_months"], got["median_upper_months"]),
                         *[fmt_rate(r) for r in got["rates"].values()]))
        if len(kms) < 2:
            entry["logrank"] = {"note": f"one {column} value only: nothing to compare"}
            continue
        try:
            lr = plan.counter.logrank(e.time[known], e.status[known], group)
            entry["logrank"] = {"statistic": num(lr.statistic), "df": num(lr.df), "p_value": num(lr.p_value)}
            notes.append(f"{e.label}: log-rank test across the {len(kms)} {column} values, chi-square "
                         f"{lr.statistic:.2f} on {lr.df:g} df, p = {lr.p_value:.3g}.")
        except (ConvergenceError, InvalidInputError) as exc:
            entry["logrank"] = {"error": str(exc)}
            notes.append(f"{e.label}: no log-rank test across {column}: {exc}")
    rate_cols = tuple(f"{m} mo, % (95% CI)" for m in opts.rate_months)
    table = Table(name, f"{title} (Kaplan-Meier; months; confidence intervals {opts.conf_type} transformed)",
                  ("endpoint", column, "n", "events", "median (95% CI)", *rate_cols), tuple(rows),
                  notes=("Times closer than R's tolerance are merged over all the values together, as R's "
                         f"survfit(Surv(...) ~ {column}).", *notes))
    return numbers, (table,)
