"""Section "Response": complete remission and MRD negativity with exact confidence intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltfu.analysis.common import COMPARED, EXACT_MAX_N, GROUPS, assoc_test, fmt_p, fmt_prop, proportion
from ltfu.analysis.plan import Plan
from ltfu.defaults import COMPLETE_RESPONSE
from ltfu.results import Part, Section, Table


def build(plan: Plan) -> Part:
    d, opts = plan.cohort.data, plan.options
    masks = plan.masks()
    resp = d["best_response"].astype("string")
    evaluable = ~resp.isna().to_numpy() & (resp != "NE").fillna(False).to_numpy()
    cr = resp.isin(COMPLETE_RESPONSE).fillna(False).to_numpy()
    mrd = d["mrd_negative"].astype("string") if "mrd_negative" in d else pd.Series(pd.NA, index=d.index, dtype="string")
    mrd_known = mrd.isin(("yes", "no")).fillna(False).to_numpy()
    mrd_neg = (mrd == "yes").fillna(False).to_numpy()
    numbers: dict[str, Any] = {"complete_remission": {}, "mrd_negative_among_cr": {}}
    rows = []
    for key, label, hit, den in (
            ("complete_remission", "CR or CRi (of all infused patients)", cr, np.ones_like(cr)),
            ("mrd_negative_among_cr", "MRD-negative (of CR/CRi patients with known MRD)", cr & mrd_neg,
             cr & mrd_known)):
        cells = []
        for g, _ in GROUPS:
            prop = proportion((hit & masks[g]).sum(), (den & masks[g]).sum(), opts)
            numbers[key][g] = prop
            cells.append(fmt_prop(prop))
        counts = [[int((hit & masks[g]).sum()), int((den & masks[g]).sum() - (hit & masks[g]).sum())]
                  for g in COMPARED]
        p = assoc_test(counts)[0]
        numbers[key]["p_value"] = p
        rows.append((label, *cells, fmt_p(p)))
    # the headline figure keeps its shape: response.complete_remission = overall
    numbers["complete_remission"].update(numbers["complete_remission"]["all"])
    numbers["n_evaluable"] = int(evaluable.sum())
    table = Table("response", "Response: rates with exact (Clopper-Pearson) 95% confidence intervals",
                  ("response", "All", "Low burden", "High burden", "p"), tuple(rows),
                  notes=("n/N (%; 95% CI). Patients without an assessment count as non-responders.",
                         f"p: low vs high burden, Fisher's exact test (Pearson chi-square above {EXACT_MAX_N} "
                         "patients)."))
    return Part("response", numbers, (table,), (), Section("response", "Response", tables=("response",)))
