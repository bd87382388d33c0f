"""Turnbull's nonparametric maximum-likelihood estimate (NPMLE) for interval-censored event times.

After CAR T-cell therapy, loss of CAR-transgene persistence is known only to lie between two
assessments: the last with detectable transgene (``left``) and the first without (``right``).  Each
subject's observation is the half-open interval (left, right]: event-free at ``left``, event by
``right``.  ``right = inf`` is right-censoring at ``left``; ``left == right`` is an exactly observed
event at that time; ``left = 0`` means no assessment before the event was known to have happened.

The data.  Sort every interval end, breaking ties at one time t so that an exact event's own lower
end ("just before t") comes first, then the upper ends at t, then the lower ends at t (an interval
(a, t] contains t, an interval (t, b] does not).  An *innermost interval* (Turnbull 1976; Peto 1973)
is a lower end immediately followed by an upper end in this order: a stretch (l, r] that contains
no other end, or a single point {t} where events were observed exactly.  The innermost intervals
are disjoint, every observation contains at least one, and the NPMLE puts all its mass on them (a
distribution with mass elsewhere can move that mass to an innermost interval inside every
observation interval that held it, and no likelihood factor decreases).  Within an innermost
interval the likelihood does not say where the mass lies: the survival function is determined only
at interval ends and between innermost intervals.  The last innermost interval is (l, inf) when a
right-censored row follows every upper end; its mass is what survival has left at the end.

The estimate.  With masses p_j on innermost intervals I_j, alpha_ij = 1 when I_j lies inside the
interval of subject i, the log-likelihood is sum_i log(sum_j alpha_ij p_j).  The self-consistency
(EM) algorithm (Turnbull 1976) updates every mass to its expected share of the n subjects:

    p_j  <-  (1/n) sum_i alpha_ij p_j / sum_k alpha_ik p_k   =   p_j d_j,

d_j = (1/n) sum_i alpha_ij / sum_k alpha_ik p_k being the likelihood's gradient divided by n.
Each subject's range of innermost intervals is consecutive, so one update costs O(n + m) with
prefix sums.  The start is the share of subjects whose interval contains each I_j.  The likelihood
is strictly concave in p (the matrix alpha has full column rank: the subject that supplies I_j's
upper end contains no later innermost interval), so the NPMLE is unique, and it is characterised by
the Kuhn-Tucker conditions d_j <= 1 for every j, d_j = 1 wherever p_j > 0 (Gentleman & Geyer 1994).

Stopping rule.  EM converges linearly and often slowly: a mass that belongs at 0 decays
geometrically, or only like 1/k where d_j = 1 at the NPMLE with p_j = 0 (a degenerate Kuhn-Tucker
point).  So after 8, 16, 32, ... EM iterations (and at ``max_iter``) a Newton refinement is tried
from the current masses: Newton steps for the log-likelihood on the intervals with positive mass,
under sum(p) = 1 (solved exactly, so positive masses end with d_j = 1 to rounding), a mass that a
step would make negative set to 0 and dropped, an excluded interval with d_j > 1 re-admitted, every
step raising the likelihood (line search).  The refinement is kept only if it meets the rule
below; otherwise EM goes on from where it was (an EM step never revives a mass set to 0).  The
iteration stops as soon as

    max_j d_j - 1 <= tol        no interval could gain mass; by concavity the log-likelihood is
                                then within n * tol of its maximum (l(q) - l(p) <= n (max_j d_j - 1))
    max_j p_j |d_j - 1| <= tol  self-consistency: one more EM step would move no mass by more than tol

``converged`` says whether both hold; ``kkt`` is the larger left-hand side.  When EM meets them on
its own, one refinement polishes the masses to rounding (all-exact data start at the answer, the
Kaplan-Meier estimate, and take no step at all).  ConvergenceError is raised only when an EM step
makes no progress (non-finite masses, a falling likelihood), which exact arithmetic rules out.

R.  ``survival::survfit(Surv(left, right, type = "interval2") ~ 1)`` (survival 3.5-3,
``survfitTurnbull``) computes the NPMLE by EM wrapped around a weighted Kaplan-Meier (right-censored
rows censored, every interval row spread over candidate times in proportion to the current jumps),
with an Aitken extrapolation every 5th iteration.  It puts each innermost interval's jump at the
interval's midpoint (an exact time stays where it is), reports the curve at those midpoints and at
every exact and right-censoring time, flat in between; ``at(times, inside="midpoint")`` and
``quantile`` read ltfu's estimate the same way.  Its stopping rule is a hard-coded change of less
than 5e-05 in the curve over one iteration (survfit has no control for it), which leaves R 1e-5 to
1e-2 from the NPMLE on slow data (0.7995 for 0.8 on current-status data); and its Aitken step can
leave a mass at ~1e-13 where the NPMLE's is positive, which EM then regrows by a factor d_j ~ 1.03
a step, so R stops at a less likely curve (0.4255 for 0.4584 in the golden's case2_n100).
tests/reference/interval.R therefore also runs R's own code with the constant at 1e-13, with and
without the Aitken step; ltfu agrees with the plain EM to 1e-6 (1e-10 in practice), and its
likelihood is never below any of R's.  Also not copied: with no interval row at all, survfitTurnbull
adds a phantom subject of weight 1 spread over the event times, which biases the curve when a row is
censored after the last event (0.625 for 2/3); the NPMLE is then the Kaplan-Meier estimate, which
ltfu gives.  R's exact time followed by an upper end adds a candidate time between them that can
never carry mass at the NPMLE (ltfu has no such candidate; R's curve is flat there).

lifelines (``KaplanMeierFitter.fit_interval_censoring``, 0.30) follows other conventions, so its
numbers are not R's: every interval is *closed* [left, right] (intervals sharing an end, (0, 2] and
(2, 4], overlap at 2 there, and all the mass goes to the point {2}, where R and ltfu give half to
each); its table is left-continuous at a point mass (S = 1 at an exact event time 1 where Kaplan-
Meier, R and ltfu give 2/3, so the median of exact times 1, 2, 3 is 3, not 2), with two columns
(upper and lower envelope) on the observed ends instead of R's midpoint curve; it stops when the
log-likelihood improves by less than ``tol`` (1e-5 by default), after a log-odds line search, not
on the Kuhn-Tucker conditions; and it does not merge near-equal times.

References: Peto R (1973) Appl Stat 22:86-91; Turnbull BW (1976) JRSS-B 38:290-295; Gentleman R &
Geyer CJ (1994) Biometrika 81:618-623.  Hand-written: no library among ltfu's dependencies
computes the NPMLE (numpy, scipy and statsmodels do not; lifelines, a test dependency, uses the
conventions above).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import _refuse_masked_or_complex, as_float_array, check_choice, json_float
from ltfu.stats._npmle import _gradient, _innermost, _kkt, _newton, _survival_at
from ltfu.stats.counting import merge_pooled
from ltfu.stats.km import KaplanMeier, _findq, kaplan_meier

INSIDE = ("nan", "midpoint", "upper", "lower")


# ------------------------------------------------------------------------------------------------
# input

def _right_array(right) -> np.ndarray:
    """``right`` as floats with +inf allowed (right-censored); otherwise as ``as_float_array``."""
    _refuse_masked_or_complex(right, "right")
    if isinstance(right, np.ndarray) and right.dtype.kind in "fiu":
        raw = right.astype(float)
        posinf = np.isposinf(raw) if raw.ndim == 1 else np.zeros(raw.shape, bool)
        fixed = np.where(posinf, 0.0, raw)
    else:
        obj = right.to_numpy(dtype=object) if hasattr(right, "to_numpy") and not hasattr(right, "columns") \
            else np.asarray(right, dtype=object) if isinstance(right, (list, tuple)) else right
        if isinstance(obj, np.ndarray) and obj.dtype.kind == "O" and obj.ndim == 1:
            posinf = np.array([isinstance(v, (float, np.floating)) and v == np.inf for v in obj], dtype=bool)
            fixed = obj.copy()
            fixed[posinf] = 0.0
        else:
            posinf, fixed = None, obj
    out = as_float_array(fixed, "right", allow_nan=True)
    if np.isnan(out).any():
        raise InvalidInputError(f"right: missing value (NaN) at index {int(np.flatnonzero(np.isnan(out))[0])}; "
                                "a right-censored row has right = inf")
    if posinf is not None:
        out[posinf] = np.inf
    return out


def check_interval(left, right, *, timefix: bool = True):
    """Validated ``(left, right)`` float arrays: ``left`` finite and >= 0, ``right`` >= ``left`` or
    +inf, equal lengths; with ``timefix`` R's time merging (aeqSurv) on the finite ends, pooled.
    Raises InvalidInputError naming the argument."""
    lo = as_float_array(left, "left") + 0.0
    if (lo < 0).any():
        raise InvalidInputError(f"left: negative values (first at index {int(np.flatnonzero(lo < 0)[0])})")
    hi = _right_array(right) + 0.0
    if hi.shape != lo.shape:
        raise InvalidInputError(f"right: length {hi.size} differs from left length {lo.size}")
    if (hi < 0).any():
        raise InvalidInputError(f"right: negative values (first at index {int(np.flatnonzero(hi < 0)[0])})")
    if (lo > hi).any():
        i = int(np.flatnonzero(lo > hi)[0])
        raise InvalidInputError(f"right: must be >= left (index {i}: left {lo[i]!r} > right {hi[i]!r})")
    if timefix:
        lo, hi = _merge_close(lo, hi)
    return lo, hi


def _merge_close(lo, hi):
    """R's aeqSurv on interval data: finite ends closer than sqrt(eps) (absolutely or relative to
    their mean) become one time; an interval that would shrink to a point is refused, as R stops."""
    lo2, hi2 = merge_pooled(lo, hi)
    if lo2 is lo:
        return lo, hi
    bad = (lo2 == hi2) & (lo != hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"right: after R's time merging the interval ({lo[i]!r}, {hi[i]!r}] at index {i} has "
                                "length 0; its ends differ by less than the merging tolerance (pass timefix=False "
                                "to keep raw times, or make it an exact time)")
    return lo2, hi2


# ------------------------------------------------------------------------------------------------
# the result

@dataclass(frozen=True)
class TurnbullAt:
    """The Turnbull survival function read at chosen times."""

    time: np.ndarray
    survival: np.ndarray
    inside: str

    def to_dict(self) -> dict:
        return {"time": [json_float(v) for v in self.time], "survival": [json_float(v) for v in self.survival],
                "inside": self.inside}


@dataclass(frozen=True)
class Turnbull:
    """Turnbull's NPMLE: masses on the innermost intervals (lower, upper] ({t} where lower == upper;
    upper = inf for the stretch after the last upper end), and the survival function S(t) = P(T > t)
    on the interval ends (``time``, ``survival``), where it is determined.

    ``n_iter`` counts EM iterations, ``n_newton`` the Newton steps of the final refinement (0 when
    EM met the stopping rule alone); ``kkt`` is the Kuhn-Tucker measure of the module docstring and
    ``converged`` whether it is <= ``tol``; ``loglik`` is sum_i log P(T_i in (left_i, right_i]).
    ``max_time`` is where R's curve ends (the largest exact or right-censoring time or jump point):
    the quantile rule's flat-to-the-end case uses it."""

    lower: np.ndarray
    upper: np.ndarray
    mass: np.ndarray
    time: np.ndarray
    survival: np.ndarray
    n: int
    n_iter: int
    n_newton: int
    converged: bool
    kkt: float
    loglik: float
    tol: float
    max_time: float

    def at(self, times, *, inside: str = "nan") -> TurnbullAt:
        """S(t) = P(T > t) at ``times``.  Inside an innermost interval with mass (lower < t < upper)
        the NPMLE does not determine S; ``inside`` says what to give there: "nan" (undetermined),
        "midpoint" (R survfit's curve: the whole mass drops at the interval's midpoint; it never
        drops in (l, inf)), "upper" or "lower" (the highest and lowest survival any NPMLE allows:
        the mass at the interval's upper or lower end)."""
        check_choice(inside, "inside", INSIDE)
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1 or np.isnan(t).any():
            raise InvalidInputError("times: must be a 1-D array of numbers without NaN")
        return TurnbullAt(t, _survival_at(self.lower, self.upper, self.mass, t, inside), inside)

    def _r_curve(self):
        """R's curve: a jump at each innermost interval's midpoint (or point), up to ``max_time``."""
        fin = np.isfinite(self.upper)
        jumps = np.where(self.lower == self.upper, self.lower, (self.lower + self.upper) / 2)[fin]
        grid = np.unique(np.concatenate([jumps, [self.max_time]]))
        return grid, self.at(grid, inside="midpoint").survival

    def quantile(self, p: float) -> float:
        """Time by which a fraction ``p`` has had the event, by R's rule (quantile.survfit on R's
        midpoint curve): the first jump point where S <= 1 - p, or halfway to the next jump point
        where S is flat exactly at 1 - p; ``nan`` when not reached.  A point estimate only: the
        NPMLE has no closed-form variance (bootstrap it), so no confidence limits are given."""
        if not (isinstance(p, (int, float, np.floating)) and 0 < p < 1):
            raise InvalidInputError(f"p: must be strictly between 0 and 1, got {p!r}")
        grid, surv = self._r_curve()
        return _findq(grid, surv, float(p))

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def to_dict(self) -> dict:
        return {"n": self.n, "n_iter": self.n_iter, "n_newton": self.n_newton, "converged": self.converged,
                "kkt": json_float(self.kkt), "tol": self.tol, "loglik": json_float(self.loglik),
                "median": json_float(self.median),
                "intervals": {"lower": [json_float(v) for v in self.lower],
                              "upper": [json_float(v) for v in self.upper],     # null: infinity
                              "mass": [json_float(v) for v in self.mass]},
                "table": {"time": [json_float(v) for v in self.time],
                          "survival": [json_float(v) for v in self.survival]}}


# ------------------------------------------------------------------------------------------------
# the estimators

def turnbull(left, right, *, tol: float = 1e-9, max_iter: int = 10000, timefix: bool = True) -> Turnbull:
    """Turnbull's NPMLE of the survival function from interval-censored times (left, right].

    ``left``: last time known event-free (0 allowed); ``right``: first time known to have had the
    event, ``inf`` for right-censored at ``left``, equal to ``left`` for an exactly observed event.
    EM (self-consistency) iterations with an active-set Newton refinement, stopped on the
    Kuhn-Tucker conditions to within ``tol`` (module docstring); at most ``max_iter`` EM iterations,
    after which ``converged`` is False if the conditions still fail.  ``timefix`` merges times
    closer than R's tolerance, as survfit does.  Raises ConvergenceError only when an iteration
    makes no progress (non-finite masses or a falling likelihood)."""
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise InvalidInputError(f"tol: must be a positive number, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InvalidInputError(f"max_iter: must be a positive whole number, got {max_iter!r}")
    lo, hi = check_interval(left, right, timefix=timefix)
    s = _innermost(lo, hi)
    m = s.lower.size

    # start: the share of subjects whose interval contains each innermost interval
    cover = np.cumsum(np.bincount(s.a, s.w, minlength=m + 1) - np.bincount(s.b, s.w, minlength=m + 1))[:m]
    p = cover / cover.sum()
    d, ll = _gradient(p, s)
    n_iter = n_newton = 0
    kkt = _kkt(p, d)
    check_at = 8
    while kkt > tol and n_iter < max_iter:
        new = p * d
        new /= new.sum()
        d_new, ll_new = _gradient(new, s)
        if not (np.isfinite(new).all() and np.isfinite(ll_new)) or ll_new < ll - 1e-10 * max(1.0, abs(ll)):
            raise ConvergenceError(f"Turnbull EM made no progress at iteration {n_iter + 1} "
                                   f"(log-likelihood {ll} -> {ll_new})")
        p, d, ll = new, d_new, ll_new
        n_iter += 1
        kkt = _kkt(p, d)
        if kkt > tol and n_iter in (check_at, max_iter):
            check_at *= 2
            refined = _newton(p, s, tol)
            if refined is not None and refined[2] <= tol:
                p, n_newton, kkt = refined
                d, ll = _gradient(p, s)
    if 1e-12 < kkt <= tol:
        # EM met the rule on its own: polish to rounding (masses bound for 0 are then exactly 0)
        refined = _newton(p, s, tol)
        if refined is not None and refined[2] <= kkt:
            p, n_newton, kkt = refined
            d, ll = _gradient(p, s)
    ends = np.unique(np.concatenate([s.lower, s.upper]))
    time = ends[np.isfinite(ends)]
    exact_or_cens = lo[(lo == hi) | np.isinf(hi)]
    jumps = np.where(s.lower == s.upper, s.lower, (s.lower + s.upper) / 2)[np.isfinite(s.upper)]
    max_time = float(np.max(np.concatenate([exact_or_cens, jumps]))) if exact_or_cens.size + jumps.size else 0.0
    surv = _survival_at(s.lower, s.upper, p, time, "nan")        # determined at every interval end
    return Turnbull(s.lower, s.upper, p, time, surv, s.n, n_iter, n_newton, bool(kkt <= tol), kkt, ll, float(tol),
                    max_time)


def midpoint_km(left, right, *, conf_type: str = "log-log", conf_level: float = 0.95,
                timefix: bool = True) -> KaplanMeier:
    """Kaplan-Meier estimate after imputing each finite interval's midpoint as the event time (an
    exact time stays, ``right = inf`` is censored at ``left``), for comparison with ``turnbull``.

    Biased, and over-confident: the event is put halfway between assessments whatever the hazard
    does in between (with a falling hazard after infusion, most losses in a wide early gap happen
    early, so the midpoint is too late and survival is overestimated, and the reverse for a rising
    hazard); imputation turns interval-censored rows into exact events, so every imputed time
    becomes a distinct jump and the Greenwood limits ignore the uncertainty inside each interval; and
    a subject whose interval overlaps another's is ordered by midpoints, which the data do not
    order.  Wide intervals (missed visits) make it worse; Turnbull's NPMLE uses only what the
    intervals say."""
    lo, hi = check_interval(left, right, timefix=timefix)
    finite = np.isfinite(hi)
    time = np.where(finite, (lo + hi) / 2, lo)
    return kaplan_meier(time, finite.astype(np.int8), conf_type=conf_type, conf_level=conf_level, timefix=timefix)
