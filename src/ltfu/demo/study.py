"""The SYNTHETIC demonstration study: the 53 synthetic patients of ``ltfu.demo`` plus made-up
adverse events, assessments and therapies over their follow-up.  Not patient data.

Magnitudes follow published long-term follow-up of CD19 CAR T cells, not any patient:

* second primary malignancies in about 6% by about two years (here 3 of 53: a myelodysplastic
  syndrome, a solid tumour, a non-melanoma skin cancer), none of T-cell origin (rare);
* infections about 5.6 per 100 person-months in the first months, falling later (about 1 per
  100 person-months after the first year); neurological, autoimmune and haematological events and
  hypogammaglobulinaemia at low rates;
* assessments at days 7, 14, 28, 60, 90, 180, 270, 365, then yearly while followed: CD19+ B cells
  (aplasia for about two months, recovery in most who stay in remission), IgG (low during aplasia, IVIG when
  below 4 g/L), neutrophils and platelets (early cytopenia recovering within weeks), haemoglobin,
  CAR transgene copies (peak at day 7-14, then decline; loss in some patients);
* therapies: the cohort's allogeneic transplants, anticancer therapy after relapse, IVIG courses.

Everything is a seeded function of the cohort, so the files are reproducible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 20240611
VISITS = (7, 14, 28, 60, 90, 180, 270, 365)
VISIT_LABELS = {7: "day 7", 14: "day 14", 28: "day 28", 60: "day 60", 90: "day 90", 180: "month 6",
                270: "month 9", 365: "year 1"}
DAYS_PER_YEAR = 365.25


def _days(df, col):
    inf = pd.to_datetime(df["infusion_date"])
    return (pd.to_datetime(df[col]) - inf).dt.days.to_numpy(float) if col in df else np.full(len(df), np.nan)


def _date(infusion, day):
    return None if not np.isfinite(day) else str((pd.Timestamp(infusion) + pd.Timedelta(days=int(day))).date())


def generate_study(patients: pd.DataFrame, seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Events, assessments and therapies for the patient table ``patients`` (canonical columns,
    ISO dates), as DataFrames with ISO dates."""
    rng = np.random.default_rng(seed)
    ids = patients["patient_id"].to_numpy()
    inf = patients["infusion_date"].to_numpy()
    last = _days(patients, "last_contact_date")
    cutoff = _days(patients, "data_cutoff_date")
    end = np.fmin(last, cutoff)
    relapse = _days(patients, "relapse_date")
    hct = _days(patients, "allo_hct_date")
    cr = patients["best_response"].isin(["CR", "CRi"]).to_numpy()
    cd19neg = (patients.get("relapse_cd19") == "negative").to_numpy()
    events, assessments, therapies = [], [], []

    def add_event(i, term, category, subtype, onset, grade, serious, outcome, related, resolution=np.nan,
                  transgene=None):
        if not (0 <= onset <= end[i]):
            return
        res = resolution if np.isfinite(resolution) and resolution <= end[i] else np.nan
        events.append({"patient_id": ids[i], "term": term, "category": category, "subtype": subtype,
                       "onset_date": _date(inf[i], onset), "resolution_date": _date(inf[i], res),
                       "grade": grade, "serious": "yes" if serious else "no", "outcome": outcome,
                       "related": related, "transgene_test": transgene})

    # second primary malignancies: three patients followed long enough
    long_followed = [i for i in np.argsort(-end) if end[i] > 500][:12]
    spm = rng.choice(long_followed, 3, replace=False)
    for i, (term, sub, tg) in zip(spm, (("Myelodysplastic syndrome", "haematological", "negative"),
                                        ("Breast carcinoma", "solid", "not_tested"),
                                        ("Basal cell carcinoma", "non_melanoma_skin", "not_tested"))):
        onset = float(np.floor(rng.uniform(200, min(end[i], 800))))
        add_event(i, term, "second_primary_malignancy", sub, onset, 3 if sub != "non_melanoma_skin" else 1,
                  sub != "non_melanoma_skin", "ongoing" if sub == "haematological" else "recovered", "unlikely",
                  resolution=onset + 60 if sub != "haematological" else np.nan, transgene=tg)
    # infections: a piecewise-constant rate per person-month, high early
    pathogens = ("bacterial", "viral", "fungal", "other")
    for i in range(ids.size):
        for lo, hi, rate in ((0, 91.3, 0.056), (91.3, 365.25, 0.025), (365.25, 10000, 0.010)):
            top = min(hi, end[i])
            if top <= lo:
                continue
            k = rng.poisson(rate * (top - lo) / 30.4375)
            for onset in np.sort(rng.uniform(lo, top, k)):
                sub = pathogens[rng.choice(4, p=[0.45, 0.4, 0.1, 0.05])]
                grade = int(rng.choice([2, 3, 4], p=[0.5, 0.4, 0.1]))
                add_event(i, {"bacterial": "Bacteraemia", "viral": "Respiratory viral infection",
                              "fungal": "Invasive aspergillosis", "other": "Infection, unspecified"}[sub],
                          "infection", sub, float(np.floor(onset)), grade, grade >= 3, "recovered", "possible",
                          resolution=float(np.floor(onset)) + rng.integers(5, 30))
    # other delayed events at low rates
    for category, term, rate in (("neurological", "Peripheral neuropathy", 0.02),
                                 ("autoimmune", "Autoimmune thyroiditis", 0.01),
                                 ("haematological", "Late neutropenia", 0.04)):
        for i in range(ids.size):
            k = rng.poisson(rate * max(end[i], 0) / DAYS_PER_YEAR)
            for onset in np.sort(rng.uniform(30, max(end[i], 31), k)):
                add_event(i, term, category, None, float(np.floor(onset)), int(rng.choice([1, 2, 3])), False,
                          "recovered", "possible", resolution=float(np.floor(onset)) + 60)

    # assessments ---------------------------------------------------------------------------
    for i in range(ids.size):
        yearly = [round(k * DAYS_PER_YEAR) for k in range(2, 16)]
        # a visit is missed now and then, and a few patients stop coming after their first year
        stops = rng.random() < 0.1
        days = [d for d in (*VISITS, *yearly) if d <= end[i] and not (d > 365 and (stops or rng.random() < 0.12))]
        # B-cell recovery (CD19-positive) in most patients in continued remission, never after CD19-
        # negative relapse before it; recovery day log-normal around 2 months (19-28z CAR T cells persist
        # briefly: B-cell aplasia is short after them, unlike after 4-1BB products)
        recovers = cr[i] and rng.random() < 0.8
        rec_day = float(np.exp(rng.normal(np.log(60), 0.5))) if recovers else np.inf
        if np.isfinite(relapse[i]) and not cd19neg[i]:
            rec_day = min(rec_day, relapse[i] + 30)
        loses_car = rng.random() < 0.6
        loss_day = min(rec_day, float(np.exp(rng.normal(np.log(120), 0.6)))) if loses_car else rec_day
        peak = 10 ** rng.normal(4.5, 0.4)
        for d in days:
            visit = VISIT_LABELS.get(d, f"year {round(d / DAYS_PER_YEAR)}")
            date = _date(inf[i], d)
            b = (rng.lognormal(np.log(150), 0.5) if d >= rec_day else rng.uniform(0, 8))
            cd19 = (rng.uniform(4, 15) if d >= rec_day else rng.uniform(0, 0.5))
            igg = rng.lognormal(np.log(7.5 if d >= rec_day + 180 else 4.2), 0.25)
            anc = rng.lognormal(np.log(250 if d <= 14 else 2500), 0.4) if d < 60 or rng.random() > 0.08 else \
                rng.uniform(200, 480)
            plt = rng.lognormal(np.log(15000 if d <= 14 else 160000), 0.4)
            hb = rng.normal(9 if d <= 28 else 12.5, 1.0)
            copies = peak * np.exp(-d / 60) if d < loss_day else 0.0
            for test, value, unit in (("b_cells_per_ul", b, "cells/uL"), ("cd19_pct", cd19, "%"),
                                      ("igg_g_per_l", igg, "g/L"), ("anc_per_ul", anc, "cells/uL"),
                                      ("platelets_per_ul", plt, "cells/uL"), ("haemoglobin_g_per_dl", hb, "g/dL"),
                                      ("car_transgene_copies_per_ug", copies, "copies/ug DNA")):
                assessments.append({"patient_id": ids[i], "date": date, "visit": visit, "test": test,
                                    "value": round(float(value), 2), "unit": unit})
        # therapies: IVIG courses while IgG is low during aplasia; anticancer therapy at relapse
        if rng.random() < 0.45 and end[i] > 120:
            start = float(rng.integers(60, 120))
            stop = min(end[i], start + (rec_day - start if np.isfinite(rec_day) else 365))
            therapies.append({"patient_id": ids[i], "type": "ivig", "start_date": _date(inf[i], start),
                              "end_date": _date(inf[i], max(stop, start))})
    for i in np.flatnonzero(np.isfinite(hct)):
        therapies.append({"patient_id": ids[i], "type": "allo_hct", "start_date": _date(inf[i], hct[i]),
                          "end_date": _date(inf[i], hct[i])})
    for i in np.flatnonzero(np.isfinite(relapse)):
        start = relapse[i] + rng.integers(3, 21)
        if start <= end[i]:
            therapies.append({"patient_id": ids[i], "type": "anticancer", "start_date": _date(inf[i], start),
                              "end_date": _date(inf[i], min(end[i], start + 60))})
    ev = pd.DataFrame(events, columns=["patient_id", "term", "category", "subtype", "onset_date", "resolution_date",
                                       "grade", "serious", "outcome", "related", "transgene_test"])
    return {"events": ev.sort_values(["patient_id", "onset_date"], kind="stable").reset_index(drop=True),
            "assessments": pd.DataFrame(assessments),
            "therapies": pd.DataFrame(therapies).sort_values(["patient_id", "start_date"], kind="stable")
            .reset_index(drop=True)}
