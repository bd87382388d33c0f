"""Writes tests/reference/persistence_rows.csv: the per-patient rows that ltfu.persistence derives
from the SYNTHETIC demonstration study, for tests/reference/persistence.R to analyse in R.

Two data sets: "demo" (the demonstration cohort with its packaged study tables) and "replicates"
(the same cohort once per generator seed 1-4, pooled: more recoveries, ties and events).
tests/test_persistence.py checks that the committed file is what the module derives today.

Run from the repository root:
    PYTHONPATH=src:tests python tests/reference/persistence_rows.py && Rscript tests/reference/persistence.R
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ltfu import persistence as P
from study_builder import demo_replicates, demo_study

OUT = Path(__file__).parent / "persistence_rows.csv"
DATASETS = {"demo": demo_study, "replicates": demo_replicates}


def rows(name: str, study) -> pd.DataFrame:
    o = P.PersistenceOptions()
    b = P.b_cell_recovery(study, o)
    r = P.recovery_rows(study, o)
    anc = P.count_recovery(study, "anc_per_ul", 500, options=o)
    plt = {thr: P.count_recovery(study, "platelets_per_ul", thr, options=o) for thr in o.platelet_recovery}
    ids = study.cohort.data["patient_id"].astype(str).to_numpy()
    f = pd.DataFrame({"dataset": name, "patient_id": ids, "burden": study.cohort.data["burden"].astype(object)
                      .where(study.cohort.data["burden"].notna(), None).to_numpy(),
                      "b_time": b.time, "b_status": b.status, "b_cr_time": b.cr_time, "b_cause": b.cause,
                      "rec_day": b.recovery_day, "rec_confirmed": b.confirmed_day,
                      "anc_time": anc.time, "anc_status": anc.status})
    for thr, c in plt.items():
        f[f"plt{int(thr / 1000)}_time"] = c.time
        f[f"plt{int(thr / 1000)}_status"] = c.status
    rfs = pd.DataFrame({"patient_id": r.patient_id, "rfs_entry": r.entry, "rfs_time": r.time, "rfs_event": r.event})
    f = f.merge(rfs, on="patient_id", how="left")
    assert (np.asarray(f["patient_id"]) == ids).all()
    return f


def build() -> pd.DataFrame:
    return pd.concat([rows(name, make()) for name, make in DATASETS.items()], ignore_index=True)


if __name__ == "__main__":
    build().to_csv(OUT, index=False, float_format="%.17g", na_rep="NA")
    print(f"wrote {OUT}")
