"""B-cell aplasia and recovery, and relapse-free survival by B-cell recovery (analyses 1 and 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.persistence.options import B_CELL_CAUSES, PersistenceOptions, _topics
from ltfu.persistence.rules import BCellRecovery, _patients, b_cell_recovery
from ltfu.persistence.summaries import _cif, _cif_dict, _groups, _km, _km_dict, _map, _split, _subsets, _test_between
from ltfu.stats._common import json_float

# 1. B-cell aplasia and recovery

@dataclass(frozen=True)
class AplasiaAnalysis:
    """Duration of B-cell aplasia (Kaplan-Meier, event = recovery; ``survival`` = still in
    aplasia) and cumulative incidence of recovery with competing events, overall and by group."""

    patients: BCellRecovery
    days: tuple
    km: dict                   # {"overall": KaplanMeier, "groups": {label: KaplanMeier}}
    cif: dict                  # same, CIFFit
    logrank: Any
    logrank_error: str | None
    gray: Any
    gray_error: str | None
    definition: str = ""

    def to_dict(self) -> dict:
        p = self.patients
        return {"definition": self.definition, "n": int(p.patient_id.size),
                "recovered": int((p.status == 1).sum()),
                "outcomes": {name: int((p.cause == code).sum()) for code, name in B_CELL_CAUSES.items()}
                | {"censored": int((p.cause == 0).sum())},
                "causes": {str(k): v for k, v in B_CELL_CAUSES.items()},
                "aplasia_km": _map(self.km, lambda km: _km_dict(km, self.days)),
                "recovery_cif": _map(self.cif, lambda ci: _cif_dict(ci, self.days, B_CELL_CAUSES)),
                "logrank": None if self.logrank is None else self.logrank.to_dict(),
                "logrank_error": self.logrank_error,
                "gray": None if self.gray is None else self.gray.to_dict(), "gray_error": self.gray_error}


def aplasia(study, group=None, options: PersistenceOptions | None = None) -> AplasiaAnalysis:
    """Analysis 1: duration of B-cell aplasia and cumulative incidence of B-cell recovery."""
    o = options or PersistenceOptions()
    b = b_cell_recovery(study, o)
    labels, levels = _groups(study, group)
    subsets = _subsets(labels, levels, b.patient_id.size)
    km = _split(subsets, lambda m: _km(b.time[m], b.status[m], o))
    cif = _split(subsets, lambda m: _cif(b.cr_time[m], b.cause[m], o))
    every = np.ones(b.patient_id.size, bool)
    lr, lr_err = _test_between(lambda k: stats.logrank(b.time[k], b.status[k], labels[k].astype(str)), labels, every)
    gray, gray_err = _test_between(lambda k: stats.gray_test(b.cr_time[k], b.cause[k], labels[k].astype(str)),
                                   labels, every)
    return AplasiaAnalysis(b, tuple(float(x) for x in o.report_days), km, cif, lr, lr_err, gray, gray_err,
                           _topics(o, "b_cells", "aplasia", "recovery_cif"))


# ------------------------------------------------------------------------------------------------
# 2. relapse-free survival by B-cell recovery

@dataclass(frozen=True)
class RecoveryRows:
    """Per CR/CRi patient: entry (response day), exit and event of relapse-free survival (days from
    infusion), and the B-cell recovery day and confirming day (nan: none); with the counting-process
    rows of the time-dependent Cox model (``id``, ``tstart``, ``tstop``, ``event``, ``recovered``),
    split at the confirming day: a patient counts as recovered once the recovery is known."""

    patient_id: np.ndarray
    entry: np.ndarray
    time: np.ndarray
    event: np.ndarray
    recovery_day: np.ndarray
    confirmed_day: np.ndarray
    rows: pd.DataFrame


def recovery_rows(study, options: PersistenceOptions | None = None) -> RecoveryRows:
    """Relapse-free survival rows of the CR/CRi patients, with B-cell recovery (module docstring)."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    b = b_cell_recovery(study, o)
    keep = p.complete & np.isfinite(p.response)
    fail = np.fmin(p.relapse, p.death)
    event = np.isfinite(fail)
    time = np.where(event, fail, p.end)
    rec = np.where(b.status == 1, b.recovery_day, np.nan)
    conf = np.where(b.status == 1, b.confirmed_day, np.nan)
    ids, entry, time, event = p.ids[keep], p.response[keep], time[keep], event[keep].astype(np.int8)
    rec, conf = rec[keep], conf[keep]
    at = np.flatnonzero(time > entry)                  # no time at risk after the response: no rows
    # the covariate switches at the assessment that confirms the recovery, not at the recovery day
    # (the first of the two): at any time the model uses only what is known then; switched at the
    # recovery day, an event between the two assessments counted as after a recovery that only a
    # later assessment (after the relapse, even) established
    x, a, t, e = conf[at], entry[at], time[at], event[at].astype(np.int64)
    split = np.isfinite(x) & (a < x) & (x < t)          # (a, x] unrecovered, then (x, t] recovered
    first = np.repeat(np.arange(at.size), np.where(split, 2, 1))
    second = np.r_[False, first[1:] == first[:-1]]
    sp = split[first]
    columns = ["id", "tstart", "tstop", "event", "recovered"]
    if first.size:
        frame = pd.DataFrame({
            "id": ids[at][first],
            "tstart": np.where(second, x[first], a[first]),
            "tstop": np.where(sp & ~second, x[first], t[first]),
            "event": np.where(sp & ~second, 0, e[first]).astype(np.int64),
            "recovered": np.where(sp, second, np.isfinite(x[first]) & (x[first] <= a[first])).astype(np.int64)},
            columns=columns)
    else:
        frame = pd.DataFrame([], columns=columns)
    return RecoveryRows(ids, entry, time, event, rec, conf, frame)


@dataclass(frozen=True)
class RelapseByRecovery:
    """Landmark analyses (``landmarks``: day -> {"overall": Landmark, "groups": {...}}) and the Cox
    model with recovery as a time-dependent covariate (``cox``: {"overall": CoxResult or None,
    "groups": ...}, failures in ``cox_errors``)."""

    rows: RecoveryRows
    landmarks: dict
    cox: dict
    cox_errors: dict
    horizon: float = 365.0
    definition: str = ""

    def to_dict(self) -> dict:
        def lm_dict(lm):
            if lm is None:
                return None
            out = lm.to_dict()
            for name, km in (("exposed", lm.km_exposed), ("unexposed", lm.km_unexposed)):
                at = None if km is None else km.at([self.horizon])
                out[f"rfs_{name}"] = None if at is None else {
                    "days_after_landmark": self.horizon, "survival": json_float(at.survival[0]),
                    "lower": json_float(at.ci_lower[0]), "upper": json_float(at.ci_upper[0])}
            return out

        return {"definition": self.definition, "n": int(self.rows.patient_id.size),
                "events": int(self.rows.event.sum()), "recovered_ever": int(np.isfinite(self.rows.recovery_day).sum()),
                "landmarks": [{"day": float(day), **_map(v, lm_dict)} for day, v in self.landmarks.items()],
                "cox": _map(self.cox, lambda c: None if c is None else c.to_dict()),
                "cox_errors": self.cox_errors,
                "cox_rows": len(self.rows.rows)}


def _landmark(rows: RecoveryRows, mask, day: float, o: PersistenceOptions):
    m = mask & (rows.entry <= day) & (rows.time > day)
    if not m.any():
        return None
    return stats.landmark(rows.time[m], rows.event[m], rows.confirmed_day[m], landmark=day, conf_type=o.conf_type,
                          conf_level=o.conf_level)


def _recovery_cox(rows: RecoveryRows, ids, o: PersistenceOptions):
    r = rows.rows[rows.rows["id"].isin(set(ids))]
    if not len(r):
        raise ConvergenceError("no patients")
    return stats.cox(pd.DataFrame({"recovered": r["recovered"].to_numpy(float)}), r["tstop"].to_numpy(float),
                     r["event"].to_numpy(int), entry=r["tstart"].to_numpy(float), conf_level=o.conf_level)


def relapse_by_recovery(study, group=None, options: PersistenceOptions | None = None) -> RelapseByRecovery:
    """Analysis 2: relapse-free survival by B-cell recovery (landmarks and time-dependent Cox)."""
    o = options or PersistenceOptions()
    rows = recovery_rows(study, o)
    labels, levels = _groups(study, group)
    if labels is not None:
        keep = pd.Series(labels, index=study.cohort.data["patient_id"].astype(str)).reindex(rows.patient_id)
        labels = keep.to_numpy(dtype=object)
    subsets = _subsets(labels, levels, rows.patient_id.size)
    landmarks = {float(d): _split(subsets, lambda m, d=d: _landmark(rows, m, float(d), o)) for d in o.landmarks}
    errors = {}

    def fit(name, m):
        try:
            return _recovery_cox(rows, rows.patient_id[m], o)
        except (ConvergenceError, InvalidInputError) as exc:
            errors[name] = str(exc)
            return None

    cox = {"overall": fit("overall", subsets["overall"]),
           "groups": {k: fit(k, m) for k, m in subsets.items() if k != "overall"}}
    return RelapseByRecovery(rows, landmarks, cox, errors, 365.0, _topics(o, "relapse"))


