"""Issue 16 (3): a notebook session, run as a script in a fresh interpreter (as a kernel would):
short reprs that dump no arrays, ``to_frame()`` and an HTML table on every result, explicit units,
and the whole report from Python in one call."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

SESSION = textwrap.dedent('''
    import json, sys, tempfile
    from pathlib import Path
    import numpy as np
    import ltfu
    from ltfu import endpoints
    from ltfu.demo import demo_path
    from ltfu import stats

    cohort = ltfu.load_cohort(demo_path())
    efs = endpoints.event_free_survival(cohort)
    burden = cohort.data["burden"].to_numpy(str)
    rel = endpoints.relapse_competing(cohort)
    g = cohort.data.set_index("patient_id").loc[rel.patient_id, "burden"].to_numpy(str)
    km = stats.kaplan_meier(efs.time, efs.status)
    cox = stats.cox(cohort.data[["age", "sex"]], efs.time, efs.status)
    results = {
        "Cohort": cohort, "KaplanMeier": km, "SurvivalAt": km.at([182.6, 365.25]),
        "FollowUp": stats.median_follow_up(efs.time, efs.status), "RMST": stats.rmst(efs.time, efs.status, tau=730),
        "RMSTDifference": stats.rmst_difference(efs.time, efs.status, burden, tau=730),
        "LogRank": stats.logrank(efs.time, efs.status, burden), "CoxResult": cox, "CoxZph": stats.cox_zph(cox),
        "FisherResult": stats.fisher_exact([[3, 5], [8, 2]]), "Estimate": stats.binomial_ci(14, 53),
        "WilcoxonResult": stats.wilcoxon_ranksum([1, 2, 3, 9], [4, 5, 6, 7, 8]),
        "LogisticResult": stats.logistic(cohort.data[["age"]], (cohort.data["crs_grade"] >= 3).astype(int)),
        "CumulativeIncidence": stats.cumulative_incidence(rel.time, rel.status, group=g),
        "GrayTest": stats.gray_test(rel.time, rel.status, g),
        "FineGrayResult": stats.fine_gray((g == "high").astype(float), rel.time, rel.status),
        "MantelByar": stats.mantel_byar(efs.time, efs.status, cohort.data["allo_hct_day"].to_numpy(float)),
        "BootstrapResult": stats.bootstrap_median(efs.time, efs.status, n_boot=50, seed=1),
        "RateRatio": stats.rate_ratio(3, 120.0, 7, 150.0),
    }
    out = {}
    for name, r in results.items():
        frame = r.to_frame()
        html = r._repr_html_()
        out[name] = {"repr": repr(r), "rows": len(frame), "cols": list(map(str, frame.columns)),
                     "html": html.lstrip().startswith("<")}
    out["median_months"] = [km.median.value / 30.4375, km.median_months.value]
    d = Path(tempfile.mkdtemp())
    out["report"] = str(ltfu.report(cohort, out=d / "report", formats=("json", "csv")))
    import matplotlib
    out["backend"] = matplotlib.get_backend()
    print(json.dumps(out))
''')


def test_notebook_session():
    p = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True, timeout=300,
                       env={"MPLBACKEND": "pdf", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr[-2000:]
    import json

    out = json.loads(p.stdout.strip().splitlines()[-1])
    for name, r in out.items():
        if not isinstance(r, dict):
            continue
        assert r["rows"] >= 1 and r["html"], name
        assert len(r["repr"]) < 400 and "array(" not in r["repr"] and "\n" not in r["repr"], (name, r["repr"])
    assert "time_months" in out["KaplanMeier"]["cols"] and "time" in out["KaplanMeier"]["cols"]
    assert "median=" in out["KaplanMeier"]["repr"]
    assert out["CoxResult"]["cols"][:2] == ["terms", "coef"] and out["CoxResult"]["rows"] == 2   # age, sexM
    assert "sexM" in out["CoxResult"]["repr"]
    assert out["median_months"][0] == out["median_months"][1]
    assert out["report"].endswith("results.json")
    assert out["backend"] == "pdf"             # ltfu left the session's matplotlib alone
