"""Forest plot: ratios with confidence intervals, estimates and p-values beside the plot."""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from ltfu.errors import InvalidInputError
from ltfu.formatting import format_p
from ltfu.plot._style import FONT, LABEL, PALETTE, PRINT_WIDTH_IN, SMALL, TITLE, _figure, _styled
from ltfu.plot._text import _Column, _fx, _fy, _line_h, _size, _text_block, _wrap


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
    for i, ((_label, e, lo, hi, _p), et, pt, ll) in enumerate(zip(data, est_txt, p_txt, lab_lines)):
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
