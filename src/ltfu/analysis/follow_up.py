"""Section "Follow-up": the median follow-up by reverse Kaplan-Meier, and the observation times."""

from __future__ import annotations

from ltfu.analysis.common import fmt, fmt_ci, months, num
from ltfu.analysis.plan import Plan
from ltfu.results import Part, Section, Table


def build(plan: Plan) -> Part:
    fu, opts = plan.follow_up, plan.options
    return from_result(plan.counter.median_follow_up(fu.time, fu.status, conf_type=opts.conf_type,
                                                     conf_level=opts.conf_level))


def from_result(res) -> Part:
    """The follow-up table from a ``MedianFollowUp`` (``stats.median_follow_up`` or an engine's)."""
    med = res.reverse_km
    numbers = {"median_months": num(months(med.value)), "median_lower_months": num(months(med.lower)),
               "median_upper_months": num(months(med.upper)), "method": "reverse Kaplan-Meier",
               "simple_median_months": num(months(res.simple_median)),
               "min_months": num(months(res.min)), "max_months": num(months(res.max)), "n": int(res.n)}
    rows = (("Median follow-up, reverse Kaplan-Meier (95% CI)",
             fmt_ci(numbers["median_months"], numbers["median_lower_months"], numbers["median_upper_months"])),
            ("Median observation time, all patients", fmt(numbers["simple_median_months"])),
            ("Range of observation times", f"{fmt(numbers['min_months'])} to {fmt(numbers['max_months'])}"))
    table = Table("follow_up", "Follow-up (months)", ("measure", "months"), rows)
    return Part("follow_up", numbers, (table,), (), Section("follow_up", "Follow-up", tables=("follow_up",)))
