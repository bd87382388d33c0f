"""Sort every disagreement of tests/test_crosscheck.py into its class, to maintain KNOWN / R_ARTEFACTS.

    PYTHONPATH=src python tests/crosscheck_classify.py            # counts per class, unclassified cases
    PYTHONPATH=src python tests/crosscheck_classify.py --write    # rewrite the two dicts in the test file

A class is decided by evidence, not by the case's description: for R's timefix the case is re-run
with its times merged as R's ``aeqSurv`` merges them, and it must then agree.  Cases no rule
explains are printed as UNCLASSIFIED, for a human to look at (and a rule to be added here).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import test_crosscheck as tc

# ---------------------------------------------------------------------------------------------
# the classes: (dict, one-line reason)
CLASSES = {  # class -> (which list, name of the reason constant in test_crosscheck.py)
    "timefix": ("KNOWN", "TIMEFIX"),
    "rmst_se": ("KNOWN", "RMST_SE"),
    "robust_wald": ("KNOWN", "ROBUST_WALD"),
    "logit_sep": ("KNOWN", "LOGIT_SEP"),
    "zph_singular": ("R", "ZPH_UNSCALED"),
    "crr_mixed": ("R", "CRR_MIXED"),
    "trend_survdiff": ("R", "TREND_SURVDIFF"),
    "rmstd_p_se0": ("R", "RMSTD_P_SE0"),
    "robust_huge": ("R", "ROBUST_HUGE"),
    "lr_rank": ("KNOWN", "LR_RANK"),
    "fisher_rxc": ("KNOWN", "FISHER_RXC"),
    "fisher_reach": ("KNOWN", "FISHER_REACH"),
    "fg_infinite": ("KNOWN", "FG_INFINITE"),
    "gray_partial": ("KNOWN", "GRAY_PARTIAL"),
    "fisher_empty": ("KNOWN", "FISHER_EMPTY"),
    "timefix_abs": ("R", "TIMEFIX_ABS"),
    "df_minus_one": ("R", "DF_MINUS_ONE"),
    "p_df0": ("R", "P_DF0"),
    "cmprsk_noevents": ("R", "CMPRSK_NOEVENTS"),
    "cmprsk_test_nan": ("R", "CMPRSK_TEST_NAN"),
    "rmst_tau_low": ("R", "RMST_TAU_LOW"),
}


# ---------------------------------------------------------------------------------------------
# R's timefix (survival:::aeqSurv): sorted distinct times, a difference within
# sqrt(eps) (absolute) or sqrt(eps) * mean(|y|) ties a value to the previous one (chains), and
# every value becomes the first of its chain
TOL = np.sqrt(np.finfo(float).eps)


def aeq_map(values, *, absolute=True):
    y = np.unique(np.asarray(values, float))
    y = y[np.isfinite(y)]
    if y.size < 2:
        return {}
    dy = np.diff(y)
    tied = dy / np.mean(np.abs(y)) <= TOL
    if absolute:
        tied |= dy <= TOL
    if not tied.any():
        return {}
    cuts = y[np.r_[True, ~tied]]
    return {v: cuts[np.searchsorted(cuts, v, side="right") - 1] for v in y}


def _apply(m, x):
    return [None if v is None else float(m.get(v, v)) for v in x]


def merged_input(case, absolute):
    """The case's input with times merged as R merges them, or None if nothing merges (or the
    function has no timefix in R)."""
    fn, inp = case["fn"], dict(case["input"])
    if fn in ("kaplan_meier", "cox", "cox_zph"):
        vals = list(inp["time"]) + list(inp.get("entry") or [])
        m = aeq_map(vals, absolute=absolute)
        if not m:
            return None
        inp["time"] = _apply(m, inp["time"])
        if inp.get("entry") is not None:
            inp["entry"] = _apply(m, inp["entry"])
        return inp
    if fn in ("median_follow_up", "rmst", "rmst_difference", "logrank", "logrank_trend", "fine_gray"):
        m = aeq_map(inp["time"], absolute=absolute)
        if not m:
            return None
        inp["time"] = _apply(m, inp["time"])
        return inp
    if fn == "mantel_byar":
        vals = list(inp["time"]) + [v for v in inp["exposure"] if v is not None]
        m = aeq_map(vals, absolute=absolute)
        if not m:
            return None
        inp["time"] = _apply(m, inp["time"])
        inp["exposure"] = _apply(m, inp["exposure"])
        return inp
    if fn == "landmark":
        lm = float(inp["landmark"])
        after = [t - lm for t in inp["time"] if t > lm]
        m = aeq_map(after, absolute=absolute)
        if not m:
            return None
        inp["time"] = [lm + float(m.get(t - lm, t - lm)) if t > lm else t for t in inp["time"]]
        return inp
    return None


def agrees_after_merge(case, absolute):
    inp = merged_input(case, absolute)
    if inp is None:
        return False
    with np.errstate(all="ignore"):
        return not tc.CHECKERS[case["fn"]](inp, case["r"])


def _crr_weights(t, fstatus):
    """G(t_i-) as cmprsk::crr computes it: survfit of the censoring times (aeqSurv merges near-equal
    times), read with approx(method = "constant", f = 0) at ftime * (1 - 100 eps)."""
    from ltfu.stats import kaplan_meier

    eps = np.finfo(float).eps
    m = aeq_map(t, absolute=True)
    km = kaplan_meier(np.array([m.get(v, v) for v in t]), (fstatus == 0).astype(int), conf_type="log")
    x = np.r_[min(0.0, km.time[0]) - 10 * eps, km.time, km.time[-1] * (1 + 10 * eps)]
    y = np.r_[1.0, km.survival, 0.0]
    idx = np.clip(np.searchsorted(x, t * (1 - 100 * eps), side="right") - 1, 0, x.size - 1)
    return y[idx]


def _with_crr_weights(case):
    """The disagreements left when ltfu's Fine-Gray uses crr's censoring weights (a diagnostic)."""
    import ltfu.stats.finegray as fg

    orig = fg._censoring_weights
    fg._censoring_weights = _crr_weights
    try:
        with np.errstate(all="ignore"):
            return list(tc.CHECKERS["fine_gray"](case["input"], case["r"]))
    finally:
        fg._censoring_weights = orig


# ---------------------------------------------------------------------------------------------

def classify(case, probs):
    """The classes that explain a case's disagreements (list), or None."""
    fn, r, text = case["fn"], case["r"], " | ".join(probs)
    # R's merging of near-equal times: re-run with the times merged as R merges them; what still
    # disagrees must be explained by another class
    for absolute, cls in ((False, "timefix"), (True, "timefix_abs")):
        inp = merged_input(case, absolute)
        if inp is None:
            continue
        with np.errstate(all="ignore"):
            rest = list(tc.CHECKERS[fn](inp, r))
        if not rest:
            return [cls]
        other = pattern_classes(case, rest)
        if other:
            return [cls, *other]
    if "aeqSurv exception" in text:
        return ["timefix_abs"]
    if fn == "fine_gray" and "without_timefix" in r:
        # R's answer with aeqSurv switched off (crr's censoring weights come from survfit)
        with np.errstate(all="ignore"):
            rest = list(tc.CHECKERS[fn](case["input"], r["without_timefix"]))
        if not rest:
            return ["crr_mixed"]
        # crr also reads the weights at ftime * (1 - 100 eps), which ties times 1 ulp apart: re-run
        # ltfu with censoring weights computed as crr computes them
        if not _with_crr_weights(case):
            return ["crr_mixed"]
    return pattern_classes(case, probs)


def pattern_classes(case, probs):
    fn, r, text = case["fn"], case["r"], " | ".join(probs)
    if fn in ("rmst", "rmst_difference"):
        if "Truncation point" in text:
            return ["rmst_tau_low"]
        if fn == "rmst_difference" and all(" p (NA pattern): ltfu [nan] vs R [0]" in p for p in probs):
            return ["rmstd_p_se0"]
        if all(("se (" in p or " p (" in p) and "(NA pattern)" in p for p in probs):
            return ["rmst_se"]
    if fn == "logrank":
        if all(p.startswith("df (") for p in probs) and r.get("df") == -1:
            return ["df_minus_one"]
        if all(p.startswith("p (") for p in probs) and r.get("df") == 0:
            return ["p_df0"]
        if "singular" in r.get("error", ""):
            return ["lr_rank"]
    if fn == "logrank_trend" and "singular" in r.get("error", ""):
        return ["trend_survdiff"]
    if fn == "landmark" and all(p.startswith("log-rank: R has none (Lapack") for p in probs):
        return ["lr_rank"]
    if fn == "cox" and case["input"].get("cluster") and all("Wald test (values)" in p for p in probs) and \
            all(abs(v) > 1e12 for v in np.atleast_1d(r.get("wald") or [0])):
        return ["robust_huge"]
    if fn in ("cox", "cox_zph") and case["input"].get("cluster") and \
            all("Wald test" in p or "LinAlgError" in p for p in probs):
        return ["robust_wald"]
    if fn == "cox_zph" and all(re.search(r"R failed \((Lapack routine dgesv: system is exactly singular|system is "
                                         r"computationally singular)", p) for p in probs):
        return ["zph_singular"]
    if fn == "logistic" and all("separation" in p and "ltfu raised" in p for p in probs) and \
            not r.get("separated", True):
        return ["logit_sep"]
    if fn == "fisher_exact":
        if "tables share its margins" in text:
            return ["fisher_rxc"]
        if "beyond the exact test's reach" in text:
            return ["fisher_reach"]
        if "All elements of TABLE are zero" in r.get("error", ""):
            return ["fisher_empty"]
    if fn == "fine_gray" and "monotone pseudo-likelihood" in r.get("error", "") and "ltfu answered" in text:
        return ["fg_infinite"]
    if fn == "gray_test" and "singular" in text and "ltfu raised" in text and \
            any(s != -1 for s in r.get("statistic", [])):
        return ["gray_partial"]
    if fn in ("cumulative_incidence", "gray_test") and "NAs in foreign function call" in r.get("error", ""):
        return ["cmprsk_noevents"]
    if fn == "cumulative_incidence" and "NA/NaN/Inf in foreign function call" in r.get("error", ""):
        return ["cmprsk_test_nan"]
    return None


def main():
    by_class = defaultdict(list)
    for fn in tc.FUNCTIONS:
        for cid, probs in tc.results(fn).items():
            if probs:
                cls = classify(tc.BY_ID[cid], probs)
                by_class[None if cls is None else tuple(cls)].append(cid)
    for cls, ids in sorted(by_class.items(), key=lambda kv: (kv[0] is None, -len(kv[1]))):
        print(f"{len(ids):5d}  {' + '.join(cls) if cls else 'UNCLASSIFIED'}")
    for cid in sorted(by_class.get(None, [])):
        print(f"UNCLASSIFIED {cid} [{tc.BY_ID[cid]['kind']}]: {' | '.join(tc.results(tc.BY_ID[cid]['fn'])[cid][:3])}")
    if "--repro" in sys.argv:
        # the smallest case of each class (fewest numbers in its input), for CROSSCHECK.md
        for cls, ids in sorted(by_class.items(), key=lambda kv: -len(kv[1])):
            if cls is None:
                continue
            cid = min(ids, key=lambda i: (len(json.dumps(tc.BY_ID[i]["input"])), i))
            case = tc.BY_ID[cid]
            print(f"\n### {' + '.join(cls)}: {len(ids)} cases, smallest {cid} [{case['kind']}]")
            print("input:", json.dumps(case["input"]))
            print("R:", json.dumps(case["r"])[:700])
            print("ltfu vs R:", " | ".join(tc.results(case["fn"])[cid][:4]))
    if "--write" in sys.argv:
        blocks = {"KNOWN": [], "R": []}
        for cls, ids in by_class.items():
            if cls is None:
                continue
            which = "R" if any(CLASSES[c][0] == "R" for c in cls) else "KNOWN"
            const = " + SEP + ".join(CLASSES[c][1] for c in cls)
            blocks[which] += [(cid, const) for cid in ids]
        path = Path(tc.__file__)
        text = path.read_text()
        for which, name in (("KNOWN", "KNOWN"), ("R", "R_ARTEFACTS")):
            body = "".join(f'    "{cid}": {const},\n' for cid, const in sorted(blocks[which]))
            new = f"{name}: dict[str, str] = {{\n{body}}}\n"
            text = re.sub(rf"^{name}: dict\[str, str\] = \{{\n.*?^\}}\n", lambda _m, new=new: new,
                          text, count=1, flags=re.S | re.M)
        path.write_text(text)
        print(f"wrote {len(blocks['KNOWN'])} KNOWN and {len(blocks['R'])} R_ARTEFACTS entries to {path}")


if __name__ == "__main__":
    main()
