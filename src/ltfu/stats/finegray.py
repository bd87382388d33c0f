"""Fine-Gray subdistribution hazards regression, as R ``cmprsk::crr``.

Subjects who failed from a competing cause stay in the risk set after their failure with weight
G(t-)/G(t_k-), G the Kaplan-Meier of the censoring distribution (left-continuous, as crr).  The
log pseudo-likelihood, its score and information at each distinct failure time of the cause of
interest come from cumulative sums over the sorted data (Breslow handling of ties, as crr).  The
variance is crr's sandwich H^-1 V H^-1, whose middle term includes the correction for estimating G
(Fine & Gray 1999, section 3; cmprsk's ``crrvv``), transcribed per subject here: it costs
O(n x failures) and is meant for trial-sized data.  Hand-written: no Python library fits Fine-Gray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import _json_float, check_conf_level, design_matrix
from ltfu.stats.competing import _check
from ltfu.stats.km import kaplan_meier


@dataclass(frozen=True)
class FineGrayResult:
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
        f = lambda a: [_json_float(v) for v in a]  # noqa: E731
        return {"terms": list(self.terms), "coef": f(self.coef), "se": f(self.se), "p_value": f(self.p_value),
                "shr": f(self.shr), "shr_lower": f(self.shr_lower), "shr_upper": f(self.shr_upper),
                "loglik": _json_float(self.loglik), "loglik_null": _json_float(self.loglik_null),
                "converged": self.converged, "iterations": self.iterations, "n": self.n, "cause": self.cause,
                "conf_level": self.conf_level}


def _censoring_weights(t, fstatus):
    """G(t_i-): Kaplan-Meier of the censoring times (censored = 'event'), just before each t_i."""
    km = kaplan_meier(t, (fstatus == 0).astype(int), conf_type="log")
    idx = np.searchsorted(km.time, t, side="left") - 1      # KM times strictly before t
    return np.where(idx >= 0, km.survival[np.maximum(idx, 0)], 1.0)


class _Data:
    def __init__(self, t, fstatus, X):
        self.t, self.f, self.X = t, fstatus, X
        self.G = _censoring_weights(t, fstatus)
        ev = fstatus == 1
        self.times, first = np.unique(t[ev], return_index=True)
        self.d = np.bincount(np.searchsorted(self.times, t[ev]), minlength=self.times.size).astype(float)
        self.pos = np.searchsorted(t, self.times, side="left")           # first row with t >= tau
        self.G_tau = self.G[self.pos]                                      # G(tau-)
        self.xd_sum = X[ev].sum(axis=0)
        self.comp = fstatus == 2


def _sums(data: _Data, beta, want_s2=True):
    """S0, S1 (and S2) over crr's weighted risk sets at each distinct failure time."""
    X = data.X
    w = np.exp(X @ beta)
    wx = w[:, None] * X

    def rev(a):
        c = np.cumsum(a[::-1], axis=0)[::-1]
        return c[data.pos]

    def before(a):                          # sum over rows with t < tau (competing failures only)
        c = np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)])
        return c[data.pos]

    cw = np.where(data.comp, w / data.G, 0.0)
    s0 = rev(w) + data.G_tau * before(cw)
    s1 = rev(wx) + data.G_tau[:, None] * before(cw[:, None] * X)
    s2 = None
    if want_s2:
        outer = X[:, :, None] * X[:, None, :]
        s2 = rev(w[:, None, None] * outer) + data.G_tau[:, None, None] * before(cw[:, None, None] * outer)
    return s0, s1, s2


def _loglik(data, beta):
    s0, s1, s2 = _sums(data, beta)
    ll = float(data.xd_sum @ beta - (data.d * np.log(s0)).sum())
    m = s1 / s0[:, None]
    score = data.xd_sum - (data.d[:, None] * m).sum(axis=0)
    info = (data.d[:, None, None] * (s2 / s0[:, None, None] - m[:, :, None] * m[:, None, :])).sum(axis=0)
    return ll, score, info, s0, s1


def fine_gray(X, time, status, *, cause: int = 1, conf_level: float = 0.95, max_iter: int = 100,
              tol: float = 1e-10) -> FineGrayResult:
    """Fit the Fine-Gray model for ``cause`` (status 0 = censored, other positive codes compete)."""
    t, s = _check(time, status)
    terms, Xv = design_matrix(X, t.size)
    conf_level = check_conf_level(conf_level)
    if not (s == cause).any():
        raise InvalidInputError(f"cause: no failure of cause {cause}")
    order = np.argsort(t, kind="stable")
    t, s, Xv = t[order], s[order], Xv[order]
    fstatus = np.where(s == cause, 1, np.where(s > 0, 2, 0))
    data = _Data(t, fstatus, Xv)
    p = Xv.shape[1]
    beta = np.zeros(p)
    ll0, score, info, _, _ = _loglik(data, beta)
    ll = ll0
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise ConvergenceError("singular information matrix (collinear terms or separation)") from None
        for _ in range(30):                     # step halving, as crr's line search
            new = beta + step
            ll_new, score_new, info_new, _, _ = _loglik(data, new)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12:
                break
            step = step / 2
        beta, ll, score, info = new, ll_new, score_new, info_new
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    if not converged:
        raise ConvergenceError(f"the Fine-Gray model did not converge in {max_iter} iterations")
    v2 = _middle(data, beta)
    h = np.linalg.inv(info)
    var = h @ v2 @ h.T
    se = np.sqrt(np.diag(var))
    z = norm.ppf(1 - (1 - conf_level) / 2)
    s0, _, _ = _sums(data, beta, want_s2=False)
    return FineGrayResult(terms, beta, se, 2 * norm.sf(np.abs(beta / se)), np.exp(beta), np.exp(beta - z * se),
                          np.exp(beta + z * se), var, ll, ll0, converged, it, int(t.size), int(cause), conf_level,
                          data.times, data.d / s0)


def _middle(data: _Data, beta):
    """crr's V: sum over subjects of (eta_i + psi_i)(eta_i + psi_i)' (cmprsk crrvv, transcribed)."""
    t, f, X, G = data.t, data.f, data.X, data.G
    n, p = X.shape
    w = np.exp(X @ beta)
    s0, s1, _ = _sums(data, beta, want_s2=False)
    xbar = s1 / s0[:, None]                                # at each distinct failure time tau_k
    tau, G_tau = data.times, data.G_tau
    # eta_i: the dN_i part and the d Lambda part
    eta = np.zeros((n, p))
    k_of = np.searchsorted(tau, t)                         # for cause-1 rows: their time's index
    ev = f == 1
    eta[ev] = X[ev] - xbar[k_of[ev]]
    # risk weight of subject i at tau_k: w_i if t_i >= tau_k; w_i G(tau_k-)/G(t_i-) if a competing
    # failure before tau_k; each failure time counted once per failure (d_k)
    for i in range(n):
        at_risk = tau <= t[i]
        wt = np.where(at_risk, w[i], np.where(f[i] == 2, w[i] * G_tau / G[i], 0.0))
        eta[i] -= ((X[i] - xbar) * (data.d * wt / s0)[:, None]).sum(axis=0)
    # psi_i: the correction for estimating G, through q(u) at each censoring time
    comp = f == 2
    order_groups = np.unique(t, return_index=True)
    psi = np.zeros((n, p))
    ss2 = np.zeros(p)
    for u, start in zip(*order_groups):
        block = np.flatnonzero(t == u)
        if not (f[block] == 0).any():
            psi[block] = ss2
            continue
        # q(u) = sum over failures at tau >= u of [sum over competing failures before u of
        #        w_j G(tau-)/G(t_j-) (x_j - xbar(tau))] / S0(tau)
        later = tau >= u
        prior = comp & (t < u)
        wj = w[prior] / G[prior]
        q = np.zeros(p)
        if prior.any() and later.any():
            a0 = wj.sum()
            a1 = (wj[:, None] * X[prior]).sum(axis=0)
            g = G_tau[later] * data.d[later] / s0[later]
            q = (g[:, None] * (a1[None, :] - xbar[later] * a0)).sum(axis=0)
        r = float((t >= u).sum())                          # at risk of censoring at u
        n_cens = int((f[block] == 0).sum())
        ss2 = ss2 - q * n_cens / r ** 2
        psi[block] = ss2
        cens = block[f[block] == 0]
        psi[cens] += q / r
    total = eta + psi
    return total.T @ total
