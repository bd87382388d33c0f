"""Step functions, time scales, ticks and the series/rows the curve figures draw."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.formatting import p_label
from ltfu.plot._style import TRUNCATE_FRACTION
from ltfu.results import DAYS_PER_MONTH


def _steps(t, y, end):
    """Vertices of a right-continuous step function with values ``y`` from each ``t``, drawn up
    to ``end`` (points after ``end`` dropped)."""
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    keep = t <= end
    t, y = t[keep], y[keep]
    if t.size == 0:
        return np.array([]), np.array([])
    xs = np.repeat(t, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    if end > t[-1]:
        xs = np.r_[xs, end]
        ys = np.r_[ys, y[-1]]
    return xs, ys


def _lookup(t, y, x):
    """Right-continuous step function (t, y) read at ``x``."""
    idx = np.searchsorted(np.asarray(t, float), np.asarray(x, float), side="right") - 1
    return np.where(idx >= 0, np.asarray(y, float)[np.maximum(idx, 0)], np.nan)


def _scale(time_unit: str) -> float:
    if time_unit == "days":
        return DAYS_PER_MONTH
    if time_unit == "months":
        return 1.0
    raise InvalidInputError(f"time_unit: must be 'days' or 'months', got {time_unit!r}")


def _pairs(obj, what: str):
    """(label, value) pairs from a mapping or a sequence of pairs."""
    if obj is None:
        return []
    items = list(obj.items()) if isinstance(obj, Mapping) else list(obj)
    out = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InvalidInputError(f"{what}: expected (label, value) pairs or a mapping, got {item!r}")
        out.append((str(item[0]), item[1]))
    return out


@dataclass
class _Series:
    label: str
    t: np.ndarray            # months, from 0
    y: np.ndarray
    lo: np.ndarray | None
    hi: np.ndarray | None
    end: float               # last time of the curve, months
    color: str
    ls: object
    censor_t: np.ndarray
    median: float | None = None   # months; nan = not reached; None = not shown


@dataclass
class _Row:
    label: str
    color: str
    source: object           # has .at(times) -> .n_risk; KaplanMeier gives censoring too
    table: object = None     # what the number-at-risk row reads instead of source (.at(times).n_risk)


def _cut_time(src, scale) -> float:
    """Time (months) after which fewer than 10% of the group's patients remain at risk: 10% of its
    largest risk set, once that is reached.  Without delayed entry the largest is the first (every
    patient); a curve that patients enter over time (the transplanted state of a Simon-Makuch
    figure) is measured against its peak, not against all who ever enter it (at registry scale its
    first risk sets are a few patients of 1.7 million: the figure was cut at its first month)."""
    t = np.asarray(src.time, float)
    if t.size == 0:
        return 0.0
    nr = np.asarray(src.n_risk, float)
    peak = int(np.argmax(nr))
    after = np.r_[nr[1:], 0.0]
    bad = peak + np.flatnonzero(after[peak:] < TRUNCATE_FRACTION * float(nr[peak]))
    return float(t[bad[0]] if bad.size else t[-1]) / scale


def _ticks(xmax: float, step: float) -> np.ndarray:
    return np.arange(0.0, xmax + 1e-9, step)


def _cum_censored(src, days):
    if not (hasattr(src, "n_censor") and hasattr(src, "time")):
        return None
    t = np.asarray(src.time, float)
    c = np.cumsum(np.asarray(src.n_censor, float))
    idx = np.searchsorted(t, np.asarray(days, float), side="right") - 1
    return np.where(idx >= 0, c[np.maximum(idx, 0)], 0).astype(int)


def _p_text(p_value, test, test_label):
    if test_label:
        return str(test_label)
    if p_value is None:
        return None
    return p_label(p_value, test)
