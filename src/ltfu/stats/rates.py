"""Incidence rates per person-time and their ratio, as R's ``poisson.test``.

- ``incidence_rate``: k events in T person-time, rate k / T (times ``per``), with the exact Poisson
  (Garwood 1936) interval of R's poisson.test, [qchisq(a/2, 2k) / 2, qchisq(1 - a/2, 2k + 2) / 2] / T
  (lower 0 when k = 0), or Byar's approximation (Rothman & Boice):
  lower k (1 - 1/(9k) - z/(3 sqrt k))^3, upper (k + 1)(1 - 1/(9(k + 1)) + z/(3 sqrt(k + 1)))^3.
- ``rate_ratio``: the ratio of two rates with R's exact conditional test and interval: given
  k1 + k2 events, k1 is binomial with p = T1 / (T1 + T2) under equal rates; the interval maps
  binom.test's Clopper-Pearson limits p_L, p_U to rate ratios p / (1 - p) * T2 / T1, and the
  two-sided p-value is binom.test's (scipy's binomtest, which follows R's rule).

Published long-term safety analyses report rates per 100 patient-years with these intervals,
because crude percentages grow with follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ltfu.errors import InvalidInputError
from ltfu.stats._common import Estimate, Result, _json_float, check_choice, check_conf_level


def _count(k, name):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer, float, np.floating)) or not np.isfinite(k) \
            or k < 0 or float(k) != int(k):
        raise InvalidInputError(f"{name}: must be a whole number of events >= 0, got {k!r}")
    return int(k)


def _time(t, name):
    if isinstance(t, bool) or not isinstance(t, (int, np.integer, float, np.floating)) or not np.isfinite(t) \
            or t <= 0:
        raise InvalidInputError(f"{name}: person-time must be a positive finite number, got {t!r}")
    return float(t)


def incidence_rate(events, person_time, *, per: float = 100.0, conf_level: float = 0.95,
                   method: str = "exact") -> Estimate:
    """Events per ``per`` units of person-time (e.g. per 100 patient-years) with its interval."""
    k, T = _count(events, "events"), _time(person_time, "person_time")
    check_choice(method, "method", ("exact", "byar"))
    conf_level = check_conf_level(conf_level)
    per = _time(per, "per")
    a = 1 - conf_level
    if method == "exact":
        lower = stats.chi2.ppf(a / 2, 2 * k) / 2 if k > 0 else 0.0
        upper = stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2
    else:
        z = stats.norm.ppf(1 - a / 2)
        lower = k * (1 - 1 / (9 * k) - z / (3 * np.sqrt(k))) ** 3 if k > 0 else 0.0
        upper = (k + 1) * (1 - 1 / (9 * (k + 1)) + z / (3 * np.sqrt(k + 1))) ** 3
    scale = per / T
    return Estimate(k * scale, float(lower) * scale, float(upper) * scale, conf_level)


@dataclass(frozen=True, repr=False)
class RateRatio(Result):
    """Rate of group 1 over rate of group 2 (R ``poisson.test(c(k1, k2), c(T1, T2))``)."""

    ratio: float
    lower: float
    upper: float
    p_value: float
    events: tuple
    person_time: tuple
    conf_level: float

    def to_dict(self) -> dict:
        return {"ratio": _json_float(self.ratio), "lower": _json_float(self.lower), "upper": _json_float(self.upper),
                "p_value": _json_float(self.p_value), "events": list(self.events),
                "person_time": list(self.person_time), "conf_level": self.conf_level}


def rate_ratio(events1, person_time1, events2, person_time2, *, conf_level: float = 0.95) -> RateRatio:
    """Exact conditional comparison of two Poisson rates (see the module docstring)."""
    k1, k2 = _count(events1, "events1"), _count(events2, "events2")
    t1, t2 = _time(person_time1, "person_time1"), _time(person_time2, "person_time2")
    conf_level = check_conf_level(conf_level)
    n = k1 + k2
    if n == 0:
        raise InvalidInputError("events1, events2: no events in either group; the rate ratio is not estimable")
    p0 = t1 / (t1 + t2)
    test = stats.binomtest(k1, n, p0)
    ci = test.proportion_ci(confidence_level=conf_level, method="exact")
    odds = lambda p: p / (1 - p) * t2 / t1 if p < 1 else np.inf
    ratio = (k1 / t1) / (k2 / t2) if k2 > 0 else np.inf
    return RateRatio(float(ratio), float(odds(ci.low)), float(odds(ci.high)), float(test.pvalue), (k1, k2),
                     (t1, t2), conf_level)
