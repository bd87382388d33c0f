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
    for group in ("all", "low_burden", "high_burden"):
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
        verdict = agreement(pub, mine)
        table_rows.append((LABELS.get(f"{sec}.{path}", f"{sec}: {path}"), _show(pub, published=True), _show(mine),
                           verdict))
        out.append({"item": f"{sec}.{path}", "published": pub, "this_cohort": _jsonable(mine), "agreement": verdict})
    table = Table("reproduction", "Published figures (Park et al., NEJM 2018) beside this synthetic cohort's",
                  ("figure", "published", "this cohort (synthetic)", "agreement"), tuple(table_rows),
                  notes=("The demonstration cohort is SYNTHETIC: built to reproduce published summary "
                         "figures; it is not patient data.",
                         "Agreement: a number agrees when it rounds to the published value; an interval is flagged "
                         "where a limit does not. A synthetic cohort built to match published medians need not "
                         "match their intervals, which depend on the whole curve. NR: not reached; 'not reported': "
                         "the paper gives no such figure."))
    return out, table


LABELS = {
    "baseline.age_median": "Age, median (years)", "baseline.age_min": "Age, youngest",
    "baseline.age_max": "Age, oldest",
    "baseline.low_burden.n": "Low disease burden, patients", "baseline.high_burden.n": "High disease burden, patients",
    "response.complete_remission.n": "Complete remission (CR/CRi), patients",
    "response.complete_remission.pct": "Complete remission, %",
    "response.mrd_negative_among_cr.pct": "MRD-negative among CR, %",
    "safety.severe_crs.n": "Severe CRS, patients", "safety.severe_crs.pct": "Severe CRS, %",
    "safety.severe_crs.ci95": "Severe CRS, 95% CI (%)", "safety.any_grade_crs.n": "CRS of any grade, patients",
    "safety.crs_deaths": "Deaths attributed to CRS",
    "safety.grade_3_4_neurotoxicity.n": "Severe neurotoxicity, patients",
    "follow_up.median_months": "Median follow-up (months)", "follow_up.min_months": "Follow-up, shortest (months)",
    "follow_up.max_months": "Follow-up, longest (months)",
}
for _g, _name in (("all", "all patients"), ("low_burden", "low burden"), ("high_burden", "high burden")):
    for _k, _e in (("efs", "Event-free"), ("os", "Overall")):
        LABELS[f"survival.{_g}.{_k}_median"] = f"{_e} survival, median (months), {_name}"
        LABELS[f"survival.{_g}.{_k}_ci95"] = f"{_e} survival, median 95% CI, {_name}"


def _decimals(v) -> int:
    text = repr(float(v))
    return 0 if float(v).is_integer() else len(text.split(".")[1])


def agreement(pub, mine) -> str:
    """"agrees", what differs, or "-" where there is nothing to compare."""
    if pub is None and (mine is None or (isinstance(mine, (list, tuple)) and all(m is None for m in mine))):
        return "-"
    if isinstance(mine, (list, tuple)):
        if not isinstance(pub, (list, tuple)):
            return "not reported"
        flags = []
        for side, p, m in (("lower", pub[0], mine[0]), ("upper", pub[1], mine[1])):
            if p is None and m is None:
                continue
            if p is None or m is None:
                flags.append(f"{side} limit {'NR' if m is None else f'{m:.1f}'} vs published "
                             f"{'NR' if p is None else p}")
            elif round(m, _decimals(p)) != p:
                flags.append(f"{side} limit {m:.1f} vs published {p}")
        return "agrees" if not flags else "interval differs: " + "; ".join(flags)
    if pub is None:
        return "not reported"
    if mine is None:
        return "not available here"
    return "agrees" if round(float(mine), _decimals(pub)) == float(pub) else f"differs by {float(mine) - pub:+.1f}"


def build(numbers: dict) -> Part:
    out, table = rows(numbers)
    return Part("reproduction", out, (table,), (), Section(
        "reproduction", "Reproduction of the published figures",
        paragraphs=("The demonstration cohort is synthetic. It was generated to reproduce the published summary "
                    "figures of Park et al. (NEJM 2018); it is not patient data.",),
        tables=("reproduction",)))


def _show(v, published=False):
    if v is None:
        return "not reported" if published else "NR"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join("NR" if x is None else _show(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() else f"{v:.1f}"
    return str(v)


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [num(x) for x in v]
    return num(v) if isinstance(v, float) else v
