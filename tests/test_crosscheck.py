"""Seeded randomized cross-check of ltfu.stats against R (tests/reference/crosscheck.R -> crosscheck.json).

Every case of the JSON holds the input data and R's answer.  One test per ltfu function runs all of
its cases and collects every disagreement, then fails with a summary listing the case ids.

Agreement means: relative 1e-6 (``golden.assert_close``); 1e-5 for the standard errors of iterative
fits (Cox, logistic, Fine-Gray) and for what is computed from them (Wald tests, confidence limits);
where R failed (``{"error": ...}``: an error, an NA coefficient, a warning that the estimate is
infinite or did not converge, separation) ltfu must raise ``InvalidInputError`` or
``ConvergenceError``.

Cases that disagree today are listed, each with the class of the disagreement:

- ``KNOWN``: ltfu is wrong (being fixed by others); ``test_known_disagreements_still_disagree``
  fails as soon as one of them agrees, so that the list shrinks as the fixes land;
- ``R_ARTEFACTS``: R's answer is not the right reference (R's quirk, not an ltfu bug);
- options ltfu's API lacks (case weights) are in the JSON with R's answers and skipped here
  (``test_options_ltfu_lacks``), until the API grows them.

The lists are maintained with ``PYTHONPATH=src python tests/crosscheck_classify.py [--write]``, which
decides each case's class by evidence (e.g. a re-run with the times merged as R's timefix merges
them must agree); ``python tests/test_crosscheck.py --list`` prints every disagreement with its class.
tests/reference/CROSSCHECK.md describes the classes, with a minimal reproduction of each.
"""

from __future__ import annotations

import inspect
import sys
import time as _time
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from golden import arr, assert_close, golden
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats import (
    binomial_ci,
    cox,
    cox_zph,
    cumulative_incidence,
    fine_gray,
    fisher_exact,
    gray_test,
    kaplan_meier,
    landmark,
    logistic,
    logrank,
    logrank_trend,
    mantel_byar,
    median_follow_up,
    nelson_aalen,
    rmst,
    rmst_difference,
    wilcoxon_ranksum,
)

pytestmark = pytest.mark.slow

G = golden("crosscheck")
CASES = G["cases"]
BY_ID = {c["id"]: c for c in CASES}
LTFU_ERRORS = (InvalidInputError, ConvergenceError)
RTOL = 1e-6
RTOL_ITER = 1e-5             # standard errors of iterative fits, and what is built from them

# Options of R that ltfu's API does not offer yet: function name in the JSON -> (ltfu function, parameter)
UNSUPPORTED = {"kaplan_meier(weights)": (kaplan_meier, "weights")}


# ---------------------------------------------------------------------------------------------
# comparison helpers

class Problems(list):
    """The disagreements found in one case (strings)."""

    def close(self, what, actual, expected, rtol=RTOL, atol=1e-12):
        if _plainly_close(actual, expected, rtol, atol):
            return                  # the common case, without numpy.testing's overhead (~25k comparisons)
        try:
            assert_close(actual, expected, rtol=rtol, atol=atol, what=what)
        except AssertionError as exc:
            kind = ("shape" if "shape" in str(exc) else "NA pattern" if "NA pattern" in str(exc)
                    else "values")
            self.append(f"{what} ({kind}): ltfu {_fmt(actual)} vs R {_fmt(expected)}")

    def outcome(self, what, call, ref, compare):
        """Run ``call``; where R failed ltfu must raise one of its errors, else ``compare(result, ref)``."""
        r_failed = isinstance(ref, dict) and "error" in ref
        try:
            res = call()
        except LTFU_ERRORS as exc:
            if not r_failed:
                self.append(f"{what}: ltfu raised {type(exc).__name__} ({_short(exc.message)}) where R answered")
            return
        except Exception as exc:
            self.append(f"{what}: ltfu crashed with {type(exc).__name__}: {_short(str(exc))}")
            return
        if r_failed:
            self.append(f"{what}: R failed ({_short(ref['error'])}) but ltfu answered")
            return
        try:
            compare(res, ref)
        except Exception as exc:
            self.append(f"{what}: comparing failed with {type(exc).__name__}: {_short(str(exc))}")


def _plainly_close(actual, expected, rtol, atol):
    """True only where ``golden.assert_close`` would pass: same shape, NaN (R's NA, null) in the same
    places (ltfu's infinities count as NaN, as there), |a - e| <= atol + rtol |e| elsewhere.  Anything
    else goes to assert_close, which decides."""
    try:
        a = np.atleast_1d(np.asarray(actual, dtype=float))
        e = np.atleast_1d(expected.astype(float)) if isinstance(expected, np.ndarray) else arr(expected)
    except (TypeError, ValueError):
        return False
    if a.shape != e.shape:
        return False
    a = np.where(np.isinf(a), np.nan, a)
    na, ne = np.isnan(a), np.isnan(e)
    if not np.array_equal(na, ne):
        return False
    ok = ~ne
    return bool(np.all(np.abs(a[ok] - e[ok]) <= atol + rtol * np.abs(e[ok])))


def _short(s, n=90):
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _fmt(values, limit=6):
    """Up to ``limit`` numbers, 7 significant digits (R's NA and ltfu's nan both shown as nan)."""
    try:
        v = np.atleast_1d(np.asarray(values, dtype=float)).ravel() if isinstance(values, np.ndarray) \
            else arr(values).ravel() if isinstance(values, list) or values is None else \
            np.atleast_1d(np.asarray(values, dtype=float)).ravel()
    except (TypeError, ValueError):
        return _short(repr(values), 80)
    text = ", ".join(f"{x:.7g}" for x in v[:limit]) + (f", ... ({v.size})" if v.size > limit else "")
    return f"[{text}]"


def opt(inp, key, kind=float):
    v = inp.get(key)
    if v is None:
        return None
    return arr(v) if kind is float else np.asarray(v if isinstance(v, list) else [v])


def matrix(rows):
    return np.array(rows, dtype=float).reshape(len(rows), -1)


# ---------------------------------------------------------------------------------------------
# one checker per function: (input, R's answer) -> Problems

def check_kaplan_meier(inp, r):
    p = Problems()
    t, e, entry, at = arr(inp["time"]), arr(inp["event"]), opt(inp, "entry"), arr(inp["at"])
    for ct in ("log", "log-log", "plain"):
        def compare(km, r, ct=ct):
            tab, ref = r["table"], r[ct]
            for f in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err"):
                p.close(f"{ct} {f}", getattr(km, f), tab[f])
            p.close(f"{ct} ci_lower", km.ci_lower, ref["ci_lower"])
            p.close(f"{ct} ci_upper", km.ci_upper, ref["ci_upper"])
            qs = [km.quantile(q) for q in inp["p"]]
            p.close(f"{ct} quantile", [q.value for q in qs], ref["q_value"])
            p.close(f"{ct} quantile lower", [q.lower for q in qs], ref["q_lower"])
            p.close(f"{ct} quantile upper", [q.upper for q in qs], ref["q_upper"])
            a = km.at(at, extend=True)          # R: summary(times=, extend=TRUE)
            p.close(f"{ct} at time", a.time, r["at"]["time"])
            for f in ("survival", "std_err", "n_risk"):
                p.close(f"{ct} at {f}", getattr(a, f), r["at"][f])
            p.close(f"{ct} at ci_lower", a.ci_lower, ref["at_lower"])
            p.close(f"{ct} at ci_upper", a.ci_upper, ref["at_upper"])
        p.outcome(ct, lambda ct=ct: kaplan_meier(t, e, entry=entry, conf_type=ct), r, compare)
    return p


def check_nelson_aalen(inp, r):
    p = Problems()

    def compare(na, r):
        for f in ("time", "n_risk", "n_event", "n_censor", "cumhaz", "std_err"):
            p.close(f, getattr(na, f), r[f])
    p.outcome("nelson-aalen", lambda: nelson_aalen(arr(inp["time"]), arr(inp["event"]), entry=opt(inp, "entry")),
              r, compare)
    return p


def check_median_follow_up(inp, r):
    p = Problems()

    def compare(fu, r):
        m = fu.reverse_km
        p.close("median", [m.value, m.lower, m.upper], [r["value"], r["lower"], r["upper"]])
        p.close("simple median", fu.simple_median, r["simple_median"])
    p.outcome("follow-up", lambda: median_follow_up(arr(inp["time"]), arr(inp["death"]), conf_type=inp["conf_type"]),
              r, compare)
    return p


def check_rmst(inp, r):
    p = Problems()
    t, e = arr(inp["time"]), arr(inp["event"])
    for tau, ref in zip(arr(inp["tau"]), r["by_tau"]):
        def compare(res, ref, tau=tau):
            p.close(f"tau={tau:g} rmst", res.estimate, ref["estimate"])
            p.close(f"tau={tau:g} se", res.std_err, ref["std_err"])
        p.outcome(f"tau={tau:g}", lambda tau=tau: rmst(t, e, tau=float(tau)), ref, compare)
    return p


def check_rmst_difference(inp, r):
    p = Problems()
    t, e, g = arr(inp["time"]), arr(inp["event"]), np.asarray(inp["group"])
    for tau, ref in zip(arr(inp["tau"]), r["by_tau"]):
        def compare(res, ref, tau=tau):
            p.close(f"tau={tau:g} rmst", [x.estimate for x in res.rmst], ref["rmst"])
            p.close(f"tau={tau:g} rmst se", [x.std_err for x in res.rmst], ref["rmst_se"])
            p.close(f"tau={tau:g} difference", res.difference, ref["difference"], atol=1e-9 * float(tau))
            p.close(f"tau={tau:g} se", res.std_err, ref["std_err"])
            p.close(f"tau={tau:g} p", res.p_value, ref["p_value"])
        p.outcome(f"tau={tau:g}", lambda tau=tau: rmst_difference(t, e, g, tau=float(tau)), ref, compare)
    return p


def check_logrank(inp, r):
    p = Problems()

    def compare(lr, r):
        p.close("statistic", lr.statistic, r["statistic"])
        p.close("df", lr.df, r["df"])
        p.close("p", lr.p_value, r["p_value"])
        p.close("observed", lr.observed, r["observed"])
        p.close("expected", lr.expected, r["expected"])
        p.close("variance", lr.variance, matrix(r["variance"]), atol=1e-12)
    p.outcome("logrank", lambda: logrank(arr(inp["time"]), arr(inp["event"]), np.asarray(inp["group"]),
                                         strata=opt(inp, "strata", str), rho=inp["rho"]), r, compare)
    return p


def check_logrank_trend(inp, r):
    p = Problems()
    if "error" not in r and (r["statistic"] is None or r["v"] is None or r["v"] <= 0):
        r = {"error": "c'Vc is not positive: no trend test (R's u^2/v is not finite)", **r}

    def compare(res, r):
        p.close("statistic", res.statistic, r["statistic"])
        p.close("df", res.df, r["df"])
        p.close("p", res.p_value, r["p_value"])
    p.outcome("trend", lambda: logrank_trend(arr(inp["time"]), arr(inp["event"]), np.asarray(inp["group"]),
                                             scores=opt(inp, "scores"), strata=opt(inp, "strata", str),
                                             rho=inp["rho"]), r, compare)
    return p


def _cox_fit(inp):
    return cox(matrix(inp["X"]), arr(inp["time"]), arr(inp["event"]), entry=opt(inp, "entry"),
               strata=opt(inp, "strata", str), cluster=opt(inp, "cluster", str), ties=inp["ties"],
               weights=opt(inp, "weights"))


def check_cox(inp, r):
    p = Problems()

    def compare(fit, r):
        p.close("coef", fit.coef, r["coef"])
        p.close("se", fit.se, r["se"], rtol=RTOL_ITER)
        if r.get("robust_se") is not None:
            if fit.robust_se is None:
                p.append("robust se: ltfu gave none")
            else:
                p.close("robust se", fit.robust_se, r["robust_se"], rtol=RTOL_ITER)
        p.close("loglik", fit.loglik, r["loglik"])
        p.close("score test", fit.score_test.statistic, r["score"])
        p.close("Wald test", fit.wald_test.statistic, r["wald"], rtol=RTOL_ITER)
        # a difference of log-likelihoods: absolute error relative to their size
        p.close("LR test", fit.lr_test.statistic, r["lr"], atol=1e-8 * abs(r["loglik"][0]))
    p.outcome("cox", lambda: _cox_fit(inp), r, compare)
    return p


def check_cox_zph(inp, r):
    p = Problems()
    try:
        fit = _cox_fit(inp)
    except LTFU_ERRORS as exc:
        if "error" not in r:
            p.append(f"cox: ltfu raised {type(exc).__name__} ({_short(exc.message)}) where R answered")
        return p
    except Exception as exc:
        p.append(f"cox: ltfu crashed with {type(exc).__name__}: {_short(str(exc))}")
        return p
    if "error" in r:
        p.append(f"cox: R failed ({_short(r['error'])}) but ltfu answered")
        return p
    for tr in ("km", "rank", "identity"):
        def compare(z, ref, tr=tr):
            p.close(f"{tr} chisq", np.r_[z.statistic, z.global_test.statistic], ref["chisq"], rtol=RTOL_ITER)
            p.close(f"{tr} df", np.r_[z.df, z.global_test.df], ref["df"])
            p.close(f"{tr} p", np.r_[z.p_value, z.global_test.p_value], ref["p"], rtol=RTOL_ITER)
        p.outcome(tr, lambda tr=tr: cox_zph(fit, transform=tr), r[tr], compare)
    return p


def check_cumulative_incidence(inp, r):
    p = Problems()
    g = opt(inp, "group", str)
    times = arr(inp["times"])

    def compare(ci, r):
        for c in r["curves"]:
            grp = None if g is None else c["group"]
            a = ci.at(times, cause=int(c["cause"]), group=grp)
            p.close(f"group {c['group']} cause {c['cause']:g} estimate", a.estimate, c["est"])
            p.close(f"group {c['group']} cause {c['cause']:g} variance", a.variance, c["var"])
    # cmprsk compares raw times: ltfu's timefix=False is its rule (ltfu's default merges near-equal
    # times as survival does, a documented difference)
    p.outcome("cuminc", lambda: cumulative_incidence(arr(inp["time"]), arr(inp["status"]), group=g, timefix=False),
              r, compare)
    return p


def check_gray_test(inp, r):
    p = Problems()
    # cmprsk reports statistic -1 (p = 1) for a cause whose variance is singular: no test.  If that
    # holds for every cause, ltfu must raise; if only for some, ltfu must still answer for the others.
    if "error" not in r and all(s == -1 for s in r["statistic"]):
        r = {"error": "cmprsk: statistic -1 (singular variance) for every cause", **r}
    elif "error" not in r:
        r = {**r, "statistic": [None if s == -1 else s for s in r["statistic"]],
             "p_value": [None if s == -1 else pv for s, pv in zip(r["statistic"], r["p_value"])]}

    def compare(res, r):
        p.close("causes", list(res.causes), r["cause"])
        p.close("statistic", res.statistic, r["statistic"])
        p.close("df", res.df, r["df"])
        p.close("p", res.p_value, r["p_value"])
    p.outcome("gray", lambda: gray_test(arr(inp["time"]), arr(inp["status"]), np.asarray(inp["group"]),
                                        strata=opt(inp, "strata", str), rho=inp["rho"], timefix=False), r, compare)
    return p


def check_fine_gray(inp, r):
    p = Problems()

    def compare(fit, r):
        p.close("coef", fit.coef, r["coef"])
        p.close("se", fit.se, r["se"], rtol=RTOL_ITER)
        p.close("loglik", fit.loglik, r["loglik"])
        p.close("null loglik", fit.loglik_null, r["loglik_null"])
    p.outcome("crr", lambda: fine_gray(matrix(inp["X"]), arr(inp["time"]), arr(inp["status"]),
                                       cause=int(inp["cause"]), timefix=False), r, compare)
    return p


def check_logistic(inp, r):
    p = Problems()

    def compare(fit, r):
        p.close("coef", fit.coef, r["coef"])
        p.close("se", fit.se, r["se"], rtol=RTOL_ITER)
        p.close("intercept", fit.intercept, r["intercept"])
    p.outcome("glm", lambda: logistic(matrix(inp["X"]), arr(inp["y"]), method="ml"), r, compare)
    return p


def check_fisher_exact(inp, r):
    p = Problems()
    table = np.array(inp["table"], dtype=float)

    def compare(res, r):
        p.close("p", res.p_value, r["p_value"])
        if table.shape == (2, 2):
            p.close("odds ratio", res.odds_ratio, r["odds_ratio"])
            p.close("conf int", [res.conf_int.lower, res.conf_int.upper], r["conf_int"])
    p.outcome("fisher", lambda: fisher_exact(table, alternative=inp["alternative"]), r, compare)
    return p


def check_binomial_ci(inp, r):
    p = Problems()

    def compare(est, r):
        p.close("ci", [est.value, est.lower, est.upper], [r["value"], r["lower"], r["upper"]])
    p.outcome("binom", lambda: binomial_ci(int(inp["x"]), int(inp["n"]), method=inp["method"],
                                           conf_level=inp["conf_level"]), r, compare)
    return p


def check_wilcoxon_ranksum(inp, r):
    p = Problems()

    def compare(res, r):
        p.close("W", res.statistic, r["statistic"])
        p.close("p", res.p_value, r["p_value"])
    p.outcome("wilcox", lambda: wilcoxon_ranksum(arr(inp["x"]), arr(inp["y"]), alternative=inp["alternative"],
                                                 exact=inp.get("exact"), correct=inp["correct"]), r, compare)
    return p


def check_mantel_byar(inp, r):
    p = Problems()

    def compare(mb, r):
        p.close("score statistic", mb.statistic, r["statistic"])
        p.close("p", mb.p_value, r["p_value"])
        p.close("hazard ratio", mb.hazard_ratio, r["hazard_ratio"])
        p.close("hr limits", [mb.hr_lower, mb.hr_upper], [r["hr_lower"], r["hr_upper"]], rtol=RTOL_ITER)
        p.close("n", [mb.n, mb.n_exposed], [r["n"], r["n_exposed"]])
    p.outcome("mantel-byar", lambda: mantel_byar(arr(inp["time"]), arr(inp["event"]), arr(inp["exposure"])),
              r, compare)
    return p


def check_landmark(inp, r):
    p = Problems()

    def compare(lm, r):
        p.close("n", [lm.n, lm.n_exposed, lm.n_unexposed], [r["n"], r["n_exposed"], r["n_unexposed"]])
        for name, km in (("exposed", lm.km_exposed), ("unexposed", lm.km_unexposed)):
            ref = r.get(f"median_{name}")
            if (km is None) != (ref is None):
                p.append(f"median {name}: {'ltfu' if km is None else 'R'} has no curve")
            elif km is not None:
                m = km.median
                p.close(f"median {name}", [m.value, m.lower, m.upper], [ref["value"], ref["lower"], ref["upper"]])
        lr = r["logrank"]
        no_test = "error" in lr or lr["events"] == 0
        if lm.test is None:
            if not no_test:
                p.append(f"log-rank: ltfu gave no test, R's chisq = {lr['statistic']}")
        elif no_test:
            p.append(f"log-rank: R has none ({_short(lr.get('error', 'no events'))}), ltfu gave {lm.test.statistic}")
        else:
            p.close("log-rank statistic", lm.test.statistic, lr["statistic"])
            p.close("log-rank df", lm.test.df, lr["df"])
    p.outcome("landmark", lambda: landmark(arr(inp["time"]), arr(inp["event"]), arr(inp["exposure"]),
                                           landmark=float(inp["landmark"])), r, compare)
    return p


CHECKERS = {name[len("check_"):]: f for name, f in list(globals().items()) if name.startswith("check_")}
CHECKERS["cox(weights)"] = check_cox          # case weights (coxph(weights=)): the same comparisons
FUNCTIONS = sorted(CHECKERS)


# ---------------------------------------------------------------------------------------------
# the lists of today's disagreements (see tests/reference/CROSSCHECK.md for the classes)
# (maintained with tests/crosscheck_classify.py, which decides each case's class by evidence)

SEP = " | "       # a case in two classes lists both

# classes where ltfu is wrong (being fixed; "NEW" = found by this cross-check)
TIMEFIX = "timefix: R merges times equal up to rounding (0.1 + 0.2 vs 0.3, aeqSurv); ltfu keeps them apart"
RMST_SE = "rmst-se-nan: RMST standard error NaN when the last observation is an event; R's is finite"
ROBUST_WALD = ("robust-wald-few-clusters: robust variance singular (clusters <= terms); R's generalized inverse "
               "answers, ltfu's solve gives ~1e17 or LinAlgError")
LOGIT_SEP = ("logistic-false-separation: ltfu claims separation, R's glm converges to a finite MLE (no separation by "
             "the LP check)")
ZPH_UNSCALED = ("R-zph-unscaled: at time scale 1e6 or 1e-6 the identity transform's information spans 1e12 and R's "
                "solve() calls it computationally singular; ltfu judges singularity after scaling to a unit diagonal "
                "(the test is invariant to the time unit) and answers")
TREND_SURVDIFF = ("R-trend-via-survdiff: the golden takes O, E and V from survdiff, which stops on the k-group "
                  "chi-square's singular variance; the trend statistic (c'(O - E))^2 / c'Vc is defined (c'Vc > 0) and "
                  "ltfu answers")
CRR_MIXED = ("R-crr-mixed-times: crr takes its censoring weights from survfit, which merges near-equal times "
             "(aeqSurv), but keeps the failure times raw; ltfu (timefix=False) agrees with crr run without aeqSurv")
RMSTD_P_SE0 = ("deliberate-rmst-p-se0: neither group has an event before tau, so the difference has no sampling "
               "variability; the golden's 2 pnorm(-|d / 0|) is 0, ltfu gives no p-value (nan)")
ROBUST_HUGE = ("R-robust-huge: a numerically singular robust variance gives Wald statistics near 1e21 in both; "
               "they agree to 1e-4 only and mean nothing")
LR_RANK = ("logrank-df-above-rank: the log-rank variance is singular (R's solve fails); ltfu answers with df = groups"
           " - 1, above the variance's rank")
FISHER_RXC = ("fisher-rxc-refused: ltfu refuses r x c tables with > 2,000,000 tables of the same margins; R's network"
              " algorithm answers")
FG_INFINITE = ("NEW finegray-infinite-undetected: monotone pseudo-likelihood (R: a tighter refit moves the "
               "coefficient); ltfu returns a finite coefficient instead of ConvergenceError")
GRAY_PARTIAL = ("NEW gray-one-cause-singular: cmprsk gives -1 (no test) for one cause only; ltfu refuses the test for"
                " every cause")
FISHER_REACH = ("fisher-rxc-beyond-reach: a strongly structured 4 x 5 table (p ~ 5e-8) exceeds the network "
                "algorithm's memory bound (1e7 values in one step) and is refused with the chi-square or Monte Carlo "
                "advice; R's FEXACT answers it in 0.06 s (its pruning of past probabilities is tighter here)")
FISHER_EMPTY = "NEW fisher-empty-table: ltfu returns p = 1 for a table of zeros; R refuses (FEXACT error 3)"

# classes where R's answer is not the reference
TIMEFIX_ABS = ("R-timefix-absolute: aeqSurv's absolute tolerance 1.5e-8 merges distinct times at scale 1e-6 (or "
               "rejects an interval of effective length 0)")
DF_MINUS_ONE = "R-survdiff-no-events: without events R's df = sum(E > 0) - 1 = -1 (ltfu 0)"
P_DF0 = "R-survdiff-df0-p: only one group has expected events, so there is no test (df 0): R reports p = 1, ltfu NaN"
CMPRSK_NOEVENTS = ("R-cmprsk-no-events: cuminc crashes without any event ('NAs in foreign function call'); ltfu "
                   "returns no causes (no curves, an empty Gray test)")
CMPRSK_TEST_NAN = ("R-cuminc-test-nan: cuminc with groups also computes Gray's test; where that meets a NaN "
                   "(Fortran) no estimates are returned at all")
RMST_TAU_LOW = "R-rmst-tau-below-first-time: R refuses tau below the first observed time; the RMST is tau"


KNOWN: dict[str, str] = {
    "fisher-0047": FISHER_REACH,
}

R_ARTEFACTS: dict[str, str] = {
    "ci-0026": CMPRSK_NOEVENTS,
    "ci-0032": CMPRSK_NOEVENTS,
    "ci-0059": CMPRSK_NOEVENTS,
    "ci-0081": CMPRSK_NOEVENTS,
    "ci-0087": CMPRSK_TEST_NAN,
    "ci-0102": CMPRSK_NOEVENTS,
    "ci-0111": CMPRSK_NOEVENTS,
    "ci-0162": CMPRSK_NOEVENTS,
    "ci-0169": CMPRSK_NOEVENTS,
    "ci-0170": CMPRSK_NOEVENTS,
    "cox-0427": ROBUST_HUGE,
    "fg-0004": CRR_MIXED,
    "fg-0019": CRR_MIXED,
    "fg-0024": CRR_MIXED,
    "fg-0055": CRR_MIXED,
    "fg-0068": CRR_MIXED,
    "fg-0095": CRR_MIXED,
    "fg-0110": CRR_MIXED,
    "fg-0114": CRR_MIXED,
    "fg-0121": CRR_MIXED,
    "fg-0141": CRR_MIXED,
    "fg-0143": CRR_MIXED,
    "fg-0149": CRR_MIXED,
    "gray-0029": CMPRSK_NOEVENTS,
    "gray-0047": CMPRSK_NOEVENTS,
    "gray-0050": CMPRSK_NOEVENTS,
    "gray-0124": CMPRSK_NOEVENTS,
    "gray-0125": CMPRSK_NOEVENTS,
    "gray-0152": CMPRSK_NOEVENTS,
    "gray-0162": CMPRSK_NOEVENTS,
    "gray-0163": CMPRSK_NOEVENTS,
    "lr-0002": DF_MINUS_ONE,
    "lr-0008": P_DF0,
    "lr-0009": DF_MINUS_ONE,
    "lr-0010": P_DF0,
    "lr-0021": DF_MINUS_ONE,
    "lr-0022": DF_MINUS_ONE,
    "lr-0026": P_DF0,
    "lr-0029": DF_MINUS_ONE,
    "lr-0040": DF_MINUS_ONE,
    "lr-0041": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0044": DF_MINUS_ONE,
    "lr-0048": DF_MINUS_ONE,
    "lr-0050": DF_MINUS_ONE,
    "lr-0054": DF_MINUS_ONE,
    "lr-0056": DF_MINUS_ONE,
    "lr-0058": DF_MINUS_ONE,
    "lr-0059": DF_MINUS_ONE,
    "lr-0065": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0066": P_DF0,
    "lr-0073": DF_MINUS_ONE,
    "lr-0076": DF_MINUS_ONE,
    "lr-0078": DF_MINUS_ONE,
    "lr-0080": DF_MINUS_ONE,
    "lr-0084": DF_MINUS_ONE,
    "lr-0086": DF_MINUS_ONE,
    "lr-0093": DF_MINUS_ONE,
    "lr-0095": DF_MINUS_ONE,
    "lr-0096": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0102": DF_MINUS_ONE,
    "lr-0106": DF_MINUS_ONE,
    "lr-0107": P_DF0,
    "lr-0123": DF_MINUS_ONE,
    "lr-0125": DF_MINUS_ONE,
    "lr-0132": DF_MINUS_ONE,
    "lr-0133": DF_MINUS_ONE,
    "lr-0136": TIMEFIX + SEP + P_DF0,
    "lr-0137": P_DF0,
    "lr-0141": DF_MINUS_ONE,
    "lr-0144": DF_MINUS_ONE,
    "lr-0146": DF_MINUS_ONE,
    "lr-0150": DF_MINUS_ONE,
    "lr-0152": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0160": DF_MINUS_ONE,
    "lr-0164": DF_MINUS_ONE,
    "lr-0179": DF_MINUS_ONE,
    "lr-0180": DF_MINUS_ONE,
    "lr-0184": DF_MINUS_ONE,
    "lr-0187": DF_MINUS_ONE,
    "lr-0188": TIMEFIX_ABS + SEP + DF_MINUS_ONE,
    "lr-0196": DF_MINUS_ONE,
    "lr-0198": DF_MINUS_ONE,
    "lr-0200": DF_MINUS_ONE,
    "lr-0202": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0210": DF_MINUS_ONE,
    "lr-0218": DF_MINUS_ONE,
    "lr-0229": DF_MINUS_ONE,
    "lr-0230": P_DF0,
    "lr-0232": DF_MINUS_ONE,
    "lr-0245": DF_MINUS_ONE,
    "lr-0247": DF_MINUS_ONE,
    "lr-0248": DF_MINUS_ONE,
    "lr-0253": DF_MINUS_ONE,
    "lr-0259": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0265": DF_MINUS_ONE,
    "lr-0266": DF_MINUS_ONE,
    "lr-0267": DF_MINUS_ONE,
    "lr-0271": TIMEFIX_ABS + SEP + DF_MINUS_ONE,
    "lr-0273": P_DF0,
    "lr-0281": DF_MINUS_ONE,
    "lr-0286": DF_MINUS_ONE,
    "lr-0299": DF_MINUS_ONE,
    "lr-0303": DF_MINUS_ONE,
    "lr-0309": DF_MINUS_ONE,
    "lr-0313": P_DF0,
    "lr-0315": DF_MINUS_ONE,
    "lr-0325": DF_MINUS_ONE,
    "lr-0334": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0341": TIMEFIX + SEP + DF_MINUS_ONE,
    "lr-0342": DF_MINUS_ONE,
    "lr-0343": DF_MINUS_ONE,
    "lr-0345": DF_MINUS_ONE,
    "lr-0350": DF_MINUS_ONE,
    "lr-0352": P_DF0,
    "lr-0358": DF_MINUS_ONE,
    "rmst-0001": RMST_TAU_LOW,
    "rmst-0009": RMST_TAU_LOW,
    "rmst-0012": TIMEFIX + SEP + RMST_TAU_LOW,
    "rmst-0046": RMST_TAU_LOW,
    "rmst-0050": RMST_TAU_LOW,
    "rmst-0063": TIMEFIX + SEP + RMST_TAU_LOW,
    "rmst-0068": RMST_TAU_LOW,
    "rmst-0079": RMST_TAU_LOW,
    "rmst-0095": RMST_TAU_LOW,
    "rmst-0096": RMST_TAU_LOW,
    "rmst-0105": RMST_TAU_LOW,
    "rmst-0111": RMST_TAU_LOW,
    "rmst-0112": RMST_TAU_LOW,
    "rmst-0139": RMST_TAU_LOW,
    "rmst-0147": TIMEFIX + SEP + RMST_TAU_LOW,
    "rmst-0156": RMST_TAU_LOW,
    "rmstd-0001": RMSTD_P_SE0,
    "rmstd-0008": RMSTD_P_SE0,
    "rmstd-0021": RMSTD_P_SE0,
    "rmstd-0025": RMSTD_P_SE0,
    "rmstd-0029": RMSTD_P_SE0,
    "rmstd-0048": RMSTD_P_SE0,
    "rmstd-0052": RMSTD_P_SE0,
    "rmstd-0053": RMSTD_P_SE0,
    "rmstd-0065": RMSTD_P_SE0,
    "rmstd-0071": RMSTD_P_SE0,
    "rmstd-0073": RMSTD_P_SE0,
    "rmstd-0084": RMSTD_P_SE0,
    "rmstd-0093": TIMEFIX + SEP + RMSTD_P_SE0,
    "rmstd-0103": RMSTD_P_SE0,
    "rmstd-0104": RMSTD_P_SE0,
    "rmstd-0116": RMSTD_P_SE0,
    "trend-0066": TREND_SURVDIFF,
    "trend-0126": TREND_SURVDIFF,
    "zph-0047": ZPH_UNSCALED,
    "zph-0098": ZPH_UNSCALED,
    "zph-0101": ZPH_UNSCALED,
    "zph-0137": ZPH_UNSCALED,
    "zph-0140": ZPH_UNSCALED,
    "zph-0149": ZPH_UNSCALED,
}


# ---------------------------------------------------------------------------------------------
# running (each function once per session, shared by the tests below)

@cache
def results(fn: str) -> dict:
    """case id -> list of disagreements (empty: agrees) for every case of ``fn``."""
    out = {}
    with np.errstate(all="ignore"):
        for case in CASES:
            if case["fn"] == fn:
                out[case["id"]] = list(CHECKERS[fn](case["input"], case["r"]))
    return out


def _summary(ids, res, limit=40):
    lines = [f"{i} [{BY_ID[i]['kind']}]: {'; '.join(res[i][:2])}" for i in sorted(ids)[:limit]]
    more = f"\n... and {len(ids) - limit} more" if len(ids) > limit else ""
    return "\n".join(lines) + more


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_agrees_with_r(fn):
    res = results(fn)
    assert res, f"no cases for {fn} in crosscheck.json"
    bad = [i for i, probs in res.items() if probs and i not in KNOWN and i not in R_ARTEFACTS]
    assert not bad, (f"{len(bad)} of {len(res)} {fn} cases disagree with R (not in KNOWN or R_ARTEFACTS):\n"
                     + _summary(bad, res))


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_known_disagreements_still_disagree(fn):
    """A case listed in KNOWN (or R_ARTEFACTS) that now agrees must leave the list."""
    res = results(fn)
    fixed = [i for i in res if not res[i] and (i in KNOWN or i in R_ARTEFACTS)]
    assert not fixed, (f"{len(fixed)} {fn} cases listed as disagreeing now agree with R; remove them from "
                       f"KNOWN / R_ARTEFACTS: {', '.join(sorted(fixed))}")


def test_lists_name_existing_cases_once():
    missing = sorted(i for i in (*KNOWN, *R_ARTEFACTS) if i not in BY_ID)
    assert not missing, f"ids not in crosscheck.json: {missing}"
    both = sorted(set(KNOWN) & set(R_ARTEFACTS))
    assert not both, f"listed as both a known ltfu bug and an R artefact: {both}"
    assert all(isinstance(v, str) and v.strip() for v in (*KNOWN.values(), *R_ARTEFACTS.values()))


def test_every_function_has_enough_cases():
    counts = Counter(c["fn"] for c in CASES)
    assert len(BY_ID) == len(CASES), "case ids are not unique"
    assert set(counts) == set(FUNCTIONS) | set(UNSUPPORTED), set(counts) ^ (set(FUNCTIONS) | set(UNSUPPORTED))
    functions = [fn for fn in FUNCTIONS if "(" not in fn]     # "cox(weights)": an option of cox, counted apart
    few = {fn: counts[fn] for fn in functions if counts[fn] < 100}
    assert not few, f"fewer than 100 cases: {few}"
    answered = {fn: sum("error" not in c["r"] for c in CASES if c["fn"] == fn) for fn in functions}
    assert min(answered.values()) >= 60, f"too few cases where R gives numbers: {answered}"


@pytest.mark.parametrize("fn", sorted(UNSUPPORTED))
def test_options_ltfu_lacks(fn):
    """R's answers for options ltfu does not offer yet; fails once the option exists, to switch them on."""
    func, param = UNSUPPORTED[fn]
    cases = [c for c in CASES if c["fn"] == fn]
    assert cases and all(param in c["input"] for c in cases)
    assert param not in inspect.signature(func).parameters, (
        f"ltfu.{func.__name__} now has '{param}': write a checker for the {len(cases)} '{fn}' cases in "
        "crosscheck.json and drop it from UNSUPPORTED")
    pytest.skip(f"{len(cases)} '{fn}' cases with R's answers: ltfu.{func.__name__} has no '{param}' yet")


# ---------------------------------------------------------------------------------------------
# python tests/test_crosscheck.py --list : every disagreement, by function (to maintain the lists)

if __name__ == "__main__":
    t0 = _time.perf_counter()
    by_reason = defaultdict(list)
    for fn in FUNCTIONS:
        for i, probs in results(fn).items():
            if probs:
                why = KNOWN.get(i) or R_ARTEFACTS.get(i) or "UNCLASSIFIED"
                by_reason[why].append(i)
                if "--list" in sys.argv:
                    print(f"{i}\t{why}\t{BY_ID[i]['kind']}\t{' | '.join(probs[:3])}")
    for why, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(ids):5d}  {why}", file=sys.stderr)
    print(f"{sum(map(len, by_reason.values()))} disagreements in {len(CASES)} cases, "
          f"{_time.perf_counter() - t0:.1f} s", file=sys.stderr)
