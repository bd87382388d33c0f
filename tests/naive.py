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
