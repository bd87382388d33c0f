"""Turnbull's NPMLE for interval-censored times (ltfu.stats.interval) against R survival
(tests/reference/interval.R) and the properties the NPMLE must have.

What is compared with R.  survfit(Surv(left, right, type = "interval2") ~ 1) reports the curve at its
own times (innermost-interval midpoints, exact and right-censoring times).  Its EM stops on a
hard-coded change of 5e-05, and its Aitken steps can leave a mass stuck near 0, so survfit as shipped
(``r_surv``) is up to ~5e-2 from the NPMLE: ltfu is compared at 1e-6 with R's own code run with a
1e-13 stop and without the Aitken steps (``plain_surv``; where that reaches its iteration cap, with
the Aitken run ``tight_surv``), and with survfit as shipped only through the likelihood: ltfu's
estimate is never less likely than any of R's.  R's ``n.risk``/``n.event`` are stored but not
compared: for interval data they are the fractional weights of R's last weighted Kaplan-Meier pass
(expected counts that depend on where R puts each jump and on when it stopped), not counts.

The 3-subject example, by hand (also ``test_three_subjects_by_hand``):
    A = (0, 2], B = (1, 3], C = (2, inf) (right-censored at 2).
    Ends in order (ties: upper ends before lower ends): 0L 1L 2U(A) 2L(C) 3U(B) infU(C).
    Innermost intervals (a lower end followed by an upper end): I1 = (1, 2] and I2 = (2, 3].
    (3, inf) is not one: C's mass there could move into (2, 3], which B also contains.
    A contains I1; B contains I1 and I2; C contains I2.  Likelihood p1 * (p1 + p2) * p2 = p1 * p2.
    EM: p1 <- (1/3)(p1/p1 + p1/(p1 + p2) + 0) = (1 + p1)/3 (as p1 + p2 = 1), p2 = 1 - p1.
    From R's start (2/3, 1/3): 5/9, 14/27, 41/81, ... -> 1/2, the error shrinking by 1/3 a step.
    At p = (1/2, 1/2): d1 = (1/3)(1/p1 + 1) = 1 = d2, so the Kuhn-Tucker conditions hold.
    S = 1 up to 1, undetermined in (1, 2), S(2) = 1/2, undetermined in (2, 3), S(3) = 0.
    R's curve drops at the midpoints: S = 1/2 from 1.5 and 0 from 2.5; median by R's rule
    (flat exactly at 1/2): halfway between the jumps 1.5 and 2.5 = 2.
"""

import json

import numpy as np
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import InvalidInputError
from ltfu.stats import kaplan_meier, midpoint_km, turnbull

G = golden("interval")
CASES = {c["name"]: c for c in G["cases"]}


def _data(case):
    left, right = arr(case["left"]), arr(case["right"])
    right[np.isnan(right)] = np.inf                  # null in the JSON is R's NA / Inf: right-censored
    return left, right


_FITS = {}


def _fit(name):
    if name not in _FITS:
        _FITS[name] = turnbull(*_data(CASES[name]))
    return _FITS[name]


# Where both of R's tight runs hit their iteration caps, R is only as accurate as EM got: in
# mixed_n60 the innermost interval (11.88, 11.93] has mass 0 at the NPMLE with d_j = 1 exactly (a
# degenerate Kuhn-Tucker point), where EM's mass decays like 1/k instead of geometrically; after
# 1e5 plain EM iterations R still holds 5.3e-6 there (taken from (11.1, 11.3]), and every other R
# time agrees to 1e-7.  ltfu's Newton step puts it at 0 exactly.
R_LIMITED = {"mixed_n60": 1e-5}


def _r_reference(case):
    """(R's best converged curve, absolute tolerance): the plain EM, or the Aitken run where the
    plain one hit its cap; with no interval row, the Kaplan-Meier estimate (survfitTurnbull's
    phantom subject, below)."""
    if not case["has_interval"]:
        return arr(case["km_surv"]), 1e-12
    if not case["plain_capped"]:
        return arr(case["plain_surv"]), 1e-12
    if not case["tight_capped"]:
        return arr(case["tight_surv"]), 1e-12
    assert case["name"] in R_LIMITED, f"{case['name']}: both R runs hit their caps; regenerate with a higher cap"
    return arr(case["plain_surv"]), R_LIMITED[case["name"]]


def _point_loglik(times, masses, left, right, tail):
    """Log-likelihood of the distribution with ``masses`` at ``times`` and ``tail`` beyond the last:
    sum_i log P(left_i < T <= right_i), P(T = t) for exact times.  Independent of ltfu's code."""
    total = 0.0
    for lo, hi in zip(left, right):
        if lo == hi:
            p = masses[times == lo].sum()
        else:
            p = masses[(times > lo) & (times <= hi)].sum() + (tail if np.isinf(hi) else 0.0)
        total += np.log(p) if p > 0 else -np.inf
    return total


# ------------------------------------------------------------------------------------------------
# agreement with R

def test_golden_has_at_least_forty_cases():
    assert len(CASES) >= 40
    assert G["survival_version"] == "3.5.3"


@pytest.mark.parametrize("name", sorted(CASES))
def test_survival_matches_r_at_r_times(name):
    case = CASES[name]
    fit = _fit(name)
    assert fit.converged, f"{name}: kkt {fit.kkt}"
    s = fit.at(arr(case["r_time"]), inside="midpoint").survival
    ref, atol = _r_reference(case)
    assert_close(s, ref, rtol=1e-6 if atol < 1e-6 else 0.0, atol=atol, what=f"{name} survival")


@pytest.mark.parametrize("name", sorted(CASES))
def test_quantiles_match_r(name):
    case = CASES[name]
    ref = arr(case["km_quantile"] if not case["has_interval"] else case["quantile"]["value"])
    got = [_fit(name).quantile(p) for p in case["quantile"]["p"]]
    assert_close(got, ref, rtol=1e-9, what=f"{name} quantiles")


@pytest.mark.parametrize("name", sorted(CASES))
def test_never_less_likely_than_any_r_run(name):
    """The NPMLE maximises the likelihood: R's curves (shipped, tight, plain) put their jumps at
    points; evaluated as point masses, none is more likely than ltfu's estimate, whose likelihood
    with its jumps at R's midpoints is ``loglik``."""
    case = CASES[name]
    left, right = _data(case)
    fit = _fit(name)
    t = arr(case["r_time"])
    mine = fit.at(t, inside="midpoint").survival
    ll_mine = _point_loglik(t, -np.diff(np.r_[1.0, mine]), left, right, mine[-1])
    assert ll_mine == pytest.approx(fit.loglik, rel=1e-12, abs=1e-12)
    for key in ("r_surv", "tight_surv", "plain_surv"):
        s = arr(case[key])
        ll_r = _point_loglik(t, np.maximum(-np.diff(np.r_[1.0, s]), 0.0), left, right, s[-1])
        assert ll_mine >= ll_r - 1e-9 * max(1.0, abs(ll_r)), f"{name}: R's {key} is more likely"


def test_shipped_survfit_is_not_the_npmle_to_1e6():
    """Why the golden has R's code re-run: survfit as shipped misses the NPMLE by more than R's own
    5e-05 (its stopping rule) in the slow cases, and by ~4e-2 where its Aitken step stalls a mass."""
    worst = {name: float(np.max(np.abs(arr(c["r_surv"]) - _r_reference(c)[0]))) for name, c in CASES.items()
             if c["has_interval"]}
    assert max(worst.values()) > 1e-2
    assert worst["case2_n100"] > 1e-2                    # 0.4255 in R for the NPMLE's 0.4584 at 2.0355
    assert worst["cart_visits_n200"] < 1e-6              # a fixed-visit design converges fast in R too


def test_r_phantom_subject_without_interval_rows():
    """survfitTurnbull with no interval row spreads a phantom subject of weight 1 over the event
    times: with right-censoring after the last event that biases R (0.625 for Kaplan-Meier's 2/3)
    and ltfu gives the Kaplan-Meier estimate, the NPMLE."""
    case = CASES["exact_and_right_censored"]
    fit = _fit("exact_and_right_censored")
    left, right = _data(case)
    km = kaplan_meier(left, np.isfinite(right).astype(int))
    np.testing.assert_allclose(fit.at(km.time).survival, km.survival, rtol=1e-12)
    assert abs(arr(case["r_surv"])[0] - km.survival[0]) > 1e-2


# ------------------------------------------------------------------------------------------------
# properties

def _alpha_by_definition(left, right, fit):
    """alpha_ij = 1 when innermost interval j lies inside subject i's (left, right] ({t} if exact)."""
    lo, up = fit.lower[None, :], fit.upper[None, :]
    a, b = left[:, None], right[:, None]
    point = lo == up
    exact = a == b
    inside_interval = np.where(point, (a < lo) & (lo <= b), (a <= lo) & (up <= b))
    inside_exact = point & (a == lo)
    return np.where(exact, inside_exact, inside_interval).astype(float)


def _maximal_cliques(left, right):
    """Innermost intervals by another route (Gentleman & Vandal): probe every end and every gap
    between ends; the maximal sets of subjects containing a probe are the innermost intervals."""
    ends = np.unique(np.concatenate([left, right[np.isfinite(right)]]))
    probes = np.concatenate([ends, (ends[:-1] + ends[1:]) / 2, [ends[-1] + 1.0]])
    probes.sort()
    exact = left == right
    member = np.where(exact[:, None], left[:, None] == probes[None, :],
                      (left[:, None] < probes[None, :]) & (probes[None, :] <= right[:, None]))
    sets = []
    for k in range(probes.size):
        col = member[:, k]
        if col.any() and not any((c == col).all() for c in sets):
            sets.append(col)
    sets = [c for c in sets if not any((c <= o).all() and (c != o).any() for o in sets)]
    return np.array(sets, dtype=float).T if sets else np.zeros((left.size, 0))


def _random_cases(count=150, seed=20240601):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(1, 30))
        left = rng.integers(0, 8, n).astype(float)
        right = left + rng.integers(1, 5, n)
        right[rng.random(n) < 0.2] = np.inf
        ex = rng.random(n) < 0.2
        right[ex] = left[ex]
        yield left, right


def _check_npmle(left, right, fit, what):
    assert fit.converged, what
    assert (fit.mass >= 0).all() and fit.mass.sum() == pytest.approx(1.0, abs=1e-12), what
    assert (np.diff(fit.survival) <= 1e-15).all() and (fit.survival >= 0).all() and (fit.survival <= 1).all(), what
    alpha = _alpha_by_definition(left, right, fit)
    P = alpha @ fit.mass
    assert (P > 0).all(), what
    # self-consistency: every mass is its expected share of the n subjects
    share = (alpha * fit.mass[None, :] / P[:, None]).sum(axis=0) / left.size
    np.testing.assert_allclose(fit.mass, share, rtol=1e-8, atol=1e-12, err_msg=what)
    # and no interval could gain: d_j <= 1 (Kuhn-Tucker)
    d = (alpha / P[:, None]).sum(axis=0) / left.size
    assert d.max() <= 1 + 1e-8, what
    assert fit.loglik == pytest.approx(np.log(P).sum(), rel=1e-12, abs=1e-12), what


@pytest.mark.parametrize("name", sorted(CASES))
def test_properties_on_golden_cases(name):
    left, right = _data(CASES[name])
    _check_npmle(left, right, _fit(name), name)


def test_properties_and_structure_on_random_data():
    for i, (left, right) in enumerate(_random_cases()):
        fit = turnbull(left, right)
        _check_npmle(left, right, fit, f"random case {i}")
        np.testing.assert_array_equal(_alpha_by_definition(left, right, fit), _maximal_cliques(left, right),
                                      err_msg=f"random case {i}: innermost intervals")


def test_all_exact_is_kaplan_meier():
    rng = np.random.default_rng(7)
    for _ in range(20):
        t = rng.integers(0, 15, int(rng.integers(1, 40))).astype(float)
        fit = turnbull(t, t)
        km = kaplan_meier(t, np.ones(t.size))
        np.testing.assert_allclose(fit.at(km.time).survival, km.survival, rtol=1e-12, atol=1e-15)
        assert fit.n_iter == 0 and fit.n_newton == 0           # the start is the answer
        assert fit.median == pytest.approx(km.median.value, nan_ok=True)


def test_exact_and_right_censored_is_kaplan_meier():
    rng = np.random.default_rng(8)
    for _ in range(20):
        n = int(rng.integers(2, 40))
        t = np.round(rng.exponential(5, n), 1)
        e = rng.random(n) < 0.7
        fit = turnbull(t, np.where(e, t, np.inf))
        km = kaplan_meier(t, e.astype(int))
        np.testing.assert_allclose(fit.at(km.time, inside="midpoint").survival, km.survival, rtol=1e-10, atol=1e-14)


def test_three_subjects_by_hand():
    fit = turnbull([0, 1, 2], [2, 3, np.inf])
    np.testing.assert_array_equal(fit.lower, [1, 2])
    np.testing.assert_array_equal(fit.upper, [2, 3])
    np.testing.assert_allclose(fit.mass, [0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(fit.time, [1, 2, 3])
    np.testing.assert_allclose(fit.survival, [1, 0.5, 0], atol=1e-15)
    at = [0.5, 1, 1.5, 2, 2.5, 3, 10]
    np.testing.assert_allclose(fit.at(at).survival, [1, 1, np.nan, 0.5, np.nan, 0, 0], atol=1e-15)
    np.testing.assert_allclose(fit.at(at, inside="midpoint").survival, [1, 1, 0.5, 0.5, 0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(fit.at(at, inside="upper").survival, [1, 1, 1, 0.5, 0.5, 0, 0], atol=1e-15)
    np.testing.assert_allclose(fit.at(at, inside="lower").survival, [1, 1, 0.5, 0.5, 0, 0, 0], atol=1e-15)
    assert fit.median == 2.0
    assert fit.loglik == pytest.approx(np.log(0.25))
    # the EM map of the comment: p1 <- (1 + p1) / 3, from R's start
    p1 = 2 / 3
    for expected in (5 / 9, 14 / 27, 41 / 81):
        p1 = (1 / 3) * (p1 / p1 + p1 / 1.0)
        assert p1 == pytest.approx(expected)


def test_innermost_interval_conventions():
    # (0, 2] and (2, 4] do not overlap: two innermost intervals (lifelines, closed, would give {2})
    fit = turnbull([0, 2], [2, 4])
    np.testing.assert_array_equal(np.c_[fit.lower, fit.upper], [[0, 2], [2, 4]])
    # an exact time inside an interval is the only innermost interval
    fit = turnbull([2, 1], [2, 3])
    np.testing.assert_array_equal(np.c_[fit.lower, fit.upper, fit.mass], [[2, 2, 1]])
    # right-censored after every upper end: mass at (l, inf), survival never reaches 0, median not reached
    fit = turnbull([0, 5], [1, np.inf])
    np.testing.assert_array_equal(np.c_[fit.lower, fit.upper], [[0, 1], [5, np.inf]])
    assert fit.survival[-1] == 0.5 and np.isnan(fit.quantile(0.75))
    assert np.isnan(fit.at([6]).survival[0]) and fit.at([6], inside="midpoint").survival[0] == 0.5


def test_timefix_merges_close_ends_as_r():
    left, right = [0, 0.3, 0.5], [0.1 + 0.2, 1, 2]
    merged = turnbull(left, right)
    raw = turnbull(left, right, timefix=False)
    assert merged.lower.size == 2                       # (0, 0.3] and (0.5, 1]
    assert raw.lower.size == 2 and raw.upper[0] == 0.1 + 0.2 and raw.lower[0] == 0.3   # (0.3, 0.30000000000000004]
    with pytest.raises(InvalidInputError, match=r"^\[INVALID_INPUT\] right: after R's time merging"):
        turnbull([0.3, 0], [0.1 + 0.2, 1])


def test_convergence_flag_is_honest():
    left, right = _data(CASES["wide_overlap_n200"])
    fit = turnbull(left, right, tol=1e-300, max_iter=20)
    assert not fit.converged and fit.kkt > 1e-300 and fit.n_iter == 20
    good = _fit("wide_overlap_n200")
    assert good.converged and good.kkt <= 1e-9
    assert fit.loglik <= good.loglik + 1e-9


def test_no_progress_raises_convergence_error(monkeypatch):
    from ltfu.errors import ConvergenceError
    from ltfu.stats import interval

    real, calls = interval._gradient, []

    def broken(p, s):
        calls.append(1)
        d, ll = real(p, s)
        return d, (ll if len(calls) == 1 else ll - 1.0)      # the likelihood falls after the start

    monkeypatch.setattr(interval, "_gradient", broken)
    with pytest.raises(ConvergenceError, match="no progress at iteration 1"):
        turnbull(*_data(CASES["case2_n30"]))


def test_midpoint_km_imputes_midpoints():
    left, right = _data(CASES["cart_visits_n60"])
    mk = midpoint_km(left, right)
    finite = np.isfinite(right)
    km = kaplan_meier(np.where(finite, (left + right) / 2, left), finite.astype(int))
    np.testing.assert_allclose(mk.survival, km.survival, rtol=1e-15)
    t = np.array([1.0, 2, 2, 4])
    np.testing.assert_allclose(midpoint_km(t, t).survival, turnbull(t, t).at(midpoint_km(t, t).time).survival)


def test_to_dict_is_strict_json():
    d = _fit("mass_at_infinity").to_dict()
    json.dumps(d, allow_nan=False)
    assert d["intervals"]["upper"][-1] is None and d["converged"] is True


# ------------------------------------------------------------------------------------------------
# invalid input, named

@pytest.mark.parametrize("call, argument", [
    (lambda: turnbull([0, np.nan], [1, 2]), "left"),
    (lambda: turnbull([0, 1], [1, np.nan]), "right"),
    (lambda: turnbull([-1, 1], [1, 2]), "left"),
    (lambda: turnbull([0, 1], [1, -np.inf]), "right"),
    (lambda: turnbull([0, 3], [1, 2]), "right"),
    (lambda: turnbull([0, 1, 2], [1, 2]), "right"),
    (lambda: turnbull([0, np.inf], [1, np.inf]), "left"),
    (lambda: turnbull(["0", "1"], [1, 2]), "left"),
    (lambda: turnbull([0, 1], ["1", "2"]), "right"),
    (lambda: turnbull([], []), "left"),
    (lambda: turnbull([0], [1], tol=0), "tol"),
    (lambda: turnbull([0], [1], max_iter=0), "max_iter"),
    (lambda: turnbull([0], [1]).quantile(1.0), "p"),
    (lambda: turnbull([0], [1]).at([np.nan]), "times"),
    (lambda: turnbull([0], [1]).at([1], inside="centre"), "inside"),
    (lambda: midpoint_km([0, 2], [1, 1]), "right"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(InvalidInputError, match=rf"^\[INVALID_INPUT\] {argument}"):
        call()


def test_pandas_right_with_infinity():
    pd = pytest.importorskip("pandas")
    fit = turnbull(pd.Series([0.0, 1.0, 2.0]), pd.Series([2.0, 3.0, np.inf]))
    np.testing.assert_allclose(fit.mass, [0.5, 0.5])
    with pytest.raises(InvalidInputError, match=r"^\[INVALID_INPUT\] right: missing value \(NA\)"):
        turnbull(pd.Series([0.0, 1.0]), pd.Series(pd.array([2.0, None], dtype="Float64")))


# ------------------------------------------------------------------------------------------------
# lifelines: other conventions (module docstring of ltfu.stats.interval)

@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_lifelines_conventions_differ():
    pytest.importorskip("lifelines")
    from lifelines import KaplanMeierFitter
    from lifelines.fitters.npmle import npmle
    # closed intervals: [0, 2] and [2, 4] share the point 2, which takes all the mass there ...
    p, intervals = npmle(np.array([0.0, 2.0]), np.array([2.0, 4.0]))
    assert [(i.left, i.right) for i in intervals] == [(2.0, 2.0)] and p == pytest.approx([1.0])
    fit = turnbull([0.0, 2.0], [2.0, 4.0])               # ... half-open (0, 2] and (2, 4]: one half each
    np.testing.assert_allclose(fit.mass, [0.5, 0.5])
    # the 3-subject example: [0, 2], [1, 3], [2, inf] all contain 2 in lifelines
    p, intervals = npmle(np.array([0.0, 1.0, 2.0]), np.array([2.0, 3.0, np.inf]))
    assert [(i.left, i.right) for i in intervals] == [(2.0, 2.0)]
    # its table shows a point mass's drop only at the next listed time (S(1) = 1 where Kaplan-Meier,
    # R and ltfu give 2/3), so its median of exact times 1, 2, 3 (and (0.5, 5]) is 3, not 2
    left, right = np.array([1.0, 2.0, 3.0, 0.5]), np.array([1.0, 2.0, 3.0, 5.0])
    kmf = KaplanMeierFitter().fit_interval_censoring(left, right)
    assert kmf.survival_function_.loc[1.0].tolist() == [1.0, 1.0]
    assert (kmf.median_survival_time_.to_numpy() == 3.0).all()
    fit = turnbull(left, right)
    assert fit.at([1.0]).survival[0] == pytest.approx(2 / 3) and fit.median == 2.0
