"""Section "Data summary": the source, the checksum, the cut-off, and the definitions and defaults
in force."""

from __future__ import annotations

from ltfu import __version__, deid
from ltfu import endpoints as ep
from ltfu.analysis.common import warning_line
from ltfu.analysis.plan import Plan
from ltfu.results import Defaults, Part, Section, Table


def meta(plan: Plan) -> dict:
    cohort, opts = plan.cohort, plan.options
    return {
        "ltfu_version": __version__,
        "source": deid.source_label(cohort.source, deidentify=opts.deidentify, record_path=opts.record_path),
        "sha256": None if opts.deidentify and not opts.keep_checksum else cohort.sha256,
        "n_patients": cohort.n,
        "data_cutoff": None if opts.deidentify else cohort.cutoff_date,
        "synthetic": cohort.synthetic,
        "deidentified": opts.deidentify,
        "options": opts.to_dict(),
    }


def defaults_in_force(plan: Plan) -> Defaults:
    return defaults_for(plan.options, plan.cohort.burden_threshold)


def defaults_for(opts, thr: float) -> Defaults:
    """The definitions and defaults in force with these options and burden threshold."""
    return Defaults(
        time_unit="months = days / 30.4375 (time stored in days from infusion)",
        km_conf_type=opts.conf_type,
        conf_level=opts.conf_level,
        proportion_ci="exact (Clopper-Pearson)" if opts.proportion_ci == "exact" else opts.proportion_ci,
        cox_ties=opts.ties,
        median_rule="R survival: first time S(t) <= 0.5; midpoint where the curve is flat at 0.5",
        burden_threshold_pct=thr,
        burden_definition=(f"low: marrow blasts < {thr:g}% and no extramedullary disease; high: >= {thr:g}% or "
                           "extramedullary disease"),
        efs_nonresponder=opts.efs_nonresponder,
        censor_at_hct=opts.censor_at_hct,
        landmark_days=opts.landmark_days,
        severe_toxicity="grade >= 3",
        censoring="at the last contact or the data cut-off, whichever is earlier; events after the cut-off are "
                  "ignored",
        figure_end=("where fewer than 10% of a group remain at risk" if opts.max_months is None
                    else f"at {opts.max_months:g} months (--max-months)"),
    )


ENDPOINT_NAMES = {"os": "Overall survival", "efs": "Event-free survival", "rfs": "Relapse-free survival",
                  "relapse_cr": "Relapse and death in remission (competing risks)",
                  "follow_up": "Follow-up", "allo_hct": "Subsequent allogeneic HCT"}


def sentences(d: Defaults) -> list[tuple[str, str]]:
    """The defaults in force as a reader wants them: one sentence each."""
    ci = {"log-log": "log-log (complementary log-log) transformed, as SAS and most trial reports; R's survfit "
                     "default is log", "log": "log transformed, R's survfit default", "plain": "untransformed (plain)"}
    return [
        ("Time", "Days from infusion, shown in months (days / 30.4375)."),
        ("Confidence level", f"{100 * d.conf_level:g}% for every interval."),
        ("Kaplan-Meier intervals", f"Greenwood variance, {ci.get(d.km_conf_type, d.km_conf_type)}."),
        ("Medians and quantiles", "R survival's rule: the first time S(t) <= 0.5, or the midpoint where the curve "
                                  "is flat exactly at 0.5; limits by the same rule on the confidence curves."),
        ("Proportions", f"Intervals {d.proportion_ci}."),
        ("Cox models", f"{d.cox_ties.capitalize()} handling of tied event times (R's coxph default)."),
        ("Disease burden", f"Low: marrow blasts below {d.burden_threshold_pct:g}% and no extramedullary disease; "
                           f"high: {d.burden_threshold_pct:g}% or more, or extramedullary disease."),
        ("Non-responders in EFS", "A patient without CR/CRi has an event at day 0." if d.efs_nonresponder == "day0"
         else "A patient without CR/CRi has an event at the response assessment (day 0 if never assessed)."),
        ("Allogeneic HCT", "EFS and RFS are censored at a subsequent allogeneic HCT." if d.censor_at_hct
         else "EFS and RFS are not censored at a subsequent allogeneic HCT; its effect is analysed as a "
              "time-dependent exposure."),
        ("Transplant landmark", f"Day {d.landmark_days:g} after infusion."),
        ("Severe toxicity", "Grade 3 or higher."),
        ("Censoring", "At the last contact or the data cut-off, whichever is earlier; events after the cut-off "
                      "are ignored."),
        ("Figures", f"Survival and incidence curves end {d.figure_end}; each figure says where."),
    ]


def warnings(plan: Plan, problems=None) -> tuple[str, ...]:
    """The validation warnings: ``problems`` (a study's, every table) or else the patient table's.
    Each names its table and field; a de-identified report gives the kind, table and field, never
    the row, id, value or message."""
    problems = plan.cohort.warnings if problems is None else problems
    return tuple(warning_line(p, deidentify=plan.options.deidentify) for p in problems)


def build(plan: Plan, m: dict, defaults: Defaults, problems=None) -> Part:
    """The data summary and definitions; ``problems``: the study's warnings (every table), counted
    and listed in results.json (default: the patient table's)."""
    cohort, opts = plan.cohort, plan.options
    listed = warnings(plan, problems)
    definitions = {e.name: e.definition for e in (plan.os, plan.efs, plan.rfs, plan.relapse, plan.follow_up)}
    definitions["allo_hct"] = ep.time_to_allo_hct(cohort).definition
    rows = sentences(defaults)
    rows += [(ENDPOINT_NAMES.get(name, name), text) for name, text in definitions.items()]
    table = Table("definitions", "Definitions and defaults in force", ("item", "value"), tuple(rows))
    summary = Table("data_summary", "Data summary", ("item", "value"), (
        ("source file", m["source"]), ("SHA-256", m["sha256"] or (deid.WITHHELD if opts.deidentify else "-")),
        ("patients", cohort.n), ("data cut-off", m["data_cutoff"] or "-"),
        ("validation warnings", len(listed)), ("ltfu version", __version__)))
    return Part(None, {"n_patients": cohort.n, "defaults": defaults.to_dict(), "definitions": definitions,
                       "validation_warnings": list(listed)},
                (summary, table), (), Section("data", "Data summary", tables=("data_summary", "definitions")))
