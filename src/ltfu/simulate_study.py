"""The longitudinal tables of a SYNTHETIC registry (``ltfu.simulate``): adverse events, assessments
and therapies of every simulated patient, vectorised (numpy), for benchmarks at registry scale.

Internally consistent, so that the study validates without errors: every onset, sample and therapy
lies between the infusion and the patient's last contact (death included); resolutions and ends
come after their starts and are left open when they would fall after the last contact; values lie
within each test's plausible range, in its canonical unit or one ltfu converts.

* **events**: rates per patient-year by category, piecewise constant over 0-3 months, 3-12 months
  and later (infections falling from 5 to 0.85 per patient-year, cytopenias early, second primary
  malignancies rare, of the subtypes of ``ltfu.study.schema.SUBTYPES``); a repeated (patient,
  term, onset day) is drawn again as one event.  About 5 events per patient.
* **assessments**: the tests of ``ltfu.study.schema.TESTS`` at days 7, 14, 28, 60, 90, 180, 270,
  365 and then yearly to 15 years while followed, each test on its own schedule (blood counts
  early, B cells, IgG and CAR copies through the years, RCL yearly), visits missed now and then and
  tests not reported at some visits, so about 15 rows per patient.  B-cell aplasia then recovery
  (in most patients in remission), IgG low then recovering six months after the B cells, blood
  counts recovering after two weeks (a few late cytopenias), CAR copies peaking at day 7-14 and
  decaying, lost in some.  Some centres report counts in 10^9/L, IgG in mg/dL, haemoglobin in g/L.
* **therapies**: the patient table's allogeneic transplants (start = end = ``allo_hct_date``),
  anticancer therapy 3-20 days after a relapse, IVIG courses while IgG is low.

The data are SYNTHETIC: drawn from simple parametric rates, not from any patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltfu.study.schema import SUBTYPES

DAYS_PER_YEAR = 365.25
EARLY = (7, 14, 28, 60, 90, 180, 270, 365)
YEARLY = tuple(round(k * DAYS_PER_YEAR) for k in range(2, 16))
LABELS = {7: "day 7", 14: "day 14", 28: "day 28", 60: "day 60", 90: "day 90", 180: "month 6", 270: "month 9",
          365: "year 1", **{d: f"year {k}" for k, d in zip(range(2, 16), YEARLY)}}
#: test -> the early visit days it is measured at (and yearly after the first year when True)
SCHEDULE = {
    "anc_per_ul": ((7, 14, 28, 60, 90, 180, 365), True),
    "platelets_per_ul": ((7, 14, 28, 60, 90), False),
    "cd19_pct": ((28, 90, 180, 365), True),
    "b_cells_per_ul": ((90, 365), False),
    "igg_g_per_l": ((90, 180, 365), True),
    "car_transgene_copies_per_ug": ((7, 14, 28, 90, 180, 365), False),
    "haemoglobin_g_per_dl": ((28, 365), False),
    "rcl_result": ((365,), True),
}
REPORTED = 0.69             # a scheduled test is reported at an attended visit
ATTENDED = 0.9              # a visit is attended (after the first year: 0.88, and 10% stop coming)
#: category -> (rate per patient-year in 0-3 months, 3-12 months, later; terms by subtype)
EVENT_RATES = {
    "infection": ((5.0, 2.0, 0.85), {"bacterial": "Bacteraemia", "viral": "Respiratory viral infection",
                                    "fungal": "Invasive aspergillosis", "other": "Infection, unspecified"}),
    "haematological": ((3.2, 0.7, 0.25), {None: "Neutropenia"}),
    "other": ((1.0, 0.75, 0.5), {None: "Fatigue"}),
    "hypogammaglobulinaemia": ((0.5, 0.35, 0.15), {None: "Hypogammaglobulinaemia"}),
    "neurological": ((0.4, 0.15, 0.08), {None: "Peripheral neuropathy"}),
    "autoimmune": ((0.05, 0.05, 0.04), {None: "Autoimmune thyroiditis"}),
    "second_primary_malignancy": ((0.005, 0.01, 0.015), {"haematological": "Myelodysplastic syndrome",
                                                        "solid": "Breast carcinoma",
                                                        "non_melanoma_skin": "Basal cell carcinoma",
                                                        "t_cell": "Peripheral T-cell lymphoma"}),
}
SUBTYPE_P = {"infection": (0.45, 0.4, 0.1, 0.05), "second_primary_malignancy": (0.35, 0.4, 0.23, 0.02)}
WINDOWS = ((0.0, 91.3125), (91.3125, DAYS_PER_YEAR), (DAYS_PER_YEAR, np.inf))


def _days(patients: pd.DataFrame, column: str) -> np.ndarray:
    inf = patients["infusion_date"].to_numpy("datetime64[D]")
    d = patients[column].to_numpy("datetime64[D]")
    out = (d - inf).astype(float)
    out[np.isnat(d)] = np.nan
    return out


def _dates(infusion, days) -> np.ndarray:
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = np.isfinite(days)
    out[ok] = infusion[ok] + days[ok].astype(np.int64).astype("timedelta64[D]")
    return out


def simulate_tables(patients: pd.DataFrame, *, seed: int = 1) -> dict[str, pd.DataFrame]:
    """Events, assessments and therapies of the simulated ``patients`` (``ltfu.simulate.simulate``),
    with dates (datetime64[D]) as the patient table has them."""
    rng = np.random.default_rng([seed, 2])
    n = len(patients)
    inf = patients["infusion_date"].to_numpy("datetime64[D]")
    end = _days(patients, "last_contact_date")             # death or last contact, <= the cut-off
    relapse = _days(patients, "relapse_date")
    hct = _days(patients, "allo_hct_date")
    cr = patients["best_response"].isin(["CR", "CRi"]).to_numpy()
    cd19neg = (patients["relapse_cd19"] == "negative").to_numpy()
    centre = patients["centre"].str[1:].astype(int).to_numpy()
    # per patient: B-cell recovery, IgG, CAR persistence
    rec = np.where(cr & (rng.random(n) < 0.75), np.exp(rng.normal(np.log(75), 0.5, n)), np.inf)
    rec = np.where(np.isfinite(relapse) & ~cd19neg, np.fmin(rec, relapse + 30), rec)
    loss = np.where(rng.random(n) < 0.6, np.fmin(rec, np.exp(rng.normal(np.log(150), 0.6, n))), rec)
    peak = 10 ** rng.normal(4.5, 0.4, n)
    tables = {"events": _events(rng, patients["patient_id"].to_numpy(object), inf, end),
              "assessments": _assessments(rng, patients["patient_id"].to_numpy(object), inf, end, rec, loss, peak,
                                          centre),
              "therapies": _therapies(rng, patients["patient_id"].to_numpy(object), inf, end, relapse, hct, rec)}
    return tables


def _events(rng, ids, inf, end):
    pid, onset, cats, subs = [], [], [], []
    for cat, (rates, _terms) in EVENT_RATES.items():
        for (lo, hi), rate in zip(WINDOWS, rates):
            top = np.fmin(end, hi)
            exposure = np.clip(top - lo, 0, None) / DAYS_PER_YEAR
            k = rng.poisson(rate * exposure)
            who = np.repeat(np.arange(ids.size), k)
            day = np.floor(rng.uniform(lo, top[who]))
            pid.append(who)
            onset.append(np.clip(day, 0, end[who]))
            cats.append(np.full(who.size, cat, dtype=object))
            if cat in SUBTYPES:
                subs.append(np.asarray(SUBTYPES[cat], dtype=object)[rng.choice(4, who.size, p=SUBTYPE_P[cat])])
            else:
                subs.append(np.full(who.size, None, dtype=object))
    who, onset, cat, sub = (np.concatenate(x) for x in (pid, onset, cats, subs))
    term = np.empty(who.size, dtype=object)
    for c, (_rates, terms) in EVENT_RATES.items():
        for s, t in terms.items():
            term[(cat == c) & ((sub == s) if s is not None else True)] = t
    ev = pd.DataFrame({"who": who, "term": term, "onset": onset, "category": cat, "subtype": sub})
    ev = ev.drop_duplicates(["who", "term", "onset"]).sort_values(["who", "onset"], kind="stable")
    who, onset, cat = ev["who"].to_numpy(), ev["onset"].to_numpy(float), ev["category"].to_numpy(object)
    m = who.size
    spm = cat == "second_primary_malignancy"
    grade = np.where(spm, rng.choice([1, 3, 4], m, p=[0.3, 0.5, 0.2]), rng.choice([1, 2, 3, 4], m,
                                                                                 p=[0.3, 0.4, 0.25, 0.05]))
    resolution = onset + np.where(spm, rng.integers(30, 365, m), rng.integers(3, 60, m))
    resolution = np.where((resolution <= end[who]) & ~(spm & (ev["subtype"].to_numpy(object) == "haematological")),
                          resolution, np.nan)
    transgene = np.where(spm, np.where(ev["subtype"].to_numpy(object) == "t_cell",
                                       np.where(rng.random(m) < 0.5, "positive", "negative"), "not_tested"), None)
    return pd.DataFrame({
        "patient_id": ids[who], "term": ev["term"].to_numpy(object), "category": cat,
        "subtype": ev["subtype"].to_numpy(object), "onset_date": _dates(inf[who], onset),
        "resolution_date": _dates(inf[who], resolution), "grade": grade.astype(np.int64),
        "serious": np.where(grade >= 3, "yes", "no"),
        "outcome": np.where(np.isfinite(resolution), "recovered", "ongoing"),
        "related": np.where(cat == "infection", "possible", "unlikely"), "transgene_test": transgene})


def _visits(rng, end):
    """(patient index, day) of every attended visit, by patient then day."""
    n = end.size
    days = np.asarray(EARLY + YEARLY, float)
    stops = rng.random(n) < 0.1
    att = rng.random((n, days.size)) < np.where(days > 365, 0.88, ATTENDED)
    att &= days[None, :] <= end[:, None]
    att &= ~(stops[:, None] & (days[None, :] > 365))
    who, j = np.nonzero(att)
    return who, days[j]


def _assessments(rng, ids, inf, end, rec, loss, peak, centre):
    v_who, v_day = _visits(rng, end)
    parts = []
    for test, (early, yearly) in SCHEDULE.items():
        on = np.isin(v_day, early) | (yearly & (v_day > 365))
        on &= rng.random(v_day.size) < REPORTED
        parts.append((test, v_who[on], v_day[on]))
    out = []
    si_counts = (centre % 5) == 0               # a fifth of the centres: counts in 10^9/L
    mg_igg = (centre % 7) == 0                  # IgG in mg/dL
    gl_hb = (centre % 4) == 1                   # haemoglobin in g/L
    for test, who, day in parts:
        m = who.size
        r = rec[who]
        unit = None
        if test == "b_cells_per_ul":
            v = np.where(day >= r, np.minimum(rng.lognormal(np.log(150), 0.5, m), 5000), rng.uniform(0, 8, m))
            unit = np.full(m, "cells/uL", dtype=object)
        elif test == "cd19_pct":
            v = np.where(day >= r, rng.uniform(4, 15, m), rng.uniform(0, 0.5, m))
            unit = np.full(m, "%", dtype=object)
        elif test == "igg_g_per_l":
            v = np.minimum(rng.lognormal(np.log(np.where(day >= r + 180, 7.5, 4.2)), 0.25), 60)
            unit = np.where(mg_igg[who], "mg/dL", "g/L").astype(object)
            v = np.where(mg_igg[who], np.round(v * 100, 0), v)
        elif test in ("anc_per_ul", "platelets_per_ul"):
            if test == "anc_per_ul":
                v = rng.lognormal(np.log(np.where(day <= 14, 250, 2500)), 0.4)
                late = (day >= 60) & (rng.random(m) < 0.08)
                v = np.where(late, rng.uniform(200, 480, m), v)
            else:
                v = np.minimum(rng.lognormal(np.log(np.where(day <= 14, 15000, 160000)), 0.4), 1.5e6)
            si = si_counts[who]
            unit = np.where(si, "x10^9/L", "cells/uL").astype(object)
            v = np.where(si, np.round(v / 1000, 3), v)
        elif test == "haemoglobin_g_per_dl":
            v = np.clip(rng.normal(np.where(day <= 28, 9.0, 12.5), 1.0), 4, 20)
            unit = np.where(gl_hb[who], "g/L", "g/dL").astype(object)
            v = np.where(gl_hb[who], np.round(v * 10, 1), v)
        elif test == "car_transgene_copies_per_ug":
            v = np.where(day < loss[who], peak[who] * np.exp(-day / 60), 0.0)
            unit = np.full(m, "copies/ug DNA", dtype=object)
        else:
            v = None
        if v is None:
            value = np.where(rng.random(m) < 0.002, "indeterminate", "negative").astype(object)
            unit = np.full(m, None, dtype=object)
        else:
            value = np.round(v, 2).astype(str).astype(object)
        out.append(pd.DataFrame({"who": who, "day": day, "test": test, "value": value, "unit": unit}))
    a = pd.concat(out, ignore_index=True).sort_values(["who", "day"], kind="stable")
    who, day = a["who"].to_numpy(), a["day"].to_numpy(float)
    label = np.asarray([LABELS[int(d)] for d in EARLY + YEARLY], dtype=object)
    index = np.searchsorted(np.asarray(EARLY + YEARLY, float), day)
    return pd.DataFrame({"patient_id": ids[who], "date": _dates(inf[who], day), "visit": label[index],
                         "test": a["test"].to_numpy(object), "value": a["value"].to_numpy(object),
                         "unit": a["unit"].to_numpy(object)})


def _therapies(rng, ids, inf, end, relapse, hct, rec):
    n = ids.size
    parts = []
    h = np.flatnonzero(np.isfinite(hct))
    parts.append((h, "allo_hct", hct[h], hct[h]))
    r = np.flatnonzero(np.isfinite(relapse))
    start = relapse[r] + rng.integers(3, 21, r.size)
    ok = start <= end[r]
    r, start = r[ok], start[ok]
    parts.append((r, "anticancer", start, np.fmin(end[r], start + 60)))
    v = np.flatnonzero((rng.random(n) < 0.45) & (end > 120))
    start = rng.integers(60, 120, v.size).astype(float)
    stop = np.fmin(end[v], np.where(np.isfinite(rec[v]), np.maximum(np.ceil(rec[v]) + 180, start), start + 365))
    parts.append((v, "ivig", start, stop))
    who = np.concatenate([p[0] for p in parts])
    kind = np.concatenate([np.full(p[0].size, p[1], dtype=object) for p in parts])
    s = np.concatenate([p[2] for p in parts])
    e = np.concatenate([p[3] for p in parts])
    order = np.lexsort((s, who))
    who, kind, s, e = who[order], kind[order], s[order], e[order]
    return pd.DataFrame({"patient_id": ids[who], "type": kind, "start_date": _dates(inf[who], s),
                         "end_date": _dates(inf[who], e)})
