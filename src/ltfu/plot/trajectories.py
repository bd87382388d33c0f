"""Trajectories of a measurement over time (spaghetti plot)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ltfu.errors import InvalidInputError
from ltfu.plot._curve_layout import _colour
from ltfu.plot._steps import _scale, _ticks
from ltfu.plot._style import FONT, LABEL, PRINT_WIDTH_IN, SMALL, TITLE, _figure, _styled
from ltfu.plot._text import _Column, _fx, _fy, _line_h, _size, _text_block, _wrap

_EDGE = 0.06        # inches of margin around the figure


def _trajectory_heights(title_lines, note_lines, axes_height):
    """Tops of the title and notes, the panels' bottom, and the figure's height."""
    col = _Column()
    col.take(_EDGE)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    col.take(_line_h(FONT) + 0.04)                      # panel labels
    _, ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(_EDGE)
    return title_top, ax_bottom, notes_top, col.y


def _trajectory_ranges(panels, scale, tick_months, log):
    """The longest time in months (at least 1), the tick step, and the smallest and largest values
    shared by every panel (positive ones only on a log scale)."""
    xmax = max((float(np.nanmax(np.asarray(t, float))) for _, pts, _ in panels for t, _ in pts if np.size(t)),
               default=0.0) / scale
    xmax = max(xmax, 1.0)
    step = float(tick_months) if xmax > 2 * tick_months else max(1.0, float(tick_months) / 4)
    values = [np.asarray(v, float) for _, pts, _ in panels for _, v in pts if np.size(v)]
    finite = np.concatenate(values) if values else np.array([1.0])
    finite = finite[np.isfinite(finite) & ((finite > 0) if log else True)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.1, 1.0)
    return xmax, step, lo, hi


def _draw_panel(ax, i, pts, summary, scale, threshold):
    """Panel ``i``'s patients (thin lines), median and interquartile band, and threshold line."""
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


def _panel_axes(ax, lo, hi, *, threshold, log, xmax, step):
    """One panel's limits (all panels alike) and time ticks."""
    if log:
        ax.set_yscale("log")
        ax.set_ylim(max(lo, 1e-3) / 1.5, hi * 1.5)
    else:
        pad = 0.05 * (hi - lo or 1.0)
        ax.set_ylim(min(lo, threshold if threshold is not None else lo) - pad, hi + pad)
    ax.set_xlim(0, xmax * 1.02)
    ax.set_xticks(_ticks(xmax, step))


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
    foot = [*notes]
    if threshold is not None:
        foot.append(f"Dashed line: {threshold_label or f'{threshold:g}'}.")
    foot.append("Thin lines: each patient's results; black: the median by visit, band: the interquartile range.")
    title_lines = _wrap(fig, title, width - 2 * _EDGE, fontsize=TITLE) if title else []
    note_lines = [ln for n in foot for ln in _wrap(fig, n, width - 2 * _EDGE, fontsize=SMALL)]
    left = _EDGE + _line_h(LABEL) + 0.08 + _size(fig, "10000", fontsize=FONT)[0] + 0.1
    gap, right = 0.25, 0.15
    title_top, ax_bottom, notes_top, H = _trajectory_heights(title_lines, note_lines, axes_height)
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, _EDGE, title_top, TITLE, width, H, gid="title")
    pw = (width - left - right - gap * (k - 1)) / k
    xmax, step, lo, hi = _trajectory_ranges(panels, scale, tick_months, log)
    axes = []
    for i, (label, pts, summary) in enumerate(panels):
        ax = fig.add_axes((_fx(width, left + i * (pw + gap)), _fy(H, ax_bottom), pw / width, axes_height / H))
        axes.append(ax)
        _draw_panel(ax, i, pts, summary, scale, threshold)
        _panel_axes(ax, lo, hi, threshold=threshold, log=log, xmax=xmax, step=step)
        ax.set_xlabel(xlabel, fontsize=LABEL)
        if i == 0:
            ax.set_ylabel(ylabel, fontsize=LABEL)
        else:
            ax.tick_params(labelleft=False)
        n = sum(1 for t, _ in pts if np.size(t))
        ax.set_title(f"{label} (n = {n})", fontsize=FONT, loc="left", pad=3)
    _text_block(fig, note_lines, _EDGE, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_axes = axes[0]
    return fig
