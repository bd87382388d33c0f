"""Univariable and multivariable Cox models of event-free and overall survival, with the
proportional-hazards check (cox.zph).  Shown in the survival section."""

from __future__ import annotations

import numpy as np

from ltfu import stats
from ltfu.analysis.common import fmt, fmt_ci, fmt_p, num
from ltfu.analysis.plan import COX_COVARIATES, Plan, covariates
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import ForestFigure, Part, Table


def excluded_note(X, ok) -> str:
    """", 2 excluded (missing age_per_10y)": who a model left out for missing values, or ""."""
    if ok.all():
        return ""
    missing = [c for c in X.columns if X[c].isna().any()]
    return f"; {int((~ok).sum())} excluded (missing {', '.join(missing)})"


def _zph(fit, label, rows):
    try:
        z = stats.cox_zph(fit)
    except (ConvergenceError, InvalidInputError) as exc:
        return {"error": str(exc)}
    for i, term in enumerate(z.terms):
        rows.append((label, term, fmt(z.statistic[i], 2), int(z.df[i]), fmt_p(z.p_value[i])))
    g = z.global_test
    rows.append((label, "GLOBAL", fmt(g.statistic, 2), int(g.df), fmt_p(g.p_value)))
    return z.to_dict()


def build(plan: Plan) -> Part:
    opts = plan.options
    d = plan.cohort.data.set_index("patient_id")
    numbers, rows, zph_rows, figures = {}, [], [], []
    for key in ("efs", "os"):
        e = plan.survival_endpoints[key]
        numbers[key] = {}
        if e.n == 0 or e.status.sum() == 0:
            numbers[key]["note"] = "no events: no Cox model"
            continue
        cov = covariates(d.reindex(np.asarray(e.patient_id)).reset_index(drop=True), COX_COVARIATES)
        forest = []
        for name, cols in [(c, [c]) for c in cov.columns] + [("multivariable", list(cov.columns))]:
            X = cov[cols]
            ok = X.notna().all(axis=1).to_numpy()
            excluded = excluded_note(X, ok)
            try:
                fit = stats.cox(X[ok], e.time[ok], e.status[ok], ties=opts.ties, conf_level=opts.conf_level)
            except (ConvergenceError, InvalidInputError) as exc:
                numbers[key][name] = {"error": str(exc), "n_excluded_missing": int((~ok).sum())}
                rows.append((e.label, name, ", ".join(cols), "not estimable", "-", str(exc)[:80]))
                continue
            numbers[key][name] = {**fit.to_dict(), "n_excluded_missing": int((~ok).sum())}
            model = "multivariable" if name == "multivariable" else "univariable"
            for i, term in enumerate(fit.terms):
                p = num(fit.p_value[i])
                rows.append((e.label, model, term, fmt_ci(fit.hazard_ratio[i], fit.hr_lower[i], fit.hr_upper[i], 2),
                             fmt_p(p), f"n={fit.n}, events={fit.n_events}{excluded}"))
                if name == "multivariable":
                    forest.append((term, num(fit.hazard_ratio[i]), num(fit.hr_lower[i]), num(fit.hr_upper[i]), p))
            if name == "multivariable":
                numbers[key]["proportional_hazards"] = _zph(fit, e.label, zph_rows)
        if forest:
            figures.append(ForestFigure(f"forest_{key}", f"{e.label}: multivariable Cox model", tuple(forest)))
    tables = (Table("cox", "Cox proportional-hazards models",
                    ("endpoint", "model", "term", "hazard ratio (95% CI)", "p (Wald)", "n"), tuple(rows),
                    notes=(f"Ties: {opts.ties}. age per 10 years.", "Each model uses the patients with every one "
                           "of its terms known; those excluded for a missing value are counted beside n.")),
              Table("proportional_hazards", "Proportional-hazards check (R cox.zph, KM transform)",
                    ("endpoint", "term", "chi-square", "df", "p"), tuple(zph_rows)))
    return Part("cox", numbers, tables, tuple(figures))
