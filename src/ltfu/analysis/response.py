"""Section "Response": complete remission and MRD negativity with exact confidence intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

from ltfu.analysis.common import EXACT_MAX_N, GROUPS, assoc_test, fmt_p, fmt_prop, proportion
from ltfu.analysis.plan import Plan
from ltfu.analysis.tally import Tally, burden_codes, tally_frame
from ltfu.defaults import COMPLETE_RESPONSE
from ltfu.results import Part, Section, Table


def build(plan: Plan) -> Part:
    """The response table from the cohort in memory (numpy tallies)."""
    d = plan.cohort.data
    codes = burden_codes(d["burden"])
    response = tally_frame(d["best_response"].astype("string"), codes)
    if "mrd_negative" in d:
        cr = d["best_response"].astype("string").isin(COMPLETE_RESPONSE).fillna(False).to_numpy(bool)
        mrd = tally_frame(d["mrd_negative"].astype("string"), codes, among=cr)
    else:
        mrd = None
    return from_tallies(response, mrd, plan.options)


def from_tallies(response: Tally, mrd: Tally | None, opts) -> Part:
    """The response table from the tally of the best response and that of MRD among the CR/CRi
    patients (None: no MRD column), whoever counted them (``ltfu.analysis.tally``)."""
    groups = [g for g, _ in GROUPS]
    cr_level = np.array([v in COMPLETE_RESPONSE for v in response.values], bool)
    cr = response.known(cr_level)
    everyone = response.n
    evaluable = response.known(np.array([v != "NE" for v in response.values], bool))
    if mrd is None:
        mrd_known = mrd_neg = np.zeros(3, np.int64)
    else:
        mrd_known = mrd.known(np.array([v in ("yes", "no") for v in mrd.values], bool))
        mrd_neg = mrd.known(np.array([v == "yes" for v in mrd.values], bool))
    numbers: dict[str, Any] = {"complete_remission": {}, "mrd_negative_among_cr": {}}
    rows = []
    for key, label, hit, den in (
            ("complete_remission", "CR or CRi (of all infused patients)", cr, everyone),
            ("mrd_negative_among_cr", "MRD-negative (of CR/CRi patients with known MRD)", mrd_neg, mrd_known)):
        cells = []
        for i, g in enumerate(groups):
            prop = proportion(hit[i], den[i], opts)
            numbers[key][g] = prop
            cells.append(fmt_prop(prop))
        counts = [[int(hit[i]), int(den[i] - hit[i])] for i in (1, 2)]         # low, high burden
        p = assoc_test(counts)[0]
        numbers[key]["p_value"] = p
        rows.append((label, *cells, fmt_p(p)))
    # the headline figure keeps its shape: response.complete_remission = overall
    numbers["complete_remission"].update(numbers["complete_remission"]["all"])
    numbers["n_evaluable"] = int(evaluable[0])
    table = Table("response", "Response: rates with exact (Clopper-Pearson) 95% confidence intervals",
                  ("response", "All", "Low burden", "High burden", "p"), tuple(rows),
                  notes=("n/N (%; 95% CI). Patients without an assessment count as non-responders.",
                         f"p: low vs high burden, Fisher's exact test (Pearson chi-square above {EXACT_MAX_N} "
                         "patients)."))
    return Part("response", numbers, (table,), (), Section("response", "Response", tables=("response",)))
