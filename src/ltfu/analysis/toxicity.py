"""Section "Safety" (acute toxicity): cytokine release syndrome and neurotoxicity by grade, their
rates with exact intervals, and their association with disease burden and other characteristics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.analysis.common import COMPARED, EXACT_MAX_N, GROUPS, assoc_test, fmt_ci, fmt_p, fmt_prop, proportion
from ltfu.analysis.models import MODEL_COLUMNS, side_by_side
from ltfu.analysis.plan import METHODS, TOXICITY_COVARIATES, TOXICITY_MULTIVARIABLE, Plan, covariates, term_label
from ltfu.defaults import SEVERE_GRADE
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import BarFigure, Part, Section, Table

NOT_RECORDED = "not recorded"
KINDS = (("crs", "crs_grade", "Cytokine release syndrome"), ("neurotox", "neurotox_grade", "Neurotoxicity"))


def _by_grade(plan: Plan, key, col, label, masks, numbers):
    d, opts = plan.cohort.data, plan.options
    grade = pd.to_numeric(d[col], errors="coerce").to_numpy(float)
    known = ~np.isnan(grade)
    rows: list[tuple] = []
    grade_counts: dict[str, Any] = {}
    for gr in range(6):
        cells = []
        for g, _ in GROUPS:
            n_g = int(((grade == gr) & masks[g]).sum())
            den = int((known & masks[g]).sum())
            grade_counts.setdefault(g, []).append(n_g)
            cells.append(f"{n_g} ({100 * n_g / den:.0f}%)" if den else "-")
        rows.append((f"Grade {gr}", *cells))
    if (~known).any():
        rows.append(("Not graded", *[str(int((~known & masks[g]).sum())) for g, _ in GROUPS]))
    scale_col = col.replace("_grade", "_scale")
    scales = sorted(d[scale_col].dropna().astype(str).unique()) if scale_col in d else []
    table = Table(f"{key}_grades", f"{label} by grade, overall and by disease burden",
                  ("grade", "All", "Low burden", "High burden"), tuple(rows),
                  notes=(f"Grading scale(s): {', '.join(scales) if scales else 'not recorded'}.",))
    # a group without a graded patient has no percentages to draw (its column in the table says "-")
    drawn = tuple((lab, tuple(grade_counts[g])) for g, lab in GROUPS[1:] if sum(grade_counts[g]))
    figure = BarFigure(f"{key}_grades", f"{label} grade by disease burden", tuple(str(g) for g in range(6)),
                       drawn) if drawn else None
    for thr_key, thr in (("severe", SEVERE_GRADE), ("any", 1)):
        entry = {g: proportion(((grade >= thr) & masks[g]).sum(), (known & masks[g]).sum(), opts) for g, _ in GROUPS}
        entry.update(entry["all"])
        entry["p_value"] = assoc_test([[int(((grade >= thr) & masks[g]).sum()), int(((grade < thr) & masks[g]).sum())]
                                       for g in COMPARED])[0]
        numbers[f"{thr_key}_{key}"] = entry
    numbers[f"{key}_grades"] = {g: dict(zip(map(str, range(6)), grade_counts[g])) for g, _ in GROUPS}
    numbers[f"{key}_scales"] = scales
    return table, figure


def _association(plan: Plan, numbers):
    d, opts = plan.cohort.data, plan.options
    rows, notes, numbers["association"] = [], [], {}
    cov = covariates(d, TOXICITY_COVARIATES)
    for key, label in (("severe_crs", "Severe CRS"), ("severe_neurotox", "Severe neurotoxicity")):
        col = "crs_grade" if key == "severe_crs" else "neurotox_grade"
        y = pd.to_numeric(d[col], errors="coerce")
        numbers["association"][key] = {}
        uni, multi_cells = {}, {}
        multi = [c for c in TOXICITY_MULTIVARIABLE if c in cov.columns]
        for name, cols in [(c, [c]) for c in cov.columns] + [("multivariable", multi)]:
            X = cov[cols]
            ok = X.notna().all(axis=1).to_numpy() & y.notna().to_numpy()
            if ok.sum() < 5 or len(set((y[ok] >= SEVERE_GRADE).tolist())) < 2:
                continue
            excluded = int((~X.notna().all(axis=1).to_numpy() & y.notna().to_numpy()).sum())
            try:
                fit = stats.logistic(X[ok].astype(float), (y[ok] >= SEVERE_GRADE).astype(int).to_numpy(),
                                     method="auto", conf_level=opts.conf_level)
            except (ConvergenceError, InvalidInputError) as exc:
                numbers["association"][key][name] = {"error": str(exc)}
                if name != "multivariable":
                    uni[name] = ("not estimable", "-", str(exc)[:60])
                continue
            numbers["association"][key][name] = {**fit.to_dict(), "n_excluded_missing": excluded}
            why = (f"; {excluded} excluded (missing {', '.join(c for c in cols if X[c].isna().any())})"
                   if excluded else "")
            mark = "" if fit.method == "ml" else " *"
            if fit.method != "ml":
                notes.append(f"* {label}, {term_label(name) if name != 'multivariable' else 'multivariable model'}: "
                             f"{METHODS[fit.method]} ({fit.note}).")
            for i, term in enumerate(fit.terms):
                est = fmt_ci(fit.odds_ratio[i], fit.or_lower[i], fit.or_upper[i], 2) + mark
                if name == "multivariable":
                    multi_cells[term] = (est, fmt_p(fit.p_value[i]))
                else:
                    uni[term] = (est, fmt_p(fit.p_value[i]), f"{fit.n} ({fit.n_events} events{why})")
            if name == "multivariable":
                notes.append(f"{label}, multivariable model: n = {fit.n}, {fit.n_events} events{why}.")
        rows += side_by_side(label, list(cov.columns), uni, multi_cells)
    columns = tuple(c.format(m="odds ratio") for c in MODEL_COLUMNS)
    return Table("toxicity_association",
                 "Association of severe toxicity (grade >= 3) with baseline characteristics (logistic regression)",
                 ("outcome", "term", *columns), tuple(rows),
                 notes=("Maximum likelihood with Wald intervals; where an outcome is perfectly predicted "
                        "(separation) maximum likelihood estimates do not exist and Firth's penalised likelihood "
                        "is used (marked *), with profile intervals.",
                        "The multivariable model has disease burden and age only: with few severe events more "
                        "terms would over-fit (about 10 events per term).", *notes))


def build(plan: Plan) -> Part:
    d = plan.cohort.data
    masks = plan.masks()
    numbers: dict[str, Any] = {}
    tables: list[Any] = []
    figures: list[Any] = []
    for key, col, label in KINDS:
        table, figure = _by_grade(plan, key, col, label, masks, numbers)
        tables.append(table)
        if figure is not None:
            figures.append(figure)
    recorded = "crs_death" in d and d["crs_death"].notna().any()
    numbers["crs_deaths"] = int(d["crs_death"].astype("boolean").fillna(False).sum()) if recorded else None
    if not recorded:
        numbers["crs_deaths_note"] = NOT_RECORDED
    rows = []
    for key, label in (("any_crs", "CRS, any grade"), ("severe_crs", "Severe CRS (grade >= 3)"),
                       ("any_neurotox", "Neurotoxicity, any grade"),
                       ("severe_neurotox", "Severe neurotoxicity (grade >= 3)")):
        e = numbers[key]
        rows.append((label, *[fmt_prop(e[g]) for g, _ in GROUPS], fmt_p(e["p_value"])))
    rows.append(("Deaths attributed to CRS", NOT_RECORDED if numbers["crs_deaths"] is None
                 else str(numbers["crs_deaths"]), "", "", ""))
    tables.append(Table("safety", "Toxicity rates with exact 95% confidence intervals",
                        ("event", "All", "Low burden", "High burden", "p"), tuple(rows),
                        notes=(f"p: low vs high burden, Fisher's exact test (Pearson chi-square above {EXACT_MAX_N} "
                               "patients).",)))
    tables.append(_association(plan, numbers))
    section = Section("safety", "Safety", tables=tuple(t.name for t in tables), figures=tuple(f.name for f in figures))
    return Part("safety", numbers, tuple(tables), tuple(figures), section)
