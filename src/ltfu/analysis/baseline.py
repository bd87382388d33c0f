"""Section "Baseline characteristics" (Table 1): overall and by disease burden, with tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.analysis.common import COMPARED, GROUPS, assoc_test, fmt, fmt_p, num
from ltfu.analysis.plan import Plan
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


def _continuous(x, masks, col, label):
    groups = [g for g, _ in GROUPS]
    digits = 1 if col == "marrow_blasts_pct" else 0
    cells, entry = [], {}
    for g in groups:
        v = x[masks[g] & ~np.isnan(x)]
        med = num(np.median(v)) if v.size else None
        entry[g] = {"n": int(v.size), "median": med, "min": num(v.min()) if v.size else None,
                    "max": num(v.max()) if v.size else None}
        cells.append("-" if not v.size else f"{fmt(med, digits)} ({fmt(v.min(), digits)}-{fmt(v.max(), digits)})")
    lo, hi = (x[masks[g] & ~np.isnan(x)] for g in COMPARED)
    p = num(stats.wilcoxon_ranksum(lo, hi).p_value) if lo.size and hi.size else None
    entry["p_value"], entry["test"] = p, "Wilcoxon rank-sum"
    return entry, [(label, *cells, fmt_p(p), "Wilcoxon rank-sum"), *_unknown_row(np.isnan(x), masks, entry)]


def _unknown_row(missing, masks, entry):
    """gtsummary's "Unknown" row: how many patients of each group have no value (none: no row)."""
    counts = {g: int((missing & masks[g]).sum()) for g, _ in GROUPS}
    for g, _ in GROUPS:
        entry[g]["unknown"] = counts[g]
    if not any(counts.values()):
        return []
    return [("    Unknown", *[str(counts[g]) for g, _ in GROUPS], "", "")]


def _categorical(s, masks, col, label, kind):
    groups = [g for g, _ in GROUPS]
    # each distinct value is converted (to boolean or text) once, not each row: codes per row by
    # pandas' hash factorisation, counts per group by bincount
    raw_codes, uniq = pd.factorize(s, use_na_sentinel=True)
    if kind == "binary":
        as_level = pd.Series(uniq).astype("boolean")
        levels, names = [True], {True: "yes"}
        level_of = np.where(as_level.fillna(False).to_numpy(bool), 0, -1)      # True -> level 0
        gone = as_level.isna().to_numpy()
    else:
        as_level = pd.Series(uniq).astype("string")
        levels = sorted(as_level.dropna().unique().tolist(), key=str)
        names = {v: LEVEL_NAMES.get(col, {}).get(v, str(v)) for v in levels}
        rank = {v: i for i, v in enumerate(levels)}
        gone = as_level.isna().to_numpy()
        level_of = np.array([-1 if g else rank[v] for v, g in zip(as_level.tolist(), gone)], dtype=np.int64)
    row_level = np.where(raw_codes >= 0, level_of[raw_codes] if len(uniq) else -1, -1)
    present = (raw_codes >= 0) & ~(gone[raw_codes] if len(uniq) else np.zeros(len(s), bool))
    counts = {g: np.bincount(row_level[masks[g] & (row_level >= 0)], minlength=len(levels))[:len(levels)].tolist()
              for g in groups}
    denom = {g: int((present & masks[g]).sum()) for g in groups}
    if kind == "binary":
        table = [[counts[g][0], denom[g] - counts[g][0]] for g in COMPARED]
    else:
        table = [counts[g] for g in COMPARED]
    p, test = assoc_test(table)
    entry = {g: {"n": denom[g], "counts": {names[lv]: counts[g][i] for i, lv in enumerate(levels)}} for g in groups}
    entry["p_value"], entry["test"] = p, test

    def pct(g, i):
        return f"{counts[g][i]} ({100 * counts[g][i] / denom[g]:.0f}%)" if denom[g] else "-"

    unknown = _unknown_row(~present, masks, entry)
    if kind == "binary":
        return entry, [(label + ": n (%)", *[pct(g, 0) for g in groups], fmt_p(p), test or ""), *unknown]
    rows = [(label + ": n (%)", "", "", "", fmt_p(p), test or "")]
    for i, lv in enumerate(levels):
        label_lv = _dose_label(lv) if col == "dose_cells_per_kg" and _is_number(lv) else names[lv]
        rows.append((f"    {label_lv}", *[pct(g, i) for g in groups], "", ""))
    return entry, rows + unknown


def build(plan: Plan) -> Part:
    d = plan.cohort.data
    masks = plan.masks()
    rows, numbers = [], {}
    for col, label, kind in ROWS:
        if col not in d.columns or d[col].isna().all():
            continue
        if kind == "continuous":
            entry, new = _continuous(pd.to_numeric(d[col], errors="coerce").to_numpy(float), masks, col, label)
        else:
            entry, new = _categorical(d[col], masks, col, label, kind)
        numbers[col] = entry
        rows += new
    n = {g: int(masks[g].sum()) for g, _ in GROUPS}
    columns = ("characteristic", f"All (n={n['all']})", f"Low burden (n={n['low_burden']})",
               f"High burden (n={n['high_burden']})", "p", "test")
    table = Table("baseline", "Baseline characteristics, overall and by disease burden", columns,
                  tuple(rows), notes=("p: low vs high burden. Percentages are of the patients with a known value; "
                         "'Unknown' counts those without one.",))
    numbers["burden"] = {"low": n["low_burden"], "high": n["high_burden"],
                         "unknown": int(n["all"] - n["low_burden"] - n["high_burden"])}
    return Part("baseline", numbers, (table,), (), Section("baseline", "Baseline characteristics",
                                                          tables=("baseline",)))


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _dose_label(v):
    """3e6 -> "3 \u00d7 10\u2076 cells/kg", as a journal writes it."""
    mant, exp = f"{float(v):.1e}".split("e")
    return f"{float(mant):g} \u00d7 10{str(int(exp)).translate(_SUPERSCRIPT)} cells/kg"


def _is_number(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False
