"""Layout and drawing of a curve figure: axes, curves, bands, medians, legend, p-value and the
number-at-risk table below."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from ltfu.errors import InvalidInputError
from ltfu.plot._steps import _lookup, _steps
from ltfu.plot._style import FONT, LABEL, LINESTYLES, MAX_CENSOR_MARKS, PALETTE, ROW_IN, SMALL, TITLE, _figure
from ltfu.plot._text import (
    _CIF_ORDER,
    _KM_ORDER,
    _Column,
    _fx,
    _fy,
    _line_h,
    _obstacles,
    _pad,
    _place_legend,
    _place_text,
    _renderer,
    _size,
    _text_block,
    _wrap,
)

_EDGE = 0.06        # inches of margin around a curve figure


@dataclass
class _Layout:
    """Where the parts of a curve figure go: widths, and tops in inches from the figure's top."""

    num_w: float                      # the widest number of the tables
    row_lines: dict                   # each row's label, wrapped
    left: float                       # the axes' left edge
    ax_w: float
    title_lines: list
    note_lines: list
    legend_x: float                   # left edge of a legend or P value above the plot
    title_top: float = 0.0
    band_top: float = 0.0             # the band above the plot for a legend or P value moved out
    ax_bottom: float = 0.0
    notes_top: float = 0.0
    height: float = 0.0
    tables: list = field(default_factory=list)   # (header, gid, numbers, header top, row tops)


def _legend_labels(series):
    """Each curve's legend label, with its median when it has one."""
    return [s.label if s.median is None else
            f"{s.label} (median {'not reached' if not np.isfinite(s.median) else f'{s.median:.1f} mo'})"
            for s in series]


def _horizontal_layout(fig, rows, at_risk, censored, notes, *, title, ylim, width, risk_table):
    """The widths of the tables' numbers, labels and y tick labels, hence the axes' left edge; the
    title and notes wrapped to the width."""
    num_w = max([_size(fig, str(v), fontsize=FONT)[0] for vals in (*at_risk.values(), *censored.values())
                 for v in vals] or [0.1])
    label_cap = 0.32 * width
    row_lines = {r.label: _wrap(fig, r.label, label_cap, fontsize=FONT) for r in rows}
    label_w = max([_size(fig, "\n".join(v), fontsize=FONT)[0] for v in row_lines.values()] or [0.0])
    ytl_w = max(_size(fig, f"{v:.1f}", fontsize=FONT)[0] for v in np.linspace(ylim[0], ylim[1], 3))
    left = max(_EDGE + _line_h(LABEL) + 0.08 + ytl_w + 0.1,
               (_EDGE + label_w + 0.1 + num_w / 2) if rows and risk_table else 0.0)
    right = max(0.25, num_w / 2 + 0.08)
    ax_w = width - left - right
    if ax_w < 2.0:
        raise InvalidInputError("width: too narrow for the labels of the number-at-risk table")
    title_lines = _wrap(fig, title, width - 2 * _EDGE, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * _EDGE, fontsize=SMALL)]
    legend_x = left if width - left - _EDGE >= 0.6 * width else _EDGE
    return _Layout(num_w, row_lines, left, ax_w, title_lines, note_lines, legend_x)


def _band_height(fig, lay, handles, labels, p_text, *, width, legend_out, p_out):
    """Height of the band above the plot for the legend or P value moved out of it, and the legend
    labels (wrapped to the band's width when the legend goes there)."""
    band_h = 0.0
    if legend_out:                 # above the plot: labels wrapped to the width left for them
        avail = width - lay.legend_x - _EDGE - (3.2 + 0.8) * FONT / 72 - 0.1
        labels = ["\n".join(_wrap(fig, lab, avail, fontsize=FONT)) for lab in labels]
        leg_tmp = fig.legend(handles, labels, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        band_h += leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
        leg_tmp.remove()
    if p_out and p_text:
        band_h += _line_h(FONT) + 0.04
    return band_h, labels


def _vertical_layout(lay, rows, at_risk, censored, *, band_h, axes_height, risk_table):
    """Fill in the tops of the title, band, axes, tables and notes, and the figure's height."""
    col = _Column()
    col.take(_EDGE)
    lay.title_top, _ = col.take(len(lay.title_lines) * _line_h(TITLE) + (0.08 if lay.title_lines else 0))
    lay.band_top, _ = col.take(band_h)
    _, lay.ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)        # tick labels and x label
    tables = []
    if risk_table and rows:
        tables.append(("Number at risk", "atrisk", at_risk))
        if censored:
            tables.append(("Number censored (cumulative)", "censored", censored))
    for head, gid, data in tables:
        head_top, _ = col.take(ROW_IN + 0.02)
        row_tops = []
        for r in rows:
            top, _ = col.take(ROW_IN * max(1, len(lay.row_lines[r.label])))
            row_tops.append(top)
        lay.tables.append((head, gid, data, head_top, row_tops))
        col.take(0.06)
    lay.notes_top, _ = col.take(len(lay.note_lines) * _line_h(SMALL) + (0.06 if lay.note_lines else 0))
    col.take(_EDGE)
    lay.height = col.y


def _add_axes(fig, lay, ticks, xmax, *, xlabel, ylabel, ylim, width, axes_height):
    """The plot's axes: limits, ticks every step, labels."""
    H = lay.height
    ax = fig.add_axes((_fx(width, lay.left), _fy(H, lay.ax_bottom), lay.ax_w / width, axes_height / H))
    ax.set_xlim(0, xmax)
    ax.set_ylim(*ylim)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
    return ax


def _draw_series(ax, series, xmax, *, confidence_bands, censor_marks):
    """Every curve up to ``xmax``, with its band and censoring marks."""
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


def _draw_medians(ax, series, xmax, ylim):
    """Dotted lines from 0.5 down to each median reached within ``xmax``."""
    meds = [(s.median, s.color) for s in series if s.median is not None and np.isfinite(s.median)
            and s.median <= xmax]
    if meds:
        mmax = max(m for m, _ in meds)
        ax.plot([0, mmax], [0.5, 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid="median-h")
        for j, (m, _c) in enumerate(meds):
            ax.plot([m, m], [ylim[0], 0.5], color="0.35", lw=0.6, ls=(0, (1, 2)), gid=f"median-v-{j}")


def _place_inside(ax, kind, handles, labels, p_text, *, show_legend, legend_out, p_out):
    """The legend and P value on the plot where nothing is drawn; "legend_out" or "p_out" for the
    one that finds no room, else None."""
    obstacles = _obstacles(ax)
    order = _KM_ORDER if kind == "km" else _CIF_ORDER
    taken = []
    if show_legend and not legend_out:
        leg, bb = _place_legend(ax, handles, labels, order, obstacles, taken)
        if leg is None:
            return "legend_out"
        taken.append(_pad(bb, 3))
    if p_text and not p_out:
        t, bb = _place_text(ax, p_text, order, obstacles, taken, fontsize=FONT, gid="p-value")
        if t is None:
            return "p_out"
    return None


def _place_above(fig, lay, handles, labels, p_text, *, width, show_legend, legend_out, p_out):
    """The legend and P value moved out of the plot, in the band above it."""
    H = lay.height
    y_band = lay.band_top
    if show_legend and legend_out:
        leg = fig.legend(handles, labels, loc="upper left",
                         bbox_to_anchor=(_fx(width, lay.legend_x), _fy(H, y_band)),
                         borderaxespad=0.0, handlelength=3.2, fontsize=FONT, borderpad=0.2)
        leg.set_gid("legend")
        y_band += leg.get_window_extent(_renderer(fig)).height / fig.dpi + 0.04
    if p_text and p_out:
        fig.text(_fx(width, lay.legend_x), _fy(H, y_band), p_text, fontsize=FONT, va="top", ha="left",
                 gid="p-value")


def _draw_tables(fig, ax, lay, rows, ticks, width):
    """The number-at-risk (and censored) tables, their numbers aligned on the x ticks."""
    H = lay.height
    xdata_yfig = blended_transform_factory(ax.transData, fig.transFigure)
    for head, gid, data, head_top, row_tops in lay.tables:
        fig.text(_fx(width, _EDGE), _fy(H, head_top + ROW_IN / 2), head, fontsize=FONT, fontweight="bold",
                 va="center", ha="left", gid=f"{gid}-header")
        for ri, (r, top) in enumerate(zip(rows, row_tops)):
            lines = lay.row_lines[r.label]
            yc = _fy(H, top + ROW_IN * len(lines) / 2)
            fig.text(_fx(width, lay.left - lay.num_w / 2 - 0.1), yc, "\n".join(lines), fontsize=FONT,
                     color=r.color, ha="right", va="center", gid=f"{gid}-label-{ri}", linespacing=1.15)
            for ci, (x, v) in enumerate(zip(ticks, data[r.label])):
                fig.text(x, yc, str(v), transform=xdata_yfig, fontsize=FONT, color=r.color, ha="center",
                         va="center", gid=f"{gid}-{ri}-{ci}")


def _draw_curves(kind, series, rows, at_risk, censored, ticks, xmax, *, title, xlabel, ylabel, ylim,
                 confidence_bands, censor_marks, median_lines, p_text, notes, width, axes_height, risk_table,
                 legend_out, p_out):
    fig = _figure(width, 6.0)
    handles = [Line2D([], [], color=s.color, ls=s.ls, lw=1.5) for s in series]
    lay = _horizontal_layout(fig, rows, at_risk, censored, notes, title=title, ylim=ylim, width=width,
                             risk_table=risk_table)
    band_h, labels = _band_height(fig, lay, handles, _legend_labels(series), p_text, width=width,
                                  legend_out=legend_out, p_out=p_out)
    _vertical_layout(lay, rows, at_risk, censored, band_h=band_h, axes_height=axes_height, risk_table=risk_table)
    fig.set_size_inches(width, lay.height)

    if lay.title_lines:
        _text_block(fig, lay.title_lines, _EDGE, lay.title_top, TITLE, width, lay.height, gid="title")
    ax = _add_axes(fig, lay, ticks, xmax, xlabel=xlabel, ylabel=ylabel, ylim=ylim, width=width,
                   axes_height=axes_height)
    _draw_series(ax, series, xmax, confidence_bands=confidence_bands, censor_marks=censor_marks)
    if median_lines:
        _draw_medians(ax, series, xmax, ylim)

    show_legend = len(series) > 1 or any(s.median is not None for s in series)
    moved = _place_inside(ax, kind, handles, labels, p_text, show_legend=show_legend, legend_out=legend_out,
                          p_out=p_out)
    if moved is not None:
        return fig, moved
    _place_above(fig, lay, handles, labels, p_text, width=width, show_legend=show_legend, legend_out=legend_out,
                 p_out=p_out)
    _draw_tables(fig, ax, lay, rows, ticks, width)
    if lay.note_lines:
        _text_block(fig, lay.note_lines, _EDGE, lay.notes_top, SMALL, width, lay.height, color="0.25",
                    gid="notes")
    fig.ltfu_axes = ax
    return fig, "ok"


def _colour(i):
    return PALETTE[i % len(PALETTE)]


def _style_at(i):
    return LINESTYLES[i % len(LINESTYLES)]
