"""Section "Reproduction of the published figures": for the synthetic demonstration cohort only,
every figure of Park et al. (NEJM 2018) beside this cohort's."""

from __future__ import annotations

import json
from importlib import resources

from ltfu.analysis.common import num
from ltfu.results import Part, Section, Table


def rows(numbers: dict):
    """(rows for results.json, the table) from the other sections' numbers; a figure this cohort
    does not have (e.g. no low-burden group) is None."""
    ref = json.loads(resources.files("ltfu.demo").joinpath("park2018_published.json").read_text())

    def g(*path):
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
    table_rows, out = [], []
    for (sec, path), mine in ours.items():
        pub = ref[sec]
        for part in path.split("."):
            pub = pub.get(part) if isinstance(pub, dict) else None
        if isinstance(pub, dict):
            pub = pub.get("n")
        table_rows.append((f"{sec}: {path}", _show(pub), _show(mine)))
        out.append({"item": f"{sec}.{path}", "published": pub, "this_cohort": _jsonable(mine)})
    table = Table("reproduction", "Published figures (Park et al., NEJM 2018) beside this synthetic cohort's",
                  ("figure", "published", "this cohort (synthetic)"), tuple(table_rows),
                  notes=("The demonstration cohort is SYNTHETIC: built to reproduce published summary "
                         "figures; it is not patient data.", "null/NR: not reached."))
    return out, table


def build(numbers: dict) -> Part:
    out, table = rows(numbers)
    return Part("reproduction", out, (table,), (), Section(
        "reproduction", "Reproduction of the published figures",
        paragraphs=("The demonstration cohort is synthetic. It was generated to reproduce the published summary "
                    "figures of Park et al. (NEJM 2018); it is not patient data.",),
        tables=("reproduction",)))


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
        return [num(x) for x in v]
    return num(v) if isinstance(v, float) else v
