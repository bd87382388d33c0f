"""Regenerate ``docs/km_example.png``, the README's example figure.

Overall survival by disease burden in the SYNTHETIC demonstration cohort shipped with ltfu (53
made-up patients built to reproduce the published figures of Park et al., NEJM 2018; not patient
data), drawn by ``ltfu.plot.km`` exactly as the report draws it.

    PYTHONPATH=src python docs/make_example_figure.py [output.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ltfu import endpoints, plot, stats
from ltfu.demo import load_demo

OUT = Path(__file__).with_name("km_example.png")


def make(out: Path = OUT) -> Path:
    cohort = load_demo()
    os_ = endpoints.overall_survival(cohort)
    burden = cohort.data.set_index("patient_id")["burden"].reindex(os_.patient_id).to_numpy(dtype=object)
    groups = (("low", "Low burden"), ("high", "High burden"))
    curves = [(label, stats.kaplan_meier(os_.time[burden == g], os_.status[burden == g])) for g, label in groups]
    known = np.isin(burden, [g for g, _ in groups])
    test = stats.logrank(os_.time[known], os_.status[known], burden[known].astype(str))
    fig = plot.km(curves, title="SYNTHETIC demonstration data: overall survival by disease burden",
                  ylabel="Overall survival probability", p_value=test.p_value, confidence_bands=True,
                  notes=(("Synthetic demonstration cohort shipped with ltfu (53 made-up patients): not patient "
                          "data."),))
    fig.savefig(out, dpi=150, metadata={"Software": "ltfu.plot"})
    return out


if __name__ == "__main__":
    print(make(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
