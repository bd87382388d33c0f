"""Swimmer plot: one lane per patient, paged above 60 patients."""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from ltfu.errors import InvalidInputError
from ltfu.plot._steps import _scale, _ticks
from ltfu.plot._style import FONT, LABEL, PALETTE, PRINT_MAX_HEIGHT_IN, PRINT_WIDTH_IN, SMALL, TITLE, _figure, _styled
from ltfu.plot._text import _Column, _fx, _fy, _line_h, _renderer, _size, _text_block, _wrap

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


_EDGE = 0.06        # inches of margin around the figure


def _page_legend(fig, page, kinds):
    """The kinds of event on this page, their legend entries (and the arrow's, if any patient is
    alive at last contact), and the legend's height in inches."""
    present = [k for k in kinds if any(k == kk for _, _, _, ev in page for kk, _ in ev)]
    handles, labels = [], []
    for k in present:
        m, c, lab = SWIMMER_EVENTS.get(k, ("P", "0.3", k))
        handles.append(Line2D([], [], ls="none", marker=m, color=c, ms=5))
        labels.append(lab)
    if any(og for _, _, og, _ in page):
        handles.append(Line2D([], [], ls="none", marker=_arrow(), color="0.3", ms=8))
        labels.append("Alive at last contact")
    leg_tmp = fig.legend(handles, labels, ncol=min(len(handles), 3), fontsize=SMALL, handlelength=1.2,
                         columnspacing=1.2, borderpad=0.1) if handles else None
    leg_h = 0.0
    if leg_tmp is not None:
        leg_h = leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.06
        leg_tmp.remove()
    return present, handles, labels, leg_h


def _arrow():
    """The legend's arrow: the path mathtext draws for $\\rightarrow$, centred on its box as
    matplotlib centres a "$...$" marker.  Made with ``ismath`` given: ltfu's figures parse no math
    in their text (``text.parse_math`` off: a label holding two dollar signs is text, as written)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import text_to_path

    verts, codes = text_to_path.get_text_path(FontProperties(), r"$\rightarrow$", ismath=True)
    box = Path(verts, codes).get_extents()
    centred = np.asarray(verts, float) - [box.x0 + box.width / 2, box.y0 + box.height / 2]
    # a closing vertex is not drawn, but a marker is scaled by its largest vertex: put it at the centre
    centred[np.asarray(codes) == Path.CLOSEPOLY] = 0.0
    return Path(centred, codes)


def _page_heights(title_lines, note_lines, leg_h, n):
    """The lane pitch (the page fits the print height) and the tops of the title, legend, axes and
    notes, the axes' bottom and the figure's height."""
    overhead = (2 * _EDGE + len(title_lines) * _line_h(TITLE) + 0.06 + leg_h +
                _line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1 + len(note_lines) * _line_h(SMALL) + 0.06)
    avail = PRINT_MAX_HEIGHT_IN - 0.1 - overhead
    pitch = min(0.17, avail / n)
    col = _Column()
    col.take(_EDGE)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + 0.06)
    leg_top, _ = col.take(leg_h)
    ax_top, ax_bottom = col.take(pitch * n + 0.1)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + 0.06)
    col.take(_EDGE)
    return pitch, title_top, leg_top, ax_top, ax_bottom, notes_top, col.y


def _lane_axes(ax, n, pitch, xmax, ticks, xlabel):
    """One lane per unit of y (the first on top), the shared time axis, no y axis."""
    ax.set_ylim(n - 0.5 + 0.05 / pitch, -0.5 - 0.05 / pitch)
    ax.set_xlim(0, xmax)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)


def _draw_lanes(ax, page, present, pitch, xmax, scale):
    """A bar per lane, one artist per kind of event, and arrows for patients alive."""
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


def _swimmer_page(page, kinds, title, xlabel, xmax, ticks, scale, notes, width):
    fig = _figure(width, 8.0)
    lab_w = _size(fig, "\n".join(lab for lab, *_ in page), fontsize=SWIMMER_LABEL_PT)[0]   # widest line
    left = _EDGE + lab_w + 0.12
    right = 0.2
    title_lines = _wrap(fig, title, width - 2 * _EDGE, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * _EDGE, fontsize=SMALL)]
    present, handles, labels, leg_h = _page_legend(fig, page, kinds)
    pitch, title_top, leg_top, ax_top, ax_bottom, notes_top, H = _page_heights(title_lines, note_lines, leg_h,
                                                                                len(page))
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, _EDGE, title_top, TITLE, width, H, gid="title")
    if handles:
        leg = fig.legend(handles, labels, ncol=min(len(handles), 3), fontsize=SMALL, handlelength=1.2,
                         columnspacing=1.2, borderpad=0.1, loc="upper left",
                         bbox_to_anchor=(_fx(width, left), _fy(H, leg_top)), borderaxespad=0.0)
        leg.set_gid("legend")
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), (width - left - right) / width,
                       (ax_bottom - ax_top) / H))
    _lane_axes(ax, len(page), pitch, xmax, ticks, xlabel)
    ylab = blended_transform_factory(fig.transFigure, ax.transData)
    for i, (lab, *_) in enumerate(page):          # lane labels (texts: much faster than n ticks)
        fig.text(_fx(width, left - 0.06), i, lab, transform=ylab, fontsize=SWIMMER_LABEL_PT, ha="right",
                 va="center", gid=f"lane-label-{i}")
    for x in ticks[1:]:
        ax.axvline(x, color="0.88", lw=0.5, zorder=0)
    _draw_lanes(ax, page, present, pitch, xmax, scale)
    if note_lines:
        _text_block(fig, note_lines, _EDGE, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_notes = tuple(str(x) for x in notes)
    fig.ltfu_axes = ax
    fig.ltfu_lanes = [lab for lab, *_ in page]
    return fig
