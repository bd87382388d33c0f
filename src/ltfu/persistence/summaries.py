"""Groups and summaries shared by the persistence analyses: masks per group, Kaplan-Meier and
cumulative-incidence fits and their JSON, tests between groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.persistence.options import PersistenceOptions
from ltfu.stats._common import json_float

# ------------------------------------------------------------------------------------------------
# groups and summaries

def _groups(study, group):
    """(labels as str or None, sorted levels) of ``group`` over the patients of ``study.cohort.data``:
    an array (one label per patient) or the name of a cohort column; None -> (None, [])."""
    if group is None:
        return None, []
    n = study.cohort.n
    if isinstance(group, str):
        if group not in study.cohort.data:
            raise InvalidInputError(f"group: no column {group!r} in the patient table")
        group = study.cohort.data[group]
    g = group.to_numpy(dtype=object) if hasattr(group, "to_numpy") else np.asarray(group, dtype=object)
    if g.ndim != 1 or g.size != n:
        raise InvalidInputError(f"group: length {g.size} differs from the number of patients {n}")
    labels = np.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                       for v in g], dtype=object)
    return labels, sorted({v for v in labels if v is not None})


def _subsets(labels, levels, n: int) -> dict:
    """"overall" and each level -> boolean mask over the patients."""
    out = {"overall": np.ones(n, bool)}
    for lev in levels:
        out[lev] = labels == lev
    return out


def _split(subsets: dict, f) -> dict:
    """{"overall": f(overall mask), "groups": {level: f(mask)}} (groups empty without groups)."""
    return {"overall": f(subsets["overall"]), "groups": {k: f(m) for k, m in subsets.items() if k != "overall"}}


def _map(d: dict, f) -> dict:
    return {"overall": f(d["overall"]), "groups": {k: f(v) for k, v in d["groups"].items()}}


def _floats(a) -> list:
    return [json_float(v) for v in np.asarray(a, float)]


def _km_dict(km, days) -> dict | None:
    if km is None:
        return None
    at = km.at(np.asarray(days, float))
    return {"n": km.n, "events": int(km.n_event.sum()), "median": km.median.to_dict(),
            "at": {"day": _floats(days), "survival": _floats(at.survival), "std_err": _floats(at.std_err),
                   "lower": _floats(at.ci_lower), "upper": _floats(at.ci_upper),
                   "n_risk": [int(v) for v in at.n_risk]}}


def _cif_dict(fit, days, causes: dict) -> dict | None:
    if fit is None:
        return None
    out = {"n": fit.n, "events": {name: fit.events.get(code, 0) for code, name in causes.items()}, "at": {}}
    for code, name in causes.items():
        at = fit.at(np.asarray(days, float), cause=code)
        out["at"][name] = {"day": _floats(days), "estimate": _floats(at.estimate), "variance": _floats(at.variance),
                           "lower": _floats(at.lower), "upper": _floats(at.upper)}
    return out


@dataclass(frozen=True)
class CIFFit:
    """A one-group cumulative incidence and its events by code; ``at`` reads any cause, a cause
    without events being 0 (variance 0) up to the group's last follow-up and NE after it, as
    cmprsk's ``timepoints`` on a ``cuminc`` fitted with groups."""

    fit: Any
    events: dict

    @property
    def n(self) -> int:
        return int(sum(self.fit.n))

    def at(self, times, *, cause: int):
        t = np.atleast_1d(np.asarray(times, float))
        if cause in self.fit.causes:
            return self.fit.at(t, cause=cause)
        grid, _ = self.fit.curve(cause=self.fit.causes[0])
        zero = np.where(t > grid[-1], np.nan, 0.0)
        return type(self.fit.at(t, cause=self.fit.causes[0]))(t, zero, zero.copy(), np.full(t.size, np.nan),
                                                              np.full(t.size, np.nan))


def _km(time, status, o: PersistenceOptions, entry=None):
    if not np.size(time):
        return None
    return stats.kaplan_meier(time, status, entry=entry, conf_type=o.conf_type, conf_level=o.conf_level)


def _cif(time, status, o: PersistenceOptions) -> CIFFit | None:
    """The cumulative incidence of one group, or None without patients or events."""
    status = np.asarray(status)
    if not np.size(time) or not np.any(status != 0):
        return None
    codes, n = np.unique(status[status != 0], return_counts=True)
    return CIFFit(stats.cumulative_incidence(time, status, conf_level=o.conf_level),
                  {int(c): int(k) for c, k in zip(codes, n)})


def _describe(x) -> dict:
    """n, median, quartiles (R type 7), min, max of the finite values."""
    v = np.asarray(x, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": json_float(med), "q1": json_float(q1), "q3": json_float(q3),
            "min": json_float(v.min()), "max": json_float(v.max())}


def _test_between(f, labels, mask):
    """f(labels[mask]) when there are two or more groups; (result, error message)."""
    if labels is None:
        return None, None
    keep = mask & np.array([v is not None for v in labels])
    if len({v for v in labels[keep]}) < 2:
        return None, "fewer than two groups with patients"
    try:
        return f(keep), None
    except (ConvergenceError, InvalidInputError) as exc:
        return None, str(exc)


# ------------------------------------------------------------------------------------------------
