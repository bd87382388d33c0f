"""A synthetic multi-centre CAR-T registry in ltfu's data model, for benchmarks and design studies.

Every patient is one row of the canonical schema (see ``ltfu schema``), internally consistent so
that it validates without errors: staggered infusion dates over ``accrual_years``, a common data
cut-off, centre and product effects, three indications, disease burden, CRS and neurotoxicity grades
that rise with burden, response, relapse (some CD19-negative), consolidative allo-HCT in part of the
responders, death, and loss to follow-up.  Fully vectorised (numpy), so 1e6 patients take seconds.

The data are SYNTHETIC: generated from simple parametric hazards, not from any patient.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

PRODUCTS = ("19-28z", "axi-cel", "tisa-cel", "brexu-cel", "liso-cel")
INDICATIONS = ("B-ALL", "LBCL", "MCL")
CONDITIONING = ("Cy", "Flu/Cy", "Bendamustine")
CUTOFF = dt.date(2026, 6, 30)


def simulate(n_patients: int, *, seed: int = 1, n_centres: int = 60, accrual_years: float = 8.0,
             cutoff: dt.date = CUTOFF):
    """Return a pandas DataFrame of ``n_patients`` synthetic registry patients (canonical columns)."""
    import pandas as pd

    if n_patients < 1:
        raise ValueError("n_patients must be at least 1")
    rng = np.random.default_rng(seed)
    n = int(n_patients)
    centre_w = rng.dirichlet(np.full(n_centres, 0.8))
    centre = rng.choice(n_centres, size=n, p=centre_w)
    centre_effect = rng.normal(0, 0.15, n_centres)[centre]
    product = rng.choice(len(PRODUCTS), size=n, p=[0.1, 0.35, 0.3, 0.1, 0.15])
    indication = rng.choice(len(INDICATIONS), size=n, p=[0.3, 0.6, 0.1])
    age = np.clip(np.round(rng.normal(np.where(indication == 0, 42, 62), 13)), 18, 90)
    sex = rng.choice(np.array(["F", "M"]), size=n, p=[0.42, 0.58])
    blasts = np.where(rng.random(n) < 0.45, rng.uniform(0, 4.9, n), rng.uniform(5, 95, n)).round(1)
    extramedullary = rng.random(n) < 0.1
    high = (blasts >= 5) | extramedullary
    # toxicity: ordinal grade from a latent score, higher with burden
    latent = rng.normal(0, 1, n) + 0.9 * high + centre_effect
    crs = np.digitize(latent, [-1.2, 0.2, 1.1, 1.8, 3.0]).astype(np.int64)
    neuro = np.digitize(rng.normal(0, 1, n) + 0.8 * high + 0.3 * (crs >= 3), [-0.2, 0.7, 1.3, 2.2, 3.0])
    crs_death = crs == 5
    # response: CR/CRi probability falls with burden
    p_cr = np.where(high, 0.70, 0.90) - 0.05 * (product == 0)
    u = rng.random(n)
    cr = u < p_cr
    best = np.where(cr, np.where(rng.random(n) < 0.8, "CR", "CRi"),
                    rng.choice(np.array(["PR", "SD", "PD", "NR"]), size=n))
    best = np.where(crs_death, "NE", best)
    cr &= ~crs_death
    response_day = np.where(best == "NE", np.nan, rng.integers(21, 35, n).astype(float))
    mrd = np.where(cr, np.where(rng.random(n) < 0.75, "yes", "no"), np.where(best == "NE", "unknown", "no"))
    # entry and administrative follow-up
    span = accrual_years * 365.25
    infusion_offset = np.floor(rng.uniform(0, span, n))
    first = np.datetime64(cutoff) - np.timedelta64(int(span) + 30, "D")
    infusion = first + infusion_offset.astype("timedelta64[D]")
    admin = (np.datetime64(cutoff) - infusion).astype(float)
    loss = rng.exponential(365.25 * 12, n)                       # loss to follow-up
    # relapse among CR (exponential, higher with burden), allo-HCT before relapse in some
    relapse = np.where(cr, response_day + rng.exponential(np.where(high, 300, 900)), np.nan)
    hct = np.where(cr & (rng.random(n) < 0.3), response_day + rng.uniform(30, 150, n), np.nan)
    hct = np.where(hct >= relapse, np.nan, hct)
    relapse = np.where(np.isfinite(hct), hct + rng.exponential(np.where(high, 900, 2500)), relapse)
    # death: after relapse (short), in remission (rare), or for non-responders (short)
    death = np.where(cr, np.nan, rng.exponential(np.where(high, 150, 250)) + 30)
    death = np.where(np.isfinite(relapse), relapse + rng.exponential(200), death)
    nrm = rng.exponential(np.where(np.isfinite(hct), 2000, 8000))
    death = np.fmin(death, np.where(cr, response_day + nrm, np.nan))
    death = np.where(crs_death, rng.integers(5, 20, n).astype(float), death)
    end = np.minimum(admin, loss)
    end = np.maximum(end, 1.0)
    dead = np.isfinite(death) & (death <= end)
    last = np.where(dead, death, end)
    death = np.where(dead, death, np.nan)
    for arr in (relapse, hct, response_day):   # nothing is observed after the last contact
        arr[~(arr <= last)] = np.nan
    # a response assessed after death/last contact is not observed
    best = np.where(np.isnan(response_day) & (best != "NE"), "NE", best)
    mrd = np.where(best == "NE", "unknown", mrd)
    cr &= np.isfinite(response_day)
    cd19 = np.where(np.isfinite(relapse), np.where(rng.random(n) < 0.2, "negative", "positive").astype(object),
                    np.full(n, None, dtype=object))
    df = pd.DataFrame({
        "patient_id": np.char.add("R", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
        "centre": np.char.add("C", np.char.zfill(centre.astype(str), 3)),
        "product": np.asarray(PRODUCTS)[product],
        "indication": np.asarray(INDICATIONS)[indication],
        "infusion_date": infusion,
        "last_contact_date": _dates_from(infusion, last),
        "death_date": _dates_from(infusion, death),
        "response_date": _dates_from(infusion, response_day),
        "relapse_date": _dates_from(infusion, relapse),
        "allo_hct_date": _dates_from(infusion, hct),
        "data_cutoff_date": np.full(n, np.datetime64(cutoff)),
        "best_response": best,
        "mrd_negative": mrd,
        "marrow_blasts_pct": blasts,
        "extramedullary": np.where(extramedullary, "yes", "no"),
        "relapse_cd19": cd19,
        "crs_grade": crs,
        "crs_scale": "ASTCT 2019",
        "neurotox_grade": neuro.astype(np.int64),
        "neurotox_scale": "ASTCT 2019",
        "crs_death": np.where(crs_death & dead, "yes", "no"),
        "age": age,
        "sex": sex,
        "ph_positive": np.where((indication == 0) & (rng.random(n) < 0.25), "yes", "no"),
        "prior_allo_hct": np.where(rng.random(n) < 0.3, "yes", "no"),
        "prior_blinatumomab": np.where(rng.random(n) < 0.2, "yes", "no"),
        "prior_inotuzumab": np.where(rng.random(n) < 0.15, "yes", "no"),
        "prior_lines": rng.integers(1, 7, n),
        "dose_cells_per_kg": np.where(rng.random(n) < 0.5, 1e6, 2e6),
        "conditioning": np.asarray(CONDITIONING)[rng.choice(3, size=n, p=[0.2, 0.75, 0.05])],
    })
    # a CRS death whose death fell after the end of follow-up is not a CRS death in the data
    df.loc[(df["crs_death"] == "no") & (df["crs_grade"] == 5), "crs_grade"] = 4
    return df


def _dates_from(infusion: np.ndarray, days: np.ndarray) -> np.ndarray:
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = np.isfinite(days)
    out[ok] = infusion[ok] + np.floor(days[ok]).astype("timedelta64[D]")
    return out


SUFFIXES = (".parquet", ".csv")


def write_registry(path, n_patients: int, *, seed: int = 1, overwrite: bool = False) -> Path:
    """Write a simulated registry atomically, Parquet or CSV by the extension; return the path.

    The path is checked before anything is simulated: the extension must be ``.parquet`` or
    ``.csv``; an existing file is replaced only with ``overwrite``; a directory, a symbolic link or
    a special file never is (:class:`ltfu.errors.OutputError`)."""
    from ltfu.outputs import check_out_file, write_file_atomic

    path = check_out_file(path, suffixes=SUFFIXES, overwrite=overwrite, example="registry.parquet")
    df = simulate(n_patients, seed=seed)

    def fill(tmp):
        if path.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False, date_format="%Y-%m-%d")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)

    return write_file_atomic(path, fill, overwrite=overwrite)
