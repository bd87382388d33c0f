"""Publication figures from the Results' figure objects (matplotlib, vector output).

Kaplan-Meier curves carry censoring marks, dashed median lines, optional confidence bands and a
number-at-risk table whose numbers are read from the same KaplanMeier objects (``at(ticks)``) and
aligned under the same ticks; ``render_figure`` attaches the printed numbers to the figure as
``fig.ltfu_at_risk`` so tests can compare them with ``n_risk``.  Colours: Okabe-Ito (colour-blind
safe).  The report never computes a statistic: it only reads the results it is given.
"""

from __future__ import annotations

import numpy as np

from ltfu.results import DAYS_PER_MONTH, BarFigure, CIFFigure, ForestFigure, KMFigure, SwimmerFigure

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 10, "axes.labelsize": 9, "legend.frameon": False, "svg.fonttype": "none",
        "svg.hashsalt": "ltfu", "pdf.fonttype": 42,
    })
    return plt


def _ticks(max_months: float):
    step = 6 if max_months <= 36 else 12 if max_months <= 96 else 24
    return np.arange(0, max_months + 1e-9, step)


def render_km(fig_spec: KMFigure):
    plt = _mpl()
    curves = fig_spec.curves
    max_days = max(float(km.time.max()) for _, km in curves if km.time.size)
    max_months = fig_spec.max_months or max_days / DAYS_PER_MONTH
    ticks = _ticks(max_months)
    n_rows = len(curves)
    fig = plt.figure(figsize=(6.4, 4.2 + 0.22 * n_rows))
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.35 + 0.22 * n_rows], hspace=0.32)
    ax = fig.add_subplot(gs[0])
    at_risk = {}
    for i, (label, km) in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        t = np.r_[0.0, km.time] / DAYS_PER_MONTH
        s = np.r_[1.0, km.survival]
        ax.step(t, s, where="post", color=color, lw=1.6, label=f"{label} (n={km.n})")
        if fig_spec.confidence_bands:
            lo = np.r_[1.0, np.nan_to_num(km.ci_lower, nan=np.nan)]
            hi = np.r_[1.0, np.nan_to_num(km.ci_upper, nan=np.nan)]
            ax.fill_between(t, lo, hi, step="post", color=color, alpha=0.12, lw=0)
        cens = km.n_censor > 0
        ax.plot(km.time[cens] / DAYS_PER_MONTH, km.survival[cens], "|", color=color, ms=7, mew=1.2)
        med = km.median.value
        if np.isfinite(med):
            m = med / DAYS_PER_MONTH
            ax.plot([0, m], [0.5, 0.5], ls="--", lw=0.7, color="0.55")
            ax.plot([m, m], [0, 0.5], ls="--", lw=0.7, color=color)
        at_risk[label] = [int(v) for v in km.at(ticks * DAYS_PER_MONTH).n_risk]
    ax.set_xlim(0, ticks[-1] if ticks[-1] >= max_months else max_months)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(ticks)
    ax.set_ylabel(fig_spec.ylabel)
    ax.set_xlabel(fig_spec.xlabel)
    ax.set_title(fig_spec.title, loc="left")
    ax.legend(loc="upper right")
    if fig_spec.test_label:
        ax.text(0.02, 0.04, fig_spec.test_label, transform=ax.transAxes, fontsize=8)
    # number at risk, aligned with the same x axis
    tab = fig.add_subplot(gs[1], sharex=ax)
    tab.set_ylim(-0.5, n_rows - 0.5)
    tab.axis("off")
    tab.text(0, n_rows - 0.3, "Number at risk", fontsize=8, fontweight="bold", transform=tab.transData,
             va="bottom")
    for i, (label, _) in enumerate(curves):
        y = n_rows - 1 - i
        for x, v in zip(ticks, at_risk[label]):
            tab.text(x, y - 0.35, str(v), ha="center", va="center", fontsize=8, color=PALETTE[i % len(PALETTE)])
    fig.ltfu_at_risk = {"ticks_months": [float(x) for x in ticks], "n_risk": at_risk}
    return fig


def render_cif(spec: CIFFigure):
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    # one colour per group, one line style per cause ("cause, group" labels)
    causes = list(dict.fromkeys(label.split(", ")[0] for label, _, _ in spec.curves))
    groups = list(dict.fromkeys(label.split(", ")[-1] for label, _, _ in spec.curves))
    styles = ("-", "--", ":", "-.")
    for label, t, est in spec.curves:
        cause_i = causes.index(label.split(", ")[0])
        group_i = groups.index(label.split(", ")[-1])
        ax.step(np.asarray(t) / DAYS_PER_MONTH, est, where="post", lw=1.6, ls=styles[cause_i % len(styles)],
                color=PALETTE[group_i % len(PALETTE)], label=label)
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(spec.title, loc="left")
    ax.legend(loc="upper left")
    if spec.test_label:
        ax.text(0.98, 0.04, spec.test_label, transform=ax.transAxes, ha="right", fontsize=8)
    return fig


def render_forest(spec: ForestFigure):
    plt = _mpl()
    rows = [r for r in spec.rows if r[1] is not None and np.isfinite(r[1])]
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.42 * max(len(rows), 1)))
    for i, (label, hr, lo, hi, p) in enumerate(rows):
        y = len(rows) - 1 - i
        ax.plot([lo, hi], [y, y], color=PALETTE[0], lw=1.4)
        ax.plot([hr], [y], "s", color=PALETTE[0], ms=6)
        ptxt = "" if p is None else (" p<0.001" if p < 0.001 else f" p={p:.3f}")
        ax.text(1.02, y, f"{hr:.2f} ({lo:.2f}-{hi:.2f}){ptxt}", transform=ax.get_yaxis_transform(),
                va="center", fontsize=8)
    ax.axvline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullLocator

    lo_all = min(r[2] for r in rows) if rows else 0.5
    hi_all = max(r[3] for r in rows) if rows else 2.0
    cands = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 20, 50, 100]
    ticks = [c for c in cands if lo_all / 1.5 <= c <= hi_all * 1.5] or [0.5, 1, 2]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{c:g}" for c in ticks])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows][::-1])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(spec.xlabel)
    ax.set_title(spec.title, loc="left")
    fig.subplots_adjust(right=0.68, left=0.28)
    return fig


def render_swimmer(spec: SwimmerFigure):
    plt = _mpl()
    lanes = spec.lanes
    fig, ax = plt.subplots(figsize=(6.8, 1.2 + 0.13 * len(lanes)))
    markers = {"response": ("o", PALETTE[2], "CR/CRi or response"), "relapse": ("v", PALETTE[1], "Relapse"),
               "allo_hct": ("D", PALETTE[3], "Allogeneic HCT"), "death": ("X", "black", "Death")}
    seen = set()
    for i, (label, end, ongoing, events) in enumerate(lanes):
        ax.barh(i, end / DAYS_PER_MONTH, height=0.6, color="#c9d6e3", lw=0)
        for kind, day in events:
            m, c, lab = markers[kind]
            ax.plot(day / DAYS_PER_MONTH, i, m, color=c, ms=4, label=None if kind in seen else lab)
            seen.add(kind)
        if ongoing:
            ax.annotate("", xy=(end / DAYS_PER_MONTH + 1.5, i), xytext=(end / DAYS_PER_MONTH, i),
                        arrowprops=dict(arrowstyle="->", lw=0.7, color="0.35"))
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([ln[0] for ln in lanes], fontsize=5)
    ax.set_ylim(-0.8, len(lanes) - 0.2)
    ax.set_xlim(left=0)
    ax.set_xlabel(spec.xlabel)
    ax.set_title(spec.title, loc="left")
    ax.plot([], [], marker=r"$\rightarrow$", ls="", color="0.35", label="Alive at last contact")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def render_bars(spec: BarFigure):
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    k = len(spec.counts)
    width = 0.8 / max(k, 1)
    x = np.arange(len(spec.categories))
    for i, (label, counts) in enumerate(spec.counts):
        ax.bar(x + (i - (k - 1) / 2) * width, counts, width, label=label, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(x)
    ax.set_xticklabels(spec.categories)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(spec.title, loc="left")
    ax.legend()
    fig.tight_layout()
    return fig


def render_figure(spec):
    """A matplotlib Figure for any figure object of ltfu.results."""
    for kind, fn in ((KMFigure, render_km), (CIFFigure, render_cif), (ForestFigure, render_forest),
                     (SwimmerFigure, render_swimmer), (BarFigure, render_bars)):
        if isinstance(spec, kind):
            return fn(spec)
    raise TypeError(f"unknown figure type {type(spec).__name__}")
