"""Turnbull's NPMLE for interval-censored times (ltfu.stats.interval): the innermost intervals,
the likelihood, its gradient and Hessian, the Newton refinement and the survival read-out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NEWTON_LIMIT = 2000           # intervals with mass above which the Newton refinement is not tried



@dataclass(frozen=True)
class _Structure:
    lower: np.ndarray        # innermost intervals (lower, upper]; lower == upper: the point {t}
    upper: np.ndarray
    a: np.ndarray            # unique subject patterns: innermost intervals a <= j < b ...
    b: np.ndarray
    w: np.ndarray            # ... and how many subjects have each pattern
    n: int


def _innermost(lo, hi) -> _Structure:
    n = lo.size
    exact = lo == hi
    values = np.concatenate([lo, hi])
    # tie order at one time: an exact event's lower end (0), upper ends (1), other lower ends (2)
    codes = np.concatenate([np.where(exact, 0, 2), np.ones(n, np.int64)])
    order = np.lexsort((codes, values))
    pos = np.empty(2 * n, np.intp)
    pos[order] = np.arange(2 * n)
    is_lower = codes[order] != 1
    k = np.flatnonzero(is_lower[:-1] & ~is_lower[1:])         # a lower end followed by an upper end
    sv = values[order]
    # innermost interval j lies inside subject i's interval iff pos(lower_i) <= k_j and k_j + 1 <= pos(upper_i)
    a = np.searchsorted(k, pos[:n], side="left")
    b = np.searchsorted(k + 1, pos[n:], side="right")
    key, counts = np.unique(a * (k.size + 1) + b, return_counts=True)
    return _Structure(sv[k], sv[k + 1], key // (k.size + 1), key % (k.size + 1), counts.astype(float), n)


def _fitted(p, s: _Structure):
    """Each pattern's probability sum_{a <= j < b} p_j (prefix sums)."""
    c = np.concatenate([[0.0], np.cumsum(p)])
    return c[s.b] - c[s.a]


def _gradient(p, s: _Structure):
    """(d, loglik): d_j = (1/n) sum_i alpha_ij / P_i, and the log-likelihood sum_i log P_i."""
    den = _fitted(p, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = s.w / den
        ll = float(np.sum(s.w * np.log(den)))
    m = p.size
    acc = np.bincount(s.a, r, minlength=m + 1) - np.bincount(s.b, r, minlength=m + 1)
    return np.cumsum(acc)[:m] / s.n, ll


def _kkt(p, d) -> float:
    return float(max(d.max() - 1.0, np.max(p * np.abs(d - 1.0))))


def _loglik(p, s: _Structure) -> float:
    den = _fitted(p, s)
    if (den <= 0).any():
        return -np.inf
    return float(np.sum(s.w * np.log(den)))


def _hessian(s: _Structure, support, c):
    """H_jk = sum_i c_i alpha_ij alpha_ik over the support's columns, in O(n + |support|^2): each
    subject's columns are a consecutive run [a', b') of the support, so H_jk (j <= k) sums c over
    the runs with a' <= j and b' > k, a two-dimensional prefix sum."""
    cs = np.concatenate([[0], np.cumsum(support)])
    a, b = cs[s.a], cs[s.b]
    k = int(cs[-1])
    M = np.bincount(a * (k + 1) + b, c, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    F = np.cumsum(M, axis=0)                                   # runs starting at or before j ...
    F = np.cumsum(F[:, ::-1], axis=1)[:, ::-1]                 # ... and ending after k
    idx = np.arange(k)
    return F[np.minimum.outer(idx, idx), np.maximum.outer(idx, idx) + 1]


def _newton(p, s: _Structure, tol: float):
    """Active-set Newton refinement from ``p``: Newton steps for the log-likelihood on the support
    (masses > 0) under sum = 1 (the Kuhn-Tucker system solved exactly, so positive masses end with
    d_j = 1 to rounding); a mass that a step would make negative is set to 0 and leaves the
    support; an excluded interval with d_j > 1 joins it.  Every step raises the likelihood (line
    search).  Returns (masses, steps, kkt), or None when it cannot make progress (EM then goes on)."""
    m = p.size
    support = p > 1e-10 * p.max()
    if support.sum() > _NEWTON_LIMIT:
        return None
    q = np.where(support, p, 0.0)
    q /= q.sum()
    ll = _loglik(q, s)
    if not np.isfinite(ll):
        support, q, ll = p > 0, p.copy(), _loglik(p, s)
    for step in range(1, 2 * m + 50):
        d, _ = _gradient(q, s)
        kkt = _kkt(q, d)
        if kkt <= min(tol, 1e-12):
            return q, step - 1, kkt
        out = ~support
        grow = out.any() and d[out].max() > 1 + 1e-12
        den = _fitted(q, s)
        H = _hessian(s, support, s.w / den ** 2)
        g = s.n * d[support]
        try:
            sol = np.linalg.solve(H, np.column_stack([g, np.ones(g.size)]))
        except np.linalg.LinAlgError:
            return None
        dq = sol[:, 0] - sol[:, 0].sum() / sol[:, 1].sum() * sol[:, 1]   # keeps sum(q) = 1
        decrement = float(dq @ H @ dq)          # = g . dq, without the cancellation of g ~ n (1, ..., 1)
        scale = max(1.0, abs(ll))
        if grow and decrement <= 1e-10 * scale:                       # admit the most wanted interval
            support[np.flatnonzero(out)[np.argmax(d[out])]] = True
            if support.sum() > _NEWTON_LIMIT:
                return None
            continue
        if decrement <= 1e-30 * scale:
            return q, step - 1, kkt
        qs = q[support]
        full = qs + dq
        neg = full <= 0
        # first the whole step with the masses it would make negative set to 0 (several leave at once) ...
        cand = q.copy()
        cand[support] = np.maximum(full, 0.0)
        cll = _loglik(cand, s)
        local = decrement <= 1e-10 * scale       # near the optimum rounding hides the gain: take the step
        hit = np.zeros(m, bool)
        hit[np.flatnonzero(support)[neg]] = True
        if not (cll > ll or (local and np.isfinite(cll) and not neg.any())):
            # ... else to the first mass that reaches 0, or less far (Armijo backtracking)
            dneg = dq < 0
            tmax = float(np.min(-qs[dneg] / dq[dneg])) if dneg.any() else np.inf
            t = min(1.0, tmax)
            while True:
                cand = q.copy()
                cand[support] = qs + t * dq
                hit[:] = False
                if t == tmax:
                    hit[np.flatnonzero(support)[dneg & (-qs / np.where(dneg, dq, -1.0) <= tmax * (1 + 1e-12))]] = True
                    cand[hit] = 0.0
                cand = np.maximum(cand, 0.0)
                cll = _loglik(cand, s)
                if cll >= ll + 1e-4 * t * decrement or (t == tmax and cll > ll):
                    break
                t = min(t, tmax) / 2
                if t < 1e-14:
                    return None
        support &= ~hit
        q, ll = cand / cand.sum(), _loglik(cand / cand.sum(), s)
    return None


def _survival_at(lower, upper, mass, t, inside):
    """S(t) = 1 - (mass of the intervals wholly at or before t); inside an interval with mass, by
    ``inside`` (``Turnbull.at``)."""
    tail = np.concatenate([np.cumsum(mass[::-1])[::-1], [0.0]])    # tail[j]: mass of intervals j, j+1, ...
    idx = np.searchsorted(upper, t, side="right")                  # intervals wholly at or before t
    surv = np.where(idx == 0, 1.0, tail[idx])
    jj = np.minimum(idx, mass.size - 1)
    within = (idx < mass.size) & (lower[jj] < t) & (mass[jj] > 0)
    if within.any() and inside != "upper":
        after = tail[idx[within] + 1]
        if inside == "nan":
            surv[within] = np.nan
        elif inside == "lower":
            surv[within] = after
        else:                                                       # midpoint; never inside (l, inf)
            lo, hi = lower[jj[within]], upper[jj[within]]
            mid = np.where(np.isfinite(hi), (lo + hi) / 2, np.inf)
            surv[within] = np.where(t[within] >= mid, after, surv[within])
    return surv
