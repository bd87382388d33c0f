"""Toxicity by grade: percentages of each group, counts on the bars."""

from __future__ import annotations

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from ltfu.errors import InvalidInputError
from ltfu.plot._curve_layout import _colour
from ltfu.plot._steps import _pairs
from ltfu.plot._style import FONT, HATCHES, LABEL, PRINT_WIDTH_IN, SMALL, TITLE, _figure, _styled
from ltfu.plot._text import _Column, _fx, _fy, _line_h, _renderer, _size, _text_block, _wrap

_EDGE = 0.06        # inches of margin around the figure


def _toxicity_table(cats, groups, denominators):
    """(group, counts, N, percentages) for each group, the counts and N checked."""
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
    return table


def _toxicity_heights(title_lines, note_lines, leg_h, axes_height):
    """Tops of the title, legend and notes, the axes' bottom, and the figure's height."""
    col = _Column()
    col.take(_EDGE)
    title_top, _ = col.take(len(title_lines) * _line_h(TITLE) + (0.06 if title_lines else 0))
    leg_top, _ = col.take(leg_h)
    _, ax_bottom = col.take(axes_height)
    col.take(_line_h(FONT) + 0.06 + _line_h(LABEL) + 0.1)
    notes_top, _ = col.take(len(note_lines) * _line_h(SMALL) + (0.06 if note_lines else 0))
    col.take(_EDGE)
    return title_top, leg_top, ax_bottom, notes_top, col.y


def _toxicity_axes(ax, cats, top_pct, *, axes_height, xlabel, ylabel):
    """Categories along x; a percentage scale with room above the tallest bar for its count."""
    count_h_frac = (_line_h(SMALL) + 0.04) / axes_height
    ymax = max(10.0, top_pct / (1 - count_h_frac - 0.02))
    ax.set_ylim(0, ymax)
    step = 25 if ymax > 60 else 10 if ymax > 20 else 5
    yt = [v for v in np.arange(0, min(ymax, 100) + 1e-9, step)]
    ax.set_yticks(yt)
    ax.set_yticklabels([f"{v:g}" for v in yt])
    ax.set_xticks(np.arange(len(cats)))
    ax.set_xticklabels(cats)
    ax.set_xlim(-0.6, len(cats) - 0.4)
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)


def _toxicity_bars(fig, ax, table, n_cats, ax_w):
    """Each group's bars with the count written on each (turned upright when wider than a bar)."""
    k = len(table)
    x = np.arange(n_cats)
    bw = 0.8 / k
    bar_in = bw * ax_w / (n_cats + 0.2)
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
    return bars


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
    table = _toxicity_table(cats, groups, denominators)
    fig = _figure(width, 4.0)
    k = len(table)
    handles = [matplotlib.patches.Patch(facecolor=_colour(i), edgecolor="white", hatch=HATCHES[i % len(HATCHES)],
                                        lw=0) for i in range(k)]
    labels = [f"{g} (N = {den})" for g, _, den, _ in table]
    leg_tmp = fig.legend(handles, labels, ncol=min(k, 3), fontsize=FONT, handlelength=1.6, borderpad=0.1)
    leg_h = leg_tmp.get_window_extent(_renderer(fig)).height / fig.dpi + 0.06
    leg_tmp.remove()
    title_lines = _wrap(fig, title, width - 2 * _EDGE, fontsize=TITLE) if title else []
    note_lines = [ln for n in notes for ln in _wrap(fig, n, width - 2 * _EDGE, fontsize=SMALL)]
    left = _EDGE + _line_h(LABEL) + 0.08 + _size(fig, "100", fontsize=FONT)[0] + 0.12
    right = 0.15
    title_top, leg_top, ax_bottom, notes_top, H = _toxicity_heights(title_lines, note_lines, leg_h, axes_height)
    fig.set_size_inches(width, H)
    if title_lines:
        _text_block(fig, title_lines, _EDGE, title_top, TITLE, width, H, gid="title")
    leg = fig.legend(handles, labels, ncol=min(k, 3), fontsize=FONT, handlelength=1.6, borderpad=0.1,
                     loc="upper left", bbox_to_anchor=(_fx(width, left), _fy(H, leg_top)), borderaxespad=0.0)
    leg.set_gid("legend")
    ax_w = width - left - right
    ax = fig.add_axes((_fx(width, left), _fy(H, ax_bottom), ax_w / width, axes_height / H))
    _toxicity_axes(ax, cats, max(max(p) for *_, p in table), axes_height=axes_height, xlabel=xlabel, ylabel=ylabel)
    bars = _toxicity_bars(fig, ax, table, len(cats), ax_w)
    if note_lines:
        _text_block(fig, note_lines, _EDGE, notes_top, SMALL, width, H, color="0.25", gid="notes")
    fig.ltfu_bars = bars
    fig.ltfu_notes = tuple(str(n) for n in notes)
    fig.ltfu_axes = ax
    return fig
