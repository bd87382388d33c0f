"""Cumulative incidence with competing risks and Gray's test, as R ``cmprsk::cuminc``.

Aalen-Johansen estimate per cause and group: F_k(t) = sum over u <= t of S(u-) d_k(u) / n(u), S the
all-cause Kaplan-Meier.  The variance is the one cuminc reports (Gray's delta-method formula from
cmprsk's Fortran ``cinc``: running sums v1, v2, v3 over event times of every cause, combined as
v1 + F^2 v3 - 2 F v2 at the times of the cause of interest), vectorised over distinct times.
cuminc gives no confidence limits; ltfu's use the log(-log) transform:
F^exp(+-z sqrt(v) / (F log F)), which keeps them inside (0, 1).

Gray's k-sample test follows cmprsk's ``crstm``/``crst`` (rho = 0 by default), stratified by
summing scores and variances over strata; statistic s' V^-1 s on k - 1 df for every cause.
Hand-written: no Python library computes cuminc's variance or Gray's test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import (
    Result,
    _json_float,
    check_conf_level,
    check_groups,
    check_rho,
    check_survival,
    z_quantile,
)
from ltfu.stats.counting import Counts, count, merge_close_times
from ltfu.stats.km import survival_from_counts


@dataclass(frozen=True, repr=False)
class CIFAt(Result):

    _table_fields = ("time", "estimate", "variance", "lower", "upper")
    time: np.ndarray
    estimate: np.ndarray
    variance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def to_dict(self) -> dict:
        return {k: [_json_float(v) for v in getattr(self, k)] for k in ("time", "estimate", "variance", "lower",
                                                                         "upper")}


@dataclass(frozen=True)
class _Curve:
    time: np.ndarray          # distinct observed times of the group
    estimate: np.ndarray      # F_k just after each time
    variance: np.ndarray      # cuminc's variance (changes at cause-k times only)
    max_time: float


def _one_group(counts: Counts):
    """Event-free S(t) and, per cause, the curve over the group's distinct times: cuminc's
    arithmetic (cmprsk's ``cinc``) from a one-group counts table."""
    uniq = counts.time
    T = uniq.size
    rs = counts.n_risk[:, 0]                                    # at risk at each distinct time
    nd_all = counts.n_event_any[:, 0]
    s_after, _ = survival_from_counts(rs, nd_all)               # all-cause KM, right-continuous
    s_before = np.r_[1.0, s_after[:-1]]                         # S(t-)
    curves = {}
    for k, cause in enumerate(counts.causes):
        nd1 = counts.n_event[:, 0, k]
        nd2 = nd_all - nd1
        F = np.cumsum(s_before * nd1 / rs)
        with np.errstate(divide="ignore", invalid="ignore"):
            t5_2 = np.where(nd2 > 1, 1 - (nd2 - 1) / (rs - 1), 1.0)
            t6_2 = s_before ** 2 * t5_2 * nd2 / rs ** 2
            ok2 = (nd2 > 0) & (s_after > 0)
            t3_2 = np.where(ok2, 1 / s_after, 0.0)
            t4_2 = np.where(ok2, F / s_after, 0.0)
            t6_2 = np.where(ok2, t6_2, 0.0)
            t5_1 = np.where(nd1 > 1, 1 - (nd1 - 1) / (rs - 1), 1.0)
            t6_1 = np.where(nd1 > 0, s_before ** 2 * t5_1 * nd1 / rs ** 2, 0.0)
            t3_1 = np.where(s_after > 0, 1 / s_after, 0.0)
            t4_1 = 1 + t3_1 * F
        v1 = np.cumsum(t4_2 ** 2 * t6_2 + t4_1 ** 2 * t6_1)
        v2 = np.cumsum(t3_2 * t4_2 * t6_2 + t3_1 * t4_1 * t6_1)
        v3 = np.cumsum(t3_2 ** 2 * t6_2 + t3_1 ** 2 * t6_1)
        v_at = v1 + F ** 2 * v3 - 2 * F * v2
        # the variance is updated only at the cause's own event times (carried forward between)
        has = nd1 > 0
        last = np.maximum.accumulate(np.where(has, np.arange(T), -1))
        var = np.where(last >= 0, v_at[np.maximum(last, 0)], 0.0)
        curves[cause] = _Curve(uniq, F, var, float(uniq[-1]))
    return uniq, s_after, curves


@dataclass(frozen=True, repr=False)
class CumulativeIncidence(Result):
    """Per group and cause: the step functions, readable with ``at`` (cmprsk::timepoints)."""

    groups: tuple
    causes: tuple
    conf_level: float
    n: tuple
    _curves: dict
    _event_free: dict

    def _curve(self, cause, group):
        if cause not in self.causes:
            raise InvalidInputError(f"cause: {cause!r} is not one of {self.causes}")
        if group is None:
            if len(self.groups) != 1:
                raise InvalidInputError(f"group: choose one of {self.groups}")
            group = self.groups[0]
        if group not in self.groups:
            raise InvalidInputError(f"group: {group!r} is not one of {self.groups}")
        return self._curves[(group, cause)], group

    def at(self, times, *, cause=1, group=None) -> CIFAt:
        """Estimates, variances and log(-log) limits at ``times`` (nan beyond the last follow-up)."""
        c, _ = self._curve(cause, group)
        t = np.atleast_1d(np.asarray(times, float))
        idx = np.searchsorted(c.time, t, side="right") - 1
        est = np.where(idx >= 0, c.estimate[np.maximum(idx, 0)], 0.0)
        var = np.where(idx >= 0, c.variance[np.maximum(idx, 0)], 0.0)
        beyond = t > c.max_time
        est, var = np.where(beyond, np.nan, est), np.where(beyond, np.nan, var)
        lo, hi = _loglog_limits(est, var, self.conf_level)
        return CIFAt(t, est, var, lo, hi)

    def curve(self, *, cause=1, group=None):
        """(time, estimate) of the step function, starting at (0, 0), for drawing."""
        c, _ = self._curve(cause, group)
        return np.r_[0.0, c.time], np.r_[0.0, c.estimate]

    def event_free(self, times, *, group=None):
        """Probability of no event of any cause by each time (1 - sum of the incidences)."""
        if group is None:
            group = self.groups[0]
        t_grid, s_after = self._event_free[group]
        idx = np.searchsorted(t_grid, np.atleast_1d(np.asarray(times, float)), side="right") - 1
        return np.where(idx >= 0, s_after[np.maximum(idx, 0)], 1.0)

    def to_frame(self):
        """Long format: group, cause, time (and time_months), estimate, variance, limits."""
        import pandas as pd

        frames = []
        for g in self.groups:
            for c in self.causes:
                curve = self._curves[(g, c)]
                f = self.at(curve.time, cause=c, group=g).to_frame()
                f.insert(0, "cause", c)
                f.insert(0, "group", g)
                frames.append(f)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def to_dict(self) -> dict:
        return {"groups": [str(g) for g in self.groups], "causes": [int(c) for c in self.causes],
                "n": list(self.n), "conf_level": self.conf_level}


def _loglog_limits(est, var, conf_level):
    z = z_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ok = (est > 0) & (est < 1) & np.isfinite(var)
        se = np.sqrt(var)
        factor = np.exp(z * se / (est * np.log(est)))
        lower = np.where(ok, est ** (1 / factor), np.nan)
        upper = np.where(ok, est ** factor, np.nan)
    return lower, upper


def cumulative_incidence(time, status, *, group=None, conf_level: float = 0.95, cencode: int = 0,
                         timefix: bool = True) -> CumulativeIncidence:
    """Aalen-Johansen cumulative incidence per cause and group.

    ``status``: ``cencode`` (default 0) = censored, every other code a cause, as cmprsk::cuminc.
    ``timefix`` merges times closer than R's tolerance over all groups (survival's rule; cmprsk
    itself compares raw floats, so on such near-ties ltfu with the default differs from cuminc and
    ``timefix=False`` reproduces it)."""
    t, s, _, causes = check_survival(time, status, competing=True, cencode=cencode, status_name="status")
    conf_level = check_conf_level(conf_level)
    t, _ = merge_close_times(t, timefix=timefix)
    if group is None:
        levels, codes = np.array(["all"]), np.zeros(t.size, int)
    else:
        levels, codes = check_groups(group, t.size)
    curves, free, ns = {}, {}, []
    for gi, g in enumerate(levels.tolist()):
        m = codes == gi
        uniq, s_after, c = _one_group(count(t[m], s[m], causes=causes, timefix=False))
        free[g] = (uniq, s_after)
        for k in causes:
            curves[(g, k)] = c[k]
        ns.append(int(m.sum()))
    return CumulativeIncidence(tuple(levels.tolist()), causes, conf_level, tuple(ns), curves, free)


@dataclass(frozen=True, repr=False)
class GrayTest(Result):

    _table_fields = ("causes", "statistic", "df", "p_value")
    causes: tuple
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    groups: tuple

    def to_dict(self) -> dict:
        return {"causes": list(self.causes), "groups": [str(g) for g in self.groups],
                "statistic": [_json_float(v) for v in self.statistic], "df": [int(v) for v in self.df],
                "p_value": [_json_float(v) for v in self.p_value]}


def _crst(counts, rho):
    """Score (ng - 1) and variance of Gray's test in one stratum (cmprsk's crst) from ``counts``
    (T, 3, ng): per distinct time in order, censored, failed of the cause and failed of another
    cause, per group.  ``_crst_scalar``, the same arithmetic on Python floats, for up to 7 groups;
    the array form otherwise or when a division by zero (or the like) needs numpy's inf and nan."""
    if counts.shape[2] <= 7:
        try:
            return _crst_scalar(counts, rho)
        except ArithmeticError:          # a division by zero, an overflow, a negative to a power
            pass
    return _crst_arrays(counts, rho)


def _sum(xs) -> float:
    """numpy's sum of a float64 array of fewer than 8 elements, operation for operation: sequential
    from 0 (numpy sums in pairs from 8 on), so that both forms of ``_crst`` agree to the bit."""
    total = 0.0
    for x in xs:
        total += x
    return total


def _crst_scalar(counts, rho):
    """``_crst_arrays`` with the per-time work on Python floats (IEEE doubles, each operation as the
    array form does it, in the same order): the loop over the distinct times costs microseconds, not
    the tens of microseconds of small numpy arrays."""
    nt, _, ng = counts.shape
    ng1 = ng - 1
    d1s = counts[:, 1, :].astype(float).tolist()
    d2s = counts[:, 2, :].astype(float).tolist()
    leave = counts.sum(axis=1).astype(float).tolist()
    active = ((counts[:, 1, :].sum(axis=1) + counts[:, 2, :].sum(axis=1)) > 0).tolist()
    rs = counts.sum(axis=(0, 1)).astype(float).tolist()
    s = [0.0] * ng1
    v = [[0.0] * ng1 for _ in range(ng1)]
    f1m = [0.0] * ng
    skmm = [1.0] * ng
    v3 = [0.0] * ng
    v2 = [[0.0] * ng for _ in range(ng1)]
    c = [[0.0] * ng for _ in range(ng)]
    fm = 0.0
    groups = range(ng)
    for ti in range(nt):
        out = leave[ti]
        if not active[ti]:
            rs = [rs[i] - out[i] for i in groups]
            continue
        d1, d2 = d1s[ti], d2s[ti]
        nd1, nd2 = _sum(d1), _sum(d2)
        pos = [r > 0 for r in rs]
        skm = list(skmm)
        f1 = list(f1m)
        for i in groups:
            if pos[i]:
                skm[i] = skmm[i] * (rs[i] - (d1[i] + d2[i])) / rs[i]
                f1[i] = f1m[i] + skmm[i] * d1[i] / rs[i]
        tr = _sum([rs[i] / skmm[i] for i in groups if pos[i]])
        tq = _sum([rs[i] * (1 - f1m[i]) / skmm[i] for i in groups if pos[i]])
        f = fm + nd1 / tr
        fb = (1 - fm) ** rho
        if isinstance(fb, complex):
            raise ArithmeticError("a negative number to a fractional power")
        a = [[0.0] * ng for _ in groups]
        t1v = [rs[i] / skmm[i] if pos[i] else 0.0 for i in groups]
        for i in groups:
            if not pos[i]:
                continue
            a[i][i] = fb * t1v[i] * (1 - t1v[i] / tr)
            c[i][i] += a[i][i] * nd1 / (tr * (1 - fm))
            for j in range(i + 1, ng):
                if not pos[j]:
                    continue
                a[i][j] = -fb * t1v[i] * rs[j] / (skmm[j] * tr)
                c[i][j] += a[i][j] * nd1 / (tr * (1 - fm))
        for i in groups:                   # np.triu(x) + np.triu(x, 1).T
            for j in range(i + 1, ng):
                a[j][i] = 0.0 + a[i][j]
                c[j][i] = 0.0 + c[i][j]
                a[i][j] += 0.0
                c[i][j] += 0.0
            a[i][i] += 0.0
            c[i][i] += 0.0
        for i in range(ng1):
            if pos[i]:
                s[i] += fb * (d1[i] - nd1 * rs[i] * (1 - f1m[i]) / (skmm[i] * tq))
        if nd1 > 0:
            for k in groups:
                if not pos[k]:
                    continue
                t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
                v3[k] += t4 * t4 * t3
                t1 = [a[i][k] - t4 * c[i][k] for i in range(ng1)]
                for i in range(ng1):
                    v2[i][k] += t1[i] * t4 * t3
                    for j in range(i + 1):
                        v[i][j] += t1[i] * t1[j] * t3
        if nd2 > 0:
            for k in groups:
                if skm[k] <= 0 or d2[k] <= 0:
                    continue
                t4 = (1 - f) / skm[k]
                t5 = 1 - (d2[k] - 1) / (rs[k] - 1) if d2[k] > 1 else 1.0
                t3 = t5 * skmm[k] ** 2 * d2[k] / rs[k] ** 2
                v3[k] += t4 * t4 * t3
                t1 = [t4 * c[i][k] for i in range(ng1)]
                for i in range(ng1):
                    v2[i][k] -= t1[i] * t4 * t3
                    for j in range(i + 1):
                        v[i][j] += t1[i] * t1[j] * t3
        rs = [rs[i] - out[i] for i in groups]
        fm = f
        f1m = f1
        skmm = skm
    s, v, v3, v2, c = np.array(s), np.array(v).reshape(ng1, ng1), np.array(v3), np.array(v2).reshape(ng1, ng), \
        np.array(c)
    cc = c[:ng1, :]
    v += np.tril((cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T)
    v = np.tril(v) + np.tril(v, -1).T
    return s, v


def _crst_arrays(counts, rho):
    """Score (ng - 1) and variance of Gray's test in one stratum (cmprsk's crst, transcribed)."""
    nt, _, ng = counts.shape
    ng1 = ng - 1
    counts = counts.astype(float)
    rs = counts.sum(axis=(0, 1))
    s = np.zeros(ng1)
    v = np.zeros((ng1, ng1))
    f1m = np.zeros(ng)
    skmm = np.ones(ng)
    v3 = np.zeros(ng)
    v2 = np.zeros((ng1, ng))
    c = np.zeros((ng, ng))
    fm = 0.0
    for ti in range(nt):
        d = counts[ti]
        nd1, nd2 = d[1].sum(), d[2].sum()
        if nd1 == 0 and nd2 == 0:
            rs -= d.sum(axis=0)
            continue
        pos = rs > 0
        td = d[1] + d[2]
        skm = skmm.copy()
        f1 = f1m.copy()
        skm[pos] = skmm[pos] * (rs[pos] - td[pos]) / rs[pos]
        f1[pos] = f1m[pos] + skmm[pos] * d[1][pos] / rs[pos]
        tr = float((rs[pos] / skmm[pos]).sum())
        tq = float((rs[pos] * (1 - f1m[pos]) / skmm[pos]).sum())
        f = fm + nd1 / tr
        fb = (1 - fm) ** rho
        a = np.zeros((ng, ng))
        t1v = np.where(pos, rs / np.where(pos, skmm, 1.0), 0.0)
        for i in range(ng):
            if not pos[i]:
                continue
            a[i, i] = fb * t1v[i] * (1 - t1v[i] / tr)
            c[i, i] += a[i, i] * nd1 / (tr * (1 - fm))
            for j in range(i + 1, ng):
                if not pos[j]:
                    continue
                a[i, j] = -fb * t1v[i] * rs[j] / (skmm[j] * tr)
                c[i, j] += a[i, j] * nd1 / (tr * (1 - fm))
        a = np.triu(a) + np.triu(a, 1).T
        c = np.triu(c) + np.triu(c, 1).T
        for i in range(ng1):
            if pos[i]:
                s[i] += fb * (d[1][i] - nd1 * rs[i] * (1 - f1m[i]) / (skmm[i] * tq))
        if nd1 > 0:
            for k in range(ng):
                if not pos[k]:
                    continue
                t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
                v3[k] += t4 * t4 * t3
                t1 = a[:ng1, k] - t4 * c[:ng1, k]
                v2[:, k] += t1 * t4 * t3
                v += np.tril(np.outer(t1, t1)) * t3
        if nd2 > 0:
            for k in range(ng):
                if skm[k] <= 0 or d[2][k] <= 0:
                    continue
                t4 = (1 - f) / skm[k]
                t5 = 1 - (d[2][k] - 1) / (rs[k] - 1) if d[2][k] > 1 else 1.0
                t3 = t5 * skmm[k] ** 2 * d[2][k] / rs[k] ** 2
                v3[k] += t4 * t4 * t3
                t1 = t4 * c[:ng1, k]
                v2[:, k] -= t1 * t4 * t3
                v += np.tril(np.outer(t1, t1)) * t3
        rs -= d.sum(axis=0)
        fm = f
        f1m = f1
        skmm = skm
    cc = c[:ng1, :]
    v += np.tril((cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T)
    v = np.tril(v) + np.tril(v, -1).T
    return s, v


def gray_test(time, status, group, *, strata=None, rho: float = 0.0, cencode: int = 0,
              timefix: bool = True) -> GrayTest:
    """Gray's test that the cumulative incidence of each cause is equal across groups
    (``cencode`` and ``timefix`` as in ``cumulative_incidence``).  A cause whose variance is singular
    has no test (statistic and p nan; cmprsk prints -1); ConvergenceError if no cause has one."""
    t, st, _, causes = check_survival(time, status, competing=True, cencode=cencode, status_name="status")
    rho = check_rho(rho)
    t, _ = merge_close_times(t, timefix=timefix)
    levels, codes = check_groups(group, t.size)
    if levels.size < 2:
        raise InvalidInputError("group: needs at least 2 groups")
    scodes = np.zeros(t.size, int) if strata is None else check_groups(strata, t.size, "strata")[1]
    # count() takes 0 as censored and the causes as given: the j-th cause is coded 1 + j
    mark = np.zeros(t.size, np.int64)
    for j, k in enumerate(causes):
        mark[st == k] = 1 + j
    tables = [count(t[sel], mark[sel], group=codes[sel], n_groups=levels.size,
                    causes=tuple(range(1, len(causes) + 1)), timefix=False)     # merged above, over all strata
              for sel in (np.flatnonzero(scodes == sc) for sc in np.unique(scodes))]
    return gray_from_counts(causes, tuple(levels.tolist()), tables, rho)


def gray_from_counts(causes, groups, tables, rho: float = 0.0) -> GrayTest:
    """Gray's test from per-stratum ``Counts`` tables (whoever counted them), in the strata's
    order, their columns the ``groups`` and their causes those of ``causes``."""
    ng = len(groups)
    stats, dfs, ps = [], [], []
    for j, _k in enumerate(causes):
        s_tot, v_tot = np.zeros(ng - 1), np.zeros((ng - 1, ng - 1))
        for n in tables:
            failed = n.n_event.sum(axis=2)
            # per time and group: censored, failed of this cause, failed of another (cmprsk's 0, 1, 2)
            this = n.n_event[:, :, j]
            s_k, v_k = _crst(np.stack([n.n_exit - failed, this, failed - this], axis=1), rho)
            s_tot += s_k
            v_tot += v_k
        try:
            stat = float(s_tot @ np.linalg.solve(v_tot, s_tot))
        except np.linalg.LinAlgError:
            stat = np.nan                # cmprsk reports -1: no test for this cause, the others stand
        stats.append(stat)
        dfs.append(ng - 1)
        ps.append(float(chdtrc(ng - 1, stat)))
    if causes and all(np.isnan(stats)):
        raise ConvergenceError("Gray's test is not defined: its variance is singular for every cause (e.g. a "
                               "group with nobody at risk at the event times)")
    return GrayTest(causes, np.array(stats), np.array(dfs), np.array(ps), tuple(groups))
