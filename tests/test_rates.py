"""Incidence rates and rate ratios against R's poisson.test (tests/reference/rates.R), and Byar's
approximation against its closed form worked by hand."""

import math

import numpy as np
import pytest

from golden import assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats.rates import incidence_rate, rate_ratio

REF = golden("rates")


@pytest.mark.parametrize("case", REF["one_sample"], ids=lambda c: f"{c['events']}/{c['person_time']}/{c['conf_level']}")
def test_exact_rate_matches_poisson_test(case):
    r = incidence_rate(case["events"], case["person_time"], per=1, conf_level=case["conf_level"])
    assert_close([r.value, r.lower, r.upper], [case["rate"], case["lower"], case["upper"]], rtol=1e-9,
                 what=str(case))


@pytest.mark.parametrize("case", REF["two_sample"], ids=lambda c: f"{c['events']}/{c['person_time']}/{c['conf_level']}")
def test_rate_ratio_matches_poisson_test(case):
    (k1, k2), (t1, t2) = case["events"], case["person_time"]
    r = rate_ratio(k1, t1, k2, t2, conf_level=case["conf_level"])
    assert_close([r.ratio, r.lower, r.upper, r.p_value],
                 [case["ratio"], case["lower"], case["upper"], case["p_value"]], rtol=1e-8, what=str(case))


def test_per_100_patient_years_and_byar_by_hand():
    # 7 events in 350 patient-years: 2 per 100 PY
    r = incidence_rate(7, 350, per=100)
    assert r.value == pytest.approx(2.0)
    b = incidence_rate(7, 350, per=100, method="byar")
    z = 1.959963984540054
    lo = 7 * (1 - 1 / 63 - z / (3 * math.sqrt(7))) ** 3 / 350 * 100
    hi = 8 * (1 - 1 / 72 + z / (3 * math.sqrt(8))) ** 3 / 350 * 100
    assert (b.lower, b.upper) == pytest.approx((lo, hi), rel=1e-12)
    assert b.lower == pytest.approx(r.lower, rel=0.01) and b.upper == pytest.approx(r.upper, rel=0.01)
    assert incidence_rate(0, 10).lower == 0.0


@pytest.mark.parametrize("args", [(-1, 10), (1.5, 10), (1, 0), (1, np.inf), (True, 10)])
def test_bad_counts_and_times_are_named(args):
    with pytest.raises(InvalidInputError):
        incidence_rate(*args)
    with pytest.raises(InvalidInputError, match="no events"):
        rate_ratio(0, 1, 0, 2)
