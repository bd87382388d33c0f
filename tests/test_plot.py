"""ltfu.plot: the figures are checked by looking at what they draw.

Numbers are read back from the SVG output (every artist has an SVG id), text boxes from the
renderer (``fig.canvas.get_renderer()`` and each Text's ``get_window_extent``), geometry from the
drawn lines.  Data: the synthetic demonstration cohort, and random cohorts for the hard cases
(many groups, long labels, registry-size numbers).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axis import Axis, Tick, XTick
from matplotlib.colors import to_rgb
from matplotlib.path import Path as MPath
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ltfu import endpoints as ep
from ltfu import plot, stats
from ltfu.demo import load_demo
from ltfu.formatting import format_p
from ltfu.results import DAYS_PER_MONTH, CIFFigure, KMFigure, SwimmerFigure

SVG_NS = "{http://www.w3.org/2000/svg}"
PRINT_W_IN, PRINT_MAX_H_IN = 16 / 2.54, 22 / 2.54     # ltfu.report.pdf: 16 cm wide, at most 22 cm high


# ---------------------------------------------------------------------------------------------- data

@pytest.fixture(scope="module")
def cohort():
    return load_demo()


def _burden(cohort, e):
    s = cohort.data.set_index("patient_id")["burden"]
    return np.asarray(s.reindex(np.asarray(e.patient_id)).to_numpy(), dtype=object)


@pytest.fixture(scope="module")
def os_by_burden(cohort):
    e = ep.overall_survival(cohort)
    b = _burden(cohort, e)
    return [(label, stats.kaplan_meier(e.time[b == g], e.status[b == g]))
            for g, label in (("low", "Low burden"), ("high", "High burden"))]


@pytest.fixture(scope="module")
def cif_inputs(cohort):
    """Relapse and death in remission by burden, limits, and each group's any-event KM for the
    number at risk (as the report's CIFFigure carries them)."""
    e = ep.relapse_competing(cohort)
    b = _burden(cohort, e)
    known = np.isin(b, ["low", "high"])
    res = stats.cumulative_incidence(e.time[known], e.status[known], group=np.asarray(b[known], str))
    curves, groups = [], []
    for cause, cname in ((1, "Relapse"), (2, "Death in remission")):
        for g, label in (("low", "Low burden"), ("high", "High burden")):
            t, est = res.curve(cause=cause, group=g)
            at = res.at(t, cause=cause, group=g)
            curves.append((f"{cname}, {label.lower()}", t, est, at.lower, at.upper))
            groups.append(label)
    at_risk = {label: stats.kaplan_meier(e.time[b == g], (e.status[b == g] > 0).astype(int))
               for g, label in (("low", "Low burden"), ("high", "High burden"))}
    return curves, groups, at_risk


def _random_kms(k, n, seed, labels=None, years=10):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = rng.exponential(600 * (i + 1), n)
        c = rng.uniform(0, years * 365.25, n)
        label = labels[i] if labels else f"Arm {i + 1}"
        out.append((label, stats.kaplan_meier(np.minimum(t, c) + 1, (t <= c).astype(int))))
    return out


LONG = ["Tisagenlecleucel, high disease burden (>= 5% marrow blasts)", "Tisagenlecleucel, low burden",
        "Standard of care", "Arm D", "Arm E, second line after blinatumomab"]


@pytest.fixture(scope="module")
def figures(os_by_burden, cif_inputs, cohort):
    """One of every kind, and the hard cases, built once."""
    curves, groups, at_risk = cif_inputs
    lanes = _demo_lanes(cohort)
    figs = {
        "km": plot.km(os_by_burden, title="Overall survival by disease burden", p_value=0.0471,
                      confidence_bands=True, censored_row=True),
        "km_one": plot.km(os_by_burden[:1], title="One group"),
        "km_many": plot.km(_random_kms(5, 400, 1, LONG), title="Five arms with long names " * 3, p_value=2e-9,
                           confidence_bands=True, censored_row=True),
        "km_registry": plot.km(_random_kms(2, 30000, 2, years=15), title="Registry-size groups", p_value=0.3),
        "cif": plot.cif(curves, at_risk=at_risk, groups=groups, title="Relapse and death in remission",
                        p_value=0.5, censored_row=True),
        "cif_plain": plot.cif(curves[:2], at_risk=at_risk, groups=groups[:2], confidence_bands=False,
                              p_value=0.0004),
        "forest": plot.forest([("High vs low disease burden", 1.73, 0.82, 3.64, 0.151),
                               ("Age, per 10 years", 0.95, 0.69, 1.30, 0.753),
                               ("A very long covariate label that has to wrap onto a second line", 1.1, 0.2, 40.0,
                                0.0002),
                               ("Not estimable term", float("nan"), None, None, None)],
                              title="Event-free survival: multivariable Cox model"),
        "swimmer": plot.swimmer(lanes, title="Course of every patient")[0],
        "swimmer60": plot.swimmer(_many_lanes(60), title="Sixty patients")[0],
        "toxicity": plot.toxicity([str(g) for g in range(6)], [("Low burden", (5, 6, 8, 2, 0, 0)),
                                                               ("High burden", (3, 10, 7, 10, 1, 1))],
                                  title="Cytokine release syndrome grade"),
    }
    return figs


def _demo_lanes(cohort):
    d = cohort.data.sort_values("last_contact_day", kind="stable")
    lanes = []
    for _, r in d.iterrows():
        end = float(r["last_contact_day"])
        events = tuple((k, float(r[c])) for k, c in (("response", "response_day"), ("relapse", "relapse_day"),
                                                     ("allo_hct", "allo_hct_day"), ("death", "death_day"))
                       if r.get(c) == r.get(c) and r.get(c) is not None and float(r[c]) <= end)
        lanes.append((str(r["patient_id"]), end, not any(k == "death" for k, _ in events), events))
    return lanes


def _many_lanes(n, seed=3):
    rng = np.random.default_rng(seed)
    ends = rng.uniform(20, 1500, n)
    return [(f"PT-{i:05d}", e, bool(i % 3), (("response", 28.0), ("death", e)) if not i % 3 else (("response", 28.0),))
            for i, e in enumerate(ends)]


# ------------------------------------------------------------------------------------------ helpers

def _svg(fig) -> ET.Element:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return ET.fromstring(buf.getvalue())


def _svg_text(root, gid):
    g = root.find(f".//{SVG_NS}g[@id='{gid}']")
    if g is None:
        return None
    texts = ["".join(t.itertext()) for t in g.iter(f"{SVG_NS}text")]
    return "\n".join(texts)


def _drawn_texts(fig):
    """Every non-empty Text that is drawn, with its box in pixels."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    out = []

    def walk(a):
        if not a.get_visible():
            return
        if isinstance(a, Axis) and not a.axes.axison:
            return
        if isinstance(a, Tick):                      # ticks outside the view are not drawn
            axis = a.axes.xaxis if isinstance(a, XTick) else a.axes.yaxis
            lo, hi = sorted(axis.get_view_interval())
            if not lo - 1e-9 <= a.get_loc() <= hi + 1e-9:
                return
        if isinstance(a, Text) and a.get_text().strip():
            out.append((a, a.get_window_extent(r)))
        for c in a.get_children():
            walk(c)

    walk(fig)
    return out


def _overlap(a: Bbox, b: Bbox, tol=0.5) -> bool:
    return a.x0 < b.x1 - tol and b.x0 < a.x1 - tol and a.y0 < b.y1 - tol and b.y0 < a.y1 - tol


def _data_geometry(ax):
    """Drawn curves, lines, marks and bands of ``ax`` in pixels (independent of ltfu.plot's own)."""
    lines, points, areas = [], [], []
    for ln in ax.lines:
        xy = ln.get_transform().transform(np.asarray(ln.get_xydata(), float))
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if ln.get_linestyle() not in ("None", "none", " ", "") and len(xy) > 1:
            lines.append(MPath(xy))
        if ln.get_marker() not in (None, "None", "none", " ", ""):
            points.append((xy, ln.get_markersize() * ax.figure.dpi / 72 / 2))
    for coll in ax.collections:
        for p in coll.get_paths():
            v = coll.get_transform().transform(p.vertices)
            if np.isfinite(v).all():
                areas.append(MPath(v, closed=True))
    return lines, points, areas


def _covers_geometry(bb, geometry):
    lines, points, areas = geometry
    if any(p.intersects_bbox(bb, filled=False) for p in lines):
        return True
    if any(p.intersects_bbox(bb, filled=True) for p in areas):
        return True
    return any(((xy[:, 0] > bb.x0 - r) & (xy[:, 0] < bb.x1 + r) & (xy[:, 1] > bb.y0 - r) &
                (xy[:, 1] < bb.y1 + r)).any() for xy, r in points if xy.size)


# ---------------------------------------------------------------------------------- number at risk

def test_km_at_risk_numbers_in_the_svg_equal_n_risk(figures, os_by_burden):
    fig = figures["km"]
    root = _svg(fig)
    ticks = np.asarray(fig.ltfu_at_risk["ticks_months"])
    assert ticks.size >= 3
    for r, (label, km) in enumerate(os_by_burden):
        expected = km.at(ticks * DAYS_PER_MONTH).n_risk.tolist()
        printed = [_svg_text(root, f"atrisk-{r}-{c}") for c in range(ticks.size)]
        assert printed == [str(v) for v in expected]
        assert _svg_text(root, f"atrisk-{r}-{ticks.size}") is None          # no extra column
        assert _svg_text(root, f"atrisk-label-{r}") == label                  # the group named in text
        # cumulative censored row: counted here from the data table of the fit
        cens = [int(km.n_censor[km.time <= t * DAYS_PER_MONTH].sum()) for t in ticks]
        assert [_svg_text(root, f"censored-{r}-{c}") for c in range(ticks.size)] == [str(v) for v in cens]
        assert _svg_text(root, f"censored-label-{r}") == label
    # by hand at 0 months: everybody
    assert [_svg_text(root, f"atrisk-{r}-0") for r in range(2)] == ["21", "32"]


def test_cif_at_risk_numbers_in_the_svg_equal_n_risk(figures, cif_inputs):
    _, _, at_risk = cif_inputs
    fig = figures["cif"]
    root = _svg(fig)
    ticks = np.asarray(fig.ltfu_at_risk["ticks_months"])
    for r, (group, km) in enumerate(at_risk.items()):
        expected = km.at(ticks * DAYS_PER_MONTH).n_risk.tolist()
        assert [_svg_text(root, f"atrisk-{r}-{c}") for c in range(ticks.size)] == [str(v) for v in expected]
        assert _svg_text(root, f"atrisk-label-{r}") == group
        # and the same as counting the group's follow-up times >= t directly
        assert expected == [int((km.time.repeat(km.n_event + km.n_censor) >= t * DAYS_PER_MONTH).sum())
                            for t in ticks]


def test_report_renders_cif_with_its_number_at_risk(cif_inputs):
    from ltfu.report.figures import render_figure

    curves, groups, at_risk = cif_inputs
    spec = CIFFigure("cif", "CIF", tuple(c[:3] for c in curves), groups=tuple(groups),
                     at_risk=tuple(at_risk.items()), limits=tuple((c[3], c[4]) for c in curves), p_value=0.5,
                     test_name="Gray's test (relapse)")
    fig = render_figure(spec)
    ticks = np.asarray(fig.ltfu_at_risk["ticks_months"]) * DAYS_PER_MONTH
    for g, km in at_risk.items():
        assert fig.ltfu_at_risk["n_risk"][g] == km.at(ticks).n_risk.tolist()
    texts = [t.get_text() for t, _ in _drawn_texts(fig)]
    assert "Gray's test (relapse) P = 0.50" in texts


def test_at_risk_numbers_sit_under_the_ticks_every_12_months(figures):
    for name in ("km", "km_many", "cif", "km_one"):
        fig = figures[name]
        ax = fig.ltfu_axes
        ticks = ax.get_xticks()
        assert ticks[0] == 0 and np.allclose(np.diff(ticks), 12), name
        assert list(ticks) == fig.ltfu_at_risk["ticks_months"]
        r = fig.canvas.get_renderer()
        x_px = ax.transData.transform(np.c_[ticks, np.zeros_like(ticks)])[:, 0]
        nums = [t for t in fig.texts if re.fullmatch(r"atrisk-\d+-\d+", t.get_gid() or "")]
        assert nums
        for t in nums:
            c = int(t.get_gid().rsplit("-", 1)[1])
            bb = t.get_window_extent(r)
            assert abs((bb.x0 + bb.x1) / 2 - x_px[c]) < 0.5, (name, t.get_gid())
    for name in ("swimmer", "swimmer60"):
        ticks = figures[name].ltfu_axes.get_xticks()
        assert np.allclose(np.diff(ticks), 12)


def test_truncated_where_fewer_than_10_percent_remain_and_said_so(os_by_burden, figures):
    fig = figures["km"]
    cut = []
    for _, km in os_by_burden:
        after = np.r_[km.n_risk[1:], 0]
        cut.append(km.time[np.flatnonzero(after < 0.1 * km.n)[0]] / DAYS_PER_MONTH)
    assert fig.ltfu_axes.get_xlim()[1] == pytest.approx(min(cut))
    longest = max(km.time[-1] for _, km in os_by_burden) / DAYS_PER_MONTH
    assert min(cut) < longest
    note = [n for n in fig.ltfu_notes if n.startswith("Curves stop at")]
    assert note and f"{min(cut):.1f} months" in note[0] and "10%" in note[0]
    drawn = " ".join(t.get_text() for t, _ in _drawn_texts(fig))
    assert f"{min(cut):.1f} months" in drawn                                   # written on the figure
    # no curve drawn past the cut
    for ln in fig.ltfu_axes.lines:
        assert np.nanmax(ln.get_xdata()) <= min(cut) + 1e-9
    # an explicit max_months wins
    fig2 = plot.km(os_by_burden, max_months=40)
    assert fig2.ltfu_axes.get_xlim()[1] == 40 and list(fig2.ltfu_axes.get_xticks()) == [0, 12, 24, 36]


# -------------------------------------------------------------------------------------------- text

@pytest.mark.parametrize("name", ["km", "km_one", "km_many", "km_registry", "cif", "cif_plain", "forest",
                                  "swimmer", "swimmer60", "toxicity"])
def test_no_text_overlaps_another_or_leaves_the_canvas(figures, name):
    fig = figures[name]
    texts = _drawn_texts(fig)
    assert len(texts) > 5
    canvas = fig.bbox
    for t, bb in texts:
        assert bb.x0 >= canvas.x0 - 0.5 and bb.x1 <= canvas.x1 + 0.5 and bb.y0 >= canvas.y0 - 0.5 \
            and bb.y1 <= canvas.y1 + 0.5, (name, t.get_text())
    for (a, ba), (b, bb) in itertools.combinations(texts, 2):
        assert not _overlap(ba, bb), (name, a.get_text(), b.get_text())


@pytest.mark.parametrize("dpi", [150, 300])
def test_text_stays_apart_and_on_the_canvas_at_other_resolutions(figures, dpi):
    """Text widths change a little with the resolution (hinting): the layout keeps a margin."""
    for name in ("km", "km_many", "forest", "toxicity"):
        fig = figures[name]
        fig.set_dpi(dpi)
        try:
            texts = _drawn_texts(fig)
            for t, bb in texts:
                assert bb.x0 >= -0.5 and bb.x1 <= fig.bbox.x1 + 0.5, (name, dpi, t.get_text())
            for (a, ba), (b, bb) in itertools.combinations(texts, 2):
                assert not _overlap(ba, bb), (name, dpi, a.get_text(), b.get_text())
        finally:
            fig.set_dpi(100)


@pytest.mark.parametrize("name", ["km", "km_one", "km_many", "km_registry", "cif", "cif_plain"])
def test_legend_and_p_value_cross_no_curve_band_mark_or_line(figures, name):
    fig = figures[name]
    ax = fig.ltfu_axes
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    geometry = _data_geometry(ax)
    boxes = []
    leg = ax.get_legend()
    if leg is not None:
        boxes.append(("legend", leg.get_window_extent(r)))
    boxes += [(t.get_text(), t.get_window_extent(r)) for t in ax.texts if t.get_text()]
    assert boxes or name == "km_one"
    for what, bb in boxes:
        assert not _covers_geometry(bb, geometry), (name, what)
    # the test itself can fail: the legend box does cover the curves when forced into their way
    assert _covers_geometry(ax.bbox, geometry)


def test_group_labels_written_as_text(figures, os_by_burden):
    for name, labels in (("km", [lab for lab, _ in os_by_burden]), ("km_many", LONG),
                         ("cif", ["Low burden", "High burden"])):
        fig = figures[name]
        root = _svg(fig)
        for r, lab in enumerate(labels):
            printed = _svg_text(root, f"atrisk-label-{r}")
            assert printed is not None and " ".join(printed.split()) == lab, name


# ------------------------------------------------------------------------------------ line styles

def _curve_styles(fig):
    root = _svg(fig)
    out = []
    i = 0
    while True:
        g = root.find(f".//{SVG_NS}g[@id='curve-{i}']")
        if g is None:
            return out
        path = g.find(f".//{SVG_NS}path")
        style = path.get("style", "")
        dash = re.search(r"stroke-dasharray:\s*([^;]+)", style)
        colour = re.search(r"stroke:\s*(#[0-9a-fA-F]{6})", style)
        out.append((dash.group(1).strip() if dash else "solid", colour.group(1).lower()))
        i += 1


@pytest.mark.parametrize("name", ["km", "km_many", "cif"])
def test_line_styles_differ_between_curves(figures, name):
    styles = _curve_styles(figures[name])
    assert len(styles) >= 2
    dashes = [d for d, _ in styles]
    assert len(set(dashes)) == len(dashes), dashes
    assert {c for _, c in styles} <= {c.lower() for c in plot.PALETTE}     # Okabe-Ito


def test_curves_stay_distinguishable_in_greyscale():
    """Seven curves (the whole palette): printed in grey some colours become the same grey, so the
    line style alone must tell every pair apart, in the plot and in the legend."""
    kms = _random_kms(7, 60, 5, years=4)
    fig = plot.km(kms, median_lines=False)
    styles = _curve_styles(fig)
    assert len(styles) == 7

    def grey(c):
        r, g, b = to_rgb(c)
        return 0.299 * r + 0.587 * g + 0.114 * b

    similar = [(a, b) for a, b in itertools.combinations(range(7), 2)
               if abs(grey(styles[a][1]) - grey(styles[b][1])) < 0.15]
    assert similar                       # colour alone would not do in grey
    for a, b in itertools.combinations(range(7), 2):
        assert styles[a][0] != styles[b][0]
    # the legend shows each curve's own dash pattern
    leg = fig.ltfu_axes.get_legend() or fig.legends[0]
    handle_dashes = [tuple(np.round(h._dash_pattern[1], 3)) if h._dash_pattern[1] else "solid"
                     for h in leg.legend_handles]
    curve_dashes = [tuple(np.round(ln._dash_pattern[1], 3)) if ln._dash_pattern[1] else "solid"
                    for ln in fig.ltfu_axes.lines if (ln.get_gid() or "").startswith("curve-")]
    assert handle_dashes == curve_dashes


# ---------------------------------------------------------------------------------- global state

def test_backend_and_rcparams_untouched():
    """In a fresh interpreter with a user's backend and style set: importing and calling every
    function of ltfu.plot, and saving, change neither, and never import pyplot."""
    code = r"""
import json, sys, warnings
import matplotlib
matplotlib.use("pdf")
matplotlib.rcParams["font.size"] = 13
matplotlib.rcParams["lines.linewidth"] = 4
matplotlib.rcParams["svg.fonttype"] = "path"
warnings.simplefilter("ignore")
before = {k: repr(v) for k, v in matplotlib.rcParams.items()}
backend = matplotlib.get_backend()
import ltfu.plot as lp
from ltfu import stats
import io
km = stats.kaplan_meier([100, 200, 300, 400, 500, 800], [1, 0, 1, 1, 0, 1])
figs = [lp.km([("A", km), ("B", km)], p_value=0.2),
        lp.cif([("R", [0, 100, 300], [0, 0.2, 0.4])], at_risk={"R": km}),
        lp.forest([("x", 1.2, 0.8, 1.9, 0.3)]), *lp.swimmer([("1", 300, True, (("response", 30),))]),
        lp.toxicity(["0", "1"], {"A": (3, 4)})]
for f in figs:
    f.savefig(io.BytesIO(), format="svg")
figs[0].savefig(io.BytesIO(), format="pdf")
figs[0].savefig(io.BytesIO(), format="png", dpi=72)
after = {k: repr(v) for k, v in matplotlib.rcParams.items()}
print(json.dumps({"backend": [backend, matplotlib.get_backend()],
                  "changed": sorted(k for k in before if before[k] != after[k]),
                  "pyplot": "matplotlib.pyplot" in sys.modules,
                  "tick_size": figs[0].ltfu_axes.xaxis.get_ticklabels()[0].get_fontsize(),
                  "line_width": figs[0].ltfu_axes.lines[0].get_linewidth()}))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    env.pop("MPLBACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["backend"] == ["pdf", "pdf"]
    assert r["changed"] == []
    assert r["pyplot"] is False
    assert r["tick_size"] == plot.FONT and r["line_width"] == 1.5      # ltfu's style, not the session's


def test_no_global_matplotlib_calls_in_the_source():
    import ltfu.report.figures as report_figures

    for mod in (plot, report_figures):
        src = Path(mod.__file__).read_text()
        assert not re.search(r"^\s*(import|from)\s+matplotlib\.pyplot", src, re.MULTILINE)
        assert not re.search(r"\.use\(|rcParams\.update|rcParams\[[^]]*\]\s*=|rcdefaults|style\.use", src)


def test_savefig_writes_vector_text_and_300_dpi_png(figures):
    fig = figures["km"]
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue().decode()
    assert "<text" in svg and "Number at risk" in svg              # text stays text
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    assert buf.getvalue().startswith(b"%PDF") and b"/FontFile2" in buf.getvalue()   # TrueType embedded
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    import struct

    w_px, h_px = struct.unpack(">II", buf.getvalue()[16:24])
    w_in, h_in = fig.get_size_inches()
    assert abs(w_px - w_in * 300) <= 1 and abs(h_px - h_in * 300) <= 1



def test_png_is_rgb_with_matplotlibs_pixels_and_metadata(figures, tmp_path):
    """ltfu's canvas writes an opaque figure's PNG as RGB: the pixels and metadata of matplotlib's
    own RGBA PNG without its alpha channel (255 everywhere); a transparent one stays RGBA."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from ltfu.plot._style import _Canvas

    for name in ("km", "cif"):
        fig = figures[name]
        assert isinstance(fig.canvas, _Canvas)
        ours, theirs = io.BytesIO(), io.BytesIO()
        fig.savefig(ours, format="png", bbox_inches="tight")
        try:
            FigureCanvasAgg(fig)
            fig.savefig(theirs, format="png", bbox_inches="tight")
        finally:
            _Canvas(fig)
        with Image.open(ours) as a, Image.open(theirs) as b:
            assert (a.mode, b.mode) == ("RGB", "RGBA")
            assert a.info == b.info and a.info["Software"].startswith("Matplotlib")
            pa, pb = np.asarray(a), np.asarray(b)
            assert int(pb[..., 3].min()) == 255 and np.array_equal(pa, pb[..., :3])
        assert len(ours.getvalue()) < len(theirs.getvalue())
    clear = io.BytesIO()
    figures["km"].savefig(clear, format="png", transparent=True)
    with Image.open(clear) as c:
        assert c.mode == "RGBA" and int(np.asarray(c)[..., 3].min()) == 0
    # metadata that a tEXt chunk cannot hold (not Latin-1): matplotlib's file, which writes iTXt
    wide = io.BytesIO()
    figures["km"].savefig(wide, format="png", dpi=50, metadata={"Title": "生存"})
    with Image.open(wide) as c:
        assert c.mode == "RGBA" and c.info["Title"] == "生存"
    # metadata given as bytes (which matplotlib takes): matplotlib's file
    raw = io.BytesIO()
    figures["km"].savefig(raw, format="png", dpi=50, metadata={"Title": b"survival"})
    with Image.open(raw) as c:
        assert c.mode == "RGBA" and c.info["Title"] == "survival"
    # a path: the same bytes as to a stream
    path, buf = tmp_path / "km.png", io.BytesIO()
    figures["km"].savefig(path, format="png", dpi=50, metadata={"Title": "Überleben"})
    figures["km"].savefig(buf, format="png", dpi=50, metadata={"Title": "Überleben"})
    assert path.read_bytes() == buf.getvalue()
    with Image.open(path) as c:
        assert c.mode == "RGB" and c.info["Title"] == "Überleben" and round(c.info["dpi"][0]) == 50



def test_one_tight_box_gives_the_tight_png_and_a_box_within_a_point_for_the_svg(figures):
    """LtfuFigure.tight_box(dpi), which the report uses at 300 dpi for both files of a figure, is
    the box savefig(bbox_inches="tight") finds at that dpi: the PNG is byte for byte the same, for
    every kind of figure (checked at 120 dpi, the same code and a ninth of the pixels); the SVG's
    own 72-dpi box is a fraction of a point from the 300-dpi one."""
    import re

    for name, fig in figures.items():
        a, b = io.BytesIO(), io.BytesIO()
        fig.savefig(a, format="png", dpi=120, bbox_inches="tight")
        fig.savefig(b, format="png", dpi=120, bbox_inches=fig.tight_box(120))
        box = fig.tight_box(300)
        assert a.getvalue() == b.getvalue(), name
        sizes = []
        for how in ("tight", box):
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", bbox_inches=how)
            sizes.append([float(v) for v in re.search(rb'width="([0-9.]+)pt" height="([0-9.]+)pt"',
                                                       buf.getvalue()).groups()])
        assert all(abs(u - v) < 1.0 for u, v in zip(*sizes)), (name, sizes)


def test_tight_png_is_the_rendering_cut_to_the_tight_box(figures):
    """LtfuFigure.tight_png(dpi), the report's PNG: the pixels of matplotlib's own savefig(dpi=dpi)
    at the figure's size, cut to the padded tight box (``tight_box``, the same box) rounded out to
    whole pixels, the padding beyond the figure's edge white; within two pixels of the "tight"
    PNG's size.  A figure whose content crosses its edge, or whose face is not opaque, is not cut:
    None."""
    import math
    import struct

    import numpy as np
    from PIL import Image

    dpi = 120
    for name, fig in figures.items():
        got = fig.tight_png(dpi)
        assert got is not None, name
        png, box = got
        assert png.startswith(b"\x89PNG") and box.bounds == fig.tight_box(dpi).bounds, name
        full = io.BytesIO()
        fig.savefig(full, format="png", dpi=dpi)
        with Image.open(full) as im:
            whole = np.asarray(im.convert("RGB"))
        rows, cols = whole.shape[:2]
        top, left = math.floor(rows - box.y1 * dpi), math.floor(box.x0 * dpi)
        want = np.full((math.ceil(rows - box.y0 * dpi) - top, math.ceil(box.x1 * dpi) - left, 3), 255, np.uint8)
        r0, c0 = max(top, 0), max(left, 0)
        want[r0 - top:rows - top, c0 - left:cols - left] = whole[r0:top + want.shape[0], c0:left + want.shape[1]]
        with Image.open(io.BytesIO(png)) as im:
            assert im.mode == "RGB" and round(im.info["dpi"][0]) == dpi
            assert np.array_equal(np.asarray(im), want), name
        tight = io.BytesIO()
        fig.savefig(tight, format="png", dpi=dpi, bbox_inches="tight")
        sizes = [struct.unpack(">II", b[16:24]) for b in (png, tight.getvalue())]
        assert all(0 <= a - b <= 2 for a, b in zip(*sizes)), (name, sizes)
    spill = plot.forest([("Age, per 10 years", 0.95, 0.69, 1.30, 0.753)], title="Beyond the edge")
    spill.text(1.05, 0.5, "outside", transform=spill.transFigure)
    assert spill.tight_png(dpi) is None
    clear = plot.forest([("Age, per 10 years", 0.95, 0.69, 1.30, 0.753)], title="Transparent")
    clear.patch.set_alpha(0.5)
    assert clear.tight_png(dpi) is None


# ------------------------------------------------------------------------------------------ swimmer

def _print_scale(fig):
    """Scale at which the report's PDF prints ``fig`` (16 cm wide, at most 22 cm high), from the
    tight box the report saves."""
    fig.canvas.draw()
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = bb.width, bb.height
    scale = PRINT_W_IN / w
    if h * scale > PRINT_MAX_H_IN:
        scale = PRINT_MAX_H_IN / h
    return scale


@pytest.mark.parametrize("n", [53, 60, 150])
def test_swimmer_labels_at_least_7pt_at_print_size(n, cohort):
    lanes = _demo_lanes(cohort) if n == 53 else _many_lanes(n)
    for fig in plot.swimmer(lanes):
        scale = _print_scale(fig)
        labels = [t for t in fig.texts if (t.get_gid() or "").startswith("lane-label-")]
        assert len(labels) == len(fig.ltfu_lanes)
        assert min(t.get_fontsize() for t in labels) * scale >= 7.0 - 1e-9
        texts = _drawn_texts(fig)
        for (a, ba), (b, bb) in itertools.combinations(texts, 2):
            assert not _overlap(ba, bb), (a.get_text(), b.get_text())


def test_swimmer_paginates_above_60_patients():
    assert len(plot.swimmer(_many_lanes(60))) == 1
    for n in (61, 100, 150):
        lanes = _many_lanes(n)
        pages = plot.swimmer(lanes)
        assert len(pages) >= 2 and all(len(p.ltfu_lanes) <= 50 for p in pages)
        assert [lab for p in pages for lab in p.ltfu_lanes] == [ln[0] for ln in lanes]   # all, once, in order
        assert len({p.ltfu_axes.get_xlim() for p in pages}) == 1                        # one time axis
        assert all(f"page {i + 1} of {len(pages)}" in p.texts[0].get_text() + " " + " ".join(t.get_text()
                   for t in p.texts) for i, p in enumerate(pages))


def test_swimmer_deidentified_labels():
    lanes = _many_lanes(12)
    fig = plot.swimmer(lanes, deidentify=True)[0]
    root = _svg(fig)
    svg = ET.tostring(root).decode()
    assert "PT-0" not in svg
    assert fig.ltfu_lanes == [f"{i:02d}" for i in range(1, 13)]


def test_report_swimmer_above_60_patients_is_written_as_pages(tmp_path):
    from ltfu.report import write_report
    from ltfu.results import Results, Section

    spec = SwimmerFigure("swimmer", "Course of every patient", tuple(_many_lanes(70)))
    res = Results("t", {}, (Section("s", "S", figures=("swimmer",)),), (), (spec,))
    out = write_report(res, tmp_path / "r", formats=("svg", "png", "html"))
    figs = sorted(p.name for p in (out.parent / "figures").iterdir())
    assert figs == ["swimmer-page2.png", "swimmer-page2.svg", "swimmer.png", "swimmer.svg"]
    assert out.read_text().count("data:image/svg+xml;base64,") == 2


# ----------------------------------------------------------------------------------------- toxicity

def test_toxicity_bars_are_percentages_of_the_group_with_counts_written(figures):
    fig = figures["toxicity"]
    counts = {"Low burden": (5, 6, 8, 2, 0, 0), "High burden": (3, 10, 7, 10, 1, 1)}
    root = _svg(fig)
    for i, (g, cs) in enumerate(counts.items()):
        n = sum(cs)
        bars = [p for p in fig.ltfu_axes.patches if (p.get_gid() or "").startswith(f"bar-{i}-")]
        assert [round(b.get_height(), 9) for b in bars] == [round(100 * c / n, 9) for c in cs]
        assert [_svg_text(root, f"count-{i}-{j}") for j in range(len(cs))] == [str(c) for c in cs]
        assert f"{g} (N = {n})" in ET.tostring(root).decode()
    assert "%" in fig.ltfu_axes.get_ylabel()
    # an explicit denominator (patients not graded in any category shown)
    f2 = plot.toxicity(["3", "4"], {"A": (2, 1)}, denominators={"A": 30})
    assert [p.get_height() for p in f2.ltfu_axes.patches if (p.get_gid() or "").startswith("bar-0-")] == \
        pytest.approx([100 * 2 / 30, 100 / 30])


# ----------------------------------------------------------------------------------- forest, p-values

def test_format_p():
    assert [format_p(p) for p in (0.0471, 0.5, 0.151, 0.001, 0.00099, 1e-12, 0.9999, 1.0, 0.0123)] == \
        ["0.047", "0.50", "0.15", "0.0010", "<0.001", "<0.001", "1.0", "1.0", "0.012"]
    assert format_p(None) == "NA" and format_p(float("nan")) == "NA"
    with pytest.raises(ValueError):
        format_p(1.5)


def test_forest_labels_estimates_and_p_values_as_text(figures):
    fig = figures["forest"]
    root = _svg(fig)
    assert _svg_text(root, "forest-label-0") == "High vs low disease burden"
    assert _svg_text(root, "forest-estimate-0") == "1.73 (0.82\u20133.64)"
    assert _svg_text(root, "forest-p-0") == format_p(0.151) == "0.15"
    assert _svg_text(root, "forest-p-2") == "<0.001"
    assert _svg_text(root, "forest-estimate-3") == "not estimable"
    assert " ".join(_svg_text(root, "forest-label-2").split()) == \
        "A very long covariate label that has to wrap onto a second line"
    # the texts are beside the plot, not on it
    r = fig.canvas.get_renderer()
    ax_box = fig.ltfu_axes.get_window_extent(r)
    for t in fig.texts:
        if (t.get_gid() or "").startswith(("forest-estimate", "forest-p", "forest-label")):
            bb = t.get_window_extent(r)
            assert bb.x1 <= ax_box.x0 or bb.x0 >= ax_box.x1


def test_km_p_value_uses_format_p(figures):
    texts = [t.get_text() for t, _ in _drawn_texts(figures["km"])]
    assert "Log-rank P = 0.047" in texts
    texts = [t.get_text() for t, _ in _drawn_texts(figures["km_many"])]
    assert "Log-rank P < 0.001" in texts


def test_report_km_keeps_ltfu_at_risk(os_by_burden):
    from ltfu.report.figures import render_figure

    fig = render_figure(KMFigure("km", "t", tuple(os_by_burden), p_value=0.0471, test_name="Log-rank"))
    ticks = np.asarray(fig.ltfu_at_risk["ticks_months"])
    assert np.allclose(np.diff(ticks), 12)
    for label, km in os_by_burden:
        assert fig.ltfu_at_risk["n_risk"][label] == km.at(ticks * DAYS_PER_MONTH).n_risk.tolist()


def test_a_curve_that_patients_enter_over_time_is_cut_against_its_peak():
    """The transplanted state of a Simon-Makuch figure: five patients at first, a thousand later.
    The 10% rule is measured against its largest risk set, once reached (a registry's figure was
    cut at its first month against all 1.7 million who ever entered); a curve without entry is cut
    where 10% of all its patients remain, as before."""
    from ltfu.plot._steps import _cut_time
    from ltfu.stats import kaplan_meier

    rng = np.random.default_rng(1)
    entry = np.r_[np.zeros(5), rng.uniform(100, 200, 1000)]
    time = entry + rng.uniform(1, 800, entry.size)
    event = (rng.random(entry.size) < 0.7).astype(int)
    late = kaplan_meier(time, event, entry=entry)
    cut = _cut_time(late, 1.0)
    risk = late.at([cut + 1e-9]).n_risk[0]
    assert cut > 200 and risk < 0.1 * late.n_risk.max() <= late.at([cut - 1.0]).n_risk[0]
    plain = kaplan_meier(time - entry, event)
    nr = plain.n_risk
    first_below = plain.time[np.flatnonzero(np.r_[nr[1:], 0] < 0.1 * plain.n)[0]]
    assert _cut_time(plain, 1.0) == first_below


def _wrap_word_by_word(size, text, width_in):
    """The greedy wrap as a loop over the words, measuring every candidate line (the reference)."""
    lines = []
    for para in str(text).split("\n"):
        cur = ""
        for w in para.split(" "):
            trial = w if not cur else cur + " " + w
            if cur and size(trial) > width_in:
                lines.append(cur)
                cur = w
            else:
                cur = trial
        lines.append(cur)
    return lines


def test_bisected_wrap_breaks_where_the_word_by_word_loop_breaks(monkeypatch):
    """``_text._wrap`` finds each line's end by bisection; its lines are those of the loop that
    measures every candidate: texts with repeated, leading and trailing spaces, empty paragraphs,
    words wider than the line, under widths that grow with each character by random amounts (in
    place of matplotlib's measuring, which is slow), then on real notes measured by matplotlib."""
    import random

    from ltfu.plot import _text

    rng = random.Random(5)
    for _ in range(400):
        widths = {c: rng.uniform(0.02, 0.2) for c in "abcdefghij "}
        def size(s, widths=widths):
            return sum(widths[c] for c in s)
        monkeypatch.setattr(_text, "_size", lambda fig, s, **kw: (size(s), 0.1))
        words = ["".join(rng.choice("abcdefghij") for _ in range(rng.choice([0, 1, 3, 8, 20])))
                 for _ in range(rng.randint(0, 30))]
        text = "".join(w + rng.choice([" ", " ", " ", "  ", "\n"]) for w in words)
        width = rng.uniform(0.1, 3.0)
        assert _text._wrap(None, text, width) == _wrap_word_by_word(size, text, width), (text, width)
    monkeypatch.undo()
    from ltfu.plot._style import SMALL, LtfuFigure

    fig = LtfuFigure(figsize=(6.3, 5))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    notes = ["Kaplan-Meier estimates with 95% confidence intervals (log-log); censored patients are marked, "
             "and the number at risk is given under the plot at each time (SYNTHETIC demonstration data).",
             "Cumulative incidence of relapse with death in remission as the competing event;  Gray's test.",
             "short"]
    for note in notes:
        for width in (0.5, 2.0, 4.3, 6.0):
            assert _text._wrap(fig, note, width, fontsize=SMALL) == \
                _wrap_word_by_word(lambda s: _text._size(fig, s, fontsize=SMALL)[0], note, width)


def test_text_from_the_data_is_drawn_as_written_not_as_mathematics():
    """A label with two dollar signs ("A$1_2$", a patient id; "<$5k or >$10k", a category) is text:
    matplotlib would set it as mathematics (a subscript 2) or fail to parse it.  The swimmer
    legend's arrow, the one piece of mathematics ltfu draws, is still the mathtext arrow (the demo's
    swimmer figure is the same bytes)."""
    labels = ["A$1_2$", "<$5k or >$10k", "x$^{"]
    fig = plot.toxicity(["0", "1"], [(lab, (1, 2)) for lab in labels], title="Costs $1 and $2")
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    texts = [t.text for t in ET.fromstring(buf.getvalue()).iter("{http://www.w3.org/2000/svg}text") if t.text]
    for want in [*labels, "Costs $1 and $2"]:
        assert any(want in t for t in texts), (want, texts)
    swim = plot.swimmer([("P1", 100.0, True, ())], title="One patient alive")[0]
    arrows = [h.get_marker() for leg in swim.legends for h in leg.legend_handles
              if isinstance(h.get_marker(), MPath)]
    assert len(arrows) == 1
    box = arrows[0].get_extents()
    assert np.allclose([box.x0 + box.x1, box.y0 + box.y1], 0.0)        # centred, as a "$...$" marker is
