"""Relapse and death in remission as competing risks (CR/CRi patients): cumulative incidence by
burden, Gray's test, and Fine-Gray subdistribution hazard ratios.  Shown in the survival section."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ltfu import stats
from ltfu.analysis.common import BURDEN_LEVELS, burden_codes, fmt_ci, fmt_p, num
from ltfu.analysis.plan import Plan
from ltfu.defaults import DAYS_PER_MONTH
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import CIFFigure, Part, Table

CAUSES = ((1, "Relapse"), (2, "Death in remission"))
NE_BEYOND = "NE (beyond follow-up)"


def fmt_incidence(est, lo, hi):
    """Percent (95% CI); 'NE' past the group's last follow-up, a bare 0 before any event."""
    if not math.isfinite(est):
        return NE_BEYOND
    if est == 0:
        return "0"
    return fmt_ci(100 * est, 100 * lo if math.isfinite(lo) else None, 100 * hi if math.isfinite(hi) else None,
                  digits=0, missing="-")


def fine_gray_rows(fit, numbers) -> list:
    """The Fine-Gray models of relapse and of death in remission, high vs low burden: ``fit(cause)``
    gives the fit (on the rows, or on counted rows with frequency weights); their table rows, the
    numbers (or each model's error) into ``numbers``."""
    rows = []
    for cause, cname in CAUSES:
        key = "fine_gray_relapse" if cause == 1 else "fine_gray_nrm"
        try:
            fg = fit(cause)
        except (ConvergenceError, InvalidInputError) as exc:
            numbers[key] = {"error": str(exc)}
            continue
        numbers[key] = fg.to_dict()
        rows.append((cname, "high vs low burden", fmt_ci(fg.shr[0], fg.shr_lower[0], fg.shr_upper[0], 2),
                     fmt_p(fg.p_value[0]), f"n={fg.n}"))
    return rows


def build(plan: Plan) -> Part:
    """The competing-risks part from the relapse endpoint, counted by ``plan.counter`` (the
    incidences, Gray's test) and on the rows in memory (the at-risk curves, Fine-Gray)."""
    e, opts = plan.relapse, plan.options
    burden = plan.aligned(e, "burden")
    counted: dict[str, Any] = {"definition": e.definition, "n": int(e.n), "relapses": int((e.status == 1).sum()),
                               "deaths_in_remission": int((e.status == 2).sum())}
    if e.n == 0 or not (e.status > 0).any():
        return cif_part(counted, opts)
    counted["overall"] = plan.counter.cumulative_incidence(e.time, e.status, conf_level=opts.conf_level)
    known = np.isin(burden.astype(object), ["low", "high"])
    if known.any() and len(set(burden[known])) == 2:
        labels = np.asarray(burden[known], str)
        counted["by"] = plan.counter.cumulative_incidence(e.time[known], e.status[known], group=labels,
                                                          conf_level=opts.conf_level)
        # the group's follow-up: any event or censoring ends it
        counted["at_risk"] = tuple(stats.kaplan_meier(e.time[known][labels == g],
                                                      (e.status[known][labels == g] != 0).astype(int))
                                   for g in ("low", "high"))
        high = (np.asarray(burden[known]) == "high").astype(float)
        try:
            gray = plan.counter.gray_test(e.time[known], e.status[known], burden_codes(high == 1))
            counted["gray"] = dataclasses.replace(gray, groups=BURDEN_LEVELS)      # the codes named
        except (ConvergenceError, InvalidInputError) as exc:
            counted["gray"] = exc
        fg_numbers: dict[str, Any] = {}
        counted["fine_gray"] = (fine_gray_rows(lambda cause: stats.fine_gray(
            high, e.time[known], e.status[known], cause=cause, conf_level=opts.conf_level), fg_numbers), fg_numbers)
    else:
        counted["fine_gray"] = ([], {})
    return cif_part(counted, opts)


def cif_part(counted: dict, opts) -> Part:
    """The competing-risks part laid out from ``counted``: the endpoint's definition, n, relapses and
    deaths in remission; when any: the overall incidences (``overall``), by burden (``by``, with the
    two groups' follow-up curves ``at_risk``, low then high, Gray's test ``gray``, a result or the
    error) and ``fine_gray`` (its rows and numbers; no rows without a comparison)."""
    numbers: dict[str, Any] = {k: counted[k] for k in ("definition", "n", "relapses", "deaths_in_remission")}
    times = np.asarray(opts.rate_months, float) * DAYS_PER_MONTH
    if "overall" not in counted:
        numbers["note"] = "no CR/CRi patient had a relapse or died in remission: nothing to estimate"
        return Part("relapse_competing", numbers, (Table(
            "cumulative_incidence", "Cumulative incidence of relapse and of death in remission", ("event", "group"),
            (), notes=(numbers["note"],)),))
    rows, curves, limits, groups = [], [], [], []
    overall, by = counted["overall"], counted.get("by")
    for cause, cname in CAUSES:
        for glabel, res, grp in (("All", overall, None), ("Low burden", by, "low"), ("High burden", by, "high")):
            if res is None or cause not in set(res.causes):
                continue
            at = res.at(times, cause=cause, group=grp)
            key = f"{'relapse' if cause == 1 else 'nrm'}_{'all' if grp is None else grp + '_burden'}"
            numbers[key] = {f"{m}_months": {"estimate": num(at.estimate[i]), "lower": num(at.lower[i]),
                                            "upper": num(at.upper[i]),
                                            **({} if math.isfinite(at.estimate[i]) else {"note": NE_BEYOND})}
                            for i, m in enumerate(opts.rate_months)}
            rows.append((cname, glabel, *[fmt_incidence(at.estimate[i], at.lower[i], at.upper[i])
                                          for i in range(len(times))]))
            if grp is not None:
                t, est = res.curve(cause=cause, group=grp)
                lim = res.at(t, cause=cause, group=grp)
                curves.append((f"{cname}, {glabel.lower()}", t, est))
                limits.append((lim.lower, lim.upper))
                groups.append(glabel)
    at_risk: tuple = ()
    p1 = None
    if by is not None:
        at_risk = tuple(zip(("Low burden", "High burden"), counted["at_risk"]))
        gt = counted["gray"]
        if isinstance(gt, Exception):
            numbers["gray_test"] = {"error": str(gt)}
        else:
            numbers["gray_test"] = gt.to_dict()
            p1 = num(gt.p_value[list(gt.causes).index(1)]) if 1 in list(gt.causes) else None
    tables = [Table("cumulative_incidence", "Cumulative incidence of relapse and of death in remission "
                    "(competing risks), CR/CRi patients",
                    ("event", "group", *[f"{m} mo, % (95% CI)" for m in opts.rate_months]), tuple(rows),
                    notes=(counted["definition"], "Aalen-Johansen estimates; variance as R cmprsk::cuminc."))]
    fg_rows, fg_numbers = counted["fine_gray"]
    numbers.update(fg_numbers)
    tables.append(Table("fine_gray", "Fine-Gray subdistribution hazard ratios, CR/CRi patients",
                        ("event", "comparison", "SHR (95% CI)", "p", "n"), tuple(fg_rows),
                        notes=("Fine-Gray model as R cmprsk::crr (sandwich variance with the correction for "
                               "the estimated censoring distribution).",)))
    fig = CIFFigure("cif_relapse", "Cumulative incidence of relapse and non-relapse mortality by burden",
                    tuple(curves), groups=tuple(groups), at_risk=at_risk, limits=tuple(limits),
                    conf_level=opts.conf_level, p_value=p1, test_name="Gray's test (relapse)")
    return Part("relapse_competing", numbers, tuple(tables), (fig,) if curves else ())
