"""Section "Persistence and immune reconstitution": B-cell aplasia and recovery, relapse-free survival
by B-cell recovery, IgG and hypogammaglobulinaemia, blood-count recovery and ICAHT, and CAR
transgene persistence, overall and by disease burden.  Every number is ``ltfu.persistence``'s (whose
definitions the section prints); shown for a study with assessments."""

from __future__ import annotations

import math

import numpy as np

from ltfu import persistence as P
from ltfu import stats
from ltfu.analysis.common import fmt_ci, fmt_p, num
from ltfu.analysis.plan import Plan
from ltfu.defaults import DAYS_PER_MONTH
from ltfu.results import CIFFigure, KMFigure, Part, Section, Table, TrajectoryFigure

# (key in ltfu.persistence's groups, label); "overall" is every patient
GROUPS = (("overall", "All patients"), ("low", "Low burden"), ("high", "High burden"))


def _pick(split: dict, key: str):
    return split["overall"] if key == "overall" else split["groups"].get(key)


def _pct(est, lo, hi) -> str:
    if est is None or not math.isfinite(est):
        return "NE"
    return fmt_ci(est, lo, hi, digits=0, scale=100.0, missing="NE")


def _months_ci(value, lower, upper) -> str:
    """A median (days) with its limits, in months; NR where not reached."""
    def mo(v):
        return None if v is None or not math.isfinite(v) else v / DAYS_PER_MONTH
    return fmt_ci(mo(value), mo(lower), mo(upper), digits=1)


def _median_months(m) -> str:
    return _months_ci(m.value, m.lower, m.upper)


def _day_label(d: float) -> str:
    return f"day {d:g}"


def _burden_of(plan: Plan) -> dict:
    d = plan.cohort.data
    return dict(zip(d["patient_id"].astype(str), d["burden"]))


def _b_cells(res, plan, figures):
    opts = plan.options
    a = res.aplasia
    days = a.days
    rows, cif_rows = [], []
    for key, label in GROUPS:
        km = _pick(a.km, key)
        if km is None:
            continue
        at = km.at(np.asarray(days, float))
        events = int(km.n_event.sum())
        rows.append((label, km.n, events, _median_months(km.median),
                     *[_pct(at.survival[i], at.ci_lower[i], at.ci_upper[i]) for i in range(len(days))]))
        ci = _pick(a.cif, key)
        if ci is not None:
            rec = ci.at(days, cause=1)
            cif_rows.append((label, ci.n, *[ci.events.get(c, 0) for c in (1, 2, 3, 4)],
                             *[_pct(rec.estimate[i], rec.lower[i], rec.upper[i]) for i in range(len(days))]))
    lr = "-" if a.logrank is None else fmt_p(a.logrank.p_value)
    gray = "-" if a.gray is None else fmt_p(a.gray.p_value[0])
    t1 = Table("b_cell_aplasia", "Duration of B-cell aplasia (Kaplan-Meier)",
               ("group", "patients", "recoveries", "median duration, months (95% CI)",
                *[f"in aplasia at {_day_label(d)}, % (95% CI)" for d in days]), tuple(rows),
               notes=(a.definition.split(" Cumulative incidence")[0], f"Log-rank test, low vs high burden: p = {lr}."))
    t2 = Table("b_cell_recovery", "Cumulative incidence of B-cell recovery, with competing events",
               ("group", "patients", "recovery", "CD19-negative relapse first", "further therapy first",
                "death first", *[f"recovered by {_day_label(d)}, % (95% CI)" for d in days]), tuple(cif_rows),
               notes=("Competing events: a CD19-negative relapse, further therapy (in remission or after a "
                      "CD19-positive relapse) and death, whichever comes first. Aalen-Johansen estimates with "
                      f"cuminc's variance. Gray's test, low vs high burden: p = {gray}.",))
    km_curves = tuple((label, _pick(a.km, key)) for key, label in GROUPS[1:] if _pick(a.km, key) is not None)
    if km_curves:
        figures.append(KMFigure("b_cell_aplasia", "Duration of B-cell aplasia by disease burden", km_curves,
                                ylabel="Still in B-cell aplasia",
                                p_value=None if a.logrank is None else a.logrank.p_value, test_name="Log-rank"))
    curves, limits, groups = [], [], []
    for key, label in GROUPS[1:]:
        ci = _pick(a.cif, key)
        if ci is None or 1 not in ci.fit.causes:
            continue
        t, est = ci.fit.curve(cause=1)
        lim = ci.fit.at(t, cause=1)
        curves.append((f"B-cell recovery, {label.lower()}", t, est))
        limits.append((lim.lower, lim.upper))
        groups.append(label)
    b = a.patients
    burden = _burden_of(plan)
    at_risk = []
    for key, label in GROUPS[1:]:
        m = np.array([burden.get(str(pid)) == key for pid in b.patient_id], bool)
        if label in groups and m.any():       # the group's follow-up: any outcome or censoring ends it
            at_risk.append((label, stats.kaplan_meier(b.cr_time[m], (b.cause[m] != 0).astype(int))))
    if curves:
        figures.append(CIFFigure("b_cell_recovery", "Cumulative incidence of B-cell recovery by disease burden",
                                 tuple(curves), xlabel="Months since infusion", groups=tuple(groups),
                                 at_risk=tuple(at_risk), limits=tuple(limits), conf_level=opts.conf_level,
                                 p_value=None if a.gray is None else a.gray.p_value[0], test_name="Gray's test"))
    return (t1, t2)


def _relapse(res, opts):
    r = res.relapse
    rows = []
    for day, split in r.landmarks.items():
        lm = split["overall"]
        if lm is None:
            rows.append((f"Landmark {_day_label(day)}", 0, 0, "-", "-", "-"))
            continue
        cells = []
        for km in (lm.km_exposed, lm.km_unexposed):
            at = None if km is None else km.at([r.horizon])
            cells.append("-" if at is None else _pct(at.survival[0], at.ci_lower[0], at.ci_upper[0]))
        rows.append((f"Landmark {_day_label(day)}", lm.n, lm.n_exposed, *cells,
                     "-" if lm.test is None else fmt_p(lm.test.p_value)))
    cox = r.cox["overall"]
    if cox is not None:
        hr = fmt_ci(float(np.exp(cox.coef[0])), cox.hr_lower[0], cox.hr_upper[0], digits=2, missing="NE")
        rows.append(("Cox model, recovery time-dependent", r.rows.patient_id.size, int(np.isfinite(r.rows.recovery_day)
                     .sum()), f"HR {hr}", "", fmt_p(cox.p_value[0])))
    else:
        rows.append(("Cox model, recovery time-dependent", r.rows.patient_id.size,
                     int(np.isfinite(r.rows.recovery_day).sum()), "not estimable", "", "-"))
    notes = [r.definition]
    if cox is None and "overall" in r.cox_errors:
        notes.append(f"Cox model not estimable: {r.cox_errors['overall'].split('] ', 1)[-1]}.")
    return Table("rfs_by_b_cell_recovery", "Relapse-free survival by B-cell recovery, CR/CRi patients",
                 ("analysis", "patients", "recovered", f"RFS {r.horizon:g} days later, recovered, % (95% CI)",
                  f"RFS {r.horizon:g} days later, not recovered, % (95% CI)", "p"), tuple(rows),
                 notes=tuple(notes))


def _describe_cell(d) -> str:
    if not d["n"]:
        return "-"
    return f"{d['median']:.1f} ({d['q1']:.1f} to {d['q3']:.1f}); n={d['n']}"


def _count_pct(n: int, p: dict) -> str:
    """"n (x%; lower to upper)" of a proportion with its exact interval."""
    return f"{n} ({100 * p['value']:.0f}%; {100 * p['lower']:.0f} to {100 * p['upper']:.0f})"


def _igg(res, study, plan, figures):
    g = res.igg.to_dict()
    keys = [k for k, _ in GROUPS]
    by = {k: (g["visits"]["overall"] if k == "overall" else g["visits"]["groups"].get(k)) for k in keys}
    rows = []
    for i, v in enumerate(g["visits"]["overall"]):
        if not any(by[k] and by[k][i]["n"] for k in keys):
            continue
        rows.append((v["visit"], *[_describe_cell(by[k][i]) if by[k] else "-" for k in keys]))
    t1 = Table("igg_by_visit", "Serum IgG by visit, g/L: median (interquartile range)",
               ("visit", *[lab for _, lab in GROUPS]), tuple(rows), notes=(res.igg.definition,))
    yrows = []
    for y in g["years"]["overall"]:
        if not y["assessed"]:
            continue
        h, v = y["hypogammaglobulinaemia_proportion"], y["ivig_proportion"]
        yrows.append((f"Year {y['year']}", y["assessed"], _count_pct(y["hypogammaglobulinaemia"], h),
                      y["igg_below_threshold"], _count_pct(y["ivig"], v)))
    t2 = Table("hypogammaglobulinaemia", "Hypogammaglobulinaemia and IVIG by year after infusion",
               ("year", "patients assessed", "hypogammaglobulinaemia, n (%; 95% CI)", "IgG below the threshold",
                "IVIG, n (%; 95% CI)"), tuple(yrows),
               notes=("Exact (Clopper-Pearson) intervals. Assessed: an IgG result or IVIG in the year.",))
    a = study.assessments
    igg = a[a["test"] == "igg_g_per_l"]
    burden = _burden_of(plan)
    panels = []
    for key, label in GROUPS[1:]:
        pts = tuple((grp["day"].to_numpy(float), grp["value"].to_numpy(float))
                    for pid, grp in igg.sort_values("day").groupby(igg["patient_id"].astype(str))
                    if burden.get(pid) == key)
        summ = by[key]
        summary = None
        if summ:
            ok = [s for s in summ if s["n"]]
            summary = (np.array([s["day"] for s in ok], float), np.array([s["median"] for s in ok], float),
                       np.array([s["q1"] for s in ok], float), np.array([s["q3"] for s in ok], float))
        if pts:
            panels.append((label, pts, summary))
    if panels:
        thr = res.options.igg_threshold
        figures.append(TrajectoryFigure("igg_trajectories", "Serum IgG after infusion by disease burden",
                                        tuple(panels), ylabel="IgG (g/L)", threshold=thr,
                                        threshold_label=f"IgG {thr:g} g/L"))
    return (t1, t2)


def _counts(res, opts):
    c = res.counts
    rows = []
    names = {"neutrophils": "Neutrophils", "platelets": "Platelets"}
    for name in c.recoveries:
        kind, thr = name.rsplit("_", 1)
        gray, _ = c.gray[name]
        for key, label in GROUPS:
            ci = _pick(c.cif[name], key)
            if ci is None:
                continue
            at = ci.at(c.days, cause=1)
            rows.append((f"{names.get(kind, kind)} >= {float(thr):,.0f}/uL", label, ci.n, ci.events.get(1, 0),
                         *[_pct(at.estimate[i], at.lower[i], at.upper[i]) for i in range(len(c.days))],
                         fmt_p(gray.p_value[0]) if (gray is not None and key == "overall") else ""))
    t1 = Table("count_recovery", "Blood-count recovery: cumulative incidence, death competing",
               ("recovery", "group", "patients", "recovered", *[f"by {_day_label(d)}, % (95% CI)" for d in c.days],
                "Gray's test p (burden)"), tuple(rows),
               notes=(c.definition.split(" Early ICAHT")[0],))
    table = c.cytopenia_table()
    grades = ("0", "1", "2", "3", "4", "NE")
    rows2 = []
    for g in grades:
        cells = []
        for window in ("early", "late"):
            for key, _ in GROUPS:
                counts = _pick(table[window], key)
                n = sum(counts.values()) if counts else 0
                cells.append("-" if not counts else f"{counts[g]} ({100 * counts[g] / n:.0f}%)" if n else "0")
        rows2.append((f"Grade {g}" if g != "NE" else "Not evaluable", *cells))
    t2 = Table("icaht", "Immune effector cell-associated haematotoxicity (ICAHT)",
               ("grade", *[f"{w}, {lab}" for w in ("Early (day 0-30)", "Late (after day 30)") for _, lab in GROUPS]),
               tuple(rows2), notes=("Early ICAHT" + c.definition.split(" Early ICAHT", 1)[-1],))
    return (t1, t2)


def _car(res, opts):
    car = res.car.to_dict()
    rows = []
    for key, label in GROUPS:
        s = _pick(car["summary"], key)
        if s is None or not s["n"]:
            continue
        tb = _pick(car["loss_turnbull"], key)
        mid = _pick(car["loss_midpoint_km"], key)
        fit = _pick(res.car.turnbull, key)
        cells = ["-"] * len(res.car.days)
        if fit is not None:             # R's midpoint curve; NE past its end (the last observed time)
            surv = fit.at(np.asarray(res.car.days, float), inside="midpoint").survival
            cells = ["NE" if d > fit.max_time or not math.isfinite(v) else f"{100 * v:.0f}"
                     for d, v in zip(res.car.days, surv)]
        med_tb = "-" if tb is None else ("NR" if tb["median"] is None else f"{tb['median'] / DAYS_PER_MONTH:.1f}")
        med_mid = "-" if mid is None else _months_ci(mid["median"]["value"], mid["median"]["lower"],
                                                       mid["median"]["upper"])
        rows.append((label, s["n"], _describe_cell(s["log10_peak"]).split("; ")[0],
                     _describe_cell(s["auc_log10"]).split("; ")[0], s["lost"], med_tb, med_mid, *cells))
    return Table("car_persistence", "CAR transgene kinetics and persistence",
                 ("group", "patients", "peak, log10(copies/ug + 1): median (IQR)", "AUC day 0-28, log10 copies x days:"
                  " median (IQR)", "loss observed", "median persistence, months (Turnbull)",
                  "median, months (midpoint Kaplan-Meier, for comparison)",
                  *[f"persisting at {_day_label(d)}, % (Turnbull)" for d in res.car.days]), tuple(rows),
                 notes=(res.car.definition, "Turnbull's nonparametric estimate for interval-censored times (R survfit "
                        "with Surv(type = 'interval2')); where it is not unique between two assessments the midpoint "
                        "of its range is shown. The midpoint Kaplan-Meier treats each loss as observed at the middle "
                        "of its interval: biased and over-confident, shown only for comparison."))


def build(plan: Plan, study) -> Part:
    opts = plan.options
    o = P.PersistenceOptions(conf_level=opts.conf_level, conf_type=opts.conf_type)
    res = P.analyse(study, group="burden", options=o, group_name="burden")
    numbers = res.to_dict()
    numbers["car"].pop("patients", None)         # per-patient rows stay out of results.json
    figures: list = []
    tables = [*_b_cells(res, plan, figures), _relapse(res, opts), *_igg(res, study, plan, figures),
              *_counts(res, opts), _car(res, opts)]
    numbers["n_patients"] = int(plan.cohort.n)
    numbers["n_assessments"] = len(study.assessments)
    section = Section("persistence", "Persistence and immune reconstitution", tables=tuple(t.name for t in tables),
                      figures=tuple(f.name for f in figures),
                      paragraphs=(f"{len(study.assessments)} assessments of {study.assessments['patient_id'].nunique()}"
                                  f" patients. " + res.definitions[0], res.definitions[1]))
    return Part("persistence", _clean(numbers), tuple(tables), tuple(figures), section)


def _clean(x):
    """JSON-safe: NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return num(float(x))
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
