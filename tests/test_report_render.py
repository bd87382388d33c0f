"""The report layer: results.json on the demonstration cohort, HTML escaping and snapshot, CSV formula
neutralisation, the number-at-risk table, atomic writes."""

import json
from pathlib import Path

import numpy as np
import pytest

from ltfu.analysis import AnalysisOptions, analyse
from ltfu.demo import load_demo
from ltfu.report import write_report
from ltfu.report.figures import render_figure
from ltfu.report.html import table_html
from ltfu.report.writer import neutralise
from ltfu.results import DAYS_PER_MONTH, KMFigure, Results, Section, Table
from ltfu.stats import kaplan_meier

SNAP = Path(__file__).parent / "snapshots"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory, demo_results):
    out = tmp_path_factory.mktemp("rep") / "report"
    write_report(demo_results, out)
    return out


def test_results_json_has_the_required_figures(demo_report):
    """Every key the issue names, equal to what the demonstration cohort was built to reproduce."""
    r = json.loads((demo_report / "results.json").read_text())
    assert r["n_patients"] == 53 and r["synthetic"] is True
    cr = r["response"]["complete_remission"]
    assert (cr["n"], cr["N"]) == (44, 53)
    assert (r["safety"]["severe_crs"]["n"], r["safety"]["severe_crs"]["N"]) == (14, 53)
    assert [round(100 * r["safety"]["severe_crs"][k]) for k in ("estimate", "lower", "upper")] == [26, 15, 40]
    assert r["safety"]["severe_neurotox"]["n"] == 22
    assert abs(r["follow_up"]["median_months"] - 29) < 1
    expected = {("efs", "all"): 6.1, ("os", "all"): 12.9, ("efs", "low_burden"): 10.6, ("os", "low_burden"): 20.1}
    for ep in ("efs", "os"):
        for group in ("all", "low_burden", "high_burden"):
            entry = r["survival"][ep][group]
            assert {"n", "events", "median_months", "median_lower_months", "median_upper_months"} <= set(entry)
            if (ep, group) in expected:
                assert abs(entry["median_months"] - expected[(ep, group)]) < 0.5
    assert r["survival"]["efs"]["low_burden"]["n"] == 21 and r["survival"]["os"]["high_burden"]["n"] == 32
    assert r["meta"]["synthetic"] is True and r["defaults"]["km_conf_type"] == "log-log"


def test_report_directory_has_every_output(demo_report, demo_results):
    for name in ("report.html", "report.pdf", "results.json"):
        assert (demo_report / name).stat().st_size > 0
    for t in demo_results.tables:
        assert (demo_report / "tables" / f"{t.name}.csv").exists()
    for f in demo_results.figures:
        assert (demo_report / "figures" / f"{f.name}.svg").exists()
        assert (demo_report / "figures" / f"{f.name}.png").exists()
    html = (demo_report / "report.html").read_text()
    assert "SYNTHETIC DEMONSTRATION DATA" in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html


def test_number_at_risk_printed_under_the_curve_equals_n_risk():
    t = np.array([30, 60, 60, 200, 400, 500, 800, 900, 1000.0])
    e = np.array([1, 1, 0, 1, 0, 1, 0, 1, 0])
    km = kaplan_meier(t, e)
    fig = render_figure(KMFigure("km", "test", (("all", km),)))
    info = fig.ltfu_at_risk
    ticks_days = np.asarray(info["ticks_months"]) * DAYS_PER_MONTH
    assert info["n_risk"]["all"] == km.at(ticks_days).n_risk.tolist()
    # by hand, ticks every 12 months: at risk at 0: 9; 12 mo (365.3 d): 400, 500, 800, 900, 1000 = 5;
    # 24 mo (730.5 d): 800, 900, 1000 = 3 (the curve ends at 1000 d = 32.9 mo: one patient, 11% of 9)
    assert info["ticks_months"] == [0, 12, 24]
    assert info["n_risk"]["all"] == [9, 5, 3]
    printed = {t.get_gid(): t.get_text() for t in fig.texts if (t.get_gid() or "").startswith("atrisk-0-")}
    assert printed == {f"atrisk-0-{i}": str(v) for i, v in enumerate(info["n_risk"]["all"])}


PAYLOADS = ("<script>document.title='PWNED'</script>", "<img src=x onerror=\"document.title='PWNED'\">",
            "\" onmouseover=\"document.title='PWNED'")


def _hostile_results():
    rows = tuple((p, p, 1.5) for p in PAYLOADS)
    table = Table("hostile", PAYLOADS[0], (PAYLOADS[1], "col", "n"), rows, notes=(PAYLOADS[2],))
    km = kaplan_meier([1, 2, 3], [1, 0, 1])
    return Results(title=PAYLOADS[0], numbers={"n_patients": 3},
                   sections=(Section("s", PAYLOADS[1], paragraphs=(PAYLOADS[0],), tables=("hostile",),
                                     figures=("km",)),),
                   tables=(table,), figures=(KMFigure("km", PAYLOADS[0], ((PAYLOADS[1], km),)),),
                   synthetic=True, warnings=(PAYLOADS[0],), meta={"source": PAYLOADS[1], "sha256": "x"})


def test_every_value_from_the_data_is_escaped(tmp_path):
    out = write_report(_hostile_results(), tmp_path / "r", formats=("html",))
    html = out.read_text()
    for p in PAYLOADS:
        assert p not in html
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_table_html_snapshot():
    """A small table rendered exactly as the committed snapshot (regenerate only on purpose)."""
    t = Table("demo", "Demo", ("group", "n", "median (95% CI)"),
              (("Low burden", 21, "10.6 (3.2 to NR)"), ("High <burden>", 32, None), ("x", 1.25, True)))
    snap = SNAP / "table_html.html"
    assert str(table_html(t)) + "\n" == snap.read_text()


def test_csv_neutralises_formulas(tmp_path):
    assert neutralise("=1+1") == "'=1+1" and neutralise("+SUM(A1)") == "'+SUM(A1)"
    assert neutralise("-2+3") == "'-2+3" and neutralise("@cmd") == "'@cmd"
    assert neutralise(-2.5) == -2.5 and neutralise("Grade 3") == "Grade 3"
    res = Results("t", {}, (Section("s", "S", tables=("x",)),),
                  (Table("x", "X", ("a", "b"), (("=HYPERLINK(\"http://evil\")", -1.0),)),), ())
    out = tmp_path / "r"
    write_report(res, out, formats=("csv",))
    text = (out / "tables" / "x.csv").read_text()
    assert "'=HYPERLINK" in text and ",-1.0" in text


@pytest.mark.slow
def test_failed_write_leaves_previous_report_intact(tmp_path, monkeypatch, demo_results):
    out = tmp_path / "rep"
    write_report(demo_results, out, formats=("json", "csv"))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    import ltfu.report.html as html_mod

    def boom(*a, **k):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(html_mod, "render_html", boom)
    with pytest.raises(RuntimeError):
        write_report(demo_results, out, formats=("json", "csv", "html"))
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]      # no temporary directories left


def test_results_json_is_byte_identical(tmp_path, demo_results):
    a = write_report(demo_results, tmp_path / "a", formats=("json",))
    b = write_report(analyse(load_demo(), AnalysisOptions()), tmp_path / "b", formats=("json",))
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_figures_drawn_in_worker_processes_are_the_bytes_drawn_here(demo_study_results, monkeypatch):
    """The report's figures drawn by forked workers (LTFU_FIGURE_WORKERS=2) equal, byte for byte,
    the figures drawn one after the other in this process (=1), every page of every figure."""
    from ltfu.report.writer import _figure_workers, render_figures

    specs = demo_study_results.figures
    monkeypatch.setenv("LTFU_FIGURE_WORKERS", "1")
    assert _figure_workers(len(specs)) == 1
    here = render_figures(specs)
    monkeypatch.setenv("LTFU_FIGURE_WORKERS", "2")
    assert _figure_workers(len(specs)) == 2
    pooled = render_figures(specs)
    assert len(here) == len(pooled) == len(specs) >= 4
    for spec, a, b in zip(specs, here, pooled):
        assert a == b, spec.name


def test_figure_workers_only_on_linux_and_only_for_several_figures(monkeypatch):
    import sys

    from ltfu.report.writer import _figure_workers

    monkeypatch.delenv("LTFU_FIGURE_WORKERS", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _figure_workers(11) == 1                      # fork is not safe there
    monkeypatch.setattr(sys, "platform", "linux")
    assert _figure_workers(2) == 1                       # too few figures to pay for the pool
    monkeypatch.setenv("LTFU_FIGURE_WORKERS", "3")
    assert _figure_workers(2) == 2 and _figure_workers(11) == 3
    monkeypatch.setenv("LTFU_FIGURE_WORKERS", "0")
    assert _figure_workers(11) == 1
