"""--max-months ends the survival and incidence figures where the user asks (the default, where
fewer than 10% of a group remain at risk, is stated), and --formats tiff writes 300-dpi TIFFs."""

import pytest

import inproc
from ltfu.analysis import AnalysisOptions, analyse
from ltfu.demo import load_demo
from ltfu.errors import InvalidInputError
from ltfu.report.figures import render_figure
from ltfu.results import CIFFigure, KMFigure


def test_every_curve_figure_ends_at_max_months():
    results = analyse(load_demo(), AnalysisOptions(max_months=24))
    curves = [f for f in results.figures if isinstance(f, (KMFigure, CIFFigure))]
    assert len(curves) >= 6 and all(f.max_months == 24 for f in curves)
    fig = render_figure(next(f for f in curves if f.name == "km_efs_os"))
    assert fig.ltfu_max_months == 24
    assert fig.ltfu_at_risk["ticks_months"] == [0.0, 12.0, 24.0]
    assert any("Curves stop at 24.0 months" in n for n in fig.ltfu_notes)
    assert "at 24 months (--max-months)" in results.defaults.figure_end


def test_default_is_stated(demo_results):
    results = demo_results
    assert results.defaults.figure_end == "where fewer than 10% of a group remain at risk"
    assert all(f.max_months is None for f in results.figures if isinstance(f, (KMFigure, CIFFigure)))


@pytest.mark.parametrize("bad", [0, -3, float("nan"), float("inf"), True])
def test_bad_max_months_is_refused(bad):
    with pytest.raises(InvalidInputError, match="max_months"):
        AnalysisOptions(max_months=bad)


@pytest.mark.slow
def test_cli_max_months_and_tiff(tmp_path):
    bad = inproc.run("report", "--demo", "--max-months", "-1", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "--max-months" in bad.stderr and not (tmp_path / "x").exists()
    ok = inproc.run("report", "--demo", "--max-months", "18", "--out", tmp_path / "r", "--formats", "json,tiff", "-q")
    assert ok.returncode == 0, ok.stderr
    from PIL import Image

    tiffs = sorted((tmp_path / "r" / "figures").glob("*.tiff"))
    assert len(tiffs) >= 10
    with Image.open(tiffs[0]) as im:
        assert im.format == "TIFF" and round(im.info["dpi"][0]) == 300
