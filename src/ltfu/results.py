"""The frozen Results of an analysis: the contract between ``ltfu.analysis`` and ``ltfu.report``.

``analysis`` computes every number and puts it here; ``report`` only lays it out (HTML, PDF, CSV,
JSON, figures) and never computes a statistic.  Figures hold the statistics results they draw
(e.g. ``KaplanMeier`` objects) so that what is printed under a curve (number at risk) is read from
the same object as the curve itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ltfu.defaults import DAYS_PER_MONTH  # noqa: F401  (re-exported for the renderers)


@dataclass(frozen=True)
class Table:
    """A table of the report; ``name`` is the CSV file stem; cells are str, int, float or None."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class KMFigure:
    """Kaplan-Meier curves (one per group label), x axis in months (days / 30.4375)."""

    name: str
    title: str
    curves: tuple[tuple[str, Any], ...]   # (label, ltfu.stats KaplanMeier), times in days
    ylabel: str = "Probability"
    xlabel: str = "Months since infusion"
    max_months: float | None = None
    test_label: str | None = None         # e.g. "Log-rank p = 0.012"
    confidence_bands: bool = True
    # drawn by ltfu.plot (fields added with defaults; see ltfu.report.figures):
    p_value: float | None = None          # printed as "<test_name> P = 0.012" by ltfu.formatting.format_p
    test_name: str | None = None          # e.g. "Log-rank"; with p_value, replaces test_label
    tick_months: float = 12.0             # x tick step; one value for every figure of a report
    censored_row: bool = False            # add the cumulative number censored under the at-risk table
    at_risk: tuple[tuple[str, Any], ...] = ()   # (label, object with .at(t).n_risk) replacing a curve's own
    starts: tuple[tuple[str, float], ...] = ()  # (label, day) where a curve begins (a state entered later)


@dataclass(frozen=True)
class CIFFigure:
    """Cumulative incidence curves: (label, time_days array, estimate array) step functions."""

    name: str
    title: str
    curves: tuple[tuple[str, Any, Any], ...]
    ylabel: str = "Cumulative incidence"
    xlabel: str = "Months since response"
    test_label: str | None = None
    # drawn by ltfu.plot (fields added with defaults; see ltfu.report.figures):
    groups: tuple[str, ...] = ()          # the at-risk group of each curve, in the order of curves
    at_risk: tuple[tuple[str, Any], ...] = ()   # (group, KaplanMeier of the group's time to any event)
    limits: tuple[tuple[Any, Any], ...] = ()    # (lower, upper) arrays at each curve's times, or ()
    conf_level: float = 0.95              # of the limits
    confidence_bands: bool = True
    max_months: float | None = None
    p_value: float | None = None          # printed as "<test_name> P = 0.50" by ltfu.formatting.format_p
    test_name: str | None = None          # e.g. "Gray's test (relapse)"
    tick_months: float = 12.0
    censored_row: bool = False


@dataclass(frozen=True)
class ForestFigure:
    """Hazard (or odds) ratios: rows of (label, ratio, lower, upper, p_value)."""

    name: str
    title: str
    rows: tuple[tuple[str, float, float, float, float | None], ...]
    xlabel: str = "Hazard ratio (95% CI)"


@dataclass(frozen=True)
class SwimmerFigure:
    """One lane per patient. ``lanes``: (label, end_day, ongoing, events) where events is a tuple of
    (kind, day) with kind in {"response", "relapse", "allo_hct", "death"}; ``ongoing`` means
    censored alive."""

    name: str
    title: str
    lanes: tuple[tuple[str, float, bool, tuple[tuple[str, float], ...]], ...]
    xlabel: str = "Months since infusion"


@dataclass(frozen=True)
class BarFigure:
    """Grouped bars: counts[group][category] (e.g. CRS grade by burden)."""

    name: str
    title: str
    categories: tuple[str, ...]
    counts: tuple[tuple[str, tuple[int, ...]], ...]   # (group label, count per category)
    ylabel: str = "Patients"
    xlabel: str = "Grade"
    denominators: tuple[int, ...] = ()    # patients of each group (default: the group's total count)


@dataclass(frozen=True)
class TrajectoryFigure:
    """A measurement over time, one panel per group: ``panels`` = (label, patients, summary) with
    ``patients`` a tuple of (days, values) arrays and ``summary`` (visit days, median, q1, q3) or None."""

    name: str
    title: str
    panels: tuple[tuple[str, Any, Any], ...]
    ylabel: str = "Value"
    xlabel: str = "Months since infusion"
    threshold: float | None = None
    threshold_label: str | None = None
    log: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftFigure:
    """Estimates by data cut: ``categories`` the cuts (oldest first); ``series`` (label, points,
    hollow) with one (estimate, lower, upper) per cut, in %, None where not estimable."""

    name: str
    title: str
    categories: tuple[str, ...]
    series: tuple[tuple[str, tuple, bool], ...]
    ylabel: str = "Estimate, % (95% CI)"


Figure = KMFigure | CIFFigure | ForestFigure | SwimmerFigure | BarFigure | TrajectoryFigure | DriftFigure


@dataclass(frozen=True)
class Section:
    """A report section: its tables and figures by name, and short paragraphs of text."""

    id: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Defaults:
    """The definitions and defaults in force, printed in every report and in results.json."""

    time_unit: str
    km_conf_type: str
    conf_level: float
    proportion_ci: str
    cox_ties: str
    median_rule: str
    burden_threshold_pct: float
    burden_definition: str
    efs_nonresponder: str
    censor_at_hct: bool
    landmark_days: float
    severe_toxicity: str
    censoring: str
    figure_end: str = "where fewer than 10% of a group remain at risk"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Part:
    """What one builder of the analysis returns: its numbers, written under ``key`` in
    results.json (merged at the top level when ``key`` is None), its tables and figures, and the
    report section they make (None for a part shown inside another part's section)."""

    key: str | None
    numbers: dict
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    section: Section | None = None


@dataclass(frozen=True)
class Results:
    """Everything a report shows. ``numbers`` is written as results.json (plain JSON types only).

    The analysis builds it from typed parts (``Results.from_parts``); ``parts`` keeps them, so a
    section's numbers are ``results.part("survival").numbers``.  Renderers read the flat fields."""

    title: str
    numbers: dict
    sections: tuple[Section, ...]
    tables: tuple[Table, ...]
    figures: tuple[Figure, ...]
    synthetic: bool = False
    warnings: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)  # source, sha256, cutoff, version, options in force
    defaults: Defaults | None = None
    parts: tuple[Part, ...] = ()

    @classmethod
    def from_parts(cls, title: str, parts, *, meta: dict, defaults: Defaults | None = None,
                   synthetic: bool = False, warnings: tuple[str, ...] = ()) -> Results:
        numbers: dict = {}
        for p in parts:
            if p.key is None:
                numbers.update(p.numbers)
            else:
                numbers[p.key] = p.numbers
        numbers["meta"] = meta
        return cls(title=title, numbers=numbers, sections=tuple(p.section for p in parts if p.section is not None),
                   tables=tuple(t for p in parts for t in p.tables),
                   figures=tuple(f for p in parts for f in p.figures), synthetic=synthetic, warnings=warnings,
                   meta=meta, defaults=defaults, parts=tuple(parts))

    def part(self, key: str) -> Part:
        return next(p for p in self.parts if p.key == key)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def figure(self, name: str):
        return next(f for f in self.figures if f.name == name)
