"""Section "Baseline characteristics" (Table 1): overall and by disease burden, with tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.analysis.common import COMPARED, GROUPS, assoc_test, fmt, fmt_p, num
from ltfu.analysis.plan import Plan
from ltfu.analysis.tally import Tally, burden_codes, tally_frame
from ltfu.formatting import superscript
from ltfu.results import Part, Section, Table

LEVEL_NAMES = {"sex": {"F": "Female", "M": "Male", "other": "Other", "unknown": "Sex unknown"}}
ROWS = (
    # column, label, kind
    ("age", "Age, years: median (range)", "continuous"),
    ("sex", "Sex", "categorical"),
    ("ph_positive", "Philadelphia chromosome positive", "binary"),
    ("prior_lines", "Prior lines of therapy: median (range)", "continuous"),
    ("prior_allo_hct", "Prior allogeneic HCT", "binary"),
    ("prior_blinatumomab", "Prior blinatumomab", "binary"),
    ("prior_inotuzumab", "Prior inotuzumab ozogamicin", "binary"),
    ("marrow_blasts_pct", "Marrow blasts before infusion, %: median (range)", "continuous"),
    ("extramedullary", "Extramedullary disease", "binary"),
    ("dose_cells_per_kg", "CAR T-cell dose, cells/kg", "categorical"),
    ("conditioning", "Conditioning", "categorical"),
)
ROWS_KIND = tuple((col, kind) for col, _, kind in ROWS)
# the columns that define the burden groups (marrow blasts >= the threshold, or extramedullary
# disease): compared across those groups they differ by construction, so no test is computed
DEFINING = ("marrow_blasts_pct", "extramedullary")
NOT_TESTED = "defines the burden groups"


def _test(col, compute):
    """(p, the test's name in results.json, its name in the table) of ``compute()`` (p, name), or no
    test for a column that defines the groups (``DEFINING``)."""
    if col in DEFINING:
        return None, f"not tested: {NOT_TESTED}", NOT_TESTED
    p, name = compute()
    return p, name, name or ""


def _median(values, counts):
    """np.median of the observations ``counts[j]`` times ``values[j]`` (values sorted): the middle
    one, or the mean of the two middle ones, as np.median takes them."""
    n = int(counts.sum())
    cum = np.cumsum(counts)
    lo, hi = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
    return values[lo] if lo == hi else (values[lo] + values[hi]) / 2


def _continuous(tally: Tally, col, label):
    groups = [g for g, _ in GROUPS]
    digits = 1 if col == "marrow_blasts_pct" else 0
    values = np.array(tally.values, dtype=float)
    order = np.argsort(values, kind="stable")
    values, counts = values[order], tally.counts[:, order]
    cells: list[str] = []
    entry: dict[str, Any] = {}
    for i, g in enumerate(groups):
        c = counts[i]
        held = np.flatnonzero(c)
        n = int(c.sum())
        med = num(_median(values, c)) if n else None
        lo, hi = (values[held[0]], values[held[-1]]) if n else (None, None)
        entry[g] = {"n": n, "median": med, "min": num(lo) if n else None, "max": num(hi) if n else None}
        cells.append("-" if not n else f"{fmt(med, digits)} ({fmt(lo, digits)}-{fmt(hi, digits)})")
    low, high = counts[1], counts[2]
    p, entry["test"], shown = _test(col, lambda: (
        num(stats.wilcoxon_ranksum_counts(values, low, high).p_value) if low.sum() and high.sum() else None,
        "Wilcoxon rank-sum"))
    entry["p_value"] = p
    return entry, [(label, *cells, fmt_p(p), shown), *_unknown_row(tally.missing, entry)]


def _unknown_row(missing, entry):
    """gtsummary's "Unknown" row: how many patients of each group have no value (none: no row)."""
    counts = {g: int(missing[i]) for i, (g, _) in enumerate(GROUPS)}
    for g, _ in GROUPS:
        entry[g]["unknown"] = counts[g]
    if not any(counts.values()):
        return []
    return [("    Unknown", *[str(counts[g]) for g, _ in GROUPS], "", "")]


def _categorical(tally: Tally, col, label, kind):
    groups = [g for g, _ in GROUPS]
    # each distinct value is converted (to boolean or text) once, then its counts added to its level's
    uniq = list(tally.values)
    levels: list[Any]
    names: dict[Any, str]
    if kind == "binary":
        as_level = pd.Series(uniq, dtype=object).astype("boolean")
        levels, names = [True], {True: "yes"}
        level_of = np.where(as_level.fillna(False).to_numpy(bool), 0, -1)      # True -> level 0
        gone = as_level.isna().to_numpy()
    else:
        as_level = pd.Series(uniq, dtype=object).astype("string")
        levels = sorted(as_level.dropna().unique().tolist(), key=str)
        names = {v: LEVEL_NAMES.get(col, {}).get(v, str(v)) for v in levels}
        rank = {v: i for i, v in enumerate(levels)}
        gone = as_level.isna().to_numpy()
        level_of = np.array([-1 if g else rank[v] for v, g in zip(as_level.tolist(), gone)], dtype=np.int64)
    counts, denom = {}, {}
    for i, g in enumerate(groups):
        per_level = np.zeros(len(levels), dtype=np.int64)
        hit = level_of >= 0
        np.add.at(per_level, level_of[hit], tally.counts[i][hit])
        counts[g] = per_level.tolist()
        denom[g] = int(tally.counts[i][~gone].sum()) if len(uniq) else 0
    if kind == "binary":
        table = [[counts[g][0], denom[g] - counts[g][0]] for g in COMPARED]
    else:
        table = [counts[g] for g in COMPARED]
    p, test, shown = _test(col, lambda: assoc_test(table))
    entry: dict[str, Any] = {g: {"n": denom[g], "counts": {names[lv]: counts[g][i] for i, lv in enumerate(levels)}}
                             for g in groups}
    entry["p_value"], entry["test"] = p, test

    def pct(g, i):
        return f"{counts[g][i]} ({100 * counts[g][i] / denom[g]:.0f}%)" if denom[g] else "-"

    unknown = _unknown_row(tally.n - np.array([denom[g] for g in groups]), entry)
    if kind == "binary":
        return entry, [(label + ": n (%)", *[pct(g, 0) for g in groups], fmt_p(p), shown), *unknown]
    rows = [(label + ": n (%)", "", "", "", fmt_p(p), shown)]
    for i, lv in enumerate(levels):
        label_lv = _dose_label(lv) if col == "dose_cells_per_kg" and _is_number(lv) else names[lv]
        rows.append((f"    {label_lv}", *[pct(g, i) for g in groups], "", ""))
    return entry, rows + unknown


def build(plan: Plan) -> Part:
    """Table 1 from the cohort in memory (numpy tallies)."""
    d = plan.cohort.data
    codes = burden_codes(d["burden"])

    def tally(col):
        if col not in d.columns:
            return None
        s = d[col]
        if dict(ROWS_KIND)[col] == "continuous" and not pd.api.types.is_numeric_dtype(s.dtype):
            s = pd.to_numeric(s, errors="coerce")
        return tally_frame(s, codes)

    return from_tallies(tally, n=tally_frame(d["burden"], codes).n)


def from_tallies(tally, *, n) -> Part:
    """Table 1 from ``tally(column)`` (a Tally, or None when the column is absent) and ``n``, the
    patients per group (all, low, high burden): whoever counted them (``ltfu.analysis.tally``)."""
    rows, numbers = [], {}
    for col, label, kind in ROWS:
        t = tally(col)
        if t is None or not t.counts[0].sum():
            continue
        entry, new = _continuous(t, col, label) if kind == "continuous" else _categorical(t, col, label, kind)
        numbers[col] = entry
        rows += new
    n = {g: int(n[i]) for i, (g, _) in enumerate(GROUPS)}
    columns = ("characteristic", f"All (n={n['all']})", f"Low burden (n={n['low_burden']})",
               f"High burden (n={n['high_burden']})", "p", "test")
    table = Table("baseline", "Baseline characteristics, overall and by disease burden", columns,
                  tuple(rows), notes=("p: low vs high burden. Percentages are of the patients with a known value; "
                         "'Unknown' counts those without one. Marrow blasts and extramedullary disease define "
                         "the burden groups, so they are not tested.",))
    numbers["burden"] = {"low": n["low_burden"], "high": n["high_burden"],
                         "unknown": int(n["all"] - n["low_burden"] - n["high_burden"])}
    return Part("baseline", numbers, (table,), (), Section("baseline", "Baseline characteristics",
                                                          tables=("baseline",)))


def _dose_label(v):
    """3e6 -> "3 \u00d7 10\u2076 cells/kg", as a journal writes it."""
    mant, exp = f"{float(v):.1e}".split("e")
    return f"{float(mant):g} \u00d7 10{superscript(str(int(exp)))} cells/kg"


def _is_number(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False
