"""Naive, obviously-correct reference implementations (plain loops, written for clarity, slow).

They cross-check the fast vectorised estimators of ltfu.stats on small random data.  Each follows
the textbook definition directly:
- Kaplan-Meier: S(t) = prod over event times u <= t of (1 - d_u / n_u), n_u = #{entry < u <= time};
  Greenwood: var S = S^2 * sum d / (n (n - d)).
- Log-rank (two groups): U = sum (d1 - d n1 / n), V = sum d (n1/n)(1 - n1/n)(n - d)/(n - 1).
- Aalen-Johansen: F_k(t) = sum over u <= t of S(u-) d_ku / n_u.
- Cox log partial likelihood with Breslow or Efron ties, evaluated at a given beta.
"""

import math


def km(time, event, entry=None):
    n = len(time)
    entry = [0.0 - 1e-300] * n if entry is None else list(entry)
    out = []
    s, gw = 1.0, 0.0
    for u in sorted(set(time)):
        n_risk = sum(1 for i in range(n) if entry[i] < u <= time[i])
        d = sum(1 for i in range(n) if time[i] == u and event[i] == 1)
        c = sum(1 for i in range(n) if time[i] == u and event[i] == 0)
        if n_risk > 0 and d > 0:
            s *= 1 - d / n_risk
            gw = gw + d / (n_risk * (n_risk - d)) if n_risk > d else math.inf
        out.append({"time": u, "n_risk": n_risk, "n_event": d, "n_censor": c, "survival": s,
                    "std_err": s * math.sqrt(gw) if math.isfinite(gw) else math.nan})
    return out


def logrank2(time, event, group):
    """Two-group log-rank chi-square; group values 0/1, U for group 1."""
    u_stat, var = 0.0, 0.0
    n = len(time)
    for u in sorted(set(time[i] for i in range(n) if event[i] == 1)):
        at = [i for i in range(n) if time[i] >= u]
        nr = len(at)
        n1 = sum(1 for i in at if group[i] == 1)
        d = sum(1 for i in at if time[i] == u and event[i] == 1)
        d1 = sum(1 for i in at if time[i] == u and event[i] == 1 and group[i] == 1)
        u_stat += d1 - d * n1 / nr
        if nr > 1:
            var += d * (n1 / nr) * (1 - n1 / nr) * (nr - d) / (nr - 1)
    return u_stat * u_stat / var if var > 0 else math.nan


def aalen_johansen(time, status, cause):
    """Cumulative incidence of ``cause`` just after each distinct time."""
    n = len(time)
    s, f, out = 1.0, 0.0, []
    for u in sorted(set(time)):
        nr = sum(1 for i in range(n) if time[i] >= u)
        dk = sum(1 for i in range(n) if time[i] == u and status[i] == cause)
        d = sum(1 for i in range(n) if time[i] == u and status[i] != 0)
        f += s * dk / nr
        s *= 1 - d / nr
        out.append((u, f, s))
    return out


def cox_loglik(beta, X, time, event, ties="efron"):
    """Log partial likelihood at beta (X: list of rows)."""
    n = len(time)
    eta = [sum(b * x for b, x in zip(beta, X[i])) for i in range(n)]
    ll = 0.0
    for u in sorted(set(time[i] for i in range(n) if event[i] == 1)):
        risk = [i for i in range(n) if time[i] >= u]
        deaths = [i for i in risk if time[i] == u and event[i] == 1]
        s_risk = sum(math.exp(eta[i]) for i in risk)
        s_dead = sum(math.exp(eta[i]) for i in deaths)
        d = len(deaths)
        ll += sum(eta[i] for i in deaths)
        for l in range(d):
            frac = l / d if ties == "efron" else 0.0
            ll -= math.log(s_risk - frac * s_dead)
    return ll


def fine_gray_middle(data, beta):
    """crr's V subject by subject, transcribed from cmprsk's crrvv loops: the reference that the
    prefix-sum version in ltfu.stats.finegray is compared with.  ``data`` is finegray._Data."""
    import numpy as np

    from ltfu.stats.finegray import _sums
    t, f, X, G = data.t, data.f, data.X, data.G
    n, p = X.shape
    w = np.exp(X @ beta)
    s0, s1 = _sums(data, beta)
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
    for u, _start in zip(*order_groups):
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
