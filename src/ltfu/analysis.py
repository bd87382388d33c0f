"""The long-term follow-up analysis plan: cohort -> endpoints -> statistics -> frozen Results.

This module decides *what* is computed (the analysis of Park et al., NEJM 2018, as a template) and
puts every number into :class:`ltfu.results.Results`; ``ltfu.stats`` computes, ``ltfu.report``
lays out.  All times are days internally; months (days / 30.4375) are for display only.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np
import pandas as pd

from ltfu import __version__, deid
from ltfu import endpoints as ep
from ltfu import stats
from ltfu.cohort.model import DAYS_PER_MONTH, Cohort
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import (BarFigure, CIFFigure, ForestFigure, KMFigure, Results, Section,
                          SwimmerFigure, Table)

SWIMMER_MAX = 100      # a lane per patient is readable up to about this many patients
GROUPS = (("all", "All patients"), ("low_burden", "Low burden"), ("high_burden", "High burden"))
COMPLETE_RESPONSE = ("CR", "CRi")


@dataclass(frozen=True)
class AnalysisOptions:
    """Every choice that changes a number; printed in the report's definitions table."""

    efs_nonresponder: str = "day0"          # "day0" or "assessment"
    censor_at_hct: bool = False             # censor EFS/RFS at a subsequent allo-HCT
    conf_type: str = "log-log"              # Kaplan-Meier CI transform (R names)
    conf_level: float = 0.95
    ties: str = "efron"                     # Cox ties
    proportion_ci: str = "exact"            # Clopper-Pearson
    landmark_days: float = 100.0            # transplant landmark analysis
    rate_months: tuple = (6, 12, 24, 36)    # survival rates reported at these months
    deidentify: bool = False
    keep_checksum: bool = False             # de-identified reports withhold the input's SHA-256 unless asked
    record_path: bool = False               # record the input's absolute path, not only its file name

    def __post_init__(self):
        if self.efs_nonresponder not in ("day0", "assessment"):
            raise InvalidInputError("efs_nonresponder: must be 'day0' or 'assessment'")
        if self.conf_type not in ("log-log", "log", "plain"):
            raise InvalidInputError("conf_type: must be 'log-log', 'log' or 'plain'")
        if isinstance(self.landmark_days, bool) or not (isinstance(self.landmark_days, numbers.Real)
                                                        and math.isfinite(self.landmark_days) and self.landmark_days > 0):
            raise InvalidInputError(f"landmark_days: must be a positive finite number, got {self.landmark_days!r}")


# ----------------------------------------------------------------------------------------------
# formatting (display strings only; the JSON keeps full-precision numbers)

def _num(x):
    """A JSON-safe float (nan/inf -> None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x, digits=1, missing="NR"):
    return missing if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def _fmt_p(p):
    if p is None or not math.isfinite(p):
        return "-"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def _fmt_ci(est, lower, upper, digits=1, scale=1.0, missing="NR"):
    def s(v):
        return None if v is None or not math.isfinite(v) else v * scale
    return (f"{_fmt(s(est), digits, missing)} ({_fmt(s(lower), digits, missing)} to "
            f"{_fmt(s(upper), digits, missing)})")


def _months(days):
    return None if days is None or not math.isfinite(days) else days / DAYS_PER_MONTH


# ----------------------------------------------------------------------------------------------
# helpers over the cohort

def _aligned(cohort: Cohort, endpoint, column):
    """Values of a cohort column aligned with an endpoint's patients (endpoints may be subsets)."""
    s = cohort.data.set_index("patient_id")[column]
    return s.reindex(np.asarray(endpoint.patient_id)).to_numpy()


def _group_masks(burden):
    burden = np.asarray(burden, dtype=object)
    return {"all": np.ones(burden.shape[0], bool),
            "low_burden": burden == "low", "high_burden": burden == "high"}


def _bool(series):
    return series.astype("boolean")


def _proportion(n, N, opts):
    if N == 0:
        return {"n": 0, "N": 0, "estimate": None, "lower": None, "upper": None}
    e = stats.binomial_ci(int(n), int(N), method=opts.proportion_ci, conf_level=opts.conf_level)
    return {"n": int(n), "N": int(N), "estimate": _num(e.value), "lower": _num(e.lower),
            "upper": _num(e.upper)}


def _fmt_prop(d):
    if not d["N"]:
        return "-"
    return (f"{d['n']}/{d['N']} ({100 * d['estimate']:.0f}%; {100 * d['lower']:.0f} to "
            f"{100 * d['upper']:.0f})")


EXACT_MAX_N = 2000   # above this many patients, Pearson's chi-square replaces Fisher's exact test


def _fisher_p(table):
    """p-value of the association in a groups x categories table: Fisher's exact test, or Pearson's
    chi-square (no continuity correction) for large samples or tables too large to enumerate."""
    return _assoc_test(table)[0]


def _assoc_test(table):
    table = np.asarray(table, dtype=int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.ndim != 2 or min(table.shape) < 2:
        return None, None
    if table.sum() <= EXACT_MAX_N:
        try:
            return _num(stats.fisher_exact(table, odds_ratio=False).p_value), "Fisher exact"
        except InvalidInputError:
            pass
    from scipy.stats import chi2_contingency

    return _num(chi2_contingency(table, correction=False).pvalue), "Pearson chi-square"


# ----------------------------------------------------------------------------------------------
# sections

def _data_section(cohort: Cohort, opts: AnalysisOptions):
    meta = {
        "ltfu_version": __version__,
        "source": deid.source_label(cohort.source, deidentify=opts.deidentify, record_path=opts.record_path),
        "sha256": None if opts.deidentify and not opts.keep_checksum else cohort.sha256,
        "n_patients": cohort.n,
        "data_cutoff": None if opts.deidentify else cohort.cutoff_date,
        "synthetic": cohort.synthetic,
        "deidentified": opts.deidentify,
    }
    defaults = {
        "time_unit": "months = days / 30.4375 (time stored in days from infusion)",
        "km_conf_type": opts.conf_type,
        "conf_level": opts.conf_level,
        "proportion_ci": "exact (Clopper-Pearson)" if opts.proportion_ci == "exact" else opts.proportion_ci,
        "cox_ties": opts.ties,
        "median_rule": "R survival: first time S(t) <= 0.5; midpoint where the curve is flat at 0.5",
        "burden_threshold_pct": cohort.burden_threshold,
        "burden_definition": (f"low: marrow blasts < {cohort.burden_threshold:g}% and no extramedullary "
                              f"disease; high: >= {cohort.burden_threshold:g}% or extramedullary disease"),
        "efs_nonresponder": opts.efs_nonresponder,
        "censor_at_hct": opts.censor_at_hct,
        "landmark_days": opts.landmark_days,
        "severe_toxicity": "grade >= 3",
        "censoring": "at the last contact or the data cut-off, whichever is earlier; events after "
                     "the cut-off are ignored",
    }
    definitions = {name: spec[2] for name, spec in ep.ENDPOINTS.items()}
    rows = [(k.replace("_", " "), str(v)) for k, v in defaults.items()]
    rows += [(f"endpoint: {name}", text) for name, text in definitions.items()]
    table = Table("definitions", "Definitions and defaults in force", ("item", "value"), tuple(rows))
    # a de-identified report names the kind of warning and the field, never the row, id or value
    warnings = tuple(f"{p.code} ({p.field}): {p.message}" if not opts.deidentify else
                     f"{p.code} ({p.field})" for p in cohort.warnings)
    summary = Table("data_summary", "Data summary", ("item", "value"), (
        ("source file", meta["source"]), ("SHA-256", meta["sha256"] or (deid.WITHHELD if opts.deidentify else "-")),
        ("patients", cohort.n), ("data cut-off", meta["data_cutoff"] or "-"),
        ("validation warnings", len(cohort.warnings)), ("ltfu version", __version__)))
    section = Section("data", "1. Data summary", tables=("data_summary", "definitions"))
    numbers = {"n_patients": cohort.n, "defaults": defaults, "definitions": definitions}
    return numbers, [summary, table], [], section, meta, warnings


_BASELINE = (
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


def _baseline_section(cohort: Cohort, opts: AnalysisOptions):
    d = cohort.data
    masks = _group_masks(d["burden"])
    groups = [g for g, _ in GROUPS]
    rows, numbers = [], {}
    for col, label, kind in _BASELINE:
        if col not in d.columns or d[col].isna().all():
            continue
        s = d[col]
        if kind == "continuous":
            x = pd.to_numeric(s, errors="coerce").to_numpy(float)
            cells, entry = [], {}
            for g in groups:
                v = x[masks[g] & ~np.isnan(x)]
                med = _num(np.median(v)) if v.size else None
                entry[g] = {"n": int(v.size), "median": med, "min": _num(v.min()) if v.size else None,
                            "max": _num(v.max()) if v.size else None}
                cells.append("-" if not v.size else f"{_fmt(med, 0 if col != 'marrow_blasts_pct' else 1)} "
                             f"({_fmt(v.min(), 0 if col != 'marrow_blasts_pct' else 1)}-"
                             f"{_fmt(v.max(), 0 if col != 'marrow_blasts_pct' else 1)})")
            lo, hi = x[masks["low_burden"] & ~np.isnan(x)], x[masks["high_burden"] & ~np.isnan(x)]
            p = _num(stats.wilcoxon_ranksum(lo, hi).p_value) if lo.size and hi.size else None
            entry["p_value"], entry["test"] = p, "Wilcoxon rank-sum"
            numbers[col] = entry
            rows.append((label, *cells, _fmt_p(p), "Wilcoxon rank-sum"))
            continue
        if kind == "binary":
            values = _bool(s)
            levels = [True]
            names = {True: "yes"}
        else:
            values = s.astype("string")
            levels = sorted(values.dropna().unique().tolist(), key=str)
            names = {v: str(v) for v in levels}
        present = ~values.isna().to_numpy()
        counts = {g: [int(((values == lv).fillna(False).to_numpy() & masks[g]).sum()) for lv in levels]
                  for g in groups}
        denom = {g: int((present & masks[g]).sum()) for g in groups}
        if kind == "binary":
            table = [[counts[g][0], denom[g] - counts[g][0]] for g in ("low_burden", "high_burden")]
        else:
            table = [counts[g] for g in ("low_burden", "high_burden")]
        p, test = _assoc_test(table)
        numbers[col] = {g: {"n": denom[g], "counts": {names[lv]: counts[g][i] for i, lv in enumerate(levels)}}
                        for g in groups}
        numbers[col]["p_value"], numbers[col]["test"] = p, test
        if kind == "binary":
            rows.append((label + ": n (%)", *[
                f"{counts[g][0]} ({100 * counts[g][0] / denom[g]:.0f}%)" if denom[g] else "-" for g in groups],
                _fmt_p(p), test or ""))
        else:
            rows.append((label + ": n (%)", "", "", "", _fmt_p(p), test or ""))
            for i, lv in enumerate(levels):
                label_lv = _dose_label(lv) if col == "dose_cells_per_kg" and _is_number(lv) else names[lv]
                rows.append((f"    {label_lv}", *[
                    f"{counts[g][i]} ({100 * counts[g][i] / denom[g]:.0f}%)" if denom[g] else "-"
                    for g in groups], "", ""))
    n = {g: int(masks[g].sum()) for g in groups}
    columns = ("characteristic", f"All (n={n['all']})", f"Low burden (n={n['low_burden']})",
               f"High burden (n={n['high_burden']})", "p", "test")
    table = Table("baseline", "Baseline characteristics, overall and by disease burden", columns,
                  tuple(rows), notes=("p: low vs high burden; percentages of patients with a known value.",))
    numbers["burden"] = {"low": n["low_burden"], "high": n["high_burden"],
                         "unknown": int(n["all"] - n["low_burden"] - n["high_burden"])}
    return {"baseline": numbers}, [table], [], Section("baseline", "2. Baseline characteristics",
                                                        tables=("baseline",))


def _dose_label(v):
    mant, exp = f"{float(v):.1e}".split("e")
    return f"{float(mant):g} x 10^{int(exp)}"


def _is_number(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _response_section(cohort: Cohort, opts: AnalysisOptions):
    d = cohort.data
    masks = _group_masks(d["burden"])
    resp = d["best_response"].astype("string")
    evaluable = ~resp.isna().to_numpy() & (resp != "NE").fillna(False).to_numpy()
    cr = resp.isin(COMPLETE_RESPONSE).fillna(False).to_numpy()
    mrd = d["mrd_negative"].astype("string") if "mrd_negative" in d else pd.Series(pd.NA, index=d.index, dtype="string")
    mrd_known = mrd.isin(("yes", "no")).fillna(False).to_numpy()
    mrd_neg = (mrd == "yes").fillna(False).to_numpy()
    numbers = {"complete_remission": {}, "mrd_negative_among_cr": {}}
    rows = []
    for key, label, num, den in (
            ("complete_remission", "CR or CRi (of all infused patients)", cr, np.ones_like(cr)),
            ("mrd_negative_among_cr", "MRD-negative (of CR/CRi patients with known MRD)", cr & mrd_neg,
             cr & mrd_known)):
        cells = []
        for g, _ in GROUPS:
            prop = _proportion((num & masks[g]).sum(), (den & masks[g]).sum(), opts)
            numbers[key][g] = prop
            cells.append(_fmt_prop(prop))
        table = [[int((num & masks[g]).sum()), int((den & masks[g]).sum() - (num & masks[g]).sum())]
                 for g in ("low_burden", "high_burden")]
        p = _fisher_p(table)
        numbers[key]["p_value"] = p
        rows.append((label, *cells, _fmt_p(p)))
    # the headline figure keeps the shape the issue asks for: response.complete_remission = overall
    numbers["complete_remission"].update(numbers["complete_remission"]["all"])
    numbers["n_evaluable"] = int(evaluable.sum())
    table = Table("response", "Response: rates with exact (Clopper-Pearson) 95% confidence intervals",
                  ("response", "All", "Low burden", "High burden", "p"), tuple(rows),
                  notes=("n/N (%; 95% CI). Patients without an assessment count as non-responders.",
                         f"p: low vs high burden, Fisher's exact test (Pearson chi-square above {EXACT_MAX_N} "
                         "patients)."))
    return {"response": numbers}, [table], [], Section("response", "3. Response", tables=("response",))


def _safety_section(cohort: Cohort, opts: AnalysisOptions):
    d = cohort.data
    masks = _group_masks(d["burden"])
    numbers, tables, figures = {}, [], []
    for key, col, label in (("crs", "crs_grade", "Cytokine release syndrome"),
                            ("neurotox", "neurotox_grade", "Neurotoxicity")):
        grade = pd.to_numeric(d[col], errors="coerce").to_numpy(float)
        known = ~np.isnan(grade)
        rows = []
        grade_counts = {}
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
        tables.append(Table(f"{key}_grades", f"{label} by grade, overall and by disease burden",
                            ("grade", "All", "Low burden", "High burden"), tuple(rows),
                            notes=(f"Grading scale(s): {', '.join(scales) if scales else 'not recorded'}.",)))
        figures.append(BarFigure(f"{key}_grades", f"{label} grade by disease burden",
                                 tuple(str(g) for g in range(6)),
                                 tuple((lab, tuple(grade_counts[g])) for g, lab in GROUPS[1:])))
        for thr_key, thr in (("severe", 3), ("any", 1)):
            entry = {}
            for g, _ in GROUPS:
                entry[g] = _proportion(((grade >= thr) & masks[g]).sum(), (known & masks[g]).sum(), opts)
            entry.update(entry["all"])
            entry["p_value"] = _fisher_p([[int(((grade >= thr) & masks[g]).sum()),
                                           int(((grade < thr) & masks[g]).sum())]
                                          for g in ("low_burden", "high_burden")])
            numbers[f"{thr_key}_{key}"] = entry
        numbers[f"{key}_grades"] = {g: dict(zip(map(str, range(6)), grade_counts[g])) for g, _ in GROUPS}
        numbers[f"{key}_scales"] = scales
    crs_death = _bool(d["crs_death"]).fillna(False).to_numpy() if "crs_death" in d else np.zeros(cohort.n, bool)
    numbers["crs_deaths"] = int(crs_death.sum())
    rows = []
    for key, label in (("any_crs", "CRS, any grade"), ("severe_crs", "Severe CRS (grade >= 3)"),
                       ("any_neurotox", "Neurotoxicity, any grade"),
                       ("severe_neurotox", "Severe neurotoxicity (grade >= 3)")):
        e = numbers[key]
        rows.append((label, *[_fmt_prop(e[g]) for g, _ in GROUPS], _fmt_p(e["p_value"])))
    rows.append(("Deaths attributed to CRS", str(numbers["crs_deaths"]), "", "", ""))
    tables.append(Table("safety", "Toxicity rates with exact 95% confidence intervals",
                        ("event", "All", "Low burden", "High burden", "p"), tuple(rows),
                        notes=(f"p: low vs high burden, Fisher's exact test (Pearson chi-square above {EXACT_MAX_N} "
                               "patients).",)))
    assoc_rows, numbers["association"] = [], {}
    covariates = _toxicity_covariates(d)
    for key, label in (("severe_crs", "Severe CRS"), ("severe_neurotox", "Severe neurotoxicity")):
        col = "crs_grade" if key == "severe_crs" else "neurotox_grade"
        y = pd.to_numeric(d[col], errors="coerce")
        numbers["association"][key] = {}
        multi = [c for c in ("high_burden", "age_per_10y") if c in covariates.columns]
        for name, cols in [(c, [c]) for c in covariates.columns] + [("multivariable", multi)]:
            X = covariates[cols]
            ok = X.notna().all(axis=1).to_numpy() & y.notna().to_numpy()
            if ok.sum() < 5 or len(set((y[ok] >= 3).tolist())) < 2:
                continue
            try:
                fit = stats.logistic(X[ok].astype(float), (y[ok] >= 3).astype(int).to_numpy(), method="auto",
                                     conf_level=opts.conf_level)
            except (ConvergenceError, InvalidInputError) as exc:
                numbers["association"][key][name] = {"error": str(exc)}
                assoc_rows.append((label, "univariable" if name != "multivariable" else "multivariable",
                                   name, "not estimable", "-", str(exc)[:80]))
                continue
            numbers["association"][key][name] = fit.to_dict()
            for i, term in enumerate(fit.terms):
                assoc_rows.append((label, "multivariable" if name == "multivariable" else "univariable", term,
                                   _fmt_ci(fit.odds_ratio[i], fit.or_lower[i], fit.or_upper[i], 2),
                                   _fmt_p(fit.p_value[i]), fit.method + (" (separation)" if fit.separation else "")))
    tables.append(Table("toxicity_association",
                        "Association of severe toxicity with baseline characteristics (logistic regression)",
                        ("outcome", "model", "term", "odds ratio (95% CI)", "p", "method"), tuple(assoc_rows),
                        notes=("Firth's penalised likelihood is used when ML estimates do not exist "
                               "(separation).", "age per 10 years; dose per log10 cells/kg.",
                               "The multivariable model has disease burden and age only: with few severe events "
                               "more terms would over-fit (about 10 events per term).")))
    section = Section("safety", "4. Safety", tables=tuple(t.name for t in tables),
                      figures=tuple(f.name for f in figures))
    return {"safety": numbers}, tables, figures, section


def _toxicity_covariates(d):
    cov = pd.DataFrame(index=d.index)
    cov["high_burden"] = (d["burden"] == "high").astype(float).where(d["burden"].notna())
    if "age" in d and d["age"].notna().any():
        cov["age_per_10y"] = pd.to_numeric(d["age"], errors="coerce") / 10.0
    if "dose_cells_per_kg" in d and d["dose_cells_per_kg"].notna().any():
        dose = pd.to_numeric(d["dose_cells_per_kg"], errors="coerce")
        if dose.nunique() > 1 and (dose > 0).all():
            cov["log10_dose"] = np.log10(dose)
    for c in ("prior_allo_hct", "ph_positive"):
        if c in d and _bool(d[c]).nunique() > 1:
            cov[c] = _bool(d[c]).astype("Float64").astype(float)
    return cov


def _km_entry(km, opts):
    med = km.median
    entry = {"n": int(km.n), "events": int(np.sum(km.n_event)),
             "median_months": _num(_months(med.value)), "median_lower_months": _num(_months(med.lower)),
             "median_upper_months": _num(_months(med.upper)), "conf_type": opts.conf_type, "rates": {}}
    at = km.at(np.asarray(opts.rate_months, float) * DAYS_PER_MONTH)
    for i, m in enumerate(opts.rate_months):
        entry["rates"][f"{m}_months"] = {"estimate": _num(at.survival[i]), "lower": _num(at.ci_lower[i]),
                                         "upper": _num(at.ci_upper[i]), "n_risk": int(at.n_risk[i])}
    return entry


def _follow_up_section(cohort: Cohort, opts: AnalysisOptions):
    fu = ep.follow_up(cohort)
    res = stats.median_follow_up(fu.time, fu.status, conf_type=opts.conf_type, conf_level=opts.conf_level)
    med = res.reverse_km
    numbers = {"median_months": _num(_months(med.value)), "median_lower_months": _num(_months(med.lower)),
               "median_upper_months": _num(_months(med.upper)), "method": "reverse Kaplan-Meier",
               "simple_median_months": _num(_months(res.simple_median)),
               "min_months": _num(_months(res.min)), "max_months": _num(_months(res.max)), "n": int(res.n)}
    rows = (("Median follow-up, reverse Kaplan-Meier (95% CI)",
             _fmt_ci(numbers["median_months"], numbers["median_lower_months"], numbers["median_upper_months"])),
            ("Median observation time, all patients", _fmt(numbers["simple_median_months"])),
            ("Range of observation times", f"{_fmt(numbers['min_months'])} to {_fmt(numbers['max_months'])}"))
    table = Table("follow_up", "Follow-up (months)", ("measure", "months"), rows)
    return {"follow_up": numbers}, [table], [], Section("follow_up", "5. Follow-up", tables=("follow_up",))


def _survival_section(cohort: Cohort, opts: AnalysisOptions):
    numbers, tables, figures = {}, [], []
    endpoints = {
        "efs": ep.event_free_survival(cohort, nonresponder=opts.efs_nonresponder, censor_at_hct=opts.censor_at_hct),
        "os": ep.overall_survival(cohort),
        "rfs": ep.relapse_free_survival(cohort, censor_at_hct=opts.censor_at_hct),
    }
    med_rows = []
    kms = {}
    for key, e in endpoints.items():
        if e.n == 0:
            numbers[key] = {"definition": e.definition, "label": e.label, "n": 0,
                            "note": "no patient qualifies for this endpoint"}
            continue
        burden = _aligned(cohort, e, "burden")
        masks = _group_masks(burden)
        numbers[key] = {"definition": e.definition, "label": e.label}
        for g, glabel in GROUPS:
            if masks[g].sum() == 0:
                continue
            km = stats.kaplan_meier(e.time[masks[g]], e.status[masks[g]], conf_type=opts.conf_type,
                                    conf_level=opts.conf_level)
            kms[(key, g)] = km
            entry = _km_entry(km, opts)
            numbers[key][g] = entry
            med_rows.append((e.label, glabel, entry["n"], entry["events"],
                             _fmt_ci(entry["median_months"], entry["median_lower_months"],
                                     entry["median_upper_months"]),
                             *[_fmt_ci(*(100 * v if v is not None else None for v in (
                                 r["estimate"], r["lower"], r["upper"])), digits=0, missing="-")
                               for r in entry["rates"].values()]))
        both = masks["low_burden"] | masks["high_burden"]
        test_label = None
        if masks["low_burden"].any() and masks["high_burden"].any():
            try:
                lr = stats.logrank(e.time[both], e.status[both], np.asarray(burden[both], dtype=str))
                numbers[key]["logrank_burden"] = {"statistic": _num(lr.statistic), "df": _num(lr.df),
                                                  "p_value": _num(lr.p_value)}
                test_label = f"Log-rank p = {_fmt_p(lr.p_value)}"
            except ConvergenceError as exc:
                numbers[key]["logrank_burden"] = {"error": str(exc)}
        curves = tuple((lab, kms[(key, g)]) for g, lab in GROUPS[1:] if (key, g) in kms)
        if curves:
            figures.append(KMFigure(f"km_{key}_burden", f"{e.label} by disease burden", curves,
                                    ylabel=f"{e.label} probability", test_label=test_label,
                                    xlabel="Months since response" if key == "rfs" else "Months since infusion"))
    figures.insert(0, KMFigure("km_efs_os", "Event-free and overall survival, all patients",
                               (("Event-free survival", kms[("efs", "all")]),
                                ("Overall survival", kms[("os", "all")])), confidence_bands=True))
    rate_cols = tuple(f"{m} mo, % (95% CI)" for m in opts.rate_months)
    tables.append(Table("survival", "Kaplan-Meier estimates (months; confidence intervals "
                        f"{opts.conf_type} transformed)",
                        ("endpoint", "group", "n", "events", "median (95% CI)", *rate_cols), tuple(med_rows),
                        notes=("NR: not reached.",)))
    cif_numbers, cif_tables, cif_figures = _competing(cohort, opts)
    numbers["relapse_competing"] = cif_numbers
    tables += cif_tables
    figures += cif_figures
    hct_numbers, hct_tables, hct_figures = _transplant(cohort, endpoints, opts)
    numbers["allo_hct"] = hct_numbers
    tables += hct_tables
    figures += hct_figures
    cox_numbers, cox_tables, cox_figures = _cox_models(cohort, endpoints, opts)
    numbers["cox"] = cox_numbers
    tables += cox_tables
    figures += cox_figures
    if cohort.n <= SWIMMER_MAX:
        figures.append(_swimmer(cohort, opts))
    section = Section("survival", "6. Survival", tables=tuple(t.name for t in tables),
                      figures=tuple(f.name for f in figures),
                      paragraphs=(f"Event-free survival: {endpoints['efs'].definition}",
                                  f"Overall survival: {endpoints['os'].definition}",
                                  f"Relapse-free survival: {endpoints['rfs'].definition}"))
    return {"survival": numbers}, tables, figures, section


def _competing(cohort, opts):
    e = ep.relapse_competing(cohort)
    burden = _aligned(cohort, e, "burden")
    numbers = {"definition": e.definition, "n": int(e.n),
               "relapses": int((e.status == 1).sum()), "deaths_in_remission": int((e.status == 2).sum())}
    times = np.asarray(opts.rate_months, float) * DAYS_PER_MONTH
    if e.n == 0 or not (e.status > 0).any():
        numbers["note"] = "no CR/CRi patient had a relapse or died in remission: nothing to estimate"
        return numbers, [Table("cumulative_incidence", "Cumulative incidence of relapse and of death in remission",
                               ("event", "group"), (), notes=(numbers["note"],))], []
    rows, curves = [], []
    overall = stats.cumulative_incidence(e.time, e.status, conf_level=opts.conf_level)
    known = np.isin(burden.astype(object), ["low", "high"])
    by = None
    if known.any() and len(set(burden[known])) == 2:
        by = stats.cumulative_incidence(e.time[known], e.status[known], group=np.asarray(burden[known], str),
                                        conf_level=opts.conf_level)
    for cause, cname in ((1, "Relapse"), (2, "Death in remission")):
        for glabel, res, grp in (("All", overall, None), ("Low burden", by, "low"), ("High burden", by, "high")):
            if res is None or cause not in set(res.causes):
                continue
            at = res.at(times, cause=cause, group=grp)
            key = f"{'relapse' if cause == 1 else 'nrm'}_{'all' if grp is None else grp + '_burden'}"
            numbers[key] = {f"{m}_months": {"estimate": _num(at.estimate[i]), "lower": _num(at.lower[i]),
                                            "upper": _num(at.upper[i])} for i, m in enumerate(opts.rate_months)}
            rows.append((cname, glabel, *[_fmt_incidence(at.estimate[i], at.lower[i], at.upper[i])
                                          for i in range(len(times))]))
            if grp is not None:
                t, est = res.curve(cause=cause, group=grp)
                curves.append((f"{cname}, {glabel.lower()}", t, est))
    test_label = None
    if by is not None:
        try:
            gt = stats.gray_test(e.time[known], e.status[known], np.asarray(burden[known], str))
            numbers["gray_test"] = gt.to_dict()
            p1 = gt.p_value[list(gt.causes).index(1)] if 1 in list(gt.causes) else None
            test_label = f"Gray's test (relapse) p = {_fmt_p(p1)}" if p1 is not None else None
        except (ConvergenceError, InvalidInputError) as exc:
            numbers["gray_test"] = {"error": str(exc)}
    fg_rows = []
    if by is not None:
        high = (np.asarray(burden[known]) == "high").astype(float)
        for cause, cname in ((1, "Relapse"), (2, "Death in remission")):
            key = "fine_gray_relapse" if cause == 1 else "fine_gray_nrm"
            try:
                fg = stats.fine_gray(high, e.time[known], e.status[known], cause=cause, conf_level=opts.conf_level)
            except (ConvergenceError, InvalidInputError) as exc:
                numbers[key] = {"error": str(exc)}
                continue
            numbers[key] = fg.to_dict()
            fg_rows.append((cname, "high vs low burden", _fmt_ci(fg.shr[0], fg.shr_lower[0], fg.shr_upper[0], 2),
                            _fmt_p(fg.p_value[0]), f"n={fg.n}"))
    fg_table = Table("fine_gray", "Fine-Gray subdistribution hazard ratios, CR/CRi patients",
                     ("event", "comparison", "SHR (95% CI)", "p", "n"), tuple(fg_rows),
                     notes=("Fine-Gray model as R cmprsk::crr (sandwich variance with the correction for the "
                            "estimated censoring distribution).",))
    table = Table("cumulative_incidence", "Cumulative incidence of relapse and of death in remission "
                  "(competing risks), CR/CRi patients",
                  ("event", "group", *[f"{m} mo, % (95% CI)" for m in opts.rate_months]), tuple(rows),
                  notes=(e.definition, "Aalen-Johansen estimates; variance as R cmprsk::cuminc."))
    fig = CIFFigure("cif_relapse", "Cumulative incidence of relapse and non-relapse mortality by burden",
                    tuple(curves), test_label=test_label)
    return numbers, [table, fg_table], [fig] if curves else []


def _fmt_incidence(est, lo, hi):
    """Percent (95% CI); 'NE' past the group's last follow-up, a bare 0 before any event."""
    if not math.isfinite(est):
        return "NE (beyond follow-up)"
    if est == 0:
        return "0"
    return _fmt_ci(100 * est, 100 * lo if math.isfinite(lo) else None, 100 * hi if math.isfinite(hi) else None,
                   digits=0, missing="-")


def _transplant(cohort, endpoints, opts):
    """Did a subsequent allo-HCT change outcomes? Time-dependent methods, among CR/CRi patients."""
    d = cohort.data
    cr = d["best_response"].isin(COMPLETE_RESPONSE).fillna(False).to_numpy()
    cr_ids = set(d.loc[cr, "patient_id"])
    numbers, rows, figures = {}, [], []
    numbers["n_cr"] = int(cr.sum())
    hct_all = d.set_index("patient_id")["allo_hct_day"]
    for key in ("efs", "os"):
        e = endpoints[key]
        keep = np.array([pid in cr_ids for pid in e.patient_id])
        if keep.sum() < 3:
            continue
        t, s = e.time[keep], e.status[keep]
        hct = hct_all.reindex(np.asarray(e.patient_id)[keep]).to_numpy(float)
        exposed_in_follow_up = np.isfinite(hct) & (hct < t)
        entry = {"n": int(keep.sum()), "n_transplanted": int(exposed_in_follow_up.sum())}
        if exposed_in_follow_up.sum() == 0 or exposed_in_follow_up.all():
            numbers[key] = entry
            continue
        try:
            mb = stats.mantel_byar(t, s, hct)
            entry["mantel_byar"] = mb.to_dict()
            rows.append((e.label, "Mantel-Byar (time-dependent Cox, allo-HCT)", entry["n"],
                         _fmt_ci(mb.hazard_ratio, mb.hr_lower, mb.hr_upper, 2), _fmt_p(mb.p_value)))
        except (ConvergenceError, InvalidInputError) as exc:
            entry["mantel_byar"] = {"error": str(exc)}
        try:
            lm = stats.landmark(t, s, hct, landmark=opts.landmark_days)
            sm = stats.simon_makuch(t, s, hct, conf_type=opts.conf_type, conf_level=opts.conf_level)
        except (ConvergenceError, InvalidInputError) as exc:
            entry["landmark"] = {"error": str(exc)}
            numbers[key] = entry
            continue
        entry["landmark"] = {"landmark_days": lm.landmark, "n": lm.n, "n_exposed": lm.n_exposed,
                             "n_unexposed": lm.n_unexposed,
                             "logrank": None if lm.test is None else lm.test.to_dict()}
        for side, km in (("exposed", lm.km_exposed), ("unexposed", lm.km_unexposed)):
            if km is not None:
                med = km.median
                entry["landmark"][f"median_{side}_months_from_landmark"] = {
                    "value": _num(_months(med.value)), "lower": _num(_months(med.lower)),
                    "upper": _num(_months(med.upper))}
        rows.append((e.label, f"Landmark at day {opts.landmark_days:g}: {lm.n_exposed} transplanted by then vs "
                     f"{lm.n_unexposed} not (log-rank)", int(lm.n), "-", _fmt_p(lm.p_value)))
        figures.append(KMFigure(f"simon_makuch_{key}", f"{e.label} by subsequent allo-HCT (Simon-Makuch), "
                                "CR/CRi patients", (("No allo-HCT (yet)", sm.unexposed), ("After allo-HCT", sm.exposed)),
                                ylabel=f"{e.label} probability"))
        numbers[key] = entry
    table = Table("allo_hct", "Subsequent allogeneic HCT as a time-dependent exposure (CR/CRi patients)",
                  ("endpoint", "method", "n", "hazard ratio (95% CI)", "p"), tuple(rows),
                  notes=("A naive comparison of transplanted with non-transplanted patients from infusion "
                         "gives the transplanted group immortal time; these methods do not.",))
    return numbers, [table], figures


def _cox_covariates(d):
    cov = pd.DataFrame(index=d.index)
    cov["high_burden"] = (d["burden"] == "high").astype(float).where(d["burden"].notna())
    if "age" in d and d["age"].notna().any():
        cov["age_per_10y"] = pd.to_numeric(d["age"], errors="coerce") / 10.0
    for c in ("prior_allo_hct", "ph_positive", "prior_blinatumomab"):
        if c in d and _bool(d[c]).nunique() > 1:
            cov[c] = _bool(d[c]).astype("Float64").astype(float)
    return cov


def _cox_models(cohort, endpoints, opts):
    d = cohort.data.set_index("patient_id")
    numbers, rows, zph_rows, figures = {}, [], [], []
    for key in ("efs", "os"):
        e = endpoints[key]
        numbers[key] = {}
        if e.n == 0 or e.status.sum() == 0:
            numbers[key]["note"] = "no events: no Cox model"
            continue
        cov = _cox_covariates(d.reindex(np.asarray(e.patient_id)).reset_index(drop=True))
        forest = []
        models = [(c, [c]) for c in cov.columns] + [("multivariable", list(cov.columns))]
        for name, cols in models:
            X = cov[cols]
            ok = X.notna().all(axis=1).to_numpy()
            try:
                fit = stats.cox(X[ok], e.time[ok], e.status[ok], ties=opts.ties, conf_level=opts.conf_level)
            except (ConvergenceError, InvalidInputError) as exc:
                numbers[key][name] = {"error": str(exc)}
                rows.append((e.label, name, ", ".join(cols), "not estimable", "-", str(exc)[:80]))
                continue
            numbers[key][name] = fit.to_dict()
            model = "multivariable" if name == "multivariable" else "univariable"
            for i, term in enumerate(fit.terms):
                p = _wald_p(fit.coef[i], fit.se[i])
                rows.append((e.label, model, term, _fmt_ci(fit.hazard_ratio[i], fit.hr_lower[i], fit.hr_upper[i], 2),
                             _fmt_p(p), f"n={fit.n}, events={fit.n_events}"))
                if name == "multivariable":
                    forest.append((term, _num(fit.hazard_ratio[i]), _num(fit.hr_lower[i]), _num(fit.hr_upper[i]), p))
            if name == "multivariable":
                try:
                    z = stats.cox_zph(fit)
                    numbers[key]["proportional_hazards"] = z.to_dict()
                    for i, term in enumerate(z.terms):
                        zph_rows.append((e.label, term, _fmt(z.statistic[i], 2), int(z.df[i]), _fmt_p(z.p_value[i])))
                    g = z.global_test
                    zph_rows.append((e.label, "GLOBAL", _fmt(g.statistic, 2), int(g.df), _fmt_p(g.p_value)))
                except (ConvergenceError, InvalidInputError) as exc:
                    numbers[key]["proportional_hazards"] = {"error": str(exc)}
        if forest:
            figures.append(ForestFigure(f"forest_{key}", f"{e.label}: multivariable Cox model", tuple(forest)))
    tables = [Table("cox", "Cox proportional-hazards models", ("endpoint", "model", "term", "hazard ratio (95% CI)",
                                                                "p (Wald)", "n"), tuple(rows),
                    notes=(f"Ties: {opts.ties}. age per 10 years.",)),
              Table("proportional_hazards", "Proportional-hazards check (R cox.zph, KM transform)",
                    ("endpoint", "term", "chi-square", "df", "p"), tuple(zph_rows))]
    return numbers, tables, figures


def _wald_p(coef, se):
    from scipy.stats import norm

    if se is None or not math.isfinite(se) or se == 0:
        return None
    return float(2 * norm.sf(abs(coef / se)))


def _swimmer(cohort, opts):
    d = cohort.data.sort_values("last_contact_day", kind="stable").reset_index(drop=True)
    lanes = []
    for i, r in d.iterrows():
        label = f"{i + 1:02d}" if opts.deidentify else str(r["patient_id"])
        end = r["last_contact_day"]
        if pd.notna(r.get("data_cutoff_day")) and r["data_cutoff_day"] < end:
            end = r["data_cutoff_day"]
        events = []
        for kind, col in (("response", "response_day"), ("relapse", "relapse_day"),
                          ("allo_hct", "allo_hct_day"), ("death", "death_day")):
            v = r.get(col)
            if pd.notna(v) and v <= end:
                events.append((kind, float(v)))
        dead = pd.notna(r.get("death_day")) and r["death_day"] <= end
        lanes.append((label, float(end), not dead, tuple(events)))
    return SwimmerFigure("swimmer", "Course of every patient", tuple(lanes))


def _reproduction_section(numbers):
    """Published figure beside this cohort's, for every figure in park2018_published.json."""
    ref = json.loads(resources.files("ltfu.demo").joinpath("park2018_published.json").read_text())

    def g(*path):                        # a figure this cohort does not have (e.g. no low-burden group): None
        v = numbers
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    def pct(*path):
        v = g(*path)
        return None if v is None else 100 * v

    ours = {
        ("baseline", "age_median"): g("baseline", "age", "all", "median"),
        ("baseline", "age_min"): g("baseline", "age", "all", "min"),
        ("baseline", "age_max"): g("baseline", "age", "all", "max"),
        ("baseline", "low_burden.n"): g("baseline", "burden", "low"),
        ("baseline", "high_burden.n"): g("baseline", "burden", "high"),
        ("response", "complete_remission.n"): g("response", "complete_remission", "n"),
        ("response", "complete_remission.pct"): pct("response", "complete_remission", "estimate"),
        ("response", "mrd_negative_among_cr.pct"): 100 * (g("response", "mrd_negative_among_cr", "all",
                                                              "estimate") or 0),
        ("safety", "severe_crs.n"): g("safety", "severe_crs", "n"),
        ("safety", "severe_crs.pct"): pct("safety", "severe_crs", "estimate"),
        ("safety", "severe_crs.ci95"): (pct("safety", "severe_crs", "lower"), pct("safety", "severe_crs", "upper")),
        ("safety", "any_grade_crs.n"): g("safety", "any_crs", "n"),
        ("safety", "crs_deaths"): g("safety", "crs_deaths"),
        ("safety", "grade_3_4_neurotoxicity.n"): g("safety", "severe_neurotox", "n"),
        ("follow_up", "median_months"): g("follow_up", "median_months"),
        ("follow_up", "min_months"): g("follow_up", "min_months"),
        ("follow_up", "max_months"): g("follow_up", "max_months"),
    }
    for group in ("all", "low_burden"):
        for key in ("efs", "os"):
            ours[("survival", f"{group}.{key}_median")] = g("survival", key, group, "median_months")
            ours[("survival", f"{group}.{key}_ci95")] = (g("survival", key, group, "median_lower_months"),
                                                         g("survival", key, group, "median_upper_months"))
    rows, out = [], []
    for (sec, path), mine in ours.items():
        pub = ref[sec]
        for part in path.split("."):
            pub = pub.get(part) if isinstance(pub, dict) else None
        if isinstance(pub, dict):
            pub = pub.get("n")
        rows.append((f"{sec}: {path}", _show(pub), _show(mine)))
        out.append({"item": f"{sec}.{path}", "published": pub, "this_cohort": _jsonable(mine)})
    table = Table("reproduction", "Published figures (Park et al., NEJM 2018) beside this synthetic cohort's",
                  ("figure", "published", "this cohort (synthetic)"), tuple(rows),
                  notes=("The demonstration cohort is SYNTHETIC: built to reproduce published summary "
                         "figures; it is not patient data.", "null/NR: not reached."))
    return out, table


def _show(v):
    if v is None:
        return "NR"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() else f"{v:.1f}"
    return str(v)


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_num(x) for x in v]
    return _num(v) if isinstance(v, float) else v


# ----------------------------------------------------------------------------------------------

def _marked(cohort: Cohort, opts: AnalysisOptions) -> Cohort:
    """Only the packaged demonstration cohort is synthetic; a de-identified report sees only
    controlled values (ltfu.deid)."""
    from dataclasses import replace

    from ltfu.demo import is_packaged_demo

    if cohort.synthetic and not is_packaged_demo(cohort):
        cohort = replace(cohort, synthetic=False)
    return deid.deidentify_cohort(cohort) if opts.deidentify else cohort


def analyse(cohort: Cohort, options: AnalysisOptions | None = None) -> Results:
    """Run the whole long-term follow-up plan on a validated cohort and return frozen Results."""
    opts = options or AnalysisOptions()
    cohort = _marked(cohort, opts)
    numbers: dict = {}
    tables, figures, sections = [], [], []
    data_numbers, t, f, sec, meta, warnings = _data_section(cohort, opts)
    numbers.update(data_numbers)
    tables += t
    sections.append(sec)
    for builder in (_baseline_section, _response_section, _safety_section, _follow_up_section,
                    _survival_section):
        n, t, f, sec = builder(cohort, opts)
        numbers.update(n)
        tables += t
        figures += f
        sections.append(sec)
    if cohort.synthetic:
        rep, table = _reproduction_section(numbers)
        numbers["reproduction"] = rep
        tables.append(table)
        sections.append(Section("reproduction", "7. Reproduction of the published figures",
                                paragraphs=("The demonstration cohort is synthetic. It was generated to "
                                            "reproduce the published summary figures of Park et al. "
                                            "(NEJM 2018); it is not patient data.",),
                                tables=("reproduction",)))
    meta["options"] = asdict(opts)
    meta["options"]["rate_months"] = list(opts.rate_months)
    numbers["meta"] = meta
    title = "Long-term follow-up report" + (" - SYNTHETIC demonstration cohort" if cohort.synthetic else "")
    return Results(title=title, numbers=numbers, sections=tuple(sections), tables=tuple(tables),
                   figures=tuple(figures), synthetic=cohort.synthetic, warnings=warnings, meta=meta)
