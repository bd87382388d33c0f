"""Section "Safety" (acute toxicity): cytokine release syndrome and neurotoxicity by grade, their
rates with exact intervals, and their association with disease burden and other characteristics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.analysis.common import EXACT_MAX_N, GROUPS, assoc_test, fmt_ci, fmt_p, fmt_prop, proportion
from ltfu.analysis.models import MODEL_COLUMNS, side_by_side
from ltfu.analysis.plan import METHODS, TOXICITY_COVARIATES, TOXICITY_MULTIVARIABLE, Plan, covariates, term_label
from ltfu.analysis.tally import Tally, burden_codes, tally_frame
from ltfu.defaults import SEVERE_GRADE
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import BarFigure, Part, Section, Table

NOT_RECORDED = "not recorded"
KINDS = (("crs", "crs_grade", "Cytokine release syndrome"), ("neurotox", "neurotox_grade", "Neurotoxicity"))


def _by_grade(tally: Tally, scales, key, label, opts, numbers):
    """The grade table, figure and rates of one toxicity from the tally of its grade column and the
    grading scales written (whoever counted them, ``ltfu.analysis.tally``)."""
    grades = np.array(tally.values, dtype=float)
    groups = [g for g, _ in GROUPS]
    known = tally.counts.sum(axis=1)
    ungraded = tally.missing
    rows: list[tuple] = []
    grade_counts: dict[str, Any] = {g: [] for g in groups}
    for gr in range(6):
        cells = []
        for i, g in enumerate(groups):
            n_g = int(tally.counts[i][grades == gr].sum())
            grade_counts[g].append(n_g)
            cells.append(f"{n_g} ({100 * n_g / known[i]:.0f}%)" if known[i] else "-")
        rows.append((f"Grade {gr}", *cells))
    if ungraded[0]:
        rows.append(("Not graded", *[str(int(ungraded[i])) for i in range(len(groups))]))
    table = Table(f"{key}_grades", f"{label} by grade, overall and by disease burden",
                  ("grade", "All", "Low burden", "High burden"), tuple(rows),
                  notes=(f"Grading scale(s): {', '.join(scales) if scales else 'not recorded'}.",))
    # a group without a graded patient has no percentages to draw (its column in the table says "-")
    drawn = tuple((lab, tuple(grade_counts[g])) for g, lab in GROUPS[1:] if sum(grade_counts[g]))
    figure = BarFigure(f"{key}_grades", f"{label} grade by disease burden", tuple(str(g) for g in range(6)),
                       drawn) if drawn else None
    for thr_key, thr in (("severe", SEVERE_GRADE), ("any", 1)):
        at_least = tally.counts[:, grades >= thr].sum(axis=1)
        entry = {g: proportion(at_least[i], known[i], opts) for i, g in enumerate(groups)}
        entry.update(entry["all"])
        entry["p_value"] = assoc_test([[int(at_least[i]), int(known[i] - at_least[i])] for i in (1, 2)])[0]
        numbers[f"{thr_key}_{key}"] = entry
    numbers[f"{key}_grades"] = {g: dict(zip(map(str, range(6)), grade_counts[g])) for g, _ in GROUPS}
    numbers[f"{key}_scales"] = list(scales)
    return table, figure


PATTERNS_MIN = 5000    # from this many patients the models are fitted on patterns counted once


def _association(plan: Plan, numbers):
    d, opts = plan.cohort.data, plan.options
    cov = covariates(d, TOXICITY_COVARIATES)
    fit = _pattern_fit(d, cov, opts) if len(d) >= PATTERNS_MIN else _row_fit(d, cov, opts)
    return association_table(list(cov.columns), fit, {c for c in cov.columns if cov[c].isna().any()}, numbers)


def _row_fit(d, cov, opts):
    """``fit`` of ``association_table`` on the patients' rows (``stats.logistic``)."""
    def fit(col, cols):
        y = pd.to_numeric(d[col], errors="coerce")
        X = cov[cols]
        ok = X.notna().all(axis=1).to_numpy() & y.notna().to_numpy()
        if ok.sum() < 5 or len(set((y[ok] >= SEVERE_GRADE).tolist())) < 2:
            return None, 0
        excluded = int((~X.notna().all(axis=1).to_numpy() & y.notna().to_numpy()).sum())
        try:
            return stats.logistic(X[ok].astype(float), (y[ok] >= SEVERE_GRADE).astype(int).to_numpy(),
                                  method="auto", conf_level=opts.conf_level), excluded
        except (ConvergenceError, InvalidInputError) as exc:
            return exc, excluded

    return fit


def counted_fit(X, trials, events, excluded: int, opts):
    """``association_table``'s fit of one model from its covariate patterns (``X``, one row each),
    the patients sharing each (``trials``) and their severe events (``events``), whoever counted
    them (in memory, ``_pattern_fit``; a registry's GROUP BY): None with fewer than 5 patients or
    one outcome only; else ``stats.logistic_counts``'s result or the error it raised, with the
    graded patients ``excluded`` for a missing value."""
    n = trials.sum()
    if n < 5 or events.sum() in (0, n):
        return None, 0
    try:
        return stats.logistic_counts(X, trials, events, method="auto", conf_level=opts.conf_level), excluded
    except (ConvergenceError, InvalidInputError) as exc:
        return exc, excluded


def _pattern_fit(d, cov, opts):
    """``fit`` of ``association_table`` from the patients' distinct (covariates, grades) patterns,
    counted once: each model's patterns, patients and severe events are sums over them, fitted by
    ``counted_fit`` (as the registry report fits its GROUP BY's).  The likelihood is the rows' (the
    row fit groups them too), its sums taken in another order: the fits agree to about 1e-12
    (tested); 12 passes over a million rows become one."""
    columns = {c: cov[c].to_numpy(float) for c in cov.columns}
    columns.update({f"_{col}": pd.to_numeric(d[col], errors="coerce").to_numpy(float)
                    for col in ("crs_grade", "neurotox_grade")})
    from ltfu.stats.logreg import row_patterns

    # (a groupby over a frame of these columns held 150 MB at 1e6 patients; these codes about 40)
    first, codes = row_patterns(list(columns.values()))
    k = np.bincount(codes, minlength=first.size).astype(float)
    patterns = pd.DataFrame({c: v[first] for c, v in columns.items()})

    def fit(col, cols):
        y = patterns[f"_{col}"].to_numpy()
        graded = ~np.isnan(y)
        known = patterns[cols].notna().all(axis=1).to_numpy()
        use = graded & known
        severe = use & (y >= SEVERE_GRADE)
        model = patterns.loc[use, cols].assign(_k=k[use], _e=np.where(severe[use], k[use], 0.0))
        grouped = model.groupby(cols, sort=False).sum()
        return counted_fit(grouped.index.to_frame(index=False).astype(float), grouped["_k"].to_numpy(),
                           grouped["_e"].to_numpy(), int(k[graded & ~known].sum()), opts)

    return fit


def association_table(terms, fit, missing, numbers) -> Table:
    """The association table of severe CRS and neurotoxicity with ``terms``: ``fit(grade column,
    columns)`` gives (a LogisticResult, the error raised, or None: too few patients or one outcome;
    the graded patients excluded for a missing value), whoever fits it; ``missing``: the terms some
    patient lacks."""
    rows, notes, numbers["association"] = [], [], {}
    for key, label in (("severe_crs", "Severe CRS"), ("severe_neurotox", "Severe neurotoxicity")):
        col = "crs_grade" if key == "severe_crs" else "neurotox_grade"
        numbers["association"][key] = {}
        uni, multi_cells = {}, {}
        multi = [c for c in TOXICITY_MULTIVARIABLE if c in terms]
        for name, cols in [(c, [c]) for c in terms] + [("multivariable", multi)]:
            result, excluded = fit(col, cols)
            if result is None:
                continue
            if isinstance(result, Exception):
                numbers["association"][key][name] = {"error": str(result)}
                if name != "multivariable":
                    uni[name] = ("not estimable", "-", str(result)[:60])
                continue
            numbers["association"][key][name] = {**result.to_dict(), "n_excluded_missing": excluded}
            why = f"; {excluded} excluded (missing {', '.join(c for c in cols if c in missing)})" if excluded else ""
            mark = "" if result.method == "ml" else " *"
            if result.method != "ml":
                notes.append(f"* {label}, {term_label(name) if name != 'multivariable' else 'multivariable model'}: "
                             f"{METHODS[result.method]} ({result.note}).")
            for i, term in enumerate(result.terms):
                est = fmt_ci(result.odds_ratio[i], result.or_lower[i], result.or_upper[i], 2) + mark
                if name == "multivariable":
                    multi_cells[term] = (est, fmt_p(result.p_value[i]))
                else:
                    uni[term] = (est, fmt_p(result.p_value[i]), f"{result.n} ({result.n_events} events{why})")
            if name == "multivariable":
                notes.append(f"{label}, multivariable model: n = {result.n}, {result.n_events} events{why}.")
        rows += side_by_side(label, list(terms), uni, multi_cells)
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
    codes = burden_codes(d["burden"])
    grades = {col: tally_frame(pd.to_numeric(d[col], errors="coerce"), codes) for _, col, _ in KINDS}
    # the distinct scales written, as text (each distinct value once: not a string per patient)
    scales = {col: sorted({str(v) for v in d[col.replace("_grade", "_scale")].dropna().unique()})
              if col.replace("_grade", "_scale") in d else [] for _, col, _ in KINDS}
    recorded = "crs_death" in d and d["crs_death"].notna().any()
    deaths = int(d["crs_death"].astype("boolean").fillna(False).sum()) if recorded else None
    return from_tallies(grades, scales, deaths, plan.options, lambda numbers: _association(plan, numbers))


def from_tallies(grades: dict, scales: dict, crs_deaths: int | None, opts, association) -> Part:
    """The safety section from the tallies of the grade columns, the grading scales written and the
    deaths attributed to CRS (None: not recorded); ``association(numbers)`` makes the association
    models' table (``association_table``) and writes their numbers."""
    numbers: dict[str, Any] = {}
    tables: list[Any] = []
    figures: list[Any] = []
    for key, col, label in KINDS:
        table, figure = _by_grade(grades[col], scales[col], key, label, opts, numbers)
        tables.append(table)
        if figure is not None:
            figures.append(figure)
    numbers["crs_deaths"] = crs_deaths
    if crs_deaths is None:
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
    tables.append(association(numbers))
    section = Section("safety", "Safety", tables=tuple(t.name for t in tables), figures=tuple(f.name for f in figures))
    return Part("safety", numbers, tuple(tables), tuple(figures), section)
