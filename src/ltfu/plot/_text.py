"""Measuring and placing text: wrapping, columns, and corners free of drawn geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path
from matplotlib.transforms import Bbox

from ltfu.plot._style import FONT, WIDTH_SLACK


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
    """Greedy word wrap of ``text`` to ``width_in`` inches (existing newlines kept): each line takes
    words while the line so far and the next word fit (a first word always), as a word-by-word loop
    would.  A line's candidates only grow, so where the first one too wide is, is found by bisection:
    a few measurements a line instead of one a word (each lays the text out in FreeType, 2-4 ms;
    a figure's notes cost 0.1 s).  The lines are the loop's (tested against it)."""
    lines = []
    for para in str(text).split("\n"):
        words = para.split(" ")
        start = 0
        while True:
            # the loop's successive lines from words[start]: a word joins with a space, except that
            # it replaces a line still empty (words emptied by repeated spaces)
            cands = [words[start]]
            for w in words[start + 1:]:
                cands.append(w if not cands[-1] else cands[-1] + " " + w)
            # the loop measures candidate j only after a non-empty one; the first measured too wide
            # ends the line (the widths do not decrease along the candidates)
            lo = next((j for j in range(1, len(cands)) if cands[j - 1]), len(cands))
            hi = len(cands)
            while lo < hi:
                mid = (lo + hi) // 2
                if _size(fig, cands[mid], **kw)[0] > width_in:
                    hi = mid
                else:
                    lo = mid + 1
            if lo == len(cands):
                lines.append(cands[-1])
                break
            lines.append(cands[lo - 1])
            start += lo
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
        return any(p.intersects_bbox(bbox, filled=True) for p in self.areas)


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
