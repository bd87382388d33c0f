"""Cox proportional-hazards regression, as R ``survival::coxph`` (Efron or Breslow ties).

Counting-process input (entry, exit] gives time-dependent covariates and delayed entry; strata
give separate baseline hazards; ``cluster`` gives the robust (sandwich) variance from the score
residuals summed within clusters, as ``coxph(..., cluster=)``.  Newton-Raphson with step halving;
converged when the relative change in the log partial likelihood is at most ``eps`` (R: 1e-9).

Vectorised over distinct event times: risk-set sums come from reverse cumulative sums over exits
minus those over entries, and Efron's tie correction is reduced to a few per-time scalars
(sum over l of 1/S0_l, l/d/S0_l, 1/S0_l^2, ...), so each iteration costs O(n p^2) with no per-row
Python.  Hand-written because the peers are slow at scale or stop early (lifelines' batch mode),
and none gives R's robust variance for counting-process data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2, norm

from ltfu.errors import ConvergenceError
from ltfu.stats._common import (TestResult, _json_float, check_choice, check_conf_level, check_groups,
                                check_time_event, design_matrix, prefix_sums)


@dataclass(frozen=True)
class CoxResult:
    terms: tuple
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray | None
    var: np.ndarray
    loglik: tuple
    score_test: TestResult
    wald_test: TestResult
    lr_test: TestResult
    hazard_ratio: np.ndarray
    hr_lower: np.ndarray
    hr_upper: np.ndarray
    p_value: np.ndarray
    n: int
    n_events: int
    iterations: int
    ties: str
    conf_level: float
    _data: dict = field(default=None, repr=False, compare=False)   # for cox_zph

    def to_dict(self) -> dict:
        f = lambda a: None if a is None else [_json_float(v) for v in a]  # noqa: E731
        return {"terms": list(self.terms), "coef": f(self.coef), "se": f(self.se), "robust_se": f(self.robust_se),
                "hazard_ratio": f(self.hazard_ratio), "hr_lower": f(self.hr_lower), "hr_upper": f(self.hr_upper),
                "p_value": f(self.p_value), "loglik": [_json_float(v) for v in self.loglik],
                "score_test": self.score_test.to_dict(), "wald_test": self.wald_test.to_dict(),
                "lr_test": self.lr_test.to_dict(), "n": self.n, "n_events": self.n_events,
                "iterations": self.iterations, "ties": self.ties, "conf_level": self.conf_level}


class _Stratum:
    """One stratum's rows, sorted once by exit time, and the per-event-time structure that does not
    depend on beta (so each Newton iteration does no sorting and no gathering)."""

    def __init__(self, idx, entry, exit_, event, ties, X):
        idx = idx[np.argsort(exit_[idx], kind="stable")]
        self.idx = idx
        self.x = X[idx]
        self.exit, self.event = exit_[idx], event[idx]
        self.has_entry = entry is not None
        self.entry = entry[idx] if self.has_entry else None
        if self.has_entry:
            self.order_entry = np.argsort(self.entry, kind="stable")
            self.entry_sorted = self.entry[self.order_entry]
        dead = self.event == 1
        self.dead_rows = np.flatnonzero(dead)                  # in exit order, so tied deaths are adjacent
        self.xd = self.x[self.dead_rows]                        # covariates of the deaths, gathered once
        self.xd_sum = self.xd.sum(axis=0)
        dead_times = self.exit[self.dead_rows]
        first = np.r_[True, dead_times[1:] != dead_times[:-1]] if dead_times.size else np.zeros(0, bool)
        self.times = dead_times[first]
        self.dead_k = np.cumsum(first) - 1                      # event-time index of each death
        self.group_start = np.flatnonzero(first)
        self.d = np.diff(np.r_[self.group_start, dead_times.size]).astype(float)
        # Efron: the l-th of d tied deaths uses the fraction l/d
        rank_in_group = np.arange(dead_times.size) - np.repeat(self.group_start, self.d.astype(int))
        self.frac = rank_in_group / self.d[self.dead_k] if ties == "efron" else np.zeros(dead_times.size)
        # risk sets {entry < tau <= exit}: first exit >= tau, first sorted entry >= tau
        self.pos_exit = np.searchsorted(self.exit, self.times, side="left")
        if self.has_entry:
            self.pos_entry = np.searchsorted(self.entry_sorted, self.times, side="left")
        # for each row: event-time indices k with entry < tau_k <= exit, as a half-open range.
        # Rows are sorted by exit, so the number of tau_k <= exit is a running count of the
        # positions where each event time's rows begin.
        marks = np.zeros(self.exit.size, np.int64)
        marks[self.pos_exit] = 1
        self.k_hi = np.cumsum(marks)
        self.k_lo = np.searchsorted(self.times, self.entry, side="right") if self.has_entry \
            else np.zeros(self.exit.size, np.int64)


def _risk_sums(st: _Stratum, w, wx):
    """S0 (K) and S1 (K x p) over the risk sets {entry < tau <= exit} at the event times."""
    def rev(a):
        s = np.cumsum(a[::-1], axis=0)[::-1]
        return np.concatenate([s, np.zeros((1,) + s.shape[1:])])

    def from_exit(a):
        # rows from pos_exit[k] on: the sums between consecutive event times (one pass over the
        # rows), then a reverse cumulative sum over the K event times only
        if st.pos_exit.size == 0:
            return np.zeros((0,) + a.shape[1:])
        seg = np.add.reduceat(a, st.pos_exit, axis=0)
        return np.cumsum(seg[::-1], axis=0)[::-1]

    s0 = from_exit(w)
    s1 = from_exit(wx)
    if st.has_entry:
        o = st.order_entry
        s0 = s0 - rev(w[o])[st.pos_entry]
        s1 = s1 - rev(wx[o])[st.pos_entry]
    return s0, s1


def _cumulate(st: _Stratum, per_time):
    """For each row, the sum of ``per_time`` over the event times at which it is at risk."""
    c = prefix_sums(per_time)
    return c[st.k_hi] - c[st.k_lo]


def _fit_once(strata, X, beta, *, want_resid=False, time_weights=None):
    """Log partial likelihood, score and information at beta (and score residuals if asked).

    ``time_weights`` (one array per stratum, a weight h_k per event time) gives instead
    sum_k h_k U_k and sum_k h_k I_k, the pieces of cox.zph's score test."""
    p = X.shape[1]
    loglik, U, I = 0.0, np.zeros(p), np.zeros((p, p))
    resid = np.zeros_like(X) if want_resid else None
    for si, st in enumerate(strata):
        h = None if time_weights is None else time_weights[si]
        x, xd = st.x, st.xd
        eta = x @ beta
        shift = eta.max() if eta.size else 0.0
        w = np.exp(eta - shift)
        wx = w[:, None] * x
        s0, s1 = _risk_sums(st, w, wx)
        dr, k = st.dead_rows, st.dead_k
        wd = w[dr]
        a0 = np.add.reduceat(wd, st.group_start) if dr.size else np.zeros(0)
        a1 = np.add.reduceat(wd[:, None] * xd, st.group_start, axis=0) if dr.size else np.zeros((0, p))
        # expanded over deaths: S0_l = S0 - f A0, with f = l/d
        f = st.frac
        s0l = s0[k] - f * a0[k]
        if np.any(s0l <= 0):
            raise ConvergenceError("the risk set is empty at an event time (check entry and exit times)")
        inv = 1.0 / s0l
        # per event time (deaths are contiguous by time, every time has one): sums over its deaths
        gs = st.group_start
        c1 = np.add.reduceat(inv, gs) if gs.size else np.zeros(0)            # sum_l 1/S0_l
        c2 = np.add.reduceat(f * inv, gs) if gs.size else np.zeros(0)        # sum_l f/S0_l
        inv2 = inv * inv
        e0 = np.add.reduceat(inv2, gs) if gs.size else np.zeros(0)
        e1 = np.add.reduceat(f * inv2, gs) if gs.size else np.zeros(0)
        e2 = np.add.reduceat(f * f * inv2, gs) if gs.size else np.zeros(0)
        if h is not None:
            c1, c2, e0, e1, e2 = c1 * h, c2 * h, e0 * h, e1 * h, e2 * h
        # S0 was summed with weights exp(eta - shift): log S0 = log s0l + shift
        loglik += float(st.xd_sum @ beta - np.log(s0l).sum() - shift * dr.size)
        sum_means = s1 * c1[:, None] - a1 * c2[:, None]           # sum_l S1_l / S0_l (times h_k)
        hd = 1.0 if h is None else h[k][:, None]
        U += (st.xd_sum if h is None else (hd * xd).sum(axis=0)) - sum_means.sum(axis=0)
        # information: sum_k sum_l [S2_l/S0_l - m_l m_l'], S2 terms through per-row cumulation
        C1 = _cumulate(st, c1)
        I += (x * (w * C1)[:, None]).T @ x
        if st.frac.any():                                         # Efron only: Breslow has c2 = 0
            I -= (xd * (wd * c2[k])[:, None]).T @ xd
        I -= (s1 * e0[:, None]).T @ s1
        I += (s1 * e1[:, None]).T @ a1 + (a1 * e1[:, None]).T @ s1
        I -= (a1 * e2[:, None]).T @ a1
        if want_resid:
            # score residuals (R's agscore with Efron weights): sum over rows equals U
            M = _cumulate(st, s1 * e0[:, None] - a1 * e1[:, None])  # sum_k sum_l xbar_l / S0_l
            r = -(w[:, None] * (x * C1[:, None] - M))
            g = (s1 * e1[:, None] - a1 * e2[:, None])                # sum_l f xbar_l / S0_l
            r[dr] += xd - (sum_means / np.maximum(st.d, 1)[:, None])[k]
            r[dr] += wd[:, None] * (xd * c2[k][:, None] - g[k])
            resid[st.idx] = r
    return loglik, U, I, resid


def cox(X, time, event, *, entry=None, strata=None, cluster=None, ties: str = "efron",
        conf_level: float = 0.95, init=None, max_iter: int = 30, eps: float = 1e-9) -> CoxResult:
    """Fit a Cox model; see the module docstring. Raises ConvergenceError naming the problem term."""
    t, e, en = check_time_event(time, event, entry=entry)
    terms, Xv = design_matrix(X, t.size)
    check_choice(ties, "ties", ("efron", "breslow"))
    conf_level = check_conf_level(conf_level)
    n, p = Xv.shape
    if e.sum() == 0:
        raise ConvergenceError("no events: the Cox model cannot be fitted")
    const = [terms[j] for j in range(p) if np.ptp(Xv[:, j]) == 0]
    if const:
        raise ConvergenceError(f"singular design: {', '.join(const)} is constant")
    means = Xv.mean(axis=0)
    Xc = Xv - means                                   # centred, as R, for numerical stability
    rank = np.linalg.matrix_rank(Xc.T @ Xc / n)                 # p x p: cheap at registry scale
    if rank < p:
        dependent = _dependent_columns(Xc, terms)
        raise ConvergenceError(f"singular design: {', '.join(dependent)} is a linear combination of the other "
                               "terms (collinear)")
    entry_arr = en                                    # None: no delayed entry (nothing to gather)
    if strata is None:
        groups = [np.arange(n)]
    else:
        _, codes = check_groups(strata, n, "strata")
        groups = [np.flatnonzero(codes == s) for s in np.unique(codes)]
    st = [_Stratum(g, entry_arr, t, e, ties, Xc) for g in groups]
    beta = np.zeros(p) if init is None else np.asarray(init, float).copy()
    ll0, U0, I0, _ = _fit_once(st, Xc, np.zeros(p))
    # At beta = 0 the information of a term is the sum over event times of its variance within the
    # risk set; (numerically) zero means the term never varies where it matters.  Decided against
    # its own scale, not by an exact zero that rounding may or may not produce.
    scale = e.sum() * (Xc ** 2).mean(axis=0)
    flat = [terms[j] for j in range(p) if I0[j, j] <= 1e-10 * scale[j]]
    if flat:
        raise ConvergenceError(f"{', '.join(flat)} does not vary within the risk sets at the event times (e.g. every "
                               "patient with another value is censored before the first event), so its "
                               "coefficient cannot be estimated")
    try:
        score = float(U0 @ np.linalg.solve(I0, U0))
    except np.linalg.LinAlgError:
        score = np.nan
    ll, U, I, _ = (ll0, U0, I0, None) if init is None else _fit_once(st, Xc, beta)
    converged, it, halving = False, 0, 0
    new = beta + _solve(I, U, terms)
    for it in range(1, max_iter + 1):
        ll_new, U_new, I_new, _ = _fit_once(st, Xc, new)
        if abs(1 - ll / ll_new) <= eps and halving == 0:
            beta, ll, U, I = new, ll_new, U_new, I_new
            converged = True
            break
        if ll_new < ll:                                     # step halving, as R's coxfit6
            halving += 1
            new = (new + halving * beta) / (halving + 1)
            continue
        halving = 0
        beta, ll, U, I = new, ll_new, U_new, I_new
        new = beta + _solve(I, U, terms)
    if not converged:
        raise ConvergenceError(f"the Cox model did not converge in {max_iter} iterations")
    var = np.linalg.inv(I)
    infs = np.abs(U @ var) if it else np.zeros(p)
    tol_inf = np.sqrt(eps)
    # monotone likelihood (separation): R's check for a coefficient that would still move
    bad = [terms[j] for j in range(p) if (infs[j] > eps and infs[j] > tol_inf * abs(beta[j]))
           or not np.isfinite(beta[j])]
    if bad:
        raise ConvergenceError(f"the coefficient of {', '.join(bad)} may be infinite: the likelihood is monotone "
                               "(separation, e.g. no events in one group)")
    se = np.sqrt(np.diag(var))
    robust = None
    if cluster is not None:
        _, ccodes = check_groups(cluster, n, "cluster")
        *_, resid = _fit_once(st, Xc, beta, want_resid=True)
        dfbeta = resid @ var
        summed = np.zeros((ccodes.max() + 1, p))
        np.add.at(summed, ccodes, dfbeta)
        robust_var = summed.T @ summed
        robust = np.sqrt(np.diag(robust_var))
    z = norm.ppf(1 - (1 - conf_level) / 2)
    use_se = robust if robust is not None else se
    # with a cluster the Wald test uses the robust variance, as R's coxph
    wald = float(beta @ np.linalg.solve(robust_var, beta)) if robust is not None else float(beta @ I @ beta)
    pv = 2 * norm.sf(np.abs(beta / use_se))
    return CoxResult(terms, beta, se, robust, var, (ll0, ll),
                     TestResult(score, float(p), float(chi2.sf(score, p))),
                     TestResult(wald, float(p), float(chi2.sf(wald, p))),
                     TestResult(2 * (ll - ll0), float(p), float(chi2.sf(2 * (ll - ll0), p))),
                     np.exp(beta), np.exp(beta - z * use_se), np.exp(beta + z * use_se), pv,
                     n, int(e.sum()), it, ties, conf_level,
                     {"strata": st, "X": Xc, "means": means, "time": t, "event": e, "entry": en})


def _solve(I, U, terms):
    try:
        return np.linalg.solve(I, U)
    except np.linalg.LinAlgError:
        raise ConvergenceError("singular information matrix: the terms "
                               f"{', '.join(terms)} cannot all be estimated") from None


def _dependent_columns(Xc, terms):
    """Names of columns that are linear combinations of earlier ones (QR with tolerance)."""
    dep = []
    kept = []
    for j in range(Xc.shape[1]):
        cand = Xc[:, kept + [j]]
        if np.linalg.matrix_rank(cand) < len(kept) + 1:
            dep.append(terms[j])
        else:
            kept.append(j)
    return dep
