"""Univariable and multivariable Cox models of event-free and overall survival, side by side, with
the proportional-hazards check (cox.zph).  Shown in the survival section."""

from __future__ import annotations

from typing import Any

import numpy as np

from ltfu import stats
from ltfu.analysis.common import fmt, fmt_ci, fmt_p, num
from ltfu.analysis.plan import COVARIATE_COLUMNS, COX_COVARIATES, Plan, covariates, term_label
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import ForestFigure, Part, Table

MODEL_COLUMNS = ("univariable {m} (95% CI)", "p", "n", "multivariable {m} (95% CI)", "p")
NO_EVENTS = "no events: no Cox model"       # an endpoint's note when it has no event (either path)


def excluded_note(X, ok) -> str:
    """"; 2 excluded (missing age_per_10y)": who a model left out for missing values, or ""."""
    if ok.all():
        return ""
    missing = [c for c in X.columns if X[c].isna().any()]
    return f"; {int((~ok).sum())} excluded (missing {', '.join(missing)})"


def side_by_side(outcome: str, terms, uni: dict, multi: dict) -> list:
    """Rows (outcome, term label, univariable estimate, p, n, multivariable estimate, p); a term
    absent from a model is "-" there."""
    return [(outcome, term_label(t), *uni.get(t, ("-", "-", "-")), *multi.get(t, ("-", "-"))) for t in terms]


def ph_check(fit, label, rows):
    """The multivariable model's proportional-hazards check (cox.zph): its rows, and its numbers
    (or the error it raised)."""
    try:
        z = stats.cox_zph(fit)
    except (ConvergenceError, InvalidInputError) as exc:
        return {"error": str(exc)}
    for i, term in enumerate(z.terms):
        rows.append((label, term_label(term), fmt(z.statistic[i], 2), int(z.df[i]), fmt_p(z.p_value[i])))
    g = z.global_test
    rows.append((label, "Global test", fmt(g.statistic, 2), int(g.df), fmt_p(g.p_value)))
    return z.to_dict()


def _covariates(plan: Plan, e, last: list):
    """The Cox terms of an endpoint's patients (``covariates``); those of the endpoint before when it
    has the same patients in the same rows (event-free and overall survival: 0.35 s at 1e6
    patients).  ``last`` holds that endpoint's rows and terms, only one (its frame is 40 MB)."""
    pos = plan._positions(e)
    if last and pos is not None and last[0] is not None and np.array_equal(last[0], pos):
        return last[1]
    cov = covariates(plan.aligned_frame(e, COVARIATE_COLUMNS), COX_COVARIATES)
    last[:] = [pos, cov]
    return cov


def _endpoint(plan: Plan, key, numbers, rows, zph_rows, notes, last):
    e, opts = plan.survival_endpoints[key], plan.options
    cov = _covariates(plan, e, last)
    layouts: dict = {}            # the models share the endpoint's risk sets (where no value is missing)

    def fit(cols):
        X = cov if cols == list(cov.columns) else cov[cols]    # the multivariable model: no copy (38 MB)
        ok = X.notna().all(axis=1).to_numpy()
        every = ok.all()              # then no copies of the rows (40 MB for 5 terms at 1e6 patients)
        try:
            result = stats.cox(X if every else X[ok], e.time if every else e.time[ok],
                               e.status if every else e.status[ok], ties=opts.ties, conf_level=opts.conf_level,
                               cache=layouts)
        except (ConvergenceError, InvalidInputError) as exc:
            result = exc
        return result, int((~ok).sum()), excluded_note(X, ok)

    return models_of(e.label, list(cov.columns), fit, numbers, rows, notes,
                     lambda f: ph_check(f, e.label, zph_rows))


def models_of(label, terms, fit, numbers, rows, notes, zph):
    """The univariable models of each term and the multivariable model of them all, side by side:
    ``fit(columns)`` gives (a CoxResult or the error raised, patients excluded for a missing value,
    ``excluded_note``'s text), whoever fits it; ``zph(fit)``: the multivariable model's check.
    Returns the forest plot's rows."""
    uni, multi, forest = {}, {}, []
    for name, cols in [(c, [c]) for c in terms] + [("multivariable", list(terms))]:
        result, n_excluded, excluded = fit(cols)
        if isinstance(result, Exception):
            numbers[name] = {"error": str(result), "n_excluded_missing": n_excluded}
            if name != "multivariable":
                uni[name] = ("not estimable", "-", str(result)[:60])
            else:
                notes.append(f"{label}, multivariable model not estimable: {str(result)[:120]}")
            continue
        numbers[name] = {**result.to_dict(), "n_excluded_missing": n_excluded}
        for i, term in enumerate(result.terms):
            est = fmt_ci(result.hazard_ratio[i], result.hr_lower[i], result.hr_upper[i], 2)
            p = num(result.p_value[i])
            if name == "multivariable":
                multi[term] = (est, fmt_p(p))
                forest.append((term_label(term), num(result.hazard_ratio[i]), num(result.hr_lower[i]),
                               num(result.hr_upper[i]), p))
            else:
                uni[term] = (est, fmt_p(p), f"{result.n} ({result.n_events} events{excluded})")
        if name == "multivariable":
            notes.append(f"{label}, multivariable model: n = {result.n}, {result.n_events} events{excluded}.")
            numbers["proportional_hazards"] = zph(result)
    rows += side_by_side(label, list(terms), uni, multi)
    return forest


def build(plan: Plan) -> Part:
    opts = plan.options
    numbers: dict[str, Any] = {}
    rows: list[tuple] = []
    zph_rows: list[tuple] = []
    figures: list[Any] = []
    notes: list[str] = []
    last: list = []
    for key in ("efs", "os"):
        e = plan.survival_endpoints[key]
        numbers[key] = {}
        if e.n == 0 or e.status.sum() == 0:
            numbers[key]["note"] = NO_EVENTS
            continue
        forest_figure(key, e.label, _endpoint(plan, key, numbers[key], rows, zph_rows, notes, last), figures)
    return cox_part(numbers, rows, notes, figures, opts, zph_rows)


def forest_figure(key, label, forest, figures) -> None:
    """The multivariable model's forest plot (when it was fitted) into ``figures``."""
    if forest:
        figures.append(ForestFigure(f"forest_{key}", f"{label}: multivariable Cox model", tuple(forest)))


def cox_part(numbers, rows, notes, figures, opts, zph_rows) -> Part:
    """The Cox part from the models' numbers, rows, notes and forest plots and the
    proportional-hazards checks' rows."""
    columns = tuple(c.format(m="hazard ratio") for c in MODEL_COLUMNS)
    tables = (Table("cox", "Cox proportional-hazards models: univariable and multivariable",
                    ("endpoint", "term", *columns), tuple(rows),
                    notes=(f"Ties: {opts.ties} (as R's coxph). Wald p-values. Each model uses the patients with "
                           "every one of its terms known; those excluded for a missing value are counted beside n.",
                           *notes)),
              Table("proportional_hazards", "Proportional-hazards check (R cox.zph, Kaplan-Meier time transform)",
                    ("endpoint", "term", "chi-square", "df", "p"), tuple(zph_rows)))
    return Part("cox", numbers, tables, tuple(figures))
