"""CDISC ADaM time-to-event analysis (ADSL + ADTTE): Kaplan-Meier per PARAMCD, overall and by an ADSL
variable, with log-rank and, for a two-level variable, the Cox hazard ratio; as rows for the
console and as a report of the same quality as the patient-table report (``ltfu adam --out``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu import __version__, stats
from ltfu.analysis.common import fmt_ci, fmt_p, num, warning_line
from ltfu.analysis.survival import km_entry
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.machine import one_blas_thread
from ltfu.results import KMFigure, Part, Results, Section, Table


@dataclass(frozen=True)
class AdamOptions:
    by: str | None = None
    conf_type: str = "log-log"
    conf_level: float = 0.95
    rate_months: tuple = (6, 12, 24, 36)


def _fmt_median(entry):
    return fmt_ci(entry["median_months"], entry["median_lower_months"], entry["median_upper_months"], missing="NE")


@one_blas_thread()
def analyse_adam(data, endpoints: dict, options: AdamOptions, *, unit_note: str = "") -> Results:
    """One section per PARAMCD.  ``data`` is ``ltfu.cohort.adam.load_adam``'s result; ``endpoints``
    the chosen parameters (PARAMCD -> AdamEndpoint)."""
    by = options.by.upper() if options.by else None
    parts, numbers_all = [], {}
    n_adsl = len(data.covariates)
    for code, ep in endpoints.items():
        groups = [("all", "All subjects", np.ones(ep.n, bool))]
        g, known = None, np.ones(ep.n, bool)
        if by is not None:
            # a subject without a value is in no group and out of the comparison (counted in a note)
            values = data.covariates[by].reindex(ep.usubjid)
            known = values.notna().to_numpy()
            g = np.array([str(v) if k else "" for v, k in zip(values.tolist(), known)], dtype=object)
            groups += [(f"{by}={v}", f"{by} = {v}", known & (g == v)) for v in sorted(set(g[known]))]
        numbers = {"param": ep.param, "n": int(ep.n), "events": int(ep.event.sum()), "groups": {},
                   "adsl_subjects_without_record": n_adsl - int(ep.n)}
        if by is not None:
            numbers["without_" + by] = int((~known).sum())
        rows, kms = [], []
        for key, label, m in groups:
            km = stats.kaplan_meier(ep.time[m], ep.event[m], conf_type=options.conf_type,
                                    conf_level=options.conf_level)
            entry = km_entry(km, options)
            numbers["groups"][key] = entry
            rows.append((label, entry["n"], entry["events"], _fmt_median(entry)))
            if key != "all" or by is None:
                kms.append((label, km))
        p_value, tests = None, []
        if numbers["adsl_subjects_without_record"]:
            tests.append(f"{numbers['adsl_subjects_without_record']} of the {n_adsl} ADSL subjects have no {code} "
                         "record in ADTTE and are not in this analysis.")
        if g is not None and not known.all():
            tests.append(f"{int((~known).sum())} subject(s) without a value of {by} are in no group and left out of "
                         "the comparison.")
        levels = sorted(set(g[known])) if g is not None else []
        if g is not None and len(levels) > 1:
            time, event, g_known = ep.time[known], ep.event[known], g[known]
            try:
                lr = stats.logrank(time, event, g_known)
                numbers["logrank"] = lr.to_dict()
                p_value = num(lr.p_value)
                tests.append(f"Log-rank test across {by}: chi-square {lr.statistic:.2f} on {lr.df} df, "
                             f"p = {fmt_p(lr.p_value)}." if p_value is not None else
                             f"Log-rank test across {by}: not computable (no event to compare).")
            except ConvergenceError as exc:
                numbers["logrank"] = {"error": str(exc)}
                tests.append(f"Log-rank test across {by}: not computed ({exc.message}).")
            if len(levels) == 2:
                try:
                    fit = stats.cox((g_known == levels[1]).astype(float), time, event,
                                    conf_level=options.conf_level)
                    numbers["cox"] = {**fit.to_dict(), "comparison": f"{levels[1]} vs {levels[0]}"}
                    tests.append(f"Cox hazard ratio, {by} = {levels[1]} vs {levels[0]}: "
                                 f"{fmt_ci(fit.hazard_ratio[0], fit.hr_lower[0], fit.hr_upper[0], 2, missing='NE')}, "
                                 f"p = {fmt_p(fit.p_value[0])} (Wald, Efron ties).")
                except (ConvergenceError, InvalidInputError) as exc:
                    numbers["cox"] = {"error": str(exc)}
                    tests.append(f"Cox hazard ratio, {by} = {levels[1]} vs {levels[0]}: not estimated "
                                 f"({exc.message}).")
        table = Table(f"adam_{code}", f"{ep.param} ({code}): Kaplan-Meier estimates",
                      ("group", "n", "events", "median, months (95% CI)"), tuple(rows),
                      notes=("NE: not estimable (the curve or its limit does not reach 0.5).", *tests))
        figure = KMFigure(f"km_{code}", f"{ep.param} ({code})" + (f" by {by}" if by else ""), tuple(kms),
                          ylabel="Probability", p_value=p_value, test_name="Log-rank" if p_value is not None else None)
        numbers_all[code] = numbers
        parts.append(Part(None, {}, (table,), (figure,),
                          Section(f"param-{code}", f"{ep.param} ({code})", tables=(table.name,),
                                  figures=(figure.name,))))
    warned = [p for p in data.problems if p.severity == "warning"]
    notes = [f"ADSL: {len(data.covariates)} subjects; parameters: {', '.join(endpoints)}.",
             "Times from ADTTE.AVAL, shown in months (days / 30.4375). " + unit_note,
             f"Kaplan-Meier intervals: Greenwood variance, {options.conf_type} transformed; medians by R's rule.",
             f"Validation warnings: {len(warned)}" + (" (listed at the top of the report)." if warned else ".")]
    intro = Part(None, {}, (Table("adam_summary", "Data and definitions", ("item",), tuple((n,) for n in notes)),),
                 (), Section("adam", "ADaM time-to-event data", tables=("adam_summary",)))
    listed = tuple(map(warning_line, warned))
    meta = {"ltfu_version": __version__, "sources": [getattr(s, "name", str(s)) for s in getattr(data, "sources", ())],
            "by": by, "conf_type": options.conf_type, "conf_level": options.conf_level}
    return Results.from_parts("ADaM time-to-event report", [intro, *parts, Part("parameters", numbers_all),
                                                             Part("data", {"validation_warnings": list(listed)})],
                              meta=meta, warnings=listed)


def console_rows(results: Results) -> list[dict]:
    """The rows ``ltfu adam`` prints (and its --format json): one per parameter and group."""
    rows = []
    for code, p in results.numbers["parameters"].items():
        test = p.get("logrank") if isinstance(p.get("logrank"), dict) and "error" not in p["logrank"] else None
        for label, e in p["groups"].items():
            rows.append({"paramcd": code, "param": p["param"], "group": label, "n": e["n"], "events": e["events"],
                         "median_months": e["median_months"], "lower_months": e["median_lower_months"],
                         "upper_months": e["median_upper_months"],
                         "logrank": None if test is None or label != "all" else
                         {"statistic": test["statistic"], "df": test["df"], "p_value": test["p_value"]}})
    return rows
