"""Fine-Gray subdistribution hazards regression, as R ``cmprsk::crr``.

Subjects who failed from a competing cause stay in the risk set after their failure with weight
G(t-)/G(t_k-), G the Kaplan-Meier of the censoring distribution (left-continuous, as crr).  The
log pseudo-likelihood, its score and information at each distinct failure time of the cause of
interest come from cumulative sums over the sorted data (Breslow handling of ties, as crr).  The
variance is crr's sandwich H^-1 V H^-1, whose middle term includes the correction for estimating G
(Fine & Gray 1999, section 3; cmprsk's ``crrvv``), computed with prefix sums over sorted times so
that the whole fit is O(n log n + n p^2 per iteration).  Optional frequency weights (counts of
identical rows) make every sum over subjects a weighted sum, so a fit on counted rows equals the fit
on the rows themselves.  Hand-written: no Python library fits Fine-Gray (lifelines and
scikit-survival have none; statsmodels neither).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import (
    Result,
    _json_float,
    check_conf_level,
    check_frequency_weights,
    check_survival,
    design_matrix,
    prefix_sums,
    z_quantile,
)
from ltfu.stats.counting import merge_close_times, stable_order
from ltfu.stats.coxmodel import _patterns
from ltfu.stats.km import kaplan_meier, survival_from_counts


@dataclass(frozen=True, repr=False)
class FineGrayResult(Result):

    _table_fields = ("terms", "coef", "se", "shr", "shr_lower", "shr_upper", "p_value")
    terms: tuple
    coef: np.ndarray
    se: np.ndarray
    p_value: np.ndarray
    shr: np.ndarray
    shr_lower: np.ndarray
    shr_upper: np.ndarray
    var: np.ndarray
    loglik: float
    loglik_null: float
    converged: bool
    iterations: int
    n: int
    cause: int
    conf_level: float
    failure_times: np.ndarray
    baseline_jumps: np.ndarray

    def __repr__(self) -> str:
        shr = ", ".join(f"{t} {h:.3g}" for t, h in zip(self.terms, self.shr))
        return (f"FineGrayResult(cause={self.cause}, n={self.n}, subdistribution hazard ratios: {shr}; "
                ".to_frame() for the table)")

    def predict(self, x_new, times=None):
        """Cumulative incidence 1 - exp(-exp(x'b) Lambda0(t)) for covariate rows, as predict.crr:
        returns (times, matrix n_times x n_rows)."""
        x = np.atleast_2d(np.asarray(x_new, dtype=float))
        if x.shape[1] != self.coef.size:
            raise InvalidInputError(f"x_new: needs {self.coef.size} columns")
        lam = np.cumsum(self.baseline_jumps)
        cif = 1 - np.exp(-np.outer(lam, np.exp(x @ self.coef)))
        if times is None:
            return self.failure_times, cif
        t = np.atleast_1d(np.asarray(times, float))
        idx = np.searchsorted(self.failure_times, t, side="right") - 1
        out = np.where((idx >= 0)[:, None], cif[np.maximum(idx, 0)], 0.0)
        return t, out

    def to_dict(self) -> dict:
        f = lambda a: [_json_float(v) for v in a]
        return {"terms": list(self.terms), "coef": f(self.coef), "se": f(self.se), "p_value": f(self.p_value),
                "shr": f(self.shr), "shr_lower": f(self.shr_lower), "shr_upper": f(self.shr_upper),
                "loglik": _json_float(self.loglik), "loglik_null": _json_float(self.loglik_null),
                "converged": self.converged, "iterations": self.iterations, "n": self.n, "cause": self.cause,
                "conf_level": self.conf_level}


def _censoring_weights(t, fstatus, cw=None):
    """G(t_i-): Kaplan-Meier of the censoring times (censored = 'event'), just before each t_i.

    With frequency weights ``cw`` (t sorted), the same Kaplan-Meier from weighted counts at each
    distinct time: the counts are whole numbers, so these are the numbers (bit for bit) that
    kaplan_meier gives on the expanded rows."""
    if cw is None:
        km = kaplan_meier(t, (fstatus == 0).astype(int), conf_type="log", timefix=False)
        km_time, km_surv = km.time, km.survival
    else:
        km_time, inv = np.unique(t, return_inverse=True)
        n_exit = np.bincount(inv, weights=cw, minlength=km_time.size)
        n_cens = np.bincount(inv, weights=np.where(fstatus == 0, cw, 0.0), minlength=km_time.size)
        km_surv, _ = survival_from_counts(n_exit[::-1].cumsum()[::-1], n_cens)
    idx = np.searchsorted(km_time, t, side="left") - 1      # KM times strictly before t
    return np.where(idx >= 0, km_surv[np.maximum(idx, 0)], 1.0)


class _Data:
    """Sorted data and the quantities that do not depend on beta.  ``cw``: frequency weights (None:
    every row counts once; the unweighted arithmetic is then used unchanged)."""

    def __init__(self, t, fstatus, X, cw=None):
        self.t, self.f, self.X, self.cw = t, fstatus, X, cw
        self.G = _censoring_weights(t, fstatus, cw)
        ev = fstatus == 1
        self.times = np.unique(t[ev])
        k = np.searchsorted(self.times, t[ev])
        if cw is None:
            self.d = np.bincount(k, minlength=self.times.size).astype(float)
            self.xd_sum = X[ev].sum(axis=0)
        else:
            self.d = np.bincount(k, weights=cw[ev], minlength=self.times.size)
            self.xd_sum = cw[ev] @ X[ev]
        self.pos = np.searchsorted(t, self.times, side="left")           # first row with t >= tau
        self.G_tau = self.G[self.pos]                                      # G(tau-)
        self.comp = fstatus == 2
        self.upto = np.searchsorted(self.times, t, side="right")        # number of tau_k <= t_i

    def col_var(self, j):
        """The variance of column j over the (expanded) subjects, as np.var."""
        x = self.X[:, j]
        if self.cw is None:
            return float(np.var(x))
        dx = x - x[0]                         # shifted: a constant column has variance exactly 0
        total = self.cw.sum()
        m = (self.cw @ dx) / total
        return float(self.cw @ (dx - m) ** 2 / total)


def _sums(data: _Data, beta):
    """S0 and S1 over crr's weighted risk sets at each distinct failure time.

    Column by column, so that registry-sized data never holds an n x p temporary."""
    X, pos = data.X, data.pos
    w = np.exp(X @ beta)
    if data.cw is not None:
        w = w * data.cw                          # each row stands for cw identical subjects
    cw = np.where(data.comp, w / data.G, 0.0)
    # rows with t >= tau (suffix sums), plus competing failures before tau reweighted by G(tau-)
    s0 = np.cumsum(w[::-1])[::-1][pos] + data.G_tau * prefix_sums(cw)[pos]
    s1 = np.empty((pos.size, X.shape[1]))
    for j in range(X.shape[1]):
        xj = X[:, j]
        s1[:, j] = np.cumsum((w * xj)[::-1])[::-1][pos] + data.G_tau * prefix_sums(cw * xj)[pos]
    return s0, s1


def _exposure(data: _Data, c):
    """For each subject, sum_k c_k wt_ik / w_i: its risk weight summed over the failure times,
    with per-time factors c_k (1 while t_i >= tau_k, G(tau_k-)/G(t_i-) after a competing failure)."""
    a = prefix_sums(c)[data.upto]
    comp = data.comp
    if comp.any():
        a[comp] += prefix_sums((c * data.G_tau)[::-1])[::-1][data.upto[comp]] / data.G[comp]
    return a


def _loglik(data, beta):
    s0, s1 = _sums(data, beta)
    ll = float(data.xd_sum @ beta - (data.d * np.log(s0)).sum())
    m = s1 / s0[:, None]
    score = data.xd_sum - (data.d[:, None] * m).sum(axis=0)
    # sum_k d_k S2_k / S0_k is a Gram matrix of X weighted by each subject's exposure: no n x p x p array
    wa = np.exp(data.X @ beta) * _exposure(data, data.d / s0)
    if data.cw is not None:
        wa = wa * data.cw
    info = np.empty((m.shape[1], m.shape[1]))
    for j in range(m.shape[1]):                  # row by row: no n x p temporary
        info[j] = (wa * data.X[:, j]) @ data.X
    info -= (data.d[:, None] * m).T @ m
    return ll, score, info, s0, s1


def fine_gray(X, time, status, *, cause: int | None = None, failcode: int | None = None, cencode: int = 0,
              weights=None, conf_level: float = 0.95, max_iter: int = 100, tol: float = 1e-10,
              timefix: bool = True) -> FineGrayResult:
    """Fit the Fine-Gray model for ``cause`` (R cmprsk's ``failcode``, either name; default 1):
    status ``cencode`` (default 0) is censored, every other code competes.

    Newton-Raphson with step halving.  If no step within 30 halvings raises the pseudo
    log-likelihood, the fit stops there: converged when the score is zero to ``sqrt(tol)``
    relative to the information, else ConvergenceError (never a result that claims convergence it
    did not reach).  ``timefix`` merges near-equal times as survival does (cmprsk does not: on such
    near-ties ltfu differs from crr unless ``timefix=False``).

    ``weights``: frequency weights, whole numbers >= 1, one per row (None: each row once).  A row
    with weight m stands for m identical subjects: the fit equals the fit on the rows repeated
    (coefficients, sandwich variance, log-likelihoods, baseline; ``n`` is the sum of the weights),
    to rounding.  They exist so that registry-scale data (1e7 patients) can be fitted from counts
    of identical (covariates, time, status) rows, e.g. a SQL GROUP BY, without the rows.  Rows with
    count 0 must be dropped by the caller; weights all 1 are the unweighted fit, bit for bit."""
    if cause is not None and failcode is not None and cause != failcode:
        raise InvalidInputError(f"cause and failcode name the same thing; got {cause!r} and {failcode!r}")
    cause = 1 if cause is None and failcode is None else (cause if cause is not None else failcode)
    t, s, _, _causes = check_survival(time, status, competing=True, cencode=cencode, status_name="status")
    t, _ = merge_close_times(t, timefix=timefix)
    terms, Xv = design_matrix(X, t.size)
    # frequency weights: registry-scale fits (1e7 patients) run on GROUP BY counts, not on the rows
    cw = check_frequency_weights(weights, t.size)
    conf_level = check_conf_level(conf_level)
    if not (isinstance(max_iter, (int, np.integer)) and not isinstance(max_iter, bool) and max_iter >= 1):
        raise InvalidInputError(f"max_iter: must be a positive whole number, got {max_iter!r}")
    if isinstance(cause, bool) or not isinstance(cause, (int, np.integer)) or cause == cencode:
        raise InvalidInputError(f"cause: must be a whole-number status code other than cencode, got {cause!r}")
    if not (s == cause).any():
        raise InvalidInputError(f"cause: no failure of cause {cause}")
    if cw is None:
        # a registry's rows repeat (a yes/no covariate, whole days): fitted on the distinct rows with
        # their counts as frequency weights, as cox does (the same fit, to rounding)
        found = _patterns(Xv, t, s.astype(float), None, None)
        if found is not None:
            rep, _, cw = found
            t, s, Xv = t[rep], s[rep], Xv[rep]
    order = stable_order(t)
    t, s = t[order], s[order]
    if cw is not None:
        cw = cw[order]
    Xs = np.empty(Xv.shape, order="F")           # sorted, columns contiguous (worked on one at a time)
    for j in range(Xv.shape[1]):
        Xs[:, j] = Xv[order, j]
    Xv = Xs
    fstatus = np.where(s == cause, 1, np.where(s != cencode, 2, 0))
    data = _Data(t, fstatus, Xv, cw)
    p = Xv.shape[1]
    beta = np.zeros(p)
    ll0, score, info, _, _ = _loglik(data, beta)
    # as in cox(): a term whose information at beta = 0 is zero on its own scale never varies
    # within the (weighted) risk sets, and has no estimate
    scale = data.d.sum() * np.array([data.col_var(j) for j in range(p)])     # column by column: no n x p copy
    flat = [terms[j] for j in range(p) if not info[j, j] > 1e-10 * scale[j]]
    if flat:
        raise ConvergenceError(f"{', '.join(flat)} does not vary within the risk sets at the failure times, so "
                               "its coefficient cannot be estimated")
    ll = ll0
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported after the loop)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise ConvergenceError("singular information matrix at coefficients "
                                   f"{', '.join(f'{t} {b:.3g}' for t, b in zip(terms, beta))}: collinear terms, or a "
                                   "coefficient running to infinity (a monotone likelihood, e.g. separation)") from None
        for _ in range(30):                     # step halving, as crr's line search
            new = beta + step
            ll_new, score_new, info_new, _, _ = _loglik(data, new)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * max(1.0, abs(ll)):     # rounding of a large sum
                break
            step = step / 2
        else:
            # no step raises the likelihood: at its maximum (to rounding) or stuck
            converged = _score_is_zero(score, info, tol)
            break
        beta, ll, score, info = new, ll_new, score_new, info_new
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    if not converged:
        raise ConvergenceError(f"the Fine-Gray model did not converge in {max_iter} iterations")
    infinite = _monotone_terms(data, beta, ll, terms)
    if infinite:
        raise ConvergenceError(f"the coefficient of {', '.join(infinite)} may be infinite: the pseudo-likelihood "
                               "keeps rising as it grows (monotone likelihood, e.g. every failure of the cause in "
                               "one group)")
    v2 = _middle(data, beta)
    h = np.linalg.inv(info)
    var = h @ v2 @ h.T
    se = np.sqrt(np.diag(var))
    z = z_quantile(conf_level)
    s0, _ = _sums(data, beta)
    n = int(t.size) if cw is None else int(cw.sum())          # subjects: the sum of the frequency weights
    return FineGrayResult(terms, beta, se, 2 * norm.sf(np.abs(beta / se)), np.exp(beta), np.exp(beta - z * se),
                          np.exp(beta + z * se), var, ll, ll0, converged, it, n, int(cause), conf_level,
                          data.times, data.d / s0)


def _monotone_terms(data: _Data, beta, ll, terms):
    """Terms whose coefficient may be infinite (crr would keep moving it with a tighter gtol).

    Newton's steps vanish once exp(x'b) saturates, so convergence alone does not show a finite
    maximum.  A coefficient beyond 8 standard deviations of its covariate on the log scale (a
    ratio of e^8 per standard deviation) is checked: if the pseudo-log-likelihood does not fall
    when the coefficient moves 4 further standard-deviation units outward, it is monotone there."""
    out = []
    for j in range(beta.size):
        sd = float(np.sqrt(data.col_var(j)))
        if sd == 0 or abs(beta[j]) * sd <= 8:
            continue
        moved = beta.copy()
        moved[j] += np.sign(beta[j]) * 4 / sd
        ll_moved = _loglik(data, moved)[0]
        if not np.isfinite(ll_moved) or ll_moved >= ll - 1e-9 * max(1.0, abs(ll)):
            out.append(terms[j])
    return out


def _score_is_zero(score, info, tol):
    """Whether the Newton decrement score' I^-1 score is negligible (the likelihood is flat)."""
    try:
        dec = float(score @ np.linalg.solve(info, score))
    except np.linalg.LinAlgError:
        return False
    return np.isfinite(dec) and dec < np.sqrt(tol)


def _middle(data: _Data, beta):
    """crr's V: the sum over subjects of (eta_i + psi_i)(eta_i + psi_i)' (cmprsk ``crrvv``).

    crrvv loops over subjects and, inside, over failure (or censoring) times.  Every inner sum runs
    over the times before or after the subject's own, so here each is a prefix or suffix sum over
    the sorted distinct times, looked up once per subject: O(n log n) instead of O(n x failures).
    tests/naive.py keeps the subject-by-subject transcription and the tests compare the two.

    With frequency weights cw: a subject's eta_i + psi_i depends only on its own (x, t, status)
    and on per-time quantities, so identical subjects share it and V = sum_i cw_i (.)(.)'; the
    per-time quantities that are themselves sums over subjects (S0, S1, d, and for psi: a0, a1,
    the censorings n_cens(u) and the at-risk r(u)) are weighted sums.
    """
    t, f, X, G, fw = data.t, data.f, data.X, data.G, data.cw
    w = np.exp(X @ beta)
    s0, s1 = _sums(data, beta)
    xbar = s1 / s0[:, None]                                # at each distinct failure time tau_k
    tau, G_tau = data.times, data.G_tau
    c = data.d / s0                                        # d Lambda_0 at tau_k, per unit weight
    upto, comp, ev = data.upto, data.comp, f == 1
    exposure = _exposure(data, c)
    wg_comp = w[comp] / G[comp]
    k_ev = np.searchsorted(tau, t[ev])
    # psi_i: the correction for estimating G.  At each censoring time u,
    #   q(u) = sum_{tau_k >= u} G(tau_k-) d_k / S0_k (a1(u) - xbar_k a0(u)),
    # a0, a1 the sums of w_j/G(t_j-) and w_j x_j/G(t_j-) over competing failures before u;
    # r(u) subjects have t >= u.  psi_i = -sum_{u <= t_i} q(u) n_cens(u)/r(u)^2 + [i censored] q(t_i)/r(t_i).
    if fw is None:
        cu, n_cens = np.unique(t[f == 0], return_counts=True)
    else:
        cu, inv = np.unique(t[f == 0], return_inverse=True)
        n_cens = np.bincount(inv.reshape(-1), weights=fw[f == 0], minlength=cu.size)
    if cu.size:
        first = np.searchsorted(t, cu, side="left")        # rows with t >= u start here (t is sorted)
        wg = np.where(comp, w / G, 0.0)
        if fw is not None:
            wg = wg * fw                                   # a0, a1: sums over the competing failures
        a0 = prefix_sums(wg)[first]
        g = G_tau * c
        from_k = np.searchsorted(tau, cu, side="left")     # first tau_k >= u
        Gs = prefix_sums(g[::-1])[::-1][from_k]
        if fw is None:
            r = (t.size - first).astype(float)
        else:
            r = fw.sum() - prefix_sums(fw)[first]
        last = np.searchsorted(cu, t, side="right") - 1    # last censoring time <= t_i
        has_last = last >= 0
        cens = np.flatnonzero(f == 0)
        at = np.searchsorted(cu, t[cens])
    # eta_i = [cause 1] (x_i - xbar(t_i)) - sum_k d_k wt_ik (x_i - xbar_k) / S0_k, where the risk
    # weight wt_ik is w_i while tau_k <= t_i and w_i G(tau_k-)/G(t_i-) after a competing failure.
    # One covariate at a time: only n-vectors are ever allocated besides the result.
    total = np.empty(X.shape, order="F")
    for j in range(X.shape[1]):
        xj, xb = X[:, j], xbar[:, j]
        col = -w * (xj * exposure - prefix_sums(c * xb)[upto])
        if comp.any():
            col[comp] += wg_comp * prefix_sums((c * G_tau * xb)[::-1])[::-1][upto[comp]]     # tau_k > t_i
        col[ev] += xj[ev] - xb[k_ev]
        if cu.size:
            q = prefix_sums(wg * xj)[first] * Gs - a0 * prefix_sums((g * xb)[::-1])[::-1][from_k]
            step = np.cumsum(q * n_cens / r ** 2)
            col[has_last] -= step[last[has_last]]
            col[cens] += q[at] / r[at]
        total[:, j] = col
    if fw is None:
        return total.T @ total
    return total.T @ (fw[:, None] * total)
