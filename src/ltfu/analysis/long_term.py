"""Section "Long-term safety": delayed adverse events per 100 patient-years with exact Poisson
intervals (overall, by disease burden and by time window), their cumulative incidence with death
competing, second primary malignancies, and the completeness of the yearly follow-up.  Computed by
``ltfu.safety`` and ``ltfu.stats``; shown only for a study with adverse events or assessments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ltfu import defaults, safety, stats
from ltfu.analysis.common import GROUPS, fmt, fmt_ci, fmt_p, num
from ltfu.analysis.plan import Plan
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import BarFigure, CIFFigure, Part, Section, Table

YEARS = defaults.SAFETY_YEARS
UNBOUNDED_RATIO = "no event in the low-burden group"
LABELS = {"second_primary_malignancy": "Second primary malignancy", "infection": "Infection",
          "neurological": "Neurological disorder", "autoimmune": "Autoimmune disorder",
          "haematological": "Haematological disorder", "hypogammaglobulinaemia": "Hypogammaglobulinaemia",
          "other": "Other"}
SUBTYPE_LABELS = {"haematological": "Haematological", "solid": "Solid tumour",
                  "non_melanoma_skin": "Non-melanoma skin cancer", "t_cell": "T-cell malignancy"}


def _rate_cell(r: safety.RateRow) -> str:
    if not math.isfinite(r.rate.value):
        return "no time at risk"
    return f"{r.events}: {fmt_ci(r.rate.value, r.rate.lower, r.rate.upper, 2)}"


def _rates(plan: Plan, study, pt, ix, numbers):
    masks = plan.masks()
    rows = []
    numbers["incidence"] = {}
    categories = [c for c in safety.CATEGORIES if (study.events["category"] == c).any()]
    for cat in categories:
        entry: dict[str, Any] = {}
        for first_only, kind in ((True, "first events"), (False, "all events")):
            cells, key = [], "first" if first_only else "all"
            entry[key] = {}
            for g, _ in GROUPS:
                r = safety.incidence(ix, pt, category=cat, first_only=first_only, mask=masks[g],
                                     conf_level=plan.options.conf_level, label=g)
                entry[key][g] = r.to_dict()
                cells.append(_rate_cell(r))
            rows.append((LABELS[cat], kind, *cells))
        low = safety.incidence(ix, pt, category=cat, mask=masks["low_burden"])
        high = safety.incidence(ix, pt, category=cat, mask=masks["high_burden"])
        try:
            rr = stats.rate_ratio(high.events, high.person_years, low.events, low.person_years,
                                  conf_level=plan.options.conf_level)
            entry["rate_ratio_high_vs_low"] = rr.to_dict()
            if math.isinf(rr.ratio):   # no event in the low-burden group: unbounded (R: Inf), not unknown
                entry["rate_ratio_high_vs_low"]["note"] = UNBOUNDED_RATIO
                cell = f"unbounded ({UNBOUNDED_RATIO}); lower limit {fmt(rr.lower, 2)}"
            else:
                cell = fmt_ci(rr.ratio, rr.lower, rr.upper, 2, missing='NE')
            rows[-2] = (*rows[-2], f"{cell}; p = {fmt_p(rr.p_value)}")
        except InvalidInputError:
            rows[-2] = (*rows[-2], "-")
        rows[-1] = (*rows[-1], "")
        numbers["incidence"][cat] = entry
    n = {g: int(masks[g].sum()) for g, _ in GROUPS}
    years = {g: float(pt.stop[masks[g]].sum() / safety.DAYS_PER_YEAR) for g, _ in GROUPS}
    columns = ("event", "counted", *[f"{lab} (n={n[g]}, {years[g]:.1f} PY): events: rate (95% CI)"
                                      for g, lab in GROUPS], "rate ratio, high vs low burden (first events)")
    return Table("safety_rates", "Long-term adverse events per 100 patient-years", columns, tuple(rows),
                 notes=(f"Person-time: {pt.rule}. First events: each patient once, time at risk up to the first "
                        "event; all events: recurrent events over the whole time at risk.",
                        "Exact Poisson (Garwood) intervals; the rate ratio with the exact conditional interval and "
                        "test (R's poisson.test)."))


def _windows(plan: Plan, study, pt, ix, numbers):
    rows, numbers["windows"] = [], {}
    categories = [c for c in safety.CATEGORIES if (study.events["category"] == c).any()]
    for cat in categories:
        cells, numbers["windows"][cat] = [], {}
        for label, lo, hi in safety.WINDOWS:
            r = safety.incidence(ix, pt, category=cat, first_only=False, window=(lo, hi),
                                 conf_level=plan.options.conf_level, label=label)
            numbers["windows"][cat][label] = r.to_dict()
            cells.append("no time at risk" if r.person_years == 0 else _rate_cell(r))
        rows.append((LABELS[cat], *cells))
    return Table("safety_windows", "Adverse events per 100 patient-years by time since infusion (all events)",
                 ("event", *[w[0] for w in safety.WINDOWS]), tuple(rows),
                 notes=("An event counts in the window of its onset; a patient's person-time in a window is the "
                        "part of his time at risk that falls in it. 'No time at risk': follow-up has not reached "
                        "that window.",))


def _cumulative(plan: Plan, study, pt, ix, numbers):
    burden = plan.cohort.data["burden"].to_numpy(object)
    known = np.isin(burden, ["low", "high"])
    rows, curves, groups = [], [], []
    numbers["cumulative_incidence"] = {}
    days = np.asarray(YEARS, float) * safety.DAYS_PER_YEAR
    for cat in [c for c in safety.CATEGORIES if (study.events["category"] == c).any()]:
        t, s = safety.first_event_competing(ix, pt, cat)
        entry: dict[str, Any] = {}
        res = stats.cumulative_incidence(t, s, conf_level=plan.options.conf_level)
        if 1 not in res.causes:
            continue
        at = res.at(days, cause=1)
        entry["all"] = {f"{y}_years": {"estimate": num(at.estimate[i]), "lower": num(at.lower[i]),
                                       "upper": num(at.upper[i]),
                                       **({} if math.isfinite(at.estimate[i]) else {"note": "NE (beyond follow-up)"})}
                        for i, y in enumerate(YEARS)}
        rows.append((LABELS[cat], *[_pct(at.estimate[i], at.lower[i], at.upper[i]) for i in range(len(YEARS))], ""))
        if known.any() and len(set(burden[known])) == 2 and (s[known] == 1).any():
            try:
                gt = stats.gray_test(t[known], s[known], burden[known].astype(str))
                p1 = gt.p_value[list(gt.causes).index(1)] if 1 in gt.causes else None
                entry["gray_test"] = gt.to_dict()
                rows[-1] = (*rows[-1][:-1], fmt_p(p1))
            except (ConvergenceError, InvalidInputError) as exc:
                entry["gray_test"] = {"error": str(exc)}
        if cat in ("second_primary_malignancy", "infection"):
            tt, est = res.curve(cause=1)
            lim = res.at(tt, cause=1)
            curves.append((LABELS[cat], tt, est))
            groups.append(LABELS[cat])
            numbers.setdefault("_figure_limits", []).append((lim.lower, lim.upper))
        numbers["cumulative_incidence"][cat] = entry
    limits = tuple(numbers.pop("_figure_limits", []))
    table = Table("safety_cumulative", "Cumulative incidence of adverse events, death without the event competing",
                  ("event", *[f"{y} year{'s' if y > 1 else ''}, % (95% CI)" for y in YEARS], "Gray's test p (burden)"),
                  tuple(rows), notes=("Time to the first event of each kind; death without it is the competing event; "
                                      "censored at the end of the time at risk. Aalen-Johansen estimates with "
                                      "cuminc's variance. NE (beyond follow-up): the time is after the last "
                                      "patient still at risk of that event (followed without it), which comes "
                                      "before the study's longest follow-up when every patient followed longer "
                                      "had the event.",))
    fig = None
    if curves:
        fig = CIFFigure("safety_cif", "Cumulative incidence of second primary malignancy and infection",
                        tuple(curves), xlabel="Months since infusion", groups=tuple(groups), limits=limits,
                        conf_level=plan.options.conf_level, test_name=None)
    return table, fig


def _pct(est, lo, hi):
    if not math.isfinite(est):
        return "NE (beyond follow-up)"
    if est == 0:
        return "0"
    return fmt_ci(100 * est, 100 * lo if math.isfinite(lo) else None, 100 * hi if math.isfinite(hi) else None,
                  digits=1, missing="-")


def _spm(plan: Plan, study, pt, ix, numbers):
    e = study.events[study.events["category"] == "second_primary_malignancy"]
    rows, numbers["second_primary_malignancy"] = [], {}
    five = 5 * safety.DAYS_PER_YEAR
    for sub in ("haematological", "solid", "non_melanoma_skin", "t_cell", None):
        r = safety.incidence(ix, pt, category="second_primary_malignancy", subtype=sub, first_only=True,
                             conf_level=plan.options.conf_level)
        t, s = safety.first_event_competing(ix, pt, "second_primary_malignancy", subtype=sub)
        ci = stats.cumulative_incidence(t, s, conf_level=plan.options.conf_level)
        at = ci.at([five], cause=1) if 1 in ci.causes else None
        part = e if sub is None else e[e["subtype"] == sub]
        tests = part["transgene_test"].fillna("not recorded").value_counts().to_dict()
        label = "Any second primary malignancy" if sub is None else SUBTYPE_LABELS[sub]
        numbers["second_primary_malignancy"][sub or "any"] = {
            **r.to_dict(), "five_year_incidence": None if at is None else num(at.estimate[0]),
            "transgene_test": {str(k): int(v) for k, v in tests.items()}}
        rows.append((label, int(part["patient_id"].nunique()), len(part), _rate_cell(r).split(": ", 1)[-1]
                     if r.person_years else "-", "0" if at is None else _pct(at.estimate[0], at.lower[0], at.upper[0]),
                     ", ".join(f"{k} {v}" for k, v in sorted(tests.items())) or "-"))
    return Table("safety_spm", "Second primary malignancies",
                 ("malignancy", "patients", "events", "per 100 patient-years (95% CI)",
                  "5-year cumulative incidence, %",
                  "CAR transgene in the tumour"), tuple(rows),
                 notes=("T-cell malignancies after CD19- and BCMA-directed CAR T cells carry a boxed warning (FDA, "
                        "2024); the tumour's CAR transgene test tells a product-derived malignancy apart.",))


def _completeness(plan: Plan, study, numbers):
    c = safety.completeness(plan.cohort, study.assessments)
    numbers["completeness"] = c.to_dict()
    rows = tuple((f"Year {y}", e, s, m, lost, f"{100 * s / e:.0f}%" if e else "-")
                 for y, e, s, m, lost in zip(c.years, c.expected, c.seen, c.missed, c.lost))
    table = Table("safety_completeness", "Completeness of the yearly follow-up visits",
                  ("visit", "expected", "seen", "missed", "lost (no later contact)", "seen, %"), rows,
                  notes=(f"Clark's completeness index: {100 * c.clark_index:.1f}% (observed over potential person-"
                         "time to the data cut-off).", "Expected: alive and within follow-up at the visit's window "
                         "(day 365.25 k +- 90); seen: an assessment in the window."))
    shown = [i for i, e in enumerate(c.expected) if e > 0]
    fig = BarFigure("safety_completeness", "Yearly follow-up visits seen and missed, % of the patients expected",
                    ("Seen", "Missed"), tuple((f"Year {c.years[i]}", (c.seen[i], c.missed[i])) for i in shown),
                    ylabel="Patients expected", xlabel="Visit", denominators=tuple(c.expected[i] for i in shown))
    return table, fig


NO_EVENTS_TABLE = "the study has no events table: adverse events were not reported, so no rates are given"


def build(plan: Plan, study) -> Part:
    pt = safety.person_time(plan.cohort, study.therapies, stop_at=plan.options.safety_stop_at)
    ix = safety.index_events(study.events, pt)          # the events located in the person-time once
    beyond = safety.events_beyond(ix, pt)
    # a study read from files without an events table reported no events: not "0 events"
    no_table = bool(study.sources) and "events" not in study.sources and not len(study.events)
    numbers = {"person_years": pt.years, "patients": int(pt.patient_id.size), "person_time_rule": pt.rule,
               "stop_at": plan.options.safety_stop_at, "events": None if no_table else len(study.events),
               "events_beyond_time_at_risk": None if no_table else beyond}
    if no_table:
        numbers["note"] = NO_EVENTS_TABLE
    tables, figures = [], []
    if len(study.events):
        tables.append(_rates(plan, study, pt, ix, numbers))
        tables.append(_windows(plan, study, pt, ix, numbers))
        table, fig = _cumulative(plan, study, pt, ix, numbers)
        tables.append(table)
        if fig is not None:
            figures.append(fig)
        tables.append(_spm(plan, study, pt, ix, numbers))
    if len(study.assessments):
        table, fig = _completeness(plan, study, numbers)
        tables.append(table)
        figures.append(fig)
    section = Section("long_term_safety", "Long-term safety", tables=tuple(t.name for t in tables),
                      figures=tuple(f.name for f in figures),
                      paragraphs=(f"{numbers['patients']} patients followed for {pt.years:.1f} patient-years "
                                  f"({pt.rule}). "
                                  + (f"{NO_EVENTS_TABLE[0].upper()}{NO_EVENTS_TABLE[1:]}." if no_table else
                                     f"{len(study.events)} adverse event(s) recorded"
                                     + (f"; {beyond} of them after the time at risk (after the data cut-off or "
                                        "the therapy that stops it) are not counted." if beyond else ".")),))
    return Part("long_term_safety", numbers, tuple(tables), tuple(figures), section)

