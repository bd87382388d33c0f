"""Publication figures for survival analyses of cell-therapy trials (matplotlib, object API).

Five functions, each returning matplotlib ``Figure`` objects built from ltfu results:

- :func:`km` - Kaplan-Meier curves from ``KaplanMeier`` objects;
- :func:`cif` - cumulative incidence step functions (competing risks), optionally with limits;
- :func:`forest` - ratios with confidence intervals, estimate and p-value written beside the plot;
- :func:`swimmer` - one lane per patient; returns a **list** of Figures, one per page
  (a single page up to 60 patients, pages of at most 50 above that);
- :func:`toxicity` - grade distributions as percentages of each group, counts written on the bars.

Conventions, as R's survminer/ggsurvfit and the figures of Park et al. (NEJM 2018):

- the number-at-risk table is printed under the x axis with each group's name written at the
  left of its row; its numbers are read from the results given (``KaplanMeier.at(ticks).n_risk``),
  aligned under the x ticks; an optional row gives the cumulative number censored;
- the time axis is in months (days / 30.4375) with a tick every 12 months (``tick_months``);
- by default the curves stop where fewer than 10% of a group remain at risk; the figure says so in
  its notes (written under the figure and returned as ``fig.ltfu_notes``);
- colours are Okabe-Ito (colour-blind safe) and every curve also has its own line style, so that
  the figure survives greyscale printing;
- the legend and the test's p-value go in a corner of the plot that no curve, band, censoring mark
  or median line passes through, found by checking the drawn geometry; if no corner is free they
  go above the plot;
- p-values are formatted by one rule (:func:`ltfu.formatting.format_p`): two significant digits,
  or "<0.001".

matplotlib's global state is never touched: no ``matplotlib.use``, no ``pyplot``, no change to
``rcParams``.  Figures are built inside ``matplotlib.rc_context`` with ltfu's style (a notebook's
own style does not leak in, nor ltfu's out) and drawn on their own Agg canvas.  They display in
Jupyter as any Figure.  ``fig.savefig`` writes vector SVG/PDF (text kept as text, TrueType fonts
embedded) and 300-dpi PNG by default.

Every figure carries a few attributes for checking and reuse: ``ltfu_notes`` (tuple of str) and,
for curves, ``ltfu_at_risk`` (``{"ticks_months", "n_risk", "n_censored"}``), ``ltfu_axes`` (the
plot's Axes) and ``ltfu_max_months``.  Artists have SVG ids (``gid``): ``curve-<i>``,
``atrisk-<row>-<col>``, ``atrisk-label-<row>``, ``p-value``, ``legend``...
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path
from matplotlib.transforms import Bbox, blended_transform_factory

from ltfu.errors import InvalidInputError
from ltfu.formatting import format_p, p_label
from ltfu.results import DAYS_PER_MONTH

__all__ = [
    "LINESTYLES",
    "PALETTE",
    "PRINT_MAX_HEIGHT_IN",
    "PRINT_WIDTH_IN",
    "LtfuFigure",
    "cif",
    "forest",
    "format_p",
    "km",
    "swimmer",
    "toxicity",
    "trajectories",
]

# Okabe & Ito (2008), without yellow (too light on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (9, 2.5)), (0, (1, 3)),
              (0, (4, 1.5, 4, 1.5, 1, 1.5)))
HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "++++", "oo")

# The report's PDF prints a figure 16 cm wide and at most 22 cm high (ltfu.report.pdf); figures are
# drawn at that size so that their font sizes are the printed ones.
PRINT_WIDTH_IN = 16 / 2.54
PRINT_MAX_HEIGHT_IN = 22 / 2.54

FONT = 8.0          # tick labels, tables, legends
SMALL = 7.0         # notes, counts on bars
LABEL = 9.0         # axis labels
TITLE = 10.0
ROW_IN = 0.165      # one line of 8-pt table text
TRUNCATE_FRACTION = 0.10
MAX_CENSOR_MARKS = 300
WIDTH_SLACK = 1.06

_BLACKLIST = {"backend", "backend_fallback", "interactive", "toolbar", "timezone", "figure.max_open_warning",
              "figure.raise_window", "savefig.directory", "tk.window_focus", "docstring.hardcopy",
              "webagg.port", "webagg.address", "webagg.port_retries", "webagg.open_in_browser", "date.epoch"}
_OURS = {
    "font.family": "DejaVu Sans", "font.size": FONT, "axes.titlesize": TITLE, "axes.labelsize": LABEL,
    "xtick.labelsize": FONT, "ytick.labelsize": FONT, "legend.fontsize": FONT, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.8, "lines.linewidth": 1.5,
    "xtick.major.width": 0.8, "ytick.major.width": 0.8, "xtick.major.size": 3.5, "ytick.major.size": 3.5,
    "hatch.linewidth": 0.6, "figure.dpi": 100, "savefig.dpi": 300, "figure.facecolor": "white",
    "savefig.facecolor": "white", "svg.fonttype": "none", "svg.hashsalt": "ltfu", "pdf.fonttype": 42,
    "ps.fonttype": 42, "axes.unicode_minus": True, "text.usetex": False,
}
_RC = None


def _rc() -> dict:
    """matplotlib's defaults (not the session's) with ltfu's publication settings on top."""
    global _RC
    if _RC is None:
        rc = {k: v for k, v in matplotlib.rcParamsDefault.items() if k not in _BLACKLIST}
        rc.update(_OURS)
        _RC = rc
    return _RC


def _style():
    return matplotlib.rc_context(_rc())


class LtfuFigure(Figure):
    """A matplotlib Figure whose ``savefig`` writes with ltfu's settings: 300 dpi unless ``dpi`` is
    given, SVG text as text, TrueType fonts in PDF, stable SVG ids.  The session's rcParams are
    left as they were."""

    def savefig(self, fname, *args, **kwargs):
        kwargs.setdefault("dpi", 300)
        with _style():
            return super().savefig(fname, *args, **kwargs)


def _styled(fn):
    """Build the figure inside ltfu's rc_context (the session's rcParams are restored on exit)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _style():
            return fn(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> LtfuFigure:
    fig = LtfuFigure(figsize=(width, height))
    FigureCanvasAgg(fig)            # its own canvas: no pyplot, no backend switch
    return fig


# ----------------------------------------------------------------------------------------------
# measuring and placing text


def _renderer(fig):
    return fig.canvas.get_renderer()


_SIZES: dict = {}


def _size(fig, text: str, **kw) -> tuple[float, float]:
    """Width and height in inches of ``text`` drawn with ``kw`` (cached: measuring is slow)."""
    key = (text, tuple(sorted(kw.items())))
    if key not in _SIZES:
        t = fig.text(0, 0, text, **kw)
        bb = t.get_window_extent(_renderer(fig))
        t.remove()
        if len(_SIZES) > 20000:
            _SIZES.clear()
        # text is a few per cent wider at some resolutions than at 100 dpi (hinting): keep a margin
        _SIZES[key] = (bb.width / fig.dpi * WIDTH_SLACK, bb.height / fig.dpi)
    return _SIZES[key]


def _wrap(fig, text: str, width_in: float, **kw) -> list[str]:
    """Greedy word wrap of ``text`` to ``width_in`` inches (existing newlines kept)."""
    lines = []
    for para in str(text).split("\n"):
        words = para.split(" ")
        cur = ""
        for w in words:
            trial = w if not cur else cur + " " + w
            if cur and _size(fig, trial, **kw)[0] > width_in:
                lines.append(cur)
                cur = w
            else:
                cur = trial
        lines.append(cur)
    return lines


def _line_h(size: float) -> float:
    """Height in inches of one line of text of ``size`` points, with a little leading."""
    return size * 1.32 / 72


class _Column:
    """A top-down cursor in inches over a figure of fixed width."""

    def __init__(self):
        self.y = 0.0

    def take(self, h: float) -> tuple[float, float]:
        top = self.y
        self.y += h
        return top, self.y


def _fy(fig_h: float, y_in: float) -> float:
    return 1.0 - y_in / fig_h


def _fx(fig_w: float, x_in: float) -> float:
    return x_in / fig_w


def _text_block(fig, lines, x_in, top_in, size, fig_w, fig_h, **kw):
    """Left-aligned lines of text from ``top_in`` down; returns the texts."""
    out = []
    for i, line in enumerate(lines):
        out.append(fig.text(_fx(fig_w, x_in), _fy(fig_h, top_in + i * _line_h(size)), line, fontsize=size,
                            va="top", ha="left", **kw))
    return out


# obstacles: drawn geometry in display coordinates that no text may cover

@dataclass
class _Obstacles:
    lines: list          # Path objects (polylines, display coords)
    points: list         # (N, 2) arrays with a radius in pixels
    areas: list          # closed Path objects (display coords)

    def hits(self, bbox: Bbox) -> bool:
        for p in self.lines:
            if p.intersects_bbox(bbox, filled=False):
                return True
        for pts, r in self.points:
            if pts.size and np.any((pts[:, 0] >= bbox.x0 - r) & (pts[:, 0] <= bbox.x1 + r) &
                                   (pts[:, 1] >= bbox.y0 - r) & (pts[:, 1] <= bbox.y1 + r)):
                return True
        for p in self.areas:
            if p.intersects_bbox(bbox, filled=True):
                return True
        return False


def _split_finite(xy):
    """The runs of finite vertices of a polyline (NaN breaks a drawn line)."""
    ok = np.all(np.isfinite(xy), axis=1)
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    return [xy[a:b] for a, b in zip(edges[::2], edges[1::2])]


def _obstacles(ax) -> _Obstacles:
    lines, points, areas = [], [], []
    dpi = ax.figure.dpi
    for ln in ax.lines:
        if not ln.get_visible():
            continue
        xy = ln.get_transform().transform(np.asarray(ln.get_xydata(), float))
        if ln.get_linestyle() not in ("None", "none", "", " ") and len(xy) > 1:
            for seg in _split_finite(xy):
                if len(seg) > 1:
                    lines.append(Path(seg))
        if ln.get_marker() not in (None, "None", "none", "", " "):
            r = ln.get_markersize() * dpi / 72 / 2 + 1
            pts = xy[np.all(np.isfinite(xy), axis=1)]
            points.append((pts, r))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        tr = coll.get_transform()
        for p in coll.get_paths():
            verts = tr.transform(p.vertices)
            if np.isfinite(verts).all() and len(verts) > 2:
                areas.append(Path(verts, closed=True))
    return _Obstacles(lines, points, areas)


def _pad(bb: Bbox, px: float) -> Bbox:
    return Bbox.from_extents(bb.x0 - px, bb.y0 - px, bb.x1 + px, bb.y1 + px)


def _overlaps(bb: Bbox, others) -> bool:
    return any(bb.overlaps(o) for o in others)


_ANCHORS = {   # name -> (x, y, ha, va) in axes fraction
    "upper right": (0.98, 0.98, "right", "top"), "upper left": (0.02, 0.98, "left", "top"),
    "lower right": (0.98, 0.03, "right", "bottom"), "lower left": (0.02, 0.03, "left", "bottom"),
    "center right": (0.98, 0.5, "right", "center"), "center left": (0.02, 0.5, "left", "center"),
    "upper center": (0.5, 0.98, "center", "top"), "lower center": (0.5, 0.03, "center", "bottom"),
    "right 3/4": (0.98, 0.75, "right", "center"), "right 1/4": (0.98, 0.25, "right", "center"),
    "left 3/4": (0.02, 0.75, "left", "center"), "left 1/4": (0.02, 0.25, "left", "center"),
    "center 3/4": (0.5, 0.75, "center", "center"), "center 1/4": (0.5, 0.25, "center", "center"),
    "center": (0.5, 0.5, "center", "center"),
}
_KM_ORDER = ("upper right", "right 3/4", "lower left", "lower right", "center right", "upper center",
             "right 1/4", "center 3/4", "lower center", "center left", "left 1/4", "center 1/4", "center",
             "left 3/4", "upper left")
_CIF_ORDER = ("upper left", "left 3/4", "upper right", "upper center", "right 3/4", "center left",
              "center 3/4", "center right", "lower right", "right 1/4", "center", "lower center",
              "center 1/4", "left 1/4", "lower left")


def _loc(ha, va):
    v = {"top": "upper", "bottom": "lower", "center": "center"}[va]
    if v == "center" and ha == "center":
        return "center"
    return f"{v} {ha}"


def _place_legend(ax, handles, labels, order, obstacles, taken):
    """A legend inside ``ax`` where it covers no drawn geometry and no placed box; None if none."""
    r = _renderer(ax.figure)
    for name in order:
        x, y, ha, va = _ANCHORS[name]
        leg = ax.legend(handles, labels, loc=_loc(ha, va), bbox_to_anchor=(x, y), bbox_transform=ax.transAxes,
                        borderaxespad=0.0, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        bb = leg.get_window_extent(r)
        if not obstacles.hits(_pad(bb, 2)) and not _overlaps(bb, taken) and _inside(bb, ax.bbox):
            leg.set_gid("legend")
            return leg, bb
        leg.remove()
    return None, None


def _place_text(ax, text, order, obstacles, taken, **kw):
    r = _renderer(ax.figure)
    for name in order:
        x, y, ha, va = _ANCHORS[name]
        t = ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, **kw)
        bb = t.get_window_extent(r)
        if not obstacles.hits(_pad(bb, 2)) and not _overlaps(_pad(bb, 2), taken) and _inside(bb, ax.bbox):
            return t, bb
        t.remove()
    return None, None


def _inside(bb: Bbox, outer: Bbox) -> bool:
    return bb.x0 >= outer.x0 and bb.x1 <= outer.x1 and bb.y0 >= outer.y0 and bb.y1 <= outer.y1


# ----------------------------------------------------------------------------------------------
# step functions


def _steps(t, y, end):
    """Vertices of a right-continuous step function with values ``y`` from each ``t``, drawn up
    to ``end`` (points after ``end`` dropped)."""
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    keep = t <= end
    t, y = t[keep], y[keep]
    if t.size == 0:
        return np.array([]), np.array([])
    xs = np.repeat(t, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    if end > t[-1]:
        xs = np.r_[xs, end]
        ys = np.r_[ys, y[-1]]
    return xs, ys


def _lookup(t, y, x):
    """Right-continuous step function (t, y) read at ``x``."""
    idx = np.searchsorted(np.asarray(t, float), np.asarray(x, float), side="right") - 1
    return np.where(idx >= 0, np.asarray(y, float)[np.maximum(idx, 0)], np.nan)


def _scale(time_unit: str) -> float:
    if time_unit == "days":
        return DAYS_PER_MONTH
    if time_unit == "months":
        return 1.0
    raise InvalidInputError(f"time_unit: must be 'days' or 'months', got {time_unit!r}")


def _pairs(obj, what: str):
    """(label, value) pairs from a mapping or a sequence of pairs."""
    if obj is None:
        return []
    items = list(obj.items()) if isinstance(obj, Mapping) else list(obj)
    out = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InvalidInputError(f"{what}: expected (label, value) pairs or a mapping, got {item!r}")
        out.append((str(item[0]), item[1]))
    return out


@dataclass
class _Series:
    label: str
    t: np.ndarray            # months, from 0
    y: np.ndarray
    lo: np.ndarray | None
    hi: np.ndarray | None
    end: float               # last time of the curve, months
    color: str
    ls: object
    censor_t: np.ndarray
    median: float | None = None   # months; nan = not reached; None = not shown


@dataclass
class _Row:
    label: str
    color: str
    source: object           # has .at(times) -> .n_risk; KaplanMeier gives censoring too
    table: object = None     # what the number-at-risk row reads instead of source (.at(times).n_risk)


def _cut_time(src, scale) -> float:
    """Time (months) after which fewer than 10% of the group's patients remain at risk."""
    t = np.asarray(src.time, float)
    if t.size == 0:
        return 0.0
    nr = np.asarray(src.n_risk, float)
    after = np.r_[nr[1:], 0.0]
    bad = np.flatnonzero(after < TRUNCATE_FRACTION * float(src.n))
    return float(t[bad[0]] if bad.size else t[-1]) / scale


def _ticks(xmax: float, step: float) -> np.ndarray:
    return np.arange(0.0, xmax + 1e-9, step)


def _cum_censored(src, days):
    if not (hasattr(src, "n_censor") and hasattr(src, "time")):
        return None
    t = np.asarray(src.time, float)
    c = np.cumsum(np.asarray(src.n_censor, float))
    idx = np.searchsorted(t, np.asarray(days, float), side="right") - 1
    return np.where(idx >= 0, c[np.maximum(idx, 0)], 0).astype(int)


def _p_text(p_value, test, test_label):
    if test_label:
        return str(test_label)
    if p_value is None:
        return None
    return p_label(p_value, test)


# ----------------------------------------------------------------------------------------------
# curves with a number-at-risk table (KM and CIF)


def _curve_figure(kind, series, rows, *, title, xlabel, ylabel, ylim, max_months, tick_months, scale,
                  confidence_bands, censor_marks, median_lines, p_text, risk_table, censored_row, notes,
                  width, axes_height, band_note):
    ends = max((s.end for s in series), default=0.0)
    auto_notes = []
    if max_months is None:
        cuts = [(_cut_time(r.source, scale), r.label) for r in rows]
        if cuts:
            xmax, who = min(cuts)
            if xmax < ends - 1e-9:
                auto_notes.append(f"Curves stop at {xmax:.1f} months, after which fewer than "
                                  f"{TRUNCATE_FRACTION:.0%} of the patients of '{who}' remained at risk "
                                  f"(follow-up to {ends:.1f} months).")
        else:
            xmax = ends
    else:
        xmax = float(max_months)
        if not (math.isfinite(xmax) and xmax > 0):
            raise InvalidInputError(f"max_months: must be a positive number of months, got {max_months!r}")
        if xmax < ends - 1e-9:
            auto_notes.append(f"Curves stop at {xmax:.1f} months (follow-up to {ends:.1f} months).")
    if not xmax > 0:
        xmax = max(ends, 1.0)
    step = float(tick_months)
    if not (math.isfinite(step) and step > 0):
        raise InvalidInputError(f"tick_months: must be a positive number, got {tick_months!r}")
    ticks = _ticks(xmax, step)
    while ticks.size < 2 and step > 1:           # follow-up shorter than a step: halve it (12 -> 6 -> 3)
        step /= 2
        ticks = _ticks(xmax, step)

    # numbers of the tables; ticks too close for their numbers (registry-size groups over many
    # years) go to a multiple of the step, said in the notes
    requested = step
    while True:
        at_risk, censored = {}, {}
        for r in rows:
            at_risk[r.label] = [int(v) for v in (r.table or r.source).at(ticks * scale).n_risk]
            if censored_row:
                c = _cum_censored(r.source, ticks * scale)
                if c is not None:
                    censored[r.label] = [int(v) for v in c]
        digits = max([len(str(v)) for vals in at_risk.values() for v in vals] or [1])
        spacing_in = step / xmax * (width - 1.6)
        if not rows or spacing_in >= digits * 0.075 + 0.1:
            break
        step += requested
        ticks = _ticks(xmax, step)
    if step != float(tick_months):
        auto_notes.append(f"Ticks every {step:g} months.")
    if censor_marks:
        shown = [int((s.censor_t <= min(xmax, s.end)).sum()) for s in series]
        if any(0 < c <= MAX_CENSOR_MARKS for c in shown):
            auto_notes.append("Vertical ticks mark censored observations.")
        if any(c > MAX_CENSOR_MARKS for c in shown):
            auto_notes.append(f"Censoring marks are not drawn on curves with more than {MAX_CENSOR_MARKS} "
                              "censoring times (they would hide the curve).")
    if confidence_bands and any(s.lo is not None for s in series):
        auto_notes.append(band_note)
    if kind == "km" and median_lines and any(s.median is not None and np.isfinite(s.median) for s in series):
        auto_notes.append("Dotted lines: median times.")
    all_notes = tuple(auto_notes) + tuple(str(n) for n in notes)

    attempt = {"legend_out": False, "p_out": False}
    while True:
        fig, ok = _draw_curves(kind, series, rows, at_risk, censored, ticks, xmax, title=title, xlabel=xlabel,
                               ylabel=ylabel, ylim=ylim, confidence_bands=confidence_bands,
                               censor_marks=censor_marks, median_lines=median_lines, p_text=p_text,
                               notes=all_notes, width=width, axes_height=axes_height,
                               risk_table=risk_table, **attempt)
        if ok == "ok":
            break
        attempt[ok] = True                        # "legend_out" or "p_out": redo with it above the plot
    fig.ltfu_at_risk = {"ticks_months": [float(x) for x in ticks], "n_risk": at_risk, "n_censored": censored}
    fig.ltfu_notes = all_notes
    fig.ltfu_max_months = float(xmax)
    return fig


def _draw_curves(kind, series, rows, at_risk, censored, ticks, xmax, *, title, xlabel, ylabel, ylim,
                 confidence_bands, censor_marks, median_lines, p_text, notes, width, axes_height, risk_table,
                 legend_out, p_out):
    fig = _figure(width, 6.0)
    handles = [Line2D([], [], color=s.color, ls=s.ls, lw=1.5) for s in series]
    labels = [s.label if s.median is None else
              f"{s.label} (median {'not reached' if not np.isfinite(s.median) else f'{s.median:.1f} mo'})"
              for s in series]
    # widths
    num_w = max([_size(fig, str(v), fontsize=FONT)[0] for vals in (*at_risk.values(), *censored.values())
                 for v in vals] or [0.1])
    label_cap = 0.32 * width
    row_lines = {r.label: _wrap(fig, r.label, label_cap, fontsize=FONT) for r in rows}
    label_w = max([_size(fig, "\n".join(v), fontsize=FONT)[0] for v in row_lines.values()] or [0.0])
    ytl_w = max(_size(fig, f"{v:.1f}", fontsize=FONT)[0] for v in np.linspace(ylim[0], ylim[1], 3))
    edge = 0.06
    left = max(edge + _line_h(LABEL) + 0.08 + ytl_w + 0.1,
               (edge + label_w + 0.1 + num_w / 2) if rows and risk_table else 0.0)
    right = max(0.25, num_w / 2 + 0.08)
    ax_w = width - left - right
    if ax_w < 2.0:
        raise InvalidInputError("width: too narrow for the labels of the number-at-risk table")
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    band_h = 0.0
    legend_x = left if width - left - edge >= 0.6 * width else edge
    if legend_out:                 # above the plot: labels wrapped to the width left for them
        avail = width - legend_x - edge - (3.2 + 0.8) * FONT / 72 - 0.1
        labels = ["\n".join(_wrap(fig, lab, avail, fontsize=FONT)) for lab in labels]
        leg_tmp = fig.legend(handles, labels, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        band_h += leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
        leg_tmp.remove()
    if p_out and p_text:
        band_h += _line_h(FONT) + 0.04

    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.08 if title_lines else 0))
    band_top, _ = col.take(band_h)
    _, ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)        # tick labels and x label
    tables = []
    if risk_table and rows:
        tables.append(("Number at risk", "atrisk", at_risk))
        if censored:
            tables.append(("Number censored (cumulative)", "censored", censored))
    table_pos = []
    for head, gid, data in tables:
        head_top, _ = col.take(ROW_IN + 0.02)
        row_tops = []
        for r in rows:
            top, _ = col.take(ROW_IN * max(1, len(row_lines[r.label])))
            row_tops.append(top)
        table_pos.append((head, gid, data, head_top, row_tops))
        col.take(0.06)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)

    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), ax_w / width, axes_height / H))
    ax.set_xlim(0, xmax)
    ax.set_ylim(*ylim)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))

    # data
    for i, s in enumerate(series):
        xs, ys = _steps(s.t, s.y, min(xmax, s.end))
        if confidence_bands and s.lo is not None:
            _, lo = _steps(s.t, s.lo, min(xmax, s.end))
            _, hi = _steps(s.t, s.hi, min(xmax, s.end))
            ax.fill_between(xs, lo, hi, color=s.color, alpha=0.13, lw=0, gid=f"band-{i}")
        ax.plot(xs, ys, color=s.color, ls=s.ls, lw=1.5, gid=f"curve-{i}", solid_capstyle="butt")
        ct = s.censor_t[s.censor_t <= min(xmax, s.end)] if censor_marks else np.array([])
        if 0 < ct.size <= MAX_CENSOR_MARKS:
            ax.plot(ct, _lookup(s.t, s.y, ct), ls="none", marker="|", ms=5, mew=1.0, color=s.color,
                    gid=f"censor-{i}")
    if median_lines:
        meds = [(s.median, s.color) for s in series if s.median is not None and np.isfinite(s.median)
                and s.median <= xmax]
        if meds:
            mmax = max(m for m, _ in meds)
            ax.plot([0, mmax], [0.5, 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid="median-h")
            for j, (m, _c) in enumerate(meds):
                ax.plot([m, m], [ylim[0], 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid=f"median-v-{j}")

    # legend and p-value where nothing is drawn
    obstacles = _obstacles(ax)
    order = _KM_ORDER if kind == "km" else _CIF_ORDER
    taken = []
    show_legend = len(series) > 1 or any(s.median is not None for s in series)
    if show_legend and not legend_out:
        leg, bb = _place_legend(ax, handles, labels, order, obstacles, taken)
        if leg is None:
            return fig, "legend_out"
        taken.append(_pad(bb, 3))
    if p_text and not p_out:
        t, bb = _place_text(ax, p_text, order, obstacles, taken, fontsize=FONT, gid="p-value")
        if t is None:
            return fig, "p_out"
    y_band = band_top
    if show_legend and legend_out:
        leg = fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(_fx(width, legend_x), _fy(H, y_band)),
                         borderaxespad=0.0, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        leg.set_gid("legend")
        y_band += leg.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
    if p_text and p_out:
        fig.text(_fx(width, legend_x), _fy(H, y_band), p_text, fontsize=FONT, va="top", ha="left", gid="p-value")

    # number-at-risk (and censored) tables, aligned on the x ticks
    xdata_yfig = blended_transform_factory(ax.transData, fig.transFigure)
    for head, gid, data, head_top, row_tops in table_pos:
        fig.text(_fx(width, edge), _fy(H, head_top + ROW_IN / 2), head, fontsize=FONT, fontweight="bold",
                 va="center", ha="left", gid=f"{gid}-header")
        for ri, (r, top) in enumerate(zip(rows, row_tops)):
            lines = row_lines[r.label]
            yc = _fy(H, top + ROW_IN * len(lines) / 2)
            fig.text(_fx(width, left - num_w / 2 - 0.1), yc, "\n".join(lines), fontsize=FONT, color=r.color,
                     ha="right", va="center", gid=f"{gid}-label-{ri}", linespacing=1.15)
            for ci, (x, v) in enumerate(zip(ticks, data[r.label])):
                fig.text(x, yc, str(v), transform=xdata_yfig, fontsize=FONT, color=r.color, ha="center",
                         va="center", gid=f"{gid}-{ri}-{ci}")
    if note_lines:
        _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_axes = ax
    return fig, "ok"


def _colour(i):
    return PALETTE[i % len(PALETTE)]


def _style_at(i):
    return LINESTYLES[i % len(LINESTYLES)]


@_styled
def km(curves, *, title: str | None = None, xlabel: str = "Months since infusion",
       ylabel: str = "Survival probability", max_months: float | None = None, tick_months: float = 12,
       confidence_bands: bool = False, censor_marks: bool = True, median_lines: bool = True,
       p_value: float | None = None, test: str | None = "Log-rank", test_label: str | None = None,
       risk_table: bool = True, censored_row: bool = False, notes=(), time_unit: str = "days",
       width: float = PRINT_WIDTH_IN, axes_height: float = 3.0, at_risk=None, starts=None) -> Figure:
    """Kaplan-Meier curves with a number-at-risk table.

    ``at_risk`` ({label: object with ``.at(times).n_risk``}) replaces a curve's own numbers at risk
    (R's next-recorded-time rule) by counts of its own, e.g. the patients in a state that others
    enter over time (Simon-Makuch); ``starts`` ({label: time}) begins a curve there instead of at 0
    (nobody is in such a state before the first entry).

    ``curves``: ``{label: KaplanMeier}`` or a sequence of ``(label, KaplanMeier)`` (ltfu.stats);
    times in days unless ``time_unit="months"``.  ``max_months``: where the x axis stops (default:
    where fewer than 10% of a group remain at risk, said in the notes).  ``p_value`` is written as
    "<test> P = 0.047" (``format_p``); ``test_label`` replaces that text verbatim.  ``notes`` are
    added under the figure.  Returns a Figure with ``ltfu_at_risk`` and ``ltfu_notes``."""
    pairs = _pairs(curves, "curves")
    if not pairs:
        raise InvalidInputError("curves: no curve to draw")
    scale = _scale(time_unit)
    series, rows = [], []
    for i, (label, fit) in enumerate(pairs):
        for attr in ("time", "survival", "n_risk", "n_censor", "at"):
            if not hasattr(fit, attr):
                raise InvalidInputError(f"curves: {label!r} is not a KaplanMeier result (no .{attr})")
        start = float((starts or {}).get(label, 0.0))
        t = np.r_[start, np.asarray(fit.time, float)] / scale
        y = np.r_[1.0, np.asarray(fit.survival, float)]
        lo = np.r_[1.0, np.asarray(fit.ci_lower, float)]
        hi = np.r_[1.0, np.asarray(fit.ci_upper, float)]
        lo = np.where(np.isnan(lo) & (y == 1), 1.0, lo)     # log-log limits are undefined where S = 1
        hi = np.where(np.isnan(hi) & (y == 1), 1.0, hi)
        cens = np.asarray(fit.time, float)[np.asarray(fit.n_censor) > 0] / scale
        med = None
        if median_lines:
            m = fit.median.value
            med = float(m) / scale if m is not None and np.isfinite(m) else float("nan")
        series.append(_Series(label, t, y, lo, hi, float(t[-1]), _colour(i), _style_at(i), cens, med))
        rows.append(_Row(label, _colour(i), fit, (at_risk or {}).get(label)))
    kinds = {(getattr(f, "conf_level", None), getattr(f, "conf_type", None)) for _, f in pairs}
    level, ctype = next(iter(kinds)) if len(kinds) == 1 else (None, None)
    band_note = ("Shaded bands: pointwise " + (f"{100 * level:g}% " if level else "") + "confidence intervals"
                 + (f" ({ctype} transformation)." if ctype else "."))
    return _curve_figure("km", series, rows, title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0.0, 1.02),
                         max_months=max_months, tick_months=tick_months, scale=scale,
                         confidence_bands=confidence_bands, censor_marks=censor_marks, median_lines=median_lines,
                         p_text=_p_text(p_value, test, test_label), risk_table=risk_table,
                         censored_row=censored_row, notes=notes, width=width, axes_height=axes_height,
                         band_note=band_note)


def _cif_items(curves):
    """(label, time, estimate, lower, upper) from tuples of 3 or 5, or from mappings."""
    if isinstance(curves, Mapping):
        curves = [(k, *v) for k, v in curves.items()]
    out = []
    for c in curves:
        if isinstance(c, Mapping):
            out.append((str(c["label"]), c["time"], c["estimate"], c.get("lower"), c.get("upper")))
        elif isinstance(c, (tuple, list)) and len(c) in (3, 5):
            out.append((str(c[0]), c[1], c[2], *(c[3:] if len(c) == 5 else (None, None))))
        else:
            raise InvalidInputError("curves: each curve is (label, time, estimate) or (label, time, estimate, "
                                    f"lower, upper), got {c!r}")
    return out


@_styled
def cif(curves, *, at_risk=None, groups=None, title: str | None = None, xlabel: str = "Months since response",
        ylabel: str = "Cumulative incidence", max_months: float | None = None, tick_months: float = 12,
        confidence_bands: bool = True, censor_marks: bool = True, p_value: float | None = None,
        test: str | None = "Gray's test", test_label: str | None = None, risk_table: bool = True,
        censored_row: bool = False, notes=(), time_unit: str = "days", ylim=(0.0, 1.0), conf_level: float = 0.95,
        width: float = PRINT_WIDTH_IN, axes_height: float = 3.0) -> Figure:
    """Cumulative incidence curves (competing risks) with a number-at-risk table.

    ``curves``: a sequence of ``(label, time, estimate)`` or ``(label, time, estimate, lower,
    upper)`` step functions (e.g. ``CumulativeIncidence.curve()`` and ``.at(time)`` limits), times in
    days unless ``time_unit="months"``.  ``at_risk``: ``{group: KaplanMeier}`` (or pairs) of each
    group's follow-up (any event ends it), whose ``.at(ticks).n_risk`` is printed and whose
    censorings are marked; ``groups``: the group of each curve (a sequence in the order of
    ``curves`` or a mapping curve label -> group; default: the curve's own label, or the only
    group).  Curves of one group share a colour; every curve has its own line style."""
    items = _cif_items(curves)
    if not items:
        raise InvalidInputError("curves: no curve to draw")
    scale = _scale(time_unit)
    risk = _pairs(at_risk, "at_risk")
    risk_map = dict(risk)
    for g, src in risk:
        if not hasattr(src, "at"):
            raise InvalidInputError(f"at_risk: {g!r} must be a KaplanMeier result (with .at(times).n_risk)")
    if groups is None:
        if len(risk) == 1:
            grp = [risk[0][0]] * len(items)
        else:
            grp = [lab for lab, *_ in items]
    elif isinstance(groups, Mapping):
        grp = [str(groups.get(lab, lab)) for lab, *_ in items]
    else:
        grp = [str(g) for g in groups]
        if len(grp) != len(items):
            raise InvalidInputError(f"groups: {len(grp)} given for {len(items)} curves")
    if risk:
        missing = sorted(set(grp) - set(risk_map))
        if missing:
            raise InvalidInputError(f"at_risk: no number at risk for group(s) {missing}; pass groups= to say "
                                    "which group each curve belongs to")
    order = list(dict.fromkeys(grp))
    series = []
    for i, ((label, t, est, lo, hi), g) in enumerate(zip(items, grp)):
        t = np.asarray(t, float) / scale
        est = np.asarray(est, float)
        if t.shape != est.shape or t.ndim != 1 or t.size == 0:
            raise InvalidInputError(f"curves: {label!r} needs time and estimate arrays of one equal length")
        if t[0] > 0:
            t, est = np.r_[0.0, t], np.r_[0.0, est]
            lo = None if lo is None else np.r_[0.0, np.asarray(lo, float)]
            hi = None if hi is None else np.r_[0.0, np.asarray(hi, float)]
        if lo is not None and hi is not None:
            lo, hi = np.asarray(lo, float), np.asarray(hi, float)
            if lo.shape != t.shape or hi.shape != t.shape:
                raise InvalidInputError(f"curves: limits of {label!r} must have the length of its times")
            lo = np.where(np.isnan(lo) & (est == 0), 0.0, lo)
            hi = np.where(np.isnan(hi) & (est == 0), 0.0, hi)
        else:
            lo = hi = None
        src = risk_map.get(g)
        cens = np.array([])
        if censor_marks and src is not None and hasattr(src, "n_censor"):
            cens = np.asarray(src.time, float)[np.asarray(src.n_censor) > 0] / scale
        series.append(_Series(label, t, est, lo, hi, float(t[-1]), _colour(order.index(g)), _style_at(i), cens))
    rows = [_Row(g, _colour(order.index(g)), risk_map[g]) for g in order if g in risk_map]
    extra = () if rows or not risk_table else ("Number at risk not shown: no at-risk data were given.",)
    return _curve_figure("cif", series, rows, title=title, xlabel=xlabel, ylabel=ylabel, ylim=tuple(ylim),
                         max_months=max_months, tick_months=tick_months, scale=scale,
                         confidence_bands=confidence_bands, censor_marks=censor_marks, median_lines=False,
                         p_text=_p_text(p_value, test, test_label), risk_table=risk_table,
                         censored_row=censored_row, notes=(*extra, *notes), width=width, axes_height=axes_height,
                         band_note=f"Shaded bands: pointwise {100 * conf_level:g}% confidence intervals.")


# ----------------------------------------------------------------------------------------------
# forest plot


def _nice_log_ticks(lo, hi):
    cands = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    if hi / lo < 30:
        cands = sorted(set(cands) | {0.25, 4, 0.125, 8, 0.0625, 16})
        cands = [c for c in cands if c not in (0.2, 5, 0.02, 0.05, 20, 50)] if hi / lo < 6 else cands
    return [c for c in cands if lo <= c <= hi]


def _forest_rows(rows):
    out = []
    for r in rows:
        if isinstance(r, Mapping):
            r = (r["label"], r.get("estimate"), r.get("lower"), r.get("upper"), r.get("p_value"))
        if not isinstance(r, (tuple, list)) or len(r) not in (4, 5):
            raise InvalidInputError(f"rows: each row is (label, estimate, lower, upper[, p_value]), got {r!r}")
        label, est, lo, hi = r[:4]
        p = r[4] if len(r) == 5 else None

        def num(v):
            try:
                v = float(v)
            except (TypeError, ValueError):
                return float("nan")
            return v

        out.append((str(label), num(est), num(lo), num(hi), p))
    return out


@_styled
def forest(rows, *, title: str | None = None, measure: str = "Hazard ratio", xlabel: str | None = None,
           conf_level: float = 0.95, reference: float = 1.0, notes=(), width: float = PRINT_WIDTH_IN) -> Figure:
    """Ratios (log scale) with confidence intervals; the estimate "1.73 (0.82-3.64)" and the
    p-value (``format_p``) are written beside the plot; labels are printed as given.

    ``rows``: ``(label, estimate, lower, upper[, p_value])`` tuples or mappings with those keys; a
    row without a finite estimate and limits is listed as "not estimable"."""
    data = _forest_rows(rows)
    if not data:
        raise InvalidInputError("rows: nothing to draw")
    fig = _figure(width, 4.0)
    edge = 0.06
    finite = [(e, lo, hi) for _, e, lo, hi, _ in data if all(np.isfinite(v) and v > 0 for v in (e, lo, hi))]
    est_txt = [f"{e:.2f} ({lo:.2f}\u2013{hi:.2f})" if all(np.isfinite(v) and v > 0 for v in (e, lo, hi))
               else "not estimable" for _, e, lo, hi, _ in data]
    p_txt = ["" if p is None else format_p(p) for *_, p in data]
    pct = f"{100 * conf_level:g}%"
    head_est, head_p = f"{measure} ({pct} CI)", "P"
    est_w = max(_size(fig, s, fontsize=FONT)[0] for s in [*est_txt, head_est])
    p_w = max(_size(fig, s, fontsize=FONT)[0] for s in [*p_txt, head_p])
    label_cap = 0.34 * width
    lab_lines = [_wrap(fig, lab, label_cap, fontsize=FONT) for lab, *_ in data]
    lab_w = max(_size(fig, "\n".join(ln), fontsize=FONT)[0] for ln in lab_lines)
    gap = 0.15
    left = edge + lab_w + gap
    right = gap + est_w + gap + p_w + edge
    ax_w = width - left - right
    if ax_w < 1.2:
        raise InvalidInputError("width: too narrow for the labels and estimates of this forest plot")
    pitch = max(0.26, max(len(ln) for ln in lab_lines) * _line_h(FONT) + 0.08)
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    head_top, _ = col.take(_line_h(FONT) + 0.04)
    _, ax_bottom = col.take(pitch * len(data))
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.08)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), ax_w / width, pitch * len(data) / H))
    ax.set_xscale("log")
    if finite:
        lo_all = min(min(lo for _, lo, _ in finite), reference)
        hi_all = max(max(hi for _, _, hi in finite), reference)
    else:
        lo_all, hi_all = reference / 2, reference * 2
    lo_all, hi_all = max(lo_all, 1e-3), min(hi_all, 1e3)
    span = math.log(hi_all / lo_all) if hi_all > lo_all else 1.0
    xmin, xmax = lo_all * math.exp(-0.08 * span), hi_all * math.exp(0.08 * span)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(len(data) - 0.5, -0.5)
    ax.axvline(reference, color="0.45", lw=0.8, ls="--", gid="reference")
    ticks = _nice_log_ticks(xmin, xmax) or [reference]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{t:g}" for t in ticks]))
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel or f"{measure} (log scale)", fontsize=LABEL)
    yfig = blended_transform_factory(fig.transFigure, ax.transData)
    for i, ((label, e, lo, hi, _p), et, pt, ll) in enumerate(zip(data, est_txt, p_txt, lab_lines)):
        fig.text(_fx(width, edge), i, "\n".join(ll), transform=yfig, fontsize=FONT, ha="left", va="center",
                 gid=f"forest-label-{i}", linespacing=1.15)
        fig.text(_fx(width, width - right + gap), i, et, transform=yfig, fontsize=FONT, ha="left", va="center",
                 gid=f"forest-estimate-{i}")
        if pt:
            fig.text(_fx(width, width - edge), i, pt, transform=yfig, fontsize=FONT, ha="right", va="center",
                     gid=f"forest-p-{i}")
        if et == "not estimable":
            continue
        a, b = max(lo, xmin), min(hi, xmax)
        ax.plot([a, b], [i, i], color=PALETTE[0], lw=1.3, solid_capstyle="butt", gid=f"ci-{i}")
        if lo < xmin:
            ax.plot([xmin], [i], marker="<", color=PALETTE[0], ms=5)
        if hi > xmax:
            ax.plot([xmax], [i], marker=">", color=PALETTE[0], ms=5)
        if xmin <= e <= xmax:
            ax.plot([e], [i], marker="s", color=PALETTE[0], ms=5.5, gid=f"estimate-{i}")
    head_y = _fy(H, head_top + _line_h(FONT) / 2)
    fig.text(_fx(width, width - right + gap), head_y, head_est, fontsize=FONT, fontweight="bold", va="center",
             gid="forest-head-estimate")
    fig.text(_fx(width, width - edge), head_y, head_p, fontsize=FONT, fontweight="bold", va="center", ha="right",
             gid="forest-head-p")
    if note_lines:
        _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_notes = tuple(str(n) for n in notes)
    fig.ltfu_axes = ax
    return fig


# ----------------------------------------------------------------------------------------------
# swimmer plot

SWIMMER_EVENTS = {   # kind -> (marker, colour, legend label)
    "response": ("o", PALETTE[2], "CR/CRi or response"),
    "relapse": ("v", PALETTE[1], "Relapse"),
    "allo_hct": ("D", PALETTE[3], "Allogeneic HCT"),
    "death": ("X", "#000000", "Death"),
}
SWIMMER_ONE_PAGE = 60      # up to this many lanes: one figure
SWIMMER_PER_PAGE = 50      # above: pages of at most this many lanes
SWIMMER_LABEL_PT = 7.0     # lane labels (at print size; the figure is drawn at print size)


def _lanes(lanes):
    out = []
    for ln in lanes:
        if isinstance(ln, Mapping):
            ln = (ln["label"], ln["end"], ln.get("ongoing", False), ln.get("events", ()))
        if not isinstance(ln, (tuple, list)) or len(ln) != 4:
            raise InvalidInputError(f"lanes: each lane is (label, end, ongoing, events), got {ln!r}")
        label, end, ongoing, events = ln
        try:
            end = float(end)
        except (TypeError, ValueError):
            raise InvalidInputError(f"lanes: end of {label!r} must be a number, got {end!r}") from None
        ev = []
        for e in events or ():
            if not (isinstance(e, (tuple, list)) and len(e) == 2):
                raise InvalidInputError(f"lanes: events of {label!r} are (kind, time) pairs, got {e!r}")
            ev.append((str(e[0]), float(e[1])))
        out.append((str(label), end, bool(ongoing), tuple(ev)))
    return out


@_styled
def swimmer(lanes, *, title: str | None = "Course of every patient", xlabel: str = "Months since infusion",
            deidentify: bool = False, tick_months: float = 12, time_unit: str = "days", notes=(),
            width: float = PRINT_WIDTH_IN) -> list[Figure]:
    """One lane per patient, top to bottom in the order given; returns a **list** of Figures, one
    per page: one page up to 60 patients, pages of at most 50 (balanced) above that, all on the
    same time axis.

    ``lanes``: ``(label, end, ongoing, events)``, ``events`` a sequence of ``(kind, time)`` with
    kind in {"response", "relapse", "allo_hct", "death"} (others get a generic marker);
    ``ongoing`` draws an arrow (alive at last contact).  ``deidentify=True`` replaces the labels by
    their position (01, 02, ...).  Lane labels are 7 pt at print size (figure width 16 cm)."""
    data = _lanes(lanes)
    if not data:
        raise InvalidInputError("lanes: no patient to draw")
    scale = _scale(time_unit)
    if deidentify:
        w = len(str(len(data)))
        data = [(f"{i + 1:0{max(w, 2)}d}", *rest) for i, (_, *rest) in enumerate(data)]
    n = len(data)
    n_pages = 1 if n <= SWIMMER_ONE_PAGE else math.ceil(n / SWIMMER_PER_PAGE)
    bounds = np.linspace(0, n, n_pages + 1).round().astype(int)
    xmax_data = max(max(end, *(t for _, t in ev)) if ev else end for _, end, _, ev in data) / scale
    step = float(tick_months)
    ticks = _ticks(xmax_data, step)
    while ticks.size < 2 and step > 1:
        step /= 2
        ticks = _ticks(xmax_data, step)
    xmax = xmax_data * 1.05 + 0.02 * max(xmax_data, 1.0)
    ticks = _ticks(xmax, step)
    kinds = list(SWIMMER_EVENTS)
    for _, _, _, ev in data:
        for k, _ in ev:
            if k not in kinds:
                kinds.append(k)
    figs = []
    for pi in range(n_pages):
        page = data[bounds[pi]:bounds[pi + 1]]
        page_title = title
        if n_pages > 1:
            page_title = (f"{title or 'Patients'} (patients {bounds[pi] + 1}\u2013{bounds[pi + 1]} of {n}; "
                          f"page {pi + 1} of {n_pages})")
        figs.append(_swimmer_page(page, kinds, page_title, xlabel, xmax, ticks, scale, notes, width))
    return figs


def _swimmer_page(page, kinds, title, xlabel, xmax, ticks, scale, notes, width):
    fig = _figure(width, 8.0)
    edge = 0.06
    lab_w = _size(fig, "\n".join(lab for lab, *_ in page), fontsize=SWIMMER_LABEL_PT)[0]   # widest line
    left = edge + lab_w + 0.12
    right = 0.2
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    present = [k for k in kinds if any(k == kk for _, _, _, ev in page for kk, _ in ev)]
    handles, labels = [], []
    for k in present:
        m, c, lab = SWIMMER_EVENTS.get(k, ("P", "0.3", k))
        handles.append(Line2D([], [], ls="none", marker=m, color=c, ms=5))
        labels.append(lab)
    if any(og for _, _, og, _ in page):
        handles.append(Line2D([], [], ls="none", marker=r"$\rightarrow$", color="0.3", ms=8))
        labels.append("Alive at last contact")
    leg_tmp = fig.legend(handles, labels, ncol=min(len(handles), 3), fontsize=SMALL, handlelength=1.2,
                         columnspacing=1.2, borderpad=0.1) if handles else None
    leg_h = 0.0
    if leg_tmp is not None:
        leg_h = leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.06
        leg_tmp.remove()
    overhead = (2 * edge + len(title_lines) * _line_h(TITLE) + 0.06 + leg_h +
                _line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1 + len(note_lines) * _line_h(SMALL) + 0.06)
    avail = PRINT_MAX_HEIGHT_IN - 0.1 - overhead
    pitch = min(0.17, avail / len(page))
    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + 0.06)
    leg_top, _ = col.take(leg_h)
    ax_top, ax_bottom = col.take(pitch * len(page) + 0.1)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + 0.06)
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    if handles:
        leg = fig.legend(handles, labels, ncol=min(len(handles), 3), fontsize=SMALL, handlelength=1.2,
                         columnspacing=1.2, borderpad=0.1, loc="upper left",
                         bbox_to_anchor=(_fx(width, left), _fy(H, leg_top)), borderaxespad=0.0)
        leg.set_gid("legend")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), (width - left - right) / width,
                       (ax_bottom - ax_top) / H))
    n = len(page)
    ax.set_ylim(n - 0.5 + 0.05 / pitch, -0.5 - 0.05 / pitch)
    ax.set_xlim(0, xmax)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ylab = blended_transform_factory(fig.transFigure, ax.transData)
    for i, (lab, *_) in enumerate(page):          # lane labels (texts: much faster than n ticks)
        fig.text(_fx(width, left - 0.06), i, lab, transform=ylab, fontsize=SWIMMER_LABEL_PT, ha="right",
                 va="center", gid=f"lane-label-{i}")
    for x in ticks[1:]:
        ax.axvline(x, color="0.88", lw=0.5, zorder=0)
    bar_h = min(0.62, max(0.45, 0.09 / pitch))
    arrow = 0.025 * xmax
    ms = min(5.0, pitch * 72 * 0.62)
    ends = np.array([end for _, end, _, _ in page]) / scale
    ax.add_collection(matplotlib.collections.PolyCollection(
        [((0, i - bar_h / 2), (e, i - bar_h / 2), (e, i + bar_h / 2), (0, i + bar_h / 2)) for i, e in enumerate(ends)],
        facecolors="#c9d6e3", linewidths=0, zorder=1, gid="lanes"))
    for kind in present:                              # one artist per kind of event
        m, c, _ = SWIMMER_EVENTS.get(kind, ("P", "0.3", kind))
        pts = np.array([(t / scale, i) for i, (_, _, _, ev) in enumerate(page) for k, t in ev if k == kind])
        ax.plot(pts[:, 0], pts[:, 1], ls="none", marker=m, color=c, ms=ms, zorder=3, mew=0.4,
                mec="white" if m != "X" else c, gid=f"events-{kind}")
    alive = np.flatnonzero([og for _, _, og, _ in page])
    if alive.size:                                     # alive at last contact: an arrow after the lane
        shafts = [((ends[i], i), (ends[i] + arrow, i)) for i in alive]
        ax.add_collection(matplotlib.collections.LineCollection(shafts, colors="0.3", linewidths=0.7, zorder=2,
                                                                gid="alive-shafts"))
        ax.plot(ends[alive] + arrow, alive, ls="none", marker=">", ms=max(2.5, ms * 0.6), color="0.3", mew=0,
                zorder=2, gid="alive-heads")
    if note_lines:
        _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_notes = tuple(str(x) for x in notes)
    fig.ltfu_axes = ax
    fig.ltfu_lanes = [lab for lab, *_ in page]
    return fig


# ----------------------------------------------------------------------------------------------
# toxicity by grade


@_styled
def toxicity(categories, counts_by_group, *, denominators=None, title: str | None = None,
             xlabel: str = "Grade", ylabel: str = "Patients (% of group)", notes=(),
             width: float = PRINT_WIDTH_IN, axes_height: float = 2.6) -> Figure:
    """Grouped bars: the percentage of each group's patients in each category, the count written
    on each bar.

    ``counts_by_group``: ``{group: counts}`` or ``(group, counts)`` pairs, one count per category;
    ``denominators``: ``{group: N}`` (default: the group's total over the categories, right when
    the categories cover every graded patient, e.g. grades 0-5)."""
    cats = [str(c) for c in categories]
    groups = _pairs(counts_by_group, "counts_by_group")
    if not cats or not groups:
        raise InvalidInputError("categories and counts_by_group: nothing to draw")
    dens = dict(_pairs(denominators, "denominators")) if denominators is not None else {}
    table = []
    for g, counts in groups:
        counts = [int(c) for c in counts]
        if len(counts) != len(cats):
            raise InvalidInputError(f"counts_by_group: {g!r} has {len(counts)} counts for {len(cats)} categories")
        if any(c < 0 for c in counts):
            raise InvalidInputError(f"counts_by_group: {g!r} has a negative count")
        den = int(dens.get(g, sum(counts)))
        if den <= 0 or den < max(counts):
            raise InvalidInputError(f"denominators: {g!r} needs a positive N at least as large as each count")
        table.append((g, counts, den, [100.0 * c / den for c in counts]))
    fig = _figure(width, 4.0)
    edge = 0.06
    k = len(table)
    handles = [matplotlib.patches.Patch(facecolor=_colour(i), edgecolor="white", hatch=HATCHES[i % len(HATCHES)],
                                        lw=0) for i in range(k)]
    labels = [f"{g} (N = {den})" for g, _, den, _ in table]
    leg_tmp = fig.legend(handles, labels, ncol=min(k, 3), fontsize=FONT, handlelength=1.6, borderpad=0.1)
    leg_h = leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.06
    leg_tmp.remove()
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    left = edge + _line_h(LABEL) + 0.08 + _size(fig, "100", fontsize=FONT)[0] + 0.12
    right = 0.15
    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    leg_top, _ = col.take(leg_h)
    _, ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    leg = fig.legend(handles, labels, ncol=min(k, 3), fontsize=FONT, handlelength=1.6, borderpad=0.1,
                     loc="upper left", bbox_to_anchor=(_fx(width, left), _fy(H, leg_top)), borderaxespad=0.0)
    leg.set_gid("legend")
    ax_w = width - left - right
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), ax_w / width, axes_height / H))
    x = np.arange(len(cats))
    bw = 0.8 / k
    top_pct = max(max(p) for *_, p in table)
    # room above the tallest bar for its count
    count_h_frac = (_line_h(SMALL) + 0.04) / axes_height
    ymax = max(10.0, top_pct / (1 - count_h_frac - 0.02))
    ax.set_ylim(0, ymax)
    step = 25 if ymax > 60 else 10 if ymax > 20 else 5
    yt = [v for v in np.arange(0, min(ymax, 100) + 1e-9, step)]
    ax.set_yticks(yt)
    ax.set_yticklabels([f"{v:g}" for v in yt])
    ax.set_xticks(x)
    ax.set_xticklabels(cats)
    ax.set_xlim(-0.6, len(cats) - 0.4)
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    bar_in = bw * ax_w / (len(cats) + 0.2)
    widest = max(_size(fig, str(c), fontsize=SMALL)[0] for _, counts, _, _ in table for c in counts)
    rotate = widest > bar_in * 0.95
    bars = {}
    for i, (g, counts, den, pcts) in enumerate(table):
        xs = x + (i - (k - 1) / 2) * bw
        rects = ax.bar(xs, pcts, bw * 0.95, color=_colour(i), edgecolor="white", hatch=HATCHES[i % len(HATCHES)],
                       lw=0, gid=f"bars-{i}")
        for j, (r, c) in enumerate(zip(rects, counts)):
            r.set_gid(f"bar-{i}-{j}")
            ax.annotate(str(c), xy=(xs[j], pcts[j]), xytext=(0, 1.5), textcoords="offset points", ha="center",
                        va="bottom", fontsize=SMALL, rotation=90 if rotate else 0, gid=f"count-{i}-{j}")
        bars[g] = {"count": counts, "denominator": den, "percent": pcts}
    if note_lines:
        _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_bars = bars
    fig.ltfu_notes = tuple(str(n) for n in notes)
    fig.ltfu_axes = ax
    return fig


# ----------------------------------------------------------------------------------------------
# trajectories of a measurement (spaghetti)


@_styled
def trajectories(panels, *, title: str | None = None, ylabel: str = "Value", xlabel: str = "Months since infusion",
                 threshold: float | None = None, threshold_label: str | None = None, log: bool = False,
                 time_unit: str = "days", tick_months: float = 12, notes=(), width: float = PRINT_WIDTH_IN,
                 axes_height: float = 2.4) -> Figure:
    """One panel per group: every patient's measurements joined by a thin line, and the median by
    visit (with its interquartile range as a band) drawn over them.

    ``panels``: (label, patients, summary) triples; ``patients`` is a sequence of (times, values)
    arrays, one per patient; ``summary`` is (visit times, median, q1, q3) arrays, or None.
    ``threshold`` draws a dashed horizontal line (e.g. IgG 4 g/L)."""
    scale = _scale(time_unit)
    panels = list(panels)
    if not panels:
        raise InvalidInputError("panels: nothing to draw")
    k = len(panels)
    fig = _figure(width, 1.0)
    edge = 0.06
    foot = [*notes]
    if threshold is not None:
        foot.append(f"Dashed line: {threshold_label or f'{threshold:g}'}.")
    foot.append("Thin lines: each patient's results; black: the median by visit, band: the interquartile range.")
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in foot for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    left = edge + _line_h(LABEL) + 0.08 + _size(fig, "10000", fontsize=FONT)[0] + 0.1
    gap, right = 0.25, 0.15
    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    col.take(_line_h(FONT) + 0.04)                      # panel labels
    _, ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    pw = (width - left - right - gap * (k - 1)) / k
    xmax = max((float(np.nanmax(np.asarray(t, float))) for _, pts, _ in panels for t, _ in pts if np.size(t)),
               default=0.0) / scale
    xmax = max(xmax, 1.0)
    step = float(tick_months) if xmax > 2 * tick_months else max(1.0, float(tick_months) / 4)
    values = [np.asarray(v, float) for _, pts, _ in panels for _, v in pts if np.size(v)]
    finite = np.concatenate(values) if values else np.array([1.0])
    finite = finite[np.isfinite(finite) & ((finite > 0) if log else True)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.1, 1.0)
    axes = []
    for i, (label, pts, summary) in enumerate(panels):
        ax = fig.add_axes((_fx(width, left + i * (pw + gap)), _fy(H, ax_bottom), pw / width, axes_height / H))
        axes.append(ax)
        colour = _colour(i)
        for j, (t, v) in enumerate(pts):
            t, v = np.asarray(t, float) / scale, np.asarray(v, float)
            ax.plot(t, v, color=colour, alpha=0.25, lw=0.6, gid=f"patient-{i}-{j}")
        if summary is not None:
            st, med, q1, q3 = (np.asarray(a, float) for a in summary)
            ok = np.isfinite(med)
            ax.fill_between(st[ok] / scale, q1[ok], q3[ok], color=colour, alpha=0.18, lw=0, gid=f"iqr-{i}")
            ax.plot(st[ok] / scale, med[ok], color="black", lw=1.6, marker="o", ms=2.5, gid=f"median-{i}")
        if threshold is not None:
            ax.axhline(threshold, color="0.3", lw=0.9, ls="--", gid=f"threshold-{i}")
        if log:
            ax.set_yscale("log")
            ax.set_ylim(max(lo, 1e-3) / 1.5, hi * 1.5)
        else:
            pad = 0.05 * (hi - lo or 1.0)
            ax.set_ylim(min(lo, threshold if threshold is not None else lo) - pad, hi + pad)
        ax.set_xlim(0, xmax * 1.02)
        ax.set_xticks(_ticks(xmax, step))
        ax.set_xlabel(xlabel, fontsize=LABEL)
        if i == 0:
            ax.set_ylabel(ylabel, fontsize=LABEL)
        else:
            ax.tick_params(labelleft=False)
        n = sum(1 for t, _ in pts if np.size(t))
        ax.set_title(f"{label} (n = {n})", fontsize=FONT, loc="left", pad=3)
    _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_axes = axes[0]
    return fig


# ----------------------------------------------------------------------------------------------
# estimates by data cut (drift)


@_styled
def drift(categories, series, *, title: str | None = None, ylabel: str = "Estimate, %", notes=(),
          width: float = PRINT_WIDTH_IN, axes_height: float = 2.6) -> Figure:
    """One estimate per data cut with its confidence interval, one series per estimate (e.g. 24-month
    EFS as reported at each cut, and re-derived from the latest data with that cut's cut-off).

    ``categories``: the cuts' labels, oldest first (x axis); ``series``: (label, points, hollow)
    with ``points`` one (estimate, lower, upper) per category (None where not estimable) and
    ``hollow`` drawing open markers and dashed intervals.  Series sharing a colour are paired:
    the colour follows the series' position // 2 when hollow series are given (filled, hollow,
    filled, hollow ...), else its position."""
    categories = [str(c) for c in categories]
    series = list(series)
    if not categories or not series:
        raise InvalidInputError("categories, series: nothing to draw")
    paired = any(h for *_, h in series)
    fig = _figure(width, 1.0)
    edge = 0.06
    foot = [*notes, "Vertical bars: confidence intervals; a missing point is not estimable at that cut."]
    title_lines = _wrap(fig, title, width - 2 * edge, fontsize=TITLE) if title else []
    note_lines = [ln for n in foot for ln in _wrap(fig, n, width - 2 * edge, fontsize=SMALL)]
    left = edge + _line_h(LABEL) + 0.08 + _size(fig, "100", fontsize=FONT)[0] + 0.1
    right = 0.15
    tick_lines = [_wrap(fig, c, max(0.6, (width - left - right) / len(categories) - 0.1), fontsize=FONT)
                  for c in categories]
    col = _Column()
    col.take(edge)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    _, ax_bottom = col.take(axes_height)
    col.take(max(len(t) for t in tick_lines) * _line_h(FONT) + 0.1)
    legend_top, _ = col.take(((len(series) + 1) // 2) * _line_h(FONT) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(edge)
    H = col.y
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, edge, title_top, TITLE, width, H, gid="title")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), (width - left - right) / width, axes_height / H))
    x = np.arange(len(categories), dtype=float)
    k = len(series)
    offsets = (np.arange(k) - (k - 1) / 2) * min(0.12, 0.8 / max(k, 1))
    handles = []
    for i, (label, points, hollow) in enumerate(series):
        colour = _colour(i // 2 if paired else i)
        pts = np.array([[np.nan if v is None else float(v) for v in p] for p in points], float).reshape(-1, 3)
        xs = x + offsets[i]
        ok = np.isfinite(pts[:, 0])
        for j in np.flatnonzero(ok & np.isfinite(pts[:, 1]) & np.isfinite(pts[:, 2])):
            ax.plot([xs[j], xs[j]], [pts[j, 1], pts[j, 2]], color=colour, lw=1.0, ls="--" if hollow else "-",
                    gid=f"ci-{i}-{j}")
        (h,) = ax.plot(xs[ok], pts[ok, 0], ls="-" if not hollow else ":", lw=0.8, color=colour, marker="o",
                       ms=5, mfc="white" if hollow else colour, mec=colour, gid=f"series-{i}", label=label)
        handles.append(h)
    ax.set_xticks(x)
    ax.set_xticklabels(["\n".join(t) for t in tick_lines], fontsize=FONT)
    ax.set_xlim(-0.5, len(categories) - 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.grid(axis="y", color="0.9", lw=0.6)
    fig.legend(handles, [h.get_label() for h in handles], loc="upper left", ncol=2, fontsize=FONT, frameon=False,
               bbox_to_anchor=(_fx(width, edge), _fy(H, legend_top)), borderaxespad=0)
    _text_block(fig, note_lines, edge, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_axes = ax
    return fig
