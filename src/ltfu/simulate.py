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


class _Coded:
    """A text column as integer codes into its labels (``missing``: no value).  pandas gets an object
    array whose values share the labels' string objects, Arrow a string array taken from the labels:
    neither makes one Python string per row (a 1e7 registry took 20 GB that way)."""

    def __init__(self, codes, labels, missing=None):
        self.codes, self.labels, self.missing = np.asarray(codes, dtype=np.int64), tuple(labels), missing

    def to_numpy(self):
        out = np.asarray(self.labels, dtype=object)[self.codes]
        if self.missing is not None:
            out[self.missing] = None
        return out

    def to_arrow(self):
        import pyarrow as pa

        return pa.array(self.labels, pa.string()).take(pa.array(self.codes, mask=self.missing))


class _Ids:
    """Patient identifiers R0000001, R0000002, ... (seven digits at least)."""

    def __init__(self, n):
        self.n = n

    def to_numpy(self):
        return np.char.add("R", np.char.zfill(np.arange(1, self.n + 1).astype(str), 7)).astype(object)

    def to_arrow(self):
        import pyarrow as pa
        import pyarrow.compute as pc

        digits = pc.utf8_lpad(pa.array(np.arange(1, self.n + 1)).cast(pa.string()), 7, "0")
        return pc.binary_join_element_wise("R", digits, "")


def simulate(n_patients: int, *, seed: int = 1, n_centres: int = 60, accrual_years: float = 8.0,
             cutoff: dt.date = CUTOFF):
    """Return a pandas DataFrame of ``n_patients`` synthetic registry patients (canonical columns)."""
    import pandas as pd

    cols = _draw(n_patients, seed=seed, n_centres=n_centres, accrual_years=accrual_years, cutoff=cutoff)
    return pd.DataFrame({name: v.to_numpy() if isinstance(v, (_Coded, _Ids)) else v for name, v in cols.items()})


def simulate_table(n_patients: int, *, seed: int = 1):
    """The same patients as ``simulate`` (equal values, column types and order; tested) as a
    pyarrow Table built from the numpy columns, without pandas: what ``ltfu simulate`` writes."""
    import pyarrow as pa

    cols = _draw(n_patients, seed=seed)
    out = {}
    for name, v in cols.items():
        if isinstance(v, (_Coded, _Ids)):
            out[name] = v.to_arrow()
        elif isinstance(v, str):
            out[name] = pa.repeat(v, n_patients)
        elif v.dtype.kind == "M":
            out[name] = pa.array(v.astype("datetime64[s]"))       # pandas' unit for numpy days
        else:
            out[name] = pa.array(v)
        cols[name] = None                                          # each numpy column freed once copied
    return pa.table(out)


YES_NO = ("no", "yes")
RESPONSES = ("CR", "CRi", "PR", "SD", "PD", "NR", "NE")
NE = RESPONSES.index("NE")


def _draw(n_patients: int, *, seed: int = 1, n_centres: int = 60, accrual_years: float = 8.0,
          cutoff: dt.date = CUTOFF) -> dict:
    """The registry's columns: numpy arrays, text as ``_Coded`` (``_Ids`` for the identifiers), a
    constant text column as its one string."""
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
    sex = rng.choice(2, size=n, p=[0.42, 0.58])                  # F, M
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
    best = np.where(cr, np.where(rng.random(n) < 0.8, 0, 1), 2 + rng.choice(4, size=n))   # CR, CRi; PR .. NR
    best = np.where(crs_death, NE, best)
    cr &= ~crs_death
    response_day = np.where(best == NE, np.nan, rng.integers(21, 35, n).astype(float))
    mrd = np.where(cr, np.where(rng.random(n) < 0.75, 0, 1), np.where(best == NE, 2, 1))   # yes, no, unknown
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
    best = np.where(np.isnan(response_day), NE, best)
    mrd = np.where(best == NE, 2, mrd)
    cr &= np.isfinite(response_day)
    cd19 = _Coded(rng.random(n) >= 0.2, ("negative", "positive"), missing=~np.isfinite(relapse))
    # a CRS death whose death fell after the end of follow-up is not a CRS death in the data
    crs_recorded = np.where((crs == 5) & ~(crs_death & dead), 4, crs)
    return {
        "patient_id": _Ids(n),
        "centre": _Coded(centre, [f"C{i:03d}" for i in range(n_centres)]),
        "product": _Coded(product, PRODUCTS),
        "indication": _Coded(indication, INDICATIONS),
        "infusion_date": infusion,
        "last_contact_date": _dates_from(infusion, last),
        "death_date": _dates_from(infusion, death),
        "response_date": _dates_from(infusion, response_day),
        "relapse_date": _dates_from(infusion, relapse),
        "allo_hct_date": _dates_from(infusion, hct),
        "data_cutoff_date": np.full(n, np.datetime64(cutoff)),
        "best_response": _Coded(best, RESPONSES),
        "mrd_negative": _Coded(mrd, ("yes", "no", "unknown")),
        "marrow_blasts_pct": blasts,
        "extramedullary": _Coded(extramedullary, YES_NO),
        "relapse_cd19": cd19,
        "crs_grade": crs_recorded,
        "crs_scale": "ASTCT 2019",
        "neurotox_grade": neuro.astype(np.int64),
        "neurotox_scale": "ASTCT 2019",
        "crs_death": _Coded(crs_death & dead, YES_NO),
        "age": age,
        "sex": _Coded(sex, ("F", "M")),
        "ph_positive": _Coded((indication == 0) & (rng.random(n) < 0.25), YES_NO),
        "prior_allo_hct": _Coded(rng.random(n) < 0.3, YES_NO),
        "prior_blinatumomab": _Coded(rng.random(n) < 0.2, YES_NO),
        "prior_inotuzumab": _Coded(rng.random(n) < 0.15, YES_NO),
        "prior_lines": rng.integers(1, 7, n),
        "dose_cells_per_kg": np.where(rng.random(n) < 0.5, 1e6, 2e6),
        "conditioning": _Coded(rng.choice(3, size=n, p=[0.2, 0.75, 0.05]), CONDITIONING),
    }


def _dates_from(infusion: np.ndarray, days: np.ndarray) -> np.ndarray:
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = np.isfinite(days)
    out[ok] = infusion[ok] + np.floor(days[ok]).astype("timedelta64[D]")
    return out


SUFFIXES = (".parquet", ".csv")
SYNTHETIC_NOTE = ("SYNTHETIC registry generated by `ltfu simulate` (ltfu.simulate, ltfu.simulate_study): not patient "
                  "data. Drawn from simple parametric rates for benchmarks and design studies.")


def write_registry(path, n_patients: int, *, seed: int = 1, overwrite: bool = False) -> Path:
    """Write a simulated registry atomically; return the path.

    ``.parquet`` or ``.csv``: the patient table alone.  A path without an extension (or ending in
    ``/``): a folder of the four tables of a study as Parquet files (``patients``, ``events``,
    ``assessments``, ``therapies``; ``ltfu.simulate_study``) and a README saying they are synthetic,
    written as a report directory is (new, empty, or one ltfu wrote; ``ltfu.outputs``).
    The path is checked before anything is simulated: another extension is refused; an existing
    file is replaced only with ``overwrite``; a directory, a symbolic link or a special file never
    is (:class:`ltfu.errors.OutputError`)."""
    from ltfu.outputs import check_out_file, write_file_atomic

    given = str(path)
    if given.strip() and (given.endswith("/") or Path(given).suffix == ""):
        return _write_folder(path, n_patients, seed)
    path = check_out_file(path, suffixes=SUFFIXES, overwrite=overwrite, example="registry.parquet")
    csv = path.suffix.lower() == ".csv"
    # Parquet straight from the numpy columns (simulate_table): a 1e7 registry in 3.6 GB, not 20
    data = simulate(n_patients, seed=seed) if csv else simulate_table(n_patients, seed=seed)

    def fill(tmp):
        if csv:
            data.to_csv(tmp, index=False, date_format="%Y-%m-%d")
        else:
            _write_parquet(data, tmp)

    return write_file_atomic(path, fill, overwrite=overwrite)


def _write_parquet(data, path) -> None:
    """``data`` (a pandas DataFrame or a pyarrow Table) as Parquet, its schema metadata saying (key
    ``ltfu``) that the data are synthetic."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"ltfu": SYNTHETIC_NOTE.encode()})
    pq.write_table(table, path)


def _write_folder(out, n_patients: int, seed: int) -> Path:
    from ltfu.outputs import report_transaction, resolve_report_target
    from ltfu.simulate_study import simulate_tables

    target = resolve_report_target(out)
    patients = simulate(n_patients, seed=seed)
    tables = {"patients": patients, **simulate_tables(patients, seed=seed)}
    with report_transaction(target) as tmp:
        for name, df in tables.items():
            _write_parquet(df, tmp / f"{name}.parquet")
        (tmp / "README.md").write_text(SYNTHETIC_NOTE + "\n", encoding="utf-8")
    return target.path
