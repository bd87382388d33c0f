"""Vectorised resampling equals the ordinary statistic computed replicate by replicate."""

import numpy as np
import pytest

from ltfu.errors import InvalidInputError
from ltfu.stats import kaplan_meier, logrank
from ltfu.stats.resample import (
    _distinct,
    _km_matrix,
    _quantile_rows,
    bootstrap_median,
    bootstrap_survival_difference,
    permutation_logrank,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n = 53
    t = np.round(rng.exponential(300, n))
    e = (rng.random(n) < 0.7).astype(int)
    g = rng.integers(0, 2, n)
    return t, e, g


def test_each_bootstrap_replicate_is_the_kaplan_meier_median_of_the_resampled_data(data):
    """Replicate by replicate, the weighted one-pass median equals kaplan_meier on the repeated rows."""
    t, e, _ = data
    rng = np.random.default_rng(11)
    order, uniq, inv = _distinct(t)
    w = rng.multinomial(t.size, np.full(t.size, 1 / t.size), size=40).astype(float)
    surv, c = _km_matrix(w, e[order].astype(float), inv, uniq.size)
    med = _quantile_rows(surv, c, uniq, 0.5)
    for b in range(w.shape[0]):
        reps = w[b].astype(int)
        km = kaplan_meier(np.repeat(t[order], reps), np.repeat(e[order], reps))
        assert med[b] == pytest.approx(km.median.value, nan_ok=True)


def test_bootstrap_median_estimate_and_limits(data):
    t, e, _ = data
    r = bootstrap_median(t, e, n_boot=1000, seed=1)
    assert r.estimate == kaplan_meier(t, e).median.value
    assert r.lower <= r.estimate <= r.upper
    assert r.replicates.shape == (1000,)
    # same seed, same replicates; different seed, different replicates
    assert np.array_equal(r.replicates, bootstrap_median(t, e, n_boot=1000, seed=1).replicates, equal_nan=True)
    assert not np.array_equal(r.replicates, bootstrap_median(t, e, n_boot=1000, seed=2).replicates, equal_nan=True)


def test_midpoint_rule_in_replicates():
    """S is exactly 0.5 after t=2 and flat until the next event at 4: R's median is 3."""
    t = np.array([1.0, 2, 4, 5])
    e = np.array([1, 1, 1, 1])
    order, uniq, inv = _distinct(t)
    surv, d = _km_matrix(np.ones((1, 4)), e[order].astype(float), inv, uniq.size)
    assert _quantile_rows(surv, d, uniq, 0.5)[0] == 3.0
    assert kaplan_meier(t, e).median.value == 3.0


def test_survival_difference_estimate(data):
    t, e, g = data
    r = bootstrap_survival_difference(t, e, g, at=200.0, n_boot=300, seed=3)
    s0 = kaplan_meier(t[g == 0], e[g == 0]).at([200.0]).survival[0]
    s1 = kaplan_meier(t[g == 1], e[g == 1]).at([200.0]).survival[0]
    assert r.estimate == pytest.approx(s1 - s0, rel=1e-12)
    assert r.lower <= r.estimate <= r.upper


def test_permutation_logrank_statistic_and_p(data):
    t, e, g = data
    r = permutation_logrank(t, e, g, n_perm=4000, seed=5)
    lr = logrank(t, e, g)
    assert r.statistic == pytest.approx(lr.statistic, rel=1e-10)
    # with 4000 permutations the p-value is within a few Monte Carlo SEs of the chi-square p
    assert abs(r.p_value - lr.p_value) < 4 * np.sqrt(lr.p_value * (1 - lr.p_value) / 4000) + 0.01


def test_bad_input(data):
    t, e, _g = data
    with pytest.raises(InvalidInputError, match="n_boot"):
        bootstrap_median(t, e, n_boot=0)
    with pytest.raises(InvalidInputError, match="group"):
        permutation_logrank(t, e, np.arange(t.size) % 3)


def test_bootstrap_median_follows_the_kaplan_meier_quantile_rule():
    """One rule, one place: where the curve ends flat exactly at 0.5, R's quantile is the midpoint
    of where it reached 0.5 and the last time (3.0 here), for the estimate as for kaplan_meier."""
    t, e = [1, 2, 3, 4], [1, 1, 0, 0]
    assert kaplan_meier(t, e).median.value == 3.0
    assert bootstrap_median(t, e, n_boot=20, seed=1).estimate == 3.0


BAD_COUNTS = [-5, 0, -1, 2.5, True, "10", None]


@pytest.mark.parametrize("name", ["n_perm", "batch", "seed"])
def test_permutation_logrank_checks_every_count_argument(data, name):
    """n_perm=-5 gave p = -0.25, n_perm=0 p = 1.0, batch=-1 a wrong p, batch=0 a crash."""
    t, e, g = data
    bad = [-1, 1.5, "1", True] if name == "seed" else BAD_COUNTS
    for value in bad:
        with pytest.raises(InvalidInputError, match=name):
            permutation_logrank(t, e, g, **{"n_perm": 50, name: value})


@pytest.mark.parametrize("name", ["n_boot", "batch", "seed"])
def test_bootstrap_median_checks_every_count_argument(data, name):
    """batch=-1 gave an interval read from uninitialised memory."""
    t, e, _ = data
    bad = [-1, 1.5, "1", True] if name == "seed" else BAD_COUNTS
    for value in bad:
        with pytest.raises(InvalidInputError, match=name):
            bootstrap_median(t, e, **{"n_boot": 50, name: value})


def test_bootstrap_survival_difference_checks_n_boot_seed_and_at(data):
    t, e, g = data
    for kwargs, name in [({"n_boot": 0}, "n_boot"), ({"n_boot": -3}, "n_boot"), ({"seed": -1}, "seed"),
                         ({"at": float("nan")}, "at")]:
        with pytest.raises(InvalidInputError, match=name):
            bootstrap_survival_difference(t, e, g, **{"at": 100.0, "n_boot": 20, **kwargs})

    # numpy integers and generators are valid counts and seeds
    a = permutation_logrank(t, e, g, n_perm=np.int64(200), batch=np.int32(64), seed=np.int64(3))
    assert a == permutation_logrank(t, e, g, n_perm=200, batch=64, seed=3)
    assert bootstrap_median(t, e, n_boot=30, seed=np.random.default_rng(1)).n_boot == 30
