"""Restricted mean survival time (R's print(survfit, rmean=tau), survmean) and the difference between two groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ltfu.errors import InvalidInputError
from ltfu.stats._common import Result, _json_float, check_conf_level, check_groups, check_time_event, z_quantile
from ltfu.stats.counting import merge_close_times
from ltfu.stats.km import KaplanMeier, kaplan_meier


@dataclass(frozen=True, repr=False)
class RMST(Result):
    """Restricted mean survival time up to ``tau`` (R ``print(fit, rmean=tau)``)."""

    tau: float
    estimate: float
    std_err: float
    lower: float
    upper: float
    conf_level: float

    def to_dict(self) -> dict:
        return {k: _json_float(getattr(self, k)) for k in ("tau", "estimate", "std_err", "lower", "upper",
                                                          "conf_level")}


def _rmst(km: KaplanMeier, tau: float):
    """Area under ``km`` from 0 to ``tau`` and its standard error, as R's survmean: the area from
    each event time to tau, squared, times d / (n (n - d)), summed; a time where everyone at risk
    has the event (n = d) adds 0, as R's ``ifelse((n.risk - n.event) == 0, 0, ...)``."""
    keep = km.time <= tau
    grid = np.r_[0.0, km.time[keep], tau]
    s = np.r_[1.0, km.survival[keep]]
    areas = s * np.diff(grid)                              # area of each step up to tau
    est = float(areas.sum())
    after = np.cumsum(areas[::-1])[::-1][1:]               # area from each distinct time to tau
    d, n = km.n_event[keep].astype(float), km.n_risk[keep].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where((d > 0) & (n > d), after ** 2 * d / (n * (n - d)), 0.0)
    return est, float(np.sqrt(term.sum()))


def rmst(time, event, *, tau: float, entry=None, conf_level: float = 0.95, timefix: bool = True) -> RMST:
    """Area under the Kaplan-Meier curve from 0 to ``tau`` and its standard error, as R's rmean
    (``print(survfit(...), rmean=tau)``); ``entry`` gives delayed entry as in ``kaplan_meier``.

    A ``tau`` before the first observed time gives tau itself with standard error 0 (the curve is
    1 there); R 4.2's print refuses such a tau, which ltfu treats as an R limitation."""
    t, e, en = check_time_event(time, event, entry=entry)
    conf_level = check_conf_level(conf_level)
    if not (isinstance(tau, (int, float, np.integer, np.floating)) and np.isfinite(tau) and tau > 0):
        raise InvalidInputError(f"tau: must be a positive finite time, got {tau!r}")
    km = kaplan_meier(t, e, entry=en, conf_type="log", timefix=timefix)
    est, se = _rmst(km, float(tau))
    z = z_quantile(conf_level)
    return RMST(float(tau), est, se, float(est - z * se), float(est + z * se), conf_level)


@dataclass(frozen=True, repr=False)
class RMSTDifference(Result):
    """RMST of the second group (sorted order) minus the first, with a Wald interval."""

    groups: tuple
    rmst: tuple
    difference: float
    std_err: float
    lower: float
    upper: float
    p_value: float
    tau: float
    conf_level: float

    def to_dict(self) -> dict:
        return {"groups": [str(g) for g in self.groups], "rmst": [r.to_dict() for r in self.rmst],
                **{k: _json_float(getattr(self, k)) for k in
                   ("difference", "std_err", "lower", "upper", "p_value", "tau", "conf_level")}}


def rmst_difference(time, event, group, *, tau: float, entry=None, conf_level: float = 0.95,
                    timefix: bool = True) -> RMSTDifference:
    """Difference in RMST between two independent groups: second minus first in sorted order.
    When both standard errors are 0 (no event before tau in either group) the difference has no
    sampling variability to test: its p-value is nan."""
    t, e, en = check_time_event(time, event, entry=entry)
    t, en = merge_close_times(t, en, timefix=timefix)     # pooled over the groups, as R's survfit(~ group)
    levels, codes = check_groups(group, t.size)
    if levels.size != 2:
        raise InvalidInputError(f"group: needs exactly 2 groups, got {levels.size}")
    res = tuple(rmst(t[codes == k], e[codes == k], tau=tau, conf_level=conf_level, timefix=False,
                     entry=None if en is None else en[codes == k]) for k in (0, 1))
    diff = res[1].estimate - res[0].estimate
    se = float(np.hypot(res[0].std_err, res[1].std_err))
    z = z_quantile(conf_level)
    p = float(2 * norm.sf(abs(diff / se))) if se > 0 else np.nan
    return RMSTDifference(tuple(levels.tolist()), res, diff, se, diff - z * se, diff + z * se, p,
                          float(tau), conf_level)
