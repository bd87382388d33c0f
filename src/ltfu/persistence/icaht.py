"""ICAHT (EHA/EBMT consensus, Rejeski et al., Blood 2023): neutropenia episodes on the assessment
grid, and the early and late grades."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu.persistence.options import PersistenceOptions
from ltfu.persistence.rules import _flat, _patients, _PerPatient, _stop


@dataclass(frozen=True)
class ICAHTGrades(_PerPatient):
    """Per patient: early grade (nan = NE), days with ANC <= 500 and <= 100 on the grid, whether the
    ANC never rose above 500 in the early window; late grade (nan = NE), the late nadir and the
    number of late results."""

    patient_id: np.ndarray
    early: np.ndarray
    days_500: np.ndarray
    days_100: np.ndarray
    never_above_500: np.ndarray
    late: np.ndarray
    late_nadir: np.ndarray
    late_n: np.ndarray


def _episodes_days(days, values, threshold, window_end, stable, how):
    """Days at or below ``threshold`` on the step function of the results (each holds until the
    next, the last until ``window_end`` inclusive); episodes separated by a recovery shorter than
    ``stable`` days are joined with the recovery's days; the total or the longest."""
    hold = np.r_[days[1:], np.inf]
    hold = np.minimum(hold, window_end + 1)
    below = values <= threshold
    episodes = []
    i = 0
    while i < below.size:
        if not below[i]:
            i += 1
            continue
        j = i
        while j + 1 < below.size and below[j + 1]:
            j += 1
        start, stop = float(days[i]), float(hold[j])
        if episodes and start - episodes[-1][1] < stable:
            episodes[-1] = (episodes[-1][0], stop)
        else:
            episodes.append((start, stop))
        i = j + 1
    lengths = [b - a for a, b in episodes]
    if not lengths:
        return 0.0
    return float(sum(lengths) if how == "cumulative" else max(lengths))


def _episodes_all(row, day, value, threshold, window_end, stable, how, n) -> np.ndarray:
    """``_episodes_days`` of every patient at once (0 for a patient without an episode): the
    results ``row``, ``day``, ``value`` of the window, by patient then day; ``window_end`` per
    patient."""
    out = np.zeros(n)
    if not row.size:
        return out
    same_next = np.r_[row[1:] == row[:-1], False]
    hold = np.minimum(np.where(same_next, np.r_[day[1:], np.inf], np.inf), window_end[row] + 1)
    below = value <= threshold
    prev_below = np.r_[False, below[:-1] & same_next[:-1]]
    next_below = np.r_[below[1:], False] & same_next
    starts = np.flatnonzero(below & ~prev_below)
    ends = np.flatnonzero(below & ~next_below)
    if not starts.size:
        return out
    who, start, stop = row[starts], day[starts], hold[ends]
    # a run joins the episode before it when the recovery between them is shorter than ``stable``
    new = np.r_[True, (who[1:] != who[:-1]) | ~((start[1:] - stop[:-1]) < stable)]
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, new.size - 1]
    lengths = stop[last] - start[first]
    if how == "cumulative":
        np.add.at(out, who[first], lengths)
    else:
        top = np.full(n, -np.inf)
        np.maximum.at(top, who[first], lengths)
        out = np.where(np.isinf(top), 0.0, top)
    return out


def early_icaht_grade(days_500: float, days_100: float, never_above_500: bool) -> int:
    """The early ICAHT grade from the durations (days) with ANC <= 500 and <= 100/uL."""
    grade = 0
    if days_500 >= 1:
        grade = 1
    if days_500 >= 7:
        grade = 2
    if days_500 >= 14 or days_100 >= 7:
        grade = 3
    if days_500 >= 31 or never_above_500 or days_100 >= 14:
        grade = 4
    return grade


def late_icaht_grade(values) -> int:
    """The late ICAHT grade from the ANC results of the late window (non-empty)."""
    v = np.asarray(values, float)
    if not ((v <= 1500).sum() >= 2 or v.size == 1):
        return 0
    nadir = v.min()
    for grade, limit in ((4, 100), (3, 500), (2, 1000), (1, 1500)):
        if nadir <= limit:
            return grade
    return 0


def icaht_grades(study, options: PersistenceOptions | None = None) -> ICAHTGrades:
    """Early and late ICAHT grades per patient (module docstring)."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    stop = _stop(p, p.relapse, p.therapy)
    f = _flat(study, ("anc_per_ul",), "min", p.ids).until(stop)
    # early window: days 0 to 30 (or the stop before)
    w_end = np.minimum(30.0, stop)
    e = f.day <= w_end[f.row]
    row, day, v = f.row[e], f.day[e], f.value[e]
    seen = np.bincount(row, minlength=p.n) > 0
    d500 = _episodes_all(row, day, v, 500.0, w_end, o.icaht_stable_days, o.icaht_duration, p.n)
    d100 = _episodes_all(row, day, v, 100.0, w_end, o.icaht_stable_days, o.icaht_duration, p.n)
    d500[~seen], d100[~seen] = np.nan, np.nan
    above = np.bincount(row[v > 500], minlength=p.n) > 0
    first_day = np.full(p.n, np.nan)
    np.fmin.at(first_day, row, day)
    with np.errstate(invalid="ignore"):
        never = seen & ~above & (first_day <= o.icaht_start_by)
    early = np.zeros(p.n)
    with np.errstate(invalid="ignore"):
        early[d500 >= 1] = 1
        early[d500 >= 7] = 2
        early[(d500 >= 14) | (d100 >= 7)] = 3
        early[(d500 >= 31) | never | (d100 >= 14)] = 4
    early[~seen] = np.nan
    # late window: after day 30 (to late_icaht_end)
    late_end = np.inf if o.late_icaht_end is None else o.late_icaht_end
    m = (f.day > 30) & (f.day <= late_end)
    row, v = f.row[m], f.value[m]
    late_n = np.bincount(row, minlength=p.n).astype(np.int64)
    nadir = np.full(p.n, np.nan)
    np.fmin.at(nadir, row, v)
    low = np.bincount(row[v <= 1500], minlength=p.n)
    late = np.select([nadir <= 100, nadir <= 500, nadir <= 1000, nadir <= 1500], [4.0, 3.0, 2.0, 1.0], 0.0)
    late = np.where((low >= 2) | (late_n == 1), late, 0.0)
    late[late_n == 0] = np.nan
    return ICAHTGrades(p.ids, early, d500, d100, never, late, nadir, late_n)


# ---- CAR transgene
