"""Section "Survival": Kaplan-Meier event-free, overall and relapse-free survival, overall and by
disease burden, with the log-rank test; then the parts shown in the same section (competing risks,
the transplant question, the Cox models, the swimmer plot)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltfu.analysis import by_group, competing, models, transplant
from ltfu.analysis.common import GROUPS, burden_codes, fmt_ci, group_masks, months, num
from ltfu.analysis.plan import Plan
from ltfu.defaults import DAYS_PER_MONTH, SWIMMER_MAX
from ltfu.errors import ConvergenceError
from ltfu.results import KMFigure, Part, Section, SwimmerFigure, Table


def km_entry(km, opts) -> dict:
    """A Kaplan-Meier curve's numbers for results.json: n, events, the median and the rates at the
    report's months (NE, as null, past the group's last observation)."""
    med = km.median
    entry = {"n": int(km.n), "events": int(np.sum(km.n_event)),
             "median_months": num(months(med.value)), "median_lower_months": num(months(med.lower)),
             "median_upper_months": num(months(med.upper)), "conf_type": opts.conf_type, "rates": {}}
    days = np.asarray(opts.rate_months, float) * DAYS_PER_MONTH
    at = km.at(days)
    last = float(km.time[-1]) if km.time.size else 0.0
    for i, m in enumerate(opts.rate_months):
        rate = {"estimate": num(at.survival[i]), "lower": num(at.ci_lower[i]), "upper": num(at.ci_upper[i]),
                "n_risk": int(at.n_risk[i])}
        if days[i] > last:
            rate["note"] = NE_BEYOND
        entry["rates"][f"{m}_months"] = rate
    return entry


NE_BEYOND = "NE (beyond follow-up)"


def fmt_rate(r) -> str:
    """Percent (95% CI) of a rate entry, or why there is none."""
    if r.get("note") == NE_BEYOND:
        return NE_BEYOND
    est, lo, hi = (100 * v if v is not None else None for v in (r["estimate"], r["lower"], r["upper"]))
    return fmt_ci(est, lo, hi, digits=0, missing="-")


def _kaplan_meier(plan: Plan):
    """The Kaplan-Meier curves of the survival endpoints, overall and by burden, and the log-rank
    tests, counted by ``plan.counter`` (numpy or an engine), laid out by ``km_part``."""
    opts = plan.options
    counted = {}
    for key, e in plan.survival_endpoints.items():
        entry: dict = {"label": e.label, "definition": e.definition, "n": e.n, "kms": {}, "logrank": None}
        counted[key] = entry
        if e.n == 0:
            continue
        masks = group_masks(plan.aligned(e, "burden"))
        for g, _ in GROUPS:
            if masks[g].sum():
                entry["kms"][g] = plan.counter.kaplan_meier(e.time[masks[g]], e.status[masks[g]],
                                                            conf_type=opts.conf_type, conf_level=opts.conf_level,
                                                            key=(key, g))
        both = masks["low_burden"] | masks["high_burden"]
        if masks["low_burden"].any() and masks["high_burden"].any():
            try:
                entry["logrank"] = plan.counter.logrank(e.time[both], e.status[both],
                                                        burden_codes(masks["high_burden"][both]))
            except ConvergenceError as exc:
                entry["logrank"] = exc
    return km_part(counted, opts)


def km_part(counted: dict, opts):
    """(numbers, table, figures) of the Kaplan-Meier part from ``counted``: per endpoint key its
    label, definition, n, curves by group (``kms``: all, low_burden, high_burden, those with
    patients) and the log-rank test low vs high burden (a result, a ConvergenceError, or None)."""
    numbers, figures, rows, kms = {}, [], [], {}
    for key, c in counted.items():
        if c["n"] == 0:
            numbers[key] = {"definition": c["definition"], "label": c["label"], "n": 0,
                            "note": "no patient qualifies for this endpoint"}
            continue
        numbers[key] = {"definition": c["definition"], "label": c["label"]}
        for g, glabel in GROUPS:
            if g not in c["kms"]:
                continue
            km = kms[(key, g)] = c["kms"][g]
            entry = km_entry(km, opts)
            numbers[key][g] = entry
            rows.append((c["label"], glabel, entry["n"], entry["events"],
                         fmt_ci(entry["median_months"], entry["median_lower_months"], entry["median_upper_months"]),
                         *[fmt_rate(r) for r in entry["rates"].values()]))
        p_value = None
        lr = c["logrank"]
        if isinstance(lr, ConvergenceError):
            numbers[key]["logrank_burden"] = {"error": str(lr)}
        elif lr is not None:
            numbers[key]["logrank_burden"] = {"statistic": num(lr.statistic), "df": num(lr.df),
                                              "p_value": num(lr.p_value)}
            p_value = num(lr.p_value)
        curves = tuple((lab, kms[(key, g)]) for g, lab in GROUPS[1:] if (key, g) in kms)
        if curves:
            figures.append(KMFigure(f"km_{key}_burden", f"{c['label']} by disease burden", curves,
                                    ylabel=f"{c['label']} probability", p_value=p_value, test_name="Log-rank",
                                    xlabel="Months since response" if key == "rfs" else "Months since infusion"))
    figures.insert(0, KMFigure("km_efs_os", "Event-free and overall survival, all patients",
                               (("Event-free survival", kms[("efs", "all")]),
                                ("Overall survival", kms[("os", "all")])), confidence_bands=True))
    rate_cols = tuple(f"{m} mo, % (95% CI)" for m in opts.rate_months)
    table = Table("survival", f"Kaplan-Meier estimates (months; confidence intervals {opts.conf_type} transformed)",
                  ("endpoint", "group", "n", "events", "median (95% CI)", *rate_cols), tuple(rows),
                  notes=("NR: not reached. NE (beyond follow-up): the time is after the group's last "
                         "observation, where nobody is at risk (R's summary(fit, times=) drops it).",))
    return numbers, table, figures


def swimmer(plan: Plan) -> SwimmerFigure:
    """One lane per patient: response, relapse, transplant and death along the follow-up."""
    d = plan.cohort.data.sort_values("last_contact_day", kind="stable").reset_index(drop=True)
    lanes = []
    for i, r in d.iterrows():
        label = f"{i + 1:02d}" if plan.options.deidentify else str(r["patient_id"])
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


def build(plan: Plan) -> Part:
    return assemble(plan, [piece() for piece in pieces(plan)])


def pieces(plan: Plan) -> list:
    """The section's parts as independent computations (zero-argument callables, each returning a
    Part), in the section's order; ``assemble`` joins their values.  The analysis may run them in
    parallel (``ltfu.analysis.analyse``)."""
    from functools import partial

    out = [partial(_km_piece, plan), partial(competing.build, plan), partial(transplant.build, plan),
           partial(models.build, plan), partial(_by_piece, plan)]
    if plan.cohort.n <= SWIMMER_MAX:
        out.append(partial(_swimmer_piece, plan))
    return out


def _km_piece(plan: Plan) -> Part:
    numbers, table, figures = _kaplan_meier(plan)
    return Part(None, numbers, (table,), tuple(figures))


def _by_piece(plan: Plan) -> Part:
    by_numbers, by_tables = by_group.build(plan)
    return Part("by", by_numbers, tuple(by_tables), ())


def _swimmer_piece(plan: Plan) -> Part:
    return Part(None, {}, (), (swimmer(plan),))


def assemble(plan: Plan, parts: list) -> Part:
    """The survival section from the values of ``pieces(plan)``, in their order."""
    km, *subs = parts
    subs = [sub for sub in subs if sub.key != "by" or sub.tables]      # no --by: no part
    return survival_part(dict(km.numbers), km.tables, km.figures, subs,
                         {e.label: e.definition for e in (plan.efs, plan.os, plan.rfs)})


def survival_part(numbers: dict, tables, figures, subs, definitions: dict) -> Part:
    """The survival section from the Kaplan-Meier part's numbers, tables and figures followed by
    ``subs``' (competing risks, transplant, Cox models ...: each part's numbers under its key, none
    for a key None), the endpoints' ``definitions`` (label: text) as its paragraphs; either path's."""
    tables, figures = list(tables), list(figures)
    for sub in subs:
        if sub.key is not None:
            numbers[sub.key] = sub.numbers
        tables += sub.tables
        figures += sub.figures
    section = Section("survival", "Survival", tables=tuple(t.name for t in tables),
                      figures=tuple(f.name for f in figures),
                      paragraphs=tuple(f"{label}: {text}" for label, text in definitions.items()))
    return Part("survival", numbers, tuple(tables), tuple(figures), section)
