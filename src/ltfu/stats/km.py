"""Kaplan-Meier estimation as R ``survival::survfit``, the Nelson-Aalen cumulative hazard, median
follow-up.

Conventions follow R (survival 3.x):

- one row per distinct observed time (event or censoring), as ``summary(fit, censored=TRUE)``;
- ``std_err`` is the Greenwood standard error of S (``summary``'s std.err), ``std_err_log`` the
  standard error of log S (``fit$std.err``);
- confidence limits as ``survival:::survfit_confint``: "log" (R's default), "log-log" (ltfu's
  default, as SAS and most trial reports), "plain" (clipped to [0, 1]); where S = 0 the limits are
  undefined (``nan``), and so are the log-log limits where S = 1 (R's NA); before the first
  observed time ``at()`` gives S = 1 with limits 1, as R's summary(times=);
- quantiles as ``quantile.survfit``: the first time S <= 1 - p, or the midpoint between that time
  and the next event time where the curve is flat exactly at 1 - p (tolerance sqrt(machine eps));
  the limits apply the same rule (``findq``) to the lower and upper confidence curves;
  ``nan`` = not reached.

Hand-written because no Python library follows all of R's rules (lifelines and statsmodels use
other CI transforms and no midpoint rule; see tests/test_km.py), and because the estimator must
stay close to a one-sort numpy floor at registry scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.stats._common import (
    Estimate,
    Result,
    _json_float,
    check_choice,
    check_conf_level,
    check_time_event,
    z_quantile,
)
from ltfu.stats.counting import Counts, count

CONF_TYPES = ("log-log", "log", "plain")
_TOL = float(np.sqrt(np.finfo(float).eps))


def _confint(surv, se_log, conf_type, conf_level):
    """Pointwise limits as R's survfit_confint (ulimit=TRUE)."""
    z = z_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            half = z * se_log * surv
            lower = np.maximum(surv - half, 0.0)
            upper = np.minimum(surv + half, 1.0)
            bad = np.isnan(half)
            lower[bad] = np.nan
            upper[bad] = np.nan
        elif conf_type == "log":
            xx = np.where(surv > 0, surv, np.nan)
            lower = np.exp(np.log(xx) - z * se_log)
            upper = np.minimum(np.exp(np.log(xx) + z * se_log), 1.0)
        else:  # log-log
            xx = np.where((surv > 0) & (surv < 1), surv, np.nan)
            log_xx = np.log(xx)
            se2 = z * se_log / log_xx
            loglog = np.log(-log_xx)
            lower = np.exp(-np.exp(loglog - se2))
            upper = np.exp(-np.exp(loglog + se2))
    return lower, upper


def _findq(time, surv_curve, p):
    """R's ``survival:::findq`` for one curve (survival, or a confidence limit).

    Works on the distribution y = 1 - curve with the origin (0, 0) prepended, keeps the first of
    repeated y values, and reads the step function with ``approx(method="constant", f=1)``, which
    orders the points by y: for a non-monotone confidence curve the answer is the point whose y is
    the smallest at or above p, as R gives.  The quantile is the midpoint of the first point with
    y >= p - tol and the first with y >= p + tol; if the curve ends flat exactly at p, the midpoint
    of where it reached p and the last time.
    """
    x = np.empty(time.size + 1)
    x[0] = 0.0
    x[1:] = time
    y = np.empty(x.size)
    y[0] = 0.0
    np.subtract(1.0, surv_curve, out=y[1:])
    if not np.isnan(y).any() and not (y[1:] < y[:-1]).any():
        return _findq_monotone(x, y, p)
    return _findq_general(x, y, p)


def _first_at_or_above(yy, p):
    """In a stable sort of ``yy``, the first point at or above ``p`` (None when p is outside the
    range): the smallest yy >= p and the first of its ties in the original order, found without
    sorting."""
    if p < yy.min() or p > yy.max():
        return None
    above = np.where(yy >= p, yy, np.inf)
    return int(np.argmax(above == above.min()))


def _findq_general(x, y, p):
    """``_findq`` on the prepared points, for any curve (NaN limits, non-monotone limits).

    Keeping the first of repeated values does not change the smallest value at or above p, and
    the first point holding it is such a first occurrence; so the points need deduplicating (a
    sort) only for R's end check, which can fire only when some value is within the tolerance of
    p (``_findq_dedup``)."""
    ok = ~np.isnan(y)
    if not ok.any():
        return np.nan
    xs, ys = x[ok], y[ok]
    if ys.max() < p:
        return np.nan
    if (np.abs(p - ys) < _TOL).any():
        return _findq_dedup(x, y, p)
    i1, i2 = _first_at_or_above(ys + _TOL, p), _first_at_or_above(ys - _TOL, p)
    x1 = np.nan if i1 is None else xs[i1]
    return float(np.nan if i1 is None or i2 is None else (x1 + xs[i2]) / 2)


def _findq_dedup(x, y, p):
    """``_findq_general`` with the repeated values dropped first, as R's findq does."""
    if np.isnan(y).all() or np.nanmax(y) < p:
        return np.nan
    xmax = x[-1]
    _, first = np.unique(y, return_index=True)       # duplicated(): NaNs count as equal
    keep = np.sort(first)
    x, y = x[keep], y[keep]
    ok = ~np.isnan(y)
    xs, ys = x[ok], y[ok]
    i1, i2 = _first_at_or_above(ys + _TOL, p), _first_at_or_above(ys - _TOL, p)
    x1 = np.nan if i1 is None else xs[i1]
    quant = np.nan if i1 is None or i2 is None else (x1 + xs[i2]) / 2
    if not np.isnan(y[-1]) and abs(p - y[-1]) < _TOL:
        quant = (x1 + xmax) / 2
    return float(quant)


def _findq_monotone(x, y, p):
    """``_findq`` for a curve without NaN whose y never decreases (every survival curve): the
    same arithmetic, with the first occurrences found as change points and no sorting
    (tests/test_km.py compares the two ways on random curves)."""
    if y[-1] < p:
        return np.nan
    keep = np.empty(y.size, bool)
    keep[0] = True
    np.not_equal(y[1:], y[:-1], out=keep[1:])
    return _findq_steps(x[keep], y[keep], p, x[-1], y[keep][-1])


def _findq_steps(xs, ys, p, xmax, y_last):
    """``_findq`` on the first points of each value of a strictly increasing ``ys``; ``y_last``
    is the last point R keeps (NaN: no end check)."""
    if ys[-1] < p:
        return np.nan

    def approx_index(shift):
        yy = ys + shift
        if p < yy[0] or p > yy[-1]:
            return None
        return int(np.searchsorted(yy, p, side="left"))

    i1, i2 = approx_index(_TOL), approx_index(-_TOL)
    x1 = np.nan if i1 is None else xs[i1]
    quant = np.nan if i1 is None or i2 is None else (x1 + xs[i2]) / 2
    if abs(p - y_last) < _TOL:                       # False for a NaN y_last
        quant = (x1 + xmax) / 2
    return float(quant)


@dataclass(frozen=True, repr=False)
class SurvivalAt(Result):
    """The Kaplan-Meier step function read at chosen times (R ``summary(fit, times=)``)."""

    _table_fields = ("time", "survival", "std_err", "ci_lower", "ci_upper", "n_risk")

    time: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    n_risk: np.ndarray

    def to_dict(self) -> dict:
        return {k: [_json_float(v) for v in getattr(self, k)] for k in
                ("time", "survival", "std_err", "ci_lower", "ci_upper", "n_risk")}


class _Limits:
    """The confidence limits of a ``KaplanMeier`` as dataclass fields computed on first access.

    Four exponentials and two logarithms per distinct time cost as much as the rest of a fit at
    N = 1,000, and a resampling loop or a table of survival rates often never reads them.  Given
    ``None`` the fields are filled from ``survival``, ``std_err_log``, ``conf_type`` and
    ``conf_level`` (``_confint``) when first read: the same bits as computing them at once.  The
    descriptor is a data descriptor, so the frozen dataclass's ``__init__`` stores through it and
    equality, ``dataclasses.fields``/``replace``/``asdict`` and pickling see ordinary fields."""

    def __set_name__(self, owner, name):
        self.name, self.slot = name, "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.name)          # no class-level default (dataclass rule)
        d = obj.__dict__
        value = d.get(self.slot)
        if value is None:
            d["_ci_lower"], d["_ci_upper"] = _confint(obj.survival, obj.std_err_log, obj.conf_type, obj.conf_level)
            value = d[self.slot]
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, repr=False)
class KaplanMeier(Result):
    """Kaplan-Meier estimate, one entry per distinct observed time (R summary(censored=TRUE))."""

    _table_fields = ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower", "ci_upper")

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    # mypy takes the descriptors for defaults; dataclasses do not (their class access raises)
    ci_lower: np.ndarray = _Limits()  # type: ignore[assignment]   # computed when first read (_Limits)
    ci_upper: np.ndarray = _Limits()  # type: ignore[assignment]
    std_err_log: np.ndarray  # type: ignore[misc]
    n: int  # type: ignore[misc]
    conf_type: str  # type: ignore[misc]
    conf_level: float  # type: ignore[misc]

    @property
    def median(self) -> Estimate:
        """The median and its limits in the time unit of the input (ltfu's data: days); nan = not
        reached (NE)."""
        return self.quantile(0.5)

    @property
    def median_months(self) -> Estimate:
        """The median in months (days / 30.4375), for times given in days."""
        from ltfu.defaults import DAYS_PER_MONTH

        return self.median.scaled(DAYS_PER_MONTH)

    def __repr__(self) -> str:
        return (f"KaplanMeier(n={self.n}, events={int(self.n_event.sum())}, median={self.median} "
                f"[time unit of the input], conf_type={self.conf_type!r})")

    def quantile(self, p: float) -> Estimate:
        """Time by which a fraction ``p`` has had the event (R quantile.survfit), with its limits."""
        if not (isinstance(p, (int, float)) and 0 < p < 1):
            raise InvalidInputError(f"p: must be strictly between 0 and 1, got {p!r}")
        return Estimate(_findq(self.time, self.survival, p), _findq(self.time, self.ci_lower, p),
                        _findq(self.time, self.ci_upper, p), self.conf_level)

    def at(self, times, *, extend: bool = False) -> SurvivalAt:
        """The right-continuous step function at ``times``, as R ``summary(fit, times=)``.

        A time after the last observation (event or censoring) is beyond follow-up: nobody is at
        risk there, so survival, its standard error and limits are ``nan`` ("NE") unless
        ``extend=True``, which carries the last value forward as R's ``extend=TRUE`` does.
        ``n_risk`` is the number at risk at t (that of the next observed time, R's rule; 0 beyond)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if np.isnan(t).any():
            raise InvalidInputError("times: contains NaN")
        idx = np.searchsorted(self.time, t, side="right") - 1
        before = idx < 0
        j = np.where(before, 0, idx)
        surv = np.where(before, 1.0, self.survival[j])
        se = np.where(before, 0.0, self.std_err[j])
        lo = np.where(before, 1.0, self.ci_lower[j])
        hi = np.where(before, 1.0, self.ci_upper[j])
        if not extend and self.time.size:
            beyond = t > self.time[-1]
            surv, se, lo, hi = (np.where(beyond, np.nan, a) for a in (surv, se, lo, hi))
        nxt = np.searchsorted(self.time, t, side="left")
        n_risk = np.where(nxt < self.time.size, self.n_risk[np.minimum(nxt, self.time.size - 1)], 0)
        return SurvivalAt(t, surv, se, lo, hi, n_risk.astype(np.int64))

    def to_dict(self) -> dict:
        m = self.median
        return {"n": self.n, "events": int(self.n_event.sum()), "conf_type": self.conf_type,
                "conf_level": self.conf_level, "median": m.to_dict(),
                "table": {k: [_json_float(v) for v in getattr(self, k)] for k in
                          ("time", "n_risk", "n_event", "n_censor", "survival", "std_err",
                           "ci_lower", "ci_upper")}}


def survival_from_counts(n_risk, n_event):
    """Kaplan-Meier arithmetic as R's survfitkm: at each time with an event, S *= (n - d) / n and
    the Greenwood sum grows by d / (n (n - d)); elsewhere both are carried.  Sequential products
    and sums in time order (numpy's cumprod/cumsum), so knife-edge values such as a median where
    S is exactly 0.5 come out as R's do.  Works along the last axis (one curve per row)."""
    if n_risk.size and np.minimum.reduce(n_risk, axis=None) > 0 and np.maximum.reduce(n_risk, axis=None) < np.inf:
        # everyone's curve has someone at risk (always so for counted subjects; case weights of
        # the bootstrap may be 0): where d = 0, (n - d) / n is exactly 1 and d / (n (n - d))
        # exactly 0, so the masks below are not needed and the values are the same bits
        left = n_risk - n_event
        with np.errstate(divide="ignore"):
            factor = left / n_risk
            green = n_event / (n_risk * left)
        return factor.cumprod(axis=-1), np.sqrt(green.cumsum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        has = n_event > 0
        factor = np.where(has, (n_risk - n_event) / np.where(has, n_risk, 1.0), 1.0)
        green = np.where(has, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return np.cumprod(factor, axis=-1), np.sqrt(np.cumsum(green, axis=-1))


def kaplan_meier(time, event, *, entry=None, conf_type: str = "log-log",
                 conf_level: float = 0.95, timefix: bool = True) -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood variance and R's confidence limits.

    ``conf_type`` defaults to "log-log", which deliberately differs from R survfit's default "log":
    log-log limits stay inside [0, 1] and behave better in the tails (Kalbfleisch & Prentice); pass
    ``conf_type="log"`` for R's default.  ``entry`` gives delayed entry (left truncation): the risk
    set at t is {entry < t <= time}, as R's ``Surv(entry, time, event)``.  ``timefix`` merges
    times closer than R's tolerance, as survfit does (``ltfu.stats.counting``).
    """
    t, e, en = check_time_event(time, event, entry=entry)
    check_choice(conf_type, "conf_type", CONF_TYPES)
    conf_level = check_conf_level(conf_level)
    return km_from_counts(count(t, e, entry=en, timefix=timefix), conf_type=conf_type, conf_level=conf_level,
                          n=int(t.size))


def km_from_counts(counts: Counts, *, conf_type: str = "log-log", conf_level: float = 0.95,
                   n: int | None = None) -> KaplanMeier:
    """The Kaplan-Meier estimate from a one-group counts table (whoever counted it)."""
    n_risk, n_event = counts.n_risk[:, 0], counts.n_event_any[:, 0]
    surv, se_log = survival_from_counts(n_risk, n_event)
    with np.errstate(invalid="ignore"):
        std_err = surv * se_log
    n_total = int(counts.n_exit.sum()) if n is None else n
    return KaplanMeier(counts.time, n_risk.astype(np.int64), n_event.astype(np.int64),
                       (counts.n_exit[:, 0] - n_event).astype(np.int64), surv, std_err,
                       None, None,  # type: ignore[arg-type]   # limits computed when first read
                       se_log, n_total, conf_type, conf_level)


@dataclass(frozen=True, repr=False)
class NelsonAalen(Result):
    """Nelson-Aalen cumulative hazard, one entry per distinct observed time, as R survfit's
    ``cumhaz`` and ``std.chaz`` (``summary(fit, censored=TRUE)``): H(t) = sum over u <= t of
    d/n, and its standard error sqrt(sum d/n^2) (Aalen's variance, the one survfit reports)."""

    _table_fields = ("time", "n_risk", "n_event", "n_censor", "cumhaz", "std_err")

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    cumhaz: np.ndarray
    std_err: np.ndarray
    n: int

    def to_dict(self) -> dict:
        return {"n": self.n, "events": int(self.n_event.sum()),
                "table": {k: [_json_float(v) for v in getattr(self, k)] for k in self._table_fields}}


def nelson_aalen(time, event, *, entry=None, timefix: bool = True) -> NelsonAalen:
    """Nelson-Aalen estimate of the cumulative hazard (``entry``: delayed entry, risk set
    {entry < t <= time}; ``timefix`` as ``kaplan_meier``).  Equals R ``survfit(Surv(...) ~ 1)``'s
    ``cumhaz`` and ``std.chaz`` (tests/reference/crosscheck.R)."""
    t, e, en = check_time_event(time, event, entry=entry)
    return na_from_counts(count(t, e, entry=en, timefix=timefix), n=int(t.size))


def na_from_counts(counts: Counts, *, n: int | None = None) -> NelsonAalen:
    """The Nelson-Aalen estimate from a one-group counts table (whoever counted it): increments
    d/n and d/n^2 summed in time order, as survfit sums them."""
    n_risk, n_event = counts.n_risk[:, 0], counts.n_event_any[:, 0]
    cumhaz = np.cumsum(n_event / n_risk)
    std_err = np.sqrt(np.cumsum(n_event / (n_risk * n_risk)))
    n_total = int(counts.n_exit.sum()) if n is None else n
    return NelsonAalen(counts.time, n_risk.astype(np.int64), n_event.astype(np.int64),
                       (counts.n_exit[:, 0] - n_event).astype(np.int64), cumhaz, std_err, n_total)


@dataclass(frozen=True, repr=False)
class FollowUp(Result):
    """Median follow-up by reverse Kaplan-Meier, and the simple median of observation times."""

    reverse_km: Estimate
    simple_median: float
    min: float
    max: float
    n: int

    def to_dict(self) -> dict:
        return {"reverse_km": self.reverse_km.to_dict(), "simple_median": _json_float(self.simple_median),
                "min": _json_float(self.min), "max": _json_float(self.max), "n": self.n}


def median_follow_up(time, death, *, conf_type: str = "log-log", conf_level: float = 0.95,
                     timefix: bool = True) -> FollowUp:
    """Reverse Kaplan-Meier median follow-up (Schemper & Smith 1996): censoring is the event.

    Equals R ``survfit(Surv(time, 1 - death) ~ 1)``'s median and limits.  The simple median of all
    observation times (which deaths shorten) is given for comparison.
    """
    t, d, _ = check_time_event(time, death, event_name="death")
    return follow_up_of(kaplan_meier(t, 1 - d, conf_type=conf_type, conf_level=conf_level, timefix=timefix), t)


def follow_up_of(reverse_km: KaplanMeier, t) -> FollowUp:
    """The ``FollowUp`` of a reverse Kaplan-Meier and the times as given (checked)."""
    return FollowUp(reverse_km.median, float(np.median(t)), float(t.min()), float(t.max()), int(t.size))


def follow_up_from_counts(merged: Counts, observed: Counts, *, conf_type: str = "log-log",
                          conf_level: float = 0.95) -> FollowUp:
    """``median_follow_up`` from one-group counts of (time, death) (whoever counted them):
    ``merged`` after R's time merging (the reverse Kaplan-Meier: censorings are its events),
    ``observed`` the distinct times as given (the simple median, min and max, as numpy's median,
    min and max of the times)."""
    left, died = merged.n_exit[:, 0], merged.n_event[:, 0, 0]
    reverse = Counts(merged.time, merged.n_exit, (left - died)[:, None, None], (1,))
    km = km_from_counts(reverse, conf_type=conf_type, conf_level=conf_level)
    times, k = observed.time, observed.n_exit[:, 0]
    n = int(k.sum())
    upto = np.cumsum(k)
    middle = times[np.searchsorted(upto, [(n - 1) // 2, n // 2], side="right")]   # the one or two middle values
    median = float(np.mean(middle[:1] if n % 2 else middle))                       # as np.median takes them
    return FollowUp(km.median, median, float(times[0]), float(times[-1]), n)


