"""Section "Maturity across data cuts": how the estimates changed from cut to cut, and why.

For every cut (as it was reported from its own data): the median follow-up by reverse
Kaplan-Meier (as the follow-up section), the patients still at risk (alive and followed) at 12, 24,
36 and 60 months, the EFS events and deaths, and the EFS and OS medians and 12- and 24-month
milestones with their confidence intervals (as the survival section), and for a study with adverse
events their rate per 100 patient-years (as the long-term safety section).  Then each earlier cut
re-derived from the LATEST data with the earlier cut-off applied (the patients infused by then,
every event and contact after it ignored): where the re-derived row differs from the row as
reported, the data about the time before that cut changed afterwards (correction); from the
re-derived row to the latest cut the difference is more follow-up only (maturation).

Shown when a report runs on a study store with two cuts or more up to the reported one, and for
``ltfu report --demo`` (the three SYNTHETIC earlier cuts of ``ltfu.demo.cuts``).  Only counts and
estimates appear: no patient row, id or date besides the cut dates (withheld, with the labels, in
a de-identified report: the cuts are numbered instead).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np

from ltfu import stats
from ltfu.analysis.common import fmt, fmt_ci, months, num
from ltfu.analysis.plan import Plan
from ltfu.analysis.survival import NE_BEYOND, fmt_rate, km_entry
from ltfu.cohort.model import Cohort
from ltfu.defaults import DAYS_PER_MONTH
from ltfu.results import DriftFigure, Part, Section, Table

AT_RISK_MONTHS = (12, 24, 36, 60)
MILESTONE_MONTHS = (12, 24)
REPORTED = "as reported"
REDERIVED = "latest data, this cut-off"


def apply_cutoff(cohort: Cohort, cohort_cut: str, earlier_cut: str) -> Cohort:
    """``cohort`` (cut-off ``cohort_cut``) as of the earlier cut-off date ``earlier_cut``: only the
    patients infused by then, each one's data cut-off moved back by the days between the two dates
    (so every event and contact after it is ignored by the endpoints), and a best response assessed
    after it unknown (EFS counts a non-response only once it is known).  Needs no infusion date:
    the data cut-off day is already days from each patient's infusion."""
    shift = (dt.date.fromisoformat(cohort_cut) - dt.date.fromisoformat(earlier_cut)).days
    d = cohort.data
    cut_day = d["data_cutoff_day"].to_numpy(float) - shift
    with np.errstate(invalid="ignore"):
        keep = ~(cut_day < 0)
    data = d.loc[keep].copy()
    data["data_cutoff_day"] = cut_day[keep]
    with np.errstate(invalid="ignore"):        # a response assessed after the cut-off was not known then
        later = (data["response_day"].to_numpy(float) > data["data_cutoff_day"].to_numpy(float))
    for c in ("best_response", "mrd_negative"):
        if c in data:
            data.loc[later, c] = None
    return Cohort(data.reset_index(drop=True), cohort.source, cohort.sha256, cohort.burden_threshold, earlier_cut,
                  cohort.synthetic, cohort.warnings)


def summary(cohort: Cohort, opts, plan: Plan | None = None) -> dict:
    """The maturity numbers of one cohort (JSON types)."""
    plan = plan or Plan.build(cohort, opts)
    fu = plan.counter.median_follow_up(plan.follow_up.time, plan.follow_up.status, conf_type=opts.conf_type,
                                       conf_level=opts.conf_level).reverse_km
    out = {"n": cohort.n, "median_follow_up_months": num(months(fu.value)),
           "median_follow_up_lower_months": num(months(fu.lower)),
           "median_follow_up_upper_months": num(months(fu.upper))}
    milestones = replace(opts, rate_months=MILESTONE_MONTHS)
    for key, e in (("efs", plan.efs), ("os", plan.os)):
        if e.n == 0:
            out[key] = None
            continue
        km = stats.kaplan_meier(e.time, e.status, conf_type=opts.conf_type, conf_level=opts.conf_level)
        out[key] = km_entry(km, milestones)
        if key == "os":
            at = km.at(np.asarray(AT_RISK_MONTHS, float) * DAYS_PER_MONTH)
            out["at_risk"] = {f"{m}_months": int(n) for m, n in zip(AT_RISK_MONTHS, at.n_risk)}
    out.setdefault("at_risk", {f"{m}_months": 0 for m in AT_RISK_MONTHS})
    return out


def safety_rates(cohort: Cohort, events, opts) -> dict:
    """All adverse events and second primary malignancies per 100 patient-years of one cut: every
    event with onset within its patient's person-time (``ltfu.safety.person_time``), over the whole
    person-time, exact Poisson interval (``stats.incidence_rate``): what ``safety.incidence(...,
    first_only=False)`` gives, with the events matched to patients once instead of per category
    (20 cuts of 1e5 patients)."""
    import pandas as pd

    from ltfu import safety

    pt = safety.person_time(cohort)
    stop = pd.Series(pt.stop, index=pt.patient_id)
    with np.errstate(invalid="ignore"):
        within = events["onset_day"].to_numpy(float) <= stop.reindex(events["patient_id"].astype(str)).to_numpy(float)
    category = events["category"].to_numpy(object)
    out = {"person_years": num(pt.years)}
    for key, hit in (("all_events", within), ("second_primary_malignancy",
                                               within & (category == "second_primary_malignancy"))):
        k = int(hit.sum())
        rate = stats.incidence_rate(k, pt.years, per=100.0, conf_level=opts.conf_level) if pt.years > 0 else None
        out[key] = {"events": k, "rate_per_100py": num(rate.value) if rate else None,
                    "lower": num(rate.lower) if rate else None, "upper": num(rate.upper) if rate else None}
    return out


def _safety_row(name, basis, s):
    def cell(r):
        return f"{r['events']}: {fmt_ci(r['rate_per_100py'], r['lower'], r['upper'], 2, missing='-')}"

    return (name, basis, fmt(s["person_years"]), cell(s["all_events"]), cell(s["second_primary_malignancy"]))


def _rows(name, basis, s):
    fu = fmt_ci(s["median_follow_up_months"], s["median_follow_up_lower_months"], s["median_follow_up_upper_months"])
    efs, os_ = s["efs"] or {}, s["os"] or {}
    follow = (name, basis, s["n"], fu, *(s["at_risk"][f"{m}_months"] for m in AT_RISK_MONTHS),
              efs.get("events", 0), os_.get("events", 0))

    def median(e):
        return fmt_ci(e["median_months"], e["median_lower_months"], e["median_upper_months"]) if e else "-"

    def rates(e):
        return tuple(fmt_rate(e["rates"][f"{m}_months"]) if e else "-" for m in MILESTONE_MONTHS)

    return follow, (name, basis, median(efs), *rates(efs), median(os_), *rates(os_))


def _point(entry, m):
    """(estimate %, lower %, upper %) of a milestone, or Nones where not estimable."""
    if not entry:
        return (None, None, None)
    r = entry["rates"][f"{m}_months"]
    if r.get("note") == NE_BEYOND or r["estimate"] is None:
        return (None, None, None)
    return tuple(None if v is None else 100 * v for v in (r["estimate"], r["lower"], r["upper"]))


def changed_patients(a: Plan, b: Plan) -> dict:
    """Per endpoint (EFS, OS), how many patients of both plans have another time or status in ``b``."""
    import pandas as pd

    out = {}
    for key in ("efs", "os"):
        ea, eb = getattr(a, key), getattr(b, key)
        fa = pd.DataFrame({"id": ea.patient_id, "t": ea.time, "s": ea.status})
        fb = pd.DataFrame({"id": eb.patient_id, "t": eb.time, "s": eb.status})
        m = fa.merge(fb, on="id", suffixes=("_a", "_b"))
        out[key] = int(((m["t_a"] != m["t_b"]) | (m["s_a"] != m["s_b"])).sum())
    return out


def _changes(name, rep, red, moved) -> list[str]:
    """Sentences naming what the re-derived numbers of a cut change against the reported ones."""
    out = [f"{moved[k]} patient(s) with another {k.upper()} time or status" for k in ("efs", "os") if moved[k]]
    for label, a, b in (("patients", rep["n"], red["n"]),
                        ("EFS events", (rep["efs"] or {}).get("events", 0), (red["efs"] or {}).get("events", 0)),
                        ("deaths", (rep["os"] or {}).get("events", 0), (red["os"] or {}).get("events", 0))):
        if a != b:
            out.append(f"{label} {a} as reported, {b} from the latest data")
    return out


def build(plan: Plan, cuts) -> Part:
    """``cuts``: [(name, ISO cut date, Study or Cohort)], oldest first, the reported cut last."""
    opts = plan.options
    deid = opts.deidentify
    entries: list[dict] = []
    follow_rows: list[tuple] = []
    estimate_rows: list[tuple] = []
    paragraphs: list[str] = []
    _, latest_date, latest = cuts[-1]
    latest_cohort = getattr(latest, "cohort", latest)
    latest_events = getattr(latest, "events", None)
    with_safety = latest_events is not None and len(latest_events) > 0      # the study has adverse events
    safety_rows = []
    corrections = []
    for k, (name, date, study) in enumerate(cuts):
        shown = f"Cut {k + 1}" if deid else f"{name}" if name == date else f"{date} ({name})"
        cohort = getattr(study, "cohort", study)
        plan_rep = Plan.build(cohort, opts)
        rep = summary(cohort, opts, plan_rep)
        red = None
        if k < len(cuts) - 1:
            again = apply_cutoff(latest_cohort, latest_date, date)
            plan_red = Plan.build(again, opts)
            red = summary(again, opts, plan_red)
            red["patients_changed"] = changed_patients(plan_rep, plan_red)
            found = _changes(shown, rep, red, red["patients_changed"])
            if found:
                corrections.append(f"{shown}: {'; '.join(found)}.")
        if with_safety:
            events = getattr(study, "events", None)
            rep["safety"] = safety_rates(cohort, events if events is not None else latest_events.iloc[:0], opts)  # type: ignore[union-attr]
            if red is not None:
                red["safety"] = safety_rates(again, latest_events, opts)
        entries.append({"name": f"Cut {k + 1}" if deid else name, "cut_date": None if deid else date,
                        "reported": rep, "rederived": red})
        for basis, s in ((REPORTED, rep), (REDERIVED, red)):
            if s is not None:
                f, e = _rows(shown, basis, s)
                follow_rows.append(f)
                estimate_rows.append(e)
                if with_safety:
                    safety_rows.append(_safety_row(shown, basis, s["safety"]))
    at_cols = tuple(f"at risk {m} mo" for m in AT_RISK_MONTHS)
    t1 = Table("maturity_follow_up", "Maturity across data cuts: follow-up, patients at risk and events",
               ("cut", "basis", "patients", "median follow-up, months (95% CI)", *at_cols, "EFS events", "deaths"),
               tuple(follow_rows),
               notes=("Median follow-up by reverse Kaplan-Meier; at risk: alive and followed (overall survival). "
                      f"'{REPORTED}': the cut's own data; '{REDERIVED}': the latest cut's data with this cut's "
                      "cut-off applied (patients infused by then, events and contacts after it ignored).",))
    t2 = Table("maturity_estimates", f"Maturity across data cuts: EFS and OS (months; % (95% CI), intervals "
               f"{opts.conf_type} transformed)",
               ("cut", "basis", "EFS median (95% CI)", *(f"EFS {m} mo" for m in MILESTONE_MONTHS),
                "OS median (95% CI)", *(f"OS {m} mo" for m in MILESTONE_MONTHS)), tuple(estimate_rows),
               notes=("NR: not reached. NE (beyond follow-up): no patient followed that long at that cut.",))
    tables = [t1, t2]
    if with_safety:
        tables.append(Table("maturity_safety", "Maturity across data cuts: adverse events per 100 patient-years",
                            ("cut", "basis", "patient-years", "all adverse events: events: rate (95% CI)",
                             "second primary malignancies: events: rate (95% CI)"), tuple(safety_rows),
                            notes=("Every event over the whole person-time (infusion to death, last contact or "
                                   "cut-off), exact Poisson intervals, as the long-term safety section.",)))
    paragraphs.append(f"{len(cuts)} data cuts, the reported one last. For each earlier cut the second row re-derives "
                      "its numbers from the latest data with that cut's cut-off: a difference between a cut's two "
                      "rows is a correction (data about the time before that cut changed afterwards); from the "
                      "re-derived row to the latest cut the difference is maturation (more follow-up).")
    paragraphs.append("Corrections found: " + " ".join(corrections) if corrections else
                      "No correction found: every earlier cut's patients, EFS and OS times and statuses are the "
                      "same when re-derived from the latest data.")
    labels = tuple(e[0] for e in follow_rows if e[1] == REPORTED)
    series = []
    for key, label in (("efs", "EFS"), ("os", "OS")):
        for m in MILESTONE_MONTHS[-1:]:
            series.append((f"{label} at {m} months, {REPORTED}", tuple(_point(e["reported"][key], m) for e in entries),
                           False))
            series.append((f"{label} at {m} months, {REDERIVED}",
                           tuple(_point(e["rederived"][key], m) if e["rederived"] else (None, None, None)
                                 for e in entries), True))
    fig = DriftFigure("maturity_drift", f"Estimates by data cut ({MILESTONE_MONTHS[-1]}-month EFS and OS, "
                      f"{100 * opts.conf_level:g}% CI)", labels, tuple(series))
    numbers = {"n_cuts": len(cuts), "cuts": entries, "corrections": corrections,
               "at_risk_months": list(AT_RISK_MONTHS), "milestone_months": list(MILESTONE_MONTHS)}
    section = Section("maturity", "Maturity across data cuts", paragraphs=tuple(paragraphs),
                      tables=tuple(t.name for t in tables), figures=(fig.name,))
    return Part("maturity", numbers, tuple(tables), (fig,), section)


__all__ = ["apply_cutoff", "build", "fmt", "summary"]
