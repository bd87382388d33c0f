"""Did a subsequent allogeneic HCT change outcomes?  Time-dependent methods among CR/CRi patients
(Mantel-Byar, landmark, Simon-Makuch): a naive comparison from infusion gives the transplanted
group immortal time.  Shown in the survival section."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.analysis.common import fmt, fmt_ci, fmt_p, months, num
from ltfu.analysis.plan import Plan
from ltfu.defaults import COMPLETE_RESPONSE, DAYS_PER_MONTH
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.results import KMFigure, Part, Table


def computed(t, s, hct, opts) -> dict:
    """The time-dependent analyses of one endpoint among CR/CRi patients (times ``t``, status ``s``,
    the transplant day ``hct``, NaN for none), computed on the rows: n, the patients transplanted
    during follow-up, and when there is a contrast the Mantel-Byar test, the landmark analysis and
    the Simon-Makuch curves (or the error each raised).  ``ltfu.registry`` computes the same from
    an engine's counts."""
    exposed_in_follow_up = np.isfinite(hct) & (hct < t)
    out: dict[str, Any] = {"n": int(t.size), "n_transplanted": int(exposed_in_follow_up.sum()),
                           "t_max": float(t.max())}
    if out["n_transplanted"] in (0, out["n"]):
        return out
    from ltfu.stats.timedep import mantel_byar_of_split, simon_makuch_of_split

    rows = None
    try:
        rows = stats.split_at_event(t, s, hct)           # once for the test and the curves
        out["mantel_byar"] = mantel_byar_of_split(rows)
    except (ConvergenceError, InvalidInputError) as exc:
        out["mantel_byar"] = exc
    try:
        out["landmark"] = stats.landmark(t, s, hct, landmark=opts.landmark_days, conf_type=opts.conf_type,
                                         conf_level=opts.conf_level)
        if rows is None:                 # the split itself refused the data: say so as the curves would
            rows = stats.split_at_event(t, s, hct)
        out["simon_makuch"] = simon_makuch_of_split(rows, conf_type=opts.conf_type, conf_level=opts.conf_level)
    except (ConvergenceError, InvalidInputError) as exc:
        out["landmark"] = exc
        out.pop("simon_makuch", None)
    return out


CENSORED_AT_HCT = ("event-free survival is censored at an allogeneic HCT (--censor-at-hct), so no EFS time "
                   "follows a transplant")


def layout(label: str, key: str, c: dict, opts, rows: list, figures: list) -> dict:
    """One endpoint's numbers, table rows and Simon-Makuch figure from ``computed``'s dict
    (whichever path computed it)."""
    entry = {"n": c["n"], "n_transplanted": c["n_transplanted"]}
    if "mantel_byar" not in c:
        if key == "efs" and opts.censor_at_hct:          # not a fact about the data: the option's doing
            entry["note"] = CENSORED_AT_HCT
            rows.append((label, f"not analysed: {CENSORED_AT_HCT}", entry["n"], "", ""))
        return entry
    mb = c["mantel_byar"]
    if isinstance(mb, Exception):
        entry["mantel_byar"] = {"error": str(mb)}
    else:
        entry["mantel_byar"] = mb.to_dict()
        rows.append((label, "Mantel-Byar (time-dependent Cox, allo-HCT)", entry["n"],
                     fmt_ci(mb.hazard_ratio, mb.hr_lower, mb.hr_upper, 2), fmt_p(mb.p_value)))
    lm = c["landmark"]
    if isinstance(lm, Exception):
        entry["landmark"] = {"error": str(lm)}
        return entry
    sm = c["simon_makuch"]
    entry["landmark"] = {"landmark_days": lm.landmark, "n": lm.n, "n_exposed": lm.n_exposed,
                         "n_unexposed": lm.n_unexposed, "logrank": None if lm.test is None else lm.test.to_dict()}
    for side, km in (("exposed", lm.km_exposed), ("unexposed", lm.km_unexposed)):
        if km is not None:
            med = km.median
            entry["landmark"][f"median_{side}_months_from_landmark"] = {
                "value": num(months(med.value)), "lower": num(months(med.lower)), "upper": num(months(med.upper))}
    grid = np.arange(0, max(c["t_max"] / DAYS_PER_MONTH, 0) + 12, 12.0)
    unexposed, exposed = sm.n_at_risk(grid * DAYS_PER_MONTH)
    entry["simon_makuch"] = {"months": grid.tolist(), "n_at_risk_unexposed": unexposed.tolist(),
                             "n_at_risk_exposed": exposed.tolist(),
                             "first_transplant_months": num(months(sm.first_exposure)),
                             "note": "patients in each state at each time (entry < t <= exit; at month 0, those "
                                     "in the state from day 0); nobody is in the transplanted state before the "
                                     "first transplant"}
    medians = entry["landmark"]
    med = " vs ".join(f"{fmt(medians.get(f'median_{side}_months_from_landmark', {}).get('value'))}"
                      for side in ("exposed", "unexposed"))
    rows.append((label, f"Landmark at day {opts.landmark_days:g}: {lm.n_exposed} transplanted by then vs "
                 f"{lm.n_unexposed} not; median from the landmark {med} months (log-rank)", int(lm.n),
                 "not estimated (log-rank test)", fmt_p(lm.p_value)))
    figures.append(KMFigure(f"simon_makuch_{key}", f"{label} by subsequent allo-HCT (Simon-Makuch), CR/CRi patients",
                            (("No allo-HCT (yet)", sm.unexposed), ("After allo-HCT", sm.exposed)),
                            ylabel=f"{label} probability", test_name=None,
                            at_risk=(("No allo-HCT (yet)", sm.counts_in(False)),
                                     ("After allo-HCT", sm.counts_in(True))),
                            starts=(("After allo-HCT", sm.first_exposure),)))
    return entry


def transplant_part(numbers: dict, rows: list, figures: list) -> Part:
    """The part from the endpoints' numbers (``n_cr`` and one entry per endpoint), rows and figures."""
    table = Table("allo_hct", "Subsequent allogeneic HCT as a time-dependent exposure (CR/CRi patients)",
                  ("endpoint", "method", "n", "hazard ratio (95% CI)", "p"), tuple(rows),
                  notes=("A naive comparison of transplanted with non-transplanted patients from infusion "
                         "gives the transplanted group immortal time; these methods do not.",))
    return Part("allo_hct", numbers, (table,), tuple(figures))


def build(plan: Plan) -> Part:
    d, opts = plan.cohort.data, plan.options
    cr = d["best_response"].isin(COMPLETE_RESPONSE).fillna(False).to_numpy()
    numbers: dict[str, Any] = {"n_cr": int(cr.sum())}
    rows: list[tuple] = []
    figures: list[Any] = []
    for key in ("efs", "os"):
        e = plan.survival_endpoints[key]
        keep = pd.Series(plan.aligned(e, "best_response")).isin(COMPLETE_RESPONSE).to_numpy()
        if keep.sum() < 3:
            continue
        hct = plan.aligned(e, "allo_hct_day")[keep].astype(float)
        numbers[key] = layout(e.label, e.name, computed(e.time[keep], e.status[keep], hct, opts), opts, rows, figures)
    return transplant_part(numbers, rows, figures)
