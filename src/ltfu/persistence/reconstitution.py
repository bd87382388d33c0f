"""Immunoglobulins, blood-count recovery and cytopenias, CAR transgene persistence (analyses 3 to 5),
and ``analyse``, which runs all five."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.persistence.b_cells import AplasiaAnalysis, RelapseByRecovery, aplasia, relapse_by_recovery
from ltfu.persistence.icaht import ICAHTGrades, icaht_grades
from ltfu.persistence.options import COUNT_CAUSES, DAYS_PER_YEAR, PersistenceOptions, _topics, definitions
from ltfu.persistence.rules import CarKinetics, _flat, _patients, car_kinetics, count_recovery
from ltfu.persistence.summaries import (
    _cif,
    _cif_dict,
    _describe,
    _floats,
    _groups,
    _km_dict,
    _map,
    _split,
    _subsets,
    _test_between,
)
from ltfu.stats._common import json_float

# ------------------------------------------------------------------------------------------------
# 3. immunoglobulins

def year_bounds(year: int) -> tuple[float, float]:
    """Days (lo, hi] of year ``year`` after infusion: (ceil(365.25 (year - 1)), ceil(365.25 year)],
    year 1 from day 0 inclusive, so that the anniversary visit (365 or 366 days after infusion for
    year 1, 1095 or 1096 for year 3, with the leap days between) closes its year."""
    return float(np.ceil(DAYS_PER_YEAR * (year - 1))), float(np.ceil(DAYS_PER_YEAR * year))


def igg_visit_days(max_day: float, options: PersistenceOptions | None = None) -> tuple[list, list]:
    """(labels, days) of the scheduled IgG visits up to ``max_day`` (yearly after the last)."""
    o = options or PersistenceOptions()
    days = [float(d) for d in o.igg_visits]
    labels = [f"day {d:g}" for d in days]
    k = max(2, int(np.floor(days[-1] / DAYS_PER_YEAR)) + 1)
    while k * DAYS_PER_YEAR - DAYS_PER_YEAR / 2 <= max_day:
        days.append(k * DAYS_PER_YEAR)
        labels.append(f"year {k}")
        k += 1
    return labels, days


@dataclass(frozen=True)
class IgGAnalysis:
    """IgG by scheduled visit (``visits``: one row per patient and visit) and hypogammaglobulinaemia
    and IVIG by year (``years``: per patient and year, assessed / hypogamma / ivig flags)."""

    visits: pd.DataFrame          # patient_id, visit, visit_day, day, value
    visit_labels: tuple
    visit_days: tuple
    years: pd.DataFrame           # patient_id, year, assessed, low_igg, ivig, hypogamma
    labels: object
    levels: tuple
    conf_level: float = 0.95
    definition: str = ""

    def _pids(self, level):
        if level is None:
            return None
        return set(self.labels.index[self.labels == level])

    def to_dict(self) -> dict:
        def visit_rows(level):
            pids = self._pids(level)
            f = self.visits if pids is None else self.visits[self.visits["patient_id"].isin(pids)]
            # each visit's values, in the frame's order, cut from one array sorted by visit
            code = pd.Index(list(self.visit_labels)).get_indexer(f["visit"].to_numpy(object))
            order = np.argsort(code, kind="stable")
            value = f["value"].to_numpy(float)[order]
            cuts = np.searchsorted(code[order], np.arange(len(self.visit_labels) + 1))
            return [{"visit": lab, "day": d, **_describe(value[cuts[k]:cuts[k + 1]])}
                    for k, (lab, d) in enumerate(zip(self.visit_labels, self.visit_days))]

        def year_rows(level):
            pids = self._pids(level)
            f = self.years if pids is None else self.years[self.years["patient_id"].isin(pids)]
            years = sorted(self.years["year"].unique())
            if not years:
                return []
            year = f["year"].to_numpy(np.int64)
            seen = f["assessed"].to_numpy(bool)
            size = int(max(years)) + 1

            def count(flag=None):
                m = seen if flag is None else seen & f[flag].to_numpy(bool)
                return np.bincount(year[m], minlength=size)

            n_all, hyp, low, ivig = count(), count("hypogamma"), count("low_igg"), count("ivig")
            out = []
            for y in years:
                n = int(n_all[y])
                row = {"year": int(y), "assessed": n, "hypogammaglobulinaemia": int(hyp[y]),
                       "igg_below_threshold": int(low[y]), "ivig": int(ivig[y])}
                for key, k in (("hypogammaglobulinaemia_proportion", hyp), ("ivig_proportion", ivig)):
                    row[key] = None if n == 0 else stats.binomial_ci(int(k[y]), n,
                                                                     conf_level=self.conf_level).to_dict()
                out.append(row)
            return out

        return {"definition": self.definition,
                "visits": {"overall": visit_rows(None), "groups": {lev: visit_rows(lev) for lev in self.levels}},
                "years": {"overall": year_rows(None), "groups": {lev: year_rows(lev) for lev in self.levels}}}


def igg(study, group=None, options: PersistenceOptions | None = None) -> IgGAnalysis:
    """Analysis 3: IgG by visit, hypogammaglobulinaemia and IVIG by year after infusion."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    labels, levels = _groups(study, group)
    f = _flat(study, ("igg_g_per_l",), "min", p.ids)
    vlabels, vdays = igg_visit_days(f.max_day, o)      # the last IgG result of any patient
    vd = np.asarray(vdays)
    f = f.until(p.end)
    # IgG by visit: each result to its nearest visit (the earlier on a tie); per patient and visit
    # the result nearest to it (the earlier on a tie); by patient, then visit
    dist = np.abs(f.day[:, None] - vd[None, :])
    nearest = np.argmin(dist, axis=1) if f.day.size else np.zeros(0, np.int64)
    gap = dist[np.arange(f.day.size), nearest]
    order = np.lexsort((np.arange(f.day.size), gap, nearest, f.row))
    first = np.r_[True, (f.row[order][1:] != f.row[order][:-1]) | (nearest[order][1:] != nearest[order][:-1])] \
        if order.size else np.zeros(0, bool)
    j, k = order[first], nearest[order[first]]
    columns = ["patient_id", "visit", "visit_day", "day", "value"]
    visits = pd.DataFrame({"patient_id": p.ids[f.row[j]], "visit": np.array(vlabels, dtype=object)[k],
                           "visit_day": vd[k], "day": f.day[j], "value": f.value[j]}) if j.size \
        else pd.DataFrame([], columns=columns)
    # hypogammaglobulinaemia by year: (patient, year) pairs, years 1 .. the last one begun
    n_years = 1
    while p.n and year_bounds(n_years + 1)[0] < np.max(p.end):
        n_years += 1
    los, his = (np.array(b, float) for b in zip(*[year_bounds(y) for y in range(1, n_years + 1)]))
    ny = 1 + np.searchsorted(los[1:], p.end, side="left")
    offset = np.cumsum(ny) - ny
    who = np.repeat(np.arange(p.n), ny)
    year = np.arange(who.size) - offset[who] + 1
    pair = offset[f.row] + np.searchsorted(his, f.day, side="left")      # the year (lo, hi] of each result
    assessed_igg, low = np.zeros(who.size, bool), np.zeros(who.size, bool)
    assessed_igg[pair] = True
    low[pair[f.value < o.igg_threshold]] = True
    given = np.zeros(who.size, bool)
    t = study.therapies
    ivig = t[t["type"] == "ivig"] if len(t) else t
    if len(ivig):
        r = pd.Index(p.ids).get_indexer(ivig["patient_id"].astype(str))
        ok = r >= 0
        r, s0 = r[ok], ivig["start_day"].to_numpy(float)[ok]
        e0 = ivig["end_day"].to_numpy(float)[ok]
        e0 = np.fmin(np.where(np.isnan(e0), np.inf, e0), p.end[r])
        rr = np.repeat(np.arange(r.size), ny[r])                       # each IVIG course x its patient's years
        yy = np.arange(rr.size) - (np.cumsum(ny[r]) - ny[r])[rr]
        lo_, hi_ = los[yy], his[yy]
        with np.errstate(invalid="ignore"):
            overlap = (s0[rr] <= np.minimum(hi_, p.end[r[rr]])) & np.where(yy == 0, e0[rr] >= lo_, e0[rr] > lo_)
        given[offset[r[rr]][overlap] + yy[overlap]] = True
    if who.size:
        years = pd.DataFrame({"patient_id": p.ids[who], "year": year.astype(np.int64), "assessed": assessed_igg | given,
                              "low_igg": low, "ivig": given, "hypogamma": low | given})
    else:
        years = pd.DataFrame([], columns=["patient_id", "year", "assessed", "low_igg", "ivig", "hypogamma"])
    lab = pd.Series(labels if labels is not None else np.full(p.n, None), index=p.ids, dtype=object)
    return IgGAnalysis(visits, tuple(vlabels), tuple(vdays), years, lab, tuple(levels), o.conf_level,
                       _topics(o, "igg"))


# ------------------------------------------------------------------------------------------------
# 4. blood-count recovery and cytopenias

@dataclass(frozen=True)
class HaematologicalRecovery:
    """Cumulative incidence of neutrophil and platelet recovery (death competing) at
    ``recovery_days``, by definition name, overall and by group; Gray's test; and the early and
    late ICAHT grades."""

    recoveries: dict              # name -> CountRecovery
    cif: dict                     # name -> {"overall": CIFFit, "groups": {label: CIFFit}}
    gray: dict                    # name -> (GrayTest or None, error or None)
    icaht: ICAHTGrades
    days: tuple
    labels: object
    levels: tuple
    definition: str = ""

    def cytopenia_table(self) -> dict:
        """Counts by grade (0-4, NE) of early and late ICAHT, overall and by group."""
        def counts(grades, m):
            g = grades[m]
            out = {str(k): int((g == k).sum()) for k in range(5)}
            out["NE"] = int(np.isnan(g).sum())
            return out

        n = self.icaht.patient_id.size
        subsets = _subsets(self.labels, list(self.levels), n)
        return {"early": _split(subsets, lambda m: counts(self.icaht.early, m)),
                "late": _split(subsets, lambda m: counts(self.icaht.late, m))}

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"definition": self.definition, "recovery": {}, "cytopenias": self.cytopenia_table()}
        for name, rec in self.recoveries.items():
            gray, err = self.gray[name]
            out["recovery"][name] = {
                "test": rec.test, "threshold": rec.threshold, "consecutive": rec.consecutive,
                "recovered": int((rec.status == 1).sum()), "deaths_before": int((rec.status == 2).sum()),
                "cif": _map(self.cif[name], lambda ci: _cif_dict(ci, self.days, COUNT_CAUSES)),
                "gray": None if gray is None else gray.to_dict(), "gray_error": err}
        return out


def haematological_recovery(study, group=None, options: PersistenceOptions | None = None) -> HaematologicalRecovery:
    """Analysis 4: neutrophil and platelet recovery, and the ICAHT cytopenia grades."""
    o = options or PersistenceOptions()
    recs = {f"neutrophils_{o.anc_recovery:g}": count_recovery(study, "anc_per_ul", o.anc_recovery, options=o)}
    for thr in o.platelet_recovery:
        recs[f"platelets_{thr:g}"] = count_recovery(study, "platelets_per_ul", thr, options=o)
    n = study.cohort.n
    labels, levels = _groups(study, group)
    subsets = _subsets(labels, levels, n)
    every = np.ones(n, bool)
    cif, gray = {}, {}
    for name, r in recs.items():
        cif[name] = _split(subsets, lambda m, r=r: _cif(r.time[m], r.status[m], o))
        gray[name] = _test_between(lambda k, r=r: stats.gray_test(r.time[k], r.status[k], labels[k].astype(str)),
                                   labels, every)
    return HaematologicalRecovery(recs, cif, gray, icaht_grades(study, o), tuple(float(x) for x in o.recovery_days),
                                  labels, tuple(levels), _topics(o, "counts", "icaht", "icaht_grid"))


def _json_floats(a) -> list:
    """``json_float`` of every element: the floats, None where not finite."""
    a = np.asarray(a, float)
    return [x if ok else None for x, ok in zip(a.tolist(), np.isfinite(a).tolist())]


# ------------------------------------------------------------------------------------------------
# 5. CAR transgene persistence

@dataclass(frozen=True)
class CarPersistence:
    """CAR transgene peak and AUC per patient and summarised, and time to loss of persistence by
    Turnbull's NPMLE and the midpoint Kaplan-Meier, overall and by group."""

    kinetics: CarKinetics
    turnbull: dict                # {"overall": Turnbull or None, "groups": {...}}
    midpoint: dict                # same, KaplanMeier
    days: tuple
    labels: object                # per kinetics row (None without groups)
    levels: tuple
    definition: str = ""

    def to_dict(self) -> dict:
        k = self.kinetics
        n = k.patient_id.size
        subsets = _subsets(self.labels, list(self.levels), n)

        def summary(m):
            return {"n": int(m.sum()), "peak": _describe(k.peak[m]), "log10_peak": _describe(np.log10(k.peak[m] + 1)),
                    "auc_log10": _describe(k.auc[m]), "lost": int(k.lost[m].sum())}

        def tb(t):
            if t is None:
                return None
            d = np.asarray(self.days, float)
            return {"n": t.n, "converged": t.converged, "median": json_float(t.median),
                    "at": {"day": _floats(d), "survival": _floats(t.at(d, inside="midpoint").survival),
                           "survival_max": _floats(t.at(d, inside="upper").survival),
                           "survival_min": _floats(t.at(d, inside="lower").survival)}}

        cols = [_json_floats(a) for a in (k.peak, k.peak_day, k.auc, k.left, k.right)]
        patients = [{"patient_id": str(pid), "n_results": int(nr), "peak": pk, "peak_day": pd_, "auc_log10": au,
                     "loss_left": le, "loss_right": ri, "lost": bool(lo)}
                    for pid, nr, pk, pd_, au, le, ri, lo in zip(k.patient_id.tolist(), k.n_results.tolist(), *cols,
                                                                k.lost.tolist())]
        return {"definition": self.definition, "patients": patients, "summary": _split(subsets, summary),
                "loss_turnbull": _map(self.turnbull, tb),
                "loss_midpoint_km": _map(self.midpoint, lambda km: _km_dict(km, self.days))}


def car_persistence(study, group=None, options: PersistenceOptions | None = None) -> CarPersistence:
    """Analysis 5: CAR transgene kinetics and time to loss of persistence."""
    o = options or PersistenceOptions()
    k = car_kinetics(study, o)
    labels, levels = _groups(study, group)
    if labels is not None:
        labels = pd.Series(labels, index=study.cohort.data["patient_id"].astype(str)).reindex(
            k.patient_id.astype(str)).to_numpy(dtype=object)
    subsets = _subsets(labels, levels, k.patient_id.size)

    def fit_tb(m):
        return stats.turnbull(k.left[m], k.right[m]) if m.any() and k.lost[m].any() else None

    def fit_mid(m):
        return stats.midpoint_km(k.left[m], k.right[m], conf_type=o.conf_type, conf_level=o.conf_level) \
            if m.any() else None

    return CarPersistence(k, _split(subsets, fit_tb), _split(subsets, fit_mid), tuple(float(x) for x in o.report_days),
                          labels, tuple(levels), _topics(o, "car"))


# ------------------------------------------------------------------------------------------------
# everything

@dataclass(frozen=True)
class PersistenceAnalysis:
    options: PersistenceOptions
    definitions: tuple
    aplasia: AplasiaAnalysis
    relapse: RelapseByRecovery
    igg: IgGAnalysis
    counts: HaematologicalRecovery
    car: CarPersistence
    group_name: str | None = None
    notes: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.options).items()}
        return {"options": opts, "definitions": list(self.definitions), "group": self.group_name,
                "aplasia": self.aplasia.to_dict(), "relapse_by_recovery": self.relapse.to_dict(),
                "igg": self.igg.to_dict(), "blood_counts": self.counts.to_dict(), "car": self.car.to_dict()}


def analyse(study, group=None, options: PersistenceOptions | None = None, *, group_name: str | None = None
            ) -> PersistenceAnalysis:
    """All five persistence and immune-reconstitution analyses of ``study``, optionally by ``group``
    (one label per patient, or the name of a patient-table column such as "burden", which then also
    names the grouping)."""
    o = options or PersistenceOptions()
    if group_name is None and isinstance(group, str):
        group_name = group
    return PersistenceAnalysis(o, definitions(o), aplasia(study, group, o), relapse_by_recovery(study, group, o),
                               igg(study, group, o), haematological_recovery(study, group, o),
                               car_persistence(study, group, o), group_name)

