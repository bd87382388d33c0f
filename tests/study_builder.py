"""Typed study tables for the persistence tests, built by hand (no loader of the study tables yet).

``demo_study()``: the SYNTHETIC demonstration cohort (``ltfu.demo.load_demo``) with the made-up
assessments and therapies of ``ltfu.demo.study.generate_study``, dates turned into days from each
patient's infusion and values into the test's canonical unit, as ``ltfu.study.model`` describes.

``demo_replicates(seeds)``: the same cohort once per generator seed, pooled (the R validation's
second data set).

``make_study(patients, assessments, therapies)``: a small hand-made Study from rows given in days.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ltfu.cohort.model import Cohort
from ltfu.study.model import ASSESSMENT_COLUMNS, THERAPY_COLUMNS, Study
from ltfu.study.schema import unit_factor

PATIENT_DEFAULTS = {"best_response": "CR", "response_day": 28.0, "relapse_day": np.nan, "relapse_cd19": None,
                    "death_day": np.nan, "allo_hct_day": np.nan, "data_cutoff_day": np.nan, "burden": "low"}


def _days(dates: pd.Series, infusion: pd.Series) -> np.ndarray:
    return (pd.to_datetime(dates) - pd.to_datetime(infusion)).dt.days.to_numpy(float)


def _demo_tables(seed: int | None, prefix: str = ""):
    from ltfu.demo import demo_path, load_demo
    from ltfu.demo.study import SEED, generate_study

    cohort = load_demo()
    patients = pd.read_csv(demo_path(), comment="#", dtype=str)
    tables = generate_study(patients, SEED if seed is None else seed)
    infusion = patients.set_index("patient_id")["infusion_date"]
    a = tables["assessments"]
    factor = np.array([unit_factor(t, u) for t, u in zip(a["test"], a["unit"])], float)
    assessments = pd.DataFrame({
        "patient_id": prefix + a["patient_id"].astype(str), "day": _days(a["date"], a["patient_id"].map(infusion)),
        "visit": a["visit"], "test": a["test"], "value": a["value"].astype(float) * factor, "result": None})
    t = tables["therapies"]
    therapies = pd.DataFrame({
        "patient_id": prefix + t["patient_id"].astype(str), "type": t["type"],
        "start_day": _days(t["start_date"], t["patient_id"].map(infusion)),
        "end_day": _days(t["end_date"], t["patient_id"].map(infusion))})
    data = cohort.data.copy()
    data["patient_id"] = prefix + data["patient_id"].astype(str)
    return cohort, data, assessments[list(ASSESSMENT_COLUMNS)], therapies[list(THERAPY_COLUMNS)]


@functools.lru_cache(maxsize=1)
def demo_study() -> Study:
    """The demonstration study as ltfu loads it (``ltfu.demo.load_demo_study``: the packaged tables,
    generate_study's own seed, through the study's loader and validation)."""
    from ltfu.demo import load_demo_study

    return load_demo_study()


@functools.lru_cache(maxsize=4)
def demo_replicates(seeds: tuple = (1, 2, 3, 4)) -> Study:
    """The demonstration cohort once per seed of ``generate_study`` (patients "S<seed>-DEMO-001" ...),
    pooled: the same patients' outcomes with other made-up assessments and therapies, so that the R
    validation also has more recoveries, ties and events than the 53 patients give."""
    parts = [_demo_tables(s, f"S{s}-") for s in seeds]
    cohort = parts[0][0]
    data = pd.concat([p[1] for p in parts], ignore_index=True)
    return Study(Cohort(data, cohort.source, None, cohort.burden_threshold, cohort.cutoff_date, True),
                 assessments=pd.concat([p[2] for p in parts], ignore_index=True),
                 therapies=pd.concat([p[3] for p in parts], ignore_index=True))


def make_study(patients: list[dict], assessments=(), therapies=()) -> Study:
    """``patients``: dicts with at least ``patient_id`` and ``last_contact_day`` (other columns default
    to a complete responder in continuing remission); ``assessments``: (patient_id, day, test, value);
    ``therapies``: (patient_id, type, start_day, end_day)."""
    rows = [{**PATIENT_DEFAULTS, **p} for p in patients]
    data = pd.DataFrame(rows)
    for col in ("last_contact_day", "death_day", "response_day", "relapse_day", "allo_hct_day", "data_cutoff_day"):
        data[col] = data[col].astype(float)
    a = pd.DataFrame(list(assessments), columns=["patient_id", "day", "test", "value"])
    a["day"] = a["day"].astype(float)
    a["value"] = a["value"].astype(float)
    a["visit"] = None
    a["result"] = None
    t = pd.DataFrame(list(therapies), columns=list(THERAPY_COLUMNS))
    t["start_day"] = t["start_day"].astype(float)
    t["end_day"] = t["end_day"].astype(float)
    return Study(Cohort(data), assessments=a[list(ASSESSMENT_COLUMNS)], therapies=t)
