"""Immunoglobulins, blood-count recovery and cytopenias, CAR transgene persistence (analyses 3 to 5),
and ``analyse``, which runs all five."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.persistence.b_cells import AplasiaAnalysis, RelapseByRecovery, aplasia, relapse_by_recovery
from ltfu.persistence.options import COUNT_CAUSES, DAYS_PER_YEAR, PersistenceOptions, _topics, definitions
from ltfu.persistence.rules import (
    CarKinetics,
    ICAHTGrades,
    _patients,
    _series,
    _until,
    car_kinetics,
    count_recovery,
    icaht_grades,
)
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
            out = []
            for lab, d in zip(self.visit_labels, self.visit_days):
                out.append({"visit": lab, "day": d, **_describe(f.loc[f["visit"] == lab, "value"])})
            return out

        def year_rows(level):
            pids = self._pids(level)
            f = self.years if pids is None else self.years[self.years["patient_id"].isin(pids)]
            out = []
            for y in sorted(self.years["year"].unique()):
                g = f[(f["year"] == y) & f["assessed"]]
                n = len(g)
                row = {"year": int(y), "assessed": n, "hypogammaglobulinaemia": int(g["hypogamma"].sum()),
                       "igg_below_threshold": int(g["low_igg"].sum()), "ivig": int(g["ivig"].sum())}
                for key, col in (("hypogammaglobulinaemia_proportion", "hypogamma"), ("ivig_proportion", "ivig")):
                    row[key] = None if n == 0 else stats.binomial_ci(int(g[col].sum()), n,
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
    series = _series(study, ("igg_g_per_l",), "min")
    labels, levels = _groups(study, group)
    vrows = []
    max_day = max((float(d.max()) for d, _ in series.values() if d.size), default=0.0)
    vlabels, vdays = igg_visit_days(max_day, o)
    vd = np.asarray(vdays)
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, p.end[i])
        if not days.size:
            continue
        dist = np.abs(days[:, None] - vd[None, :])
        nearest = np.argmin(dist, axis=1)                  # first minimum: the earlier visit on a tie
        best: dict[int, Any] = {}
        for j, k in enumerate(nearest):
            if k not in best or dist[j, k] < dist[best[k], k]:
                best[k] = j
        for k, j in sorted(best.items()):
            vrows.append((pid, vlabels[k], vd[k], days[j], v[j]))
    visits = pd.DataFrame(vrows, columns=["patient_id", "visit", "visit_day", "day", "value"])
    # hypogammaglobulinaemia by year
    t = study.therapies
    ivig = t[t["type"] == "ivig"] if len(t) else t
    ivig_by = {pid: g for pid, g in ivig.groupby(ivig["patient_id"].astype(str))} if len(ivig) else {}
    n_years = 1
    while p.n and year_bounds(n_years + 1)[0] < np.max(p.end):
        n_years += 1
    yrows = []
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, p.end[i])
        g = ivig_by.get(pid)
        for y in range(1, n_years + 1):
            lo, hi = year_bounds(y)
            if y > 1 and lo >= p.end[i]:
                break
            inyear = (days >= lo if y == 1 else days > lo) & (days <= hi)
            low = bool((v[inyear] < o.igg_threshold).any())
            given = False
            if g is not None:
                s = g["start_day"].to_numpy(float)
                e = np.fmin(np.where(np.isnan(g["end_day"].to_numpy(float)), np.inf, g["end_day"].to_numpy(float)),
                            p.end[i])
                with np.errstate(invalid="ignore"):
                    overlap = (s <= min(hi, p.end[i])) & ((e >= lo) if y == 1 else (e > lo))
                given = bool(overlap.any())
            assessed = bool(inyear.any() or given)
            yrows.append((pid, y, assessed, low, given, low or given))
    years = pd.DataFrame(yrows, columns=["patient_id", "year", "assessed", "low_igg", "ivig", "hypogamma"])
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

        patients = [{"patient_id": str(k.patient_id[i]), "n_results": int(k.n_results[i]),
                     "peak": json_float(k.peak[i]), "peak_day": json_float(k.peak_day[i]),
                     "auc_log10": json_float(k.auc[i]),
                     "loss_left": json_float(k.left[i]), "loss_right": json_float(k.right[i]),
                     "lost": bool(k.lost[i])} for i in range(n)]
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

